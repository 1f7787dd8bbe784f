#!/usr/bin/env bash
# Demo, the way a user meets Tinyo: a node from nothing (`tio ++`), then a web page served by a container described
# in a five-line statefile (`tio + examples/web/httpd.yml`), reached with curl on the published port.
# The image (busybox, built here from Debian's busybox-static) comes from a loopback docker-registry that the node
# uses as its docker.io mirror, so nothing leaves this host. Everything lives in one temp dir and is removed on exit:
# the app, the node (tio down), the registry (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYO_BIN:-$PWD/out/bin}
for b in tio tinyonode tinyokv; do [ -x "$bin/$b" ] || { echo "demo: $bin/$b not found (run make build)" >&2; exit 1; }; done
for tool in docker-registry skopeo curl; do
  command -v $tool >/dev/null || { echo "demo: $tool missing (run make deps)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/tinyo-demo.XXXXXX)
registry_pid=""; node_up=""
export HOME="$tmp/home"; mkdir -p "$HOME"   # tio keeps its login token in ~/.config/tinyo
tio() { "$bin/tio" --root "$tmp/node" --socket "$tmp/node.sock" "$@"; }
cleanup() {
  set +e
  if [ -n "$node_up" ]; then tio - web >/dev/null 2>&1; tio down; fi
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
cat >"$tmp/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $tmp/registry}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done

echo "== a busybox image, pushed to a loopback registry as docker.io's library/busybox (the node's mirror)"
scripts/make-busybox-image.sh "$tmp/image" latest >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$tmp/image:latest" "docker://127.0.0.1:$port/library/busybox:latest"

echo; echo "\$ tio ++ -net demo -u admin -p ******"
TINYO_REGISTRY_MIRRORS="http://127.0.0.1:$port" TINYO_OFFLINE=1 \
  tio ++ -net demo -u admin -p 'demo-password-1' --kv-port "$(free_port)" --kv-peer-port "$(free_port)"
node_up=1

app=examples/web/httpd.yml
web=8080
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$web/" || ss -ltn "sport = :$web" | grep -q LISTEN; then
  # Port 8080 is taken on this host: the same statefile with another published port.
  web=$(free_port)
  mkdir -p "$tmp/web"; cp -r examples/web/www "$tmp/web/"
  sed "s/^port: .*/port: \"$web:8080\"/" "$app" >"$tmp/web/httpd.yml"
  app="$tmp/web/httpd.yml"
  echo "(port 8080 is in use here: publishing on $web instead)"
fi
echo; echo "\$ cat examples/web/httpd.yml"; grep -v '^#' examples/web/httpd.yml
echo; echo "\$ tio + $app"
t0=$(date +%s%N)
tio + "$app"
for _ in $(seq 1 1000); do curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$web/" && break; sleep 0.01; done
echo "(served $(( ($(date +%s%N) - t0) / 1000000 )) ms after tio +)"
echo; echo "\$ curl http://127.0.0.1:$web/"
curl -fsS "http://127.0.0.1:$web/"
echo; echo "\$ tio ls"; tio ls
echo; echo "\$ tio exec web -- hostname"; tio exec web -- hostname
echo; echo "\$ tio logs --tail 3 web"; tio logs --tail 3 web
echo; echo "\$ tio - web"; tio - web
