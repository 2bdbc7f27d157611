#!/usr/bin/env bash
# Failover during intake (issue 8, item 3; docs/ha.md): a pg_auto_failover formation on loopback
# (deploy/ha/setup.sh: monitor, primary, synchronous standby), `loketd serve` connected through the
# formation's multi-host URI (target_session_attrs=read-write), citizens filing valid requests
# (tests/ha/intake_load.py: one Idempotency-Key and one valid NIK each, retried with the same key
# and body until acknowledged with 201), and a failover in the middle of it. Then:
#   - every acknowledged tracking code exists exactly once on the new primary, with its `created`
#     event and its notification;
#   - no Idempotency-Key produced two requests (one request per key's NIK, and the key's stored
#     answer names the acknowledged request);
#   - no request was filed that was not acknowledged, and every filing was acknowledged;
#   - clients saw no answer but 201, 503 or 429 (each 503 with Retry-After), no hang;
#   - service resumed without restarting loketd: filings acknowledged after the new primary took
#     over, the same loketd process, /readyz ready.
# Prints the measured failover (trigger → new primary writable, and the longest pause between
# acknowledgements seen by clients) and `N passed, N failed` alone on the last line.
#
#   tests/ha/failover-during-intake.sh [--mode perform|crash|freeze] [--clients N (8)] [--before S (8)]
#                                      [--after S (8)] [--connect-timeout S] [--no-build] [--keep]
#
# --mode perform: `pg_autoctl perform failover` (planned switchover; the old primary rejoins as
#        the standby). --mode crash: the primary's node is killed (SIGKILL to its pg_autoctl and
#        its PostgreSQL): the monitor notices and promotes the standby (~50 s with the monitor's
#        defaults). --mode freeze: the primary's node hangs (SIGSTOP) without closing its
#        connections; see docs/ha.md for what that shows (requests in flight hang).
# --before/--after: seconds of load before the failover and after the new primary is writable.
# --connect-timeout S: adds connect_timeout=S to loketd's conninfo (libpq's per-host limit).
# --no-build uses the debug loketd already built. --keep leaves the work folder (logs) behind.
# Bounded: after the build, everything stops after LOKET_HA_TIMEOUT seconds (default 300).
# Loopback only; loketd, the load and the formation are stopped and removed on exit, whatever
# happens.
set -uo pipefail
# Only what this script says decides where libpq connects (deploy/test.sh exports its own cluster's).
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT

cd "$(dirname "$0")/../.." || exit 2
# shellcheck source=deploy/local/postgres.sh
source deploy/local/postgres.sh

# The build (which may wait for another SwiftPM using .build) comes first, outside the time limit.
if [ -z "${LOKET_HA_TIMED:-}" ]; then
    export LOKET_HA_TIMED=1
    case " $* " in
        *" --no-build "*) ;;
        *)
            loket_ensure_prerequisites || { echo "0 passed, 1 failed"; exit 1; }
            printf '\033[1m[ha-test]\033[0m %s\n' "building loketd (debug)" >&2
            build_log=$(mktemp /tmp/loket-ha-build.XXXXXX)
            if ! loket_build_loketd "$build_log" >/dev/null; then
                rm -f "$build_log"
                echo "FAIL  build loketd (swift build --product loketd)"
                echo "0 passed, 1 failed"
                exit 1
            fi
            rm -f "$build_log"
            set -- "$@" --no-build
            ;;
    esac
    # Room for the EXIT trap's teardown after the TERM (three pg_autoctl stops, a wait, three
    # pg_ctl stops): killed sooner, it left the formation running.
    exec timeout --kill-after=180 "${LOKET_HA_TIMEOUT:-300}" bash tests/ha/failover-during-intake.sh "$@"
fi

mode=perform clients=8 before=8 after=8 keep=0 connect_timeout=""
while [ $# -gt 0 ]; do
    case $1 in
        --mode) mode=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --before) before=$2; shift 2 ;;
        --after) after=$2; shift 2 ;;
        --connect-timeout) connect_timeout=$2; shift 2 ;;
        --no-build) shift ;;  # built by the first pass above
        --keep) keep=1; shift ;;
        *) echo "usage: tests/ha/failover-during-intake.sh [--mode perform|crash|freeze] [--clients N] [--before S] [--after S] [--connect-timeout S] [--no-build] [--keep]" >&2; exit 2 ;;
    esac
done
case $mode in perform|crash|freeze) ;; *) echo "--mode is perform, crash or freeze" >&2; exit 2 ;; esac

say() { printf '\033[1m[ha-test]\033[0m %s\n' "$*" >&2; }
passed=0 failed=0
check() { # check NAME CONDITION-RESULT(0/1) DETAIL
    if [ "$2" = 0 ]; then
        passed=$((passed + 1)); echo "PASS  $1${3:+ ($3)}"
    else
        failed=$((failed + 1)); echo "FAIL  $1${3:+ ($3)}"
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ] && exit 0
    exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

work=$(mktemp -d /tmp/loket-ha-test.XXXXXX)
chmod 755 "$work"
ha="$work/ha"
server_pid="" load_pid="" failover_pid=""
# shellcheck disable=SC2329 # run by the EXIT trap
cleanup() {
    # Frozen processes (--mode freeze) go on so that they can be stopped.
    if [ -s "$work/frozen" ]; then
        for pid in $(<"$work/frozen"); do kill -CONT "$pid" 2>/dev/null || true; done
    fi
    loket_stop_pid "$load_pid"
    loket_stop_pid "$failover_pid"
    loket_stop_pid "$server_pid"
    [ -d "$ha" ] && deploy/ha/teardown.sh --keep "$ha" >/dev/null 2>&1
    if [ "$keep" = 1 ]; then say "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- loketd ---------------------------------------------------------------------------------------
loket_ensure_prerequisites || { check "prerequisites" 1 "see above"; finish; }
bin="$(swift build --show-bin-path)/loketd"
[ -x "$bin" ] || { check "loketd binary" 1 "no $bin"; finish; }

# --- The formation --------------------------------------------------------------------------------
say "setting up the formation (deploy/ha/setup.sh)"
if ! uri=$(deploy/ha/setup.sh "$ha" 2>"$work/setup.log"); then
    cat "$work/setup.log" >&2
    check "formation ready (deploy/ha/setup.sh)" 1 "see above"
    finish
fi
check "formation ready (deploy/ha/setup.sh)" 0 "$(grep -o 'ready in [0-9]*s' "$work/setup.log")"
# shellcheck source=/dev/null
source "$ha/ha.env"
pgbin=/usr/lib/postgresql/15/bin
ha_env=(
    "XDG_CONFIG_HOME=$ha/xdg/config" "XDG_DATA_HOME=$ha/xdg/data" "XDG_RUNTIME_DIR=$ha/xdg/run"
    "PG_REGRESS_SOCK_DIR=$ha/sock" "PGHOST=$ha/sock" "PATH=$pgbin:/usr/sbin:/usr/bin:/sbin:/bin"
)
autoctl() { (cd "$ha" && loket_as_owner env "${ha_env[@]}" pg_autoctl "$@"); }
# "name current assigned port" for each node, from the monitor.
states() {
    autoctl show state --pgdata "$ha/monitor" --json 2>/dev/null | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    print(n["nodename"], n["current_group_state"], n["assigned_group_state"], n["nodeport"])' 2>/dev/null
}
# The port of the server a read-write session lands on through the URI ("" if none now).
writable_port() {
    PGCONNECT_TIMEOUT=2 psql "$uri" -qAtX -c 'SELECT inet_server_port()' 2>/dev/null
}
old_primary_port=$(writable_port)
[ "$old_primary_port" = "$LOKET_HA_NODE1_PORT" ] || { check "node1 is the writable primary" 1 "writable port: ${old_primary_port:-none}"; finish; }
say "conninfo: $uri"

# --- Schema, seed, server -------------------------------------------------------------------------
if ! "$bin" migrate --database-url "$uri" --sql-dir SQL >"$work/migrate.log" 2>&1 \
    || ! "$bin" seed --database-url "$uri" --sql-dir SQL >>"$work/migrate.log" 2>&1; then
    cat "$work/migrate.log" >&2
    check "loketd migrate and seed through the multi-host URI" 1 "see above"
    finish
fi
check "loketd migrate and seed through the multi-host URI" 0

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_uri=$uri
[ -z "$connect_timeout" ] || server_uri="$uri&connect_timeout=$connect_timeout"
LOKET_DATABASE_URL="$server_uri" LOKET_LOG_LEVEL=notice "$bin" serve --sql-dir SQL --bind 127.0.0.1 --port "$port" \
    --pool-size 16 --trust-forwarded-for >"$work/loketd.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
# 0 when /readyz answers 200.
ready_now() {
    python3 -c 'import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=5).status == 200 else 1)' \
        "$base/readyz" >/dev/null 2>&1
}
for _ in $(seq 1 150); do
    ready_now && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
done
if ! ready_now; then
    tail -n 30 "$work/loketd.log" >&2
    check "loketd serve ready on $base" 1 "see above"
    finish
fi

# --- Load, failover, load -------------------------------------------------------------------------
say "load: $clients clients filing on $base"
python3 tests/ha/intake_load.py --base "$base" --clients "$clients" --stop-file "$work/stop" \
    --progress "$work/progress" --out "$work/load.json" --run-id "$$" \
    --deadline $((before + after + 150)) >"$work/load.log" 2>&1 &
load_pid=$!
acked() { cat "$work/progress" 2>/dev/null || echo 0; }
sleep "$before"
acked_before=$(acked)
say "$acked_before filings acknowledged; failover ($mode) now"

t_trigger=$(now)
case $mode in
    perform)
        autoctl perform failover --pgdata "$ha/monitor" >"$work/failover.log" 2>&1 &
        failover_pid=$!
        ;;
    crash)
        # The primary's node: its pg_autoctl supervisor (its own process group, made by setsid in
        # setup.sh) with its services and its postmaster, killed at once; backends follow the
        # postmaster.
        supervisor=$(head -n 1 "$(find "$ha/xdg/run" -path '*/node1/pg_autoctl.pid' | head -n 1)")
        postmaster=$(head -n 1 "$ha/node1/postmaster.pid")
        group=$(ps -o pgid= -p "$supervisor" | tr -d ' ')
        echo "killing process group $group (pg_autoctl $supervisor) and postmaster $postmaster" >"$work/failover.log"
        kill -KILL -- "-$group" 2>>"$work/failover.log"
        kill -KILL "$postmaster" 2>/dev/null || true
        ;;
    freeze)
        # The primary hangs without closing anything (SIGSTOP to its pg_autoctl, its postmaster and
        # every PostgreSQL process): its kernel still answers TCP, its sessions just never reply.
        supervisor=$(head -n 1 "$(find "$ha/xdg/run" -path '*/node1/pg_autoctl.pid' | head -n 1)")
        postmaster=$(head -n 1 "$ha/node1/postmaster.pid")
        group=$(ps -o pgid= -p "$supervisor" | tr -d ' ')
        frozen="$(ps -o pid= -g "$group") $(ps -o pid= --ppid "$postmaster")"
        echo "$frozen" >"$work/frozen"
        echo "stopping (SIGSTOP) $frozen" >"$work/failover.log"
        for pid in $frozen; do kill -STOP "$pid" 2>/dev/null || true; done
        ;;
esac

# Waits for the new primary: the monitor reports node2 primary (or wait_primary, alone) and a
# read-write session through the URI lands on node2.
t_promoted="" t_writable=""
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
    if [ -z "$t_promoted" ] && grep -qE "^node2 (primary primary|wait_primary wait_primary) " <<<"$(states)"; then
        t_promoted=$(now)
    fi
    if [ -z "$t_writable" ] && [ "$(writable_port)" = "$LOKET_HA_NODE2_PORT" ]; then
        t_writable=$(now)
    fi
    [ -n "$t_promoted" ] && [ -n "$t_writable" ] && break
    sleep 0.2
done
states >"$work/states-after" || true
if [ -z "$t_writable" ] || [ -z "$t_promoted" ]; then
    autoctl show state --pgdata "$ha/monitor" >&2 2>&1
    check "new primary (node2) within 120 s" 1 "monitor: ${t_promoted:+promoted}; writable: ${t_writable:+yes}"
    touch "$work/stop"
    finish
fi
failover_s=$(elapsed "$t_trigger" "$t_writable")
promoted_s=$(elapsed "$t_trigger" "$t_promoted")
check "new primary (node2) within 120 s" 0 "writable after ${failover_s}s; monitor reported it after ${promoted_s}s"
acked_at_failover=$(acked)
say "$acked_at_failover filings acknowledged; load goes on for ${after}s"
sleep "$after"
touch "$work/stop"
wait "$load_pid"
load_pid=""
if [ -n "$failover_pid" ]; then
    # perform failover returns once the old primary has rejoined as the standby; give it a moment.
    for _ in $(seq 1 150); do kill -0 "$failover_pid" 2>/dev/null || break; sleep 0.2; done
    loket_stop_pid "$failover_pid"
    failover_pid=""
fi
[ -f "$work/load.json" ] || { tail -n 20 "$work/load.log" >&2; check "load results" 1 "no $work/load.json"; finish; }

# --- What the clients saw -------------------------------------------------------------------------
python3 - "$work/load.json" "$t_trigger" "$t_writable" "$work" <<'PY' >"$work/summary"
import collections, json, shlex, sys
data = json.load(open(sys.argv[1]))
# Attempt times are seconds since the load started; the trigger's and the new primary's too.
trigger, writable, work = float(sys.argv[2]) - data["started"], float(sys.argv[3]) - data["started"], sys.argv[4]
filings, attempts = data["filings"], data["attempts"]
acked = [f for f in filings if f["code"]]
outcomes = collections.Counter(str(a[2]) for a in attempts)
no_retry_after = sum(1 for a in attempts if a[2] == 503 and not a[3])
bad = sum(n for o, n in outcomes.items() if o not in ("201", "503", "429"))
acks = sorted(f["acked_at"] for f in acked)
# The longest pause between two acknowledgements (any client) from the trigger on.
gaps = [b - max(a, trigger) for a, b in zip(acks, acks[1:]) if b >= trigger]
longest = max(gaps) if gaps else 0.0
errors_after_trigger = [a for a in attempts if a[2] != 201 and a[1] >= trigger]
first_error = min((a[1] for a in errors_after_trigger), default=None)
last_error = max((a[1] for a in errors_after_trigger), default=None)
after_writable = sum(1 for f in acked if f["acked_at"] > writable)
slowest = max((a[1] - a[0] for a in attempts), default=0.0)
with open(work + "/acked.csv", "w") as out:
    for f in acked:
        out.write("%s,%s,%s\n" % (f["key"], f["nik"], f["code"]))
with open(work + "/niks.csv", "w") as out:
    for f in filings:
        out.write("%s\n" % f["nik"])
examples = [e for f in filings for e in f.get("errors", [])][:3]
summary = {
    "filings": len(filings), "acked": len(acked), "unacked": len(filings) - len(acked),
    "replayed": sum(1 for f in acked if f["replayed"]), "retried": sum(1 for f in acked if f["attempts"] > 1),
    "attempts": len(attempts), "outcomes": " ".join("%s:%d" % kv for kv in sorted(outcomes.items())),
    "bad_outcomes": bad, "no_retry_after": no_retry_after, "longest_gap": "%.1f" % longest,
    "error_window": "none" if first_error is None else "%.1fs long, from %.1fs to %.1fs after the trigger" % (
        last_error - first_error, first_error - trigger, last_error - trigger),
    "acked_after_writable": after_writable, "slowest_attempt": "%.1f" % slowest,
    "bad_examples": " | ".join(examples),
}
for key, value in summary.items():
    print("%s=%s" % (key, shlex.quote(str(value))))
PY
# Sets filings, acked, unacked, replayed, retried, attempts, outcomes, bad_outcomes, no_retry_after,
# longest_gap, error_window, acked_after_writable, slowest_attempt, bad_examples.
filings=0 acked=0 unacked=0 replayed=0 retried=0 attempts=0 outcomes="" bad_outcomes=0 no_retry_after=0
longest_gap="" error_window="" acked_after_writable=0 slowest_attempt=0 bad_examples=""
# shellcheck source=/dev/null
source "$work/summary"
say "clients: $filings filings, $acked acknowledged, $attempts attempts ($outcomes), $retried retried, $replayed answered by replay"
check "every filing acknowledged with 201" "$([ "$unacked" = 0 ] && [ "$acked" -gt 0 ] && echo 0 || echo 1)" "$acked of $filings"
check "clients saw only 201, 503 (with Retry-After) or 429" "$([ "$bad_outcomes" = 0 ] && [ "$no_retry_after" = 0 ] && echo 0 || echo 1)" \
    "$outcomes${bad_examples:+; e.g. $bad_examples}; 503 without Retry-After: $no_retry_after"
check "no attempt hung (each answered within 15 s)" "$(awk -v s="$slowest_attempt" 'BEGIN { print (s < 15) ? 0 : 1 }')" "slowest ${slowest_attempt}s"

# --- What the new primary holds -------------------------------------------------------------------
q() { PGCONNECT_TIMEOUT=5 psql "$uri" -qAtX -v ON_ERROR_STOP=1; }
new_port=$(writable_port)
check "read-write sessions land on node2 after the failover" "$([ "$new_port" = "$LOKET_HA_NODE2_PORT" ] && echo 0 || echo 1)" "port ${new_port:-none}"
result=$(q <<SQL 2>&1
CREATE TEMP TABLE acked (key text, nik text, code text);
\copy acked FROM '$work/acked.csv' WITH (FORMAT csv)
CREATE TEMP TABLE niks (nik text);
\copy niks FROM '$work/niks.csv' WITH (FORMAT csv)
SELECT 'missing=' || count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM service_requests r WHERE r.tracking_code = a.code);
SELECT 'duplicated=' || count(*) FROM (SELECT a.code FROM acked a JOIN service_requests r ON r.tracking_code = a.code GROUP BY a.code HAVING count(*) > 1) d;
SELECT 'wrong_nik=' || count(*) FROM acked a JOIN service_requests r ON r.tracking_code = a.code WHERE r.citizen_nik <> a.nik;
SELECT 'key_two_requests=' || count(*) FROM (SELECT a.key FROM acked a JOIN service_requests r ON r.citizen_nik = a.nik GROUP BY a.key HAVING count(*) <> 1) d;
SELECT 'key_answer_mismatch=' || count(*) FROM acked a LEFT JOIN idempotency_keys k ON k.key = a.key LEFT JOIN service_requests r ON r.id = k.request_id WHERE r.tracking_code IS DISTINCT FROM a.code;
SELECT 'no_event=' || count(*) FROM acked a JOIN service_requests r ON r.tracking_code = a.code WHERE NOT EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = r.id AND e.kind = 'created');
SELECT 'no_notification=' || count(*) FROM acked a JOIN service_requests r ON r.tracking_code = a.code WHERE NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.request_id = r.id);
SELECT 'stored_for_run=' || count(*) FROM service_requests r WHERE r.citizen_nik IN (SELECT nik FROM niks);
SQL
)
echo "$result" >"$work/db-checks"
value() { sed -n "s/^$1=//p" "$work/db-checks"; }
if [ -z "$(value missing)" ]; then
    check "database checks on the new primary" 1 "$(echo "$result" | head -n 5 | tr '\n' ' ')"
else
    check "every acknowledged tracking code exists on the new primary" "$([ "$(value missing)" = 0 ] && echo 0 || echo 1)" "$(value missing) of $acked missing"
    check "each exactly once, for its own NIK" "$([ "$(value duplicated)" = 0 ] && [ "$(value wrong_nik)" = 0 ] && echo 0 || echo 1)" "duplicated $(value duplicated), wrong NIK $(value wrong_nik)"
    check "with its created event and its notification" "$([ "$(value no_event)" = 0 ] && [ "$(value no_notification)" = 0 ] && echo 0 || echo 1)" "without event $(value no_event), without notification $(value no_notification)"
    check "no Idempotency-Key produced two requests" "$([ "$(value key_two_requests)" = 0 ] && [ "$(value key_answer_mismatch)" = 0 ] && echo 0 || echo 1)" "keys with other than one request: $(value key_two_requests); stored answer not the acknowledged request: $(value key_answer_mismatch)"
    check "nothing filed that was not acknowledged" "$([ "$(value stored_for_run)" = "$acked" ] && echo 0 || echo 1)" "$(value stored_for_run) stored, $acked acknowledged"
fi

# --- Service resumed ------------------------------------------------------------------------------
check "filings acknowledged after the new primary took over" "$([ "$acked_after_writable" -gt 0 ] && echo 0 || echo 1)" "$acked_after_writable"
alive=1
kill -0 "$server_pid" 2>/dev/null && alive=0
check "the same loketd process served throughout (never restarted)" "$alive" "pid $server_pid"
ready=1
for _ in $(seq 1 20); do
    ready_now && { ready=0; break; }
    sleep 0.5
done
check "/readyz ready after the failover" "$ready"
grep -E 'unhandled error|Fatal error|panic' "$work/loketd.log" | head -n 5 >"$work/server-errors" || true
check "loketd logged no unhandled error" "$([ -s "$work/server-errors" ] && echo 1 || echo 0)" "$(head -c 300 "$work/server-errors")"

echo "failover ($mode): new primary writable ${failover_s}s after the trigger (monitor: ${promoted_s}s);" \
    "longest pause between acknowledgements ${longest_gap}s; client errors: $error_window;" \
    "$acked acknowledged ($acked_before before, $acked_after_writable after the new primary), attempts: $outcomes"
echo "run: ${SECONDS}s after the build"
finish
