#!/usr/bin/env bash
# Stops and removes a formation made by deploy/ha/setup.sh (docs/ha.md).
#
#   deploy/ha/teardown.sh [--keep] DIR
#
# Stops each node's `pg_autoctl run` (the standby, the primary, then the monitor) and waits for it;
# whatever is still running after that (a supervisor by the pid in its pid file, the process that
# setup.sh started it with, a PostgreSQL by its postmaster.pid) is stopped by its process id. Then DIR is removed, unless --keep (logs kept
# for reading). Safe to run twice, and on a half-made DIR.
set -uo pipefail
# Only what this script says decides where libpq connects (deploy/test.sh exports its own cluster's).
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/local/postgres.sh
source "$here/../local/postgres.sh"

keep=0
dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1; shift ;;
        -*) echo "usage: deploy/ha/teardown.sh [--keep] DIR" >&2; exit 2 ;;
        *) dir=$1; shift ;;
    esac
done
[ -n "$dir" ] || { echo "usage: deploy/ha/teardown.sh [--keep] DIR" >&2; exit 2; }
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
# Refuse anything that does not look like one of ours.
[ -d "$dir/xdg" ] || [ -f "$dir/ha.env" ] || { echo "teardown: $dir is not a deploy/ha/setup.sh folder" >&2; exit 2; }

pgbin=/usr/lib/postgresql/15/bin
ha_env=(
    "XDG_CONFIG_HOME=$dir/xdg/config" "XDG_DATA_HOME=$dir/xdg/data" "XDG_RUNTIME_DIR=$dir/xdg/run"
    "PG_REGRESS_SOCK_DIR=$dir/sock" "PGHOST=$dir/sock" "PATH=$pgbin:/usr/sbin:/usr/bin:/sbin:/bin"
)
autoctl() { (cd "$dir" && loket_as_owner env "${ha_env[@]}" timeout 20 pg_autoctl "$@"); }

# The supervisors' pids, from pg_autoctl's pid files (first line), and the processes setup.sh
# started them with (DIR/NAME.wrapper.pid), if they are still ours (their command names DIR).
ours() {
    local command
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
    command=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")
    [[ $command == *"$dir/"* ]]
}
supervisors() {
    local pid
    find "$dir/xdg/run" -name pg_autoctl.pid 2>/dev/null | while read -r file; do
        pid=$(head -n 1 "$file" 2>/dev/null)
        if ours "$pid"; then echo "$pid"; fi
    done
}
wrappers() {
    local file pid
    for file in "$dir"/*.wrapper.pid; do
        [ -f "$file" ] || continue
        pid=$(head -n 1 "$file")
        if ours "$pid"; then echo "$pid"; fi
    done
}
# Each node's postmaster (if it runs from DIR) and its children.
postgres_processes() {
    local name pid
    for name in node2 node1 monitor; do
        pid=$(head -n 1 "$dir/$name/postmaster.pid" 2>/dev/null)
        if ours "$pid"; then echo "$pid"; ps -o pid= --ppid "$pid" 2>/dev/null; fi
    done
}
# Running, or stopped: not gone and not a zombie.
alive() {
    local state
    [ -n "$1" ] || return 1
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

# A node stopped with SIGSTOP (tests/ha --mode freeze) must go on to be able to stop.
for pid in $(wrappers) $(supervisors) $(postgres_processes); do kill -CONT "$pid" 2>/dev/null || true; done
for name in node2 node1 monitor; do
    [ -d "$dir/$name" ] || continue
    autoctl stop --pgdata "$dir/$name" >/dev/null 2>&1 || true
done
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
    running=0
    for pid in $(supervisors) $(wrappers); do alive "$pid" && running=1; done
    [ "$running" = 0 ] && break
    sleep 0.5
done
for pid in $(supervisors) $(wrappers); do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
done
# A PostgreSQL left behind (its supervisor killed): stop it by its data folder.
for name in node2 node1 monitor; do
    if [ -f "$dir/$name/postmaster.pid" ]; then
        loket_as_owner "$pgbin/pg_ctl" -D "$dir/$name" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
        pid=$(head -n 1 "$dir/$name/postmaster.pid" 2>/dev/null || true)
        if ours "$pid" && alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
done
if [ "$keep" = 0 ]; then
    rm -rf "$dir"
fi
exit 0
