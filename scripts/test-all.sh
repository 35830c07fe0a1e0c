#!/bin/bash
# `make test`: the whole suite, plain and under ASan+UBSan, then a short
# fuzzing pass over every harness; ends with one summary line that CI reads.
set -u
cd "$(dirname "$0")/.."
total_p=0; total_f=0; status=0
run_suite() {
    local san=$1 log
    log=$(mktemp)
    make --no-print-directory check SAN="$san" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
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
    FUZZ_SECONDS=${FUZZ_SECONDS:-8} ./scripts/fuzz.sh short > "$flog" 2>&1
    frc=$?
    n=$(grep -c '^fuzz: .* for ' "$flog")
    tail -5 "$flog"
    if [ "$frc" -eq 0 ]; then total_p=$((total_p + n)); else total_f=$((total_f + 1)); status=1; fi
    rm -f "$flog"
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
echo "tether: $total_p passed, $total_f failed"
exit $status
