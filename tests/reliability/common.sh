# shellcheck shell=bash
# Shared helpers of the reliability checks in tests/reliability/ (sourced, never run).
#
# Each check: parses [--full], builds loketd once (or takes the binary tests/reliability/run.sh
# built, LOKET_RELIABILITY_LOKETD), starts a private throwaway PostgreSQL cluster through
# deploy/local/postgres.sh, migrates and seeds it, starts `loketd serve` on a free loopback port,
# and removes everything when it ends, whatever happens (also on Ctrl-C).
#
# Environment:
#   LOKET_RELIABILITY_CONFIG   debug (default) or release: which loketd to build
#   LOKET_RELIABILITY_LOKETD   a loketd binary to use instead of building one
#   LOKET_RELIABILITY_KEEP=1   keep the work folder (logs, cluster) for inspection; it is also kept,
#                              and its path printed, when a check fails
#
# The caller sets rel_name before sourcing, records assertions with rel_check/rel_expect, and ends
# with rel_finish.
# shellcheck disable=SC2034 # the variables below are read by the scripts that source this file

rel_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$rel_root" || exit 1
# shellcheck source=deploy/local/postgres.sh
source deploy/local/postgres.sh

rel_name=${rel_name:-reliability}
rel_full=0
rel_work=""
rel_bin=""
rel_cluster=""
rel_port=""
rel_base=""
rel_server_pid=""
rel_server_args=()
rel_failures=0
rel_passed=0
rel_children=()   # background clients, stopped at exit (rel_cleanup)

rel_log() { printf '\033[1m[%s]\033[0m %s\n' "$rel_name" "$*" >&2; }

# rel_check OK|FAIL TEXT: records one assertion's outcome and prints it.
rel_check() {
    if [ "$1" = OK ]; then
        rel_passed=$((rel_passed + 1))
        printf '  ok    %s\n' "$2"
    else
        rel_failures=$((rel_failures + 1))
        printf '  FAIL  %s\n' "$2"
    fi
}

# rel_expect NAME ACTUAL EXPECTED: an equality assertion.
rel_expect() {
    if [ "$2" = "$3" ]; then rel_check OK "$1 ($2)"; else rel_check FAIL "$1: got $2, expected $3"; fi
}

# rel_parse_mode "$@": --full or nothing; sets rel_full.
rel_parse_mode() {
    while [ $# -gt 0 ]; do
        case $1 in
            --full) rel_full=1; shift ;;
            -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) echo "usage: $0 [--full]" >&2; exit 2 ;;
        esac
    done
}

# rel_setup: the work folder, prerequisites, the exit trap.
rel_setup() {
    loket_ensure_prerequisites
    command -v curl >/dev/null || { rel_log "curl is required"; exit 1; }
    rel_work=$(mktemp -d "/tmp/loket-reliability-$rel_name.XXXXXX")
    chmod 755 "$rel_work"
    trap rel_cleanup EXIT
    trap 'exit 130' INT TERM
}

rel_cleanup() {
    local status=$? pid
    for pid in "${rel_children[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    rel_server_stop
    [ -n "$rel_cluster" ] && loket_pg_stop "$rel_cluster"
    if [ -n "$rel_work" ]; then
        if [ "$status" != 0 ] || [ "${LOKET_RELIABILITY_KEEP:-0}" = 1 ]; then
            rel_log "work folder kept: $rel_work"
        else
            rm -rf "$rel_work"
        fi
    fi
    exit "$status"
}

# rel_build_loketd: sets rel_bin to a private copy of loketd (with its resource bundle), so that
# builds by others in the shared .build/ cannot swap the binary under a running check.
rel_build_loketd() {
    local source=${LOKET_RELIABILITY_LOKETD:-}
    if [ -z "$source" ]; then
        local config=${LOKET_RELIABILITY_CONFIG:-debug}
        rel_log "building loketd ($config)"
        source=$(loket_build_loketd "$rel_work/build.log" "$config") || { rel_log "build failed"; exit 1; }
    fi
    [ -x "$source" ] || { rel_log "no loketd at $source"; exit 1; }
    mkdir -p "$rel_work/bin"
    cp "$source" "$rel_work/bin/loketd"
    local bundle
    for bundle in "$(dirname "$source")"/*.resources; do
        [ -d "$bundle" ] && cp -R "$bundle" "$rel_work/bin/"
    done
    rel_bin="$rel_work/bin/loketd"
}

# rel_database: a private cluster (profile "test") with a migrated, seeded database `loket`.
rel_database() {
    rel_cluster="$rel_work/pg"
    loket_pg_start "$rel_cluster" test
    loket_create_database "$rel_bin" "$rel_work/migrate.log" || exit 1
}

# rel_sql QUERY: one value (or rows of |-separated values) from the database.
rel_sql() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# The cluster owner runs pg_ctl (PostgreSQL refuses root); the log stays in the cluster folder.
rel_pg_ctl() {
    loket_as_owner "$(loket_pg_bindir)/pg_ctl" -D "$rel_cluster/data" -l "$rel_cluster/postgres.log" "$@"
}

rel_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rel_server_start [loketd serve options…]: starts `loketd serve` on loopback (the same port on
# every restart) and waits until /readyz answers 200. The options of the first start are reused.
rel_server_start() {
    [ $# -gt 0 ] && rel_server_args=("$@")
    [ -n "$rel_port" ] || rel_port=$(rel_free_port)
    rel_base="http://127.0.0.1:$rel_port"
    LOKET_LOG_LEVEL=${LOKET_LOG_LEVEL:-warning} "$rel_bin" serve --sql-dir SQL --bind 127.0.0.1 --port "$rel_port" \
        "${rel_server_args[@]}" >>"$rel_work/loketd.log" 2>&1 &
    rel_server_pid=$!
    rel_wait_ready 30 || { tail -n 30 "$rel_work/loketd.log" >&2; rel_log "loketd is not ready"; exit 1; }
}

# rel_wait_ready SECONDS: waits for /readyz 200 from the running server; fails if it exits.
rel_wait_ready() {
    local deadline=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$deadline" ]; do
        curl -fsS -m 2 "$rel_base/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$rel_server_pid" 2>/dev/null || { rel_log "loketd exited"; return 1; }
        sleep 0.05
    done
    return 1
}

# rel_server_kill: SIGKILL, then reap it.
rel_server_kill() {
    [ -n "$rel_server_pid" ] || return 0
    kill -KILL "$rel_server_pid" 2>/dev/null || true
    wait "$rel_server_pid" 2>/dev/null || true
    rel_server_pid=""
}

# rel_server_stop: SIGTERM (graceful), SIGKILL after 10 s.
rel_server_stop() {
    [ -n "$rel_server_pid" ] || return 0
    if kill -0 "$rel_server_pid" 2>/dev/null; then
        kill -TERM "$rel_server_pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 100); do kill -0 "$rel_server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$rel_server_pid" 2>/dev/null || true
    fi
    wait "$rel_server_pid" 2>/dev/null || true
    rel_server_pid=""
}

# rel_server_log_errors: lines of the server log that speak of an unhandled error or a crash.
rel_server_log_errors() {
    grep -iE 'unhandled error|fatal error|crash|assertion failed|precondition failed' "$rel_work/loketd.log" || true
}

# rel_issue_staff_token NIP: a fresh personal token of that officer.
rel_issue_staff_token() {
    "$rel_bin" admin token issue --sql-dir SQL --nip "$1" --label reliability 2>/dev/null | tail -n 1
}

# rel_issue_partner_key: a fresh Open311 api_key.
rel_issue_partner_key() {
    "$rel_bin" admin partner issue --sql-dir SQL --name "reliability" 2>/dev/null | tail -n 1
}

# rel_finish: prints the check's tally and exits 1 if an assertion failed.
rel_finish() {
    local problems
    problems=$(rel_server_log_errors)
    if [ -n "$problems" ]; then
        rel_check FAIL "server log is free of unhandled errors and crashes:"
        printf '%s\n' "$problems" | tail -n 20 | sed 's/^/        /'
    fi
    if [ "$rel_failures" = 0 ]; then
        rel_log "PASS ($rel_passed assertions)"
        exit 0
    fi
    rel_log "FAILED ($rel_failures of $((rel_passed + rel_failures)) assertions)"
    exit 1
}

# The Python interpreter for the clients (standard library only).
rel_python=${LOKET_PYTHON:-python3}
