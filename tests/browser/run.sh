#!/usr/bin/env bash
# Browser tests of Loket's HTML pages in a real headless Chromium (Debian's chromium and
# chromium-driver) driven by Selenium (PyPI):
#
#   tests/browser/run.sh [-- extra pytest arguments]
#
# Installs what is missing (apt-get: chromium, chromium-driver; a virtual environment under /tmp
# with selenium and pytest, LOKET_BROWSER_VENV), builds loketd (debug), starts a private throwaway
# PostgreSQL cluster, migrates and seeds it, starts `loketd serve` on a free loopback port,
# creates the fixture through the real APIs (tests/browser/fixture.py: citizens file requests, an
# officer claims, resolves, rejects and asks, citizens rate), issues a manager token, then runs
# tests/browser/test_pages.py. Screenshots go to tests/browser/artifacts/ (git-ignored).
# Everything it started is stopped and removed when it ends; pytest is bounded by
# LOKET_BROWSER_TIMEOUT seconds (default 600). Works as root (CI): Chromium runs with --no-sandbox.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source deploy/local/postgres.sh

extra=()
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || { echo "usage: tests/browser/run.sh [-- pytest arguments]" >&2; exit 2; }
    shift
    extra=("$@")
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    loket_log "installing chromium and chromium-driver"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# Per user, and never one someone else made: its python runs as us (as root in CI).
venv=${LOKET_BROWSER_VENV:-/tmp/loket-browser-venv-$(id -u)}
if [ -L "$venv" ] || { [ -e "$venv" ] && [ ! -O "$venv" ]; }; then
    loket_log "$venv belongs to another user; remove it or set LOKET_BROWSER_VENV"
    exit 2
fi
# Two first runs at once would each remove and rebuild the other's half-made venv: one at a time.
[ ! -L "$venv.lock" ] || { loket_log "$venv.lock is a link; remove it"; exit 2; }
exec 8>>"$venv.lock"
flock -w 600 8 || { loket_log "another run holds $venv.lock"; exit 2; }
if ! "$venv/bin/python" -c 'import selenium, pytest' >/dev/null 2>&1; then
    loket_log "installing selenium and pytest into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q 'selenium>=4.20,<5' 'pytest>=8'
fi

loket_ensure_prerequisites
work=$(mktemp -d /tmp/loket-browser.XXXXXX)
chmod 755 "$work"
cluster="$work/pg"
server_pid=""
cleanup() {
    loket_stop_pid "$server_pid"
    loket_pg_stop "$cluster"
    loket_show_server_errors "$work/loketd.log"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loket_log "building loketd"
loketd=$(loket_build_loketd "$work/build.log") || { echo 'browser tests: build failed' >&2; exit 1; }

loket_pg_start "$cluster" test
loket_create_database "$loketd" "$work/migrate.log" || exit 1

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The fixture's two IKM ratings are published (the default withholds fewer than five), so the
# pages' IKM is checked as a reader sees it.
LOKET_SESSION_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
    "$loketd" serve --sql-dir SQL --bind 127.0.0.1 --port "$port" --pool-size 8 --trust-forwarded-for \
    --public-ikm-minimum-respondents 2 --log-level warning >"$work/loketd.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/loketd.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { echo "browser tests: loketd is not ready" >&2; cat "$work/loketd.log" >&2; exit 1; }

# From the sample staff: an officer (role staff) of the unit kk-baru requests from 36.73.01 go to,
# and the manager of the agency above it.
officer_token=$("$loketd" admin token issue --sql-dir SQL --nip 199001142015032002 --label "browser tests" 2>/dev/null)
manager_token=$("$loketd" admin token issue --sql-dir SQL --nip 197506202000031002 --label "browser tests" 2>/dev/null)
python3 tests/browser/fixture.py "$base" "$officer_token" >"$work/fixture.json" \
    || { echo "browser tests: creating the fixture failed" >&2; cat "$work/loketd.log" >&2; exit 1; }
# The one step no API can take: let time pass for the request that stays queued, so that its
# response deadline lies in the past and the dashboard lists it as a breach.
queued=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["queued"]["code"])' "$work/fixture.json")
psql -q -v ON_ERROR_STOP=1 -v code="$queued" >/dev/null <<'SQL'
UPDATE service_requests
SET created_at = now() - interval '10 days', response_due_at = now() - interval '3 days', resolution_due_at = now() - interval '1 day'
WHERE tracking_code = :'code';
SQL

artifacts="$root/tests/browser/artifacts"
rm -rf "$artifacts"
mkdir -p "$artifacts"
export PYTHONDONTWRITEBYTECODE=1 LOKET_BASE_URL="$base" LOKET_FIXTURE="$work/fixture.json" LOKET_MANAGER_TOKEN="$manager_token" LOKET_ARTIFACTS="$artifacts"
loket_log "browser tests against $base (screenshots in tests/browser/artifacts/)"
status=0
timeout --kill-after 30 "${LOKET_BROWSER_TIMEOUT:-600}" "$venv/bin/pytest" -q -rf --tb=short -p no:cacheprovider tests/browser/test_pages.py "${extra[@]}" || status=$?
[ "$status" = 0 ] || loket_log "browser tests failed (exit $status)"
exit "$status"
