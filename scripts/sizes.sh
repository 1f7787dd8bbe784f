#!/usr/bin/env bash
# The binaries' sizes in a directory (default out/bin), each file counted once: the multi-call binary's hard links
# (tio, tinyonode, tinyokv, tinyort → tinyo) are one file on disk, listed with all its names.
#   scripts/sizes.sh [DIR]
set -euo pipefail
dir=${1:-out/bin}
[ -d "$dir" ] || { echo "sizes: no directory $dir (run make)" >&2; exit 1; }
find "$dir" -maxdepth 1 -type f -printf '%i %s %f\n' | sort -k1,1n -k3,3 | awk '
  { size[$1] = $2; names[$1] = (names[$1] == "" ? $3 : names[$1] " = " $3) }
  END {
    for (i in size) { printf "  %-45s %6.1f MiB\n", names[i], size[i] / 1048576; t += size[i] }
    printf "  %-45s %6.1f MiB\n", "total (each file once)", t / 1048576
  }'
