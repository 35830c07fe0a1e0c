#!/bin/bash
# `make run`: start two simulated backends and the router on the quickstart
# config, print a curl command to try, and stop everything on Ctrl-C.
set -u
BIN=${1:-build/tether}
# Ports: TETHER_PORT (router), SMALL_PORT and LARGE_PORT (the two mocks).
# The replay database goes to ${TMPDIR:-/tmp}/tether-quickstart-replay.db.
export TETHER_PORT=${TETHER_PORT:-8899} SMALL_PORT=${SMALL_PORT:-9101} LARGE_PORT=${LARGE_PORT:-9102}
# The management listener (dashboard) on MGMT_PORT, with an admin token made
# here unless TETHER_DASHBOARD_TOKEN is set.
export MGMT_PORT=${MGMT_PORT:-8080}
if [ -z "${TETHER_DASHBOARD_TOKEN:-}" ]; then
    TETHER_DASHBOARD_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
fi
export TETHER_DASHBOARD_TOKEN
pids=()
cleanup() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    echo "stopped."
}
trap cleanup INT TERM EXIT
"$BIN" mock --listen 127.0.0.1:$SMALL_PORT --models sim-small,sim-embed >/dev/null & pids+=($!)
"$BIN" mock --listen 127.0.0.1:$LARGE_PORT --models sim-large >/dev/null & pids+=($!)
sleep 0.3
"$BIN" serve --config examples/quickstart.yaml & pids+=($!)
sleep 0.5
if ! kill -0 "${pids[2]}" 2>/dev/null; then echo "tether serve failed to start" >&2; exit 2; fi
cat <<MSG

tether is running on http://127.0.0.1:$TETHER_PORT with simulated models (small, large; embed for embeddings).
Try:

  curl -s http://127.0.0.1:$TETHER_PORT/v1/chat/completions \
    -H 'content-type: application/json' \
    -d '{"model":"auto","messages":[{"role":"user","content":"Hello!"}]}'

  curl -s http://127.0.0.1:$TETHER_PORT/v1/embeddings \
    -H 'content-type: application/json' -d '{"model":"embed","input":"Hello!"}'

Dashboard: http://127.0.0.1:$MGMT_PORT/dashboard/
  token (admin): $TETHER_DASHBOARD_TOKEN

Ctrl-C stops everything.
MSG
wait "${pids[2]}"
