#!/bin/bash
# bench_signal_fetch.sh - the `make bench` row of issue 18: added routing
# latency per request with one external classifier call and one remote
# embedder call, both against a `tether mock` holding each call SERVICE_MS
# (default 5), at 1 and 64 connections. The goal: the two calls run in
# parallel, so a request costs max(service times) + <= 100 us, not their sum.
#
# Outside (wrk p50, non-streaming chat through `tether serve --workers W`,
# W = BENCH_FETCH_WORKERS, default 1):
#   classify / embed   the mock's own /classify and /v1/embeddings, called
#                      directly (the mock's timer as this machine delivers it)
#   both together      (1 connection) both direct calls sent at once on two
#                      keep-alive connections: p50 until both answered
#   none               routed, a keyword rule only
#   cls+emb            routed, one jailbreak rule on /classify and one
#                      embedding rule (a new text every request: a cache miss,
#                      one embeddings call), both fetched before the signals
#   added = cls+emb - none; slowest call = p50 over the run's replay records
#   of signal_fetch.slowest_call_us (the slower of the two calls, start to
#   reply, as the router's loop saw it); overhead = added - slowest call;
#   sum = classify + embed (what sequential calls would cost).
# Inside (the replay records of each run, newest 1000, p50s): own =
# routing_us - slowest call; overhead = own - none's routing_us; beyond =
# the fetch's wall time - slowest call; the classifier's call and start
# offset; the embedder's batch call and its time in the gather queue. The
# inside figures do not depend on the client's or the mock's scheduling.
# Where beyond goes (the same records): the share of requests whose calls
# waited to be sent (a bound of calls in flight reached) and that wait, and
# the time from the later reply read to the signals' start (the loop's turn).
# Router CPU: user + system time of the router's threads over each wrk run
# of none and cls+emb (/proc/PID/task/*/schedstat, ns), per request on the
# worker threads and on all, and the workers' utilisation (busy = worker CPU
# / wall time / workers): the fetch's own CPU cost on the worker is
# cls+emb - none. The "64 paced" row: 64 connections each pausing a random
# 0-2 x BENCH_FETCH_PACE_MS (50) between requests, so up to 64 are in
# flight at a rate one worker keeps up with (it shows what is left of the
# overhead when the worker is not saturated).
# The machine: the whole machine's CPU over each cls+emb run (/proc/stat) and
# the router's, the signal mock's and the LLM mock's share of it, in % of
# all cores; capacity = the req/s at which every core would be busy at the
# run's CPU per request, and the paced row's rate as a fraction of the
# closed-loop 64 row's capacity: so a reader can tell queueing for a core
# (busy near 100 %, long worker wait) from the router's own overhead.
# BENCH_FETCH_INSTR=N: also instructions per request on the worker thread
# (valgrind callgrind, N sequential requests per config; BENCH_FETCH_CG_OUT=
# PREFIX keeps the worker's callgrind file as PREFIX.none / PREFIX.both);
# BENCH_FETCH_ROUNDS=0 with it: only that.
# BENCH_FETCH_EMB_OPTS adds embedder settings (e.g. "batch_max: 1"),
# BENCH_FETCH_CLS_OPTS the classifier's (e.g. "batch_max: 1": every request
# its own /classify call; "batch_inflight: 8"). "cls batch" is the mean
# count of requests whose inputs shared the classifier call of a request.
# Each cell: the median of BENCH_FETCH_ROUNDS (3) interleaved rounds of
# SECS-second runs (default 1). Loopback only; needs wrk, curl, python3.
# Every process started here is stopped.
#   scripts/bench_signal_fetch.sh [service_ms] [seconds]
set -eu -o pipefail
cd "$(dirname "$0")/.."
B=${TETHER_BIN:-${BENCH_BIN:-build/tether}}
MS=${1:-5}
SECS=${2:-1}
ROUNDS=${BENCH_FETCH_ROUNDS:-3}
WORKERS=${BENCH_FETCH_WORKERS:-1}
PACE=${BENCH_FETCH_PACE_MS:-50}
INSTR=${BENCH_FETCH_INSTR:-0}
EMB_OPTS=${BENCH_FETCH_EMB_OPTS:+, $BENCH_FETCH_EMB_OPTS} # e.g. "batch_max: 1"
CLS_OPTS=${BENCH_FETCH_CLS_OPTS:+, $BENCH_FETCH_CLS_OPTS} # e.g. "batch_inflight: 8"
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
LLM_PID=$!
wait_port "$LLM" $!
$B mock --listen 127.0.0.1:$SIG --workers 2 --latency-ms "$MS" --classify "secret sauce=jailbreak" \
    >/dev/null 2>&1 &
pids+=($!)
SIG_PID=$!
wait_port "$SIG" $!

# A new text every request (no embedder cache hit); the same request shape
# for the direct calls.
lua() { # file, body prefix, body suffix
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local id = os.getenv("BENCH_RUN_ID") -- new texts every run: no cache hit
local threads = 0
setup = function(thread) -- and every wrk thread its own (with -t 2 both counted alike)
    threads = threads + 1
    thread:set("tid", threads)
end
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, '$2' .. id .. "-" .. (tid or 0) .. "-" .. n .. '$3')
end
LUA
}
lua "$T/chat.lua" '{"model":"auto","messages":[{"role":"user","content":"Question ' \
    ': what is the capital of France?"}]}'
lua "$T/classify.lua" '{"model":"jb","input":["Question ' ': what is the capital of France?"]}'
lua "$T/embed.lua" '{"model":"emb","dimensions":64,"input":["Question ' \
    ': what is the capital of France?"]}'
# the same, each connection pausing a random 0-2 x PACE ms between its
# requests (the paced 64-connection row: up to 64 requests in flight at a
# rate one worker keeps up with; random, so the connections do not stay in
# step and arrive in bursts of 64)
for f in chat classify embed; do
    { cat "$T/$f.lua"; echo "delay = function() return math.random(0, 2 * $PACE) end"; } >"$T/$f-paced.lua"
done

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
      openai_compatible: {base_url: \"http://127.0.0.1:$SIG/v1\", model: emb, dimensions: 64$EMB_OPTS}\n\
    classifiers:\n\
      - {name: jbc, type: http_classify, endpoint: \"http://127.0.0.1:$SIG/classify\", model: jb, positive_labels: [jailbreak]$CLS_OPTS}\n" \
        "$3" >"$1"
}

# p50 in us of one wrk run: url, lua, connections
p50() {
    local out v
    RUNS=$((RUNS + 1))
    out=$(BENCH_RUN_ID="$$-$RUNS-$RANDOM" wrk -t "$([ "$3" = 1 ] && echo 1 || echo 2)" -c "$3" -d "${SECS}s" --timeout 5s --latency \
        -s "$2" "$1" 2>&1) || die "wrk failed against $1"
    echo "$out" >"$T/wrk.out"
    times >"$T/wrk.times" # this subshell's children: wrk's user and system time (not in a pipe)
    tail -1 "$T/wrk.times" >"$T/wrk.cpu"
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

declare -A R MG SP
for cfg in none both; do
    RP=$(port)
    MG[$cfg]=$(port)
    write_cfg "$T/$cfg.yaml" "$cfg" "$RP" "${MG[$cfg]}"
    $B serve --config "$T/$cfg.yaml" --workers "$WORKERS" --log-level warn >"$T/$cfg.log" 2>&1 &
    pids+=($!)
    SP[$cfg]=$!
    wait_port "$RP" $!
    R[$cfg]=$RP
done
# one request each first: connection pools
for cfg in none both; do
    curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d '{"model":"auto","messages":[{"role":"user","content":"warm up"}]}' \
        "http://127.0.0.1:${R[$cfg]}/v1/chat/completions"
done

# The routed requests' own timings, from their replay records (the newest
# 1000 since a run began): per record routing_us, the slowest signal call
# (signal_fetch.slowest_call_us: the classifier's or the embedder's call,
# start to reply on the router's loop), own = routing_us - slowest, the
# fetch's wall time beyond the slowest call, the embedder's gather-queue
# time and the classifier call's start offset. Prints the p50s.
cat >"$T/recs.py" <<'PY'
import http.client, json, sys, time
mg, since = int(sys.argv[1]), int(sys.argv[2])
time.sleep(0.3) # the writer stores a record a moment after the answer
g = http.client.HTTPConnection("127.0.0.1", mg, timeout=30)
g.request("GET", "/v1/router_replay?limit=1000")
recs = [r for r in json.loads(g.getresponse().read())["records"] if r["created_at_ms"] >= since]
def p50(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0
rt, sl, own, extra, eq, ec, cc, cs, bt, cb = [], [], [], [], [], [], [], [], [], []
slot, cont = [], [] # waiting to be sent; last reply read -> the signals began
notok = 0
for r in recs:
    u = r["latency"]["routing_us"]
    rt.append(u)
    f = r.get("signal_fetch")
    if not f:
        continue
    s = f["slowest_call_us"]
    sl.append(s)
    own.append(u - s)
    extra.append(f["wall_us"] - s)
    e = f.get("embeddings") or {}
    eq.append(e.get("queue_us", 0))
    ec.append(e.get("call_us", 0))
    bt.append(e.get("batch_texts", 0))
    notok += e.get("outcome", "ok") != "ok"
    c = f["classifiers"][0] if f["classifiers"] else {}
    cc.append(c.get("call_us", 0))
    cs.append(c.get("sent_us", 0))
    cb.append(c.get("batch_requests", 1))
    slot.append(max(cs[-1], eq[-1]))
    last = max(cs[-1] + cc[-1], eq[-1] + ec[-1]) # the later reply read, from the fetch's start
    cont.append(max(0, f["wall_us"] - last))
mean_cb = sum(cb) / len(cb) if cb else 0
def mean(v):
    return int(sum(v) / len(v)) if v else 0
def p90(v):
    v = sorted(v)
    return v[len(v) * 9 // 10] if v else 0
waited = [w for w in slot if w > 50]
print(p50(rt), p50(sl), p50(own), p50(extra), p50(eq), p50(ec), p50(cc), p50(cs), len(recs), p50(bt), notok, "%.1f" % mean_cb,
      int(100 * len(waited) / len(slot)) if slot else 0, mean(waited), mean(slot), p50(cont), mean(cont), mean(extra), p90(extra))
PY
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
# thr_ns PID: "workers writer other" nanoseconds on a CPU so far (user +
# system, the first field of /proc/PID/task/*/schedstat: the same time as
# bench.sh's /proc/PID/task/*/stat ticks, in ns instead of 10 ms ticks, which
# a 1 s run at one connection needs), split by thread name as bench.sh does;
# then the workers' time runnable but waiting for a CPU (schedstat's second
# field: the machine's other processes - wrk, the mocks - holding the cores).
thr_ns() {
    local t c v q w=0 r=0 o=0 wq=0
    for t in /proc/"$1"/task/*; do
        c=$(cat "$t/comm" 2>/dev/null) || continue
        read -r v q _ <"$t/schedstat" 2>/dev/null || continue
        case "$c" in
            worker-*) w=$((w + v)) wq=$((wq + q)) ;;
            replay-writer) r=$((r + v)) ;;
            *) o=$((o + v)) ;;
        esac
    done
    echo "$w $r $o $wq"
}
# proc_ns PID: a process's CPU time so far in ns (all its threads, schedstat).
proc_ns() {
    local t v s=0
    for t in /proc/"$1"/task/*; do
        read -r v _ <"$t/schedstat" 2>/dev/null || continue
        s=$((s + v))
    done
    echo "$s"
}
# sys_ticks: "busy total" clock ticks of the whole machine so far (/proc/stat;
# busy = everything but idle and iowait).
sys_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
# cpu_p50 URL LUA CONNS PID: one wrk run with the router's CPU over it:
# "p50 req/s worker-us/req all-threads-us/req worker-busy-% worker-wait-us/req
# machine-busy-% router-% signal-mock-% llm-mock-% wrk-% bench-us/req" (busy: worker CPU time /
# (wall time x workers), the workers' utilisation; the last four in % of all
# the machine's cores over the run: the machine's whole load, and the part
# the router, the two mocks and wrk took of it; bench-us/req: their CPU per
# request together).
cpu_p50() {
    local s0 s1 t0 t1 v m0 m1 g0 g1 l0 l1 r0 r1 wk
    s0=$(thr_ns "$4") m0=$(sys_ticks) g0=$(proc_ns "$SIG_PID") l0=$(proc_ns "$LLM_PID") r0=$(proc_ns "$4")
    t0=$(date +%s%N)
    v=$(p50 "$1" "$2" "$3")
    t1=$(date +%s%N)
    s1=$(thr_ns "$4") m1=$(sys_ticks) g1=$(proc_ns "$SIG_PID") l1=$(proc_ns "$LLM_PID") r1=$(proc_ns "$4")
    # wrk's CPU, from bash's `times` ("0m0.120s 0m0.340s"), in ns
    wk=$(awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] } printf "%.0f", t * 1e9 }' "$T/wrk.cpu")
    awk -v a="$s0" -v b="$s1" -v dt=$((t1 - t0)) -v w="$WORKERS" -v v="$v" -v m0="$m0" -v m1="$m1" \
        -v sig=$((g1 - g0)) -v llm=$((l1 - l0)) -v rt=$((r1 - r0)) -v wrk="$wk" -v nc="$(nproc)" '
        /requests in/ { n = $1 }
        END { split(a, x, " "); split(b, y, " "); wk = y[1] - x[1]; all = wk + y[2] - x[2] + y[3] - x[3]
              split(m0, p, " "); split(m1, q, " "); tot = q[2] - p[2]; if (tot < 1) tot = 1
              if (n < 1) n = 1
              cap = dt * nc / 100
              printf "%s %.0f %.1f %.1f %.0f %.1f %.1f %.1f %.1f %.1f %.1f %.1f", v, n * 1e9 / dt, wk / 1e3 / n, all / 1e3 / n, 100 * wk / dt / w, (y[4] - x[4]) / 1e3 / n,
                  100 * (q[1] - p[1]) / tot, rt / cap, sig / cap, llm / cap, wrk / cap, (rt + sig + llm + wrk) / 1e3 / n }' "$T/wrk.out"
}
load0=$(cut -d' ' -f1 /proc/loadavg)
declare -A OUT IN CPU MACH STAGE
CAP64=
CONNS="1 64 64p"
[ "$ROUNDS" -gt 0 ] || CONNS="" # BENCH_FETCH_ROUNDS=0: the instruction counts only
for c in $CONNS; do
    n=${c%p} sfx=""
    [ "$c" = 64p ] && sfx=-paced
    cls="" ems="" prs="" nos="" bos="" nrt="" col=() ncol=() bcol=()
    for _ in $(seq "$ROUNDS"); do # interleaved: each round sees the same load
        cls="$cls $(p50 "http://127.0.0.1:$SIG/classify" "$T/classify$sfx.lua" "$n")"
        ems="$ems $(p50 "http://127.0.0.1:$SIG/v1/embeddings" "$T/embed$sfx.lua" "$n")"
        [ "$c" = 1 ] && prs="$prs $(python3 "$T/pair.py" "$SIG" "$SECS")"
        t=$(now_ms)
        ncol+=("$(cpu_p50 "http://127.0.0.1:${R[none]}/v1/chat/completions" "$T/chat$sfx.lua" "$n" "${SP[none]}")")
        nos="$nos ${ncol[-1]%% *}"
        nrt="$nrt $(python3 "$T/recs.py" "${MG[none]}" "$t" | cut -d' ' -f1)"
        t=$(now_ms)
        bcol+=("$(cpu_p50 "http://127.0.0.1:${R[both]}/v1/chat/completions" "$T/chat$sfx.lua" "$n" "${SP[both]}")")
        bos="$bos ${bcol[-1]%% *}"
        col+=("$(python3 "$T/recs.py" "${MG[both]}" "$t")")
    done
    cl=$(median <<<"$cls") em=$(median <<<"$ems") no=$(median <<<"$nos") bo=$(median <<<"$bos")
    pr=$([ -n "$prs" ] && median <<<"$prs" || echo -)
    nr=$(median <<<"$nrt")
    # per column, the median over rounds of the records' p50s
    rec=""
    for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
        rec="$rec $(for l in "${col[@]}"; do echo "$l" | cut -d' ' -f"$k"; done | median)"
    done
    read -r brt bsl bown bex beq bec bcc bcs bn bbt bno bcb <<<"$rec"
    st=""
    for k in 13 14 15 16 17 18 19; do
        st="$st $(for l in "${col[@]}"; do echo "$l" | cut -d' ' -f"$k"; done | median)"
    done
    read -r swp swm sm cp5 cm bm b9 <<<"$st"
    cpu=""
    for k in 2 3 4 5 6; do
        cpu="$cpu $(for l in "${ncol[@]}"; do echo "$l" | cut -d' ' -f"$k"; done | median)"
        cpu="$cpu $(for l in "${bcol[@]}"; do echo "$l" | cut -d' ' -f"$k"; done | median)"
    done
    read -r nrps brps nwk bwk nall ball nbusy bbusy nwait bwait <<<"$cpu"
    # the machine over the cls+emb runs (medians; % of all cores)
    mach=""
    for k in 7 8 9 10 11 12; do
        mach="$mach $(for l in "${bcol[@]}"; do echo "$l" | cut -d' ' -f"$k"; done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
    done
    read -r mbusy mrt msig mllm mwrk mus <<<"$mach"
    # capacity: the cls+emb rate at which the benchmark's own processes
    # (router, both mocks, wrk) would keep every core busy at this run's CPU
    # per request; the closed-loop 64 row's is the reference the paced row's
    # rate is a fraction of
    cap=$(awk -v u="$mus" -v nc="$(nproc)" 'BEGIN { printf "%.0f", (u > 0) ? nc * 1e6 / u : 0 }')
    [ "$c" = 64 ] && CAP64=$cap
    frac=$(awk -v r="$brps" -v c="${CAP64:-0}" 'BEGIN { if (c > 0) printf "%.0f %%", 100 * r / c; else printf "-" }')
    MACH[$c]=$(awk -v c="$([ "$c" = 64p ] && echo "64 paced" || echo "$c")" -v r="$brps" -v b="$mbusy" -v rt="$mrt" \
        -v sg="$msig" -v lm="$mllm" -v wr="$mwrk" -v us="$mus" -v cap="$cap" -v fr="$frac" -v bw="$bwait" -v bwk="$bwk" 'BEGIN {
        rest = b - rt - sg - lm - wr; if (rest < 0) rest = 0
        printf "| %s | %d | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f | %.0f | %s | %.1f | %.1f |", c, r, b, rt, sg, lm, wr, rest,
            us, cap, fr, bwk, bw }')
    lab=$([ "$c" = 64p ] && echo "64 paced" || echo "$c")
    OUT[$c]=$(awk -v c="$lab" -v cl="$cl" -v em="$em" -v pr="$pr" -v no="$no" -v bo="$bo" -v sl="$bsl" 'BEGIN {
        add = bo - no
        printf "| %s | %d | %d | %s | %d | %d | %d | %d | %d | %d |", c, cl, em, pr, no, bo, add, cl + em, sl, add - sl }')
    IN[$c]=$(awk -v c="$lab" -v nr="$nr" -v brt="$brt" -v bsl="$bsl" -v bown="$bown" -v bex="$bex" \
        -v beq="$beq" -v bec="$bec" -v bcc="$bcc" -v bcs="$bcs" -v bn="$bn" -v bbt="$bbt" -v bno="$bno" -v bcb="$bcb" 'BEGIN {
        printf "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %d | %d | %d | %d | %d |", c, nr, brt, bsl, bown, bown - nr, bex, bcc, bcs, bcb, bec, beq, bbt, bn, bno }')
    STAGE[$c]="| $lab | $bex | $bm | $b9 | $swp % | $swm | $sm | $cp5 | $cm |"
    CPU[$c]=$(awk -v c="$lab" -v nrps="$nrps" -v brps="$brps" -v nwk="$nwk" -v bwk="$bwk" -v nall="$nall" \
        -v ball="$ball" -v nb="$nbusy" -v bb="$bbusy" -v nw="$nwait" -v bw="$bwait" 'BEGIN {
        printf "| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d %% | %d %% | %.1f | %.1f |", c, nrps, brps, nwk, bwk, bwk - nwk, nall, ball, nb, bb, nw, bw }')
done

# Instructions per request on the worker thread (BENCH_FETCH_INSTR=N): both
# configs again under valgrind --tool=callgrind, N sequential requests (new
# texts) after 20 of warm-up, counters zeroed between; the worker's total / N
# (as scripts/profile_routed.sh instr). Figures that load does not move.
instr() { # cfg: instructions per request of the serving worker
    local p mg pid f t best=0 prev cur done_all
    p=$(port) mg=$(port)
    write_cfg "$T/vg-$1.yaml" "$1" "$p" "$mg"
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$T/cg-$1.%p" \
        "$B" serve --config "$T/vg-$1.yaml" --workers 1 --log-level error >"$T/vg-$1.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 3000); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.2; done # valgrind starts slowly on a loaded machine
    python3 "$T/drive.py" "$p" 20 "w$1"
    callgrind_control -z "$pid" >/dev/null 2>&1
    python3 "$T/drive.py" "$p" "$INSTR" "m$1"
    callgrind_control -d "$pid" >/dev/null 2>&1
    prev=
    for _ in $(seq 600); do # the dump is written after callgrind_control returns (slowly under load)
        sleep 1
        cur=$(ls -l "$T/cg-$1.$pid".1-* 2>/dev/null | awk '{print $5}' | tr '\n' ' ')
        done_all=1
        for f in "$T/cg-$1.$pid".1-*; do grep -q '^totals:' "$f" || done_all=0; done
        [ "$done_all" = 1 ] && [ "$cur" = "$prev" ] && break
        prev=$cur
    done
    for f in "$T/cg-$1.$pid".1-*; do
        grep -q worker_main "$f" || continue
        t=$(awk '/^totals:/ {print $2}' "$f")
        if [ "${t:-0}" -gt "$best" ]; then
            best=$t
            [ -n "${BENCH_FETCH_CG_OUT:-}" ] && cp "$f" "$BENCH_FETCH_CG_OUT.$1"
        fi
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo $((best / INSTR))
}
if [ "$INSTR" -gt 0 ]; then
    command -v valgrind >/dev/null || die "valgrind not installed"
    cat >"$T/drive.py" <<'PY'
import http.client, os, sys
port, n, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
for k in range(n):
    b = '{"model":"auto","messages":[{"role":"user","content":"Question %s-%d-%d: what is the capital of France?"}]}' % (tag, os.getpid(), k)
    c.request("POST", "/v1/chat/completions", body=b, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
PY
    inone=$(instr none)
    iboth=$(instr both)
fi

if [ -n "$CONNS" ]; then
echo "Outside (wrk p50, us): added = cls+emb - none; slowest call = the records' p50 of the slower"
echo "signal call as the router saw it; overhead = added - slowest call."
echo
echo "| conns | classify direct | embed direct | both together, direct | none | cls+emb | added | sum of calls | slowest call | overhead |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNS; do echo "${OUT[$c]}"; done
echo
echo "Inside (replay records, p50 per run, us): own = routing_us - slowest call; overhead = own -"
echo "none's routing_us; beyond = fetch wall - slowest call; cls call / sent: the classifier call and"
echo "when it started; cls batch: the mean count of requests sharing that call; emb call / queue /"
echo "batch: the embedder's batch call, its time in the gather queue and the texts in that call; emb"
echo "not ok: records whose embeddings did not all arrive."
echo
echo "| conns | none routing | cls+emb routing | slowest call | own | overhead | beyond | cls call | cls sent | cls batch | emb call | emb queue | emb batch | records | emb not ok |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNS; do echo "${IN[$c]}"; done
echo
echo "Where beyond goes (the same records; us): a request's calls wait to be sent when its classifier"
echo "or the embedder has its bound of calls in flight on the worker (batch_inflight, 32: they go"
echo "together when a call ends) - waited = the share that waited > 50 us and their mean wait, slot"
echo "mean = over all; after replies = from the later reply read to the signals' start (the worker's"
echo "loop running the other events of its turn first: other requests' replies, routing, forwarding)."
echo
echo "| conns | beyond p50 | beyond mean | beyond p90 | waited for a slot | their wait mean | slot wait mean | after replies p50 | after replies mean |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNS; do echo "${STAGE[$c]}"; done
echo
echo "Router CPU (user + system, /proc/PID/task/*/schedstat over each wrk run; medians): per request"
echo "on the worker threads and on all threads; fetch = cls+emb - none on the worker (building the"
echo "calls, their connections and timers, parsing the replies, the similarity rule); busy = worker"
echo "CPU / (wall time x workers), the worker's utilisation; wait = the workers' time runnable but"
echo "not running (waiting for one of the machine's cores), per request."
echo
echo "| conns | none req/s | cls+emb req/s | none worker us/req | cls+emb worker us/req | fetch worker us/req | none all us/req | cls+emb all us/req | none busy | cls+emb busy | none worker wait us/req | cls+emb worker wait us/req |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNS; do echo "${CPU[$c]}"; done
echo
echo "The machine over the cls+emb runs ($(nproc) cores; % of all of them; medians): busy = every"
echo "process (/proc/stat); router, signal mock, LLM mock (schedstat) and wrk (its rusage) = the"
echo "benchmark's own processes; other = the rest of the machine's load; bench us/req = the CPU of the"
echo "benchmark's processes per request; capacity = $(nproc) cores / bench us/req, the cls+emb req/s at"
echo "which they alone would keep every core busy; rate / 64 capacity = this row's req/s over the"
echo "closed-loop 64 row's capacity. Queueing for a core: busy near 100 % with a long worker wait; the"
echo "router's own cost: worker us/req (load-independent: instructions, BENCH_FETCH_INSTR)."
echo
echo "| conns | cls+emb req/s | machine busy | router | signal mock | LLM mock | wrk | other | bench us/req | capacity req/s | rate / 64 capacity | worker us/req | worker wait us/req |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNS; do echo "${MACH[$c]}"; done
fi
if [ "$INSTR" -gt 0 ]; then
    echo
    echo "Instructions per request on the worker thread (callgrind, $INSTR sequential requests, 1 worker):"
    echo "none $inone, cls+emb $iboth, the fetch's $((iboth - inone))."
fi
echo
echo "Service time ${MS} ms per call (tether mock --latency-ms ${MS}); medians of ${ROUNDS} interleaved"
echo "rounds of ${SECS} s wrk runs (p50); tether serve --workers ${WORKERS}${EMB_OPTS:+ (embedder$EMB_OPTS)}${CLS_OPTS:+ (classifier$CLS_OPTS)}; load average $load0 -> $(cut -d' ' -f1 /proc/loadavg)"
echo "on $(nproc) cores."
