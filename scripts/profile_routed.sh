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
#
# BYTES: the body size (2048 and 65536 in make bench). PROFILE_TARGET=proxy
# profiles bench.sh's bare proxy config instead (no signals, sessions,
# replay or metrics); the default is "routed". PROFILE_SID=with or without
# sends only the requests with (or only those without) x-session-id in
# `instr` mode (default: both, alternating, as bench.sh). Needs python3, and
# valgrind, wrk or strace.
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
*) die "mode: instr, cpu or syscalls" ;;
esac
