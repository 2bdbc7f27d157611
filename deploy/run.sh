#!/usr/bin/env bash
# Runs Loket locally: installs what is missing, creates (once) and starts a private PostgreSQL
# cluster under .local/postgres, builds loketd in release mode, applies migrations, loads the
# sample Kota Serang catalog and runs the server in the foreground (LOKET_PORT, default 8080)
# with the worker beside it (its metrics on LOKET_WORKER_METRICS_PORT, default 9091).
# The cluster keeps running after the server stops: `deploy/run.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/postgres.sh
cluster="$PWD/.local/postgres"

if [ "${1:-}" = stop ]; then
    loket_pg_stop "$cluster"
    loket_log "stopped the cluster in $cluster"
    exit 0
fi

loket_ensure_prerequisites
loket_pg_start "$cluster" run
psql -qAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'loket'" | grep -q 1 \
    || psql -q -d postgres -c "CREATE DATABASE loket"
export PGDATABASE=loket

swift build -c release --product loketd
swift build -c release --product loket
loketd=$(swift build -c release --show-bin-path)/loketd
"$loketd" migrate
"$loketd" seed
"$loketd" migrate --status

port=${LOKET_PORT:-8080}
cat <<INFO

Loket is starting on http://127.0.0.1:$port (PostgreSQL on socket $cluster, database "loket").
  catalog:  curl http://127.0.0.1:$port/api/v1/services
  API doc:  http://127.0.0.1:$port/openapi.yaml
  officers: $(dirname "$loketd")/loket login http://127.0.0.1:$port   (token: "$loketd" admin token issue --nip NIP)
  psql:     PGHOST=$cluster PGPORT=5432 PGUSER=postgres psql loket
  stop:     Ctrl-C (the server), then deploy/run.sh stop (the database)
INFO
export LOKET_DATABASE_URL="host=$cluster port=5432 user=postgres dbname=loket"
# The worker runs beside the server and stops with it.
"$loketd" worker --metrics-port "${LOKET_WORKER_METRICS_PORT:-9091}" &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT
"$loketd" serve --port "$port"
