#!/bin/bash
# Added routing latency of external classifiers (docs/PERFORMANCE.md,
# External classifiers): `tether serve` (1 worker) in front of a `tether mock`
# LLM, with a second mock serving /classify and a guard model, each call
# held --latency-ms (default 5) by the mock. Three configs: no classifier,
# one (jailbreak via /classify), two (that plus a guard model through chat
# completions, a `classifier` rule), all in one recipe. wrk drives
# non-streaming chat requests at 1 and 64 connections; the script prints
# wrk's p50 / p99 per config. Loopback only; needs wrk.
#   scripts/bench_classifiers.sh [service_ms] [seconds]
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
LLM=$(port); CLS=$(port)
$B mock --listen 127.0.0.1:$LLM --workers 2 --reply-bytes 64 >/dev/null 2>&1 & pids+=($!)
$B mock --listen 127.0.0.1:$CLS --workers 2 --latency-ms "$MS" --classify "secret sauce=jailbreak" \
    --guard-model guard >/dev/null 2>&1 & pids+=($!)
sleep 0.5
cat >"$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"What is the capital of France? Answer briefly."}]}'
LUA
write_cfg() { # $1 file, $2 number of classifiers (0..2)
    local sig="" dec="" n=$2
    if [ "$n" -ge 1 ]; then
        sig="    jailbreak:\n      - {name: jb, method: classifier, classifier: jbc}\n"
        dec="    - {name: blocked, priority: 100, rules: {type: jailbreak, name: jb}, modelRefs: [{model: m}]}\n"
    fi
    if [ "$n" -ge 2 ]; then
        sig="$sig    classifiers:\n      - {name: unsafe, classifier: guard}\n"
        dec="$dec    - {name: guarded, priority: 90, rules: {type: classifier, name: unsafe}, modelRefs: [{model: m}]}\n"
    fi
    printf "version: v0.3\nlisteners:\n  - {name: main, address: 127.0.0.1, port: %s}\n\
providers:\n  defaults: {default_model: m}\n  models:\n    - name: m\n      backend_refs: [{name: a, endpoint: \"127.0.0.1:$LLM\"}]\n\
routing:\n  modelCards: [{name: m}]\n  signals:\n$sig\
    keywords:\n      - {name: kw, keywords: [zebra]}\n\
  decisions:\n$dec    - {name: kwd, priority: 10, rules: {type: keyword, name: kw}, modelRefs: [{model: m}]}\n\
    - {name: rest, priority: 1, modelRefs: [{model: m}]}\n\
global:\n  router: {limits: {signal_timeout: 1s}}\n  services: {router_replay: {enabled: false}}\n\
  model_catalog:\n    classifiers:\n\
      - {name: jbc, type: http_classify, endpoint: \"http://127.0.0.1:$CLS/classify\", positive_labels: [jailbreak]}\n\
      - {name: guard, type: openai_chat, base_url: \"http://127.0.0.1:$CLS/v1\", model: guard}\n" \
        "$3" >"$1"
}
cat >"$T/cls.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":["What is the capital of France? Answer briefly."]}'
LUA
printf "%-14s %5s %10s %10s %10s\n" config conns p50 p99 req_s
# the classifier alone, called directly: what a request cannot beat
for c in 1 64; do
    out=$(wrk -t $([ $c = 1 ] && echo 1 || echo 2) -c $c -d "${SECS}s" --latency -s "$T/cls.lua" \
        "http://127.0.0.1:$CLS/classify" 2>&1)
    printf "%-14s %5s %10s %10s %10s\n" "direct-classify" "$c" "$(echo "$out" | awk '$1=="50%"{print $2}')" \
        "$(echo "$out" | awk '$1=="99%"{print $2}')" "$(echo "$out" | awk '/Requests\/sec/{print $2}')"
done
for n in 0 1 2; do
    RP=$(port)
    write_cfg "$T/c$n.yaml" "$n" "$RP"
    $B serve --config "$T/c$n.yaml" --workers 1 --log-level warn >/dev/null 2>&1 & rp=$!
    pids+=($rp)
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$RP/health" && break; sleep 0.2; done
    for c in 1 64; do
        out=$(wrk -t $([ $c = 1 ] && echo 1 || echo 2) -c $c -d "${SECS}s" --latency -s "$T/post.lua" \
            "http://127.0.0.1:$RP/v1/chat/completions" 2>&1)
        p50=$(echo "$out" | awk '$1=="50%"{print $2}')
        p99=$(echo "$out" | awk '$1=="99%"{print $2}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        printf "%-14s %5s %10s %10s %10s\n" "classifiers=$n" "$c" "$p50" "$p99" "$rps"
    done
    kill $rp
done
