#!/usr/bin/env bash
# Put throughput of a 3-member tinyokv in plain TCP and with mutual TLS on both ports (client and peer), with 1
# and 32 clients, runs alternated to spread the machine's noise. Certificates: a throwaway CA made with openssl
# (ECDSA P-256), IP SAN 127.0.0.1. Everything started here is killed by PID on exit; temp files removed.
# Usage: kv/scripts/bench-tls.sh [path/to/tinyokv]   (default: out/bin/tinyokv)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-out/bin/tinyokv}
TOTAL1=${TOTAL1:-2000}; TOTAL32=${TOTAL32:-20000}; ROUNDS=${ROUNDS:-2}
ROOT=$(mktemp -d /tmp/tinyokv-bench-tls.XXXXXX)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
cleanup() { stop; rm -rf "$ROOT"; }
trap cleanup EXIT
export TINYOKV_TOKEN=bench-token

P=$ROOT/pki; mkdir -p "$P"
openssl ecparam -name prime256v1 -genkey -noout -out "$P/ca-key.pem"
openssl req -x509 -new -key "$P/ca-key.pem" -subj "/CN=bench CA" -days 1 -out "$P/ca.pem" 2>/dev/null
for n in member client; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$P/$n-key.pem"
  openssl req -new -key "$P/$n-key.pem" -subj "/CN=$n" -out "$P/$n.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$P/ext"
  openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.pem" -CAkey "$P/ca-key.pem" -CAcreateserial -days 1 -extfile "$P/ext" -out "$P/$n.pem" 2>/dev/null
done
TLS_SERVE=(--cert-file "$P/member.pem" --key-file "$P/member-key.pem" --trusted-ca-file "$P/ca.pem" --client-cert-auth
  --peer-cert-file "$P/member.pem" --peer-key-file "$P/member-key.pem" --peer-trusted-ca-file "$P/ca.pem" --peer-client-cert-auth)
TLS_CLIENT=(--cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem")

start() { # mode: plain|tls
  local extra=() cli=()
  [ "$1" = tls ] && extra=("${TLS_SERVE[@]}") && cli=("${TLS_CLIENT[@]}")
  rm -rf "$ROOT"/k?
  "$BIN" serve --name k1 --data-dir "$ROOT/k1" --listen-peer 127.0.0.1:33380 --listen-client 127.0.0.1:33379 --bootstrap "${extra[@]}" >"$ROOT/k1.log" 2>&1 & PIDS+=($!)
  sleep 1
  for i in 2 3; do
    "$BIN" serve --name k$i --data-dir "$ROOT/k$i" --listen-peer 127.0.0.1:3338$i --listen-client 127.0.0.1:3337$i --join 127.0.0.1:33379 "${extra[@]}" >"$ROOT/k$i.log" 2>&1 & PIDS+=($!)
    sleep 2
  done
  "$BIN" member list --endpoints 127.0.0.1:33379 "${cli[@]}" >/dev/null
}

for round in $(seq "$ROUNDS"); do
  for mode in plain tls; do
    start $mode
    cli=(); [ $mode = tls ] && cli=("${TLS_CLIENT[@]}")
    echo "== $mode (round $round)"
    "$BIN" bench put --endpoints 127.0.0.1:33379 "${cli[@]}" --total "$TOTAL1" --clients 1
    "$BIN" bench put --endpoints 127.0.0.1:33379 "${cli[@]}" --total "$TOTAL32" --clients 32
    stop
  done
done
