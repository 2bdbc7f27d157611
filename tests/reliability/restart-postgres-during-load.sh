#!/usr/bin/env bash
# PostgreSQL restarted during load: /readyz turns unready, requests get 503 with Retry-After, the
# server never exits and recovers by itself within seconds.
#
#   tests/reliability/restart-postgres-during-load.sh [--full]
#
# Load (tests/reliability/load.py): readers (public view, detail with the access token, catalog),
# a /readyz probe every 100 ms, and citizens filing with an Idempotency-Key who retry on 503. Every
# call has a client timeout (8 s; loketd runs with --acquire-timeout 2). Meanwhile PostgreSQL is
#   - restarted with `pg_ctl restart -m fast` (as the cluster owner), and
#   - stopped (`pg_ctl stop -m fast`) and held down for a while, then started again.
# Judged from every call's outcome and the times of those events (load.py outage):
#   - no call hangs (times out) or loses its connection, and no answer is a 5xx other than 503;
#   - every 503 has a Retry-After, and the API's carry the JSON error code service_unavailable;
#   - while PostgreSQL is held down, /readyz answers 503 "unready" (after its 1 s cache) and
#     filings, public views and details answer 503 (checked by the probes, and once more by hand
#     with curl); filers wait as Retry-After says, so they never meet the rate limit;
#   - after PostgreSQL is back, each kind of call succeeds again within 5 s and every later call
#     succeeds, without restarting the server;
# and the loketd process is the same one from start to end, every acknowledged filing exists exactly
# once, and the server log has no unhandled error.
#
# Short mode (CI): one restart and one 4 s outage, about 30 s. --full: five restarts and two
# outages of 10 and 20 s, about 2 minutes. Loopback only; private cluster, removed at the end.
set -euo pipefail
# shellcheck disable=SC2034 # read by common.sh
rel_name=restart-postgres
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
rel_parse_mode "$@"

recovery=5
if [ "$rel_full" = 1 ]; then
    restarts=5 outages="10 20" readers=6 filers=3
else
    restarts=1 outages="4" readers=4 filers=2
fi

rel_setup
rel_build_loketd
rel_database
rel_server_start --pool-size 8 --trust-forwarded-for --acquire-timeout 2
server_pid=$rel_server_pid

# A few requests for the readers: "CODE TOKEN" lines.
for serial in 1 2 3 4 5 6; do
    curl -fsS -m 10 -H 'Content-Type: application/json' -H "X-Forwarded-For: 10.250.0.$serial" \
        -d "{\"service_code\":\"kk-baru\",\"citizen\":{\"name\":\"Siti Aminah\",\"nik\":\"36730125058500$(printf %02d "$serial")\",\"phone\":\"0812-3456-7890\"},\"area_code\":\"36.73.01.1001\",\"address\":\"Jl. Ki Mas Jong No. 5\",\"attributes\":{\"alasan\":\"keluarga_baru\"}}" \
        "$rel_base/api/v1/requests" \
        | "$rel_python" -c 'import json, sys; a = json.load(sys.stdin); print(a["tracking_code"], a["access_token"])'
done >"$rel_work/fixtures"
fixtures=$(wc -l <"$rel_work/fixtures")

events="$rel_work/events"
: >"$events"
event() { echo "$1 $(date +%s.%N)" >>"$events"; }
stop_file="$rel_work/stop"
rel_log "load: $readers readers, $filers filers, a /readyz probe; $restarts restart(s), outage(s) of $outages s"
"$rel_python" tests/reliability/load.py readers --base "$rel_base" --attempts "$rel_work/readers.jsonl" \
    --fixtures "$rel_work/fixtures" --stop-file "$stop_file" --clients "$readers" --timeout 8 --max-seconds 600 &
readers_pid=$!
rel_children+=("$readers_pid")
"$rel_python" tests/reliability/load.py intake --base "$rel_base" --clients "$filers" --out "$rel_work/acks.json" \
    --attempts "$rel_work/filers.jsonl" --stop-file "$stop_file" --first-index 1000 --timeout 8 --max-seconds 600 \
    --finish-seconds 30 >"$rel_work/intake.out" 2>&1 &
filers_pid=$!
rel_children+=("$filers_pid")

sleep 2
for number in $(seq 1 "$restarts"); do
    event restart_begin
    rel_pg_ctl -m fast -w -t 60 restart >/dev/null
    event restart_end
    rel_log "restart $number done (pg_ctl restart -m fast)"
    sleep $((recovery + 2))
done

manual_ready="" manual_api="" manual_api_retry="" manual_api_code=""
for hold in $outages; do
    event down
    rel_pg_ctl -m fast -w stop >/dev/null
    event stopped
    rel_log "PostgreSQL stopped; holding it down for ${hold}s"
    sleep 1.5
    # By hand as well: /readyz and a filing, each with a short client timeout.
    manual_ready=$(curl -s -m 8 -o /dev/null -w '%{http_code}' "$rel_base/readyz" || echo timeout)
    manual_api=$(curl -s -m 8 -D "$rel_work/manual.headers" -o "$rel_work/manual.body" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H 'X-Forwarded-For: 10.251.0.1' \
        -d '{"service_code":"kk-baru","citizen":{"name":"Siti","nik":"3673012505859999","phone":"0812-3456-7890"},"area_code":"36.73.01.1001","attributes":{"alasan":"keluarga_baru"}}' \
        "$rel_base/api/v1/requests" || echo timeout)
    manual_api_retry=$(tr -d '\r' <"$rel_work/manual.headers" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')
    manual_api_code=$("$rel_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$rel_work/manual.body" 2>/dev/null || echo none)
    sleep "$(awk -v h="$hold" 'BEGIN { print (h > 1.5 ? h - 1.5 : 0) }')"
    event starting
    loket_pg_start "$rel_cluster" test
    event up
    rel_log "PostgreSQL started again"
    sleep $((recovery + 2))
done
touch "$stop_file"
wait "$readers_pid" || true
filers_status=0
wait "$filers_pid" || filers_status=$?
cat "$rel_work/intake.out"

echo "restart-postgres-during-load: checks"
if "$rel_python" tests/reliability/load.py outage --attempts "$rel_work/readers.jsonl" "$rel_work/filers.jsonl" \
    --events "$events" --recovery "$recovery"; then
    rel_check OK "no hang, no 500, 503 with Retry-After during the outage, recovery within ${recovery}s"
else
    rel_check FAIL "the calls during and after the outages (violations above)"
fi
rel_expect "/readyz during the outage (curl)" "$manual_ready" 503
rel_expect "POST /api/v1/requests during the outage (curl)" "$manual_api" 503
if [[ "$manual_api_retry" =~ ^[0-9]+$ ]]; then
    rel_check OK "that 503 has Retry-After: $manual_api_retry"
else
    rel_check FAIL "that 503 has no Retry-After"
fi
rel_expect "that 503's error code" "$manual_api_code" service_unavailable
if kill -0 "$server_pid" 2>/dev/null && [ "$rel_server_pid" = "$server_pid" ]; then
    rel_check OK "the loketd process (pid $server_pid) ran from start to end"
else
    rel_check FAIL "loketd exited"
fi
rel_expect "filing clients exited cleanly (every filing acknowledged)" "$filers_status" 0
acknowledged=$("$rel_python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["acks"]))' "$rel_work/acks.json")
rel_expect "requests in the database = fixtures + acknowledged filings" \
    "$(rel_sql "SELECT count(*) FROM service_requests")" "$((fixtures + acknowledged))"
"$rel_python" -c 'import json, sys; [print(a["tracking_code"]) for a in json.load(open(sys.argv[1]))["acks"]]' "$rel_work/acks.json" \
    >"$rel_work/acked-codes"
lost=0
if [ -s "$rel_work/acked-codes" ]; then
    lost=$(psql -qAtX -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE acked (code text)" -c "\\copy acked FROM '$rel_work/acked-codes'" \
        -c "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM service_requests r WHERE r.tracking_code = a.code)" | tail -n 1)
fi
rel_expect "acknowledged filings missing from the database" "$lost" 0
rel_finish
