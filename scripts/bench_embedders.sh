#!/bin/bash
# Added routing latency of the remote embedder (docs/PERFORMANCE.md, Remote
# embedder): `tether serve` (1 worker) in front of a `tether mock` LLM, with
# a second mock serving /v1/embeddings, each call held --latency-ms (default
# 5). Configs: `none` (a keyword rule only), `hit` (an embedding rule, the
# same text every request: served from the shared cache), `miss` (a new
# text every request: one upstream call per text, gathered per loop turn),
# `miss+cls` (that plus one jailbreak classifier on the same mock, both
# fetched in parallel). wrk drives non-streaming chat requests at 1 and 64
# connections; the script prints p50 / p99 / req/s and the embedding calls
# per routed request the mock counted. Loopback only; needs wrk.
#   scripts/bench_embedders.sh [service_ms] [seconds]
set -eu
cd "$(dirname "$0")/.."
B=${TETHER_BIN:-build/tether}
MS=${1:-5}
SECS=${2:-10}
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LLM=$(port); EMB=$(port)
$B mock --listen 127.0.0.1:$LLM --workers 2 --reply-bytes 64 >/dev/null 2>&1 & pids+=($!)
$B mock --listen 127.0.0.1:$EMB --workers 2 --latency-ms "$MS" --classify "secret sauce=jailbreak" \
    >/dev/null 2>&1 & pids+=($!)
sleep 0.5
cat >"$T/same.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"What is the capital of France? Answer briefly."}]}'
LUA
cat >"$T/new.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local id = tostring(math.random(1, 1000000000))
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, '{"model":"auto","messages":[{"role":"user","content":"Question ' ..
        id .. "-" .. n .. ': what is the capital of France?"}]}')
end
LUA
write_cfg() { # $1 file, $2 config, $3 port
    local sig="" dec=""
    case $2 in
    hit | miss | miss+cls)
        sig="    embeddings:\n      - {name: geo, candidates: [\"tell me about mountains\"], threshold: 0.99}\n"
        dec="    - {name: g, priority: 50, rules: {type: embedding, name: geo}, modelRefs: [{model: m}]}\n" ;;
    esac
    if [ "$2" = miss+cls ]; then
        sig="$sig    jailbreak:\n      - {name: jb, method: classifier, classifier: jbc}\n"
        dec="$dec    - {name: blocked, priority: 100, rules: {type: jailbreak, name: jb}, modelRefs: [{model: m}]}\n"
    fi
    printf "version: v0.3\nlisteners:\n  - {name: main, address: 127.0.0.1, port: %s}\n\
providers:\n  defaults: {default_model: m}\n  models:\n    - name: m\n      backend_refs: [{name: a, endpoint: \"127.0.0.1:$LLM\"}]\n\
routing:\n  modelCards: [{name: m}]\n  signals:\n$sig\
    keywords:\n      - {name: kw, keywords: [zebra]}\n\
  decisions:\n$dec    - {name: kwd, priority: 10, rules: {type: keyword, name: kw}, modelRefs: [{model: m}]}\n\
    - {name: rest, priority: 1, modelRefs: [{model: m}]}\n\
global:\n  router: {limits: {signal_timeout: 1s}}\n  services: {router_replay: {enabled: false}}\n\
  model_catalog:\n    embeddings:\n      backend: openai_compatible\n\
      openai_compatible: {base_url: \"http://127.0.0.1:$EMB/v1\", model: emb, dimensions: 64}\n\
    classifiers:\n\
      - {name: jbc, type: http_classify, endpoint: \"http://127.0.0.1:$EMB/classify\", positive_labels: [jailbreak]}\n" \
        "$3" >"$1"
}
calls() { curl -s "http://127.0.0.1:$EMB/mock/stats" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["by_path"].get("/v1/embeddings",0))'; }
printf "%-10s %5s %10s %10s %10s %12s\n" config conns p50 p99 req_s calls_per_req
for cfg in none hit miss miss+cls; do
    RP=$(port)
    write_cfg "$T/c.yaml" "$cfg" "$RP"
    $B serve --config "$T/c.yaml" --workers 1 --log-level warn >/dev/null 2>&1 & rp=$!
    pids+=($rp)
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$RP/health" && break; sleep 0.2; done
    lua=$T/new.lua
    [ "$cfg" = hit ] && lua=$T/same.lua
    for c in 1 64; do
        c0=$(calls)
        out=$(wrk -t $([ $c = 1 ] && echo 1 || echo 2) -c $c -d "${SECS}s" --latency -s "$lua" \
            "http://127.0.0.1:$RP/v1/chat/completions" 2>&1)
        c1=$(calls)
        p50=$(echo "$out" | awk '$1=="50%"{print $2}')
        p99=$(echo "$out" | awk '$1=="99%"{print $2}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        nreq=$(echo "$out" | awk '/requests in/{print $1}')
        cpr=$(python3 -c "print(round(($c1-$c0)/max(1,$nreq),3))")
        printf "%-10s %5s %10s %10s %10s %12s\n" "$cfg" "$c" "$p50" "$p99" "$rps" "$cpr"
    done
    kill $rp
done
