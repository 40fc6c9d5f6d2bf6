#!/usr/bin/env bash
# Runs gantry's image workflow on a real root filesystem made from Debian's
# busybox-static (/bin/busybox), in a throwaway store:
#   import -> build with RUN (twice: the second is all cache) -> run -> images
#   -> inspect -> history -> save -> rmi -> load -> images
# RUN and run need root (overlay mounts, namespaces), as the test suite does.
set -euo pipefail
GANTRY=${GANTRY:-$(dirname "$0")/../target/release/gantry}
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "demo: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
root="$work/root"; rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
tar --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .
g() { echo "+ gantry $*" >&2; "$GANTRY" --root "$root" "$@"; }
g import -c 'CMD ["/bin/sh"]' -c 'LABEL org.opencontainers.image.title=demo' "$work/rootfs.tar" demo/busybox:1.0
g tag demo/busybox:1.0 demo/busybox:latest
mkdir -p "$work/app"
echo 'hello from a gantry build' > "$work/app/hello.txt"
printf '%s\n' 'FROM demo/busybox AS base' 'ENV GREETING=hello' 'WORKDIR /app' 'COPY hello.txt .' \
  'RUN echo "built by $(id -un) on $(uname -s)" > built.txt && rm /bin/vi' \
  'FROM base' 'LABEL org.opencontainers.image.title=demo-app' 'CMD ["cat", "/app/hello.txt", "/app/built.txt"]' > "$work/app/Dockerfile"
g build -t demo/app "$work/app"
g build -t demo/app "$work/app"
g run --rm demo/app
g images
g inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} {{json .Config.Cmd}} layers={{len .RootFS.Layers}}' demo/busybox
g history demo/busybox
g history demo/app
g save -o "$work/demo.tar" demo/busybox demo/app
ls -l "$work/demo.tar" >&2
g rmi demo/app demo/busybox:1.0 demo/busybox:latest
g load -i "$work/demo.tar"
g images
# Registries: a throw-away local distribution registry (Debian's docker-registry), a push,
# and a pull into a second, empty store.
if command -v docker-registry >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$work/registry" "$port" > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" >/dev/null 2>&1 & reg=$!
  trap 'kill $reg 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  g tag demo/app "127.0.0.1:$port/demo/app:1"
  g push "127.0.0.1:$port/demo/app:1"
  root="$work/root2"
  g pull "127.0.0.1:$port/demo/app:1"
  g run --rm "127.0.0.1:$port/demo/app:1"
  g images --digests
else
  echo "demo: docker-registry not installed (apt-get install docker-registry): skipping push/pull" >&2
fi
