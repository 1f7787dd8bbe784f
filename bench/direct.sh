#!/usr/bin/env bash
# Direct network between two containers' namespaces on this node (issue 15), same run, same tool (bench/direct/dnet.c):
#   veth + bridge TCP (the cluster network's shape: two netns, a veth each, one bridge), the same TCP with the eBPF
#   shortcut (SockmapShortcut, held by `Tinyo.Bench sockmap`), a Unix socket, a shared memory ring, a pipe.
# Throughput: 1 and 8 streams, 128 KiB writes, $SECS s each. Latency: 1 KiB echo round trips, p50/p99 of $RTTS.
# Peers in the same run (PEERS=0 skips them): podman's bridge (netavark, its own roots and network) and Docker's
#   bridge (a private dockerd, scripts/peer-dockerd.sh): two busybox containers each, the same dnet entered into their
#   network namespaces (nsenter), so only the path between the two namespaces differs.
# Prints a markdown table. Needs root, gcc, iproute2, a cgroup v2 mount (the unified one on a hybrid host); the peers
# also podman, netavark, skopeo, dockerd, docker.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3} RTTS=${RTTS:-20000}
tmp=$(mktemp -d /tmp/tinyo-bench-direct-XXXXXX)
ns=tyd$$ cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$cg2" ] || { echo "direct.sh: no cgroup v2 mount" >&2; exit 1; }
cg="$cg2/tinyo-bench-direct-$$"
pids=()
PEERS=${PEERS:-1}; pm_up=""; dk_up=""; NVBR=""
NVNET=tinyodirect; NVSUB=10.214.19.0/24
PM="--root $tmp/podman/root --runroot $tmp/podman/run --tmpdir $tmp/podman/tmp --network-config-dir $tmp/podman/net --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc"
pmcg="tinyo-bench-direct-pm-$$"
PMRUN="--ulimit nofile=1024:$(awk '/Max open files/ {print $5}' /proc/self/limits) --ulimit nproc=4096:4096 --cgroup-parent /$pmcg"
fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
chains_before=$( { iptables -S; iptables -t nat -S; } 2>/dev/null | awk '$1 == "-N" {print $2}' | sort)
cleanup() {
  set +e
  if [ -n "$pm_up" ]; then
    podman $PM rm -af -t 0 >/dev/null 2>&1
    podman $PM network rm -f "$NVNET" >/dev/null 2>&1
    podman $PM system reset -f >/dev/null 2>&1
    [ -n "$NVBR" ] && ip link del "$NVBR" 2>/dev/null
    for table in filter nat; do # netavark's chains that were not there before
      for c in $(iptables -t $table -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
        grep -qxF "$c" <<<"$chains_before" && continue
        iptables -t $table -S 2>/dev/null | grep -E -- "-j $c( |$)" | sed 's/^-A/-D/' | while read -r rule; do eval "iptables -t $table $rule"; done
        iptables -t $table -F "$c"; iptables -t $table -X "$c"
      done
    done
    for c in /sys/fs/cgroup/*/"$pmcg"; do [ -d "$c" ] && { find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; ; rmdir "$c"; }; done
  fi
  [ -n "$dk_up" ] && BRIDGE=tiodkd0 CGROUP_PARENT="docker-direct-$$" scripts/peer-dockerd.sh stop "$tmp/dockerd"
  echo "$fwd_before" >/proc/sys/net/ipv4/ip_forward
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  mountpoint -q "$tmp/shm" 2>/dev/null && umount "$tmp/shm"
  wait 2>/dev/null || true
  ip netns del "${ns}a" 2>/dev/null || true; ip netns del "${ns}b" 2>/dev/null || true
  ip link del "${ns}br" 2>/dev/null || true
  rmdir "$cg" 2>/dev/null || true
  grep -F " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
gcc -O2 -pthread -o "$tmp/dnet" bench/direct/dnet.c
bench_dll=${BENCH_DLL:-artifacts/bin/Tinyo.Bench/release/Tinyo.Bench.dll}
[ -f "$bench_dll" ] || dotnet build bench/Tinyo.Bench -c Release -nologo -v q >/dev/null

# The cluster network's shape, made with iproute2 (ClusterBridge + ReplicaNetwork make the same objects).
ip link add "${ns}br" type bridge && ip addr add 10.89.0.1/24 dev "${ns}br" && ip link set "${ns}br" up
for side in a b; do
  ip netns add "$ns$side"
  ip link add "${ns}v$side" type veth peer name eth0 netns "$ns$side"
  ip link set "${ns}v$side" master "${ns}br" up
  ip -n "$ns$side" link set lo up
  ip -n "$ns$side" link set eth0 up
done
ip -n "${ns}a" addr add 10.89.0.2/24 dev eth0
ip -n "${ns}b" addr add 10.89.0.3/24 dev eth0
mkdir "$cg"
# in_cg SIDE CMD...: run CMD in the bench's cgroup (before it makes a socket) inside namespace SIDE; one process
# from sh to CMD (exec all the way), so its PID is the one to kill.
in_cg() { local side=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" ip netns exec "$ns$side" "$@"; }
in_cg_bg() { local side=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" ip netns exec "$ns$side" "$@" & }
started() { # started NAME SIDE CMD...: in_cg SIDE CMD in the background, output to $tmp/NAME.out; its first line in $first
  local name=$1; shift
  in_cg_bg "$@" >"$tmp/$name.out" 2>&1
  pids+=($!)
  for _ in $(seq 1 600); do [ -s "$tmp/$name.out" ] && break; sleep 0.05; done
  first=$(head -1 "$tmp/$name.out")
}
serve() { # serve SIDE ARGS...: a dnet server, waits for "ready"
  local side=$1; shift
  started "srv$RANDOM" "$side" "$tmp/dnet" serve "$@"
  [ "$first" = ready ] || { echo "direct.sh: server $* did not start: $first" >&2; exit 1; }
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
row() { # row NAME GBPS1 GBPS8 P50 P99
  printf '| %s | %s | %s | %s | %s |\n' "$@"
}
tcp() { # tcp: one line of figures over the current path
  local g1 g8 r
  g1=$(in_cg a "$tmp/dnet" stream tcp 10.89.0.3:5000 1 "$SECS" | field gbps)
  g8=$(in_cg a "$tmp/dnet" stream tcp 10.89.0.3:5000 8 "$SECS" | field gbps)
  r=$(in_cg a "$tmp/dnet" rtt tcp 10.89.0.3:5000 1024 "$RTTS")
  echo "$g1 $g8 $(echo "$r" | field p50_us) $(echo "$r" | field p99_us)"
}

serve b tcp 5000
read -r v1 v8 vp50 vp99 < <(tcp)

# Held by a process of its own (stdin from a FIFO nobody writes: it holds until killed, then the kernel frees all).
mkfifo "$tmp/hold.in"
dotnet "$bench_dll" sockmap "$cg" 10.89.0.0/24 <>"$tmp/hold.in" >"$tmp/hold.out" 2>&1 &
hold=$!; pids+=($hold)
for _ in $(seq 1 600); do [ -s "$tmp/hold.out" ] && break; sleep 0.05; done
held=$(head -1 "$tmp/hold.out")
case "$held" in
  attached*) read -r s1 s8 sp50 sp99 < <(tcp);;
  *) s1="— ($held)" s8=— sp50=— sp99=—;;
esac
kill "$hold"; wait "$hold" 2>/dev/null || true

serve b unix "$tmp/web.sock"
u1=$(in_cg a "$tmp/dnet" stream unix "$tmp/web.sock" 1 "$SECS" | field gbps)
u8=$(in_cg a "$tmp/dnet" stream unix "$tmp/web.sock" 8 "$SECS" | field gbps)
ur=$(in_cg a "$tmp/dnet" rtt unix "$tmp/web.sock" 1024 "$RTTS")

mkdir "$tmp/shm" && mount -t tmpfs -o size=16m none "$tmp/shm"
started shm1 b "$tmp/dnet" shm-serve "$tmp/shm/ring"
m1=$(in_cg a "$tmp/dnet" shm-stream "$tmp/shm/ring" "$SECS" | field gbps)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; rm -f "$tmp/shm/ring"
started shm2 b "$tmp/dnet" shm-serve "$tmp/shm/ring"
mr=$(in_cg a "$tmp/dnet" shm-rtt "$tmp/shm/ring" 1024 "$RTTS")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
umount "$tmp/shm"

p1=$(in_cg a "$tmp/dnet" pipe-src "$SECS" | in_cg b "$tmp/dnet" pipe-sink | field gbps)
pr=$(in_cg a "$tmp/dnet" pipe-rtt 1024 "$RTTS")

# ---------- peers: podman's and Docker's bridge, the same tool inside their containers' namespaces ----------
peer_tcp() { # peer_tcp NS_CLIENT NS_SERVER SERVER_IP: one line of figures, as tcp() gives ours
  local a=$1 b=$2 ip=$3 g1 g8 r
  nsenter --net="$b" "$tmp/dnet" serve tcp 5000 >"$tmp/peer-srv.out" 2>&1 & local sp=$!; pids+=("$sp")
  for _ in $(seq 1 600); do [ -s "$tmp/peer-srv.out" ] && break; sleep 0.05; done
  g1=$(nsenter --net="$a" "$tmp/dnet" stream tcp "$ip:5000" 1 "$SECS" | field gbps)
  g8=$(nsenter --net="$a" "$tmp/dnet" stream tcp "$ip:5000" 8 "$SECS" | field gbps)
  r=$(nsenter --net="$a" "$tmp/dnet" rtt tcp "$ip:5000" 1024 "$RTTS")
  kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
  echo "$g1 $g8 $(echo "$r" | field p50_us) $(echo "$r" | field p99_us)"
}
pm="— (PEERS=0) — — —"; dk="$pm"
if [ "$PEERS" = 1 ]; then
  scripts/make-busybox-image.sh "$tmp/image" latest >/dev/null
  skopeo copy -q "oci:$tmp/image:latest" "docker-archive:$tmp/bb.tar:busybox:latest"
  export CONTAINERS_CONF="$tmp/containers.conf" HOME="$tmp/home"; mkdir -p "$HOME"
  printf '[network]\nnetwork_backend = "netavark"\n' >"$CONTAINERS_CONF"
  pm_up=1
  podman $PM load -q -i "$tmp/bb.tar" >/dev/null
  podman $PM network create --disable-dns --subnet "$NVSUB" "$NVNET" >/dev/null
  NVBR=$(podman $PM network inspect -f '{{.NetworkInterface}}' "$NVNET")
  for s in a b; do podman $PM run -d $PMRUN --network "$NVNET" --name "p$s" busybox:latest sleep 3600 >/dev/null; done
  pm_ip=$(podman $PM inspect -f "{{(index .NetworkSettings.Networks \"$NVNET\").IPAddress}}" pb)
  pm=$(peer_tcp "/proc/$(podman $PM inspect -f '{{.State.Pid}}' pa)/ns/net" "/proc/$(podman $PM inspect -f '{{.State.Pid}}' pb)/ns/net" "$pm_ip")
  eval "$(BRIDGE=tiodkd0 BRIDGE_CIDR=10.213.17.1/24 CGROUP_PARENT="docker-direct-$$" scripts/peer-dockerd.sh start "$tmp/dockerd")"; export DOCKER_HOST; dk_up=1
  docker load -q -i "$tmp/bb.tar" >/dev/null
  for s in a b; do docker run -d --network bridge --name "d$s" busybox:latest sleep 3600 >/dev/null; done
  dk_ip=$(docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' db)
  dk=$(peer_tcp "/proc/$(docker inspect -f '{{.State.Pid}}' da)/ns/net" "/proc/$(docker inspect -f '{{.State.Pid}}' db)/ns/net" "$dk_ip")
fi
read -r pm1 pm8 pmp50 pmp99 <<<"$pm"
read -r dk1 dk8 dkp50 dkp99 <<<"$dk"

echo "| Path (two namespaces, one node) | 1 stream Gbit/s | 8 streams Gbit/s | RTT p50 µs (1 KiB) | RTT p99 µs |"
echo "|---|---|---|---|---|"
row "veth + bridge TCP" "$v1" "$v8" "$vp50" "$vp99"
row "TCP + eBPF shortcut (sockmap)" "$s1" "$s8" "$sp50" "$sp99"
row "Unix socket (/run/tinyo/uds)" "$u1" "$u8" "$(echo "$ur" | field p50_us)" "$(echo "$ur" | field p99_us)"
row "shared memory ring (/dev/shm)" "$m1" "—" "$(echo "$mr" | field p50_us)" "$(echo "$mr" | field p99_us)"
row "pipe (stdout → stdin)" "$p1" "—" "$(echo "$pr" | field p50_us)" "$(echo "$pr" | field p99_us)"
row "podman bridge TCP (netavark)" "$pm1" "$pm8" "$pmp50" "$pmp99"
row "Docker bridge TCP (private dockerd)" "$dk1" "$dk8" "$dkp50" "$dkp99"
echo "load $(cut -d' ' -f1 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
