#!/usr/bin/env bash
# Demo: build the busybox image, serve it from a loopback docker-registry, pull it with tinyort, list it, run it.
# Everything lives in one temp dir, removed (and the registry stopped, by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
tinyort=$bin/tinyort
[ -x "$tinyort" ] || { echo "demo: $tinyort not found (run make build)" >&2; exit 1; }
for tool in docker-registry skopeo jq; do
  command -v $tool >/dev/null || { echo "demo: $tool missing (run make deps)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/tinyo-demo.XXXXXX)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 15000)
cat >"$tmp/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done

echo "== building the busybox image"
scripts/make-busybox-image.sh "$tmp/image" latest >/dev/null
echo "== pushing it to a loopback registry (127.0.0.1:$port) with skopeo"
skopeo copy -q --dest-tls-verify=false "oci:$tmp/image:latest" "docker://127.0.0.1:$port/busybox:latest"
echo "== tinyort pull"
time "$tinyort" --root "$tmp/root" pull "127.0.0.1:$port/busybox:latest"
echo "== tinyort images"
"$tinyort" --root "$tmp/root" images
echo "== tinyort inspect (config)"
"$tinyort" --root "$tmp/root" inspect "127.0.0.1:$port/busybox" | jq -c '.[0].Config'
echo "== tinyort run (a container from the pulled image: namespaces, overlay rootfs, Docker's seccomp profile)"
time "$tinyort" --root "$tmp/root" run --rm "127.0.0.1:$port/busybox" sh -c 'echo "hello from pid $$ in $(hostname)"; id'
echo "== tinyort rmi"
"$tinyort" --root "$tmp/root" rmi "127.0.0.1:$port/busybox"
