#!/bin/sh
# Installs a Tinyo release tarball (`make dist`) on a host without .NET: checks the tarball against the SHA256SUMS
# beside it and the files inside against theirs, checks the libraries the binary needs (`tinyo requirements`), then
# places bin/tinyo and its four hard links (tio, tinyonode, tinyokv, tinyort) in PREFIX/bin. Nothing is installed
# when a check fails. With --up, runs `tio ++ ARGS…` afterwards (a node: tinyokv + tinyonode, logged in; systemd units
# when systemd is PID 1).
#   install.sh TARBALL [--sums FILE] [--prefix DIR] [--up ARGS…]     (PREFIX default /usr/local)
# POSIX sh: a minimal Debian has no bash guarantees beyond dash.
set -eu
usage() { echo "usage: install.sh TARBALL [--sums FILE] [--prefix DIR] [--up TIO_ARGS...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
tarball=$1; shift
sums=$(dirname "$tarball")/SHA256SUMS
prefix=/usr/local
up=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sums) [ $# -ge 2 ] || usage; sums=$2; shift 2;;
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2;;
    --up) up=1; shift; break;;
    *) usage;;
  esac
done
die() { echo "install.sh: $*" >&2; exit 1; }
[ -f "$tarball" ] || die "no tarball at $tarball"
[ -f "$sums" ] || die "no checksum file at $sums (give it with --sums)"
for tool in sha256sum tar gzip; do command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (coreutils, tar, gzip)"; done

# 1. The tarball against its published checksum.
base=$(basename "$tarball")
want=$(awk -v f="$base" '$2 == f || $2 == "*" f {print $1}' "$sums")
[ -n "$want" ] || die "$sums has no checksum for $base"
got=$(sha256sum "$tarball" | cut -d' ' -f1)
[ "$want" = "$got" ] || die "checksum mismatch for $base: expected $want, got $got (a damaged or altered download)"

# 2. Unpacked into a temporary directory, each file against the tarball's own SHA256SUMS.
tmp=$(mktemp -d /tmp/tinyo-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp" --no-same-owner
dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
[ -n "$dir" ] && [ -f "$dir/SHA256SUMS" ] && [ -f "$dir/bin/tinyo" ] || die "$base is not a Tinyo release (no bin/tinyo or SHA256SUMS inside)"
(cd "$dir" && sha256sum -c SHA256SUMS >/dev/null) || die "a file inside $base does not match its checksum"

# 3. What the binary needs from this host (names the missing library and its package).
"$dir/bin/tinyo" requirements >"$tmp/requirements" 2>&1 || { cat "$tmp/requirements" >&2; die "this host lacks a library Tinyo needs (above)"; }

# 4. Placed: the binary under a temporary name, then renamed over the old one; the links made beside it the same way.
mkdir -p "$prefix/bin"
cp "$dir/bin/tinyo" "$prefix/bin/.tinyo.new"
chmod 0755 "$prefix/bin/.tinyo.new"
mv -f "$prefix/bin/.tinyo.new" "$prefix/bin/tinyo"
for n in tio tinyonode tinyokv tinyort; do
  ln -f "$prefix/bin/tinyo" "$prefix/bin/.$n.new"
  mv -f "$prefix/bin/.$n.new" "$prefix/bin/$n"
done
echo "installed $("$prefix/bin/tinyort" --version) into $prefix/bin (tinyo, tio, tinyonode, tinyokv, tinyort)"
if [ -n "$up" ]; then
  exec "$prefix/bin/tio" ++ "$@"
fi
