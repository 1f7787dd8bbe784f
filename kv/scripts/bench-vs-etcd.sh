#!/usr/bin/env bash
# Throughput/latency of a 3-member tinyokv vs a 3-member etcd, both on loopback with temp data dirs, driven by
# the same load generator (kv/bench: the Tinyo.Kv client for tinyokv, etcd's JSON gateway for etcd — which
# handicaps etcd somewhat: HTTP/1.1+JSON instead of gRPC). Everything started here is killed by PID on exit.
# Usage: kv/scripts/bench-vs-etcd.sh [path/to/tinyokv]   (default: out/bin/tinyokv)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-out/bin/tinyokv}
dotnet build kv/bench -c Release -v quiet -nologo >/dev/null
LOAD="dotnet artifacts/bin/Tinyo.Kv.Bench/release/Tinyo.Kv.Bench.dll"
TOTAL=${TOTAL:-20000}
ROOT=$(mktemp -d /tmp/tinyokv-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$ROOT"; }
trap cleanup EXIT
export TINYOKV_TOKEN=bench-token

# tinyokv: bootstrap one member, join two.
"$BIN" serve --name k1 --data-dir "$ROOT/k1" --listen-peer 127.0.0.1:32380 --listen-client 127.0.0.1:32379 --bootstrap >"$ROOT/k1.log" 2>&1 & PIDS+=($!)
sleep 1
for i in 2 3; do
  "$BIN" serve --name k$i --data-dir "$ROOT/k$i" --listen-peer 127.0.0.1:3238$i --listen-client 127.0.0.1:3237$i --join 127.0.0.1:32379 >"$ROOT/k$i.log" 2>&1 & PIDS+=($!)
  sleep 2
done
"$BIN" member list --endpoints 127.0.0.1:32379

# etcd: a static 3-member cluster.
CL="e1=http://127.0.0.1:42380,e2=http://127.0.0.1:42382,e3=http://127.0.0.1:42384"
for i in 1 2 3; do
  peer=$((42378 + 2 * i)); client=$((42379 + 2 * i))
  etcd --name e$i --data-dir "$ROOT/e$i" --listen-peer-urls http://127.0.0.1:$peer --initial-advertise-peer-urls http://127.0.0.1:$peer \
    --listen-client-urls http://127.0.0.1:$client --advertise-client-urls http://127.0.0.1:$client \
    --initial-cluster "$CL" --initial-cluster-state new --log-level error >"$ROOT/e$i.log" 2>&1 & PIDS+=($!)
done
sleep 3
ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:42381 member list

for c in 1 16 64; do
  $LOAD put --total "$TOTAL" --clients $c --target tinyokv=127.0.0.1:32379
  $LOAD put --total "$TOTAL" --clients $c --target etcd=http://127.0.0.1:42381
done
for s in "" --serializable; do
  $LOAD get --total "$TOTAL" --clients 64 $s --target tinyokv=127.0.0.1:32379
  $LOAD get --total "$TOTAL" --clients 64 $s --target etcd=http://127.0.0.1:42381
done
