#!/bin/bash
# Soak: `tether serve` (sessions, replay to SQLite, metrics) in front of a
# strict `tether mock`, driven by wrk at saturation for SOAK_SECONDS
# (default 600); every 10 s the router's VmRSS and open fds are sampled, and
# the latency one more client sees (median of 5 curl requests beside the
# load); wrk prints its latency distribution at the end.
# Prints the samples, wrk's totals, non-2xx answers and the strict mock's
# continuity violations; exit 1 on errors, violations, or an RSS at the end
# more than SOAK_RSS_SLACK_KB (default 65536) over the warm sample (the one
# at 60 s, or halfway through a shorter run: the session store, the replay
# queue and SQLite's cache fill up first).
#   scripts/soak.sh                    # build/tether
#   TETHER_BIN=build-asan/tether SOAK_SECONDS=120 scripts/soak.sh
set -u
cd "$(dirname "$0")/.."
BIN=${TETHER_BIN:-build/tether}
SECS=${SOAK_SECONDS:-600}
CONNS=${SOAK_CONNECTIONS:-32}
SLACK=${SOAK_RSS_SLACK_KB:-65536}
command -v wrk >/dev/null || { echo "soak: wrk is not installed" >&2; exit 2; }
DIR=$(mktemp -d /tmp/tether-soak.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port); RPORT=$(free_port); GPORT=$(free_port)
"$BIN" mock --listen 127.0.0.1:$MPORT --strict --workers 1 >"$DIR/mock.out" 2>/dev/null &
pids+=($!)
cat >"$DIR/soak.yaml" <<YAML
version: v0.3
listeners:
  - {name: main, address: 127.0.0.1, port: $RPORT}
providers:
  defaults: {default_model: small}
  models:
    - name: small
      backend_refs: [{name: s1, endpoint: "127.0.0.1:$MPORT"}]
    - name: big
      backend_refs: [{name: b1, endpoint: "127.0.0.1:$MPORT"}]
routing:
  modelCards: [{name: small}, {name: big}]
  signals:
    keywords:
      - {name: hard, keywords: [prove, derive]}
  decisions:
    - {name: reasoning, priority: 10, rules: {type: keyword, name: hard}, modelRefs: [{model: big}]}
    - {name: chat, modelRefs: [{model: small}]}
global:
  services:
    management_api: {listen: "127.0.0.1:$GPORT"}
YAML
# SOAK_REPLAY=0 leaves replay out (to tell its memory from the rest)
[ "${SOAK_REPLAY:-1}" = 0 ] || echo "    router_replay: {path: \"$DIR/replay.db\"}" >>"$DIR/soak.yaml"
# SOAK_MAX_SESSIONS=N sets global.router.session.max_sessions (the memory
# store's cap: N sessions, N openers, 4N chain entries)
[ -z "${SOAK_MAX_SESSIONS:-}" ] || printf '  router:\n    session: {max_sessions: %s}\n' "$SOAK_MAX_SESSIONS" >>"$DIR/soak.yaml"
"$BIN" serve --config "$DIR/soak.yaml" >"$DIR/router.out" 2>"$DIR/router.err" &
RPID=$!
pids+=($RPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$RPORT/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$RPORT/health" >/dev/null || { echo "soak: router did not start" >&2; cat "$DIR/router.err" >&2; exit 1; }

cat >"$DIR/load.lua" <<'LUA'
-- a session id out of 500, a prompt that routes to small or big
local n = 0
request = function()
  n = n + 1
  local sid = "soak-" .. (n % 500)
  local text = (n % 4 == 0) and "prove that the sum is even" or "hello, a small question"
  local body = '{"model":"auto","messages":[{"role":"user","content":"' .. text .. ' ' .. n .. '"}]}'
  return wrk.format("POST", "/v1/chat/completions",
    {["Content-Type"] = "application/json", ["x-session-id"] = sid}, body)
end
LUA

# probe: the median of 5 chat requests' total time (ms) sent by curl beside
# wrk's load, i.e. what one more client sees at saturation
probe_ms() {
    local i
    for i in 1 2 3 4 5; do
        curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' \
            -d '{"model":"auto","messages":[{"role":"user","content":"probe '"$i"'"}]}' \
            "http://127.0.0.1:$RPORT/v1/chat/completions"
    done | sort -n | awk 'NR==3{printf "%.1f", $1*1000}'
}
sample() { # t rss_kb fds probe_ms
    local rss fds
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$RPID/status" 2>/dev/null)
    fds=$(ls "/proc/$RPID/fd" 2>/dev/null | wc -l)
    echo "$1 $rss $fds $(probe_ms)"
}
echo "soak: $SECS s, wrk -t2 -c$CONNS, router pid $RPID ($BIN)"
echo "t_s rss_kb fds probe_p50_ms"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$DIR/load.lua" "http://127.0.0.1:$RPORT" >"$DIR/wrk.out" 2>&1 &
WPID=$!
t=0
warm_at=$((SECS / 2 / 10 * 10)); [ "$warm_at" -gt 60 ] && warm_at=60; [ "$warm_at" -lt 10 ] && warm_at=10
first=""
sample 0
while kill -0 $WPID 2>/dev/null; do
    sleep 10
    t=$((t + 10))
    kill -0 "$RPID" 2>/dev/null || { echo "soak: the router died" >&2; exit 1; }
    line=$(sample $t)
    echo "$line"
    [ "$t" = "$warm_at" ] && first=$(echo "$line" | awk '{print $2}')
done
[ -n "$first" ] || first=$(sample 0 | awk '{print $2}')
wait $WPID
last=$(sample end | awk '{print $2}')
echo "--- wrk"
cat "$DIR/wrk.out"
non2xx=$(awk '/Non-2xx/{print $NF}' "$DIR/wrk.out"); non2xx=${non2xx:-0}
sockerr=$(grep -c "Socket errors" "$DIR/wrk.out")
viol=$(curl -sf "http://127.0.0.1:$MPORT/mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("violations",-1))')
echo "--- soak: rss at ${warm_at} s ${first} kB, last ${last} kB; non-2xx ${non2xx}; socket error lines ${sockerr}; strict mock violations ${viol}"
status=0
[ "$non2xx" = 0 ] || status=1
[ "$viol" = 0 ] || status=1
[ "$sockerr" = 0 ] || status=1
[ $((last - first)) -le "$SLACK" ] || status=1
kill "$RPID"; wait "$RPID" 2>/dev/null
rc=$?
if grep -q "ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error" "$DIR/router.err"; then
    echo "soak: sanitizer reports:" >&2; grep -m5 "ERROR\|runtime error" "$DIR/router.err" >&2; status=1
fi
echo "soak: router exit $rc; $([ $status = 0 ] && echo clean || echo FAILED)"
exit $status
