#!/usr/bin/env bash
# Runs every reliability check, each bounded in time, and prints one summary line at the end:
#   kill-server-during-intake.sh      SIGKILL of loketd during intake; acknowledged = stored, once
#   restart-postgres-during-load.sh   PostgreSQL restarted and held down; 503 + Retry-After, recovery
#   hostile-input.sh                  the hostile-input corpus; 4xx with stable codes, nothing stored
#   schemathesis                      tests/schemathesis/run.sh --full (every check schemathesis has)
#
#   tests/reliability/run.sh [--full] [--only NAME]
#
# Short mode (the default; deploy/test.sh runs it, so CI does): about 2.5 minutes in all on 2 cores
# once loketd is built, more than half of it schemathesis (25 examples per operation, at most 75 s);
# --full runs each check's long mode and schemathesis with its default budget (about 10 minutes).
# loketd is built once (debug; LOKET_RELIABILITY_CONFIG=release for a release build) and the checks
# share that binary. Each check has its own private PostgreSQL cluster and loopback port.
# Exit status: 0 when every check passed, 1 otherwise. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=deploy/local/postgres.sh
source deploy/local/postgres.sh

full=0 only=""
while [ $# -gt 0 ]; do
    case $1 in
        --full) full=1; shift ;;
        --only) only=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: tests/reliability/run.sh [--full] [--only NAME]" >&2; exit 2 ;;
    esac
done
mode=()
[ "$full" = 1 ] && mode=(--full)

loket_ensure_prerequisites || exit 1
work=$(mktemp -d /tmp/loket-reliability-run.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
config=${LOKET_RELIABILITY_CONFIG:-debug}
loket_log "building loketd ($config) for every check"
built=$(loket_build_loketd "$work/build.log" "$config") || { echo "0 passed, 1 failed"; exit 1; }
# A copy of its own (with the resource bundle beside it), so that builds by others meanwhile cannot
# change the binary between checks.
bin_dir=$(dirname "$built")
mkdir -p "$work/bin"
cp "$bin_dir/loketd" "$work/bin/"
for bundle in "$bin_dir"/*.resources; do [ -d "$bundle" ] && cp -R "$bundle" "$work/bin/"; done
export LOKET_RELIABILITY_LOKETD="$work/bin/loketd"

# name | command | time limit (s) short | full
checks=(
    "kill-server-during-intake|tests/reliability/kill-server-during-intake.sh|240|900"
    "restart-postgres-during-load|tests/reliability/restart-postgres-during-load.sh|240|900"
    "hostile-input|tests/reliability/hostile-input.sh|300|1200"
    "schemathesis|tests/schemathesis/run.sh --full|420|1500"
)
passed=0 failed=0 summary=()
for entry in "${checks[@]}"; do
    IFS='|' read -r name command short_limit full_limit <<<"$entry"
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    limit=$short_limit
    arguments=("${mode[@]}")
    if [ "$name" = schemathesis ]; then
        # Its own --full means "all checks"; the budget is what differs between our modes.
        arguments=()
        [ "$full" = 1 ] || arguments=(--max-examples 25 --max-time 75)
        [ "$full" = 1 ] && limit=$full_limit
    elif [ "$full" = 1 ]; then
        limit=$full_limit
    fi
    loket_log "── $name (at most ${limit}s)"
    started=$SECONDS
    # shellcheck disable=SC2086 # the command carries its own fixed arguments
    timeout --kill-after 30 "$limit" $command "${arguments[@]}"
    status=$?
    seconds=$((SECONDS - started))
    if [ "$status" = 0 ]; then
        passed=$((passed + 1))
        summary+=("PASS  $name (${seconds}s)")
    else
        failed=$((failed + 1))
        [ "$status" = 124 ] && summary+=("FAIL  $name (time limit of ${limit}s)") || summary+=("FAIL  $name (exit $status, ${seconds}s)")
    fi
done

echo
echo "reliability checks ($([ "$full" = 1 ] && echo full || echo short) mode):"
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
