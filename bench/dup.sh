#!/usr/bin/env bash
# Instant duplication (issue 13), against its peers in the same run and on equal terms (bench/start-equal.sh's
# wrapper: ONE private mount namespace with the empty cgroup2 tree unmounted, which crun 1.8 needs on this
# hybrid-cgroup host; every peer runs inside it).
#   1. start: `tinyort dup SRC NEW` (request → clone's process running) vs `tinyort run -d` of the same image vs
#      `crun run -d` of a bundle of the same busybox doing the same `sleep`; hyperfine, RUNS runs, medians. Also the
#      runtime's own figure for the duplication (what tinyonode pays in-process: `tinyort dup` reports it).
#   2. memory: N idle clones of a source holding 8 MB of identical heap, with and without same-page merging (KSM;
#      ksmd switched on for the measurement, put back after): cgroup memory and PSS per clone.
#   3. snapshot: a 100 MB writable layer duplicated on a loop-mounted XFS made here (reflink) and on the host's ext4
#      (copy): the snapshot's own time, as `tinyort dup` reports it.
#   0. breakdown (ONLY=0): where one duplication's time goes, median per span over RUNS clones, from the runtime's
#      own trace (TINYO_TRACE_START=1: marks in tinyort, and clock_gettime rows the clone child runs between its
#      set-up steps; rt/Tinyo.Rt/Setup/StartTrace.cs). Not part of the default run.
#   TINYO_BIN=out/bin bench/dup.sh          RUNS=30 CLONES=10 ONLY=123 by default; results on stdout
#   BASE_TINYORT=/path/to/older/tinyort      adds its `dup` to part 1 (before/after in the same run)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
runs=${RUNS:-30}; clones=${CLONES:-10}; only=${ONLY:-123} # ONLY=2: just the memory part
for t in hyperfine crun unshare busybox jq mkfs.xfs; do command -v "$t" >/dev/null || { echo "dup: $t missing (make deps; apt-get install xfsprogs)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/dup-bench.XXXXXX)
ksm_run=$(cat /sys/kernel/mm/ksm/run 2>/dev/null || echo 0)
ksm_scan=$(cat /sys/kernel/mm/ksm/pages_to_scan 2>/dev/null || echo 100)
ksm_sleep=$(cat /sys/kernel/mm/ksm/sleep_millisecs 2>/dev/null || echo 20)
cleanup() {
  set +e
  for r in "$work/root" "$work/xfs/root"; do
    [ -d "$r/containers" ] && for id in $(ls "$r/containers"); do "$bin/tinyort" --root "$r" rm -f "$id" >/dev/null 2>&1; done
  done
  for id in $(crun --root "$work/crun" list -q 2>/dev/null); do crun --root "$work/crun" delete -f "$id" >/dev/null 2>&1; done
  mountpoint -q "$work/xfs" && umount "$work/xfs"
  if [ -w /sys/kernel/mm/ksm/run ]; then
    echo "$ksm_scan" >/sys/kernel/mm/ksm/pages_to_scan; echo "$ksm_sleep" >/sys/kernel/mm/ksm/sleep_millisecs
    echo "$ksm_run" >/sys/kernel/mm/ksm/run
  fi
  rm -rf "$work"
}
trap cleanup EXIT
root=$work/root
busybox_layout=${BUSYBOX_LAYOUT:-}
if [ -z "$busybox_layout" ]; then busybox_layout=$work/layout; scripts/make-busybox-image.sh "$busybox_layout" >/dev/null; fi
"$bin/tinyort" --root "$root" load "$busybox_layout" --name busybox >/dev/null
# crun's bundle: the same busybox, the same `sleep`, detached.
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sleep"; ln -s busybox "$b/rootfs/bin/sh"
(cd "$b" && crun spec)
jq '.process.args = ["/bin/sleep", "100000"] | .process.terminal = false' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
export bin root b work runs clones BASE_TINYORT
echo "machine: $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg), $(uname -r), $(date -u +%FT%TZ)"

[[ $only == *0* ]] && unshare -m --propagation private bash -euo pipefail -c '
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  t="$bin/tinyort --root $root"
  $t run -d --name src busybox sleep 100000 >/dev/null
  $t exec src sh -c "echo state > /state; mkdir -p /var/app; head -c 65536 /dev/urandom > /var/app/blob"
  echo "== 0. breakdown of one duplication (library path, TINYO_TRACE_START=1), median per span over $runs clones, ms"
  for i in $(seq 3); do $t dup src "w$i" >/dev/null 2>&1; $t rm -f "w$i" >/dev/null; done # warm-up
  for i in $(seq "$runs"); do
    TINYO_TRACE_START=1 $t dup src "b$i" 2>&1 >/dev/null | sed -n "s/^tinyort: trace [^:]*: //p" | sed -E "s#[^ ;]*/containers/[0-9a-f]+/[^ ;]*#DIR#g; s#hostname b[0-9]+ #hostname #"
    $t rm -f "b$i" >/dev/null
  done >"$work/trace.txt"
  # Warm: one process makes RUNS+1 clones in one request (what a long-lived caller such as tinyonode pays per
  # clone); the first, cold one is left out.
  TINYO_TRACE_START=1 $t dup src m -n $((runs + 1)) 2>&1 >/dev/null | sed -n "s/^tinyort: trace [^:]*: //p" \
    | sed -E "s#[^ ;]*/containers/[0-9a-f]+/[^ ;]*#DIR#g; s#hostname m-[0-9]+ #hostname #" | tail -n +2 >"$work/trace-warm.txt"
  for i in $(seq $((runs + 1))); do $t rm -f "m-$i" >/dev/null; done
  $t rm -f src >/dev/null
'
# One line per clone: "what ms; what ms; …; total ms". Medians per span, in the order of the first line.
spans() { awk -F'; ' '{
    for (i = 1; i <= NF; i++) { n = split($i, w, " "); v = w[n]; k = substr($i, 1, length($i) - length(v) - 1)
      if (!(k in seen)) { seen[k] = 1; order[++no] = k } vals[k] = vals[k] " " v } }
  END { for (j = 1; j <= no; j++) { k = order[j]; m = split(substr(vals[k], 2), a, " ")
      for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
      printf "  %-58s %8.3f  (min %.3f, max %.3f, %d)\n", k, a[int((m + 1) / 2)], a[1], a[m], m } }' "$1"; }
if [[ $only == *0* ]]; then
  echo "  -- cold: one tinyort dup process per clone"; spans "$work/trace.txt"
  echo "  -- warm: clones 2..$((runs + 1)) of one request (one process)"; spans "$work/trace-warm.txt"
fi

[[ $only == *1* ]] && unshare -m --propagation private bash -euo pipefail -c '
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  t="$bin/tinyort --root $root"
  $t run -d --name src busybox sleep 100000 >/dev/null
  $t exec src sh -c "echo state > /state; mkdir -p /var/app; head -c 65536 /dev/urandom > /var/app/blob"
  echo "== 1. start: request → process running (hyperfine, $runs runs, medians)"
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/start.json" \
    --prepare "sh -c \"$t rm -f d1 >/dev/null 2>&1 || true\"" -n "tinyort dup" "$t dup src d1" \
    --prepare "sh -c \"$t rm -f r1 >/dev/null 2>&1 || true\"" -n "tinyort run -d" "$t run -d --name r1 busybox sleep 100000" \
    --prepare "sh -c \"crun --root $work/crun delete -f c1 >/dev/null 2>&1 || true\"" -n "crun run -d" "crun --root $work/crun run -d --bundle $b c1" \
    --prepare "sh -c \"$t rm -f d2 >/dev/null 2>&1 || true\"" -n "tinyort dup, network namespace made in the clone (before)" "env TINYO_DUP_NETNS_AHEAD=0 $t dup src d2" \
    ${BASE_TINYORT:+--prepare "sh -c \"$t rm -f d3 >/dev/null 2>&1 || true\"" -n "tinyort dup, BASE_TINYORT" "$BASE_TINYORT --root $root dup src d3"} >/dev/null
  jq -r ".results[] | \"  \(.command)\t\(.median * 1000 | . * 100 | round / 100) ms median\t(min \(.min * 1000 | . * 100 | round / 100), mean \(.mean * 1000 | . * 100 | round / 100))\"" "$work/start.json"
  $t rm -f d1 d2 d3 r1 >/dev/null 2>&1 || true
  crun --root "$work/crun" delete -f c1 >/dev/null 2>&1 || true
  # The runtime'"'"'s own figure, from inside tinyort: duplication call → clone'"'"'s process running.
  for i in $(seq "$runs"); do
    $t dup src "i$i" 2>&1 >/dev/null | sed -n "s/.*first clone running after \([0-9.]*\) ms.*/\1/p"
  done | sort -n | awk "{a[NR]=\$1} END {printf \"  in-process (library, what tinyonode pays): median %.2f ms, min %.2f ms over %d\\n\", a[int((NR+1)/2)], a[1], NR}"
  for i in $(seq "$runs"); do $t rm -f "i$i" >/dev/null; done
'

if [[ $only == *2* ]]; then
echo "== 2. memory per idle clone, $clones clones, with and without same-page merging"
t="$bin/tinyort --root $root"
$t run -d --name heavy busybox sh -c 'x=$(head -c 8000000 /dev/zero | tr "\0" a); echo ${#x}; while :; do sleep 100000; done' >/dev/null
if [ -w /sys/kernel/mm/ksm/run ]; then
  echo 2000 >/sys/kernel/mm/ksm/pages_to_scan; echo 10 >/sys/kernel/mm/ksm/sleep_millisecs; echo 1 >/sys/kernel/mm/ksm/run
fi
$t dup heavy km -n "$clones" >/dev/null 2>"$work/km.err"
$t dup heavy nk -n "$clones" --no-memory-merge >/dev/null 2>"$work/nk.err"
# Each clone builds its 8 MB first (its own process, from the start): wait until every one holds it (≤ 180 s).
for i in $(seq 180); do
  small=0
  for p in km nk; do for c in $(seq "$clones"); do
    id=$(readlink "$root/names/$p-$c")
    [ "$(cat /sys/fs/cgroup/memory/tinyo/$id/memory.max_usage_in_bytes)" -ge 8000000 ] || small=$((small + 1))
  done; done
  [ "$small" = 0 ] && break; sleep 1
done
sleep 5
# Then for ksmd to settle: pages_sharing unchanged over 5 s (≤ 120 s).
prev=-1
for i in $(seq 24); do
  cur=$(cat /sys/kernel/mm/ksm/pages_sharing); [ "$cur" = "$prev" ] && [ "$cur" -gt 0 ] && break; prev=$cur; sleep 5
done
mem() { # NAME-PREFIX → average cgroup memory and PSS (KiB) of its clones
  local cg=0 pss=0 n=0 merged=0
  for c in $(seq "$clones"); do
    local id pid
    id=$(readlink "$root/names/$1-$c"); pid=$(jq -r .pid "$root/containers/$id/state.json")
    cg=$((cg + $(cat /sys/fs/cgroup/memory/tinyo/$id/memory.usage_in_bytes) / 1024))
    pss=$((pss + $(awk "/^Pss:/ {print \$2}" /proc/$pid/smaps_rollup)))
    merged=$((merged + $(cat /proc/$pid/ksm_merging_pages 2>/dev/null || echo 0)))
    n=$((n + 1))
  done
  echo "  $2: cgroup memory $((cg / n)) KiB, PSS $((pss / n)) KiB per clone; pages merged $((merged / n)) per clone"
}
mem km "with KSM   "
mem nk "without KSM"
echo "  host ksm: pages_shared $(cat /sys/kernel/mm/ksm/pages_shared), pages_sharing $(cat /sys/kernel/mm/ksm/pages_sharing)"
for c in $(seq "$clones"); do $t rm -f "km-$c" "nk-$c" >/dev/null; done
$t rm -f heavy >/dev/null
fi

[[ $only == *3* ]] || exit 0
echo "== 3. snapshot of a 100 MB writable layer: reflink (loop-mounted XFS made here) vs copy (ext4)"
truncate -s 1G "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mkdir -p "$work/xfs"; mount -o loop "$work/xfs.img" "$work/xfs"
for where in "$work/xfs/root" "$root"; do
  tt="$bin/tinyort --root $where"
  [ "$where" = "$root" ] || $tt load "$busybox_layout" --name busybox >/dev/null
  $tt run -d --name big busybox sleep 100000 >/dev/null
  $tt exec big sh -c 'for i in 0 1 2 3 4 5 6 7 8 9; do head -c 10485760 /dev/urandom > /f$i; done; sync'
  for i in 1 2 3 4 5; do
    $tt dup big "s$i" 2>&1 >/dev/null | sed -n "s/.*writable layer: \([a-z+]*\) .*first in \([0-9.]*\) ms.*/\1 \2/p"
    $tt rm -f "s$i" >/dev/null
  done | sort -k2 -n | awk -v fs="$(stat -f -c %T "$where")" "{m[NR]=\$2; k=\$1} END {printf \"  %s on %s: median %.1f ms (min %.1f, max %.1f) over %d\\n\", k, fs, m[int((NR+1)/2)], m[1], m[NR], NR}"
  $tt rm -f big >/dev/null
done
echo "load after: $(cut -d" " -f1-3 /proc/loadavg)"
