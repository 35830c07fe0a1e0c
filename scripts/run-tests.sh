#!/bin/bash
# Run every test binary of one build directory and print one summary line
# "N passed, N failed" that CI reads. Each binary is a cmocka suite; its
# exit code is its number of failed tests.
#
# Binaries run TEST_JOBS at a time (default 3: most of them wait on sockets
# and child processes, not on the CPU). Each one's output is kept in a file
# of its own and printed whole, in sorted order, so the log reads as in a
# serial run. Each running binary gets a job slot (TETHER_TEST_PORT_SLOT of
# TETHER_TEST_PORT_SLOTS): tests/support picks its free ports from that
# slot's share of the port range only, so two binaries running side by side
# never pick the same port. The binaries in SERIAL (timing- or
# load-sensitive) run afterwards, one at a time, with nothing else running.
# TEST_JOBS=1 gives the old serial run. The elapsed time of each binary is
# kept in $BUILD/tests/.times (slowest first: the next run of this build
# directory, or of another one without such a file, starts those first) and
# the 15 slowest are printed at the end.
BUILD=${1:-build}
export TETHER_BIN="$PWD/$BUILD/tether"
export TETHER_SRC="$PWD"
export CMOCKA_MESSAGE_OUTPUT=stdout
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
JOBS=${TEST_JOBS:-3}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || JOBS=1
# Binaries (path below $BUILD/, e.g. tests/integration/test_x) that run
# alone, after the others: timing- or load-sensitive ones (none so far);
# TEST_SERIAL adds more.
SERIAL_LIST=""
SERIAL=" $SERIAL_LIST ${TEST_SERIAL:-} "

mapfile -t all < <(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort)
work=$(mktemp -d "${TMPDIR:-/tmp}/tether-run-tests.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# Launch order: slowest first by the last recorded times (this build dir's,
# else the plain build's), the rest in sorted order; serial ones last.
times_file="$BUILD/tests/.times"
prev=$times_file
[ -s "$prev" ] || prev="build/tests/.times"
declare -A idx_of
for i in "${!all[@]}"; do idx_of[${all[$i]#"$BUILD"/}]=$i; done
order=(); declare -A queued
if [ -s "$prev" ]; then
    while read -r _ name; do
        i=${idx_of[$name]:-}
        [ -n "$i" ] && [ -z "${queued[$i]:-}" ] && [[ "$SERIAL" != *" $name "* ]] || continue
        order+=("$i"); queued[$i]=1
    done < "$prev"
fi
for i in "${!all[@]}"; do
    name=${all[$i]#"$BUILD"/}
    [ -z "${queued[$i]:-}" ] && [[ "$SERIAL" != *" $name "* ]] && { order+=("$i"); queued[$i]=1; }
done
serial=()
for i in "${!all[@]}"; do [ -z "${queued[$i]:-}" ] && serial+=("$i"); done

# run_one I SLOT: run binary I, keep its output, exit code and elapsed time
run_one() {
    local t=${all[$1]} start=$EPOCHREALTIME rc
    TETHER_TEST_PORT_SLOT=$2 TETHER_TEST_PORT_SLOTS=$3 "$t" >"$work/$1.out" 2>&1
    rc=$?
    local end=$EPOCHREALTIME
    echo "$rc" >"$work/$1.rc"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$work/$1.time"
}

passed=0; failed=0; broken=""; next=0
declare -A done_
# Print, in sorted order, every finished binary not printed yet.
flush() {
    while [ "$next" -lt "${#all[@]}" ] && [ -n "${done_[$next]:-}" ]; do
        local t=${all[$next]} out rc run nfail
        out=$(cat "$work/$next.out"); rc=$(cat "$work/$next.rc")
        echo "$out" | grep -vE '^\[ +(RUN|OK) +\]'
        run=$(echo "$out" | sed -n 's/^\[=*\] \([0-9]*\) test(s) run\./\1/p' | tail -1)
        nfail=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
        run=${run:-0}; nfail=${nfail:-0}
        if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=1; run=$((run > 0 ? run : 1)); fi
        passed=$((passed + run - nfail)); failed=$((failed + nfail))
        if [ "$rc" -ne 0 ]; then broken="$broken $t"; fi
        next=$((next + 1))
    done
}

suite_start=$EPOCHREALTIME
declare -A slot_pid   # slot -> pid of the binary running in it
declare -A pid_idx    # pid -> binary index
# reap: wait for one running binary to end, free its slot
reap() {
    local pid s
    wait -n -p pid "${!pid_idx[@]}"
    local i=${pid_idx[$pid]}
    unset "pid_idx[$pid]"
    for s in "${!slot_pid[@]}"; do [ "${slot_pid[$s]}" = "$pid" ] && unset "slot_pid[$s]"; done
    done_[$i]=1
}
for i in "${order[@]}"; do
    while [ "${#pid_idx[@]}" -ge "$JOBS" ]; do reap; flush; done
    for ((s = 0; s < JOBS; s++)); do [ -z "${slot_pid[$s]:-}" ] && break; done
    run_one "$i" "$s" "$JOBS" &
    slot_pid[$s]=$!; pid_idx[$!]=$i
done
while [ "${#pid_idx[@]}" -gt 0 ]; do reap; flush; done
for i in "${serial[@]}"; do
    run_one "$i" 0 1
    done_[$i]=1
    flush
done
flush

# elapsed time per binary, slowest first
for i in "${!all[@]}"; do
    echo "$(cat "$work/$i.time" 2>/dev/null || echo 0) ${all[$i]#"$BUILD"/}"
done | sort -rn >"$work/times"
cp "$work/times" "$times_file" 2>/dev/null
suite_s=$(awk -v a="$suite_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
sum_s=$(awk '{ s += $1 } END { printf "%.0f", s }' "$work/times")
echo "== $BUILD: ${#all[@]} binaries in ${suite_s} s wall (${sum_s} s summed, $JOBS jobs,$([ "${#serial[@]}" -gt 0 ] && echo " ${#serial[@]} serial after,") load $(cut -d' ' -f1-3 /proc/loadavg)); 15 slowest:"
head -15 "$work/times" | awk '{ printf "   %7.1f s  %s\n", $1, $2 }'
echo "== $BUILD:$([ -n "$broken" ] && echo " failing:$broken")"
echo "$BUILD: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
