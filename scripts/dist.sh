#!/usr/bin/env bash
# `make dist`: the release tarball of Tinyo for linux-x64, for hosts without .NET or the source tree.
#   out/dist/tinyo-VERSION-linux-x64.tar.gz   tinyo-VERSION/bin/tinyo and its four hard links (tio, tinyonode,
#                                             tinyokv, tinyort), install.sh, REQUIREMENTS, SHA256SUMS of those files
#   out/dist/SHA256SUMS                       the tarball's checksum (install.sh checks it before unpacking)
# No systemd unit files are shipped: `tio ++` writes the node's two units itself when systemd is PID 1 (per root,
# ctl/Tinyo.Ctl/Setup/SystemdUnits.cs), and supervises the daemons as processes otherwise. No shell completions exist
# yet. Reproducible: files owned by root, sorted, dated at the last commit.
#   scripts/dist.sh [BIN]   (BIN: the directory with the multi-call binary, default out/bin; DIST_OUT: default out/dist)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-out/bin}
[ -x "$bin/tinyo" ] || { echo "dist: $bin/tinyo not found (run make)" >&2; exit 1; }
version=$("$bin/tinyo" tinyort --version | cut -d+ -f1)
name=tinyo-$version-linux-x64
out=${DIST_OUT:-out/dist}
stage=$(mktemp -d /tmp/tinyo-dist.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin" "$out"
install -m 0755 "$bin/tinyo" "$stage/$name/bin/tinyo"
for n in tio tinyonode tinyokv tinyort; do ln "$stage/$name/bin/tinyo" "$stage/$name/bin/$n"; done
install -m 0755 scripts/install.sh "$stage/$name/install.sh"
{
  echo "Tinyo $version for linux-x64: one NativeAOT binary (tinyo) and four hard links to it."
  echo "What the host must provide (\`bin/tinyo requirements\` checks it; install.sh runs that first):"
  "$bin/tinyo" requirements | sed 's/ — present$//; s/^/  /'
  echo "Kernel: Linux with namespaces, cgroups (v1, hybrid or v2) and overlayfs; run as root."
} >"$stage/$name/REQUIREMENTS"
(cd "$stage/$name" && sha256sum bin/tinyo install.sh REQUIREMENTS >SHA256SUMS)
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$mtime" -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" >SHA256SUMS)
echo "dist: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)), $out/SHA256SUMS"
