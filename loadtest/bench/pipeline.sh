#!/usr/bin/env bash
# Start and stop the pipeline for a benchmark: release client-api and judge-worker as in
# README "Running without Docker", with a queue prefix, database and port of their own.
#
#   loadtest/bench/pipeline.sh start NAME PORT [OTLP_ENDPOINT]   # both services
#   loadtest/bench/pipeline.sh start-api NAME PORT [OTLP_ENDPOINT]  # the API alone
#   loadtest/bench/pipeline.sh env NAME      # prints what to `eval` for loadtest (URL, tokens)
#   loadtest/bench/pipeline.sh pids NAME     # prints `--watch` arguments for loadtest
#   loadtest/bench/pipeline.sh stop NAME     # stops both, deletes the queues and the database
#
# Binaries come from $CARGO_TARGET_DIR/release (default /work/target-load). State and logs go
# to /tmp/loadtest-bench/NAME. Tokens are generated per run: 20 client tokens, so 200
# submissions/s stay under the API's per-token rate limit (20/s) like 20 users would.
set -euo pipefail

command=${1:?usage: pipeline.sh start|start-api|env|pids|stop NAME [PORT] [OTLP_ENDPOINT]}
name=${2:?name}
port=${3:-18080}
otlp=${4:-}
target=${CARGO_TARGET_DIR:-/work/target-load}/release
state=/tmp/loadtest-bench/$name
database=bench_${name//-/_}
prefix=bench-$name.

wait_ready() {
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "the API did not get ready; see $state/api.log" >&2
    return 1
}

service_env() {
    set -a
    # shellcheck disable=SC1091
    source "$state/secrets"
    set +a
    export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
    export QUEUE_PREFIX=$prefix
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$database
    export LISTEN_ADDR=127.0.0.1:$port
    export API_URL=http://127.0.0.1:$port
    export LOG_FORMAT=json RUST_LOG=info
    if [[ -n "$otlp" ]]; then
        export OTEL_EXPORTER_OTLP_ENDPOINT=$otlp
    else
        unset OTEL_EXPORTER_OTLP_ENDPOINT
    fi
}

start_api() {
    mkdir -p "$state"
    if [[ ! -f "$state/secrets" ]]; then
        {
            tokens=$(for i in $(seq 1 20); do printf 'client%s-%s,' "$i" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"; done)
            echo "API_TOKENS=${tokens%,}"
            echo "ADMIN_TOKEN=admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
            echo "WORKER_TOKEN=worker-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        } >"$state/secrets"
        chmod 600 "$state/secrets"
    fi
    (service_env; exec setsid "$target/client-api" </dev/null >>"$state/api.log" 2>&1) &
    echo $! >"$state/api.pid"
    wait_ready
}

start_worker() {
    (service_env; exec setsid "$target/judge-worker" </dev/null >>"$state/worker.log" 2>&1) &
    echo $! >"$state/worker.pid"
    # Ready once it consumes (after preparing its toolchains, which a first start makes).
    for _ in $(seq 1 600); do
        grep -q '"consuming submissions"' "$state/worker.log" 2>/dev/null && return 0
        kill -0 "$(cat "$state/worker.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "the worker did not start consuming; see $state/worker.log" >&2
    return 1
}

stop_pid() {
    local file=$state/$1.pid
    [[ -f "$file" ]] || return 0
    local pid
    pid=$(cat "$file")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

case $command in
start)
    start_api
    start_worker
    ;;
start-api)
    start_api
    ;;
start-worker)
    start_worker
    ;;
env)
    # shellcheck disable=SC1091
    source "$state/secrets"
    echo "export API_URL=http://127.0.0.1:$port ADMIN_TOKEN=$ADMIN_TOKEN API_TOKENS=$API_TOKENS"
    ;;
pids)
    args=""
    [[ -f "$state/api.pid" ]] && args+=" --watch client-api=$(cat "$state/api.pid")"
    [[ -f "$state/worker.pid" ]] && args+=" --watch judge-worker=$(cat "$state/worker.pid")"
    echo "$args"
    ;;
stop-worker)
    stop_pid worker
    ;;
stop)
    stop_pid worker
    stop_pid api
    for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | awk -v p="$prefix" 'index($0, p) == 1'); do
        rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
    done
    # rabbitmqctl has no delete_exchange; the broker's own function does it.
    for exchange in $(rabbitmqctl -q list_exchanges name 2>/dev/null | awk -v p="$prefix" 'index($0, p) == 1'); do
        rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$exchange\">>), false, <<\"loadtest\">>)." >/dev/null 2>&1 || true
    done
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" postgres
    ;;
*)
    echo "unknown command $command" >&2
    exit 2
    ;;
esac
