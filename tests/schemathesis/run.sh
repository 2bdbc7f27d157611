#!/usr/bin/env bash
# Property-based API testing of loketd against its own OpenAPI document (/openapi.yaml) with
# schemathesis (PyPI). Builds loketd (debug), starts a private throwaway PostgreSQL cluster,
# migrates and seeds it, starts `loketd serve` on a free loopback port, files a few requests (with
# a document each) for the hooks to use, runs schemathesis, then stops everything.
#
#   tests/schemathesis/run.sh [--full] [--max-examples N (100)] [--max-time S (240)] [--seed N]
#                             [-- extra schemathesis arguments]
#
# Default checks: not_a_server_error and response_schema_conformance (the acceptance bar: no
# 5xx and no answer that contradicts the document). --full runs every check schemathesis has
# (status codes, content types, headers, negative-data rejection, unsupported methods, ...)
# except ignored_auth, which the hooks' real tokens would trip. Both modes are expected to pass.
# Check settings are in tests/schemathesis/schemathesis.toml (413 counts as refusing invalid data);
# the hooks (tests/schemathesis/hooks.py) get the filed requests, tokens and catalog from here.
# Exits non-zero when schemathesis finds a failure. Schemathesis is installed into a virtual
# environment under /tmp (LOKET_SCHEMATHESIS_VENV) the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source deploy/local/postgres.sh

full=0 max_examples=100 max_time=240 seed=""
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --full) full=1; shift ;;
        --max-examples) max_examples=$2; shift 2 ;;
        --max-time) max_time=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: tests/schemathesis/run.sh [--full] [--max-examples N] [--max-time S] [--seed N] [-- schemathesis args]" >&2; exit 2 ;;
    esac
done

# Python 3.11 before 3.11.8 can fail inside schemathesis ("AST constructor recursion depth
# mismatch"), so a newer interpreter is preferred when there is one.
pick_python() {
    local candidate
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for candidate in "${LOKET_PYTHON:-}" python3.13 python3.12 "$pyenv_root"/versions/3.13*/bin/python3 \
        "$pyenv_root"/versions/3.12*/bin/python3 python3; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            echo "$candidate"; return 0
        fi
    done
    echo python3
}
# Per user, and never one someone else made: its programs run as us (as root in CI).
venv=${LOKET_SCHEMATHESIS_VENV:-/tmp/loket-schemathesis-venv-$(id -u)}
if [ -L "$venv" ] || { [ -e "$venv" ] && [ ! -O "$venv" ]; }; then
    loket_log "$venv belongs to another user; remove it or set LOKET_SCHEMATHESIS_VENV"
    exit 2
fi
# Two first runs at once would each remove and rebuild the other's half-made venv: one at a time.
[ ! -L "$venv.lock" ] || { loket_log "$venv.lock is a link; remove it"; exit 2; }
exec 8>>"$venv.lock"
flock -w 600 8 || { loket_log "another run holds $venv.lock"; exit 2; }
if [ ! -x "$venv/bin/schemathesis" ]; then
    python=$(pick_python)
    loket_log "installing schemathesis into $venv ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi
loket_log "$("$venv/bin/schemathesis" --version)"

loket_ensure_prerequisites
work=$(mktemp -d /tmp/loket-schemathesis.XXXXXX)
chmod 755 "$work"
cluster="$work/pg"
server_pid=""
cleanup() {
    loket_stop_pid "$server_pid"
    loket_pg_stop "$cluster"
    loket_show_server_errors "$work/loketd.log"
    rm -rf "$work"
}
# Set before the build, so that an interrupted build leaves no work folder behind.
trap cleanup EXIT
trap 'exit 130' INT TERM
loket_log "building loketd"
loketd=$(loket_build_loketd "$work/build.log") || { echo 'schemathesis: build failed' >&2; exit 1; }

loket_pg_start "$cluster" test
loket_create_database "$loketd" "$work/migrate.log" || exit 1

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$loketd" serve --sql-dir SQL --bind 127.0.0.1 --port "$port" --pool-size 8 --trust-forwarded-for \
    --log-level warning >"$work/loketd.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/loketd.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { echo "schemathesis: loketd is not ready" >&2; cat "$work/loketd.log" >&2; exit 1; }

# A few real requests, each with a small PDF, for the hooks (tracking code, token, document id).
printf '%%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' >"$work/sample.pdf"
filed=""
for serial in 0001 0002 0003 0004 0005 0006; do
    answer=$(curl -fsS -H 'Content-Type: application/json' -H "X-Forwarded-For: 10.254.0.${serial#000}" \
        -d "{\"service_code\":\"kk-baru\",\"citizen\":{\"name\":\"Siti Aminah\",\"nik\":\"367301250585${serial}\",\"phone\":\"0812-3456-7890\",\"email\":\"siti@example.id\"},\"area_code\":\"36.73.01.1001\",\"address\":\"Jl. Ki Mas Jong No. 5\",\"description\":\"Permohonan KK baru\",\"attributes\":{\"alasan\":\"keluarga_baru\"}}" \
        "$base/api/v1/requests") || { echo "schemathesis: filing a sample request failed" >&2; cat "$work/loketd.log" >&2; exit 1; }
    read -r code token unit < <(python3 -c 'import json, sys; a = json.load(sys.stdin); print(a["tracking_code"], a["access_token"], a["unit"]["code"])' <<<"$answer")
    document=$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/pdf' -H "X-Forwarded-For: 10.253.0.${serial#000}" \
        --data-binary "@$work/sample.pdf" "$base/api/v1/requests/$code/documents?filename=surat.pdf" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    filed+="$code $token $document $unit"$'\n'
done
export LOKET_FUZZ_REQUESTS="$filed"
# A staff token for a supervisor of the unit those requests went to, and an Open311 partner key,
# stored the way loketd stores them (SHA-256 of the secret and its first 8 characters).
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
staff_token="lks_$(secret)" manager_token="lks_$(secret)" api_key="lk_$(secret)"
psql -q -v ON_ERROR_STOP=1 -v token="$staff_token" -v manager="$manager_token" -v key="$api_key" >/dev/null <<'SQL'
INSERT INTO api_tokens (staff_id, token_hash, token_prefix, label)
SELECT s.id, sha256(convert_to(:'token', 'UTF8')), left(:'token', 8), 'schemathesis'
FROM staff s
WHERE s.unit_id = (SELECT unit_id FROM service_requests ORDER BY id LIMIT 1) AND s.role = 'supervisor' AND s.active
ORDER BY s.id LIMIT 1;
-- A manager above that unit (the nearest ancestor that has one).
WITH RECURSIVE up AS (
    SELECT u.id, u.parent_id, 0 AS depth FROM units u WHERE u.id = (SELECT unit_id FROM service_requests ORDER BY id LIMIT 1)
    UNION ALL
    SELECT p.id, p.parent_id, up.depth + 1 FROM units p JOIN up ON p.id = up.parent_id)
INSERT INTO api_tokens (staff_id, token_hash, token_prefix, label)
SELECT s.id, sha256(convert_to(:'manager', 'UTF8')), left(:'manager', 8), 'schemathesis'
FROM staff s JOIN up ON s.unit_id = up.id
WHERE s.role = 'manager' AND s.active
ORDER BY up.depth, s.id LIMIT 1;
INSERT INTO partner_api_keys (name, key_hash, key_prefix)
VALUES ('schemathesis', sha256(convert_to(:'key', 'UTF8')), left(:'key', 8));
SQL
export LOKET_FUZZ_STAFF_TOKEN="$staff_token" LOKET_FUZZ_MANAGER_TOKEN="$manager_token" LOKET_FUZZ_API_KEY="$api_key"
# What the hooks settle positive cases with (a JSON schema cannot name the catalog's rows): the
# units (all, and those under each token), the active officers by unit, the city's kelurahan and
# kecamatan, and the services with their attributes.
subtree() {
    psql -At -v token="$1" <<'SQL'
WITH RECURSIVE down AS (
    SELECT s.unit_id AS id FROM api_tokens t JOIN staff s ON s.id = t.staff_id
    WHERE t.token_hash = sha256(convert_to(:'token', 'UTF8'))
    UNION ALL
    SELECT u.id FROM units u JOIN down ON u.parent_id = down.id)
SELECT u.code FROM units u JOIN down ON u.id = down.id WHERE u.active ORDER BY u.code;
SQL
}
LOKET_FUZZ_UNITS=$(psql -At -c "SELECT code FROM units WHERE active ORDER BY code")
LOKET_FUZZ_STAFF_UNITS=$(subtree "$staff_token")
LOKET_FUZZ_MANAGER_UNITS=$(subtree "$manager_token")
LOKET_FUZZ_OFFICERS=$(psql -At -F ' ' -c "SELECT u.code, s.nip FROM staff s JOIN units u ON u.id = s.unit_id WHERE s.active ORDER BY 1, 2")
LOKET_FUZZ_AREAS=$(psql -At -c "SELECT code FROM areas WHERE level IN ('district', 'village') ORDER BY code")
curl -fsS "$base/api/v1/services" >"$work/services.json"
export LOKET_FUZZ_UNITS LOKET_FUZZ_STAFF_UNITS LOKET_FUZZ_MANAGER_UNITS LOKET_FUZZ_OFFICERS LOKET_FUZZ_AREAS
export LOKET_FUZZ_SERVICES="$work/services.json"
export LOKET_FUZZ_SEED="${seed:-0}"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$root/tests/schemathesis${PYTHONPATH:+:$PYTHONPATH}"

checks=not_a_server_error,response_schema_conformance
[ "$full" = 1 ] && checks=all
arguments=(
    run "$base/openapi.yaml"
    --checks "$checks"
    --max-examples "$max_examples"
    --max-time "$max_time"
    --request-timeout 10
    --max-redirects 0
    --workers 2
    --no-color
    --generation-database none
    # The document's exact rules (text, NIK and phone patterns, a location and a contact in every
    # filing) make Hypothesis discard many candidate bodies, above all negative ones; that is slow
    # generation, not a finding, so it must not fail the run.
    --suppress-health-check filter_too_much
)
[ -n "$seed" ] && arguments+=(--seed "$seed")
# The hooks send real tokens on purpose, which ignored_auth would take for accepted bad ones.
[ "$full" = 1 ] && arguments+=(--exclude-checks ignored_auth)
loket_log "schemathesis against $base/openapi.yaml (checks: $checks, at most ${max_time}s)"
status=0
timeout --kill-after 30 $((max_time + 300)) "$venv/bin/schemathesis" --config-file "$root/tests/schemathesis/schemathesis.toml" \
    "${arguments[@]}" "${extra[@]}" || status=$?
if [ "$status" != 0 ]; then
    loket_log "schemathesis failed (exit $status)"
fi
exit "$status"
