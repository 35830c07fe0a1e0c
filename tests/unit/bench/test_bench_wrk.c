/* test_bench_wrk.c - runs tests/scripts/bench_wrk.sh: the `make bench`
 * guard (scripts/bench_wrk.sh) that tells a wrk run stretched by a paused
 * machine (a VM snapshot: wrk reports 17.39 s for a 2 s run and one timeout
 * per connection) from a slow or stalled server, and measures such a run
 * again instead of reporting the pause as the router's errors. Recorded wrk
 * outputs and a fake wrk; no network, no timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "script_test.h"

static void test_overrun_guard(void **st)
{
    (void)st;
    tscript_run("tests/scripts/bench_wrk.sh", "a bench_wrk check failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_overrun_guard)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
