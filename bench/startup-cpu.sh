#!/usr/bin/env bash
# Process start-up on CPU time (issue 16): `tinyort --version` against a NativeAOT hello world built with the same
# settings (generated under artifacts/hello/, where Directory.Build.props gives it the four binaries' AOT block by
# its name), plus `tinyort init x` (the runtime's floor: returns before any work) and `tinyort state
# nope` (a System.CommandLine verb, as engines call them). CPU time (perf stat task-clock) is what the machine's load
# moves least; ROUNDS rounds alternate the commands, RUNS runs each per round; the median of the per-round ratios
# to hello world is what to quote.
#   TINYO_BIN=out/bin bench/startup-cpu.sh        ROUNDS=10 RUNS=20; HELLO=path skips building the hello world
#   BASE_TINYORT=/path/to/older/tinyort           adds that binary's --version (before/after)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
rounds=${ROUNDS:-10}; runs=${RUNS:-20}
hello=${HELLO:-}
if [ -z "$hello" ]; then
  mkdir -p artifacts/hello
  printf '<Project Sdk="Microsoft.NET.Sdk">\n  <PropertyGroup><AssemblyName>hello</AssemblyName></PropertyGroup>\n</Project>\n' >artifacts/hello/hello.csproj
  printf 'Console.Out.Write("0.1.0\\n");\nreturn 0;\n' >artifacts/hello/Program.cs
  dotnet publish artifacts/hello/hello.csproj -c Release -o artifacts/publish-aot/hello -v quiet -nologo >/dev/null
  hello=artifacts/publish-aot/hello/hello
fi
# (`state nope` exits 1: no such container; its cost is the parse, the root and the lookup)
cpu() { { perf stat -r "$runs" -e task-clock -x, "$@" 2>&1 >/dev/null || true; } | awk -F, '/task-clock/ {print $1}'; }
declare -A all
names=(hello version init state); [ -n "${BASE_TINYORT:-}" ] && names+=(base)
for r in $(seq "$rounds"); do
  h=$(cpu "$hello"); all[hello]+="$h "
  v=$(cpu "$bin/tinyort" --version); all[version]+="$v "
  i=$(cpu "$bin/tinyort" init x); all[init]+="$i "
  s=$(cpu "$bin/tinyort" --root /nonexistent-tinyo-root state nope); all[state]+="$s "
  [ -n "${BASE_TINYORT:-}" ] && { b=$(cpu "$BASE_TINYORT" --version); all[base]+="$b "; }
  ratios+="$(echo "$v / $h" | bc -l) "
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for n in "${names[@]}"; do printf "%-8s median %.2f ms CPU (rounds: %s)\n" "$n" "$(echo "${all[$n]}" | med)" "${all[$n]}"; done
printf "tinyort --version ÷ hello world, median of the per-round ratios: %.2f×\n" "$(echo "$ratios" | med)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
