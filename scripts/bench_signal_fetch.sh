#!/bin/bash
# bench_signal_fetch.sh - the `make bench` row of issue 18: added routing
# latency per request with one external classifier call and one remote
# embedder call, both against a `tether mock` holding each call SERVICE_MS
# (default 5), at 1 and 64 connections. The goal: the two calls run in
# parallel, so a request costs max(service times) + <= 100 us, not their sum.
#
# Rows (wrk p50, non-streaming chat through `tether serve --workers 1`):
#   classify / embed   the mock's own /classify and /v1/embeddings, called
#                      directly: each call's service time as this machine
#                      delivers it (the mock's timer, not only SERVICE_MS)
#   none               routed, no classifier, no similarity rule
#   cls+emb            routed, one jailbreak rule on /classify and one
#                      embedding rule (a new text every request: a cache miss,
#                      one embeddings call), both fetched before the signals
#   both together      (1 connection) both direct calls sent at once on two
#                      keep-alive connections: p50 of the time until both
#                      answered, the max(service times) of one request
# Then: added = cls+emb - none; overhead = added - both together (at 64
# connections: added - the larger direct p50); sum = classify + embed (what
# sequential calls would cost). Last, the router's own share from its replay
# records (routing time minus the classifier call's latency), which the
# machine's scheduling noise touches far less than the wrk differences. Prints a markdown
# table: per cell the median of BENCH_FETCH_ROUNDS (3) interleaved rounds of
# SECS-second runs (default 1: about 30 s of load in all). Loopback only;
# needs wrk and curl. Every process started here is stopped.
#   scripts/bench_signal_fetch.sh [service_ms] [seconds]
set -eu -o pipefail
cd "$(dirname "$0")/.."
B=${TETHER_BIN:-${BENCH_BIN:-build/tether}}
MS=${1:-5}
SECS=${2:-1}
ROUNDS=${BENCH_FETCH_ROUNDS:-3}
T=$(mktemp -d /tmp/tether-bench-fetch.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench_signal_fetch: $*" >&2; exit 1; }
[ -x "$B" ] || die "$B not built"
command -v wrk >/dev/null || die "wrk not installed"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port pid
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || die "a process exited at start (port $1)"
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$1"
}

LLM=$(port)
SIG=$(port)
$B mock --listen 127.0.0.1:$LLM --workers 2 --reply-bytes 64 >/dev/null 2>&1 &
pids+=($!)
wait_port "$LLM" $!
$B mock --listen 127.0.0.1:$SIG --workers 2 --latency-ms "$MS" --classify "secret sauce=jailbreak" \
    >/dev/null 2>&1 &
pids+=($!)
wait_port "$SIG" $!

# A new text every request (no embedder cache hit); the same request shape
# for the direct calls.
lua() { # file, body prefix, body suffix
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local id = os.getenv("BENCH_RUN_ID") -- new texts every run: no cache hit
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, '$2' .. id .. "-" .. n .. '$3')
end
LUA
}
lua "$T/chat.lua" '{"model":"auto","messages":[{"role":"user","content":"Question ' \
    ': what is the capital of France?"}]}'
lua "$T/classify.lua" '{"model":"jb","input":["Question ' ': what is the capital of France?"]}'
lua "$T/embed.lua" '{"model":"emb","dimensions":64,"input":["Question ' \
    ': what is the capital of France?"]}'

write_cfg() { # file, config (none | cls | emb | both), port, management port
    local sig="" dec=""
    if [ "$2" = both ] || [ "$2" = emb ]; then
        sig="    embeddings:\n      - {name: geo, candidates: [\"tell me about mountains\"], threshold: 0.99}\n"
        dec="    - {name: g, priority: 50, rules: {type: embedding, name: geo}, modelRefs: [{model: m}]}\n"
    fi
    if [ "$2" = both ] || [ "$2" = cls ]; then
        sig="$sig    jailbreak:\n      - {name: jb, method: classifier, classifier: jbc}\n"
        dec="$dec    - {name: blocked, priority: 100, rules: {type: jailbreak, name: jb}, modelRefs: [{model: m}]}\n"
    fi
    printf "version: v0.3\nlisteners:\n  - {name: main, address: 127.0.0.1, port: %s}\n\
providers:\n  defaults: {default_model: m}\n  models:\n    - name: m\n      backend_refs: [{name: a, endpoint: \"127.0.0.1:$LLM\"}]\n\
routing:\n  modelCards: [{name: m}]\n  signals:\n$sig\
    keywords:\n      - {name: kw, keywords: [zebra]}\n\
  decisions:\n$dec    - {name: kwd, priority: 10, rules: {type: keyword, name: kw}, modelRefs: [{model: m}]}\n\
    - {name: rest, priority: 1, modelRefs: [{model: m}]}\n\
global:\n  router: {limits: {signal_timeout: 1s}}\n\
  services: {router_replay: {store: memory}, management_api: {listen: \"127.0.0.1:$4\"}}\n\
  model_catalog:\n    embeddings:\n      backend: openai_compatible\n\
      openai_compatible: {base_url: \"http://127.0.0.1:$SIG/v1\", model: emb, dimensions: 64}\n\
    classifiers:\n\
      - {name: jbc, type: http_classify, endpoint: \"http://127.0.0.1:$SIG/classify\", model: jb, positive_labels: [jailbreak]}\n" \
        "$3" >"$1"
}

# p50 in us of one wrk run: url, lua, connections
p50() {
    local out v
    RUNS=$((RUNS + 1))
    out=$(BENCH_RUN_ID="$$-$RUNS-$RANDOM" wrk -t "$([ "$3" = 1 ] && echo 1 || echo 2)" -c "$3" -d "${SECS}s" --timeout 5s --latency \
        -s "$2" "$1" 2>&1) || die "wrk failed against $1"
    v=$(awk '$1 == "50%" {print $2}' <<<"$out")
    [ -n "$v" ] || die "no latency from wrk against $1"
    awk -v v="$v" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.0f", v }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.0f", v * 1000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.0f", v * 1e6 }
        else printf "NaN" }'
}

RUNS=0
# The pair baseline: the two calls sent together on two keep-alive
# connections, p50 of the time until both answered (what a request that
# issues them in parallel cannot beat).
cat >"$T/pair.py" <<'PY'
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def req(path, body):
    b = body.encode()
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (path, len(b))).encode() + b
def read_resp(s, buf):
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    cl = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            cl = int(line.split(b":")[1])
    while len(rest) < cl:
        rest += s.recv(65536)
    return rest[cl:]
a, b = conn(), conn()
ba = bb = b""
lat, n = [], 0
tag = "%d-%d" % (time.time_ns(), port)
end = time.monotonic() + secs
while time.monotonic() < end:
    n += 1
    t = "Question pair-%s-%d: what is the capital of France?" % (tag, n)
    ra = req("/classify", '{"model":"jb","input":["%s"]}' % t)
    rb = req("/v1/embeddings", '{"model":"emb","dimensions":64,"input":["%s"]}' % t)
    t0 = time.monotonic()
    a.sendall(ra)
    b.sendall(rb)
    ba = read_resp(a, ba)
    bb = read_resp(b, bb)
    lat.append(time.monotonic() - t0)
lat.sort()
print(int(lat[len(lat) // 2] * 1e6))
PY

declare -A R MG
for cfg in none both; do
    RP=$(port)
    MG[$cfg]=$(port)
    write_cfg "$T/$cfg.yaml" "$cfg" "$RP" "${MG[$cfg]}"
    $B serve --config "$T/$cfg.yaml" --workers 1 --log-level warn >"$T/$cfg.log" 2>&1 &
    pids+=($!)
    wait_port "$RP" $!
    R[$cfg]=$RP
done
# one request each first: the embedder's dimension probe, connection pools
for cfg in none both; do
    curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d '{"model":"auto","messages":[{"role":"user","content":"warm up"}]}' \
        "http://127.0.0.1:${R[$cfg]}/v1/chat/completions"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
echo "| conns | classify (us) | embed (us) | both together (us) | none (us) | cls+emb (us) | added (us) | sum of calls (us) | overhead (us) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
load0=$(cut -d' ' -f1 /proc/loadavg)
for c in 1 64; do
    cls="" ems="" prs="" nos="" bos=""
    for _ in $(seq "$ROUNDS"); do # interleaved: each round sees the same load
        cls="$cls $(p50 "http://127.0.0.1:$SIG/classify" "$T/classify.lua" "$c")"
        ems="$ems $(p50 "http://127.0.0.1:$SIG/v1/embeddings" "$T/embed.lua" "$c")"
        [ "$c" = 1 ] && prs="$prs $(python3 "$T/pair.py" "$SIG" "$SECS")"
        nos="$nos $(p50 "http://127.0.0.1:${R[none]}/v1/chat/completions" "$T/chat.lua" "$c")"
        bos="$bos $(p50 "http://127.0.0.1:${R[both]}/v1/chat/completions" "$T/chat.lua" "$c")"
    done
    cl=$(median <<<"$cls") em=$(median <<<"$ems") no=$(median <<<"$nos") bo=$(median <<<"$bos")
    pr=$([ -n "$prs" ] && median <<<"$prs" || echo -)
    awk -v c="$c" -v cl="$cl" -v em="$em" -v pr="$pr" -v no="$no" -v bo="$bo" 'BEGIN {
        mx = pr != "-" ? pr : (cl > em ? cl : em); add = bo - no
        printf "| %d | %d | %d | %s | %d | %d | %d | %d | %d |\n", c, cl, em, pr, no, bo, add, cl + em, add - mx }'
done
# The router's own share, from its replay records (so independent of the
# client's and the mock's scheduling): routing_us - the classifier call's
# latency_us (the embedder's ended first or is included), p50 of 50
# sequential requests after the wrk runs.
cat >"$T/own.py" <<'PY'
import http.client, json, sys, time
rp, mg = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", rp, timeout=10)
ids = []
for i in range(55):
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content":
                       "own %d %d: what is the capital of France?" % (time.time_ns(), i)}]})
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    ids.append(r.getheader("x-tether-replay-id"))
time.sleep(0.5)
g = http.client.HTTPConnection("127.0.0.1", mg, timeout=10)
d = []
for rid in ids[5:]:
    g.request("GET", "/v1/router_replay/%s" % rid)
    r = g.getresponse()
    j = json.loads(r.read())
    cls = [s.get("latency_us", 0) for s in j.get("signals", []) if s.get("name") == "jb"]
    d.append(j["latency"]["routing_us"] - (cls[0] if cls else 0))
d.sort()
print("%d (p10 %d, p90 %d)" % (d[len(d) // 2], d[len(d) // 10], d[9 * len(d) // 10]))
PY
own=$(python3 "$T/own.py" "${R[both]}" "${MG[both]}") || own="(failed)"
base=$(python3 "$T/own.py" "${R[none]}" "${MG[none]}") || base="(failed)"
echo
echo "Router's own time at 1 connection, from its replay records (p50 of 50 requests): cls+emb"
echo "routing_us - the classifier call's latency_us = $own us; none routing_us = $base us."
echo
echo "Service time ${MS} ms per call (tether mock --latency-ms ${MS}); medians of ${ROUNDS} interleaved"
echo "rounds of ${SECS} s wrk runs (p50); tether serve --workers 1; load average $load0 -> $(cut -d' ' -f1 /proc/loadavg)"
echo "on $(nproc) cores."
