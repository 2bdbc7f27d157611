#!/usr/bin/env bash
# Runs Loket locally: installs what is missing, creates (once) and starts a private PostgreSQL
# cluster under .local/postgres, builds loketd in release mode, applies migrations and loads the
# sample Kota Serang catalog. The cluster keeps running afterwards (stop it with
# `deploy/run.sh stop`); connection settings for psql are printed at the end.
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
loketd=$(swift build -c release --show-bin-path)/loketd
"$loketd" migrate
"$loketd" seed
"$loketd" migrate --status

cat <<INFO

Loket's database is ready: PostgreSQL on socket $cluster, database "loket".
  psql:     PGHOST=$cluster PGPORT=5432 PGUSER=postgres psql loket
  loketd:   LOKET_DATABASE_URL="host=$cluster port=5432 user=postgres dbname=loket" $loketd --help
  stop:     deploy/run.sh stop
INFO
