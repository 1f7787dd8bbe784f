#!/usr/bin/env bash
# Idle RSS of the node's daemons (issue 5: tinyonode + tinyokv together ≤ 25 MB). Real processes: a `tio ++` node on a
# temp root and free ports whose docker.io mirror is a loopback docker-registry holding our busybox image; then
#   fresh      IDLE seconds after `tio ++`
#   app        one web app (busybox httpd, published port, page served) applied, then IDLE seconds idle
#   removed    the app removed (`tio -`, waited until its container is gone), then IDLE seconds idle
# For each: VmRSS of each daemon, and from /proc/PID/smaps_rollup its anonymous and file-backed parts, plus
# thread counts. `-v` also prints each daemon's largest mappings (from smaps) at every step.
#   bench/idle-rss.sh [-v] [IDLE]   (IDLE default 30 s); TINYO_BIN (default out/bin); markdown on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
verbose=""; [ "${1:-}" = "-v" ] && { verbose=1; shift; }
idle=${1:-30}
bin=${TINYO_BIN:-$PWD/out/bin}
tmp=$(mktemp -d /tmp/tinyo-idlerss.XXXXXX)
# The page the app serves, outside $tmp: the node refuses a bind source inside its own directory.
www=$(mktemp -d /tmp/tinyo-idlerss-www.XXXXXX)
reg_pid=""; tio_up=""
export HOME="$tmp/home"; mkdir -p "$HOME"
. bench/loopback-node.sh
trap loopback_cleanup EXIT INT TERM

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/${3:-smaps_rollup}" 2>/dev/null || echo 0; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
# One markdown row per daemon and one for the sum: RSS, PSS (shared pages divided among the processes that map them:
# libc, libcrypto), anonymous, file-backed (of the RSS), threads, idle trims so far (the
# daemons give memory back once quiet after work: linux/Tinyo.Linux/IdleTrim.cs; they log each one).
row() {
  local step=$1 total=0 tpss=0 name pid rss anon pss
  for name in tinyonode tinyokv; do
    pid=$(cat "$tmp/node/run/$name.pid")
    rss=$(kib "$pid" VmRSS status); anon=$(kib "$pid" Anonymous); pss=$(kib "$pid" Pss)
    total=$((total + rss)); tpss=$((tpss + pss))
    echo "| $step | $name | $(mib "$rss") | $(mib "$pss") | $(mib "$anon") | $(mib $((rss - anon))) | $(threads "$pid") | $(grep -c 'gave memory back' "$tmp/node/logs/$name.log" || true) |"
    if [ -n "$verbose" ]; then
      # Largest mappings by RSS: the path (or [heap]/anonymous) and its RSS in KiB.
      awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon " $1 "]" : $6)} /^Rss:/ {r[name] += $2}
           END {for (n in r) if (r[n] >= 256) printf "%8d KiB  %s\n", r[n], n}' "/proc/$pid/smaps" | sort -rn | head -12 >&2
    fi
  done
  echo "| $step | **both** | **$(mib "$total")** | $(mib "$tpss") | | | | |"
}

echo "<h1>idle rss</h1>" >"$www/index.html"
# Loopback registry with the image as docker.io's library/busybox, and a node whose mirror it is.
loopback_registry
node_up rss 'rss-password-1'
port=$(free_port)
cat >"$tmp/web.yml" <<EOF
name: web
container: "busybox:latest"
command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
port: "$port:8080"
mounts:
  - source: "$www"
    target: "/www"
    readonly: true
EOF

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), idle ${idle} s per step"
echo
echo "| step | daemon | RSS MiB | PSS | anonymous | file-backed | threads | trims |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
sleep "$idle"; row fresh
tio + "$tmp/web.yml" >/dev/null
for _ in $(seq 1 1000); do curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/index.html" && break; sleep 0.02; done
curl -fs -o /dev/null "http://127.0.0.1:$port/index.html" || { echo "idle-rss: the app never served its page" >&2; exit 1; }
tio ls >/dev/null
sleep "$idle"; row "app running"
tio - web >/dev/null
for _ in $(seq 1 1000); do [ -z "$(ls -A "$tmp/node/rt/containers" 2>/dev/null)" ] && break; sleep 0.02; done
sleep "$idle"; row removed
[ -n "$verbose" ] && grep -h 'gave memory back' "$tmp/node/logs/"*.log >&2

# The cost of a trim: the first request after it runs code that was released and faults it back in.
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
serve() { local t=$(date +%s%N); tio + "$tmp/web.yml" >/dev/null
  for _ in $(seq 1 3000); do curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/index.html" && { ms "$t"; return; }; sleep 0.005; done; echo "idle-rss: no page" >&2; exit 1; }
gone() { tio - web >/dev/null; for _ in $(seq 1 1000); do [ -z "$(ls -A "$tmp/node/rt/containers" 2>/dev/null)" ] && return; sleep 0.02; done; }
t=$(date +%s%N); tio ls >/dev/null; ls_cold=$(ms "$t")
ls_warm=$(for _ in 1 2 3 4 5; do t=$(date +%s%N); tio ls >/dev/null; ms "$t"; done | sort -n | sed -n 3p)
apply_cold=$(serve); gone; apply_warm=$(serve); gone
echo
echo "| after the idle trim (removed step) | first | warm (again at once) |"
echo "| --- | ---: | ---: |"
echo "| \`tio ls\`, ms | $ls_cold | $ls_warm (median of 5) |"
echo "| \`tio + web.yml\` → page served, ms | $apply_cold | $apply_warm |"
