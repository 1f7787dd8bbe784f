#!/usr/bin/env bash
# The seed's table (issue 13): N containers of one app (busybox `sleep`, no network) started at once on this host —
#   dup      `tinyort dup src d -n N`: one request, N clones of a running container (returns when all run), made
#            by one thread per core (CloneBatch)
#   dupseq   the same request with `--parallel 1`: its clones made one after another (the branch dupfast's way; the
#            before of the parallel batch, in the same run)
#   tinyort  N `tinyort run -d busybox sleep …` at once (fresh starts from the same image)
#   crun     N `crun run -d` of a bundle of the same busybox at once
#   docker   N `docker run -d --network none busybox sleep …` at once (a private dockerd: scripts/peer-dockerd.sh)
#   podman   N `podman run -d --network none …` at once (rootful, its own stores, runc as its runtime, as bench/first-byte.sh)
# Figures per peer: wall time from the first launch until every launch returned (each returns once its container's
# process runs), failures, and the peak host memory in use (MemTotal − MemAvailable, sampled every 50 ms) above the
# level just before — which other jobs on a shared host move too (the load is printed). tinyort and crun run inside
# ONE private mount namespace with the empty cgroup2 tree unmounted (what crun 1.8 needs on this hybrid host); the
# engines run outside it, as they run anywhere. Between peers every container is removed; at the end everything this
# made (containers, cgroups, mounts, the private dockerd and podman's stores) is removed, also on failure.
#   TINYO_BIN=out/bin bench/dup-parallel.sh        N=1000 by default (the seed's figure); PEERS="dup dupseq tinyort crun docker podman"
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
n=${N:-1000}; peers=${PEERS:-dup dupseq tinyort crun docker podman}
for t in crun unshare busybox jq skopeo; do command -v "$t" >/dev/null || { echo "dup-parallel: $t missing (make deps)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/dup-par.XXXXXX)
cg="tinyo-duppar-$$"
PM="--root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc"
PMRUN="--ulimit nofile=1024:$(awk '/Max open files/ {print $5}' /proc/self/limits) --ulimit nproc=4096:4096 --cgroup-parent /$cg"
dk_up=""; pm_up=""
cleanup() {
  set +e
  if [ -d "$work/root/containers" ]; then
    ls "$work/root/containers" | xargs -r -P 4 -n 20 "$bin/tinyort" --root "$work/root" rm -f >/dev/null 2>&1
  fi
  crun --root "$work/crun" list -q 2>/dev/null | xargs -r -P 4 -n 1 crun --root "$work/crun" delete -f >/dev/null 2>&1
  if [ -n "$dk_up" ]; then docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1; scripts/peer-dockerd.sh stop "$work/dockerd"; fi
  if [ -n "$pm_up" ]; then podman $PM rm -af -t 0 >/dev/null 2>&1; podman $PM system reset -f >/dev/null 2>&1; fi
  for c in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/*/"$cg-docker"; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
layout=$work/layout
scripts/make-busybox-image.sh "$layout" >/dev/null
root=$work/root
"$bin/tinyort" --root "$root" load "$layout" --name busybox >/dev/null
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sleep"
(cd "$b" && crun spec)
jq '.process.args = ["/bin/sleep", "100000"] | .process.terminal = false' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"

used() { awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {print t - a}' /proc/meminfo; }
# measure NAME CMD-PRODUCER: runs the launches of one peer at once, prints its row.
measure() {
  local name=$1; shift
  sleep 2; local base; base=$(used)
  rm -f "$work/stop"
  ( while [ ! -e "$work/stop" ]; do used; sleep 0.05; done ) >"$work/mem-$name" &
  local sampler=$!
  local start end fails=0
  start=$(date +%s%N)
  "$@" >/dev/null 2>>"$work/err-$name" || fails=$?
  end=$(date +%s%N)
  touch "$work/stop"; wait "$sampler" 2>/dev/null || true
  local peak; peak=$(sort -n "$work/mem-$name" | tail -1)
  printf '  %-8s %4d at once: %9.1f ms to all running · peak memory +%d MiB · failed %d · load %s\n' \
    "$name" "$n" "$(awk "BEGIN {print ($end - $start) / 1e6}")" $(( (peak - base) / 1024 )) "$fails" "$(cut -d' ' -f1 /proc/loadavg)"
}
# N background launches of "$@ PREFIX-i" in a subshell of their own (so the memory sampler is not among the jobs
# waited for); the count of failures is its status.
burst() {
  local prefix=$1; shift
  (
    f=0
    for i in $(seq "$n"); do "$@" "$prefix$i" >/dev/null 2>>"$work/err" & done
    for j in $(jobs -p); do wait "$j" || f=$((f + 1)); done
    exit $((f > 255 ? 255 : f))
  )
}
export -f used measure burst
export bin root b work n

echo "machine: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(date -u +%FT%TZ)"
echo "== $n containers of busybox sleep started at once"
for p in $peers; do
  case $p in
    dup|dupseq|tinyort|crun)
      PEER=$p unshare -m --propagation private bash -euo pipefail -c '
        if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
        t="$bin/tinyort --root $root"
        case $PEER in
          dup)
            $t run -d --name src busybox sleep 100000 >/dev/null
            measure dup $t dup src d -n "$n"
            ls "$root/names" | grep -v "^src$" | xargs -r -P 4 -n 20 $t rm -f >/dev/null
            $t rm -f src >/dev/null ;;
          dupseq)
            $t run -d --name src busybox sleep 100000 >/dev/null
            measure dupseq $t dup src d -n "$n" --parallel 1
            ls "$root/names" | grep -v "^src$" | xargs -r -P 4 -n 20 $t rm -f >/dev/null
            $t rm -f src >/dev/null ;;
          tinyort)
            tr() { $t run -d --name "$1" busybox sleep 100000; }
            export -f tr; export t
            measure tinyort burst f tr
            ls "$root/names" | grep "^f" | xargs -r -P 4 -n 20 $t rm -f >/dev/null ;;
          crun)
            cr() { crun --root "$work/crun" run -d --bundle "$b" "$1"; }
            export -f cr
            measure crun burst c cr
            crun --root "$work/crun" list -q | xargs -r -P 4 -n 1 crun --root "$work/crun" delete -f >/dev/null 2>&1 ;;
        esac'
      ;;
    docker)
      eval "$(CGROUP_PARENT=$cg-docker scripts/peer-dockerd.sh start "$work/dockerd")"; export DOCKER_HOST; dk_up=1
      skopeo copy -q "oci:$layout:latest" "docker-archive:$work/bb.tar:busybox:latest"
      docker load -q -i "$work/bb.tar" >/dev/null
      dk() { docker run -d --network none --name "$1" busybox:latest sleep 100000; }
      export -f dk
      measure docker burst k dk
      docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
      ;;
    podman)
      [ -f "$work/bb.tar" ] || skopeo copy -q "oci:$layout:latest" "docker-archive:$work/bb.tar:busybox:latest"
      pm_up=1
      podman $PM load -q -i "$work/bb.tar" >/dev/null
      pm() { podman $PM run -d $PMRUN --network none --name "$1" busybox:latest sleep 100000; }
      export -f pm; export PM PMRUN
      measure podman burst p pm
      podman $PM rm -af -t 0 >/dev/null 2>&1
      ;;
    *) echo "dup-parallel: unknown peer $p" >&2; exit 1 ;;
  esac
done
[ -s "$work/err" ] && { echo "first errors:"; sort "$work/err" | uniq -c | sort -rn | head -5; }
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
