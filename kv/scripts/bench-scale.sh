#!/usr/bin/env bash
# tinyokv at 1,000,000 keys (issue 4, "snapshots keep restart and catch-up fast at millions of keys"), on loopback
# with temp data dirs, NativeAOT binary. A 3-member group; member k3 is stopped (kill -9) before the load so that
# it comes back far behind. Measures, in order:
#   load throughput (tinyokv bench put, each key written once), data dir sizes, each member's RSS,
#   snapshot save (time, size), k3's catch-up (restart -> linearizable get of the last key answered),
#   a learner's initial copy (launch -> serializable get of the last key answered on it),
#   kill -9 + restart of one member, then of all three (restart -> linearizable get answered), RSS after.
# Then, with ETCD=1 (default), the same key count in a 3-member etcd (Debian etcd 3.4): load through etcdctl txn
# (ETCD_TXN=100 puts per txn, 4 at a time), data dir, RSS, `etcdctl snapshot save`, a far-behind member's catch-up
# (with --snapshot-count ETCD_SNAPSHOT_COUNT=2000, so that the 10,000 entries exceed the 5,000 etcd keeps after a
# snapshot and it catches up by snapshot, as tinyokv's does), restart of one member and of all three (restart ->
# linearizable `etcdctl get` of the last key answered).
# Everything started here is killed by PID on exit; the temp root is removed.
# Usage: kv/scripts/bench-scale.sh [path/to/tinyokv]   (default: out/bin/tinyokv)
#        KEYS=1000000 VALUE=100 CLIENTS=256 CONNS=4 ETCD=1
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-out/bin/tinyokv}")
KEYS=${KEYS:-1000000}; VALUE=${VALUE:-100}; CLIENTS=${CLIENTS:-256}; CONNS=${CONNS:-4}; ETCD=${ETCD:-1}
ETCD_TXN=${ETCD_TXN:-100}; ETCD_SNAPSHOT_COUNT=${ETCD_SNAPSHOT_COUNT:-2000}
ROOT=$(mktemp -d /tmp/tinyokv-bench-scale.XXXXXX)
declare -A PID
cleanup() { for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$ROOT"; }
trap cleanup EXIT
export TINYOKV_TOKEN=bench-token
LAST=$(printf 'bench/%08d' $((KEYS - 1)))
EPS=127.0.0.1:34379,127.0.0.1:34372
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$1/status"; }
size() { du -sm "$1" | cut -f1; }
echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

serve() { # name n extra...
  local name=$1 n=$2; shift 2
  "$BIN" serve --name "$name" --data-dir "$ROOT/$name" --listen-peer 127.0.0.1:3438$n --listen-client 127.0.0.1:3437$n "$@" >>"$ROOT/$name.log" 2>&1 &
  PID[$name]=$!
}
# until `tinyokv get LAST` on that member prints the key (linearizable unless "s"); prints the seconds since $2
wait_get() { # port t0 [consistency]
  until "$BIN" get "$LAST" --keys-only --consistency "${3:-l}" --endpoints "127.0.0.1:$1" 2>/dev/null | grep -q "$LAST"; do sleep 0.05; done
  since "$2"
}
kill9() { kill -9 "${PID[$1]}"; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }

echo "== tinyokv: $KEYS keys of $VALUE B, $CLIENTS concurrent puts over $CONNS connections"
serve k1 1 --bootstrap; sleep 1
serve k2 2 --join 127.0.0.1:34371; sleep 2
serve k3 3 --join 127.0.0.1:34371; sleep 2
"$BIN" member list --endpoints 127.0.0.1:34371
kill9 k3   # far behind from here on
"$BIN" bench put --endpoints "$EPS" --total "$KEYS" --key-space "$KEYS" --value-size "$VALUE" --clients "$CLIENTS" --conns "$CONNS"
sleep 2
"$BIN" get bench/ --prefix --count-only --endpoints 127.0.0.1:34371 | sed 's/^/keys: /'
for m in k1 k2; do echo "$m: data dir $(size "$ROOT/$m") MiB ($(ls "$ROOT/$m/snapshots" 2>/dev/null | tr '\n' ' ')), RSS $(rss "${PID[$m]}")"; done

t=$(now); "$BIN" snapshot save "$ROOT/backup.snap" --endpoints 127.0.0.1:34371 >/dev/null
echo "snapshot save: $(since "$t") s, $(size "$ROOT/backup.snap") MiB"; rm -f "$ROOT/backup.snap"

t=$(now); serve k3 3
echo "k3 (stopped before the load) restart -> linearizable get: $(wait_get 34373 "$t") s; data dir $(size "$ROOT/k3") MiB, RSS $(rss "${PID[k3]}")"

t=$(now); "$BIN" serve --learner --name l1 --data-dir "$ROOT/l1" --listen-client 127.0.0.1:34374 --join "$EPS" >>"$ROOT/l1.log" 2>&1 & PID[l1]=$!
echo "learner launch -> serializable get: $(wait_get 34374 "$t" s) s; data dir $(size "$ROOT/l1") MiB, RSS $(rss "${PID[l1]}")"
kill9 l1

kill9 k2; t=$(now); serve k2 2
echo "k2 kill -9 + restart -> linearizable get: $(wait_get 34372 "$t") s, RSS $(rss "${PID[k2]}")"

kill9 k1; kill9 k2; kill9 k3; t=$(now); serve k1 1; serve k2 2; serve k3 3
echo "all 3 kill -9 + restart -> linearizable get on k1: $(wait_get 34371 "$t") s"
for m in k1 k2 k3; do echo "$m after restart: RSS $(rss "${PID[$m]}"), data dir $(size "$ROOT/$m") MiB"; done
kill9 k1; kill9 k2; kill9 k3

[ "$ETCD" = 1 ] || exit 0
echo "== etcd $(etcd --version | head -1 | cut -d' ' -f3): $KEYS keys of $VALUE B, etcdctl txn of $ETCD_TXN puts, 4 at a time, --snapshot-count $ETCD_SNAPSHOT_COUNT"
CL=e1=http://127.0.0.1:35381,e2=http://127.0.0.1:35382,e3=http://127.0.0.1:35383
etcd_serve() { # n state
  etcd --name e$1 --data-dir "$ROOT/e$1" --listen-peer-urls http://127.0.0.1:3538$1 --initial-advertise-peer-urls http://127.0.0.1:3538$1 \
    --listen-client-urls http://127.0.0.1:3537$1 --advertise-client-urls http://127.0.0.1:3537$1 --initial-cluster $CL \
    --initial-cluster-state "$2" --initial-cluster-token tinyo-scale-$$ --max-txn-ops "$ETCD_TXN" --snapshot-count "$ETCD_SNAPSHOT_COUNT" --logger zap --log-level error >>"$ROOT/e$1.log" 2>&1 &
  PID[e$1]=$!
}
etcd_wait() { # port t0
  until ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$1" --dial-timeout 1s get "$LAST" --keys-only 2>/dev/null | grep -q "$LAST"; do sleep 0.05; done
  since "$2"
}
export ETCDCTL_API=3
etcd_serve 1 new; etcd_serve 2 new; etcd_serve 3 new
until etcdctl --endpoints 127.0.0.1:35371 endpoint health >/dev/null 2>&1; do sleep 0.2; done
kill9 e3
head -c "$VALUE" /dev/zero | tr '\0' v >"$ROOT/value"; V=$(cat "$ROOT/value")
batch() { # first-key; a txn that timed out (etcd re-electing on a loaded machine) is sent again: same puts, same state
  local try
  for try in 1 2 3 4 5; do
    { printf '\n'; for ((i = $1; i < $1 + ETCD_TXN && i < KEYS; i++)); do printf 'put bench/%08d %s\n' "$i" "$V"; done; printf '\n\n'; } |
      etcdctl --endpoints 127.0.0.1:35371,127.0.0.1:35372 txn >/dev/null 2>>"$ROOT/etcd-load.err" && return 0
    echo "retry $1" >>"$ROOT/etcd-load.err"; sleep 1
  done
  return 1
}
export -f batch; export V KEYS ROOT ETCD_TXN
t=$(now)
seq 0 "$ETCD_TXN" $((KEYS - 1)) | xargs -P 4 -I{} bash -c 'batch {}'
el=$(since "$t"); echo "retried txns: $(grep -c '^retry' "$ROOT/etcd-load.err" || true)"; echo "load: $el s, $(awk -v k="$KEYS" -v s="$el" 'BEGIN { printf "%.0f", k / s }') keys/s (txns of $ETCD_TXN puts; not comparable with tinyokv's one put per request)"
etcdctl --endpoints 127.0.0.1:35371 get bench/ --prefix --limit 1 -w json | grep -o '"count":[0-9]*' | sed 's/"count":/keys: /'
for m in e1 e2; do echo "$m: data dir $(size "$ROOT/$m") MiB, RSS $(rss "${PID[$m]}")"; done
etcdctl --endpoints 127.0.0.1:35371 endpoint status -w fields | grep -iE '"(RaftIndex|DbSize)"'
t=$(now); etcdctl --endpoints 127.0.0.1:35371 snapshot save "$ROOT/backup.db" >/dev/null
echo "snapshot save: $(since "$t") s, $(size "$ROOT/backup.db") MiB"; rm -f "$ROOT/backup.db"
t=$(now); etcd_serve 3 new
echo "e3 (stopped before the load) restart -> linearizable get: $(etcd_wait 35373 "$t") s; data dir $(size "$ROOT/e3") MiB, RSS $(rss "${PID[e3]}")"
kill9 e2; t=$(now); etcd_serve 2 new
echo "e2 kill -9 + restart -> linearizable get: $(etcd_wait 35372 "$t") s, RSS $(rss "${PID[e2]}")"
kill9 e1; kill9 e2; kill9 e3; t=$(now); etcd_serve 1 new; etcd_serve 2 new; etcd_serve 3 new
echo "all 3 kill -9 + restart -> linearizable get on e1: $(etcd_wait 35371 "$t") s"
for m in e1 e2 e3; do echo "$m after restart: RSS $(rss "${PID[$m]}"), data dir $(size "$ROOT/$m") MiB"; done
