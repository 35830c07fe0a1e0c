/* test_bench_pin.c - runs tests/scripts/bench_pin.sh: where `make bench`
 * (scripts/bench_pin.sh) pins wrk, the mock and the process under test for
 * the one-connection latency runs: one CPU each with three or more, the
 * target alone with two, nothing with one or BENCH_PIN=0; and that pinning
 * moves every thread of a process and undoing it moves them back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "script_test.h"

static void test_pin_layout(void **st)
{
    (void)st;
    tscript_run("tests/scripts/bench_pin.sh", "a bench_pin check failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pin_layout)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
