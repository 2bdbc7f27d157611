# shellcheck shell=bash
# Private PostgreSQL clusters for development, tests and CI. Sourced by deploy/run.sh and
# deploy/test.sh. A cluster lives in one folder (data, socket, log), listens on a Unix socket in
# that folder (the test cluster also on a loopback port with TLS), and runs as the `postgres` user
# when we are root (PostgreSQL refuses root).

loket_log() { printf '\033[1m[loket]\033[0m %s\n' "$*" >&2; }

# Runs a command as the cluster owner: `postgres` when we are root, else ourselves.
loket_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Installs what is missing (PostgreSQL server and client, libpq headers, pkg-config) with apt-get,
# and puts Swift on PATH if it is in /opt/swift.
loket_ensure_prerequisites() {
    local missing=()
    [ -n "$(loket_pg_bindir 2>/dev/null)" ] || missing+=(postgresql postgresql-contrib)
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v psql >/dev/null || missing+=(postgresql-client)
    command -v openssl >/dev/null || missing+=(openssl)
    # The whole-system checks of deploy/test.sh talk HTTP with curl and keep their Python tools
    # (schemathesis, selenium, linters) in virtual environments.
    command -v curl >/dev/null || missing+=(curl)
    command -v ps >/dev/null || missing+=(procps)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    if [ ${#missing[@]} -gt 0 ]; then
        loket_log "installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # Debian's package starts a system cluster on port 5432; ours never use it.
    fi
    if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null || { loket_log "Swift 6 is required (https://www.swift.org/install/linux/)"; return 1; }
}

# The newest installed server's bin folder (Debian keeps initdb and pg_ctl off PATH).
loket_pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

# loket_pg_start DIR PROFILE [tls]: creates (if new) and starts a cluster in DIR.
# PROFILE "test" trades durability for speed (fsync off); "run" keeps PostgreSQL's defaults.
# With "tls" it also listens on a free loopback port with TLS (a self-signed certificate made in
# DIR) and exports LOKET_TEST_TLS_PORT: the socket then carries that port's number too.
# Exports PGHOST/PGPORT/PGUSER so libpq clients (psql, pgbench, loketd, tests) find it.
loket_pg_start() {
    local dir=$1 profile=${2:-run} tls=${3:-} bin port=5432
    bin=$(loket_pg_bindir)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    chmod 755 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        loket_as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; return 1; }
    fi
    local options="-c unix_socket_directories='$dir'"
    options+=" -c shared_buffers=256MB -c random_page_cost=1.1"
    if [ "$profile" = run ]; then
        # The run cluster trusts every local connection, and its folder is in /tmp: only its owner
        # (and root) may use the socket, or any local user would be its superuser.
        options+=" -c unix_socket_permissions=0700"
    fi
    if [ "$profile" = test ]; then
        # `swift test` runs every suite at once, each test with its own database, pools and
        # servers: at 260 tests its peak came within reach of 300 connections ("too many clients").
        options+=" -c max_connections=600 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    else
        options+=" -c max_connections=300"
    fi
    if [ "$tls" = tls ] && [ ! -f "$dir/server.key" ]; then
        loket_as_owner openssl req -new -x509 -days 7 -nodes -subj /CN=localhost \
            -keyout "$dir/server.key" -out "$dir/server.crt" >"$dir/openssl.log" 2>&1 \
            || { cat "$dir/openssl.log" >&2; return 1; }
        chmod 600 "$dir/server.key"
    fi
    if ! loket_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        local started=0
        for _ in 1 2 3 4 5 6 7 8; do
            local listen="-c listen_addresses='' -p $port"
            if [ "$tls" = tls ]; then
                # A loopback port below Linux's ephemeral range that nobody answers on; if another
                # process binds it first, try another.
                port=$((20000 + RANDOM % 12000))
                (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
                listen="-c listen_addresses='127.0.0.1' -p $port -c ssl=on"
                listen+=" -c ssl_cert_file='$dir/server.crt' -c ssl_key_file='$dir/server.key'"
            fi
            local logged=0
            [ -f "$dir/postgres.log" ] && logged=$(wc -l <"$dir/postgres.log")
            if loket_as_owner "$bin/pg_ctl" -D "$dir/data" -o "$options $listen" -l "$dir/postgres.log" -w -t 60 start \
                >"$dir/pg_ctl.out" 2>&1; then
                started=1
                break
            fi
            # Only a port taken meanwhile is worth another try.
            if [ "$tls" != tls ] || ! tail -n +"$((logged + 1))" "$dir/postgres.log" 2>/dev/null | grep -q 'could not bind'; then
                break
            fi
        done
        if [ "$started" = 0 ] && ! loket_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
            cat "$dir/pg_ctl.out" >&2
            [ -f "$dir/postgres.log" ] && tail -n 20 "$dir/postgres.log" >&2
            loket_log "cannot start PostgreSQL in $dir"
            return 1
        fi
    fi
    # The port (and address) the running server took, whatever this call asked for.
    port=$(sed -n 4p "$dir/data/postmaster.pid")
    # Only this cluster from here on: loketd reads LOKET_DATABASE_URL and DATABASE_URL before the
    # PG* variables, so a developer's staging URL in the shell would be migrated and seeded; and a
    # service file, options, a password or an sslmode meant elsewhere would reach this one.
    # PGDATABASE stays: it names a database of this cluster, and a caller that starts the cluster
    # again (the restart check) has set it already.
    unset LOKET_DATABASE_URL DATABASE_URL PGHOSTADDR PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE PGOPTIONS \
        PGSSLMODE PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT
    export PGHOST="$dir" PGPORT=$port PGUSER=postgres
    # TLS only if this server listens on loopback (a reused folder may hold one started without).
    if [ "$tls" = tls ] && [ "$(sed -n 6p "$dir/data/postmaster.pid")" = 127.0.0.1 ]; then
        export LOKET_TEST_TLS_PORT=$port
    fi
}

# loket_pg_stop DIR: stops the cluster in DIR (fast shutdown), if it runs.
loket_pg_stop() {
    local dir=$1 bin
    bin=$(loket_pg_bindir) || return 0
    [ -f "$dir/data/PG_VERSION" ] || return 0
    loket_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# loket_build_loketd LOG [CONFIG]: builds loketd (CONFIG debug or release; debug by default),
# the build's output in LOG. On success prints the binary's path; on failure repeats the build's
# errors on stderr and returns 1.
loket_build_loketd() {
    local log=$1 config=${2:-debug}
    if ! swift build -c "$config" --product loketd >"$log" 2>&1; then
        grep -E 'error' "$log" | head -n 20 >&2
        return 1
    fi
    local dir
    dir=$(swift build -c "$config" --show-bin-path) || return 1
    echo "$dir/loketd"
}

# loket_create_database LOKETD LOG: in the running cluster (PGHOST, PGPORT), a database `loket`,
# migrated and with the sample catalog loaded by LOKETD; exports PGDATABASE=loket. On failure
# shows LOG (the migration's and seed's output) on stderr and returns 1.
loket_create_database() {
    local loketd=$1 log=$2
    psql -q -d postgres -c "CREATE DATABASE loket" || return 1
    export PGDATABASE=loket
    if ! "$loketd" migrate --sql-dir SQL >"$log" 2>&1 || ! "$loketd" seed --sql-dir SQL >>"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
}

# loket_stop_pid PID: asks a process (a test's loketd, a load client) to stop with SIGTERM, waits up
# to 5 s, then SIGKILLs it. Nothing when PID is empty or already gone.
loket_stop_pid() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# loket_show_server_errors LOG: repeats a server log's lines about unhandled errors or crashes on
# stderr, so a check that stops its server still says why it failed.
loket_show_server_errors() {
    local log=$1
    if [ -s "$log" ] && grep -qiE 'unhandled error|fatal|crash' "$log"; then
        loket_log "server log lines about unhandled errors:"
        grep -iE 'unhandled error|fatal|crash' "$log" | tail -n 20 >&2
    fi
}
