#!/usr/bin/env bash
# "Apply → first byte": how long from asking for a web container until its page is served on a published host port.
# Same image (our busybox build), same command (busybox httpd serving a mounted page), same run, alternating:
#   tio    `tio + web.yml` on a `tio ++` node (its registry mirror: a loopback docker-registry); the image is pulled
#          once before timing, as docker and podman have it loaded
#   docker `docker run -d -p` on a private dockerd (scripts/peer-dockerd.sh: own roots, docker-proxy, no iptables)
#   podman `podman run -d -p` (rootful, temp root/runroot, slirp4netns network with its own port handler: no iptables)
# Each iteration removes the container (tio -, docker rm -f, podman rm -f) before the next. Also: idle RSS of
# tinyonode + tinyokv with the app running vs dockerd + containerd with theirs.
#   bench/first-byte.sh [ITERATIONS]   (default 15); TINYO_BIN (default out/bin); results as markdown on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15}
bin=${TINYO_BIN:-$PWD/out/bin}
tmp=$(mktemp -d /tmp/tinyo-firstbyte.XXXXXX)
reg_pid=""; tio_up=""; dk_up=""; pm_up=""; cg="tinyo-firstbyte-$$"
# podman's cgroupfs manager puts conmon under libpod_parent/ whatever --cgroup-parent says: removed at the end if new.
libpod_new=""; [ -d /sys/fs/cgroup/memory/libpod_parent ] || libpod_new=1
export HOME="$tmp/home"; mkdir -p "$HOME"
. bench/loopback-node.sh
cleanup() {
  set +e
  [ -n "$tio_up" ] && "$bin/tio" down --root "$tmp/node" --socket "$tmp/node.sock" >/dev/null 2>&1
  [ -n "$pm_up" ] && podman $PM rm -af -t 0 >/dev/null 2>&1 && podman $PM system reset -f >/dev/null 2>&1
  [ -n "$dk_up" ] && scripts/peer-dockerd.sh stop "$tmp/dockerd"
  for c in /sys/fs/cgroup/*/"$cg" ${libpod_new:+/sys/fs/cgroup/*/libpod_parent}; do [ -d "$c" ] && { find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; ; rmdir "$c"; }; done
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  grep -F " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# `tio -` returns once the removal is stored; the node then stops the container (SIGTERM, grace, SIGKILL: busybox
# httpd as pid 1 ignores SIGTERM) on its work queue. Wait until the app is gone, so that no iteration's apply queues
# behind the previous removal (docker rm -f and podman rm -f are synchronous).
wait_removed() {
  for _ in $(seq 1 1000); do [ -z "$(ls -A "$tmp/node/rt/containers" 2>/dev/null)" ] && return 0; sleep 0.02; done
  echo "first-byte: the app's container still exists 20 s after tio -" >&2; return 1
}
# Polls the port until the page answers; prints the elapsed ms since $1.
wait_page() {
  local t0=$1 port=$2
  for _ in $(seq 1 3000); do
    if curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/index.html"; then ms "$t0"; return 0; fi
    sleep 0.005
  done
  echo "first-byte: nothing served on $port after 15 s" >&2; return 1
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%d\n", (a[NR/2]+a[NR/2+1])/2}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

mkdir -p "$tmp/www"; echo "<h1>first byte</h1>" >"$tmp/www/index.html"
# Loopback registry with the image as docker.io's library/busybox, and a node whose mirror it is.
loopback_registry
node_up bench 'bench-password-1'
p_tio=$(free_port); p_dk=$(free_port); p_pm=$(free_port)
cat >"$tmp/web.yml" <<EOF
name: web
container: "busybox:latest"
command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
port: "$p_tio:8080"
mounts:
  - source: "$tmp/www"
    target: "/www"
    readonly: true
EOF
t=$(date +%s%N); tio + "$tmp/web.yml" >/dev/null; cold=$(wait_page "$t" "$p_tio")
tio - web >/dev/null; wait_removed
sleep 20 # idle: the daemons give memory back after 10 s of quiet (bench/idle-rss.sh measures that in detail)
idle_node=$(( $(rss_kb "$(cat "$tmp/node/run/tinyonode.pid")") + $(rss_kb "$(cat "$tmp/node/run/tinyokv.pid")") ))

# docker
eval "$(scripts/peer-dockerd.sh start "$tmp/dockerd")"; export DOCKER_HOST; dk_up=1
skopeo copy -q "oci:$tmp/image:latest" "docker-archive:$tmp/bb.tar:busybox:latest"
docker load -q -i "$tmp/bb.tar" >/dev/null
# podman (rootful, its own stores)
# runc as its runtime and nofile/nproc within this host's hard limits: crun 1.8 fails on hybrid cgroups and podman's
# default ulimits need CAP_SYS_RESOURCE here (same as the Start suite); its cgroups under one parent we remove.
PM="--root $tmp/podman/root --runroot $tmp/podman/run --tmpdir $tmp/podman/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc"
PMRUN="--ulimit nofile=1024:$(awk '/Max open files/ {print $5}' /proc/self/limits) --ulimit nproc=4096:4096 --cgroup-parent /$cg"
pm_up=1
podman $PM load -q -i "$tmp/bb.tar" >/dev/null

declare -a T D P
for i in $(seq 1 "$n"); do
  t=$(date +%s%N); tio + "$tmp/web.yml" >/dev/null; T+=("$(wait_page "$t" "$p_tio")")
  tio - web >/dev/null; wait_removed
  t=$(date +%s%N); docker run -d --name web -p "$p_dk:8080" -v "$tmp/www:/www:ro" busybox:latest httpd -f -p 8080 -h /www >/dev/null
  D+=("$(wait_page "$t" "$p_dk")")
  [ "$i" = "$n" ] || docker rm -f web >/dev/null
  t=$(date +%s%N); podman $PM run -d $PMRUN --name web --network slirp4netns:port_handler=slirp4netns -p "$p_pm:8080" -v "$tmp/www:/www:ro" busybox:latest httpd -f -p 8080 -h /www >/dev/null
  P+=("$(wait_page "$t" "$p_pm")")
  [ "$i" = "$n" ] || podman $PM rm -f -t 0 web >/dev/null
done
# Leave one tio app running for the RSS figure, idle long enough for the daemons' trim (10 s of quiet).
tio + "$tmp/web.yml" >/dev/null; wait_page "$(date +%s%N)" "$p_tio" >/dev/null
sleep 20
mt=$(printf '%s\n' "${T[@]}" | median); md=$(printf '%s\n' "${D[@]}" | median); mp=$(printf '%s\n' "${P[@]}" | median)
node_rss=$(( $(rss_kb "$(cat "$tmp/node/run/tinyonode.pid")") + $(rss_kb "$(cat "$tmp/node/run/tinyokv.pid")") ))
dk_rss=$(( $(rss_kb "$(cat "$tmp/dockerd/docker.pid")") + $(rss_kb "$(pgrep -f "containerd --config $tmp/dockerd" | head -1 || echo 0)") ))
cat <<EOF
date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)
peers: docker $(dpkg-query -W -f='${Version}' docker.io) (docker-proxy, no iptables), $(podman --version) (slirp4netns port handler)

| apply → first byte ($n runs, median) | ms | tio ÷ peer |
| --- | --- | --- |
| \`tio + web.yml\` (image present) | $mt | |
| \`docker run -d -p\` | $md | $(awk "BEGIN {printf \"%.2f×\", $mt/$md}") |
| \`podman run -d -p\` | $mp | $(awk "BEGIN {printf \"%.2f×\", $mt/$mp}") |
| \`tio + web.yml\` first time (pull from the loopback mirror included) | $cold | |

| daemons' RSS | MiB |
| --- | --- |
| tinyonode + tinyokv, no app (after one was applied and removed) | $((idle_node / 1024)) |
| tinyonode + tinyokv, one web app running | $((node_rss / 1024)) |
| dockerd + containerd, one web container running | $((dk_rss / 1024)) |

tio runs: ${T[*]}
docker runs: ${D[*]}
podman runs: ${P[*]}
EOF
