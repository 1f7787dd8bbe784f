#!/usr/bin/env bash
# Container start on equal terms (issue 16): tinyort, crun and runc run the same busybox bundle (/bin/true, runc's
# default spec) inside ONE private mount namespace with the empty cgroup2 tree unmounted — the wrapper crun
# 1.8 needs on this hybrid-cgroup host — so no runtime gets a wrapper the others do not. Also each runtime's
# `--version` (process start-up alone). hyperfine, ROUNDS rounds of RUNS runs each; medians are what to quote.
# CPU=1 adds, per round, the CPU time of each start's whole process tree (perf stat task-clock, RUNS runs each),
# which a loaded machine moves far less than wall time.
#   TINYO_BIN=out/bin bench/start-equal.sh            RUNS=60 ROUNDS=3 by default
#   BASE_TINYORT=/path/to/older/tinyort                 adds that binary as a fourth command (before/after ratios)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
runs=${RUNS:-60}; rounds=${ROUNDS:-3}
for t in hyperfine crun runc unshare busybox; do command -v "$t" >/dev/null || { echo "start-equal: $t missing (make deps)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/start-equal.XXXXXX)
trap 'rm -rf "$work"' EXIT
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/true"; ln -s busybox "$b/rootfs/bin/sh"
(cd "$b" && runc spec) # runc's default spec: an ociVersion all three accept (crun 1.8 refuses newer ones)
# The same config for all three: /bin/true, no terminal.
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
BASE_CMD=""; BASE_RUN=""
if [ -n "${BASE_TINYORT:-}" ]; then BASE_CMD=tinyort-base; BASE_RUN="$BASE_TINYORT --root $work/base run --bundle $b se-base"; fi
export b bin runs rounds work BASE_CMD BASE_RUN CPU
unshare -m --propagation private bash -euo pipefail -c '
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  for r in $(seq "$rounds"); do
    echo "== round $r"
    hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/start-$r.json" \
      -n tinyort "$bin/tinyort --root $work/tinyort run --bundle $b se-tinyort" \
      -n crun "crun --root $work/crun run --bundle $b se-crun" \
      -n runc "runc --root $work/runc run --bundle $b se-runc" \
      ${BASE_CMD:+-n "$BASE_CMD" "$BASE_RUN"} >/dev/null
    hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/version-$r.json" \
      -n tinyort "$bin/tinyort --version" -n tio "$bin/tio --version" -n crun "crun --version" >/dev/null
    if [ "${CPU:-0}" = 1 ]; then
      for rt in tinyort crun; do
        if [ $rt = tinyort ]; then c="$bin/tinyort --root $work/tinyort-cpu run --bundle $b cpu-$r"; else c="crun --root $work/crun-cpu run --bundle $b cpu-$r"; fi
        perf stat -r "$runs" -e task-clock -x, $c 2>&1 >/dev/null | awk -F, -v rt=$rt -v r=$r "/task-clock/ {printf \"  cpu-%s\t%s\t%s ms CPU (task-clock, whole tree)\n\", r, rt, \$1}"
      done
    fi
    for f in "$work/start-$r.json" "$work/version-$r.json"; do
      jq -r ".results[] | \"\(.command)\t\(.median * 1000 | . * 100 | round / 100) ms median\t(mean \(.mean * 1000 | . * 100 | round / 100) ± \(.stddev * 1000 | . * 100 | round / 100))\"" "$f" |
        sed "s/^/  $(basename "$f" .json)\t/"
    done
  done
'
echo "machine: $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
