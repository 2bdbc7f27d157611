#!/usr/bin/env bash
# Runs every test of Loket against a private, throwaway PostgreSQL cluster.
# Installs what is missing (apt-get: postgresql, libpq-dev, openssl), lints the deployment files, builds,
# runs the whole-system checks (failover, browser, and the reliability checks in their short mode:
# server killed during intake, PostgreSQL restarted under load, the hostile-input corpus,
# schemathesis), then starts a cluster in a temporary folder (Unix socket, plus a loopback TLS
# listener for the TLS suite) and runs `swift test` (tests run in parallel; each test uses its own
# database), and stops and removes the cluster whatever happens.
# Extra arguments go to `swift test` and skip the whole-system checks
# (e.g. deploy/test.sh --filter Migrator).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/postgres.sh

loket_ensure_prerequisites
# Deployment files are linted by real tools first (systemd-analyze, hadolint, kubernetes-validate, …).
tests/deploy/lint.sh
swift build --build-tests

if [ $# -eq 0 ]; then
    # Whole-system checks, each with its own private PostgreSQL: failover between a primary and a
    # synchronous standby under intake load (pg_auto_failover; installs its package first, before any
    # cluster of ours runs), and the pages in a real headless Chromium (Selenium).
    tests/ha/failover-during-intake.sh --no-build
    tests/browser/run.sh
    # Reliability checks in short mode, each once (schemathesis among them: it runs nowhere else
    # here), each with its own cluster and a time limit; about 2.5 minutes on 2 cores.
    tests/reliability/run.sh
fi

cluster=$(mktemp -d /tmp/loket-test-pg.XXXXXX)
cleanup() { loket_pg_stop "$cluster"; rm -rf "$cluster"; }
trap cleanup EXIT
loket_pg_start "$cluster" test tls
export PGDATABASE=postgres
loket_log "test cluster on socket $cluster, TLS on 127.0.0.1:$LOKET_TEST_TLS_PORT"
swift test --skip-build "$@"
