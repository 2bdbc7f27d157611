#!/usr/bin/env bash
# The server is killed with SIGKILL during intake load while citizens retry with their
# Idempotency-Key: afterwards every acknowledged request exists exactly once.
#
#   tests/reliability/kill-server-during-intake.sh [--full]
#
# Clients (tests/reliability/load.py intake) POST valid filings to /api/v1/requests, each with its
# own Idempotency-Key and NIK (367301 + DDMMYY + serial), and retry the same key and body on
# connection errors, timeouts, 503 and other 5xx until they get a 201. Meanwhile loketd is killed
# with SIGKILL at random moments and started again on the same port. When the kills are over the
# clients finish the filings they have started and stop. Then, in the database:
#   - every acknowledged tracking code is in service_requests exactly once;
#   - every acknowledged key is in idempotency_keys once, pointing at that request;
#   - the number of requests equals the number of distinct acknowledged keys (no duplicate from a
#     retry, nothing filed that no client was told about), and no NIK was filed twice;
#   - every request has exactly one `created` event and one `request.received` outbox row;
# and replaying a sample of acknowledged keys returns 201, Idempotent-Replayed and the same code.
#
# Short mode (CI): 8 clients, 3 kills, about 25 s. --full: 16 clients, 12 kills, about 2 minutes.
# Loopback only; a private PostgreSQL cluster; everything is removed at the end.
set -euo pipefail
# shellcheck disable=SC2034 # read by common.sh
rel_name=kill-server
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
rel_parse_mode "$@"

if [ "$rel_full" = 1 ]; then
    clients=16 kills=12 min_gap=2 max_gap=8 settle=3 replay_sample=200
else
    clients=8 kills=3 min_gap=1 max_gap=3 settle=2 replay_sample=40
fi

rel_setup
rel_build_loketd
rel_database
rel_server_start --pool-size 8 --trust-forwarded-for --acquire-timeout 3

stop_file="$rel_work/stop"
rel_log "intake load: $clients clients; $kills SIGKILLs of loketd"
"$rel_python" tests/reliability/load.py intake --base "$rel_base" --clients "$clients" --out "$rel_work/acks.json" \
    --attempts "$rel_work/attempts.jsonl" --stop-file "$stop_file" --max-seconds 600 --finish-seconds 60 \
    --timeout 10 >"$rel_work/intake.out" 2>&1 &
load_pid=$!
rel_children+=("$load_pid")

sleep "$settle"
kill_times=()
restart_seconds=()
for kill_number in $(seq 1 "$kills"); do
    gap=$(awk -v a="$min_gap" -v b="$max_gap" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", a + rand() * (b - a) }')
    sleep "$gap"
    filed=$(rel_sql "SELECT count(*) FROM service_requests")
    rel_server_kill
    kill_times+=("$(date +%s.%N)")
    # Down for a moment (clients see refused connections), then up again on the same port.
    sleep "0.$((RANDOM % 5 + 1))"
    started=$(date +%s.%N)
    rel_server_start
    restart_seconds+=("$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
    rel_log "kill $kill_number after ${gap}s ($filed requests filed so far); ready again in ${restart_seconds[-1]}s"
done
sleep "$settle"
touch "$stop_file"
load_status=0
wait "$load_pid" || load_status=$?
cat "$rel_work/intake.out"

echo "kill-server-during-intake: checks"
rel_expect "load clients exited cleanly" "$load_status" 0
[ -s "$rel_work/acks.json" ] || { rel_check FAIL "the clients wrote no results"; rel_finish; }
# The acknowledged filings, into a table beside the data.
"$rel_python" - "$rel_work/acks.json" >"$rel_work/acks.csv" <<'PY'
import csv, json, sys
writer = csv.writer(sys.stdout)
for ack in json.load(open(sys.argv[1]))["acks"]:
    writer.writerow([ack["key"], ack["tracking_code"], json.loads(ack["body"])["citizen"]["nik"]])
PY
acknowledged=$(wc -l <"$rel_work/acks.csv")
psql -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE reliability_acks (key text, tracking_code text, nik text);
\copy reliability_acks FROM '$rel_work/acks.csv' WITH (FORMAT csv)
SQL
problems=$("$rel_python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["problems"]))' "$rel_work/acks.json")
connection_errors=$("$rel_python" -c 'import json, sys; s = json.load(open(sys.argv[1]))["stats"]; print(s["connection_error"] + s["timeout"])' "$rel_work/acks.json")
replayed=$("$rel_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["stats"]["replayed"])' "$rel_work/acks.json")

if [ "$acknowledged" -gt 0 ]; then
    rel_check OK "$acknowledged filings acknowledged (201)"
else
    rel_check FAIL "no filing was acknowledged"
fi
rel_expect "filings that ended in anything but a 201 (4xx, 500, no 201 after the load)" "$problems" 0
if [ "$connection_errors" -gt 0 ]; then
    rel_check OK "the kills hit the load: $connection_errors calls lost their connection or timed out and were retried"
else
    rel_check FAIL "no client call was cut by a kill (the kills did not hit the load)"
fi
rel_check OK "$replayed retries were answered from the stored Idempotency-Key response (the first answer was lost with the server)"
rel_expect "distinct acknowledged keys = acknowledged filings" \
    "$(rel_sql "SELECT count(DISTINCT key) FROM reliability_acks")" "$acknowledged"
rel_expect "acknowledged tracking codes not exactly once in service_requests" \
    "$(rel_sql "SELECT count(*) FROM reliability_acks a WHERE (SELECT count(*) FROM service_requests r WHERE r.tracking_code = a.tracking_code) <> 1")" 0
rel_expect "acknowledged keys not mapped to exactly their request in idempotency_keys" \
    "$(rel_sql "SELECT count(*) FROM reliability_acks a WHERE (SELECT count(*) FROM idempotency_keys k JOIN service_requests r ON r.id = k.request_id
                WHERE k.scope = 'citizen' AND k.key = a.key AND r.tracking_code = a.tracking_code AND k.response_status = 201) <> 1")" 0
rel_expect "requests in the database = distinct acknowledged keys" \
    "$(rel_sql "SELECT count(*) FROM service_requests")" "$(rel_sql "SELECT count(DISTINCT key) FROM reliability_acks")"
rel_expect "idempotency keys stored = distinct acknowledged keys" \
    "$(rel_sql "SELECT count(*) FROM idempotency_keys")" "$(rel_sql "SELECT count(DISTINCT key) FROM reliability_acks")"
rel_expect "NIKs filed more than once" \
    "$(rel_sql "SELECT count(*) FROM (SELECT citizen_nik FROM service_requests GROUP BY citizen_nik HAVING count(*) > 1) d")" 0
rel_expect "requests whose NIK is not the acknowledged one" \
    "$(rel_sql "SELECT count(*) FROM reliability_acks a JOIN service_requests r ON r.tracking_code = a.tracking_code WHERE r.citizen_nik <> a.nik")" 0
rel_expect "requests without exactly one created event" \
    "$(rel_sql "SELECT count(*) FROM service_requests r WHERE (SELECT count(*) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'created') <> 1")" 0
rel_expect "requests without exactly one request.received outbox row" \
    "$(rel_sql "SELECT count(*) FROM service_requests r WHERE (SELECT count(*) FROM notification_outbox o WHERE o.request_id = r.id AND o.topic = 'request.received') <> 1")" 0
if "$rel_python" tests/reliability/load.py replay --base "$rel_base" --acks "$rel_work/acks.json" --sample "$replay_sample"; then
    rel_check OK "replayed keys answer 201, Idempotent-Replayed: true, the acknowledged tracking code"
else
    rel_check FAIL "a replayed key did not return its acknowledged answer"
fi
if kill -0 "$rel_server_pid" 2>/dev/null; then
    rel_check OK "the last server is still running"
else
    rel_check FAIL "the last server exited"
fi
rel_log "restart-to-ready times (s): ${restart_seconds[*]}"
rel_finish
