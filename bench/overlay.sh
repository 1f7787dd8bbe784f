#!/usr/bin/env bash
# Cluster network across nodes (issue 14): container → container TCP over the VXLAN overlay vs over one node's bridge,
# same run, same tool (iperf3, one stream, $SECS s, $ROUNDS rounds alternating). Two "hosts" are network namespaces
# joined by a veth (their network, MTU 1500); on each the cluster's bridge, replicas' namespaces with a veth, and
# the overlay's objects as ClusterOverlay makes them through rtnetlink (here with iproute2, the same kernel objects):
# a VXLAN device (id, local address, port 4789, no learning, MAC 0a:58 + gateway, MTU underlay − 50) on the bridge, the other host's
# forwarding entries (self + static bridge entry), a permanent neighbour and an on-link route to its subnet.
# Also the underlay alone (host → host over the veth) as the ceiling. Prints a markdown table. Needs root, iperf3.
set -euo pipefail
SECS=${SECS:-5} ROUNDS=${ROUNDS:-3}
command -v iperf3 >/dev/null || { echo "overlay.sh: iperf3 missing (make deps)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "overlay.sh: needs root" >&2; exit 1; }
p=tyo$$
pids=()
cleanup() {
  for x in "${pids[@]}"; do kill "$x" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in h1 h2 r1 r1b r2; do ip netns del "$p$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for n in h1 h2 r1 r1b r2; do ip netns add "$p$n"; ip -n "$p$n" link set lo up; done
ip link add u0 netns "${p}h1" type veth peer name u0 netns "${p}h2"
for i in 1 2; do
  h=${p}h$i
  ip -n "$h" addr add 10.55.0.$i/24 dev u0; ip -n "$h" link set u0 up
  ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$h" link add tbx type bridge; ip -n "$h" addr add 10.66.$i.1/24 dev tbx; ip -n "$h" link set tbx up
done
replica() { # NS HOST ADDR GW
  ip link add "v$1" netns "$2" type veth peer name eth0 netns "$1"
  ip -n "$2" link set "v$1" master tbx up
  ip -n "$1" addr add "$3/24" dev eth0; ip -n "$1" link set eth0 up; ip -n "$1" route add default via "$4"
}
replica "${p}r1" "${p}h1" 10.66.1.2 10.66.1.1
replica "${p}r1b" "${p}h1" 10.66.1.3 10.66.1.1
replica "${p}r2" "${p}h2" 10.66.2.2 10.66.2.1
for i in 1 2; do
  h=${p}h$i o=$((3 - i))
  ip -n "$h" link add txx address 0a:58:0a:42:0$i:01 mtu 1450 type vxlan id 4242 local 10.55.0.$i dstport 4789 nolearning
  ip -n "$h" link set txx master tbx up
  ip netns exec "$h" bridge fdb add 0a:58:0a:42:0$o:01 dev txx dst 10.55.0.$o self permanent
  ip netns exec "$h" bridge fdb add 0a:58:0a:42:0$o:01 dev txx master static
  ip -n "$h" neigh replace 10.66.$o.1 lladdr 0a:58:0a:42:0$o:01 dev tbx nud permanent
  ip -n "$h" route replace 10.66.$o.0/24 via 10.66.$o.1 dev tbx onlink proto 116
done
start_servers() { for n in r1b r2 h2; do ip netns exec "$p$n" iperf3 -s >/dev/null 2>&1 & pids+=($!); done; sleep 0.5; }
start_servers
run() { ip netns exec "$p$1" iperf3 -c "$2" -t "$SECS" -J 2>/dev/null | awk -F'[:,]' '/"sum_received"/ {f=1} f && /"bits_per_second"/ {printf "%.2f\n", $2/1e9; exit}'; }
declare -a bridge vxlan under
for r in $(seq "$ROUNDS"); do
  bridge+=("$(run r1 10.66.1.3)"); vxlan+=("$(run r1 10.66.2.2)"); under+=("$(run h1 10.55.0.2)")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mb=$(med "${bridge[@]}") mv=$(med "${vxlan[@]}") mu=$(med "${under[@]}")
echo "| path (iperf3, 1 stream, ${SECS} s × ${ROUNDS} rounds, load $(cut -d' ' -f1 /proc/loadavg)) | Gbit/s median | rounds | vs same-node bridge |"
echo "|---|---:|---|---:|"
echo "| same node: replica → replica over the cluster bridge | $mb | ${bridge[*]} | 1.00× |"
echo "| across nodes: replica → replica over VXLAN (routed on both nodes) | $mv | ${vxlan[*]} | $(awk -v a="$mv" -v b="$mb" 'BEGIN {printf "%.2f", a/b}')× |"
echo "| underlay alone: host → host over the veth (ceiling) | $mu | ${under[*]} | $(awk -v a="$mu" -v b="$mb" 'BEGIN {printf "%.2f", a/b}')× |"
echo "vxlan MTU $(ip -n "${p}h1" -o link show txx | sed -n 's/.*mtu \([0-9]*\).*/\1/p'), bridge MTU $(ip -n "${p}h1" -o link show tbx | sed -n 's/.*mtu \([0-9]*\).*/\1/p')"
