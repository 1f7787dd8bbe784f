# Sourced by bench scripts: a loopback docker-registry holding the busybox test image as docker.io's
# library/busybox, and a tio node whose registry mirror it is. The caller defines $bin, $tmp and free_port, and its
# cleanup stops what these set: reg_pid (the registry), tio_up (run `tio down` when 1).

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
