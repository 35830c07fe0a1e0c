#!/bin/bash
# bench_pin.sh - tests of scripts/bench_pin.sh, where `make bench` pins wrk,
# the mock and the target for the one-connection latency runs (run by
# tests/unit/bench/test_bench_pin.c): the layout for 1, 2, 3 and more
# allowed CPUs, BENCH_PIN=0, CPU lists with ranges and gaps, and pin_set on
# a real process with a second thread (every thread moves, and back).
# Exit 0: all passed; 1: a check failed; 2: setup error.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$ROOT/scripts/bench_pin.sh" ] || { echo "FAIL: scripts/bench_pin.sh is missing"; exit 1; }
# shellcheck source=scripts/bench_pin.sh
. "$ROOT/scripts/bench_pin.sh" || exit 2
fails=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
layout() { pin_layout "$1"; echo "on=$PIN_ON load=$PIN_LOAD mock=$PIN_MOCK target=$PIN_TARGET all=$PIN_ALL"; }

# --- pin_expand: ranges and lists
check "expand a range" "0 1 2 3" "$(pin_expand 0-3)"
check "expand a list with gaps" "0 2 5 6 7" "$(pin_expand 0,2,5-7)"
check "expand one CPU" "4" "$(pin_expand 4)"

# --- pin_layout: what each machine size allows (taskset is util-linux)
if command -v taskset > /dev/null; then
    check "one CPU: nothing pinned" "on= load= mock= target= all=0" "$(layout 0)"
    check "two CPUs: target on the second, wrk and mock on the first" \
        "on=1 load=0 mock=0 target=1 all=0-1" "$(layout 0-1)"
    check "three CPUs: one each" "on=1 load=0 mock=1 target=2 all=0-2" "$(layout 0-2)"
    check "eight CPUs: the first three" "on=1 load=0 mock=1 target=2 all=0-7" "$(layout 0-7)"
    check "allowed CPUs in order, not CPU numbers" "on=1 load=2 mock=5 target=6 all=2,5-7" "$(layout 2,5-7)"
    check "two allowed CPUs out of many" "on=1 load=3 mock=3 target=9 all=3,9" "$(layout 3,9)"
    check "BENCH_PIN=0 turns it off" "on= load= mock= target= all=0-3" "$(BENCH_PIN=0 layout 0-3)"
    pin_layout 0-1
    check "the layout is described" "2 CPUs (0-1): the target on CPU 1, wrk and the mock share CPU 0" "$PIN_DESC"
    pin_layout 0
    check "no pinning is described" "none: one CPU (0) is all this process may use" "$PIN_DESC"
    BENCH_PIN=0 pin_layout 0-3
    check "BENCH_PIN=0 is described" "off (BENCH_PIN=0): wrk, the mock and the target run on any of the 4 CPU(s)" "$PIN_DESC"

    # --- pin_set: every thread of a running process, and back
    allowed=$(pin_allowed)
    first=$(pin_expand "$allowed" | cut -d' ' -f1)
    python3 -c 'import threading, time; threading.Thread(target=time.sleep, args=(30,)).start(); time.sleep(30)' &
    pid=$!
    nthreads() { local t=(/proc/"$pid"/task/*); echo "${#t[@]}"; }
    for _ in $(seq 50); do [ "$(nthreads)" -ge 2 ] && break; sleep 0.1; done
    threads() { for t in /proc/"$pid"/task/*; do awk '/^Cpus_allowed_list:/ {print $2}' "$t/status"; done | sort -u | tr '\n' ' '; }
    check "the process has two threads" 2 "$(nthreads)"
    pin_set "$first" "$pid"
    check "pinned: every thread on one CPU" "$first " "$(threads)"
    pin_set "$allowed" "$pid"
    check "unpinned: every thread back on all" "$allowed " "$(threads)"
    kill "$pid"
    wait "$pid" 2> /dev/null
    check "a process that is gone is not an error" 0 "$(pin_set "$first" "$pid"; echo $?)"
else
    echo "skip pin_layout and pin_set: no taskset"
fi
[ "$fails" -eq 0 ] || exit 1
echo "all passed"
