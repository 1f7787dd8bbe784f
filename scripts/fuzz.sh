#!/usr/bin/env bash
# Runs every fuzz campaign with afl++ over SharpFuzz-instrumented assemblies, FUZZ_SECONDS each (default 60).
#   scripts/fuzz.sh                 all targets
#   scripts/fuzz.sh TARGET...       only these
#   FUZZ_SMOKE=1 scripts/fuzz.sh    CI-sized run (a few seconds each), used by `make test`
#   FUZZ_JOBS=N                     run N afl++ instances (different targets) at once (default 1)
#   FUZZ_WORK=DIR                   build, findings and logs under DIR (default artifacts/fuzz), so a long campaign
#                                   and a smoke run do not share (and delete) each other's binaries
# Before fuzzing, every committed corpus and regression input is replayed (no afl needed); any escape fails the run.
# Crashes found are copied to fuzz/regressions/TARGET/ (commit them once fixed) and fail the run.
# Stats per target (execs, edges, bitmap coverage) are appended to $FUZZ_WORK/stats.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
[ -n "${FUZZ_SMOKE:-}" ] && secs=${FUZZ_SECONDS_SMOKE:-4}
jobs=${FUZZ_JOBS:-1}
work=${FUZZ_WORK:-artifacts/fuzz}
bin=$work/bin
tools=artifacts/fuzz-tools
mkdir -p "$work"
work=$(cd "$work" && pwd)
bin=$work/bin

# Harnesses write scratch files (the layer target unpacks into a temp dir, and afl kills its forkserver children
# without a chance to clean up): keep all of it under one directory that this script removes.
export TMPDIR=$work/tmp
rm -rf "$TMPDIR"; mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
plain=$work/plain   # un-instrumented build for replays (instrumented code needs afl's shared memory)
dotnet publish fuzz/Tinyo.Fuzz -c Release -o "$plain" -nologo -v quiet
rm -rf "$bin"; cp -r "$plain" "$bin"
if [ ! -x "$tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
fi
# Instrument our own assemblies (only Tinyo.* types); $bin is a fresh copy, so this never double-instruments.
for dll in "$bin"/Tinyo.*.dll; do
  [ "$(basename "$dll")" = Tinyo.Fuzz.dll ] && continue
  "$tools/sharpfuzz" "$dll" Tinyo >/dev/null
done

mapfile -t all < <(dotnet "$plain/Tinyo.Fuzz.dll" list)
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

rc=0
for t in "${targets[@]}"; do
  dotnet "$plain/Tinyo.Fuzz.dll" replay "$t" "fuzz/corpus/$t" "fuzz/regressions/$t" || rc=1
done
[ $rc -eq 0 ] || { echo "fuzz: a committed input escapes its oracle"; exit 1; }

command -v afl-fuzz >/dev/null || { echo "fuzz: afl-fuzz missing (make deps)"; exit 1; }
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 \
       AFL_NO_AFFINITY=1 AFL_QUIET=1 AFL_FORKSRV_INIT_TMOUT=30000
[ -f "$work/stats.tsv" ] || printf 'date\ttarget\tseconds\texecs\tedges\tbitmap_cvg\tcrashes\n' > "$work/stats.tsv"

# One campaign; prints its summary and returns 1 on a crash or an afl failure.
campaign() {
  local t=$1 out=$work/findings/$1
  rm -rf "$out"; mkdir -p "$out"
  afl-fuzz -i "fuzz/corpus/$t" -o "$out" -V "$secs" -t 5000 -m none -- dotnet "$bin/Tinyo.Fuzz.dll" "$t" \
    > "$work/$t.log" 2>&1 || { echo "fuzz: afl-fuzz failed for $t (see $work/$t.log)"; tail -5 "$work/$t.log"; return 1; }
  local st=$out/default/fuzzer_stats execs edges cvg crashes
  execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$st"); edges=$(awk -F' *: *' '$1=="edges_found"{print $2}' "$st")
  cvg=$(awk -F' *: *' '$1=="bitmap_cvg"{print $2}' "$st")
  crashes=$(find "$out/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "$execs" "$edges" "$cvg" "$crashes" \
    >> "$work/stats.tsv"
  echo "fuzz: $t: ${secs}s, $execs execs, $edges edges ($cvg), $crashes crash(es)"
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "fuzz/regressions/$t"
    cp "$out"/default/crashes/id:* "fuzz/regressions/$t/" 2>/dev/null || true
    echo "fuzz: crashes copied to fuzz/regressions/$t/"
    return 1
  fi
}

# Each campaign leaves its verdict in a file: `wait -n` and job tables are unreliable for collecting statuses.
rm -f "$work"/*.failed
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  { campaign "$t" || touch "$work/$t.failed"; } &
done
wait
ls "$work"/*.failed >/dev/null 2>&1 && rc=1
exit $rc
