#!/usr/bin/env bash
# A highly available PostgreSQL 15 for Loket on one machine, on loopback only (docs/ha.md):
# a pg_auto_failover monitor, a primary and a synchronous standby, each a private cluster in one
# folder, run by `pg_autoctl run` as the `postgres` user (when we are root; PostgreSQL refuses
# root). Installs Debian's postgresql-15-auto-failover if it is missing.
#
#   deploy/ha/setup.sh [--no-ssl] [--timeout S (120)] [DIR]
#
# DIR (default: a new /tmp/loket-ha.XXXXXX) holds everything: monitor/, node1/, node2/ (PGDATA),
# their logs (monitor.log, node1.log, node2.log), pg_autoctl's configuration and state (xdg/),
# the Unix sockets (sock/), ha.env (ports, names, URIs: for the test and for teardown.sh) and uri.
# TCP ports are free ports of 127.0.0.1 chosen at start; every server listens on 127.0.0.1 only.
# Network traffic is encrypted with self-signed certificates unless --no-ssl.
#
# When the formation is ready (one primary, one secondary, replication synchronous), the script
# prints the formation's multi-host conninfo on standard output, alone:
#   postgres://127.0.0.1:P1,127.0.0.1:P2/loket?target_session_attrs=read-write&sslmode=require&user=postgres
# Progress goes to standard error. On failure it stops what it started and leaves DIR for reading
# (deploy/ha/teardown.sh DIR removes it).
set -euo pipefail
# Only what this script says decides where libpq connects (deploy/test.sh exports its own cluster's).
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/local/postgres.sh
source "$here/../local/postgres.sh"

ssl=(--ssl-self-signed)
timeout=120
dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --no-ssl) ssl=(--no-ssl); shift ;;
        --timeout) timeout=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "usage: deploy/ha/setup.sh [--no-ssl] [--timeout S] [DIR]" >&2; exit 2 ;;
        *) dir=$1; shift ;;
    esac
done

ha_log() { printf '\033[1m[loket-ha]\033[0m %s\n' "$*" >&2; }
ha_die() { ha_log "error: $*"; exit 1; }

# --- Packages -------------------------------------------------------------------------------------
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v pg_autoctl >/dev/null || [ ! -f /usr/lib/postgresql/15/lib/pgautofailover.so ]; then
    candidate() { apt-cache policy postgresql-15-auto-failover 2>/dev/null | sed -n 's/^ *Candidate: \([0-9].*\)/\1/p'; }
    if [ -z "$(candidate)" ]; then
        ha_log "updating the package lists (no candidate for postgresql-15-auto-failover yet)"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    [ -n "$(candidate)" ] \
        || ha_die "no package postgresql-15-auto-failover for this system (apt-cache policy postgresql-15-auto-failover)"
    ha_log "installing postgresql-15-auto-failover"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql-15 postgresql-15-auto-failover >/dev/null
fi
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/pg_ctl" ] || ha_die "PostgreSQL 15 is not installed in $pgbin"
command -v psql >/dev/null || ha_die "psql is missing (apt-get install postgresql-client)"

# --- The folder -----------------------------------------------------------------------------------
if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/loket-ha.XXXXXX)
else
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/ha.env" ] || ha_die "$dir already holds a formation (deploy/ha/teardown.sh $dir first)"
fi
# Unix socket paths are limited to 107 bytes: ".../sock/.s.PGSQL.NNNNN".
[ ${#dir} -le 80 ] || ha_die "the folder's path is too long for Unix sockets: $dir"
mkdir -p "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run" "$dir/sock"
chmod 755 "$dir"
chmod 700 "$dir/xdg/run"
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
monitor_port=$(free_port)
node1_port=$(free_port)
node2_port=$(free_port)
while [ "$node1_port" = "$monitor_port" ]; do node1_port=$(free_port); done
while [ "$node2_port" = "$monitor_port" ] || [ "$node2_port" = "$node1_port" ]; do node2_port=$(free_port); done

# pg_autoctl keeps its configuration and state under XDG_CONFIG_HOME/XDG_DATA_HOME, its pid files
# under XDG_RUNTIME_DIR, and puts the servers' Unix sockets in PG_REGRESS_SOCK_DIR: all in DIR.
ha_env=(
    "XDG_CONFIG_HOME=$dir/xdg/config" "XDG_DATA_HOME=$dir/xdg/data" "XDG_RUNTIME_DIR=$dir/xdg/run"
    "PG_REGRESS_SOCK_DIR=$dir/sock" "PGHOST=$dir/sock" "PATH=$pgbin:/usr/sbin:/usr/bin:/sbin:/bin" "PGCONNECT_TIMEOUT=5"
)
autoctl() { (cd "$dir" && loket_as_owner env "${ha_env[@]}" pg_autoctl "$@"); }

cat >"$dir/ha.env" <<ENV
# Written by deploy/ha/setup.sh; read by deploy/ha/teardown.sh and tests/ha/.
LOKET_HA_DIR=$dir
LOKET_HA_MONITOR_PORT=$monitor_port
LOKET_HA_NODE1_PORT=$node1_port
LOKET_HA_NODE2_PORT=$node2_port
LOKET_HA_NODES="monitor node1 node2"
ENV

failed=1
on_exit() {
    if [ "$failed" = 1 ]; then
        ha_log "setup failed; the last lines of the logs in $dir:"
        for log in "$dir"/monitor.log "$dir"/node1.log "$dir"/node2.log; do
            [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
        done
        "$here/teardown.sh" --keep "$dir" >&2 || true
    fi
}
trap on_exit EXIT

# Starts `pg_autoctl run` for NAME in the background, in a session of its own, its output in
# DIR/NAME.log; DIR/NAME.wrapper.pid names the process (runuser, or pg_autoctl itself), whose
# process group holds the node's pg_autoctl and PostgreSQL.
run_node() {
    local name=$1
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    (cd "$dir" && exec setsid env "${ha_env[@]}" bash -c '
        if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- pg_autoctl run --pgdata "$1"; fi
        exec pg_autoctl run --pgdata "$1"' run-node "$dir/$name" </dev/null >>"$dir/$name.log" 2>&1 &
        echo $! >"$dir/$name.wrapper.pid")
}

# Keeps each server small (pg_autoctl sizes shared_buffers at a quarter of the machine's memory):
# postgresql.auto.conf is read after the file pg_autoctl writes, and the standby copies it.
small_server() {
    loket_as_owner bash -c "cat >>'$1/postgresql.auto.conf'" <<'CONF'
# deploy/ha/setup.sh: a small server on a shared machine
shared_buffers = '128MB'
effective_cache_size = '1GB'
maintenance_work_mem = '64MB'
work_mem = '8MB'
max_connections = 200
CONF
}

# Waits until `pg_autoctl show state` says NAME's current and assigned states are STATE.
wait_state() {
    local name=$1 want=$2 limit=$3 state=""
    local deadline=$((SECONDS + limit))
    while [ $SECONDS -lt $deadline ]; do
        state=$(autoctl show state --pgdata "$dir/monitor" --json 2>/dev/null | python3 -c '
import json, sys
name = sys.argv[1]
for node in json.load(sys.stdin):
    if node.get("nodename") == name:
        print(node.get("current_group_state"), node.get("assigned_group_state"))' "$name" 2>/dev/null || true)
        [ "$state" = "$want $want" ] && return 0
        sleep 1
    done
    ha_log "$name did not reach $want within ${limit}s (now: ${state:-unknown})"
    autoctl show state --pgdata "$dir/monitor" >&2 2>&1 || true
    return 1
}

# --- The monitor ----------------------------------------------------------------------------------
ha_log "monitor on 127.0.0.1:$monitor_port ($dir/monitor)"
autoctl create monitor --pgdata "$dir/monitor" --pgport "$monitor_port" --hostname 127.0.0.1 \
    --auth trust "${ssl[@]}" --pgctl "$pgbin/pg_ctl" >>"$dir/monitor.log" 2>&1 \
    || ha_die "pg_autoctl create monitor failed (see $dir/monitor.log)"
# The monitor would listen on every address ('*'); ours listens on loopback only.
autoctl config set --pgdata "$dir/monitor" postgresql.listen_addresses 127.0.0.1 >>"$dir/monitor.log" 2>&1
small_server "$dir/monitor"
run_node monitor
monitor_uri=""
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    monitor_uri=$(autoctl show uri --pgdata "$dir/monitor" --formation monitor 2>/dev/null || true)
    if [ -n "$monitor_uri" ] && psql "$monitor_uri" -qAtX -c 'SELECT 1' >/dev/null 2>&1; then break; fi
    monitor_uri=""
    sleep 0.5
done
[ -n "$monitor_uri" ] || ha_die "the monitor did not start (see $dir/monitor.log)"
echo "LOKET_HA_MONITOR_URI='$monitor_uri'" >>"$dir/ha.env"

# --- The primary and the standby ------------------------------------------------------------------
create_node() {
    local name=$1 port=$2
    ha_log "$name on 127.0.0.1:$port ($dir/$name)"
    autoctl create postgres --pgdata "$dir/$name" --name "$name" --pgport "$port" --hostname 127.0.0.1 \
        --listen 127.0.0.1 --dbname loket --monitor "$monitor_uri" --auth trust "${ssl[@]}" \
        --pgctl "$pgbin/pg_ctl" --replication-quorum true --candidate-priority 50 >>"$dir/$name.log" 2>&1 \
        || ha_die "pg_autoctl create postgres for $name failed (see $dir/$name.log)"
}
create_node node1 "$node1_port"
small_server "$dir/node1"
run_node node1
wait_state node1 single "$timeout" || ha_die "the first node did not start"

create_node node2 "$node2_port"
run_node node2
wait_state node2 secondary "$timeout" || ha_die "the standby did not catch up"
wait_state node1 primary "$timeout" || ha_die "the first node did not become primary"

# --- Synchronous replication ----------------------------------------------------------------------
# Both nodes take part in the replication quorum, and the formation asks for no more synchronous
# standbys than the one there is (number_sync_standbys 0; 1 would need two standbys): the primary
# then sets synchronous_standby_names to 'ANY 1 (…node2…)', so a COMMIT returns only once the
# standby has flushed its WAL (synchronous_commit = on). pg_autoctl 2.0's
# `set formation number-sync-standbys N` refuses every N ("value N is not valid. Expected a
# non-negative integer value"), so the monitor's own function sets it.
psql "$monitor_uri" -qAtX -v ON_ERROR_STOP=1 \
    -c "SELECT pgautofailover.set_formation_number_sync_standbys('default', 0)" >>"$dir/monitor.log" 2>&1 \
    || ha_die "setting number_sync_standbys failed (see $dir/monitor.log)"
nss=$(autoctl get formation number-sync-standbys --pgdata "$dir/monitor" 2>>"$dir/monitor.log" | tr -d '[:space:]')
[ "$nss" = 0 ] || ha_die "number_sync_standbys is ${nss:-unknown}, expected 0"
# Each node was created with --replication-quorum true; check it. (Not `pg_autoctl set node
# replication-quorum true`: pg_autoctl 2.0 sometimes sends the monitor garbage for the group
# there, "invalid byte sequence for encoding "UTF8"", and fails.)
quorum=$(autoctl show state --pgdata "$dir/monitor" --json 2>/dev/null | python3 -c '
import json, sys
print(" ".join("%s=%s" % (n["nodename"], str(n.get("replication_quorum")).lower()) for n in json.load(sys.stdin)))' || true)
[ "$quorum" = "node1=true node2=true" ] || ha_die "replication quorum: ${quorum:-unknown}, expected both true"
primary_local="host=$dir/sock port=$node1_port dbname=loket user=postgres"
sync=""
deadline=$((SECONDS + timeout))
while [ $SECONDS -lt $deadline ]; do
    sync=$(psql "$primary_local" -qAtX -c "SELECT current_setting('synchronous_standby_names') || ' / ' || current_setting('synchronous_commit') || ' / ' || coalesce((SELECT string_agg(application_name || '=' || sync_state, ',') FROM pg_stat_replication), 'no standby')" 2>/dev/null || true)
    case $sync in
        "ANY 1 "*" / on / "*=sync*|"ANY 1 "*" / on / "*=quorum*) break ;;
    esac
    sleep 1
done
case $sync in
    "ANY 1 "*" / on / "*=sync*|"ANY 1 "*" / on / "*=quorum*) ;;
    *) ha_die "replication is not synchronous: synchronous_standby_names / synchronous_commit / standbys = ${sync:-unknown}" ;;
esac
ha_log "synchronous: $sync"
# Settings changes pass through apply_settings: wait until both nodes are settled again.
wait_state node1 primary "$timeout" || ha_die "the primary did not settle"
wait_state node2 secondary "$timeout" || ha_die "the standby did not settle"

# --- The conninfo ---------------------------------------------------------------------------------
uri=$(autoctl show uri --pgdata "$dir/monitor" --formation default) || ha_die "pg_autoctl show uri failed"
case $uri in
    *target_session_attrs=read-write*) ;;
    *) ha_die "the formation's URI has no target_session_attrs=read-write: $uri" ;;
esac
# pg_autoctl's URI names no user; Loket connects as the clusters' owner (trust on loopback).
case $uri in
    *\?*) uri="$uri&user=postgres" ;;
    *) uri="$uri?user=postgres" ;;
esac
psql "$uri" -qAtX -c 'SELECT 1' >/dev/null || ha_die "cannot connect with $uri"
echo "LOKET_HA_URI='$uri'" >>"$dir/ha.env"
echo "$uri" >"$dir/uri"
autoctl show state --pgdata "$dir/monitor" >&2 2>&1 || true
ha_log "ready in ${SECONDS}s; stop and remove it with: deploy/ha/teardown.sh $dir"
failed=0
echo "$uri"
