#!/usr/bin/env bash
# Runs a loketd build under an emulation of the systemd units' sandbox, on machines where systemd
# is not PID 1 (containers, CI), and checks that it still works:
#   MemoryDenyWriteExecute=yes   the kernel's equivalent, prctl(PR_SET_MDWE, REFUSE_EXEC_GAIN)
#   SystemCallFilter=@system-service, ~@privileged @resources, SystemCallErrorNumber=EPERM
#                                a seccomp allow-list built from `systemd-analyze syscall-filter`
#   User=, NoNewPrivileges, CapabilityBoundingSet= (empty)
#                                setpriv: user nobody, no_new_privs, no capabilities at all
# Against a scratch PostgreSQL cluster (Unix socket only): migrate, seed, serve (/healthz, /readyz,
# /openapi.yaml, /metrics, the catalog, a filing and its idempotent retry), worker (/healthz, a
# delivered notification), then SIGTERM to both. Loopback only; bounded (LOKET_SANDBOX_TIMEOUT,
# default 300 s). Not part of deploy/test.sh: it needs a built binary.
#
#   tests/deploy/sandbox.sh [path/to/loketd]     # default: the release build, else the debug build
#
# The binary needs its resource bundle beside it and finds SQL/ through LOKET_SQL_DIR (set here).
set -uo pipefail

if [ -z "${LOKET_SANDBOX_TIMED:-}" ]; then
    export LOKET_SANDBOX_TIMED=1
    exec timeout --kill-after=10 "${LOKET_SANDBOX_TIMEOUT:-300}" bash "$0" "$@"
fi
cd "$(dirname "$0")/../.." || exit 2
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "sandbox.sh: run as root (it drops to nobody itself)" >&2; exit 2; }

loketd=${1:-}
if [ -z "$loketd" ]; then
    for candidate in .build/release/loketd .build/debug/loketd; do
        [ -x "$candidate" ] && { loketd=$repo/$candidate; break; }
    done
fi
[ -n "$loketd" ] && [ -x "$loketd" ] || { echo "sandbox.sh: no loketd (build one, or pass its path)" >&2; exit 2; }
loketd=$(readlink -f "$loketd")

missing=()
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || missing+=(python3-seccomp)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v curl >/dev/null || missing+=(curl)
pg_bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -x "$pg_bindir/initdb" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
        || { echo "sandbox.sh: could not install ${missing[*]}" >&2; exit 2; }
    pg_bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

work=$(mktemp -d /tmp/loket-sandbox.XXXXXX)
chmod 755 "$work"
chown postgres: "$work"
cleanup() {
    for pid in $(pgrep -f "^$loketd (serve|worker)" || true); do kill -TERM "$pid" 2>/dev/null; done
    runuser -u postgres -- "$pg_bindir/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The sandbox: MDWE, then the seccomp allow-list, then exec.
cat >"$work/sandbox.py" <<'PY'
import ctypes, errno, os, subprocess, sys
import seccomp

def expand(group, seen):
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in (l.strip() for l in out.splitlines()[1:]):
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            if line not in seen:
                seen.add(line)
                names |= expand(line, seen)
        else:
            names.add(line)
    return names

allowed = expand("@system-service", set()) - expand("@privileged", set()) - expand("@resources", set())
rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
for name in sorted(allowed):
    try:
        rules.add_rule(seccomp.ALLOW, name)
    except Exception:
        pass  # a name this kernel or libseccomp does not know
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit("sandbox: prctl(PR_SET_MDWE) failed (Linux 6.3 or later is needed)")
rules.load()
os.execv(sys.argv[1], sys.argv[1:])
PY

runuser -u postgres -- "$pg_bindir/initdb" -D "$work/data" -A trust -U postgres >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log" >&2; exit 1; }
runuser -u postgres -- "$pg_bindir/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories='$work'" start >/dev/null || exit 1
"$pg_bindir/psql" -h "$work" -U postgres -d postgres -qXc "CREATE DATABASE loket" || exit 1

port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(port)
metrics_port=$(port)
sandboxed() {
    (cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
        env -i PATH=/usr/bin:/bin LOKET_DATABASE_URL="host=$work user=postgres dbname=loket" LOKET_SQL_DIR="$repo/SQL" \
        LOKET_PORT="$http_port" LOKET_WORKER_METRICS_PORT="$metrics_port" \
        /usr/bin/python3 "$work/sandbox.py" "$@")
}

passed=0
failed=0
expect() {  # expect NAME WANT GOT
    if [ "$2" = "$3" ]; then passed=$((passed + 1)); printf 'ok    %s\n' "$1"
    else failed=$((failed + 1)); printf 'FAIL  %s: wanted %s, got %s\n' "$1" "$2" "$3"; fi
}

got=$(sandboxed /usr/bin/taskset -c 0 /bin/true >/dev/null 2>&1; echo $?)
expect "the filter refuses sched_setaffinity (@resources)" 1 "$got"
sandboxed "$loketd" migrate >"$work/migrate.log" 2>&1
expect "loketd migrate" 0 $?
sandboxed "$loketd" seed >"$work/seed.log" 2>&1
expect "loketd seed" 0 $?

sandboxed "$loketd" serve >"$work/serve.log" 2>&1 &
sandboxed "$loketd" worker >"$work/worker.log" 2>&1 &
base=http://127.0.0.1:$http_port
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break; sleep 0.2; done
for path in healthz readyz openapi.yaml metrics api/v1/services; do
    expect "serve: GET /$path" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/$path")"
done
filing='{"service_code":"kk-baru","citizen":{"name":"Siti Aminah","nik":"3673012505850001","phone":"0812-3456-7890","email":"siti@example.id"},"area_code":"36.73.01.1001","address":"Jl. Ki Mas Jong No. 5","description":"Permohonan KK baru setelah menikah","attributes":{"alasan":"keluarga_baru"}}'
for attempt in first retry; do
    expect "serve: POST /api/v1/requests ($attempt, same Idempotency-Key)" 201 \
        "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Idempotency-Key: sandbox-1' -d "$filing" "$base/api/v1/requests")"
done
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$metrics_port/healthz" 2>/dev/null && break; sleep 0.2; done
expect "worker: GET /healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/healthz")"
delivered=0
for _ in $(seq 1 50); do
    delivered=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^loket_worker_outbox_delivered_total/ { n += $2 } END { print n + 0 }')
    [ "$delivered" -ge 1 ] && break
    sleep 0.2
done
expect "worker: the filing's notification delivered" 1 "$delivered"

for command in serve worker; do
    pid=$(pgrep -f "^$loketd $command" | head -n 1)
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    expect "$command: stops within 30 s of SIGTERM" gone "$(kill -0 "$pid" 2>/dev/null && echo running || echo gone)"
done
if grep -q -i -E '"level":"(error|critical)"| (error|critical) ' "$work/serve.log" "$work/worker.log"; then
    grep -i -E '"level":"(error|critical)"| (error|critical) ' "$work/serve.log" "$work/worker.log" | head -n 5
    expect "no errors in the logs" none found
else
    expect "no errors in the logs" none none
fi
echo "sandbox: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
