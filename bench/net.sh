#!/usr/bin/env bash
# Cluster networks (issue 12) against podman's bridge (netavark) and Docker's bridge, in the same run:
#  1. set-up per container (namespace + veth + address + route), median and p99:
#     Tinyo   `Tinyo.Bench net setup` — cold, from a pool filled ahead (the start path), and paced with a background
#             refill; in-process, as tinyonode runs it (no process start in the figure)
#     podman  `podman run --rm --network BR busybox true` minus `--network none` (medians; alternating), podman's own
#             network `tinyobench` (netavark 1.4, no DNS); and netavark alone: `netavark setup NS` on a namespace
#             made by `ip netns add` (netns creation timed apart), as podman execs it per container
#     docker  `docker run --rm --network bridge busybox true` minus `--network none`, private dockerd
#             (scripts/peer-dockerd.sh: own roots and bridge, no iptables)
#  2. container-to-container TCP over the bridge, the same tools for all three, run through `nsenter --net=`:
#     iperf3 (throughput, one stream) and sockperf ping-pong --tcp (round trip, 64-byte messages), ROUNDS rounds
#     alternating Tinyo (two replicas from `Tinyo.Bench net pair`), podman (two containers) and docker (two)
#  3. `Tinyo.Bench net scale SCALE_N`: replicas on one bridge — every address, set-up times, kernel memory
#   bench/net.sh [RUNS]      RUNS podman/docker runs per mode (default 30)
#   SETUP_N=200 SCALE_N=1000 (0 skips) ROUNDS=3 SECONDS_TP=5 NETAVARK_N=50
# Results as markdown on stdout (and in artifacts/bench/net.md when run by scripts/bench.sh). Everything the run
# makes (namespaces, veths, bridges, podman's network and its iptables chains, containers, dockerd, cgroups) is
# removed on exit, also on failure; net.ipv4.ip_forward is put back as it was (netavark and dockerd turn it on).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
setup_n=${SETUP_N:-200}; scale_n=${SCALE_N:-1000}; rounds=${ROUNDS:-3}; secs=${SECONDS_TP:-5}; nv_n=${NETAVARK_N:-50}
exe=artifacts/bin/Tinyo.Bench/release/Tinyo.Bench
for t in podman netavark iperf3 sockperf nsenter skopeo jq ip iptables dockerd docker; do
  command -v "$t" >/dev/null || [ -x "/usr/lib/podman/$t" ] || { echo "net bench: $t missing (make deps)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "net bench: needs root" >&2; exit 1; }
[ -x "$exe" ] || dotnet build -c Release bench/Tinyo.Bench -v q -nologo >/dev/null
tmp=$(mktemp -d /tmp/tinyo-netbench.XXXXXX)
cg="tinyo-netbench-$$"
pm_up=""; dk_up=""; pair_up=""; nv_ns=""; servers=()
libpod_new=""; [ -d /sys/fs/cgroup/memory/libpod_parent ] || libpod_new=1
fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
chains_before=$( { iptables -S; iptables -t nat -S; } 2>/dev/null | awk '$1 == "-N" {print $2}' | sort)
export HOME="$tmp/home"; mkdir -p "$HOME"
PM="--root $tmp/podman/root --runroot $tmp/podman/run --tmpdir $tmp/podman/tmp --network-config-dir $tmp/podman/net --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc"
PMRUN="--ulimit nofile=1024:$(awk '/Max open files/ {print $5}' /proc/self/limits) --ulimit nproc=4096:4096 --cgroup-parent /$cg"
# netavark instead of CNI for this podman only (its own containers.conf); its bridge and subnet apart from Tinyo's.
export CONTAINERS_CONF="$tmp/containers.conf"
printf '[network]\nnetwork_backend = "netavark"\n' >"$CONTAINERS_CONF"
NETAVARK=$(command -v netavark || echo /usr/lib/podman/netavark)
NVNET=tinyobench; NVBR=""; NVSUB=10.214.9.0/24

cleanup() {
  set +e
  for p in "${servers[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$pair_up" ] && "$exe" net pair down "$tmp/pair"
  if [ -n "$nv_ns" ]; then
    "$NETAVARK" --config "$tmp/nv" teardown "/run/netns/$nv_ns" <"$tmp/nv.json" >/dev/null 2>&1
    ip netns del "$nv_ns" 2>/dev/null
  fi
  if [ -n "$pm_up" ]; then
    podman $PM rm -af -t 0 >/dev/null 2>&1
    podman $PM network rm -f "$NVNET" >/dev/null 2>&1
    podman $PM system reset -f >/dev/null 2>&1
  fi
  [ -n "$dk_up" ] && scripts/peer-dockerd.sh stop "$tmp/dockerd"
  [ -n "$NVBR" ] && ip link del "$NVBR" 2>/dev/null
  # netavark's iptables chains that were not there before (it leaves its base chains after the last teardown).
  for table in filter nat; do
    for c in $(iptables -t $table -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
      grep -qxF "$c" <<<"$chains_before" && continue
      iptables -t $table -S 2>/dev/null | grep -E -- "-j $c( |$)" | sed 's/^-A/-D/' | while read -r rule; do eval "iptables -t $table $rule"; done
      iptables -t $table -F "$c"; iptables -t $table -X "$c"
    done
  done
  echo "$fwd_before" >/proc/sys/net/ipv4/ip_forward
  for c in /sys/fs/cgroup/*/"$cg" ${libpod_new:+/sys/fs/cgroup/*/libpod_parent}; do [ -d "$c" ] && { find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; ; rmdir "$c"; }; done
  grep -F " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

now() { date +%s%N; }
# median and p99 (nearest rank) of numbers on stdin, in ms with 2 decimals (input: ns)
stats() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; i=int(NR*0.99+0.999); if (i<1) i=1; printf "%.2f %.2f\n", m/1e6, a[i]/1e6}'; }
med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load() { cut -d' ' -f1 /proc/loadavg; }

echo "net bench: machine $(nproc) cores, $(uname -r), load $(load)" >&2
load0=$(load); date0=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---------- Tinyo: set-up, in-process ----------
echo "net bench: Tinyo set-up ($setup_n per path)" >&2
"$exe" net setup "$setup_n" >"$tmp/tinyo-setup.md"

# ---------- image, podman, docker ----------
scripts/make-busybox-image.sh "$tmp/image" latest >/dev/null
skopeo copy -q "oci:$tmp/image:latest" "docker-archive:$tmp/bb.tar:busybox:latest"
pm_up=1
podman $PM load -q -i "$tmp/bb.tar" >/dev/null
podman $PM network create --disable-dns --subnet "$NVSUB" "$NVNET" >/dev/null
NVBR=$(podman $PM network inspect -f '{{.NetworkInterface}}' "$NVNET") # podman names it (podmanN); removed at the end
eval "$(scripts/peer-dockerd.sh start "$tmp/dockerd")"; export DOCKER_HOST; dk_up=1
docker load -q -i "$tmp/bb.tar" >/dev/null
# Warm-up: the first run of each pays one-time costs (network bridge creation, caches).
for net in "$NVNET" none; do podman $PM run --rm $PMRUN --network "$net" busybox:latest true; done
for net in bridge none; do docker run --rm --network "$net" busybox:latest true; done

echo "net bench: podman and docker, $runs runs per mode, alternating" >&2
: >"$tmp/pm-br"; : >"$tmp/pm-none"; : >"$tmp/dk-br"; : >"$tmp/dk-none"
for i in $(seq 1 "$runs"); do
  order=("$NVNET" none); [ $((i % 2)) = 0 ] && order=(none "$NVNET")
  for net in "${order[@]}"; do
    t=$(now); podman $PM run --rm $PMRUN --network "$net" busybox:latest true
    echo $(( $(now) - t )) >>"$tmp/pm-$([ "$net" = none ] && echo none || echo br)"
  done
  order=(bridge none); [ $((i % 2)) = 0 ] && order=(none bridge)
  for net in "${order[@]}"; do
    t=$(now); docker run --rm --network "$net" busybox:latest true
    echo $(( $(now) - t )) >>"$tmp/dk-$([ "$net" = none ] && echo none || echo br)"
  done
done

# netavark alone, as podman runs it per container: a namespace (ip netns add, timed apart), then `netavark setup`.
echo "net bench: netavark setup alone, $nv_n runs" >&2
mkdir -p "$tmp/nv"
podman $PM network inspect "$NVNET" | jq '.[0]' >"$tmp/nv-net.json"
: >"$tmp/nv-ns"; : >"$tmp/nv-setup"
for i in $(seq 1 "$nv_n"); do
  ip=10.214.9.$((100 + i % 100))
  jq -n --arg ip "$ip" --slurpfile n "$tmp/nv-net.json" --arg name "$NVNET" \
    '{container_id: ("tinyobench" + $ip), container_name: "tinyobench", port_mappings: [],
      networks: {($name): {interface_name: "eth0", static_ips: [$ip]}}, network_info: {($name): $n[0]}}' >"$tmp/nv.json"
  nv_ns="tinyobench-nv-$$"
  t=$(now); ip netns add "$nv_ns"; echo $(( $(now) - t )) >>"$tmp/nv-ns"
  t=$(now); "$NETAVARK" --config "$tmp/nv" setup "/run/netns/$nv_ns" <"$tmp/nv.json" >/dev/null; echo $(( $(now) - t )) >>"$tmp/nv-setup"
  "$NETAVARK" --config "$tmp/nv" teardown "/run/netns/$nv_ns" <"$tmp/nv.json" >/dev/null
  ip netns del "$nv_ns"; nv_ns=""
done

# ---------- throughput and round trip ----------
echo "net bench: TCP over the bridge, $rounds rounds" >&2
"$exe" net pair up "$tmp/pair"; pair_up=1
ty_a="$tmp/pair/a"; ty_b="$tmp/pair/b"; ty_ip=10.79.0.2
podman $PM run -d $PMRUN --network "$NVNET" --name pa busybox:latest sleep 3600 >/dev/null
podman $PM run -d $PMRUN --network "$NVNET" --name pb busybox:latest sleep 3600 >/dev/null
pm_a="/proc/$(podman $PM inspect -f '{{.State.Pid}}' pa)/ns/net"; pm_b="/proc/$(podman $PM inspect -f '{{.State.Pid}}' pb)/ns/net"
pm_ip=$(podman $PM inspect -f "{{(index .NetworkSettings.Networks \"$NVNET\").IPAddress}}" pa)
docker run -d --network bridge --name da busybox:latest sleep 3600 >/dev/null
docker run -d --network bridge --name db busybox:latest sleep 3600 >/dev/null
dk_a="/proc/$(docker inspect -f '{{.State.Pid}}' da)/ns/net"; dk_b="/proc/$(docker inspect -f '{{.State.Pid}}' db)/ns/net"
dk_ip=$(docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' da)

# tcp_pair NAME NS_A NS_B IP_A: one iperf3 and one sockperf run; appends Gbit/s, RTT p50 and p99 (µs) to files.
tcp_pair() {
  local name=$1 a=$2 b=$3 ip=$4
  nsenter --net="$a" iperf3 -s -1 -p 5201 >/dev/null 2>&1 & local sp=$!; servers+=("$sp")
  for _ in $(seq 1 100); do nsenter --net="$a" ss -Hltn 'sport = :5201' | grep -q . && break; sleep 0.02; done
  nsenter --net="$b" iperf3 -c "$ip" -p 5201 -t "$secs" -J | jq '.end.sum_received.bits_per_second / 1e9' >>"$tmp/tp-$name"
  wait "$sp" 2>/dev/null || true
  nsenter --net="$a" sockperf server --tcp -i "$ip" -p 11111 >/dev/null 2>&1 & sp=$!; servers+=("$sp")
  for _ in $(seq 1 100); do nsenter --net="$a" ss -Hltn 'sport = :11111' | grep -q . && break; sleep 0.02; done
  nsenter --net="$b" sockperf ping-pong --tcp -i "$ip" -p 11111 -t "$secs" -m 64 --full-rtt >"$tmp/sp.out" 2>&1
  kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
  awk '/percentile 50.000/ {print $NF}' "$tmp/sp.out" >>"$tmp/rtt50-$name"
  awk '/percentile 99.000/ {print $NF}' "$tmp/sp.out" >>"$tmp/rtt99-$name"
}
for r in $(seq 1 "$rounds"); do
  case $((r % 3)) in
    1) tcp_pair tinyo "$ty_a" "$ty_b" "$ty_ip"; tcp_pair podman "$pm_a" "$pm_b" "$pm_ip"; tcp_pair docker "$dk_a" "$dk_b" "$dk_ip";;
    2) tcp_pair podman "$pm_a" "$pm_b" "$pm_ip"; tcp_pair docker "$dk_a" "$dk_b" "$dk_ip"; tcp_pair tinyo "$ty_a" "$ty_b" "$ty_ip";;
    0) tcp_pair docker "$dk_a" "$dk_b" "$dk_ip"; tcp_pair tinyo "$ty_a" "$ty_b" "$ty_ip"; tcp_pair podman "$pm_a" "$pm_b" "$pm_ip";;
  esac
done
load1=$(load)

# ---------- 1000 replicas ----------
if [ "$scale_n" -gt 0 ]; then
  echo "net bench: $scale_n replicas on one bridge" >&2
  "$exe" net scale "$scale_n" >"$tmp/scale.md"
fi

# ---------- report ----------
read -r pmb_m pmb_p <<<"$(stats <"$tmp/pm-br")"; read -r pmn_m pmn_p <<<"$(stats <"$tmp/pm-none")"
read -r dkb_m dkb_p <<<"$(stats <"$tmp/dk-br")"; read -r dkn_m dkn_p <<<"$(stats <"$tmp/dk-none")"
read -r nvs_m nvs_p <<<"$(stats <"$tmp/nv-setup")"; read -r nvn_m nvn_p <<<"$(stats <"$tmp/nv-ns")"
pool_m=$(awk -F'|' '/pooled, filled ahead/ {gsub(/ /, "", $4); print $4}' "$tmp/tinyo-setup.md")
pool_p=$(awk -F'|' '/pooled, filled ahead/ {gsub(/ /, "", $5); print $5}' "$tmp/tinyo-setup.md")
cold_m=$(awk -F'|' '/^\| cold/ {gsub(/ /, "", $4); print $4}' "$tmp/tinyo-setup.md")
pm_d=$(awk "BEGIN {printf \"%.2f\", $pmb_m - $pmn_m}"); dk_d=$(awk "BEGIN {printf \"%.2f\", $dkb_m - $dkn_m}")
nv_t=$(awk "BEGIN {printf \"%.2f\", $nvs_m + $nvn_m}")
ratio() { awk "BEGIN {if ($2 > 0) printf \"%.3f×\", $1 / $2; else print \"n/a\"}"; }
cat <<EOF
## Cluster network: $date0, $(nproc) cores, kernel $(uname -r), load $load0 → $load1 (commit $(git rev-parse --short HEAD 2>/dev/null || echo ?))
peers: $(podman --version) with netavark $(dpkg-query -W -f='${Version}' netavark) (own network, no DNS), docker $(dpkg-query -W -f='${Version}' docker.io) (private dockerd, no iptables); iperf3 $(dpkg-query -W -f='${Version}' iperf3), sockperf $(dpkg-query -W -f='${Version}' sockperf)

### Set-up per container (namespace + veth + address + route)

$(cat "$tmp/tinyo-setup.md")

| Peer, same run ($runs runs per mode, alternating) | median ms | p99 ms |
|---|---:|---:|
| podman run --network $NVNET (netavark) | $pmb_m | $pmb_p |
| podman run --network none | $pmn_m | $pmn_p |
| **podman: bridge − none (medians)** | **$pm_d** | |
| docker run --network bridge | $dkb_m | $dkb_p |
| docker run --network none | $dkn_m | $dkn_p |
| **docker: bridge − none (medians)** | **$dk_d** | |
| netavark setup alone ($nv_n runs; exec included, as podman runs it) | $nvs_m | $nvs_p |
| ip netns add ($nv_n runs; a process: podman makes it in-process) | $nvn_m | $nvn_p |
| **netavark setup + ip netns add** | **$nv_t** | |

Ratios (Tinyo pooled median ÷ peer): vs podman bridge−none $(ratio "$pool_m" "$pm_d") · vs docker bridge−none $(ratio "$pool_m" "$dk_d") · vs netavark setup + netns $(ratio "$pool_m" "$nv_t"); Tinyo cold ÷ the same: $(ratio "$cold_m" "$pm_d") · $(ratio "$cold_m" "$dk_d") · $(ratio "$cold_m" "$nv_t"). Tinyo pooled: median $pool_m ms, p99 $pool_p ms.

### Container-to-container TCP over the bridge ($rounds rounds, alternating; medians of the rounds)

| | iperf3, 1 stream, ${secs} s (Gbit/s) | sockperf TCP ping-pong 64 B: RTT p50 / p99 (µs) | per round (Gbit/s) |
|---|---:|---:|---|
EOF
for n in tinyo podman docker; do
  echo "| $n | $(med <"$tmp/tp-$n" | xargs printf '%.2f') | $(med <"$tmp/rtt50-$n") / $(med <"$tmp/rtt99-$n") | $(xargs printf '%.2f ' <"$tmp/tp-$n") |"
done
tp_t=$(med <"$tmp/tp-tinyo"); rt_t=$(med <"$tmp/rtt50-tinyo")
echo
echo "Ratios (Tinyo ÷ peer): throughput vs podman $(ratio "$tp_t" "$(med <"$tmp/tp-podman")") · vs docker $(ratio "$tp_t" "$(med <"$tmp/tp-docker")"); RTT p50 vs podman $(ratio "$rt_t" "$(med <"$tmp/rtt50-podman")") · vs docker $(ratio "$rt_t" "$(med <"$tmp/rtt50-docker")")"
if [ "$scale_n" -gt 0 ]; then echo; echo "### Scale"; echo; cat "$tmp/scale.md"; fi
