#!/bin/sh
# Run by the postgres image once, when it initialises an empty data volume: makes PostgreSQL
# read Loket's settings (deploy/postgresql/loket.conf, mounted by compose.yaml).
set -eu
printf "\n# Loket's settings (deploy/postgresql/loket.conf)\ninclude_if_exists = '/etc/postgresql/loket.conf'\n" \
    >> "$PGDATA/postgresql.conf"
