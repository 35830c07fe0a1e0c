#!/usr/bin/env bash
# profile_routed.sh - the cost of one routed request on the worker thread, in
# figures that do not depend on the machine's load (issue 12). It runs
# `tether serve --workers 1` on bench.sh's "routed" config (taken from
# scripts/bench.sh, so both stay the same) against `tether mock`, with
# bench.sh's agent bodies and session rotation (every session with and
# without x-session-id).
#
#   scripts/profile_routed.sh instr BIN BYTES WARM N OUT
#       instructions under valgrind --tool=callgrind (one file per thread,
#       OUT.<pid>.1-<thread>): counters zeroed after WARM requests, dumped
#       after N more, sent one at a time on one keep-alive connection.
#       Instructions per request = the worker thread's total / N
#       (callgrind_annotate --inclusive=yes OUT.<pid>.1-NN).
#   scripts/profile_routed.sh cpu BIN BYTES SECS
#       CPU per request by thread (user+sys from /proc/PID/task/*/stat)
#       under `wrk -t1 -c4` for SECS seconds after 2 s of warm-up.
#   scripts/profile_routed.sh syscalls BIN BYTES WARM N
#       system calls per request of the whole process (`strace -c -f`
#       attached after WARM requests, detached after N more), by call.
#   scripts/profile_routed.sh sched BIN BYTES SECS
#       who makes a request wait for a CPU at one connection: `wrk -t1 -c1
#       --latency` for SECS seconds (after 2 s of warm-up) under `perf sched
#       record -a` (root), placed as make bench places its 1-connection runs
#       (scripts/bench_pin.sh; PROFILE_PIN=0: not pinned). For wrk, the mock
#       and each tether thread: wakeups, scheduling delay p99/max, and the
#       wakeups delayed > 0.5 ms by the task that ran before them on that CPU
#       (replay-writer, another chain member, or "other": the rest of the
#       machine); then the replay writer's run slices (its batches).
#
# BYTES: the body size (2048 and 65536 in make bench). PROFILE_TARGET=proxy
# profiles bench.sh's bare proxy config instead (no signals, sessions,
# replay or metrics); the default is "routed". PROFILE_SID=with or without
# sends only the requests with (or only those without) x-session-id in
# `instr` mode (default: both, alternating, as bench.sh). PROFILE_REPLAY=off
# turns the routed config's replay off. Needs python3, and valgrind, wrk,
# strace or perf.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:?instr|cpu}
BIN=${2:?tether binary}
BYTES=${3:?body bytes}
TMP=$(mktemp -d /tmp/tether-profile.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
die() {
    echo "profile_routed: $*" >&2
    exit 1
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 3000); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
        sleep 0.2
    done
    die "nothing listens on port $1"
}

# bench.sh's body generator and wrk script, and its routed config
eval "$(sed -n '/^gen_body() {/,/^}/p' "$ROOT/scripts/bench.sh")"
gen_body "$BYTES" "$TMP/body.json"
awk '/^cat > "\$TMP\/post.lua" <<.EOF./{f=1;next} f&&/^EOF/{exit} f{print}' "$ROOT/scripts/bench.sh" > "$TMP/post.lua"
MP=$(free_port)
TP=$(free_port)
MG=$(free_port)
TARGET=${PROFILE_TARGET:-routed}
case "$TARGET" in
routed) CFGN=2 ;;
proxy) CFGN=1 ;;
*) die "PROFILE_TARGET: routed or proxy" ;;
esac
awk -v want=$CFGN '/^        cat > "\$d\/bench.yaml" <<EOF/{n++} n==want{print} /^EOF/ && n==want {exit}' "$ROOT/scripts/bench.sh" |
    sed '1d;$d' | sed "s/\$TETHER_PORT/$TP/; s/\$up/$MP/g; s|\$d|$TMP|; s/\$MGMT_PORT/$MG/" > "$TMP/bench.yaml"
if [ "$TARGET" = routed ]; then
    grep -q "language:" "$TMP/bench.yaml" || die "could not take the routed config from bench.sh"
    if [ "${PROFILE_REPLAY:-on}" = off ]; then
        sed -i 's|router_replay: {path: .*}|router_replay: {enabled: false}|' "$TMP/bench.yaml"
        grep -q "router_replay: {enabled: false}" "$TMP/bench.yaml" || die "could not turn replay off"
    fi
else
    grep -q "session: {enabled: false}" "$TMP/bench.yaml" || die "could not take the proxy config from bench.sh"
fi

"$BIN" mock --listen "127.0.0.1:$MP" > "$TMP/mock.log" 2>&1 &
PIDS+=($!)
wait_port "$MP"

# drive N: N POSTs on one connection, sessions rotated as post.lua does
drive() {
    python3 - "$TP" "$TMP/body.json" "$1" "${PROFILE_SID:-both}" << 'EOF'
import http.client, sys
port, n, sid = int(sys.argv[1]), int(sys.argv[3]), sys.argv[4]
body = open(sys.argv[2], 'rb').read()
reqs = []
for i in range(64):
    tag = '%04d' % i
    b = body.replace(b'#TASK-0000#', ('#TASK-' + tag + '#').encode())
    if sid != 'without':
        reqs.append((b, {'Content-Type': 'application/json', 'x-session-id': 'bench-session-' + tag}))
    if sid != 'with':
        reqs.append((b, {'Content-Type': 'application/json'}))
c = http.client.HTTPConnection('127.0.0.1', port, timeout=3000)
for k in range(n):
    b, h = reqs[k % len(reqs)]
    c.request('POST', '/v1/chat/completions', body=b, headers=h)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit('status %d' % r.status)
EOF
}

case "$MODE" in
instr)
    WARM=${4:?warm-up requests}
    N=${5:?measured requests}
    OUT=${6:?output prefix}
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT.%p" \
        "$BIN" serve --config "$TMP/bench.yaml" --workers 1 --log-level error > "$TMP/serve.log" 2>&1 &
    VP=$!
    PIDS+=("$VP")
    wait_port "$TP"
    drive "$WARM"
    callgrind_control -z "$VP" > /dev/null
    drive "$N"
    callgrind_control -d "$VP" > /dev/null
    # the dump is written after callgrind_control returns: wait until the
    # files stop growing and each ends with its totals line
    prev=
    for _ in $(seq 1 300); do
        sleep 1
        cur=$(ls -l "$OUT.$VP".1-* 2> /dev/null | awk '{print $5}' | tr '\n' ' ')
        done_all=1
        for f in "$OUT.$VP".1-*; do grep -q '^totals:' "$f" || done_all=0; done
        [ "$done_all" = 1 ] && [ "$cur" = "$prev" ] && break
        prev=$cur
    done
    # the serving worker: the busiest thread running worker_main (the
    # management API's worker runs it too)
    best=0 bestf=
    for f in "$OUT.$VP".1-*; do
        grep -q worker_main "$f" || continue
        t=$(awk '/^totals:/ {print $2}' "$f")
        if [ "${t:-0}" -gt "$best" ]; then best=$t bestf=$f; fi
    done
    [ -n "$bestf" ] || die "no worker thread in $OUT.$VP.1-*"
    echo "worker thread ($bestf): $best instructions, $((best / N)) per request"
    ;;
cpu)
    SECS=${4:?seconds}
    "$BIN" serve --config "$TMP/bench.yaml" --workers 1 --log-level error > "$TMP/serve.log" 2>&1 &
    SP=$!
    PIDS+=("$SP")
    wait_port "$TP"
    url=http://127.0.0.1:$TP/v1/chat/completions
    BENCH_BODY="$TMP/body.json" wrk -t1 -c4 -d2s -s "$TMP/post.lua" "$url" > /dev/null
    ticks() {
        for t in /proc/"$SP"/task/*; do
            s=($(sed 's/^.*) //' "$t/stat"))
            echo "$(cat "$t/comm") $((s[11] + s[12]))"
        done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
    }
    ticks > "$TMP/t0"
    BENCH_BODY="$TMP/body.json" wrk -t1 -c4 -d"${SECS}s" -s "$TMP/post.lua" "$url" > "$TMP/wrk.log"
    ticks > "$TMP/t1"
    n=$(awk '/requests in/ {print $1}' "$TMP/wrk.log")
    echo "requests: $n (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    join "$TMP/t0" "$TMP/t1" | awk -v n="$n" -v hz="$(getconf CLK_TCK)" \
        '{d = $3 - $2; if (d > 0) printf "%s: %.1f us CPU per request\n", $1, d * 1e6 / hz / n}'
    ;;
syscalls)
    WARM=${4:?warm-up requests}
    N=${5:?measured requests}
    "$BIN" serve --config "$TMP/bench.yaml" --workers 1 --log-level error > "$TMP/serve.log" 2>&1 &
    SP=$!
    PIDS+=("$SP")
    wait_port "$TP"
    drive "$WARM"
    # -f with -p attaches every thread of the process
    strace -c -f -p "$SP" -o "$TMP/strace.txt" &
    ST=$!
    sleep 1
    drive "$N"
    sleep 0.5
    kill -INT "$ST"
    wait "$ST" 2> /dev/null || true
    awk -v n="$N" '/^-----/ {d++; next} d == 1 && NF >= 5 {
            c = $4; name = $NF; printf "%-20s %8.2f per request\n", name, c / n }
        /total$/ { printf "%-20s %8.2f per request\n", "total", $4 / n }' "$TMP/strace.txt"
    ;;
sched)
    SECS=${4:?seconds}
    # shellcheck source=scripts/bench_pin.sh
    . "$ROOT/scripts/bench_pin.sh"
    BENCH_PIN=${PROFILE_PIN:-1} pin_layout "$(pin_allowed)"
    MOCK=${PIDS[0]}
    "$BIN" serve --config "$TMP/bench.yaml" --workers 1 --log-level error > "$TMP/serve.log" 2>&1 &
    SP=$!
    PIDS+=("$SP")
    wait_port "$TP"
    WRK=(wrk)
    if [ -n "$PIN_ON" ]; then
        { pin_set "$PIN_TARGET" "$SP" && pin_set "$PIN_MOCK" "$MOCK"; } || die "taskset failed"
        WRK=(taskset -c "$PIN_LOAD" wrk)
    fi
    echo "pinning: $PIN_DESC; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    url=http://127.0.0.1:$TP/v1/chat/completions
    BENCH_BODY="$TMP/body.json" "${WRK[@]}" -t1 -c1 -d2s -s "$TMP/post.lua" "$url" > /dev/null
    perf sched record -a -o "$TMP/sched.data" -- sleep $((SECS + 1)) > /dev/null 2>&1 &
    PP=$!
    sleep 0.5
    BENCH_BODY="$TMP/body.json" "${WRK[@]}" -t1 -c1 -d"${SECS}s" --latency -s "$TMP/post.lua" "$url" > "$TMP/wrk.log"
    wait "$PP" || die "perf sched record failed (root needed)"
    awk '/requests in/ {n = $1} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
        END {print "wrk: " n " requests, p50 " p50 ", p99 " p99}' "$TMP/wrk.log"
    perf sched timehist -i "$TMP/sched.data" > "$TMP/sched.txt" 2> /dev/null
    python3 - "$TMP/sched.txt" "$SP" "$MOCK" << 'EOF'
import re, sys
path, tpid, mpid = sys.argv[1:4]
def who(name, pid):
    if pid == tpid: return 'tether:' + name
    if pid == mpid: return 'mock'
    return 'wrk' if name == 'wrk' else None
prev, delays, writer = {}, {}, []
for line in open(path).read().splitlines()[3:]:
    f = line.split()
    if len(f) < 6: continue
    try: delay, run = float(f[4]), float(f[5])
    except ValueError: continue
    m = re.match(r'(.*)\[(\d+)(?:/(\d+))?\]$', f[2])
    name, pid = (m.group(1), m.group(3) or m.group(2)) if m else (f[2], '')
    k = who(name, pid)
    if k == 'tether:replay-writer': writer.append(run)
    elif k:
        d = delays.setdefault(k, ([], {}))
        d[0].append(delay)
        if delay > 0.5 and f[1] in prev: d[1][prev[f[1]]] = d[1].get(prev[f[1]], 0) + 1
    prev[f[1]] = k or 'other'
def pct(a, p): a = sorted(a); return a[min(len(a) - 1, int(len(a) * p))]
for k, (d, by) in sorted(delays.items()):
    if len(d) < 50: continue  # timers and the like
    print('%-20s %7d wakeups, delay p99 %.3f max %.3f ms, > 0.5 ms: %d %s' % (k, len(d), pct(d, .99), max(d),
          sum(by.values()), ', '.join('%d after %s' % (n, w) for w, n in sorted(by.items(), key=lambda x: -x[1]))))
if writer:
    print('replay-writer slices %d: run p50 %.3f p99 %.3f max %.3f ms' % (len(writer), pct(writer, .5), pct(writer, .99), max(writer)))
EOF
    ;;
*) die "mode: instr, cpu, syscalls or sched" ;;
esac
