#!/usr/bin/env bash
# A hostile-input corpus against every route that takes a body or parameters (citizen API, staff
# and manager API with valid tokens, Open311): every answer is a 4xx with a stable code, never a 5xx
# or a hang, and nothing is stored.
#
#   tests/reliability/hostile-input.sh [--full]
#
# The corpus (tests/reliability/hostile_corpus.py, about a thousand cases, each on its own
# connection, written byte by byte): oversized bodies (beyond 64 KiB of JSON, beyond 10 MiB of
# document, 12 MiB chunked), invalid UTF-8, wrong content types, JSON nested 10,000 deep, huge arrays,
# numbers out of range (1e400, -0, NaN, hex), SQL and script fragments in every field, parameter
# and header, NUL bytes, path tricks in upload file names and in path parameters (../, %2e%2e,
# overlong codes), header abuse (huge or many headers, conflicting lengths, smuggling), truncated
# bodies, and Expect with the body withheld. Each answer must be a 4xx with {"error":{"code"}} (JSON
# API) or an Open311 error list, within 10 s, and /healthz must answer after every case. What
# swift-nio's HTTP parser refuses before loketd sees a request (a bare "400 Bad Request" without a
# body) is accepted as a 4xx. A request that sends `Expect: 100-continue` and waits must be answered
# at once: 100 (Continue), or 413 without it for a declared length beyond any limit; any other
# expectation 417.
#
# Row counts and checksums of every table (api_tokens and partner_api_keys by count: using a token
# updates its last_used_at) are taken before and after the corpus and must be equal.
#
# Then the other half: SQL and script fragments in free-text fields are a citizen's legitimate
# words (an apostrophe, a quote, angle brackets), so requests carrying them in every free-text
# field (JSON API and Open311), a staff note, and PDFs uploaded under path-trick file names must be
# stored verbatim (file names stripped of folders and control characters) and read back safely;
# the tables grow by exactly what was created.
#
# Short mode (CI): the corpus once, about 15 s once loketd is built. --full: the corpus twice (each
# case must get the same status and code both times), about 25 s.
# Loopback only; private cluster, removed at the end.
set -euo pipefail
# shellcheck disable=SC2034 # read by common.sh
rel_name=hostile-input
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
rel_parse_mode "$@"

rounds=1
[ "$rel_full" = 1 ] && rounds=2

rel_setup
rel_build_loketd
rel_database
rel_server_start --pool-size 8 --trust-forwarded-for

"$rel_python" tests/reliability/hostile_corpus.py fixtures --base "$rel_base" --out "$rel_work/fixtures.json"
unit=$("$rel_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["unit"])' "$rel_work/fixtures.json")
supervisor=$(rel_sql "SELECT s.nip FROM staff s JOIN units u ON u.id = s.unit_id
                      WHERE u.code = '$unit' AND s.role = 'supervisor' AND s.active ORDER BY s.id LIMIT 1")
manager=$(rel_sql "WITH RECURSIVE up AS (
                       SELECT id, parent_id, 0 AS depth FROM units WHERE code = '$unit'
                       UNION ALL SELECT p.id, p.parent_id, up.depth + 1 FROM units p JOIN up ON p.id = up.parent_id)
                   SELECT s.nip FROM staff s JOIN up ON s.unit_id = up.id
                   WHERE s.role = 'manager' AND s.active ORDER BY up.depth, s.id LIMIT 1")
[ -n "$supervisor" ] && [ -n "$manager" ] || { rel_log "no supervisor or manager above unit $unit in the seed"; exit 1; }
staff_token=$(rel_issue_staff_token "$supervisor")
manager_token=$(rel_issue_staff_token "$manager")
api_key=$(rel_issue_partner_key)
rel_log "staff token of $supervisor ($unit), manager token of $manager, an Open311 api_key"

# Every table: name, rows and (except the two whose last_used_at moves on use) a checksum.
snapshot() {
    local tables table query=""
    tables=$(rel_sql "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    for table in $tables; do
        [ -n "$query" ] && query+=" UNION ALL "
        case $table in
            api_tokens|partner_api_keys) query+="SELECT '$table', count(*)::text, '-' FROM $table" ;;
            *) query+="SELECT '$table', count(*)::text, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $table t" ;;
        esac
    done
    rel_sql "$query" | sort
}
rows() { awk -F'|' -v t="$2" '$1 == t { print $2 }' "$1"; }

snapshot >"$rel_work/before.txt"
echo "hostile-input: the corpus"
corpus_status=0
"$rel_python" tests/reliability/hostile_corpus.py refuse --base "$rel_base" --fixtures "$rel_work/fixtures.json" \
    --staff-token "$staff_token" --manager-token "$manager_token" --api-key "$api_key" --rounds "$rounds" \
    --report "$rel_work/report.tsv" || corpus_status=$?
snapshot >"$rel_work/after.txt"

echo "hostile-input: checks"
rel_expect "every case answered 4xx with a stable code (Expect: 100 or 413/417 at once), within 10 s, server alive (violations above)" "$corpus_status" 0
if diff -u "$rel_work/before.txt" "$rel_work/after.txt" >"$rel_work/tables.diff"; then
    rel_check OK "no table changed ($(wc -l <"$rel_work/before.txt") tables: same rows, same checksums)"
else
    rel_check FAIL "tables changed by the corpus (before/after: table|rows|checksum):"
    grep -E '^[-+][a-z]' "$rel_work/tables.diff" | sed 's/^/        /'
fi
if kill -0 "$rel_server_pid" 2>/dev/null; then
    rel_check OK "loketd is still running"
else
    rel_check FAIL "loketd exited"
fi

echo "hostile-input: hostile text where it is legitimate"
accept_status=0
"$rel_python" tests/reliability/hostile_corpus.py accept --base "$rel_base" --fixtures "$rel_work/fixtures.json" \
    --staff-token "$staff_token" --api-key "$api_key" --out "$rel_work/created.json" || accept_status=$?
snapshot >"$rel_work/accepted.txt"
rel_expect "free-text fragments stored verbatim, path-trick file names made plain, downloads safe" "$accept_status" 0
if [ -s "$rel_work/created.json" ]; then
    for table in service_requests documents; do
        created=$("$rel_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$rel_work/created.json" "$table")
        rel_expect "$table grew by exactly what was created" \
            "$(($(rows "$rel_work/accepted.txt" "$table") - $(rows "$rel_work/after.txt" "$table")))" "$created"
    done
fi
rel_expect "requests without exactly one created event" \
    "$(rel_sql "SELECT count(*) FROM service_requests r WHERE (SELECT count(*) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'created') <> 1")" 0
rel_finish
