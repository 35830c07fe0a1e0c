#!/bin/bash
# Run every test binary of one build directory and print one summary line
# "N passed, N failed" that CI reads. Each binary is a cmocka suite; its
# exit code is its number of failed tests.
BUILD=${1:-build}
export TETHER_BIN="$PWD/$BUILD/tether"
export TETHER_SRC="$PWD"
export CMOCKA_MESSAGE_OUTPUT=stdout
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0; failed=0; broken=""
for t in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort); do
    out=$("$t" 2>&1); rc=$?
    echo "$out" | grep -vE '^\[ +(RUN|OK) +\]' 
    run=$(echo "$out" | sed -n 's/^\[=*\] \([0-9]*\) test(s) run\./\1/p' | tail -1)
    nfail=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
    run=${run:-0}; nfail=${nfail:-0}
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then nfail=1; run=$((run > 0 ? run : 1)); fi
    passed=$((passed + run - nfail)); failed=$((failed + nfail))
    if [ "$rc" -ne 0 ]; then broken="$broken $t"; fi
done
echo "== $BUILD:$([ -n "$broken" ] && echo " failing:$broken")"
echo "$BUILD: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
