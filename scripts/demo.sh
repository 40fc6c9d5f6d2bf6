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
