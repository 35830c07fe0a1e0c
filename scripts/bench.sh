#!/bin/bash
# bench.sh - `make bench`: proxy-core benchmark on loopback (issue 2).
#
# One `tether mock` upstream with a fixed small reply; the same wrk load
# against (a) the mock directly, (b) nginx proxy_pass to the mock, (c) `tether
# serve` as a bare proxy and (d) `tether serve` as a full session router
# (issue 12: signals, decisions, session policy, replay, metrics), with nginx
# and tether at the same worker counts:
# requests/s at 64 connections and p50/p99 latency at 1 connection, each with
# a 2 KB and a 64 KB chat request body. Then every build/tests/bench/bench_*
# program (scan-and-splice, ...) with its output captured. Prints a markdown
# summary and writes it to build/bench/results.md.
#
# Everything runs on 127.0.0.1 with bounded durations; every process started
# here is stopped on exit. Ports are picked free at run time; a port that
# turns out busy fails the run with a clear message.
#
# Environment knobs (defaults keep the whole run under ~3 minutes):
#   BENCH_DURATION=2      seconds per measured wrk run
#   BENCH_ROUNDS=3        interleaved rounds per target (figures are medians)
#   BENCH_WARMUP=1        seconds of warm-up load before each target/body
#   BENCH_WORKERS="1 2"   worker counts for nginx and tether
#   BENCH_MOCK_WORKERS=2  worker threads of the mock upstream
#   BENCH_REPLY_BYTES=64  fixed reply text size of the mock
#   BENCH_BODIES="2048 65536"  request body sizes in bytes
#   BENCH_SESSIONS=64     agent sessions in the load (each sent with and without x-session-id)
#   BENCH_TETHER_LOG=warn tether --log-level (info adds one JSON line per request)
#   BENCH_SKIP_PROXY=1    only run the bench_* programs
#   BENCH_SKIP_PROGRAMS=1 only run the proxy benchmark
#   BENCH_SKIP_STORES=1   skip the replay-store rows (scripts/bench_replay_stores.sh)
#   BENCH_SKIP_FETCH=1    skip the signal-fetch row (scripts/bench_signal_fetch.sh)
#   BENCH_OVERRUN_SLACK=0.5, BENCH_PAUSE_RETRIES=2: a wrk run lasting more than
#                         its duration + slack (the machine was paused, e.g. a VM
#                         snapshot: wrk stops on its own clock) is measured again
#                         (scripts/bench_wrk.sh); results.md says how many were
#   BENCH_PIN=0           do not pin the 1-connection runs to CPUs (by default
#                         wrk, the mock and the target each get a CPU of their
#                         own where the machine has enough: scripts/bench_pin.sh;
#                         the 64-connection runs are never pinned)
#   BENCH_BIN=build/tether, BENCH_OUT=build/bench
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=${BENCH_BIN:-build/tether}
OUT=${BENCH_OUT:-build/bench}
DUR=${BENCH_DURATION:-2}
ROUNDS=${BENCH_ROUNDS:-3}
WARM=${BENCH_WARMUP:-1}
WORKERS=${BENCH_WORKERS:-1 2}
MOCK_WORKERS=${BENCH_MOCK_WORKERS:-2}
REPLY_BYTES=${BENCH_REPLY_BYTES:-64}
BODIES=${BENCH_BODIES:-2048 65536}
TLOG=${BENCH_TETHER_LOG:-warn}
export BENCH_SESSIONS=${BENCH_SESSIONS:-64}

die() { echo "bench: $*" >&2; exit 1; }
# shellcheck source=scripts/bench_wrk.sh
. "$ROOT/scripts/bench_wrk.sh"
# shellcheck source=scripts/bench_pin.sh
. "$ROOT/scripts/bench_pin.sh"
pin_layout "$(pin_allowed)"

[ -x "$BIN" ] || die "$BIN not built (run: make -j2 build/tether)"
if [ -z "${BENCH_SKIP_PROXY:-}" ]; then
    command -v wrk >/dev/null || die "wrk not installed (scripts/deps.sh installs it)"
    NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) || die "nginx not installed (scripts/deps.sh installs it)"
    command -v curl >/dev/null || die "curl not installed"
fi

TMP=$(mktemp -d /tmp/tether-bench.XXXXXX) || die "mktemp failed"
mkdir -p "$OUT"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
    [ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop one process started here (by pid) and forget it.
stop_pid() {
    local p=$1 keep=() q
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
}

# Any TCP socket (listening or connected, any state) on this local port.
port_busy() { [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }

# A TCP port nobody uses right now, outside the kernel's ephemeral range (the
# load's own client connections take ports from there). The binder still fails
# clearly if someone takes it in between.
free_port() {
    local p lo=32768 hi=60999 base span
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
    if [ "$lo" -gt 12000 ]; then base=10000; span=$((lo - 10000)); else base=$((hi + 1)); span=$((65000 - hi)); fi
    [ "$span" -gt 100 ] || { base=20000; span=40000; }
    for _ in $(seq 200); do
        p=$((base + RANDOM % span))
        port_busy "$p" || { echo "$p"; return 0; }
    done
    die "no free loopback port found"
}

# wait_listen NAME PID PORT LOGFILE: until PORT accepts, or fail with the log.
wait_listen() {
    local name=$1 pid=$2 port=$3 log=$4
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench: $name exited at start (port $port busy?); its log:" >&2
            tail -5 "$log" >&2
            exit 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$name did not listen on 127.0.0.1:$port within 10 s (log: $log)"
}

# ------------------------------------------------------------ request bodies

# gen_body BYTES FILE: a realistic agent request, exactly BYTES long, model
# "auto": a system prompt carrying a session tag (#TASK-0000#, rewritten per
# session by the wrk script, same length), then turns of user text, an
# assistant tool call, the tool's result and an assistant answer (code,
# `\n`/`\"`/`\u00e9` escapes, raw UTF-8), and a final tool call whose result
# is padded to the size: the agent is inside a tool loop.
gen_body() {
    LC_ALL=C awk -v target="$1" 'BEGIN {
        t[0] = "Can you refactor this function so the error path frees the buffer? Here it is:\\n\\n```c\\nint load(const char *path) {\\n    char *buf = malloc(4096);\\n    if (!read_all(path, buf)) return -1;\\n    return parse(buf);\\n}\\n```";
        t[1] = "The leak is on the early return: `buf` is never freed when `read_all` fails. Move the cleanup to one exit label:\\n\\n```c\\nint load(const char *path) {\\n    int rc = -1;\\n    char *buf = malloc(4096);\\n    if (buf && read_all(path, buf)) rc = parse(buf);\\n    free(buf);\\n    return rc;\\n}\\n```\\nThat also handles a failed `malloc`.";
        t[2] = "Thanks. Now the tests fail with \\\"expected 0, got -1\\\" on the file `données/été.json` (accents in the path). Any idea? The log says: {\\\"level\\\":\\\"error\\\",\\\"path\\\":\\\"/tmp/\\u00e9t\\u00e9\\\"}";
        t[3] = "The path is probably NFC on disk and NFD in the test fixture, so the byte comparison fails. Normalise both sides before comparing, or build the fixture name with the same normalisation as the loader. 日本語のファイル名でも同じ問題が起きます。";
        t[4] = "Ok, normalising fixed it. Last thing: summarise what we changed for the pull request description, in three bullet points, and mention the accent fix.";
        t[5] = "- `load()` now frees its buffer on every path (single exit).\\n- A failed `malloc` returns -1 instead of crashing.\\n- Fixture paths are NFC-normalised, so `données/été.json` loads in tests.";
        f[0] = "src/load.c"; f[1] = "tests/test_load.c"; f[2] = "tests/fixtures/données/été.json";
        r[0] = "int load(const char *path) {\\n    int rc = -1;\\n    char *buf = malloc(4096);\\n    if (buf && read_all(path, buf)) rc = parse(buf);\\n    free(buf);\\n    return rc;\\n}\\n";
        r[1] = "static void test_load_accents(void **state) {\\n    assert_int_equal(load(\\\"tests/fixtures/donn\\u00e9es/\\u00e9t\\u00e9.json\\\"), 0);\\n}\\n";
        r[2] = "{\\\"name\\\": \\\"été\\\", \\\"items\\\": [1, 2, 3], \\\"nested\\\": {\\\"ok\\\": true}}";
        n = 6;
        head = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a careful senior engineer working on task #TASK-0000#. Answer concisely, quote file paths, prefer small diffs, and never invent APIs.\"}";
        tail = "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"description\":\"Read a file of the repository\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}}}],\"temperature\":0.2,\"max_tokens\":256,\"stream\":false}";
        body = head;
        for (i = 0; ; i++) {
            id = sprintf("call_%05d", i);
            call = ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"" f[i % 3] "\\\"}\"}}]}";
            msg = ",{\"role\":\"user\",\"content\":\"" t[(2 * i) % n] "\"}" call \
                  ",{\"role\":\"tool\",\"tool_call_id\":\"" id "\",\"content\":\"" r[i % 3] "\"}" \
                  ",{\"role\":\"assistant\",\"content\":\"" t[(2 * i + 1) % n] "\"}";
            id = sprintf("call_%05d", i + 1);
            last0 = ",{\"role\":\"user\",\"content\":\"" t[4] "\"}" \
                    ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"src/load.c\\\"}\"}}]}" \
                    ",{\"role\":\"tool\",\"tool_call_id\":\"" id "\",\"content\":\"\"}";
            if (i > 0 && length(body) + length(msg) + length(last0) + 64 + length(tail) > target) break;
            body = body msg;
        }
        need = target - length(body) - length(last0) - length(tail);
        fill = "";
        while (length(fill) < need) fill = fill "// load.c: keeps the buffer until parse returns, then frees it on every path.\\n";
        fill = substr(fill, 1, need);
        sub(/\\$/, " ", fill); # never end on half an escape
        sub(/"content":""}$/, "\"content\":\"" fill "\"}", last0);
        printf "%s%s%s", body, last0, tail;
    }' > "$2"
    local got
    got=$(wc -c < "$2")
    [ "$got" -eq "$1" ] || die "body generator produced $got bytes, wanted $1"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$2" 2>/dev/null ||
        die "body generator produced invalid JSON ($2)"
}

# ------------------------------------------------------------ wrk runs

cat > "$TMP/post.lua" <<'EOF'
-- POST the body file named by BENCH_BODY, as BENCH_SESSIONS agents would:
-- each session has its own copy of the body (the #TASK-0000# tag in the
-- system prompt rewritten, same length, so fingerprints differ), and every
-- session is sent twice per rotation, once with `x-session-id` and once
-- without (the prefix-chain fingerprint finds it). Requests are built once.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local n = tonumber(os.getenv("BENCH_SESSIONS") or "64")
local auth = os.getenv("BENCH_AUTH") -- a client key (the gated target)
local reqs = {}
function init(args)
    for i = 0, n - 1 do
        local tag = string.format("%04d", i)
        local b = body:gsub("#TASK%-0000#", "#TASK-" .. tag .. "#")
        local h1 = {["Content-Type"] = "application/json", ["x-session-id"] = "bench-session-" .. tag}
        local h2 = {["Content-Type"] = "application/json"}
        if auth and auth ~= "" then
            h1["Authorization"] = "Bearer " .. auth
            h2["Authorization"] = "Bearer " .. auth
        end
        reqs[#reqs + 1] = wrk.format("POST", nil, h1, b)
        reqs[#reqs + 1] = wrk.format("POST", nil, h2, b)
    end
end
local k = 0
function request()
    k = k % #reqs + 1
    return reqs[k]
end
EOF

# to_us VALUE: wrk latency ("85.00us", "1.20ms", "2.00s") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.0f", v }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.0f", v * 1000 }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60e6 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.0f", v * 1e6 }
        else printf "NaN" }'
}

# run_wrk URL BODYFILE CONNS SECS LOGFILE: sets RPS P50 P99 ERRS. wrk runs
# under the command prefix in WRK_PIN (a taskset, for a pinned run) if set.
WRK_PIN=()
run_wrk() {
    local url=$1 body=$2 conns=$3 secs=$4 log=$5 threads=2
    [ "$conns" -lt 2 ] && threads=1
    # a run the machine's pause stretched is repeated (scripts/bench_wrk.sh)
    BENCH_BODY="$body" BENCH_AUTH="${RUN_AUTH:-}" wrk_run_checked "$log" "$secs" \
        "${WRK_PIN[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s --latency -s "$TMP/post.lua" "$url"
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
    P50=$(to_us "$(awk '$1 == "50%" {print $2}' "$log")")
    P99=$(to_us "$(awk '$1 == "99%" {print $2}' "$log")")
    local non2xx sock
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$log")
    sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$log")
    ERRS=$(( ${non2xx:-0} + ${sock:-0} ))
    [ -n "$RPS" ] || { cat "$log" >&2; die "wrk failed against $url"; }
}

# check_ok URL BODYFILE [KEY]: one request must answer 200.
check_ok() {
    local code
    code=$(curl -s -o "$TMP/check.out" -w '%{http_code}' -H 'Content-Type: application/json' \
        ${3:+-H "Authorization: Bearer $3"} --data-binary "@$2" "$1")
    [ "$code" = "200" ] || { head -c 400 "$TMP/check.out" >&2; echo >&2; die "$1 answered $code, not 200"; }
}

# cpu_ticks PID...: user+system clock ticks used so far by these processes
# (all their threads).
cpu_ticks() {
    local p s=0 t
    for p in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
        s=$((s + ${t:-0}))
    done
    echo "$s"
}
HZ=$(getconf CLK_TCK)

# Per-round figures, keyed "target|workers|body|mode": space-separated lists.
declare -A FIG
declare -A REPLAY

# thread_ticks PID: "workers writer other" clock ticks of one tether process,
# split by thread name (/proc/PID/task/*/stat: worker-N serve requests,
# replay-writer is the replay store's writer, the rest is everything else:
# main, management listener, health checks, config watcher).
thread_ticks() {
    local t wk=0 wr=0 ot=0 line comm v
    for t in /proc/"$1"/task/*/stat; do
        line=$(cat "$t" 2>/dev/null) || continue
        comm=${line#*(}; comm=${comm%%)*}
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' <<< "$line")
        case "$comm" in
            worker-*) wk=$((wk + v)) ;;
            replay-writer) wr=$((wr + v)) ;;
            *) ot=$((ot + v)) ;;
        esac
    done
    echo "$wk $wr $ot"
}

# pin_run TARGET PIDS...: before a 1-connection run, each process on its CPU
# (scripts/bench_pin.sh: the target's processes with all their threads on
# PIN_TARGET, the mock on PIN_MOCK, wrk under taskset on PIN_LOAD; in the
# mock's own rows the mock is the target). unpin_run PIDS...: back to every
# allowed CPU, for the 64-connection runs.
pin_run() {
    local t=$1
    shift
    if [ "$t" = mock ]; then
        pin_set "$PIN_TARGET" "$MOCK_PID" || die "cannot pin the mock"
    else
        pin_set "$PIN_TARGET" "$@" || die "cannot pin $t"
        pin_set "$PIN_MOCK" "$MOCK_PID" || die "cannot pin the mock"
    fi
    WRK_PIN=(taskset -c "$PIN_LOAD")
}
unpin_run() {
    pin_set "$PIN_ALL" "$MOCK_PID" "$@" || die "cannot unpin"
    WRK_PIN=()
}

# one_run TARGET WORKERS BODY URL CONNS ROUND PIDS...: one measured wrk run
# (pinned at one connection, see pin_run); appends req/s, p50, p99, errors
# and the CPU microseconds per request used by PIDS (the process under test)
# to FIG; for tether targets also that CPU split by thread (workers, replay
# writer, other).
one_run() {
    local t=$1 w=$2 b=$3 url=$4 c=$5 r=$6 k c0 c1 n cpu s0 s1 us pinned=""
    shift 6
    k="$t|$w|$b|c$c"
    if [ "$c" = 1 ] && [ -n "$PIN_ON" ]; then
        pin_run "$t" "$@"
        pinned=1
    fi
    c0=$(cpu_ticks "$@")
    case "$t" in proxy | routed | gated) s0=$(thread_ticks "$1") ;; esac
    RUN_AUTH=""
    [ "$t" = gated ] && RUN_AUTH=$GATED_KEY
    run_wrk "$url" "$TMP/body-$b.json" "$c" "$DUR" "$TMP/wrk-$t-w$w-$b-c$c-r$r.txt"
    c1=$(cpu_ticks "$@")
    [ -z "$pinned" ] || unpin_run "$@"
    n=$(awk '/requests in/ {print $1; exit}' "$TMP/wrk-$t-w$w-$b-c$c-r$r.txt")
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v n="${n:-0}" 'BEGIN { printf "%.1f", (n > 0 ? d * 1e6 / hz / n : 0) }')
    if [ -n "${s0:-}" ]; then
        s1=$(thread_ticks "$1")
        us=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v n="${n:-0}" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            for (i = 1; i <= 3; i++) printf "%.1f ", (n > 0 ? (y[i] - x[i]) * 1e6 / hz / n : 0) }')
        read -r wk wr ot <<< "$us"
        FIG["$k|cw"]+="$wk "
        FIG["$k|cr"]+="$wr "
        FIG["$k|co"]+="$ot "
    fi
    FIG["$k|rps"]+="$RPS "
    FIG["$k|p50"]+="$P50 "
    FIG["$k|p99"]+="$P99 "
    FIG["$k|cpu"]+="$cpu "
    FIG["$k|err"]=$(( ${FIG["$k|err"]:-0} + ERRS ))
    cp "$TMP/wrk-$t-w$w-$b-c$c-r$r.txt" "$OUT/"
}

# median "v1 v2 ...": the median value (lower middle for an even count).
median() {
    echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END { if (NR) print v[int((NR + 1) / 2)]; else print "NaN" }'
}
fig() { median "${FIG["$1|$2"]:-}"; }

# bench_targets WORKERS BODY ROUND-COUNT "name url pids" ...: warm every
# target up, then ROUNDS rounds in which every target gets one 64-connection
# and one 1-connection run, the target order rotating each round so slow
# drift of the shared machine hits all targets alike.
bench_targets() {
    local w=$1 b=$2 rounds=$3 r i n spec name url pids
    shift 3
    local specs=("$@")
    n=${#specs[@]}
    for spec in "${specs[@]}"; do
        read -r name url _ <<< "$spec"
        RUN_AUTH=""
        [ "$name" = gated ] && RUN_AUTH=$GATED_KEY
        check_ok "$url" "$TMP/body-$b.json" "$RUN_AUTH"
        run_wrk "$url" "$TMP/body-$b.json" 64 "$WARM" "$TMP/warm.txt"
    done
    for r in $(seq "$rounds"); do
        for i in $(seq 0 $((n - 1))); do
            spec=${specs[$(((i + r) % n))]}
            read -r name url pids <<< "$spec"
            # shellcheck disable=SC2086
            one_run "$name" "$w" "$b" "$url" 64 "$r" $pids
            # shellcheck disable=SC2086
            one_run "$name" "$w" "$b" "$url" 1 "$r" $pids
        done
    done
    for spec in "${specs[@]}"; do
        read -r name _ _ <<< "$spec"
        printf '  %-7s workers=%-2s body=%-6s %8s req/s @64 (%s us CPU/req)  p50 %5s us  p99 %6s us @1\n' \
            "$name" "$w" "$b" "$(fig "$name|$w|$b|c64" rps)" "$(fig "$name|$w|$b|c64" cpu)" \
            "$(fig "$name|$w|$b|c1" p50)" "$(fig "$name|$w|$b|c1" p99)" >&2
    done
}

start_nginx() { # WORKERS UPSTREAM_PORT -> NGINX_PID NGINX_PORT
    local w=$1 up=$2 d="$TMP/nginx-w$1"
    mkdir -p "$d/tmp" "$d/logs"
    NGINX_PORT=$(free_port)
    cat > "$d/nginx.conf" <<EOF
# Generated by scripts/bench.sh: minimal reverse proxy to the mock.
worker_processes $w;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    client_max_body_size 32m;
    client_body_buffer_size 128k;   # 64 KB bodies stay in memory, as in tether
    keepalive_requests 1000000;     # no forced reconnects of the client side
    upstream mock {
        server 127.0.0.1:$up;
        keepalive 64;               # idle keep-alive pool to the upstream
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;    # relay as it arrives, like tether's streaming path
        }
    }
}
EOF
    "$NGINX" -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" > "$d/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_listen "nginx" "$NGINX_PID" "$NGINX_PORT" "$d/logs/error.log"
    # the master listens before it forks: wait for the workers (CPU is summed over them)
    for _ in $(seq 50); do
        [ "$(ps -o pid= --ppid "$NGINX_PID" | wc -l)" -ge "$w" ] && return 0
        sleep 0.1
    done
    die "nginx did not start $w workers (log: $d/logs/error.log)"
}

# start_tether MODE WORKERS UPSTREAM_PORT -> TETHER_PID TETHER_PORT MGMT_PORT
# MODE proxy: the bare proxy (no signals or decisions, sessions, replay and
# metrics off). MODE routed: the router as users run it: keyword, pii,
# jailbreak, language, context and conversation signals, three decisions
# over three models, the session policy (defaults: memory store, prefix-chain
# fingerprint when no x-session-id), replay on with the default store
# (sqlite) and metrics on. MODE gated: routed plus client keys (100 keys
# in a keys_file, held as SHA-256 digests) and local rate limits and
# budgets (four rules and two budgets, set high enough never to refuse):
# gated minus routed is what the key check and limits cost a request.
GATED_KEY=bench-key-0099-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
start_tether() {
    local mode=$1 w=$2 up=$3 d="$TMP/tether-$1-w$2"
    mkdir -p "$d"
    TETHER_PORT=$(free_port)
    MGMT_PORT=$(free_port)
    if [ "$mode" = proxy ]; then
        cat > "$d/bench.yaml" <<EOF
version: v0.3
listeners:
  - {name: bench, address: 127.0.0.1, port: $TETHER_PORT}
providers:
  defaults:
    default_model: bench-model
  models:
    - name: bench-model
      provider_model_id: bench-upstream
      backend_refs:
        - {name: mock, endpoint: "127.0.0.1:$up"}
routing:
  modelCards:
    - {name: bench-model}
global:
  router:
    session: {enabled: false}
  services:
    router_replay: {enabled: false}
    metrics: {enabled: false}
    management_api: {listen: "127.0.0.1:$MGMT_PORT"}
EOF
    else
        cat > "$d/bench.yaml" <<EOF
version: v0.3
listeners:
  - {name: bench, address: 127.0.0.1, port: $TETHER_PORT}
providers:
  defaults:
    default_model: small
  models:
    - name: small
      provider_model_id: bench-small
      pricing: {currency: USD, prompt_per_1m: 0.05, cached_input_per_1m: 0.01, completion_per_1m: 0.10}
      backend_refs: [{name: mock-small, endpoint: "127.0.0.1:$up"}]
    - name: medium
      provider_model_id: bench-medium
      pricing: {currency: USD, prompt_per_1m: 0.50, cached_input_per_1m: 0.10, completion_per_1m: 1.50}
      backend_refs: [{name: mock-medium, endpoint: "127.0.0.1:$up"}]
    - name: large
      provider_model_id: bench-large
      pricing: {currency: USD, prompt_per_1m: 3.00, cached_input_per_1m: 0.30, completion_per_1m: 15.00}
      backend_refs: [{name: mock-large, endpoint: "127.0.0.1:$up"}]
routing:
  strategy: priority
  modelCards:
    - {name: small, quality_score: 0.6}
    - {name: medium, quality_score: 0.75}
    - {name: large, quality_score: 0.9}
  signals:
    keywords:
      - {name: code_terms, keywords: [stack trace, segfault, unit test, refactor]}
    pii:
      - {name: sensitive, threshold: 0.8, pii_types_allowed: [EMAIL_ADDRESS]}
    jailbreak:
      - {name: injection, threshold: 0.7, include_tool_results: true}
    language:
      - {name: fr}
    context:
      - {name: long_context, min_tokens: 12K}
    conversation:
      - name: tool_use
        feature: {type: count, source: {type: assistant_tool_call}}
        predicate: {gte: 1}
  decisions:
    - name: guarded
      priority: 100
      rules:
        operator: OR
        conditions:
          - {type: jailbreak, name: injection}
          - {type: pii, name: sensitive}
      modelRefs: [{model: small}]
    - name: long_context
      priority: 60
      rules: {type: context, name: long_context}
      modelRefs: [{model: large}, {model: medium}]
    - name: agentic
      priority: 50
      rules:
        operator: OR
        conditions:
          - {type: conversation, name: tool_use}
          - {type: keyword, name: code_terms}
          - {type: language, name: fr}
      modelRefs: [{model: medium}, {model: large}]
global:
  services:
    router_replay: {path: "$d/replay.db"}
    management_api: {listen: "127.0.0.1:$MGMT_PORT"}
EOF
        if [ "$mode" = gated ]; then
            {
                for i in $(seq 0 98); do
                    printf -- '- {name: key-%04d, team: team-%d, key_sha256: %s}\n' "$i" $((i % 5)) \
                        "$(printf 'bench-key-%04d' "$i" | sha256sum | cut -d' ' -f1)"
                done
                printf -- '- {name: key-0099, team: team-4, key_sha256: %s}\n' \
                    "$(printf '%s' "$GATED_KEY" | sha256sum | cut -d' ' -f1)"
            } > "$d/keys.yaml"
            sed -i "s|^  - {name: bench, address: 127.0.0.1, port: $TETHER_PORT}|  - {name: bench, address: 127.0.0.1, port: $TETHER_PORT, keys_file: \"$d/keys.yaml\"}|" "$d/bench.yaml"
            cat >> "$d/bench.yaml" <<EOF
    rate_limits:
      - {name: per-key, scope: key, match: "*", window: 1m, requests: 100000000, tokens: 100000000000}
      - {name: per-team, scope: team, match: "*", window: 1h, requests: 1000000000}
      - {name: per-model, scope: model, match: "*", window: 1s, requests: 10000000}
      - {name: per-decision, scope: decision, match: "*", window: 1m, requests: 100000000}
    budgets:
      - {name: per-key-day, scope: key, match: "*", period: day, max_spend: 1000000, policy: reject}
      - {name: per-team-month, scope: team, match: "*", period: month, max_spend: 10000000, policy: reject}
EOF
        fi
    fi
    "$BIN" serve --config "$d/bench.yaml" --workers "$w" --log-level "$TLOG" > "$d/stdout.log" 2> "$d/stderr.log" &
    TETHER_PID=$!
    PIDS+=("$TETHER_PID")
    wait_listen "tether serve ($mode)" "$TETHER_PID" "$TETHER_PORT" "$d/stderr.log"
}

# replay_counts MGMT_PORT: "written dropped errors" from the metrics endpoint.
replay_counts() {
    curl -s "http://127.0.0.1:$1/metrics" | awk '
        /^tether_replay_writes_total|^replay_writes_total/ {
            v = $NF
            if ($0 ~ /result="written"|result="ok"/) w += v
            else if ($0 ~ /result="dropped"/) d += v
            else e += v
        }
        END { printf "%d %d %d", w, d, e }'
}

# ------------------------------------------------------------ machine

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
mem=$(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rev=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo "+dirty")

RES="$TMP/results.md"
{
    echo "# tether bench results"
    echo
    echo "- date: $started, commit: $rev"
    echo "- machine: $cpu, $(nproc) cores, $mem, $(uname -sr)"
    echo "- load generator: wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), $ROUNDS interleaved rounds of $DUR s runs per target after a ${WARM} s warm-up; 64 connections on 2 threads, 1 connection on 1 thread"
    echo "- upstream: \`tether mock --workers $MOCK_WORKERS --reply-bytes $REPLY_BYTES\` (one instance, shared by every row)"
    echo "- nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), proxy_pass with an upstream keepalive pool, proxy_buffering off, access_log off"
    echo "- tether: \`tether serve --log-level $TLOG\`, three instances per worker count (proxy, routed, gated)"
    echo "- CPU pinning of the 1-connection runs (p50/p99 @1; scripts/bench_pin.sh): $PIN_DESC; the 64-connection runs are not pinned; load average at the start $(cut -d' ' -f1-3 /proc/loadavg) (a pinned process shares its CPU with whatever else runs on the machine)"
    echo
} > "$RES"

# ------------------------------------------------------------ proxy benchmark

if [ -z "${BENCH_SKIP_PROXY:-}" ]; then
    for b in $BODIES; do gen_body "$b" "$TMP/body-$b.json"; done
    FORKS0=$(dmesg 2>/dev/null | grep -c 'virtual machine fork')
    dmesg > /dev/null 2>&1 || FORKS0=""

    "$BIN" mock --listen 127.0.0.1:0 --workers "$MOCK_WORKERS" --reply-bytes "$REPLY_BYTES" \
        > "$TMP/mock.out" 2> "$TMP/mock.err" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    MOCK_PORT=""
    for _ in $(seq 100); do
        MOCK_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$TMP/mock.out")
        [ -n "$MOCK_PORT" ] && break
        kill -0 "$MOCK_PID" 2>/dev/null || { cat "$TMP/mock.err" >&2; die "tether mock exited at start"; }
        sleep 0.1
    done
    [ -n "$MOCK_PORT" ] || die "tether mock did not report its port"
    wait_listen "tether mock" "$MOCK_PID" "$MOCK_PORT" "$TMP/mock.err"
    echo "bench: mock on 127.0.0.1:$MOCK_PORT; $ROUNDS rounds of $DUR s runs per target" >&2
    echo "bench: pinning at 1 connection: $PIN_DESC (load average $(cut -d' ' -f1 /proc/loadavg))" >&2

    CC_PATH=/v1/chat/completions
    MOCK_SPEC="mock http://127.0.0.1:$MOCK_PORT$CC_PATH $MOCK_PID"
    first=1
    for w in $WORKERS; do
        start_nginx "$w" "$MOCK_PORT"
        start_tether proxy "$w" "$MOCK_PORT"
        PROXY_PID=$TETHER_PID
        PRX_SPEC="proxy http://127.0.0.1:$TETHER_PORT$CC_PATH $TETHER_PID"
        start_tether routed "$w" "$MOCK_PORT"
        ROUTED_PID=$TETHER_PID
        ROUTED_MGMT=$MGMT_PORT
        RTD_SPEC="routed http://127.0.0.1:$TETHER_PORT$CC_PATH $TETHER_PID"
        start_tether gated "$w" "$MOCK_PORT"
        GATED_PID=$TETHER_PID
        GTD_SPEC="gated http://127.0.0.1:$TETHER_PORT$CC_PATH $TETHER_PID"
        ngx_pids="$NGINX_PID $(ps -o pid= --ppid "$NGINX_PID" | tr '\n' ' ')"
        NGX_SPEC="nginx http://127.0.0.1:$NGINX_PORT$CC_PATH $ngx_pids"
        for b in $BODIES; do
            if [ -n "$first" ]; then
                bench_targets "$w" "$b" "$ROUNDS" "$MOCK_SPEC" "$NGX_SPEC" "$PRX_SPEC" "$RTD_SPEC" "$GTD_SPEC"
            else
                bench_targets "$w" "$b" "$ROUNDS" "$NGX_SPEC" "$PRX_SPEC" "$RTD_SPEC" "$GTD_SPEC"
            fi
        done
        first=""
        sleep 1 # the writer's last batch (it lingers 20 ms)
        REPLAY["$w"]=$(replay_counts "$ROUTED_MGMT")
        stop_pid "$NGINX_PID"
        stop_pid "$PROXY_PID"
        stop_pid "$ROUTED_PID"
        stop_pid "$GATED_PID"
    done
    stop_pid "$MOCK_PID"
    for f in $WRK_OVERRUN_LOGS; do cp "$f" "$OUT/"; done
    # the kernel logs a VM snapshot restore as "virtual machine fork" (best effort)
    VMFORK_NOTE=""
    forks1=$(dmesg 2>/dev/null | grep -c 'virtual machine fork')
    if [ -n "$FORKS0" ] && [ -n "$forks1" ] && [ "$forks1" -gt "$FORKS0" ]; then
        VMFORK_NOTE=" The kernel logged $((forks1 - FORKS0)) VM snapshot restore(s) (\"virtual machine fork\") during the run."
    fi

    w1=${WORKERS%% *}
    {
        echo "## Proxy: requests/s at 64 connections, latency at 1 connection"
        echo
        echo "Median of $ROUNDS interleaved rounds per cell. Bodies: agent requests with a tool loop in"
        echo "the history, one copy per session (BENCH_SESSIONS=${BENCH_SESSIONS:-64}), every session sent with"
        echo "\`x-session-id\` and without. proxy: tether with no routing, sessions, replay or metrics;"
        echo "routed: six signal families, three decisions, the session policy, replay (sqlite) and metrics."
        echo "CPU/req: user+system CPU time of the process under test (all nginx processes; all tether"
        echo "threads; the mock alone in the mock rows) divided by the requests it served during the"
        echo "64-connection runs."
        echo
        echo "| target | workers | body | req/s @64 | CPU/req @64 (us) | p50 @1 (us) | p99 @1 (us) | errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for b in $BODIES; do
            k="mock|$w1|$b"
            echo "| mock | - | $((b / 1024)) KB | $(fig "$k|c64" rps) | $(fig "$k|c64" cpu) | $(fig "$k|c1" p50) | $(fig "$k|c1" p99) | $(( ${FIG["$k|c64|err"]:-0} + ${FIG["$k|c1|err"]:-0} )) |"
        done
        for w in $WORKERS; do
            for b in $BODIES; do
                for t in nginx proxy routed gated; do
                    k="$t|$w|$b"
                    echo "| $t | $w | $((b / 1024)) KB | $(fig "$k|c64" rps) | $(fig "$k|c64" cpu) | $(fig "$k|c1" p50) | $(fig "$k|c1" p99) | $(( ${FIG["$k|c64|err"]:-0} + ${FIG["$k|c1|err"]:-0} )) |"
                done
            done
        done
        echo
        echo "## tether CPU per request by thread (us, 64 connections)"
        echo
        echo "| target | workers | body | workers | replay writer | other | total |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for w in $WORKERS; do
            for b in $BODIES; do
                for t in proxy routed gated; do
                    k="$t|$w|$b|c64"
                    echo "| $t | $w | $((b / 1024)) KB | $(fig "$k" cw) | $(fig "$k" cr) | $(fig "$k" co) | $(fig "$k" cpu) |"
                done
            done
        done
        echo
        echo "Replay records of the routed router over the whole run (tether_replay_writes_total):"
        for w in $WORKERS; do
            read -r rw rd re <<< "${REPLAY[$w]:-0 0 0}"
            echo "workers=$w: written $rw, dropped $rd, errors $re."
        done
        echo
        echo "## Client keys and limits on the routed row (issue 16 target: <= 2 us per request)"
        echo
        echo "gated = routed + 100 client keys (keys_file) + 4 local rate limits + 2 budgets. The"
        echo "difference is within the run-to-run noise of a whole routed request on a shared"
        echo "machine; build/tests/bench/bench_client_auth and bench_limits (below) isolate it."
        echo
        echo "| workers | body | routed CPU/req (us) | gated CPU/req (us) | difference (us) | routed req/s | gated req/s |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
        for w in $WORKERS; do
            for b in $BODIES; do
                r="routed|$w|$b|c64"; g="gated|$w|$b|c64"
                diff=$(awk -v a="$(fig "$g" cpu)" -v b="$(fig "$r" cpu)" 'BEGIN { printf "%.1f", a - b }')
                echo "| $w | $((b / 1024)) KB | $(fig "$r" cpu) | $(fig "$g" cpu) | $diff | $(fig "$r" rps) | $(fig "$g" rps) |"
            done
        done
        echo
        echo "## Against nginx (issue 12 targets for routed: >= 0.8x req/s and <= 1.5x CPU/req at 2 KB, >= 0.6x and <= 2.5x at 64 KB)"
        echo
        echo "| target | workers | body | req/s vs nginx | CPU/req vs nginx | added p50 @1 (us) | added p99 @1 (us) | targets |"
        echo "|---|---:|---:|---:|---:|---:|---:|---|"
        for t in proxy routed; do
            for w in $WORKERS; do
                for b in $BODIES; do
                    n="nginx|$w|$b"; k="$t|$w|$b"
                    ratio=$(awk -v a="$(fig "$k|c64" rps)" -v b="$(fig "$n|c64" rps)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
                    cratio=$(awk -v a="$(fig "$k|c64" cpu)" -v b="$(fig "$n|c64" cpu)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
                    add50=$(( $(fig "$k|c1" p50) - $(fig "$n|c1" p50) ))
                    add99=$(( $(fig "$k|c1" p99) - $(fig "$n|c1" p99) ))
                    verdict="-"
                    if [ "$t" = routed ]; then
                        verdict=$(awk -v r="$ratio" -v c="$cratio" -v b="$b" 'BEGIN {
                            rt = (b <= 4096) ? 0.8 : 0.6; ct = (b <= 4096) ? 1.5 : 2.5
                            printf "%s / %s", (r >= rt ? "req/s met" : "req/s missed"), (c <= ct ? "CPU met" : "CPU missed") }')
                    fi
                    echo "| $t | $w | $((b / 1024)) KB | $ratio | $cratio | $add50 | $add99 | $verdict |"
                done
            done
        done
        echo
        echo "Rows compare; absolutes do not: the $(nproc) cores are shared by wrk, the mock and the proxy"
        echo "(and by whatever else runs on the machine), so a proxy with more workers also takes CPU from"
        echo "wrk and the mock. At 1 connection: pinning $PIN_DESC; p99 there still"
        echo "measures whatever else runs on the target's CPU (for tether, its own replay writer thread)."
        echo "Raw wrk outputs: $OUT/wrk-*.txt."
        if [ "$WRK_OVERRUNS" -gt 0 ]; then
            echo
            echo "Repeated runs: $WRK_OVERRUNS wrk run(s) lasted more than their $DUR s (+${BENCH_OVERRUN_SLACK:-0.5} s):"
            echo "wrk stops on its own clock whether or not answers come, so the load generator itself"
            echo "was paused (machine or VM paused, clock stepped); each was measured again and its"
            echo "output kept as $OUT/wrk-*-overrunN.txt.$VMFORK_NOTE"
        fi
        echo
    } >> "$RES"
fi

# ------------------------------------------------------------ replay stores

# The router's throughput with each replay store (issue 13): off, sqlite,
# redis and postgres (scripts/bench_replay_stores.sh starts its own
# redis-server and PostgreSQL on loopback). BENCH_SKIP_STORES=1 skips it.
if [ -z "${BENCH_SKIP_STORES:-}" ] && [ -z "${BENCH_SKIP_PROXY:-}" ]; then
    echo "bench: replay stores (scripts/bench_replay_stores.sh)" >&2
    stores=$(BENCH_BIN="$BIN" "$ROOT/scripts/bench_replay_stores.sh" 2> "$TMP/stores.err") ||
        stores="(failed: $(tail -1 "$TMP/stores.err"))"
    {
        echo "## Replay stores: routed throughput with each store"
        echo
        echo "$stores"
        echo
    } >> "$RES"
fi

# ------------------------------------------------------------ signal fetch

# Added routing latency of one classifier + one embedder call at 5 ms service
# time, 1 and 64 connections (issue 18; scripts/bench_signal_fetch.sh).
# BENCH_SKIP_FETCH=1 skips it.
if [ -z "${BENCH_SKIP_FETCH:-}" ] && [ -z "${BENCH_SKIP_PROXY:-}" ]; then
    echo "bench: signal fetch (scripts/bench_signal_fetch.sh)" >&2
    fetch=$(BENCH_BIN="$BIN" "$ROOT/scripts/bench_signal_fetch.sh" 5 1 2> "$TMP/fetch.err") ||
        fetch="(failed: $(tail -1 "$TMP/fetch.err"))"
    {
        echo "## Signal fetch: one classifier + one embedder call, 5 ms service time (issue 18 goal: added <= max(calls) + 100 us)"
        echo
        echo "$fetch"
        echo
    } >> "$RES"
fi

# ------------------------------------------------------------ bench_* programs

BENCHES=$(find build/tests/bench -maxdepth 1 -type f -name 'bench_*' -perm -u+x 2>/dev/null | sort)
[ -z "${BENCH_SKIP_PROGRAMS:-}" ] || BENCHES=""
[ -n "${BENCH_SKIP_PROGRAMS:-}" ] || {
    echo "## Benchmark programs (build/tests/bench/bench_*)"
    echo
    [ -n "$BENCHES" ] || echo "None built (tests/bench/bench_*.c absent)."
} >> "$RES"
for p in $BENCHES; do
    echo "bench: running $p" >&2
    out=$(timeout 90 "$p" 2>&1); rc=$?
    {
        echo "### $(basename "$p")$([ $rc -ne 0 ] && echo " (exit $rc)")"
        echo
        echo '```'
        echo "$out"
        echo '```'
        echo
    } >> "$RES"
done

cp "$RES" "$OUT/results.md"
cat "$RES"
echo "bench: written to $OUT/results.md" >&2
