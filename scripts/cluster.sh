#!/usr/bin/env bash
# A highly available wangzheng on loopback, from Debian's packages:
#   etcd-server (one member, the DCS) ·
#   three PostgreSQL 15 instances managed by patroni, synchronous replication
#     (synchronous_mode_strict: an acknowledged commit is on two nodes) ·
#   haproxy: 127.0.0.1:5439 → the current primary (patroni's /primary check),
#            127.0.0.1:8780 → three `wz serve` nodes (their /readyz) ·
#   three `wz serve` nodes on 127.0.0.1:8781-8783 (plain HTTP behind haproxy).
#
#   scripts/cluster.sh up       start everything (installs the packages first)
#   scripts/cluster.sh status   who is primary, what is up
#   scripts/cluster.sh down     stop everything and delete the cluster's data
#
# WZ_CLUSTER_DIR (default /var/tmp/wz-cluster) holds data, configs and logs;
# WZ_BIN the wz binary (default: target/release/wz, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${WZ_CLUSTER_DIR:-/var/tmp/wz-cluster}"
PGBIN=/usr/lib/postgresql/15/bin
PG_PORTS=(5441 5442 5443)
REST_PORTS=(8011 8012 8013)
WZ_PORTS=(8781 8782 8783)
ETCD_CLIENT=23790
ETCD_PEER=23800
PG_FRONT=5439
WZ_FRONT=8780
STATS=8790
ADMIN_TOKEN_FILE="$DIR/admin-token"

log() { echo "cluster: $*"; }

install_packages() {
    local missing=()
    command -v patroni >/dev/null 2>&1 || missing+=(patroni)
    command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    [ -x "$PGBIN/postgres" ] || missing+=(postgresql-15)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    # The Debian packages start their own services where systemd runs; this
    # cluster runs its own processes on its own ports instead.
}

wz_bin() {
    local bin="${WZ_BIN:-${CARGO_TARGET_DIR:-target}/release/wz}"
    if [ ! -x "$bin" ]; then
        log "building wz (release)"
        cargo build --release --locked -p wz >/dev/null
    fi
    echo "$bin"
}

as_postgres() { runuser -u postgres -- "$@"; }

# Waits until `cmd` succeeds, at most $1 seconds.
wait_for() {
    local secs="$1"; shift
    for _ in $(seq 1 "$((secs * 4))"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    return 1
}

primary_rest() {
    for p in "${REST_PORTS[@]}"; do
        if curl -sf "http://127.0.0.1:$p/primary" >/dev/null 2>&1; then echo "$p"; return 0; fi
    done
    return 1
}

patroni_config() { # index
    local i="$1" n=$(( $1 + 1 ))
    cat <<YAML
scope: wz
namespace: /wz-cluster/
name: pg$n
restapi:
  listen: 127.0.0.1:${REST_PORTS[$i]}
  connect_address: 127.0.0.1:${REST_PORTS[$i]}
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 200
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: "on"
  initdb:
    - encoding: UTF8
    - data-checksums
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${PG_PORTS[$i]}
  connect_address: 127.0.0.1:${PG_PORTS[$i]}
  data_dir: $DIR/pg$n/data
  bin_dir: $PGBIN
  pgpass: $DIR/pg$n/pgpass
  authentication:
    superuser: {username: postgres, password: wz-cluster}
    replication: {username: replicator, password: wz-cluster}
    rewind: {username: postgres, password: wz-cluster}
  parameters:
    unix_socket_directories: $DIR/pg$n
tags:
  nofailover: false
  noloadbalance: false
YAML
}

haproxy_config() {
    cat <<CFG
global
    maxconn 4096
    log stdout format raw local0 warning
defaults
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 2
listen stats
    mode http
    bind 127.0.0.1:$STATS
    stats enable
    stats uri /
listen postgres_primary
    mode tcp
    bind 127.0.0.1:$PG_FRONT
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
$(for i in 0 1 2; do echo "    server pg$((i + 1)) 127.0.0.1:${PG_PORTS[$i]} check port ${REST_PORTS[$i]}"; done)
listen wz
    mode http
    bind 127.0.0.1:$WZ_FRONT
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    option redispatch
    retry-on conn-failure empty-response response-timeout
    default-server inter 1s fall 2 rise 2
$(for i in 0 1 2; do echo "    server wz$((i + 1)) 127.0.0.1:${WZ_PORTS[$i]} check"; done)
CFG
}

wz_config() { # index
    cat <<TOML
database_url = "postgres://postgres@127.0.0.1:$PG_FRONT/wz"
listen = "127.0.0.1:${WZ_PORTS[$1]}"
master_key_file = "$DIR/master.key"
tls = "off"
trusted_proxies = ["127.0.0.1"]
log_json = true
TOML
}

start_wz() { # index
    local i="$1" n=$(( $1 + 1 ))
    WZ_ADMIN_TOKEN="$(cat "$ADMIN_TOKEN_FILE")" RUST_LOG=warn RUST_BACKTRACE=0 \
        setsid "$(wz_bin)" --config "$DIR/wz$n.toml" serve >"$DIR/wz$n.log" 2>&1 &
    echo $! >"$DIR/wz$n.pid"
}

up() {
    install_packages
    local wz; wz="$(wz_bin)"
    if [ -f "$DIR/etcd.pid" ] && kill -0 "$(cat "$DIR/etcd.pid")" 2>/dev/null; then
        log "already up (scripts/cluster.sh down first)"; return 1
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"; chmod 755 "$DIR"
    log "etcd on 127.0.0.1:$ETCD_CLIENT"
    setsid etcd --name wz --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
        --initial-cluster "wz=http://127.0.0.1:$ETCD_PEER" >"$DIR/etcd.log" 2>&1 &
    echo $! >"$DIR/etcd.pid"
    wait_for 20 curl -sf "http://127.0.0.1:$ETCD_CLIENT/health" || { log "etcd did not start"; tail "$DIR/etcd.log"; return 1; }
    for i in 0 1 2; do
        local n=$(( i + 1 ))
        mkdir -p "$DIR/pg$n"; chown postgres:postgres "$DIR/pg$n"; chmod 700 "$DIR/pg$n"
        patroni_config "$i" >"$DIR/pg$n.yml"; chown postgres "$DIR/pg$n.yml"
        touch "$DIR/pg$n.log"; chown postgres "$DIR/pg$n.log"
        as_postgres setsid patroni "$DIR/pg$n.yml" >>"$DIR/pg$n.log" 2>&1 &
        echo $! >"$DIR/pg$n.pid"
        if [ "$i" = 0 ]; then
            log "patroni pg1 bootstrapping the primary"
            wait_for 60 curl -sf "http://127.0.0.1:${REST_PORTS[0]}/primary" || { log "no primary"; tail -20 "$DIR/pg1.log"; return 1; }
        fi
    done
    log "waiting for two replicas streaming (one synchronous)"
    wait_for 90 bash -c "curl -sf http://127.0.0.1:${REST_PORTS[0]}/cluster | python3 -c 'import json,sys; c=json.load(sys.stdin); m=c[\"members\"]; sys.exit(0 if sum(1 for x in m if x.get(\"state\") in (\"running\",\"streaming\")) == 3 and any(x[\"role\"]==\"sync_standby\" for x in m) else 1)'" \
        || { log "replicas did not come up"; status; return 1; }
    haproxy_config >"$DIR/haproxy.cfg"
    setsid haproxy -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
    echo $! >"$DIR/haproxy.pid"
    # haproxy counts every server up until its first checks: wait until the
    # front door has led to the primary several times in a row.
    wait_for 30 bash -c "for k in 1 2 3 4 5 6; do [ \"\$(psql -h 127.0.0.1 -p $PG_FRONT -U postgres -d postgres -Atc 'select pg_is_in_recovery()')\" = f ] || exit 1; sleep 0.3; done" \
        || { log "haproxy → primary failed"; return 1; }
    psql -h 127.0.0.1 -p "$PG_FRONT" -U postgres -d postgres -qc "CREATE DATABASE wz" >/dev/null
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/master.key"
    chmod 600 "$DIR/master.key"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$ADMIN_TOKEN_FILE"; chmod 600 "$ADMIN_TOKEN_FILE"
    for i in 0 1 2; do wz_config "$i" >"$DIR/wz$((i + 1)).toml"; done
    # The first node creates the schema and the platform keys; then the others.
    start_wz 0
    wait_for 60 curl -sf "http://127.0.0.1:${WZ_PORTS[0]}/readyz" || { log "wz1 did not start"; tail "$DIR/wz1.log"; return 1; }
    start_wz 1; start_wz 2
    for i in 1 2; do
        wait_for 60 curl -sf "http://127.0.0.1:${WZ_PORTS[$i]}/readyz" || { log "wz$((i + 1)) did not start"; tail "$DIR/wz$((i + 1)).log"; return 1; }
    done
    wait_for 20 curl -sf "http://127.0.0.1:$WZ_FRONT/readyz" || { log "haproxy → wz failed"; return 1; }
    log "up: platform http://127.0.0.1:$WZ_FRONT (3 nodes), PostgreSQL primary via 127.0.0.1:$PG_FRONT, haproxy stats http://127.0.0.1:$STATS/"
    log "config of node 1: $DIR/wz1.toml; admin token in $ADMIN_TOKEN_FILE"
}

status() {
    if ! curl -sf "http://127.0.0.1:$ETCD_CLIENT/health" >/dev/null 2>&1; then log "down"; return 0; fi
    curl -sf "http://127.0.0.1:${REST_PORTS[0]}/cluster" 2>/dev/null \
        || curl -sf "http://127.0.0.1:${REST_PORTS[1]}/cluster" 2>/dev/null \
        || curl -sf "http://127.0.0.1:${REST_PORTS[2]}/cluster" 2>/dev/null || true
    echo
    python3 - "$DIR" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
for port in (8011, 8012, 8013):
    try:
        c = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/cluster", timeout=2))
    except Exception:
        continue
    for m in c["members"]:
        print(f"  {m['name']}: {m['role']:<13} {m.get('state', '?'):<10} lag {m.get('lag', 0)}")
    break
PY
    for i in 0 1 2; do
        if curl -sf "http://127.0.0.1:${WZ_PORTS[$i]}/readyz" >/dev/null 2>&1; then s=ready; else s=down; fi
        echo "  wz$((i + 1)) 127.0.0.1:${WZ_PORTS[$i]}: $s"
    done
}

cluster_pids() {
    pgrep -f "$DIR/(pg[123]|etcd|haproxy|wz[123])" || true
}

down() {
    pkill -f "$DIR/(pg[123]\.yml|wz[123]\.toml|haproxy\.cfg|etcd)" 2>/dev/null || true
    # patroni stops its PostgreSQL on SIGTERM; give it time, then force.
    for _ in $(seq 1 40); do
        [ -z "$(cluster_pids)" ] && break
        sleep 0.25
    done
    for p in $(cluster_pids); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$DIR"
    log "down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: scripts/cluster.sh up|status|down" >&2; exit 2 ;;
esac
