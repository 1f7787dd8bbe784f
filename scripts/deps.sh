#!/usr/bin/env bash
# Installs every Debian package that Tinyo's tests, benchmarks and demo use. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(
  gcc libc6-dev zlib1g-dev # NativeAOT's native link; the escape suite compiles its probe with gcc -static
  libssl3             # the binaries are linked dynamically and .NET loads OpenSSL for hashing and TLS
  busybox-static      # the test image's userland (/bin/sh, httpd, sleep)
  docker-registry     # a real OCI distribution registry on loopback for pull tests and the demo
  skopeo              # an independent implementation that pushes our test image into that registry
  umoci               # another image builder: the pull tests build an image with it (its layers end without padding)
  apache2-utils       # htpasswd, for the registry's basic-auth test
  zstd jq curl iproute2 util-linux procps
  libcap2-bin         # setcap/getcap: the layer tests round-trip file capabilities through GNU tar
  crun runc podman    # peers for the runtime benchmarks
  uidmap slirp4netns fuse-overlayfs # podman's recommends (--no-install-recommends skips them); the benchmarks' podman runs rootful with vfs and no network, so this is belt and braces
  etcd-server etcd-client # peer for the KV benchmarks
  docker.io           # peer for the start and first-byte benchmarks: the benchmark starts its own dockerd (temp roots, no bridge/iptables)
  afl++               # fuzzing engine for SharpFuzz harnesses
  hyperfine           # whole-command timing for quick comparisons
  xfsprogs            # dup: a loop-mounted XFS for the reflink snapshot test and benchmark
  criu                # dup --live: `criu check` decides (refused with its reason where it fails)
  nftables            # nft: cluster network isolation (the node's own table) and its tests
  bind9-dnsutils      # dig: an independent DNS client for the cluster DNS responder's tests
  iperf3 sockperf     # container-to-container TCP throughput and round trip in bench/net.sh (the same tools for every peer)
  golang-go           # builds the opencontainers runtime-tools validation suite (scripts/oci-conformance.sh; Go 1.19 on Debian 12)
  netavark aardvark-dns # podman's bridge network backend: the peer of bench/net.sh (selected there by its own containers.conf)
  prometheus          # promtool check metrics on a node's /metrics, and a real Prometheus scraping a node (MetricsTests)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's docker-registry, etcd and docker.io packages start services where systemd runs; tests start their own on free ports.
for s in docker-registry etcd docker containerd prometheus; do
  if command -v systemctl >/dev/null && [ "$(cat /proc/1/comm)" = systemd ]; then systemctl disable --now "$s" 2>/dev/null || true; fi
done
echo "deps: done"
