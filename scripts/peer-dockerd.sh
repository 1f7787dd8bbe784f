#!/usr/bin/env bash
# Starts or stops a private Docker engine (Debian's docker.io) as a benchmark peer, without touching the host's
# Docker setup: its own data/exec roots and socket under DIR, its own bridge (BRIDGE, a /24 that the host routes
# directly), no iptables rules and no masquerading — published ports go through docker-proxy (the userland proxy),
# so `docker run -p` works on loopback.
#   scripts/peer-dockerd.sh start DIR     prints DOCKER_HOST=unix://DIR/docker.sock once the API answers
#   scripts/peer-dockerd.sh stop DIR      stops it and removes everything it made (containers, mounts, cgroups, bridge)
# Env: BRIDGE (default tiodk0), BRIDGE_CIDR (default 10.213.7.1/24); TINYORT=/path/to/tinyort registers tinyort as
# an extra OCI runtime (`docker run --runtime tinyort ...`: containerd's runc shim then drives tinyort as it drives
# runc; its state lands under DIR/exec/runtime-runc, removed with the rest); CGROUP_PARENT (default docker): the
# containers' cgroup parent — give each engine its own when several run at once, as stop removes the parent it used.
# Shared host paths (/run/docker, /run/containerd: containerd keeps its shims' sockets there) are removed only when no
# other dockerd is left running.
set -euo pipefail
cmd=${1:?usage: peer-dockerd.sh start|stop DIR}
dir=${2:?usage: peer-dockerd.sh start|stop DIR}
bridge=${BRIDGE:-tiodk0}
cidr=${BRIDGE_CIDR:-10.213.7.1/24}
cgparent=${CGROUP_PARENT:-docker}
sock="$dir/docker.sock"

start() {
  command -v dockerd >/dev/null || { echo "peer-dockerd: dockerd not installed (make deps installs docker.io)" >&2; exit 2; }
  [ -z "${TINYORT:-}" ] || [ -x "$TINYORT" ] || { echo "peer-dockerd: TINYORT=$TINYORT is not an executable" >&2; exit 2; }
  mkdir -p "$dir"
  # Remember which host paths existed, so stop removes only what this engine created.
  for p in /run/docker /run/containerd /etc/docker/key.json; do [ -e "$p" ] && echo "$p" >>"$dir/preexisting" || true; done
  touch "$dir/preexisting"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$cidr" dev "$bridge"
    ip link set "$bridge" up
    echo "$bridge" >"$dir/bridge"
  fi
  dockerd --data-root "$dir/root" --exec-root "$dir/exec" -H "unix://$sock" --pidfile "$dir/docker.pid" \
    --bridge "$bridge" --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=true \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$cgparent" --log-level warn ${TINYORT:+--add-runtime "tinyort=$TINYORT"} >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 150); do
    docker -H "unix://$sock" version >/dev/null 2>&1 && { echo "DOCKER_HOST=unix://$sock"; return 0; }
    sleep 0.1
  done
  echo "peer-dockerd: dockerd did not answer within 15 s; log:" >&2
  tail -20 "$dir/dockerd.log" >&2
  stop
  exit 1
}

stop() {
  if [ -S "$sock" ]; then
    ids=$(docker -H "unix://$sock" ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Mounts under the roots (overlay2, netns files), deepest first.
  { grep -F " $dir/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for c in /sys/fs/cgroup/*/"$cgparent" /sys/fs/cgroup/unified/"$cgparent"; do
    [ -d "$c" ] || continue
    find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
    rmdir "$c" 2>/dev/null || true
  done
  if [ -f "$dir/bridge" ]; then ip link del "$(cat "$dir/bridge")" 2>/dev/null || true; fi
  if ! pgrep -x dockerd >/dev/null; then
    for p in /run/docker /run/containerd /etc/docker/key.json; do
      grep -qxF "$p" "$dir/preexisting" 2>/dev/null || rm -rf "$p"
    done
  fi
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: peer-dockerd.sh start|stop DIR" >&2; exit 2 ;;
esac
