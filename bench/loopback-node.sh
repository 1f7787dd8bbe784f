# Sourced by bench scripts: a loopback docker-registry holding the busybox test image as docker.io's
# library/busybox, and a tio node whose registry mirror it is. The caller defines $bin and $tmp (and $www, a second
# directory to remove, if it has one); its cleanup (loopback_cleanup, or its own) stops what these set: reg_pid (the
# registry), tio_up (run `tio down` when 1).

# free_port: a free TCP port on the loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# loopback_cleanup: the node down, the registry stopped by pid, every mount under $tmp undone, $tmp (and $www) removed.
loopback_cleanup() {
  set +e
  [ -n "${tio_up:-}" ] && "$bin/tio" down --root "$tmp/node" --socket "$tmp/node.sock" >/dev/null 2>&1
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  grep -F " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp" ${www:+"$www"}
}

# loopback_registry: builds the image, serves it on 127.0.0.1:$rp, pushes it.
loopback_registry() {
  scripts/make-busybox-image.sh "$tmp/image" latest >/dev/null
  rp=$(free_port)
  cat >"$tmp/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $tmp/registry}}
http: {addr: 127.0.0.1:$rp}
log: {level: error}
YML
  docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 & reg_pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$rp/v2/" >/dev/null && break; sleep 0.05; done
  skopeo copy -q --dest-tls-verify=false "oci:$tmp/image:latest" "docker://127.0.0.1:$rp/library/busybox:latest"
}

# node_up NET PASSWORD: `tio ++` on $tmp/node with that registry as its mirror; defines tio() for it.
node_up() {
  TINYO_REGISTRY_MIRRORS="http://127.0.0.1:$rp" "$bin/tio" ++ -net "$1" -u admin -p "$2" \
    --root "$tmp/node" --socket "$tmp/node.sock" --kv-port "$(free_port)" --kv-peer-port "$(free_port)" >/dev/null
  tio_up=1
}
tio() { "$bin/tio" --socket "$tmp/node.sock" --root "$tmp/node" "$@"; }
