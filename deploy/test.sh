#!/usr/bin/env bash
# Runs every test of Loket against a private, throwaway PostgreSQL cluster.
# Installs what is missing (apt-get: postgresql, libpq-dev), starts the cluster in a temporary
# folder, builds, runs `swift test` (tests run in parallel; each test uses its own database), and
# stops and removes the cluster whatever happens. Extra arguments go to `swift test`
# (e.g. deploy/test.sh --filter Migrator).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/postgres.sh

loket_ensure_prerequisites
# Deployment files are linted by real tools first (systemd-analyze, hadolint, kubernetes-validate, …).
tests/deploy/lint.sh
cluster=$(mktemp -d /tmp/loket-test-pg.XXXXXX)
cleanup() { loket_pg_stop "$cluster"; rm -rf "$cluster"; }
trap cleanup EXIT
loket_pg_start "$cluster" test
export PGDATABASE=postgres
loket_log "test cluster on socket $cluster"

swift build --build-tests
swift test --skip-build "$@"
# The pages in a real headless Chromium (Selenium), and the short reliability checks, when the whole
# suite runs.
[ $# -gt 0 ] || tests/browser/run.sh
