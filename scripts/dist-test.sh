#!/usr/bin/env bash
# The release tarball on a bare root (issue 17): `make dist`'s tarball installed by scripts/install.sh into a chroot
# that has no .NET, no SDK and no source — only a static busybox (the shell and tools install.sh needs), the shared
# libraries `ldd` names for the binary, and later OpenSSL and nft with theirs. Checked, in order:
#   1. without OpenSSL, install.sh refuses (naming libcrypto and the package) and installs nothing; the binary's
#      daemon refuses to serve with the same message and exit 127 (not an abort with a core dump);
#   2. a tarball with one byte changed is refused (checksum mismatch), nothing installed;
#   3. with OpenSSL, install.sh installs (tinyo + four hard links) and `--up` runs `tio ++`: the node's two daemons
#      start inside the chroot;
#   4. an app (busybox httpd from a loopback registry, the node's docker.io mirror) applied with the installed tio
#      serves its page on the published port; then `tio down`.
# Everything is removed on exit (mounts under the temp dir, the daemons by pid, the registry, the temp dir).
#   TINYO_BIN=out/bin scripts/dist-test.sh     (root; prints "dist-test: ok" last)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
[ "$(id -u)" = 0 ] || { echo "dist-test: needs root (chroot, mounts)" >&2; exit 1; }
[ -x "$bin/tinyo" ] || { echo "dist-test: $bin/tinyo not found (run make)" >&2; exit 1; }
# In a private mount namespace of its own: the chroot's bind mounts of /sys and /dev (and the cgroup hierarchies under
# /sys) are never seen by the host or by tests running beside this one, and vanish with the namespace even if this
# script is killed before its cleanup.
if [ -z "${TINYO_DIST_TEST_NS:-}" ]; then
  TINYO_DIST_TEST_NS=1 exec unshare -m --propagation private "$PWD/scripts/dist-test.sh" "$@"
fi
tmp=$(mktemp -d /tmp/tinyo-dist-test.XXXXXX)
root=$tmp/root
reg_pid=""; tio_up=""
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TINYO_SUPERVISOR=process "$@"; }
cleanup() {
  set +e
  [ -n "$tio_up" ] && in_root /usr/local/bin/tio down --grace 5 >/dev/null 2>&1
  # Whatever still runs from the chroot (a daemon tio down could not stop): by pid, only if its root is ours.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  grep -F " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "dist-test: FAILED: $*" >&2; exit 1; }
step() { echo "dist-test: $*"; }

# The tarball, as `make dist` makes it.
DIST_OUT=$tmp/dist scripts/dist.sh "$bin" >/dev/null
tarball=$(ls "$tmp"/dist/tinyo-*-linux-x64.tar.gz)
name=$(basename "$tarball")

# A bare root: busybox (static) for the shell and the tools, glibc as ldd names it for the binary, nothing else.
mkdir -p "$root"/{bin,dist,etc,proc,sys,dev,tmp,run,root,var/lib,usr/sbin} && chmod 1777 "$root/tmp"
cp /usr/bin/busybox "$root/bin/busybox"
chroot "$root" /bin/busybox --install -s /bin
mkdir -p "$root/usr/bin" && ln -s /bin/env "$root/usr/bin/env"
libs() { ldd "$1" | awk '/=> \// {print $3} /^\t\// {print $1}'; }
for f in $(libs "$bin/tinyo"); do cp --parents -L "$f" "$root"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"; printf 'root:x:0:\n' >"$root/etc/group"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp "$tarball" "$tmp/dist/SHA256SUMS" scripts/install.sh "$root/dist/"
[ -z "$(find "$root" -name 'libssl*' -o -name 'libcrypto*' -o -name 'dotnet' -o -name '*.dll')" ] || fail "the bare root has OpenSSL or .NET"

# 1. No OpenSSL: refused with its name, nothing installed; the daemon itself refuses the same way.
if out=$(in_root /bin/sh /dist/install.sh "/dist/$name" 2>&1); then fail "install.sh installed without OpenSSL: $out"; fi
grep -q 'libcrypto (OpenSSL 3 or 1.1) .*MISSING' <<<"$out" && grep -q 'install libssl3' <<<"$out" || fail "install.sh's refusal does not name libcrypto: $out"
[ ! -e "$root/usr/local/bin/tinyo" ] || fail "install.sh left a binary behind after refusing"
mkdir -p "$root/x" && tar -xzf "$tarball" -C "$root/x"
set +e; out=$(in_root "/x/${name%.tar.gz}/bin/tinyonode" serve 2>&1); code=$?; set -e
[ "$code" = 127 ] && grep -q '^tinyonode: libcrypto (OpenSSL 3 or 1.1) not found' <<<"$out" || fail "tinyonode serve without OpenSSL: exit $code: $out"
rm -rf "$root/x"
step "without OpenSSL: install refused naming libcrypto and libssl3, nothing installed; tinyonode serve exits 127 naming it"

# 2. A changed byte: refused before anything is unpacked or installed.
cp "$root/dist/$name" "$tmp/good.tar.gz"
printf 'X' | dd of="$root/dist/$name" bs=1 seek=4096 conv=notrunc status=none
if out=$(in_root /bin/sh /dist/install.sh "/dist/$name" 2>&1); then fail "install.sh installed a tampered tarball"; fi
grep -q 'checksum mismatch' <<<"$out" || fail "tampered tarball: $out"
[ ! -e "$root/usr/local/bin/tinyo" ] || fail "a tampered tarball left a binary behind"
cp "$tmp/good.tar.gz" "$root/dist/$name"
step "a changed byte: refused (checksum mismatch), nothing installed"

# 3. OpenSSL and nft (with the libraries ldd names for them) added: installed, and `--up` sets up a node.
for so in libssl.so.3 libcrypto.so.3; do
  f=$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64/ {print $NF; exit}')
  [ -n "$f" ] || fail "the host has no $so to put in the root"
  cp --parents -L "$f" "$root"
done
cp -L "$(command -v nft)" "$root/usr/sbin/nft"
for f in $(libs "$(command -v nft)"); do cp --parents -L -n "$f" "$root"; done
# The root a mount point of its own, as / is on a real host (the runtime makes / a slave mount in each container).
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
. bench/loopback-node.sh
loopback_registry
kv=$(free_port); peer=$(free_port)
out=$(in_root TINYO_REGISTRY_MIRRORS="http://127.0.0.1:$rp" /bin/sh /dist/install.sh "/dist/$name" --up \
  -net dist -u admin -p 'dist-password-1' --kv-port "$kv" --kv-peer-port "$peer" 2>&1) || fail "install.sh --up: $out"
tio_up=1
for n in tio tinyonode tinyokv tinyort; do
  [ "$root/usr/local/bin/$n" -ef "$root/usr/local/bin/tinyo" ] || fail "$n is not a hard link of tinyo"
done
in_root /usr/local/bin/tio ls >/dev/null || fail "tio ls in the chroot"
step "with OpenSSL: installed (tinyo + 4 hard links), tio ++ started the node in the chroot"

# 4. An app from the loopback registry, served on its published port.
port=$(free_port)
mkdir -p "$root/www" && echo "<h1>served from a bare root</h1>" >"$root/www/index.html"
cat >"$root/web.yml" <<YML
name: web
container: "busybox:latest"
command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
port: "$port:8080"
mounts:
  - source: "/www"
    target: "/www"
    readonly: true
YML
in_root /usr/local/bin/tio + /web.yml >/dev/null || fail "tio + web.yml in the chroot"
page=""; deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do page=$(curl -fs --max-time 1 "http://127.0.0.1:$port/index.html" || true); [ -n "$page" ] && break; sleep 0.1; done
[ "$page" = "<h1>served from a bare root</h1>" ] || fail "the app's page was not served within 90 s (got '$page'): $(in_root /usr/local/bin/tio ls 2>&1)
the node's log (last lines): $(tail -n 15 "$root/var/lib/tinyo/logs/tinyonode.log" 2>&1)
the host's routes: $(ip -4 route 2>&1)"
step "an app from the loopback registry serves its page on port $port"
in_root /usr/local/bin/tio down --grace 5 >/dev/null || fail "tio down in the chroot"
tio_up=""
echo "dist-test: ok"
