#!/bin/bash
# `make test`: the whole suite, plain and under ASan+UBSan, then a short
# fuzzing pass over every harness; ends with one summary line that CI reads.
# Each phase's wall time is printed at the end (with the load average: the
# machine may be shared). The trees build with -j$(nproc) (BUILD_JOBS).
set -u
cd "$(dirname "$0")/.."
total_p=0; total_f=0; status=0
BUILD_JOBS=${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
phases=""; t0=$EPOCHREALTIME; tp=$t0
# phase NAME: the time since the previous phase mark goes to NAME
phase() {
    local now=$EPOCHREALTIME
    phases+=$(awk -v n="$1" -v a="$tp" -v b="$now" 'BEGIN { printf "%s %.0f s; ", n, b - a }')
    tp=$now
}
run_suite() {
    local san=$1 log name
    name=$([ "$san" = 1 ] && echo asan || echo plain)
    log=$(mktemp)
    make --no-print-directory -j"$BUILD_JOBS" tests-built SAN="$san" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    phase "$name-build"
    if [ "$rc" -eq 0 ]; then
        make --no-print-directory check SAN="$san" 2>&1 | tee -a "$log"
        rc=${PIPESTATUS[0]}
        phase "$name-tests"
    fi
    local line
    line=$(grep -E '^build(-asan)?: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    local p f
    p=$(echo "$line" | sed -n 's/.* \([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # the build itself failed
    total_p=$((total_p + p)); total_f=$((total_f + f))
    [ "$rc" -ne 0 ] && status=1
    rm -f "$log"
}
run_suite 0
run_suite 1
# fuzz: each harness briefly (scripts/fuzz.sh long for the real thing)
if command -v clang >/dev/null; then
    flog=$(mktemp)
    FUZZ_SECONDS=${FUZZ_SECONDS:-8} FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)} ./scripts/fuzz.sh short > "$flog" 2>&1
    frc=$?
    n=$(grep -c '^fuzz: .* for ' "$flog")
    tail -5 "$flog"
    if [ "$frc" -eq 0 ]; then total_p=$((total_p + n)); else total_f=$((total_f + 1)); status=1; fi
    rm -f "$flog"
    phase fuzz
fi
# deployment: the Helm chart (rendered, schema-checked) and the image layout
dlog=$(mktemp)
./tests/deploy/run.sh > "$dlog" 2>&1
drc=$?
grep -E '^(chart|image): (FAIL|[0-9])|^deploy: ' "$dlog"
dline=$(grep -E '^deploy: [0-9]+ passed, [0-9]+ failed' "$dlog" | tail -1)
if [ "$drc" -eq 2 ]; then
    echo "deploy: skipped: $(grep -m1 '^deploy: ' "$dlog")"
else
    dp=$(echo "$dline" | sed -n 's/.* \([0-9]*\) passed.*/\1/p'); dp=${dp:-0}
    df=$(echo "$dline" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); df=${df:-1}
    if [ "$drc" -ne 0 ] && [ "$df" -eq 0 ]; then df=1; fi
    total_p=$((total_p + dp)); total_f=$((total_f + df))
    [ "$drc" -ne 0 ] && status=1
fi
rm -f "$dlog"
phase deploy
echo "== phases: ${phases}total $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s (load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "tether: $total_p passed, $total_f failed"
exit $status
