#!/usr/bin/env bash
# Runs Loket locally: installs what is missing, builds loketd and loket in release mode, creates and
# starts a private PostgreSQL cluster in a temporary folder (as the `postgres` user when run as
# root), applies migrations, loads the sample Kota Serang catalog, and runs the server
# (LOKET_PORT, default 8080) with the worker beside it (its metrics on LOKET_WORKER_METRICS_PORT,
# default 9091).
# Ctrl-C, SIGTERM, or either process ending stops the server, the worker and the cluster, and
# removes the folder: every run starts from a fresh database with the sample catalog.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/postgres.sh

if [ "${1:-}" = stop ]; then
    # Clusters of this script are stopped when it ends; one left by an older version of it lived
    # under .local/postgres.
    if [ -f .local/postgres/data/PG_VERSION ]; then
        loket_pg_stop "$PWD/.local/postgres"
        loket_log "stopped the cluster an older deploy/run.sh left in .local/postgres"
    else
        loket_log "nothing to stop: deploy/run.sh stops its database itself when it ends"
    fi
    exit 0
fi

port=${LOKET_PORT:-8080}
metrics=${LOKET_WORKER_METRICS_PORT:-9091}
for wanted in "$port" "$metrics"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$wanted") 2>/dev/null; then
        loket_log "port $wanted is taken on 127.0.0.1; set LOKET_PORT or LOKET_WORKER_METRICS_PORT to a free one"
        exit 1
    fi
done

loket_ensure_prerequisites
# Built first: a failed build leaves nothing running.
swift build -c release --product loketd
swift build -c release --product loket
loketd=$(swift build -c release --show-bin-path)/loketd

cluster=$(mktemp -d /tmp/loket-run.XXXXXX)
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do loket_stop_pid "$pid" & done
    wait
    loket_pg_stop "$cluster"
    rm -rf "$cluster"
    loket_log "stopped; the database in $cluster is removed"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

loket_pg_start "$cluster" run
psql -q -d postgres -c "CREATE DATABASE loket"
export PGDATABASE=loket
"$loketd" migrate
"$loketd" seed
"$loketd" migrate --status

cat <<INFO

Loket is starting on http://127.0.0.1:$port (PostgreSQL on socket $cluster, database "loket").
  catalog:  curl http://127.0.0.1:$port/api/v1/services
  API doc:  http://127.0.0.1:$port/openapi.yaml
  officers: $(dirname "$loketd")/loket login http://127.0.0.1:$port
            (a token: PGHOST=$cluster PGUSER=postgres PGDATABASE=loket "$loketd" admin token issue --nip 199001142015032002)
  psql:     PGHOST=$cluster PGPORT=$PGPORT PGUSER=postgres psql loket
  stop:     Ctrl-C (the server, the worker and the database)
INFO
export LOKET_DATABASE_URL="host=$cluster port=$PGPORT user=postgres dbname=loket"
"$loketd" worker --metrics-port "$metrics" &
pids+=("$!")
"$loketd" serve --port "$port" &
pids+=("$!")
# Until one of them ends (or a signal ends the script); the EXIT trap stops the other.
set +e
wait -n "${pids[@]}"
status=$?
set -e
loket_log "a process ended (status $status); stopping the rest"
exit "$status"
