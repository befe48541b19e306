#!/usr/bin/env bash
# Failover under load (docs/scaling.md quotes its output):
#   1. scripts/cluster.sh up (etcd, 3 × PostgreSQL under patroni with
#      synchronous replication, haproxy, 3 × wz serve);
#   2. steady load through haproxy from `wz bench load` (pass verdicts kept);
#   3. kill -9 one wz serve node, then kill -9 the PostgreSQL primary
#      (its patroni and its postmaster: the node is gone);
#   4. afterwards: every pass verdict a client received is in the database
#      and the citizen's history and no QR was accepted twice
#      (`wz bench check`); the audit chain and the crash invariants hold
#      (`wz admin check`); the outage window is printed.
# Loopback only; bounded in time (about 2 minutes). WZ_KEEP_CLUSTER=1 leaves
# the cluster up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${WZ_CLUSTER_DIR:-/var/tmp/wz-cluster}"
export WZ_CLUSTER_DIR="$DIR"
WZ="${WZ_BIN:-${CARGO_TARGET_DIR:-target}/release/wz}"
if [ ! -x "$WZ" ]; then cargo build --release --locked -p wz >/dev/null; fi
export WZ_BIN="$WZ"
RATE="${WZ_FAILOVER_RATE:-60}"
DURATION="${WZ_FAILOVER_SECS:-45}"

scripts/cluster.sh down >/dev/null 2>&1 || true
scripts/cluster.sh up
if [ -z "${WZ_KEEP_CLUSTER:-}" ]; then trap 'scripts/cluster.sh down >/dev/null 2>&1 || true' EXIT; fi
scripts/cluster.sh status

t0=$(date +%s.%N)
since() { python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')"; }
RUST_LOG=error "$WZ" --config "$DIR/wz1.toml" bench load --target "http://127.0.0.1:8780" \
    --rate "$RATE" --duration "$DURATION" --concurrency 8 --wallets 64 --relying-parties 4 \
    --verdicts "$DIR/verdicts.jsonl" >"$DIR/load.out" 2>&1 &
load=$!

sleep 10
echo "failover: t=$(since) s  kill -9 wz serve node 2"
kill -9 "$(cat "$DIR/wz2.pid")"

sleep 8
primary=""
for n in 1 2 3; do
    if curl -sf "http://127.0.0.1:801$n/primary" >/dev/null 2>&1; then primary=$n; fi
done
[ -n "$primary" ] || { echo "failover: no primary found"; exit 1; }
echo "failover: t=$(since) s  kill -9 the PostgreSQL primary pg$primary (patroni and postmaster)"
pkill -9 -f "patroni $DIR/pg$primary.yml" || true
pkill -9 -f "$DIR/pg$primary/data" || true

new=""
for _ in $(seq 1 120); do
    for n in 1 2 3; do
        [ "$n" = "$primary" ] && continue
        if curl -sf "http://127.0.0.1:801$n/primary" >/dev/null 2>&1; then new=$n; fi
    done
    [ -n "$new" ] && break
    sleep 0.25
done
[ -n "$new" ] || { echo "failover: no new primary"; exit 1; }
echo "failover: t=$(since) s  pg$new is the new primary"

wait "$load" || { cat "$DIR/load.out"; echo "failover: the load generator failed"; exit 1; }
echo "--- load (times from its start, ~1 s before t=0 above)"
cat "$DIR/load.out"
echo "--- invariants"
"$WZ" --config "$DIR/wz1.toml" bench check "$DIR/verdicts.jsonl"
"$WZ" --config "$DIR/wz1.toml" admin check
passed=$(grep -c . "$DIR/verdicts.jsonl" || true)
[ "$passed" -gt 0 ] || { echo "failover: no verification passed"; exit 1; }
echo "failover: passed"
