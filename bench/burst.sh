#!/usr/bin/env bash
# N `run -d` at once on equal terms (issue 16): tinyort and crun each launch N detached containers of the same busybox
# bundle (`sleep SLEEP`, runc's default spec) all at the same moment, inside ONE private mount namespace with the empty
# cgroup2 tree unmounted (what crun 1.8 needs on this hybrid host), one runtime after the other in the same run.
# Figures per runtime: wall time from the first launch until every launch returned, failed launches, and the peak
# host memory in use (MemTotal − MemAvailable, sampled every 50 ms) above the level just before the burst — which
# other jobs on a shared host move too — and the peak memory of the runtime processes alone: the launches run in a
# fresh v1 memory cgroup (memory.max_usage_in_bytes; the containers move to their own cgroups as they start, so
# what stays charged here is the runtimes' own processes, their page-cache pages first touched here, and what the
# kernel allocated on their behalf before the move).
# Between runtimes every container is killed by pid and deleted, and memory settles before the next burst.
#   TINYO_BIN=out/bin bench/burst.sh            N=200 SLEEP=5 ROUNDS=1 by default; RUNTIMES="tinyort crun"
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
n=${N:-200}; secs=${SLEEP:-5}; rounds=${ROUNDS:-1}; runtimes=${RUNTIMES:-tinyort crun}
for t in crun runc unshare busybox jq; do command -v "$t" >/dev/null || { echo "burst: $t missing (make deps)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/burst.XXXXXX)
trap 'rm -rf "$work"' EXIT
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sleep"
(cd "$b" && runc spec)
jq --arg s "$secs" '.process.args = ["/bin/sleep", $s] | .process.terminal = false' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
export b bin n secs rounds runtimes work
unshare -m --propagation private bash -euo pipefail -c '
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  used() { awk "/^MemTotal:/ {t=\$2} /^MemAvailable:/ {a=\$2} END {print t - a}" /proc/meminfo; }
  cmd() { # runtime, root, id
    case $1 in
      tinyort) echo "$bin/tinyort --root $2 run -d --pid-file $2/$3.pid --bundle $b $3";;
      crun) echo "crun --root $2 run -d --pid-file $2/$3.pid --bundle $b $3";;
    esac
  }
  cleanup() { # runtime, root: kill every container by its pid file, then delete it
    local rt=$1 root=$2 bin_rt
    [ "$rt" = tinyort ] && bin_rt=$bin/tinyort || bin_rt=crun
    for f in "$root"/*.pid; do [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
    for f in "$root"/*.pid; do [ -e "$f" ] || continue; id=$(basename "$f" .pid); $bin_rt --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done
  }
  for r in $(seq "$rounds"); do
    for rt in $runtimes; do
      root=$work/$rt-$r; mkdir -p "$root"
      sleep 2; base=$(used); peak=$base
      ( while [ ! -e "$work/stop" ]; do used; sleep 0.05; done ) >"$work/mem" &
      sampler=$!
      mcg=""
      if [ -d /sys/fs/cgroup/memory ]; then
        mcg=/sys/fs/cgroup/memory/tinyo-burst-$$-$rt-$r; mkdir "$mcg"; echo $BASHPID >"$mcg/cgroup.procs"
      fi
      start=$(date +%s%N)
      for i in $(seq "$n"); do $(cmd "$rt" "$root" "b$i") >/dev/null 2>>"$work/err-$rt" & done
      fails=0
      for j in $(jobs -p); do [ "$j" = "$sampler" ] && continue; wait "$j" || fails=$((fails + 1)); done
      end=$(date +%s%N)
      cgpeak=0
      if [ -n "$mcg" ]; then
        cgpeak=$(( $(cat "$mcg/memory.max_usage_in_bytes") / 1024 ))
        echo $BASHPID >/sys/fs/cgroup/memory/cgroup.procs
      fi
      touch "$work/stop"; wait "$sampler"; rm -f "$work/stop"
      peak=$(sort -n "$work/mem" | tail -1)
      printf "%s\tround %s\tN=%s\twall %.3f s\tfailed %s\thost peak +%d MiB (%d KiB per launch)\truntime cgroup peak %d MiB (%d KiB per launch)\n" "$rt" "$r" "$n" \
        "$(echo "($end - $start) / 1000000000" | bc -l)" "$fails" $(( (peak - base) / 1024 )) $(( (peak - base) / n )) $(( cgpeak / 1024 )) $(( cgpeak / n ))
      cleanup "$rt" "$root"
      # Empty once the launches are gone (an exit monitor started from here lives on in it: wait for it to idle out).
      if [ -n "$mcg" ]; then for _ in $(seq 100); do rmdir "$mcg" 2>/dev/null && break; sleep 0.1; done; fi
      [ -s "$work/err-$rt" ] && { echo "  first errors of $rt:"; sort "$work/err-$rt" | uniq -c | sort -rn | head -3; } || true
      rm -f "$work/err-$rt"
    done
  done
'
# A tinyort exit monitor idles out by itself 3 s after its last container; wait for it so nothing outlives the run.
for p in $(pgrep -f "tinyort monitor $work/" || true); do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
done
for d in /sys/fs/cgroup/memory/tinyo-burst-*; do [ -d "$d" ] && [ ! -s "$d/cgroup.procs" ] && rmdir "$d" 2>/dev/null; done || true
echo "machine: $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
