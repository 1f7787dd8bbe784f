#!/usr/bin/env bash
# Builds a small busybox OCI image layout in OUTDIR from Debian's busybox-static: one layer holding /bin/busybox and
# its applet symlinks, an image config with Cmd ["sh"] and PATH. Deterministic: the same busybox gives the same digests.
#   scripts/make-busybox-image.sh OUTDIR [TAG]        (TAG defaults to latest)
#   COMPRESSION=gzip|zstd|none   layer compression (default gzip)
#   ARCH=amd64                   architecture written into the config (a non-host value makes a "foreign" image)
set -euo pipefail
out=${1:?usage: make-busybox-image.sh OUTDIR [TAG]}
tag=${2:-latest}
compression=${COMPRESSION:-gzip}
arch=${ARCH:-amd64}
busybox=${BUSYBOX:-/bin/busybox}
for tool in tar gzip sha256sum jq; do command -v $tool >/dev/null || { echo "make-busybox-image: $tool is required" >&2; exit 1; }; done
[ -x "$busybox" ] || { echo "make-busybox-image: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
file -b "$busybox" 2>/dev/null | grep -q 'dynamically linked' && { echo "make-busybox-image: $busybox is not static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,etc,tmp,proc,sys,dev,root,var/www,usr/bin,usr/sbin,home}
chmod 1777 "$rootfs/tmp"; chmod 0700 "$rootfs/root"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in sh ash cat echo ls id hostname sleep true false httpd env mkdir rm cp mv ln pwd ps kill wget nc \
              grep sed awk head tail wc sort date uname whoami touch chmod chown stat test printf mount umount \
              ip ifconfig ping nslookup top free df du find xargs tr cut tee yes seq basename dirname readlink vi; do
  ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo busybox >"$rootfs/etc/hostname"
echo '<h1>hello from tinyo busybox</h1>' >"$rootfs/var/www/index.html"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$rootfs" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
case $compression in
  gzip) gzip -n -9 <"$work/layer.tar" >"$work/layer"; layer_type=application/vnd.oci.image.layer.v1.tar+gzip ;;
  zstd) zstd -q -19 --no-check <"$work/layer.tar" >"$work/layer"; layer_type=application/vnd.oci.image.layer.v1.tar+zstd ;;
  none) cp "$work/layer.tar" "$work/layer"; layer_type=application/vnd.oci.image.layer.v1.tar ;;
  *) echo "make-busybox-image: COMPRESSION must be gzip, zstd or none" >&2; exit 1 ;;
esac

mkdir -p "$out/blobs/sha256"
put() { # put FILE -> prints sha256:HEX after storing the blob
  local h; h=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$out/blobs/sha256/$h"
  echo "sha256:$h"
}
layer_digest=$(put "$work/layer"); layer_size=$(stat -c %s "$work/layer")

jq -cn --arg arch "$arch" --arg diff "$diff_id" '{
  architecture: $arch, os: "linux", created: "1970-01-01T00:00:00Z",
  config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"], WorkingDir: "/" },
  rootfs: { type: "layers", diff_ids: [$diff] },
  history: [ { created: "1970-01-01T00:00:00Z", created_by: "scripts/make-busybox-image.sh" } ] }' >"$work/config.json"
config_digest=$(put "$work/config.json"); config_size=$(stat -c %s "$work/config.json")

jq -cn --arg cd "$config_digest" --argjson cs "$config_size" --arg ld "$layer_digest" --argjson ls "$layer_size" --arg lt "$layer_type" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs },
  layers: [ { mediaType: $lt, digest: $ld, size: $ls } ] }' >"$work/manifest.json"
manifest_digest=$(put "$work/manifest.json"); manifest_size=$(stat -c %s "$work/manifest.json")

echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
# Add to (or create) index.json, replacing an entry with the same tag.
index=$out/index.json
[ -f "$index" ] || echo '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' >"$index"
jq -c --arg d "$manifest_digest" --argjson s "$manifest_size" --arg tag "$tag" --arg arch "$arch" '
  .manifests = ([.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] != $tag)] + [{
    mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
    platform: { architecture: $arch, os: "linux" },
    annotations: { "org.opencontainers.image.ref.name": $tag } }])' "$index" >"$work/index.json"
mv "$work/index.json" "$index"
echo "$manifest_digest"
