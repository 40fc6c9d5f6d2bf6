#!/usr/bin/env bash
# scripts/bench.sh - measure issue 2's speed requirements (W6 save/load of the
# ~1 GiB image, W8 `images` with 1,000 images, peak RSS) and issue 3's build
# requirements (W1 cold multi-stage build, W2 cached rebuild, W3 one file
# changed, W4 one RUN writing 1 GiB) with the shared benchmark workloads, the
# peers (docker, podman; buildah for builds with BUILDAH=1) measured in the same
# run beside gantry, plus host baselines (a plain copy of the W6 archive; W4's
# RUN commands run directly on the host) on the same disk.  Run as root:
#
#   scripts/bench.sh                        # W6 W8
#   WORKLOADS="W1 W2 W3 W4" scripts/bench.sh
#
# The workloads are called in place from ../shared/bench (relative to the repo
# root); nothing is written inside the repository.  Env knobs:
#   BENCH_DATA   data, archives, logs, results (default /var/tmp/gantry-bench)
#   BENCH_RESULTS  results file (default: a fresh $BENCH_DATA/results-<UTC>.jsonl)
#   RUNS         runs per W6 measurement (default 5); W8 uses W8_RUNS (default 10)
#   W1_RUNS, W2_RUNS, W3_RUNS, W4_RUNS  runs per build measurement (3, 5, 5, 3)
#   W8_N         images for W8 (default 1000)
#   WORKLOADS    which to run, of "W1 W2 W3 W4 W5 W6 W7 W8" (default "W6 W8")
#   BUILDAH      1: also measure buildah (`buildah build --layers`) in W1-W3
#   PODMAN_W8_DISTINCT_RUNS  listings of podman's 1,000 distinct images (default 1;
#                0 skips it: podman 4.3 needs ~4 min per listing, ANCHORS.md: 235 s)
#   WAIT_QUIET   1 (default): before timing, wait (up to WAIT_MAX s, default 2400)
#                until no cargo/rustc ran for 60 s and the 1-min load < 0.8
#   KEEP_TOOLS   1: skip the final cleanup of the bench images (for debugging)
#   GANTRY_BIN   measure this gantry binary instead of building one (e.g. the
#                $BENCH_DATA/bin/gantry of an earlier run, to re-run a workload
#                with the same binary while the tree has moved on)
#
# Steps: build gantry; start dockerd on the default socket if `docker info`
# fails; write $BENCH_DATA/containers.conf for podman/buildah; with W6: build
# bench/w4 with docker (1 run) and give the same image to gantry and podman
# (`docker save` -> `load`); wait for quiet; W1, W2, W3 for docker, [buildah,]
# gantry (tools interleaved per workload; W2/W3 reuse each tool's W1 cache);
# W4 for the host loop, docker, gantry; W6 for docker, podman, gantry;
# plain-copy baselines of gantry's archive; W8 for gantry, docker, podman;
# report; cleanup (bench images removed from every tool, gantry's root removed,
# the dockerd this script started stopped; bases, the W1 context and generated
# archives kept in $BENCH_DATA).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$(cd "$repo/../shared/bench" && pwd)
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH     # docker = Debian's 20.10 client
export BENCH_DATA=${BENCH_DATA:-/var/tmp/gantry-bench}
mkdir -p "$BENCH_DATA"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DATA/results-$STAMP.jsonl}
export BENCH_LOGS=${BENCH_LOGS:-$BENCH_DATA/logs-$STAMP}
: > "$BENCH_RESULTS"
mkdir -p "$BENCH_LOGS"
LOG=$BENCH_DATA/bench-$STAMP.log
exec > >(tee -a "$LOG") 2>&1
RUNS=${RUNS:-5}
W1_RUNS=${W1_RUNS:-3} W2_RUNS=${W2_RUNS:-5} W3_RUNS=${W3_RUNS:-5} W4_RUNS=${W4_RUNS:-3}
W8_RUNS=${W8_RUNS:-10}
WORKLOADS=${WORKLOADS:-W6 W8}
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }
BTOOLS=(docker); [ "${BUILDAH:-0}" = 1 ] && BTOOLS+=(buildah); BTOOLS+=(gantry)
export W8_N=${W8_N:-1000}
TIMEIT=(python3 "$BENCH/lib/timeit.py")
say() { echo "== $(date -u +%H:%M:%S) $*"; }
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }

# 1. gantry, as built from the tree now; a private copy so that a concurrent
#    `cargo build` cannot swap the binary in the middle of the run.
mkdir -p "$BENCH_DATA/bin"
if [ -n "${GANTRY_BIN:-}" ]; then
  say "using the prebuilt $GANTRY_BIN"
  [ "$(realpath "$GANTRY_BIN")" = "$(realpath -m "$BENCH_DATA/bin/gantry")" ] || cp "$GANTRY_BIN" "$BENCH_DATA/bin/gantry"
  GANTRY_SRC="prebuilt $GANTRY_BIN (not built by this run; identify it by its sha256)"
else
say "building gantry"
(cd "$repo" && cargo build --release -p gantry-cli)
cp "${CARGO_TARGET_DIR:-$repo/target}/release/gantry" "$BENCH_DATA/bin/gantry"
# what was built: HEAD and the uncommitted paths of the tree at build time
GANTRY_SRC="$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null) + $(cd "$repo" && git --no-optional-locks status --porcelain 2>/dev/null | wc -l) uncommitted paths"
(cd "$repo" && git --no-optional-locks status --porcelain 2>/dev/null | sed 's/^/  uncommitted: /')
fi
export GANTRY=$BENCH_DATA/bin/gantry
export GANTRY_ROOT=${GANTRY_ROOT:-$BENCH_DATA/gantry-root}

# 2. peers
DOCKERD_PID=
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd on the default socket"
  dockerd --iptables=false >"$BENCH_DATA/dockerd-$STAMP.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up, see $BENCH_DATA/dockerd-$STAMP.log" >&2; kill "$DOCKERD_PID"; exit 1; }
fi
[ -f "$BENCH_DATA/containers.conf" ] || cat > "$BENCH_DATA/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$BENCH_DATA/containers.conf
# A dockerd started with --bridge=none (e.g. a test suite's private one) deletes
# docker0 under the running dockerd; docker's RUN steps then fail with "could not
# find bridge docker0".  Before each docker workload: restart the dockerd this
# script started, or warn.
docker_bridge() {
  ip link show docker0 >/dev/null 2>&1 && return 0
  if [ -n "$DOCKERD_PID" ]; then
    say "docker0 is gone: restarting dockerd $DOCKERD_PID"
    kill "$DOCKERD_PID"
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    dockerd --iptables=false >>"$BENCH_DATA/dockerd-$STAMP.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  else
    say "WARNING: docker0 is gone; docker builds with RUN will fail until dockerd is restarted"
  fi
}

# which bases were already in the peers' stores (those stay at the end)
had() { case "$1" in docker) docker image inspect "$2" >/dev/null 2>&1 ;; podman) podman image exists "$2" ;; esac; }
PRE=()
for t in docker podman; do for b in bench/busybox:latest bench/debian:latest; do
  had "$t" "$b" && PRE+=("$t:$b")
done; done

finish() {
  local rc=$?
  set +e
  if [ "${KEEP_TOOLS:-0}" != 1 ]; then
    say "cleanup"
    for t in gantry docker podman; do "$BENCH/cleanup.sh" "$t" >/dev/null 2>&1; done
    for t in docker podman; do for b in bench/busybox:latest bench/debian:latest; do
      [[ " ${PRE[*]} " == *" $t:$b "* ]] || "$t" rmi "$b" >/dev/null 2>&1
    done; done
    rm -f "$BENCH_DATA/w4-docker.tar" "$BENCH_DATA/w6.tar" "$BENCH_DATA/w6-src.tar" "$BENCH_DATA/w6-copy.tar"
  fi
  if [ -n "$DOCKERD_PID" ]; then
    say "stopping dockerd $DOCKERD_PID"
    kill "$DOCKERD_PID"
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  say "exit $rc; results: $BENCH_RESULTS; log: $LOG"
}
trap finish EXIT

# 3. for W6: bench/w4 (1 GiB, one layer) built by docker, then the same image
#    loaded into gantry and podman, so that W6 finds it.
if want W6; then
docker_bridge
say "W4: bench/w4 built by docker (for W6)"
RUNS=1 "$BENCH/w4_layer_commit.sh" docker
docker save -o "$BENCH_DATA/w4-docker.tar" bench/w4
(source "$BENCH/lib/tools.sh"; set_tool gantry; tool_load_bases; set_tool podman; tool_load_bases)
"$GANTRY" --root "$GANTRY_ROOT" load -i "$BENCH_DATA/w4-docker.tar"
podman load -i "$BENCH_DATA/w4-docker.tar"
for t in docker podman gantry; do
  (source "$BENCH/lib/tools.sh"; set_tool $t; tool_has_image bench/w4:latest) \
    || { echo "bench.sh: $t has no bench/w4 after loading it" >&2; exit 1; }
done
rm -f "$BENCH_DATA/w4-docker.tar"
fi

# 4. wait until the machine is quiet
if [ "${WAIT_QUIET:-1}" = 1 ]; then
  say "waiting for quiet (no cargo/rustc for 60 s, 1-min load < 0.8; at most ${WAIT_MAX:-2400} s)"
  t0=$SECONDS; last_busy=$SECONDS
  while :; do
    if pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null; then last_busy=$SECONDS; fi
    la=$(cut -d' ' -f1 /proc/loadavg)
    if [ $((SECONDS - last_busy)) -ge 60 ] && awk -v l="$la" 'BEGIN{exit !(l < 0.8)}'; then
      say "quiet: load $la"; break
    fi
    if [ $((SECONDS - t0)) -ge "${WAIT_MAX:-2400}" ]; then
      say "NOT QUIET after ${WAIT_MAX:-2400} s (load $la, cargo/rustc last seen $((SECONDS - last_busy)) s ago): running anyway"; break
    fi
    sleep 5
  done
fi

say "machine"
(source "$BENCH/lib/tools.sh"; machine_info)
echo "gantry: built $(date -u -r "$GANTRY" +%H:%M:%SZ) from $GANTRY_SRC, sha256 $(sha256sum "$GANTRY" | cut -c1-16)"
echo "docker: client $(docker version --format '{{.Client.Version}}') engine $(docker version --format '{{.Server.Version}}')"
echo "podman: $(podman version --format '{{.Client.Version}}')"
[ "${BUILDAH:-0}" = 1 ] && echo "buildah: $(buildah --version)"
echo "disk: $(df -hT "$BENCH_DATA" | awk 'NR==2{print $1, $2, $3}')"

# 5. builds: W1 cold, W2 cached, W3 one late file changed (tools interleaved per
#    workload; each tool's W2/W3 start from the cache its W1 left), then W4.
if want W1 || want W2 || want W3; then
  python3 "$BENCH/gen/w1_context.py" "$BENCH_DATA/w1" >/dev/null
fi
for W in W1 W2 W3; do
  want $W || continue
  case $W in W1) s=w1_cold_build.sh r=$W1_RUNS ;; W2) s=w2_cached_rebuild.sh r=$W2_RUNS ;; W3) s=w3_incremental.sh r=$W3_RUNS ;; esac
  for t in "${BTOOLS[@]}"; do
    [ "$t" = docker ] && docker_bridge
    say "$W $t"
    RUNS=$r "$BENCH/$s" "$t" || say "$W $t FAILED (exit $?)"
  done
done
if want W2; then
  # every cacheable step (15 of 18: all but the 3 FROMs) must be a cache hit
  for t in "${BTOOLS[@]}"; do
    f=$BENCH_LOGS/W2-$t-cached-$W2_RUNS.log
    [ -f "$f" ] && echo "W2 $t, last run: $(grep -cE 'CACHED|Using cache' "$f") steps reported as cached ($f)"
  done
fi
if want W2 || want W3; then
  # the harness cannot see below the RSS of its own forked Python: gantry's own
  # peak for one cached and one incremental build
  say "gantry build peak RSS under /usr/bin/time (1 run each)"
  GB=("$GANTRY" --root "$GANTRY_ROOT" build -t bench/w1 -f "$BENCH_DATA/w1/Dockerfile" "$BENCH_DATA/w1")
  "${GB[@]}" >/dev/null 2>&1 || say "gantry build FAILED (exit $?)"
  /usr/bin/time -o "$BENCH_LOGS/time-gantry-w2" -f "gantry W2 build: %e s, max RSS %M KiB, exit %x" \
    "${GB[@]}" >/dev/null 2>&1 || true
  cat "$BENCH_LOGS/time-gantry-w2"
  python3 "$BENCH/gen/w1_context.py" "$BENCH_DATA/w1" --late "version = $(date +%s%N)" >/dev/null
  /usr/bin/time -o "$BENCH_LOGS/time-gantry-w3" -f "gantry W3 build: %e s, max RSS %M KiB, exit %x" \
    "${GB[@]}" >/dev/null 2>&1 || true
  cat "$BENCH_LOGS/time-gantry-w3"
  python3 "$BENCH/gen/w1_context.py" "$BENCH_DATA/w1" --reset-late >/dev/null
  "${GB[@]}" >/dev/null 2>&1 || say "gantry build FAILED (exit $?)"
fi
if want W4; then
  # the host baseline: the RUN's shell loop by /usr/bin/busybox sh, same disk
  say "W4 host"; RUNS=$W4_RUNS "$BENCH/w4_layer_commit.sh" host || say "W4 host FAILED (exit $?)"
  for t in docker gantry; do
    [ "$t" = docker ] && docker_bridge
    say "W4 $t"
    RUNS=$W4_RUNS "$BENCH/w4_layer_commit.sh" "$t" || say "W4 $t FAILED (exit $?)"
  done
fi

# 6. W6 save/load for the three tools, then the plain copy of gantry's archive
if want W6; then
for t in docker podman gantry; do
  say "W6 $t"
  RUNS=$RUNS "$BENCH/w6_save_load.sh" "$t" || say "W6 $t FAILED (exit $?)"
done
say "W6 plain-copy baseline"
SRC=$BENCH_DATA/w6-src.tar DST=$BENCH_DATA/w6-copy.tar
"$GANTRY" --root "$GANTRY_ROOT" save -o "$SRC" bench/w4
echo "W6 gantry archive bytes: $(stat -c %s "$SRC")"
"${TIMEIT[@]}" --workload W6 --tool "plain copy" --variant "cp (gantry's archive)" --runs "$RUNS" \
  --prepare "rm -f '$DST'; sync" -- cp "$SRC" "$DST"
"${TIMEIT[@]}" --workload W6 --tool "plain copy" --variant "cp + fdatasync" --runs "$RUNS" \
  --prepare "rm -f '$DST'; sync" -- sh -c "cp '$SRC' '$DST' && sync -d '$DST'"
"${TIMEIT[@]}" --workload W6 --tool "plain copy" --variant "read only (cat > /dev/null)" --runs "$RUNS" \
  --prepare "sync" -- sh -c "cat '$SRC' > /dev/null"
# the harness cannot see below the RSS of its own forked Python (~12 MiB): one run
# each under GNU time for gantry's own peak
say "gantry peak RSS under /usr/bin/time (1 run each; the harness floor is ~12 MiB)"
GT=("$GANTRY" --root "$GANTRY_ROOT")
rm -f "$DST"; sync
/usr/bin/time -f "gantry save: %e s, max RSS %M KiB" "${GT[@]}" save -o "$DST" bench/w4
rm -rf "$GANTRY_ROOT"; (source "$BENCH/lib/tools.sh"; set_tool gantry; tool_load_bases); sync
/usr/bin/time -f "gantry load: %e s, max RSS %M KiB" "${GT[@]}" load -i "$SRC" >/dev/null
/usr/bin/time -f "gantry images: %e s, max RSS %M KiB" "${GT[@]}" images >/dev/null
rm -f "$SRC" "$DST"
fi

# 5b. W5 start latency: runc on a prepared bundle (the lower bound), gantry's default
# network (own namespace + slirp4netns), and gantry with --network none / host
if want W5; then
  say "W5 runc"; RUNS=20 "$BENCH/w5_run_latency.sh" runc || say "W5 runc FAILED (exit $?)"
  say "W5 gantry"; RUNS=20 "$BENCH/w5_run_latency.sh" gantry || say "W5 gantry FAILED (exit $?)"
  for net in none host; do
    "${TIMEIT[@]}" --workload W5 --tool gantry --variant "--network $net" --runs 20 --warmup 2 -- \
      "$GANTRY" --root "$GANTRY_ROOT" run --rm --network "$net" bench/busybox true
  done
fi

# 6b. W7 push/pull of the W1 image through a local registry (plain HTTP, 127.0.0.1:5000)
if want W7; then
for t in docker podman skopeo gantry; do
  [ "$t" = docker ] && docker_bridge
  say "W7 $t"
  RUNS=$RUNS "$BENCH/w7_push_pull.sh" "$t" || say "W7 $t FAILED (exit $?)"
done
# gantry's own peak memory, one run each under GNU time (the harness floor is ~12 MiB)
say "gantry W7 peak RSS under /usr/bin/time"
(
  source "$BENCH/lib/tools.sh"; source "$BENCH/lib/registry.sh"
  trap reg_stop EXIT
  reg_reset
  GT=("$GANTRY" --root "$GANTRY_ROOT")
  "${GT[@]}" build -q -t bench/w1 -t "$REG/bench/w1:latest" -f "$BENCH_DATA/w1/Dockerfile" "$BENCH_DATA/w1" >/dev/null
  /usr/bin/time -f "gantry push (first, compressing): %e s, max RSS %M KiB" "${GT[@]}" push "$REG/bench/w1:latest" >/dev/null
  reg_reset
  /usr/bin/time -f "gantry push (layers compressed before): %e s, max RSS %M KiB" "${GT[@]}" push "$REG/bench/w1:latest" >/dev/null
  rm -rf "$GANTRY_ROOT"; sync
  /usr/bin/time -f "gantry pull: %e s, max RSS %M KiB" "${GT[@]}" pull "$REG/bench/w1:latest" >/dev/null
  rm -rf "$GANTRY_ROOT"; set_tool gantry; tool_load_bases
)
fi

# 7. W8 listings
if want W8; then
say "W8 gantry"; RUNS=$W8_RUNS "$BENCH/w8_many_images.sh" gantry || say "W8 gantry FAILED (exit $?)"
say "W8 docker"; RUNS=$W8_RUNS "$BENCH/w8_many_images.sh" docker || say "W8 docker FAILED (exit $?)"
say "W8 podman (distinct: ${PODMAN_W8_DISTINCT_RUNS:-1} run)"
RUNS=$W8_RUNS W8_DISTINCT_RUNS=${PODMAN_W8_DISTINCT_RUNS:-1} "$BENCH/w8_many_images.sh" podman \
  || say "W8 podman FAILED (exit $?)"
fi

# 8. report
say "report"
python3 "$BENCH/report.py" "$BENCH_RESULTS"
python3 - "$BENCH_RESULTS" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line); rows[(r["workload"], r["tool"], r["variant"])] = r
def get(w, t, v):
    for (W, T, V), r in rows.items():
        if W == w and T == t and V.startswith(v):
            return r
print("\n### Against the goals")
g1 = get("W1", "gantry", "")
peers = [r for (W, T, V), r in rows.items() if W == "W1" and T != "gantry"]
if g1 and peers:
    best = min(peers, key=lambda r: r["median_s"])
    print(f"W1: gantry {g1['median_s']:.2f} s vs half the fastest peer ({best['tool']} "
          f"{best['median_s']:.2f} s) {best['median_s'] / 2:.2f} s ({g1['median_s'] / best['median_s']:.2f}x; goal <= 0.5x)")
for w, lim in (("W2", 0.1), ("W3", 0.5)):
    r = get(w, "gantry", "")
    if r:
        print(f"{w}: gantry {r['median_s']:.3f} s (goal < {lim} s)")
h = get("W4", "host", "")
for t in ("docker", "gantry"):
    r = get("W4", t, "")
    if r and h:
        print(f"W4: {t} {r['median_s']:.2f} s - host {h['median_s']:.2f} s = "
              f"{r['median_s'] - h['median_s']:.2f} s overhead (gantry goal <= 2 s)")
r, g = get("W5", "runc", ""), get("W5", "gantry", "")
if r and g:
    for (W, T, V), x in rows.items():
        if W == "W5" and T == "gantry":
            print(f"W5 gantry {V}: {x['median_s'] * 1000:.0f} ms vs runc {r['median_s'] * 1000:.0f} ms "
                  f"({x['median_s'] / r['median_s']:.2f}x; goal <= 1.5x)")
g, k = get("W7", "gantry", "push"), get("W7", "skopeo", "push")
if g and k:
    print(f"W7 push: gantry {g['median_s']:.2f} s vs skopeo {k['median_s']:.2f} s (goal: faster); "
          f"peak RSS {g['max_rss_mib']:.0f} MiB (goal < 100)")
g, p = get("W7", "gantry", "pull"), get("W7", "podman", "pull")
if g and p:
    print(f"W7 pull: gantry {g['median_s']:.2f} s vs half of podman {p['median_s'] / 2:.2f} s "
          f"({g['median_s'] / p['median_s']:.2f}x; goal <= 0.5x); peak RSS {g['max_rss_mib']:.0f} MiB (goal < 100)")
for v in ("save", "load"):
    g, d = get("W6", "gantry", v), get("W6", "docker", v)
    c = get("W6", "plain copy", "cp (")
    if g and d:
        print(f"W6 {v}: gantry {g['median_s']:.2f} s vs half of docker {d['median_s'] / 2:.2f} s "
              f"({g['median_s'] / d['median_s']:.2f}x docker; goal <= 0.5x)")
    if g and c:
        print(f"W6 {v}: gantry {g['median_s']:.2f} s vs 1.5x plain copy {1.5 * c['median_s']:.2f} s "
              f"({g['median_s'] / c['median_s']:.2f}x copy; goal <= 1.5x)")
g = get("W8", "gantry", "")
for (W, T, V), r in rows.items():
    if W == "W8" and "distinct" in V:
        print(f"W8 {T} {V}: {r['median_s'] * 1000:.1f} ms (gantry goal < 20 ms)")
peak = max((x["peak_rss_mib"] for (W, T, V), r in rows.items() if T == "gantry" for x in r["runs"]), default=0)
print(f"gantry peak RSS over every timed run: {peak} MiB (goal < 64 MiB)")
PY
