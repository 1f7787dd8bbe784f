#!/usr/bin/env bash
# Cluster network vs `network: none` through the node (issue 12), alternating in one run:
#  1. apply → first byte: `tio + web.yml` until its page is served on a published host port, the app on the node's
#     default cluster (namespace + veth + address from the node's pool, DNS, the proxy connecting to its cluster
#     address) vs the same app with `network: none` (loopback only, the proxy entering its namespace); goal: the
#     network adds ≤ 2 ms
#  2. the node's own set-up of each replica's network (what `ClusterNetworks.AttachAsync` logs: namespace from the
#     cluster bridge's `ReplicaNetworkPool`, or made cold when the pool was empty), median and p99, pooled and cold
#     apart; SCALE more replicas of one app applied at once add a burst (the pool refills in the background).
#   bench/net-first-byte.sh [ITERATIONS]   (default 15); SCALE=20; TINYO_BIN (default out/bin); markdown on stdout
# Runs the node in this host's network namespace (its bridge, veths and nft table are its own, removed by `tio down`).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15}; scale=${SCALE:-20}
bin=${TINYO_BIN:-$PWD/out/bin}
tmp=$(mktemp -d /tmp/tinyo-netfirstbyte.XXXXXX)
# The page lives apart: the node refuses mounts from its own directory's parent (where its socket is).
www=$(mktemp -d /tmp/tinyo-netfirstbyte-www.XXXXXX)
reg_pid=""; tio_up=""
. bench/loopback-node.sh
trap loopback_cleanup EXIT INT TERM
[ "$(id -u)" = 0 ] || { echo "net-first-byte: needs root" >&2; exit 1; }

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
wait_removed() {
  for _ in $(seq 1 1000); do [ -z "$(ls -A "$tmp/node/rt/containers" 2>/dev/null)" ] && return 0; sleep 0.02; done
  echo "net-first-byte: the app's container still exists 20 s after tio -" >&2; return 1
}
wait_page() {
  local t0=$1 port=$2
  for _ in $(seq 1 3000); do
    if curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/index.html"; then ms "$t0"; return 0; fi
    sleep 0.002
  done
  echo "net-first-byte: nothing served on $port after 15 s" >&2; return 1
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%g\n", (a[NR/2]+a[NR/2+1])/2}'; }
p99() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else {i=int(NR*0.99+0.999); if (i>NR) i=NR; print a[i]}}'; }

echo "<h1>first byte</h1>" >"$www/index.html"
loopback_registry
node_up bench 'bench-password-1'
p_net=$(free_port); p_none=$(free_port)
web() { # NAME PORT EXTRA
  cat >"$tmp/$1.yml" <<EOF
name: $1
container: "busybox:latest"
command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
port: "$2:8080"
$3
mounts:
  - source: "$www"
    target: "/www"
    readonly: true
EOF
}
web net "$p_net" ""
web none "$p_none" "network: none"
# Warm-up: pulls the image once, brings the cluster's bridge (and its pool) up.
t=$(date +%s%N); tio + "$tmp/net.yml" >/dev/null; wait_page "$t" "$p_net" >/dev/null; tio - net >/dev/null; wait_removed
t=$(date +%s%N); tio + "$tmp/none.yml" >/dev/null; wait_page "$t" "$p_none" >/dev/null; tio - none >/dev/null; wait_removed

declare -a N Z
for i in $(seq 1 "$n"); do
  t=$(date +%s%N); tio + "$tmp/net.yml" >/dev/null; N+=("$(wait_page "$t" "$p_net")")
  tio - net >/dev/null; wait_removed
  t=$(date +%s%N); tio + "$tmp/none.yml" >/dev/null; Z+=("$(wait_page "$t" "$p_none")")
  tio - none >/dev/null; wait_removed
done
# A burst: SCALE replicas of one app at once (more than the pool holds: the rest are made cold).
if [ "$scale" -gt 0 ]; then
  web burst "$(free_port)" "replicas: $scale"
  tio + "$tmp/burst.yml" >/dev/null
  for _ in $(seq 1 600); do [ "$(grep -c "net bench: burst-.* namespace set up" "$tmp/node/logs/tinyonode.log" 2>/dev/null || echo 0)" -ge "$scale" ] && break; sleep 0.1; done
  tio - burst >/dev/null; wait_removed
fi
log="$tmp/node/logs/tinyonode.log"
setup() { grep -o "$1: [a-z0-9-]* on [0-9.]*, namespace set up in [0-9.]* ms ($2)" "$log" | awk '{print $(NF-2)}'; }
mn=$(printf '%s\n' "${N[@]}" | median); mz=$(printf '%s\n' "${Z[@]}" | median)
cat <<EOF
date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)

| apply → first byte ($n runs each, alternating, median) | ms |
| --- | --- |
| \`tio + web.yml\` on the default cluster network | $mn |
| \`tio + web.yml\` with \`network: none\` | $mz |
| the network's cost | $(awk "BEGIN {print $mn - $mz}") |

| the node's network set-up per replica (\`ClusterNetworks.AttachAsync\`: namespace, veth, address, route) | n | median ms | p99 ms |
| --- | --- | --- | --- |
| from the bridge's pool (warm path) | $(setup "net bench" pooled | wc -l) | $(setup "net bench" pooled | median) | $(setup "net bench" pooled | p99) |
| made on the spot (pool empty: first replica of the bridge, or a burst beyond it) | $(setup "net bench" cold | wc -l) | $(setup "net bench" cold | median) | $(setup "net bench" cold | p99) |

network runs: ${N[*]}
none runs: ${Z[*]}
EOF
