# bench_wrk.sh - sourced by scripts/bench.sh: run one wrk measurement and
# shellcheck shell=bash
# repeat it when the load generator itself was stopped (machine paused).
#
# wrk (4.1) ends a run on its own clock: a 100 ms timer in every thread
# checks the stop flag the main thread sets after `-d` seconds, whether or
# not answers arrive (a server that never answers gives "0 requests in
# 2.01s" for -d2s). So a run that reports clearly more than its duration
# did not wait for a slow server: wrk's own threads did not run, or the wall
# clock it measures with (gettimeofday) jumped, i.e. the whole machine (VM)
# was paused, e.g. for a snapshot. Requests in flight across the pause then
# come back "slower than --timeout" and count as wrk timeouts, and the run's
# req/s is divided by the pause: neither says anything about the server.
#
# Knobs: BENCH_OVERRUN_SLACK=0.5 (seconds a run may exceed its duration),
# BENCH_PAUSE_RETRIES=2 (repeats of an overrun run). Sets WRK_OVERRUNS (runs
# repeated so far) and WRK_OVERRUN_LOGS (the kept outputs of those runs).

WRK_OVERRUNS=${WRK_OVERRUNS:-0}
WRK_OVERRUN_LOGS=${WRK_OVERRUN_LOGS:-}

# wrk_runtime LOG: the run's duration in seconds as wrk reported it
# ("N requests in 2.10s, ..."; wrk prints us, ms, s, m or h), empty if none.
wrk_runtime() {
    awk '/ requests in / {
        v = $4; sub(/,$/, "", v)
        if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1e6 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); v = v / 1e3 }
        else if (v ~ /s$/) { sub(/s$/, "", v) }
        else if (v ~ /m$/) { sub(/m$/, "", v); v = v * 60 }
        else if (v ~ /h$/) { sub(/h$/, "", v); v = v * 3600 }
        else next
        printf "%.3f\n", v; exit }' "$1"
}

# wrk_overran LOG SECS: true when the run in LOG lasted more than SECS plus
# the slack (its load generator was paused).
wrk_overran() {
    local rt
    rt=$(wrk_runtime "$1")
    [ -n "$rt" ] || return 1
    awk -v rt="$rt" -v d="$2" -v s="${BENCH_OVERRUN_SLACK:-0.5}" 'BEGIN { exit !(rt > d + s) }'
}

# wrk_run_checked LOG SECS CMD...: run CMD (a wrk run of SECS seconds) with
# its output in LOG; while the run overran, keep its output as
# LOG-overrunN.txt, say so on stderr and run it again (at most
# BENCH_PAUSE_RETRIES times). Returns CMD's status of the last run.
wrk_run_checked() {
    local log=$1 secs=$2 rc tries=0 kept
    shift 2
    while :; do
        "$@" > "$log" 2>&1
        rc=$?
        wrk_overran "$log" "$secs" || return "$rc"
        [ "$tries" -lt "${BENCH_PAUSE_RETRIES:-2}" ] || {
            echo "bench: $(basename "$log"): still overran after $tries repeats; kept as measured" >&2
            return "$rc"
        }
        tries=$((tries + 1))
        WRK_OVERRUNS=$((WRK_OVERRUNS + 1))
        kept="${log%.txt}-overrun$tries.txt"
        cp "$log" "$kept"
        WRK_OVERRUN_LOGS="$WRK_OVERRUN_LOGS $kept"
        echo "bench: $(basename "$log"): a ${secs} s run took $(wrk_runtime "$log") s (the machine was paused, not the server: wrk stops on its own clock); repeating it" >&2
    done
}
