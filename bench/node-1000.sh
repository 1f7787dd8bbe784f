#!/usr/bin/env bash
# N replicas of one app on one cluster, through the node (issues 12 and 16), and crun's N at once in the same run:
#  1. tinyo   `tio + app.yml` (busybox `sleep 3600`, `replicas: N`, on the node's default cluster: a leased address,
#             a namespace with a veth on the cluster's bridge and a DNS name per replica) until `tio ls` shows all N
#             running; then every replica has a distinct address, `APP-K` resolves to replica K's address from inside
#             a replica (a sample of K), and the app name resolves
#  2. crun    N `crun run -d` of a bundle of the same busybox (its own network namespace each, no veth) launched at
#             once, until every launch returned (each returns once its container's process runs); inside a private
#             mount namespace with the empty cgroup2 tree unmounted (what crun 1.8 needs on this hybrid host)
# Figures: wall time, and the peak host memory in use (MemTotal − MemAvailable, sampled every 50 ms) above the level
# just before — which other jobs on a shared host move too (the load is printed). Goal (issue 16): the node's time
# ≤ 0.3× crun's and its memory ≤ 0.5× crun's. Everything is removed at the end (`tio -`, `tio down`, crun delete),
# also on failure.
#   TINYO_BIN=out/bin bench/node-1000.sh [N]      N=1000 by default; PEERS="tinyo crun"; SAMPLE=5 names checked
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-${N:-1000}}; peers=${PEERS:-tinyo crun}; sample=${SAMPLE:-5}
bin=${TINYO_BIN:-$PWD/out/bin}
[ "$(id -u)" = 0 ] || { echo "node-1000: needs root" >&2; exit 1; }
for t in crun unshare busybox jq skopeo docker-registry curl; do command -v "$t" >/dev/null || { echo "node-1000: $t missing (make deps)" >&2; exit 1; }; done
tmp=$(mktemp -d /tmp/tinyo-node1000.XXXXXX)
reg_pid=""; tio_up=""; sampler=""
. bench/loopback-node.sh
cleanup() {
  set +e
  [ -n "$sampler" ] && touch "$tmp/stop" && wait "$sampler" 2>/dev/null
  if [ -n "$tio_up" ]; then
    tio - app >/dev/null 2>&1; tio - warm >/dev/null 2>&1
    for _ in $(seq 1 600); do [ -z "$(ls -A "$tmp/node/rt/containers" 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  crun --root "$tmp/crun" list -q 2>/dev/null | xargs -r -P 4 -n 1 crun --root "$tmp/crun" delete -f >/dev/null 2>&1
  loopback_cleanup
}
trap cleanup EXIT INT TERM

used() { awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {print t - a}' /proc/meminfo; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# sample_start / sample_stop NAME: the peak of `used` between the two, above the level just before (KiB).
sample_start() { sleep 2; base=$(used); rm -f "$tmp/stop"; ( while [ ! -e "$tmp/stop" ]; do used; sleep 0.05; done ) >"$tmp/mem" & sampler=$!; }
sample_stop() { touch "$tmp/stop"; wait "$sampler" 2>/dev/null || true; sampler=""; echo $(( $(sort -n "$tmp/mem" | tail -1) - base )); }

echo "machine: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB, $(uname -r), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A T M

for p in $peers; do
  case $p in
    tinyo)
      loopback_registry
      node_up bench 'bench-password-1'
      cat >"$tmp/app.yml" <<EOF
name: app
container: "busybox:latest"
command: ["sleep", "3600"]
replicas: $n
EOF
      # The image pulled and the cluster's bridge up once, so the figure is the replicas' own.
      sed "s/^name: app/name: warm/; s/^replicas: .*/replicas: 1/" "$tmp/app.yml" >"$tmp/warm.yml"
      tio + "$tmp/warm.yml" >/dev/null
      for _ in $(seq 1 600); do [ "$(tio ls -o json | jq '[.[] | select(.name=="warm") | .containers[]? | select(.state=="running")] | length')" = 1 ] && break; sleep 0.1; done
      sample_start
      t0=$(date +%s%N)
      tio + "$tmp/app.yml" >/dev/null
      running=0
      for _ in $(seq 1 6000); do
        running=$(tio ls -o json | jq '[.[] | select(.name=="app") | .containers[]? | select(.state=="running")] | length')
        [ "$running" -ge "$n" ] && break
        sleep 0.1
      done
      T[tinyo]=$(ms "$t0"); M[tinyo]=$(sample_stop)
      [ "$running" -ge "$n" ] || { echo "node-1000: only $running of $n replicas running after 10 min" >&2; tail -20 "$tmp/node/logs/tinyonode.log" >&2; exit 1; }
      tio ls -o json | jq -r '.[] | select(.name=="app") | .containers[] | "\(.name) \(.address)"' >"$tmp/addrs"
      distinct=$(awk '{print $2}' "$tmp/addrs" | grep -v '^null$' | sort -u | wc -l)
      # Names from inside one replica: APP-K for a sample of K (first, last, evenly between), and the app name.
      resolved=0; checked=0
      for k in $(awk -v n="$n" -v s="$sample" 'BEGIN {for (i = 0; i < s; i++) print 1 + int(i * (n - 1) / (s > 1 ? s - 1 : 1))}' | sort -un); do
        want=$(awk -v r="app-$k" '$1 == r {print $2}' "$tmp/addrs")
        got=$(tio exec app -- nslookup "app-$k" 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}')
        checked=$((checked + 1)); [ -n "$want" ] && [ "$got" = "$want" ] && resolved=$((resolved + 1))
      done
      app_answers=$(tio exec app -- nslookup app 2>/dev/null | grep -c '^Address' || true)
      tio - app >/dev/null
      for _ in $(seq 1 3000); do [ "$(ls "$tmp/node/rt/containers" 2>/dev/null | wc -l)" -le 1 ] && break; sleep 0.1; done
      echo "  tinyo    $n replicas through the node: ${T[tinyo]} ms to all running (tio ls) · peak memory +$(( M[tinyo] / 1024 )) MiB · $distinct distinct addresses · APP-K resolved $resolved of $checked · the app name answered with $app_answers address line(s) · load $(cut -d' ' -f1 /proc/loadavg)"
      ;;
    crun)
      b=$tmp/bundle
      mkdir -p "$b/rootfs/bin"
      cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
      ln -s busybox "$b/rootfs/bin/sleep"
      (cd "$b" && crun spec)
      jq '.process.args = ["/bin/sleep", "3600"] | .process.terminal = false' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
      sample_start
      t0=$(date +%s%N)
      fails=$(N="$n" B="$b" R="$tmp/crun" E="$tmp/crun-err" unshare -m --propagation private bash -c '
        if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
        for i in $(seq "$N"); do crun --root "$R" run -d --bundle "$B" "c$i" >/dev/null 2>>"$E" & done
        f=0; for j in $(jobs -p); do wait "$j" || f=$((f + 1)); done; echo "$f"')
      T[crun]=$(ms "$t0"); M[crun]=$(sample_stop)
      crun --root "$tmp/crun" list -q 2>/dev/null | xargs -r -P 4 -n 1 crun --root "$tmp/crun" delete -f >/dev/null 2>&1
      echo "  crun     $n \`crun run -d\` at once: ${T[crun]} ms to all launches returned · peak memory +$(( M[crun] / 1024 )) MiB · failed $fails · load $(cut -d' ' -f1 /proc/loadavg)"
      [ -s "$tmp/crun-err" ] && { echo "  crun's first errors:"; sort "$tmp/crun-err" | uniq -c | sort -rn | head -3; }
      ;;
    *) echo "node-1000: unknown peer $p" >&2; exit 1 ;;
  esac
done
if [ -n "${T[tinyo]:-}" ] && [ -n "${T[crun]:-}" ]; then
  echo "  ratio    time $(awk "BEGIN {printf \"%.2f\", ${T[tinyo]} / ${T[crun]}}")× crun's (goal ≤ 0.3) · memory $(awk "BEGIN {printf \"%.2f\", ${M[tinyo]} / (${M[crun]} > 0 ? ${M[crun]} : 1)}")× crun's (goal ≤ 0.5)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
