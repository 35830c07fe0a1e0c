#!/bin/bash
# bench_wrk.sh - tests of scripts/bench_wrk.sh, the `make bench` guard that
# repeats a wrk run the machine's pause stretched (run by
# tests/unit/bench/test_bench_wrk.c). Uses recorded wrk outputs
# (tests/data/bench/wrk/README.md) and a fake wrk that replays them; no
# network, no timing. Exit 0: all passed; 1: a check failed; 2: setup error.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$ROOT/tests/data/bench/wrk
[ -f "$ROOT/scripts/bench_wrk.sh" ] || { echo "FAIL: scripts/bench_wrk.sh is missing"; exit 1; }
# shellcheck source=scripts/bench_wrk.sh
. "$ROOT/scripts/bench_wrk.sh" || exit 2
TMP=$(mktemp -d /tmp/test-bench-wrk.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT
fails=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}

# --- wrk_runtime: the duration wrk reported, in seconds
check "runtime of the paused run" 17.390 "$(wrk_runtime "$DATA/paused-17s.txt")"
check "runtime of a normal run" 2.110 "$(wrk_runtime "$DATA/normal-2s.txt")"
check "runtime against a silent server" 2.040 "$(wrk_runtime "$DATA/silent-server-2s.txt")"
for u in "1.50m 90.000" "500.00ms 0.500" "1.00h 3600.000" "900.00us 0.001"; do
    read -r v want <<< "$u"
    echo "  100 requests in $v, 1.00MB read" > "$TMP/unit.txt"
    check "runtime unit $v" "$want" "$(wrk_runtime "$TMP/unit.txt")"
done
echo "unable to connect to 127.0.0.1:1 Connection refused" > "$TMP/failed.txt"
check "no runtime when wrk failed" "" "$(wrk_runtime "$TMP/failed.txt")"

# --- wrk_overran: only a run longer than its duration + slack
verdict() { if wrk_overran "$1" "$2"; then echo overran; else echo fine; fi; }
check "17.39 s for 2 s overran" overran "$(verdict "$DATA/paused-17s.txt" 2)"
check "2.65 s for 2 s overran" overran "$(verdict "$DATA/paused-2.65s.txt" 2)"
check "2.11 s for 2 s is fine" fine "$(verdict "$DATA/normal-2s.txt" 2)"
# a server that never answers, or stalls 15 s mid-run, does not stretch wrk
check "silent server is not an overrun" fine "$(verdict "$DATA/silent-server-2s.txt" 2)"
check "stalled server is not an overrun" fine "$(verdict "$DATA/server-stalled-2s.txt" 2)"
check "failed wrk is not an overrun" fine "$(verdict "$TMP/failed.txt" 2)"
check "17.39 s for a 20 s run is fine" fine "$(verdict "$DATA/paused-17s.txt" 20)"
check "slack is a knob" fine "$(BENCH_OVERRUN_SLACK=1 verdict "$DATA/paused-2.65s.txt" 2)"

# --- wrk_run_checked: a fake wrk printing the given outputs in turn
# (the last one again once they run out), counting its runs
fake_wrk() { # fake_wrk OUTPUT...: writes $TMP/fake, resets its counter
    printf '%s\n' "$@" > "$TMP/fake.list"
    echo 0 > "$TMP/fake.n"
}
cat > "$TMP/wrk" <<'FAKE'
#!/bin/bash
d=$(dirname "$0"); n=$(($(cat "$d/fake.n") + 1)); echo "$n" > "$d/fake.n"
f=$(sed -n "${n}p" "$d/fake.list"); [ -n "$f" ] || f=$(tail -1 "$d/fake.list")
cat "$f"
FAKE
chmod +x "$TMP/wrk" || exit 2

# a paused run, then a normal one: repeated once, the normal one measured
fake_wrk "$DATA/paused-17s.txt" "$DATA/normal-2s.txt"
WRK_OVERRUNS=0 WRK_OVERRUN_LOGS=""
wrk_run_checked "$TMP/wrk-gated-r1.txt" 2 "$TMP/wrk" -d2s 2> "$TMP/err1"
check "paused then normal: exit 0" 0 "$?"
check "paused then normal: wrk ran twice" 2 "$(cat "$TMP/fake.n")"
check "paused then normal: measured the normal run" "$(cat "$DATA/normal-2s.txt")" "$(cat "$TMP/wrk-gated-r1.txt")"
check "paused then normal: one overrun counted" 1 "$WRK_OVERRUNS"
check "paused then normal: the paused output kept" "$(cat "$DATA/paused-17s.txt")" "$(cat "$TMP/wrk-gated-r1-overrun1.txt" 2>/dev/null)"
check "paused then normal: kept path listed" " $TMP/wrk-gated-r1-overrun1.txt" "$WRK_OVERRUN_LOGS"
check "paused then normal: said why on stderr" 1 "$(grep -c 'took 17.390 s (the machine was paused' "$TMP/err1")"

# a normal run: run once, nothing counted
fake_wrk "$DATA/normal-2s.txt"
wrk_run_checked "$TMP/wrk-normal.txt" 2 "$TMP/wrk" -d2s 2> "$TMP/err2"
check "normal: wrk ran once" 1 "$(cat "$TMP/fake.n")"
check "normal: overruns unchanged" 1 "$WRK_OVERRUNS"
check "normal: quiet" "" "$(cat "$TMP/err2")"

# a stalled server (answers held 15 s) is measured as it is, not repeated
fake_wrk "$DATA/server-stalled-2s.txt" "$DATA/normal-2s.txt"
wrk_run_checked "$TMP/wrk-stalled.txt" 2 "$TMP/wrk" -d2s 2> /dev/null
check "stalled server: wrk ran once" 1 "$(cat "$TMP/fake.n")"
check "stalled server: measured as it is" "$(cat "$DATA/server-stalled-2s.txt")" "$(cat "$TMP/wrk-stalled.txt")"

# always paused: bounded repeats, the last output kept as measured
fake_wrk "$DATA/paused-17s.txt"
BENCH_PAUSE_RETRIES=2 wrk_run_checked "$TMP/wrk-always.txt" 2 "$TMP/wrk" -d2s 2> "$TMP/err3"
check "always paused: wrk ran 1 + 2 times" 3 "$(cat "$TMP/fake.n")"
check "always paused: overruns counted" 3 "$WRK_OVERRUNS"
check "always paused: said it gave up" 1 "$(grep -c 'still overran after 2 repeats' "$TMP/err3")"
check "always paused: last output measured" "$(cat "$DATA/paused-17s.txt")" "$(cat "$TMP/wrk-always.txt")"

# wrk's own exit status comes back
printf '#!/bin/bash\necho "unable to connect"\nexit 1\n' > "$TMP/wrk-fail" && chmod +x "$TMP/wrk-fail"
wrk_run_checked "$TMP/wrk-fail.txt" 2 "$TMP/wrk-fail" 2> /dev/null
check "failed wrk: its status returned" 1 "$?"

# --- bench.sh measures through the guard
check "bench.sh sources the guard" 1 "$(grep -c '^\. "$ROOT/scripts/bench_wrk.sh"' "$ROOT/scripts/bench.sh")"
check "bench.sh runs wrk through it" 1 "$(grep -c 'wrk_run_checked "$log" "$secs"' "$ROOT/scripts/bench.sh")"
check "bench.sh starts wrk in one place" 1 "$(grep -cE '^[^#]*wrk -t' "$ROOT/scripts/bench.sh")"
check "that place is the guard's command" 1 "$(grep -B1 -E '^[^#]*wrk -t' "$ROOT/scripts/bench.sh" | grep -c 'wrk_run_checked')"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all bench_wrk checks passed"
