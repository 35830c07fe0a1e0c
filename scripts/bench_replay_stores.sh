#!/bin/bash
# bench_replay_stores.sh - the router's throughput with each replay store
# (issue 13): the same routed request (2 KB chat body, one model, a
# `tether mock` upstream) under `wrk -t1 -c16` against `tether serve
# --workers 1` with router_replay off, sqlite, redis and postgres. Starts a
# throwaway redis-server and PostgreSQL (initdb in a temp dir; as the
# postgres user when run as root) on loopback and stops everything on exit.
# Rounds are interleaved; the figure per store is the median.
#
# Environment: BENCH_DURATION=4 (seconds per run), BENCH_ROUNDS=3,
# BENCH_BIN=build/tether, BENCH_STORES="off sqlite redis postgres".
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=${BENCH_BIN:-build/tether}
DUR=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-3}
STORES=${BENCH_STORES:-off sqlite redis postgres}
TMP=$(mktemp -d /tmp/tether-bench-replay-XXXXXX)
PIDS=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)

die() { echo "bench_replay_stores: $*" >&2; exit 1; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${PG_DATA:-}" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop > /dev/null 2>&1
    wait 2> /dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_listen() { # PID PORT
    for _ in $(seq 200); do
        kill -0 "$1" 2> /dev/null || die "a process exited at start (port $2)"
        (exec 3<> "/dev/tcp/127.0.0.1/$2") 2> /dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on $2"
}

[ -x "$BIN" ] || die "$BIN is missing: run make"
command -v wrk > /dev/null || die "wrk is missing: scripts/deps.sh"

# the upstream
MOCK_PORT=$(free_port)
"$BIN" mock --listen "127.0.0.1:$MOCK_PORT" --workers 1 > /dev/null 2>&1 &
PIDS+=($!)
wait_listen $! "$MOCK_PORT"

# the shared stores
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > /dev/null 2>&1 &
PIDS+=($!)
wait_listen $! "$REDIS_PORT"
PG_PORT=$(free_port)
if [ -n "$PG_BIN" ]; then
    PG_DATA="$TMP/pg"
    mkdir -p "$PG_DATA" && [ "$(id -u)" = 0 ] && chown postgres "$TMP" "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U tether -A trust --no-sync > /dev/null || die "initdb failed"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP/pg.log" -w \
        -o "-p $PG_PORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null ||
        die "postgres did not start ($TMP/pg.log)"
fi

# the request: ~2 KB chat body
python3 - "$TMP/body.json" << 'EOF'
import json, sys
fill = ("Please continue with the next step and keep the answer short. " * 40)[:1900]
json.dump({"model": "auto", "messages": [{"role": "user", "content": fill}]}, open(sys.argv[1], "w"))
EOF
cat > "$TMP/post.lua" << 'EOF'
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

store_yaml() {
    case $1 in
    off) echo "{enabled: false}" ;;
    sqlite) echo "{store: sqlite, path: \"$TMP/replay.db\"}" ;;
    redis) echo "{store: redis, redis: {address: \"127.0.0.1:$REDIS_PORT\"}}" ;;
    postgres) echo "{store: postgres, postgres: {conninfo: \"host=127.0.0.1 port=$PG_PORT user=tether dbname=postgres\"}}" ;;
    esac
}

run_store() { # STORE -> RPS
    local port
    port=$(free_port)
    cat > "$TMP/$1.yaml" << EOF
version: v0.3
listeners:
  - {name: bench, address: 127.0.0.1, port: $port}
providers:
  defaults: {default_model: m}
  models:
    - name: m
      backend_refs: [{name: mock, endpoint: "127.0.0.1:$MOCK_PORT"}]
routing:
  modelCards: [{name: m}]
global:
  services:
    router_replay: $(store_yaml "$1")
EOF
    "$BIN" serve --config "$TMP/$1.yaml" --workers 1 --log-level warn > "$TMP/$1.out" 2>&1 &
    local pid=$!
    wait_listen "$pid" "$port"
    BENCH_BODY="$TMP/body.json" wrk -t1 -c16 -d1s -s "$TMP/post.lua" "http://127.0.0.1:$port/v1/chat/completions" > /dev/null 2>&1
    BENCH_BODY="$TMP/body.json" wrk -t1 -c16 -d"${DUR}s" -s "$TMP/post.lua" \
        "http://127.0.0.1:$port/v1/chat/completions" > "$TMP/$1.wrk" 2>&1
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$TMP/$1.wrk")
    NON2XX=$(awk '/Non-2xx/ {print $NF}' "$TMP/$1.wrk")
    kill "$pid"
    wait "$pid" 2> /dev/null
}

declare -A R
for round in $(seq "$ROUNDS"); do
    for s in $STORES; do
        [ "$s" = postgres ] && [ -z "$PG_BIN" ] && continue
        run_store "$s"
        [ -z "${NON2XX:-}" ] || die "$s: $NON2XX non-2xx answers"
        R[$s]="${R[$s]:-} $RPS"
    done
done
echo "| replay store | req/s (median of $ROUNDS, wrk -t1 -c16 -d${DUR}s, 1 worker, 2 KB) | runs |"
echo "|---|---:|---|"
for s in $STORES; do
    [ -n "${R[$s]:-}" ] || continue
    med=$(echo "${R[$s]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "| $s | $med |${R[$s]} |"
done
