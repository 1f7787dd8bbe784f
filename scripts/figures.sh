#!/usr/bin/env bash
# The README's benchmark table is a copy of the "Current figures" block of docs/benchmarks.md (between the
# <!-- figures:begin --> and <!-- figures:end --> markers), so a figure lives in one place.
#   scripts/figures.sh --write   copy the block into README.md
#   scripts/figures.sh --check   exit 1 (naming the first differing line) when README.md's block differs
set -euo pipefail
cd "$(dirname "$0")/.."
block() { sed -n '/<!-- figures:begin -->/,/<!-- figures:end -->/p' "$1"; }
src=$(block docs/benchmarks.md)
[ -n "$src" ] || { echo "figures: no figures block in docs/benchmarks.md" >&2; exit 1; }
case "${1:-}" in
  --write)
    grep -q '<!-- figures:begin -->' README.md || { echo "figures: README.md has no figures markers" >&2; exit 1; }
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    awk -v blockfile=<(printf '%s\n' "$src") '
      /<!-- figures:begin -->/ { while ((getline l < blockfile) > 0) print l; skip = 1; next }
      /<!-- figures:end -->/ { skip = 0; next }
      !skip { print }' README.md >"$tmp"
    cat "$tmp" >README.md
    echo "figures: README.md table written from docs/benchmarks.md";;
  --check)
    if ! diff <(block README.md) <(printf '%s\n' "$src") >/dev/null; then
      echo "figures: README.md's benchmark table differs from docs/benchmarks.md's current figures (run scripts/figures.sh --write):" >&2
      diff <(block README.md) <(printf '%s\n' "$src") | head -4 >&2
      exit 1
    fi
    echo "figures: README.md agrees with docs/benchmarks.md";;
  *) echo "usage: scripts/figures.sh --write | --check" >&2; exit 2;;
esac
