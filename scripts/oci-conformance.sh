#!/usr/bin/env bash
# Runs the opencontainers runtime-tools validation suite against tinyort and runc in the same run, on the same
# builds of the tests and the same rootfs, and prints one table: test → tinyort / runc (pass, fail or skip, with the
# TAP counts), then the totals and the tests that runc passes and tinyort does not. Needs root (the suite creates
# real containers and cgroups) and Go (make deps: golang-go).
#
#   scripts/oci-conformance.sh [TEST...]       every validation/*/*.t, or only the named ones (e.g. linux_ns_path)
#
# Env:
#   TINYORT             the tinyort binary (default out/bin/tinyort)
#   RUNC                the peer (default runc from PATH)
#   RUNTIME_TOOLS_DIR   a runtime-tools checkout to use in place; its tests are built there if missing (make
#                       runtimetest validation-executables). Without it the suite is cloned from RUNTIME_TOOLS_SRC
#                       at RUNTIME_TOOLS_REF into a temp dir and built there (Go's cache too), then removed.
#   RUNTIME_TOOLS_SRC   git URL or directory (default https://github.com/opencontainers/runtime-tools.git)
#   RUNTIME_TOOLS_REF   commit or tag (default 260e151: the newest commit whose go.mod still says go 1.19, the Go
#                       of Debian 12; the next one, c2dadba, needs Go 1.21 for the slices package)
#   TEST_TIMEOUT        seconds per test and runtime (default 300)
#   KEEP_LOGS=DIR       copy every test's TAP output there (DIR/RUNTIME/TEST.log) before cleaning up
#
# The suite builds each bundle from the busybox rootfs it ships (rootfs-amd64.tar.gz in its repository, untarred by
# validation/util.PrepareBundle) and copies its own runtimetest binary in; both runtimes get the same tarball.
# Each runtime runs through a wrapper with a private state root (tinyort: TINYO_ROOT; runc: --root) under the temp
# dir, and TMPDIR points there too, so bundles land inside it. Cleanup (also on failure or Ctrl-C): every container
# left in either root is deleted with --force, processes whose root is still a bundle under the temp dir are killed
# by PID, mounts under it are detached, the cgroups the suite names (/cgrouptest, testdir/cgrouptest/container) are
# removed where this run created them, and the temp dir goes.
#
# Exit status: 0 when tinyort fails no test that runc passes, 1 otherwise, 2 on a set-up error.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
TINYORT=${TINYORT:-$here/out/bin/tinyort}
RUNC=${RUNC:-runc}
RUNTIME_TOOLS_SRC=${RUNTIME_TOOLS_SRC:-https://github.com/opencontainers/runtime-tools.git}
RUNTIME_TOOLS_REF=${RUNTIME_TOOLS_REF:-260e151}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

die() { echo "oci-conformance: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (the suite creates containers and cgroups)"
[ -x "$TINYORT" ] || die "TINYORT=$TINYORT is not an executable (make out/bin/tinyort)"
TINYORT=$(readlink -f "$TINYORT")
RUNC=$(command -v "$RUNC") || die "runc not found (make deps)"
[[ "$TEST_TIMEOUT" =~ ^[0-9]+$ ]] || die "TEST_TIMEOUT must be a number of seconds, not '$TEST_TIMEOUT'"

work=$(mktemp -d /tmp/oci-conformance.XXXXXX)
# The cgroup directories the suite creates: remember which exist now, so cleanup removes only this run's.
find_suite_cgroups() {
  find /sys/fs/cgroup -mindepth 1 -maxdepth 12 -type d \( -name cgrouptest -o -name testdir \) -prune -print 2>/dev/null | sort
}
find_suite_cgroups >"$work/cgroups.before"

cleanup_containers() { # $1 = wrapper: delete every container the runtime still lists in its private root
  local ids
  ids=$("$1" list -q 2>/dev/null || true)
  for id in $ids; do "$1" kill "$id" KILL >/dev/null 2>&1 || true; "$1" delete --force "$id" >/dev/null 2>&1 || true; done
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for w in "$work/bin/tinyort" "$work/bin/runc"; do [ -x "$w" ] && cleanup_containers "$w"; done
  # Processes still running inside one of this run's bundles (a test killed by the timeout leaves its container).
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case "$r" in "$work"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
  # Mounts under the temp dir, deepest first.
  findmnt -rn -o TARGET | awk -v w="$work/" 'index($0, w) == 1' | sort -r | while read -r m; do umount -l "$m"; done
  # The suite's cgroups that did not exist before this run, children first.
  find_suite_cgroups | comm -13 "$work/cgroups.before" - | while read -r d; do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the suite -------------------------------------------------------------------------------------------------
if [ -n "${RUNTIME_TOOLS_DIR:-}" ]; then
  rt=$(cd "$RUNTIME_TOOLS_DIR" && pwd) || die "RUNTIME_TOOLS_DIR=$RUNTIME_TOOLS_DIR does not exist"
else
  rt="$work/runtime-tools"
  git clone -q "$RUNTIME_TOOLS_SRC" "$rt" || die "cannot clone $RUNTIME_TOOLS_SRC (set RUNTIME_TOOLS_SRC or RUNTIME_TOOLS_DIR)"
  git -C "$rt" checkout -q "$RUNTIME_TOOLS_REF" || die "no $RUNTIME_TOOLS_REF in $RUNTIME_TOOLS_SRC"
  export GOCACHE="$work/gocache" GOPATH="$work/gopath"
fi
[ -f "$rt/Makefile" ] && [ -d "$rt/validation" ] || die "$rt is not a runtime-tools checkout"
[ -f "$rt/rootfs-amd64.tar.gz" ] || die "$rt has no rootfs-amd64.tar.gz (the suite's busybox rootfs)"
if [ ! -x "$rt/runtimetest" ] || [ -z "$(find "$rt/validation" -name '*.t' -print -quit)" ]; then
  command -v go >/dev/null || die "go not installed (make deps: golang-go)"
  echo "oci-conformance: building runtime-tools $(git -C "$rt" describe --always --tags 2>/dev/null) with $(go version | cut -d' ' -f3)"
  # Vendored dependencies only: no network, no module download.
  (cd "$rt" && GOFLAGS=-mod=vendor GOPROXY=off make -s runtimetest validation-executables >"$work/build.log" 2>&1) \
    || { tail -20 "$work/build.log" >&2; die "building the suite failed"; }
fi

if [ $# -gt 0 ]; then
  tests=()
  for n in "$@"; do
    [ -x "$rt/validation/$n/$n.t" ] || die "no validation test '$n' (see $rt/validation)"
    tests+=("validation/$n/$n.t")
  done
else
  mapfile -t tests < <(cd "$rt" && ls validation/*/*.t | sort)
fi

# --- the runtimes, each with a private state root ----------------------------------------------------------------
# The bundles go under $work/tmp: with linux.uidMappings the container's mapped root must be able to reach them.
chmod 0755 "$work"
mkdir -p "$work/bin" "$work/tinyort-root" "$work/runc-root" "$work/tmp" "$work/logs/tinyort" "$work/logs/runc"
chmod 1777 "$work/tmp"
printf '#!/bin/sh\nTINYO_ROOT=%q exec %q "$@"\n' "$work/tinyort-root" "$TINYORT" >"$work/bin/tinyort"
printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$RUNC" "$work/runc-root" >"$work/bin/runc"
chmod 0755 "$work/bin/tinyort" "$work/bin/runc"

# One test against one runtime → "pass|fail|skip OK/TOTAL" on stdout; TAP output in the log.
run_one() { # $1 runtime name, $2 test path
  local log="$work/logs/$1/$(basename "$2" .t).log" rc=0
  (cd "$rt" && TMPDIR="$work/tmp" RUNTIME="$work/bin/$1" \
    timeout -k 10 "$TEST_TIMEOUT" "$2" </dev/null >"$log" 2>&1) || rc=$?
  cleanup_containers "$work/bin/$1"
  awk -v rc="$rc" '
    /^ok [0-9]+/      { total++; if ($0 ~ /# [Ss][Kk][Ii][Pp]/) skip++; else ok++ }
    /^not ok [0-9]+/  { total++; if ($0 ~ /# TODO/) todo++; else bad++ }
    /^1\.\.[0-9]+/    { plan = 1 }
    /"error": "[^"]/  { diag = 1 }
    END {
      if (rc == 124 || rc == 137) { printf "fail %d/%d (timeout)\n", ok, total; exit }
      # Some tests print no TAP line when they pass: the *_fail ones exit 0 when the runtime refused the bad config,
      # hooks/poststart/... print only an error diagnostic when something went wrong.
      if (total == 0) { if (rc == 0 && !diag) print "pass 0/0"; else printf "fail 0/0%s\n", rc != 0 ? " (exit " rc ")" : ""; exit }
      if (bad > 0 || rc != 0 || !plan || total == 0) { printf "fail %d/%d%s\n", ok, total, (rc != 0 && bad == 0) ? " (exit " rc ")" : ""; exit }
      if (ok == 0) { printf "skip 0/%d\n", total; exit }
      printf "pass %d/%d\n", ok, total
    }' "$log"
}

echo "oci-conformance: $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "  suite   runtime-tools $(git -C "$rt" describe --always --tags 2>/dev/null || echo '?') (runtime-spec $(awk '/opencontainers\/runtime-spec /{print $2}' "$rt/go.mod" 2>/dev/null || echo '?'))"
echo "  tinyort $TINYORT"
echo "  runc    $("$RUNC" --version | head -1)"
printf '\n%-40s %-22s %-22s\n' test tinyort runc
declare -A count=()
gaps=()
for t in "${tests[@]}"; do
  name=$(basename "$t" .t)
  a=$(run_one tinyort "$t")
  b=$(run_one runc "$t")
  printf '%-40s %-22s %-22s\n' "$name" "$a" "$b"
  count[tinyort-${a%% *}]=$(( ${count[tinyort-${a%% *}]:-0} + 1 ))
  count[runc-${b%% *}]=$(( ${count[runc-${b%% *}]:-0} + 1 ))
  [ "${b%% *}" = pass ] && [ "${a%% *}" != pass ] && gaps+=("$name")
done
echo
for r in tinyort runc; do
  printf '%-8s pass %d, fail %d, skip %d (of %d)\n' "$r" "${count[$r-pass]:-0}" "${count[$r-fail]:-0}" "${count[$r-skip]:-0}" "${#tests[@]}"
done
if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp -r "$work/logs/." "$KEEP_LOGS/"; fi
if [ ${#gaps[@]} -gt 0 ]; then
  echo "runc passes, tinyort does not: ${gaps[*]}"
  exit 1
fi
echo "tinyort passes every test runc passes"
