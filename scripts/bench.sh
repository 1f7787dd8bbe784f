#!/usr/bin/env bash
# Runs Tinyo's benchmarks against their real peers in the same run (see docs/benchmarks.md) and collects the
# summaries in artifacts/bench/. Needs root, `make deps` and the AOT binaries (`make build`; `make bench` does both).
#   BENCH_FILTER='*Start*'   only these BenchmarkDotNet suites (default: all: Pull, Unpack, Start, InNodeStart)
#   SCALE_COUNT=1000         containers for the scale run (0 skips it); SCALE_CONCURRENCY (default: the cores)
#   KV_RUNS=3 KV_SECONDS=5   the kv section: 3-member tinyokv vs 3-member etcd, runs and seconds per phase (KV_RUNS=0 skips it)
#   KV_WAL_COMPARE=1         the kv section also runs tinyokv with its WAL in a shared mapping (--wal-memory shared)
#   FIRSTBYTE_RUNS=15        the first-byte section: `tio +` vs `docker run -d -p` vs `podman run -d -p` (0 skips it)
#   IDLERSS_SECONDS=30       the idle-RSS section: tinyonode + tinyokv fresh, with an app, after it (0 skips it)
#   NET_RUNS=30              the cluster-network section: set-up, TCP, 1000 replicas vs podman/netavark and docker
#                            bridges (bench/net.sh; 0 skips it; SETUP_N, SCALE_N, ROUNDS, SECONDS_TP as there)
# `scripts/bench.sh kv` runs only the kv section (needs out/bin/tinyokv and Debian's etcd, not root);
# `scripts/bench.sh firstbyte` only the first-byte section (root; bench/first-byte.sh);
# `scripts/bench.sh net` only the cluster-network section (root; bench/net.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export TINYO_BIN=${TINYO_BIN:-$PWD/out/bin}
out=artifacts/bench
exe=artifacts/bin/Tinyo.Bench/release/Tinyo.Bench

kv_section() {
  [ -x "$TINYO_BIN/tinyokv" ] || { echo "bench: $TINYO_BIN/tinyokv is missing: run make build" >&2; exit 1; }
  command -v etcd >/dev/null || { echo "bench: etcd is missing: run make deps" >&2; exit 1; }
  echo "load average before the kv run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
  "$exe" kv --runs "${KV_RUNS:-3}" --seconds "${KV_SECONDS:-5}" ${KV_WAL_COMPARE:+--wal-compare} >"$out/kv.md" 2> >(tee "$out/kv.log" >&2)
  echo "load average after the kv run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
}

firstbyte_section() {
  echo "load average before the first-byte run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
  bench/first-byte.sh "${FIRSTBYTE_RUNS:-15}" >"$out/first-byte.md"
  echo "load average after the first-byte run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
}

net_section() {
  echo "load average before the cluster-network run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
  bench/net.sh "${NET_RUNS:-30}" >"$out/net.md"
  echo "load average after the cluster-network run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
}

if [ "${1:-}" = net ]; then
  mkdir -p "$out"
  dotnet build -c Release bench/Tinyo.Bench -v q -nologo >/dev/null
  { echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"; echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"; } >"$out/environment.txt"
  net_section
  cat "$out/net.md"
  exit 0
fi

if [ "${1:-}" = firstbyte ]; then
  mkdir -p "$out"
  { echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"; echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"; } >"$out/environment.txt"
  firstbyte_section
  cat "$out/first-byte.md"
  exit 0
fi

if [ "${1:-}" = kv ]; then
  mkdir -p "$out"
  dotnet build -c Release bench/Tinyo.Bench -v q -nologo >/dev/null
  { echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"; echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')";
    echo "cpu: $(nproc) cores"; echo "peer: $(etcd --version | head -1)"; } >"$out/environment.txt"
  kv_section
  cat "$out/kv.md"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "bench: run as root (containers, cgroups, podman stores)" >&2; exit 1; }
[ -x "$TINYO_BIN/tinyort" ] || { echo "bench: $TINYO_BIN/tinyort is missing: run make build" >&2; exit 1; }
for tool in docker-registry skopeo podman crun runc docker dockerd unshare tar gzip jq; do
  command -v $tool >/dev/null || { echo "bench: $tool is missing: run make deps" >&2; exit 1; }
done
results=$out/BenchmarkDotNet.Artifacts/results
rm -rf "$results"; mkdir -p "$out"
dotnet build -c Release bench/Tinyo.Bench -v q -nologo >/dev/null

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "kernel: $(uname -r)"
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "peers: $(crun --version | head -1); $(runc --version | head -1); $(podman --version); docker $(dpkg-query -W -f='${Version}' docker.io 2>/dev/null); $(skopeo --version); docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null); $(tar --version | head -1); $(etcd --version 2>/dev/null | head -1)"
} >"$out/environment.txt"

"$exe" --filter "${BENCH_FILTER:-*}" 2>&1 | tee "$out/benchmarkdotnet.log" | grep -E '^(// \*|\| |Run time|Global total)' || true
echo "load average after the BenchmarkDotNet suites: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"

if [ "${SCALE_COUNT:-1000}" != 0 ]; then
  "$exe" scale "${SCALE_COUNT:-1000}" ${SCALE_CONCURRENCY:-} >"$out/scale.md"
  echo "load average after the scale run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/environment.txt"
fi
[ "${KV_RUNS:-3}" = 0 ] || kv_section
[ "${FIRSTBYTE_RUNS:-15}" = 0 ] || firstbyte_section
[ "${NET_RUNS:-30}" = 0 ] || net_section
[ "${IDLERSS_SECONDS:-30}" = 0 ] || bench/idle-rss.sh "${IDLERSS_SECONDS:-30}" >"$out/idle-rss.md"
"$exe" sizes >"$out/sizes.md"

for f in "$results"/*-report-github.md; do
  [ -e "$f" ] || continue
  cp "$f" "$out/$(basename "$f" | sed 's/^Tinyo\.Bench\.Benchmarks\.//; s/-report-github//')"
done
echo; echo "== environment"; cat "$out/environment.txt"
for f in "$out"/*.md; do echo; echo "== $(basename "$f")"; cat "$f"; done
# Left behind by nothing we started? (the suites clean up in GlobalCleanup/finally)
if grep -qE 'tinyo-bench' /proc/self/mountinfo; then echo "bench: WARNING: mounts left:" >&2; grep tinyo-bench /proc/self/mountinfo >&2; fi
