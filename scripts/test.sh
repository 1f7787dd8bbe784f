#!/usr/bin/env bash
# Runs every xunit suite and prints one closing line "N passed, N failed, N skipped".
# Suites run one after another: the runtime's tests own mounts and cgroups, the KV's own ports and processes.
set -uo pipefail
cd "$(dirname "$0")/.."
results=artifacts/test-results
rm -rf "$results"; mkdir -p "$results"
suites=(linux/tests rt/tests kv/tests node/tests ctl/tests)
rc=0
broken=()  # suites whose runner failed although no test did (a class fixture's cleanup, a crashed test host)
for s in "${suites[@]}"; do
  name=$(basename "$(ls "$s"/*.csproj)" .csproj)
  echo "== $name"
  dotnet test "$s" -nologo -v quiet --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    --logger "console;verbosity=minimal" || { rc=1; broken+=("$name"); }
done
echo "== fuzz smoke (corpus + regression replay, then a few seconds of afl++ per target)"
FUZZ_SMOKE=1 scripts/fuzz.sh || rc=1
passed=0; failed=0; skipped=0
for f in "$results"/*.trx; do
  [ -f "$f" ] || continue
  c=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$c"); fl=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$c")
  nx=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$c")
  passed=$((passed + ${p:-0})); failed=$((failed + ${fl:-0})); skipped=$((skipped + ${nx:-0}))
done
# CI keeps only the tail of the output: name each failed test (and the first line of its message) right here.
if [ "$failed" -gt 0 ]; then
  for f in "$results"/*.trx; do
    # One <UnitTestResult ... outcome="Failed"> element per failure; its <Message> follows it. Only the element's own
    # attributes are matched: the last record runs on to <ResultSummary outcome="Failed">, which is no test.
    awk 'BEGIN { RS = "<UnitTestResult " }
         { head = substr($0, 1, index($0, ">")) }
         head ~ /outcome="Failed"/ {
           match(head, /testName="[^"]*"/); name = substr(head, RSTART + 10, RLENGTH - 11)
           msg = ""; if (match($0, /<Message>[^\n<]*/)) msg = substr($0, RSTART + 9, RLENGTH - 9)
           printf "FAILED %s: %s\n", name, substr(msg, 1, 300) }' "$f"
  done
fi
for name in "${broken[@]}"; do
  grep -q 'outcome="Failed"' "$results/$name.trx" 2>/dev/null && grep -q '<UnitTestResult [^>]*outcome="Failed"' "$results/$name.trx" ||
    echo "FAILED $name: its runner failed outside any test (a class fixture's cleanup or a crashed test host: see its output above)"
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] || rc=1
exit $rc
