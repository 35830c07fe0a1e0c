# bench_pin.sh - sourced by scripts/bench.sh: where the one-connection
# shellcheck shell=bash
# latency runs (p50/p99 @1) place wrk, the mock and the process under test.
#
# At one connection wrk, the mock and the proxy take turns on one request,
# so with every process free to run anywhere the scheduler moves them
# between CPUs, and any of them may find its CPU taken by another (e.g. by
# tether's replay writer). Pinning gives each its own CPU when there are
# enough; the target's own threads (tether's worker and replay writer)
# still share one, as on a one-core deployment (docs/PERFORMANCE.md):
#   >= 3 CPUs: wrk on the first, the mock on the second, the target (all
#              nginx processes / every thread of the tether process) on the
#              third;
#   2 CPUs:    the target on the second, wrk and the mock on the first;
#   1 CPU:     nothing is pinned.
# "CPUs" are those this shell may run on (Cpus_allowed_list), in order.
# The 64-connection runs stay unpinned: they measure what the proxy does
# with the whole machine, as nginx is deployed.
#
# BENCH_PIN=0 turns pinning off. Needs taskset (util-linux).
#
# pin_allowed: the CPUs this process may run on ("0-3", "0,2,5-7").
# pin_layout ALLOWED: sets PIN_ON (1 or empty), PIN_LOAD, PIN_MOCK,
# PIN_TARGET (CPU numbers), PIN_ALL (ALLOWED, to undo a pin) and PIN_DESC
# (one line saying what was done and why).
# pin_set CPULIST PID...: every thread of each process on CPULIST.

pin_allowed() { awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status 2> /dev/null; }

# pin_expand LIST: "0-2,5" -> "0 1 2 5".
pin_expand() {
    awk -v l="$1" 'BEGIN {
        n = split(l, part, ",")
        for (i = 1; i <= n; i++) {
            if (part[i] == "") continue
            if (split(part[i], r, "-") == 2) { for (c = r[1] + 0; c <= r[2] + 0; c++) printf "%d ", c }
            else printf "%d ", part[i] + 0
        }
    }' | sed 's/ $//'
}

# shellcheck disable=SC2034 # the PIN_ variables are for the sourcing script
pin_layout() {
    local allowed=$1 cpus n
    PIN_ON="" PIN_LOAD="" PIN_MOCK="" PIN_TARGET="" PIN_ALL=$allowed
    read -r -a cpus <<< "$(pin_expand "$allowed")"
    n=${#cpus[@]}
    if [ "${BENCH_PIN:-1}" = 0 ]; then
        PIN_DESC="off (BENCH_PIN=0): wrk, the mock and the target run on any of the $n CPU(s)"
    elif [ "$n" -lt 2 ]; then
        PIN_DESC="none: one CPU ($allowed) is all this process may use"
    elif ! command -v taskset > /dev/null 2>&1; then
        PIN_DESC="none: taskset (util-linux) is not installed"
    elif [ "$n" -eq 2 ]; then
        PIN_ON=1 PIN_LOAD=${cpus[0]} PIN_MOCK=${cpus[0]} PIN_TARGET=${cpus[1]}
        PIN_DESC="2 CPUs ($allowed): the target on CPU $PIN_TARGET, wrk and the mock share CPU $PIN_LOAD"
    else
        PIN_ON=1 PIN_LOAD=${cpus[0]} PIN_MOCK=${cpus[1]} PIN_TARGET=${cpus[2]}
        PIN_DESC="$n CPUs ($allowed): wrk on CPU $PIN_LOAD, the mock on CPU $PIN_MOCK, the target on CPU $PIN_TARGET"
    fi
}

pin_set() {
    local list=$1 p
    shift
    for p in "$@"; do
        taskset -a -p -c "$list" "$p" > /dev/null 2>&1 || {
            kill -0 "$p" 2> /dev/null || continue # already gone: the caller notices
            echo "bench: taskset -a -p -c $list $p failed" >&2
            return 1
        }
    done
}
