#!/usr/bin/env bash
# Direct network between two containers' namespaces on this node (issue 15), same run, same tool (bench/direct/dnet.c):
#   veth + bridge TCP (the cluster network's shape: two netns, a veth each, one bridge), the same TCP with the eBPF
#   shortcut (SockmapShortcut, held by `Tinyo.Bench sockmap`), a Unix socket, a shared memory ring, a pipe.
# Throughput: 1 and 8 streams, 128 KiB writes, $SECS s each. Latency: 1 KiB echo round trips, p50/p99 of $RTTS.
# Prints a markdown table. Needs root, gcc, iproute2, a cgroup v2 mount (the unified one on a hybrid host).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3} RTTS=${RTTS:-20000}
tmp=$(mktemp -d /tmp/tinyo-bench-direct-XXXXXX)
ns=tyd$$ cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$cg2" ] || { echo "direct.sh: no cgroup v2 mount" >&2; exit 1; }
cg="$cg2/tinyo-bench-direct-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  mountpoint -q "$tmp/shm" 2>/dev/null && umount "$tmp/shm"
  wait 2>/dev/null || true
  ip netns del "${ns}a" 2>/dev/null || true; ip netns del "${ns}b" 2>/dev/null || true
  ip link del "${ns}br" 2>/dev/null || true
  rmdir "$cg" 2>/dev/null || true
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

echo "| Path (two namespaces, one node) | 1 stream Gbit/s | 8 streams Gbit/s | RTT p50 µs (1 KiB) | RTT p99 µs |"
echo "|---|---|---|---|---|"
row "veth + bridge TCP" "$v1" "$v8" "$vp50" "$vp99"
row "TCP + eBPF shortcut (sockmap)" "$s1" "$s8" "$sp50" "$sp99"
row "Unix socket (/run/tinyo/uds)" "$u1" "$u8" "$(echo "$ur" | field p50_us)" "$(echo "$ur" | field p99_us)"
row "shared memory ring (/dev/shm)" "$m1" "—" "$(echo "$mr" | field p50_us)" "$(echo "$mr" | field p99_us)"
row "pipe (stdout → stdin)" "$p1" "—" "$(echo "$pr" | field p50_us)" "$(echo "$pr" | field p99_us)"
