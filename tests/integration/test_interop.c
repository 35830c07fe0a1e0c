/* test_interop.c - runs tests/interop/run.sh: the official OpenAI and
 * Anthropic JavaScript SDKs (installed by the script from npm into
 * tests/interop/node_modules) talking to the real tether binary routed to
 * a strict `tether mock`. Passes only when every script exits 0. Node and
 * npm are part of the machine: when either is missing the test fails with
 * a message saying so, it never passes silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "script_test.h"
#include <stdlib.h>

static void test_sdks_through_tether(void **st)
{
    (void)st;
    if (!tscript_on_path("node"))
        fail_msg("node is not on PATH: the interop tests need Node.js (>= 18) and npm");
    if (!tscript_on_path("npm"))
        fail_msg("npm is not on PATH: the interop tests need Node.js (>= 18) and npm");

    tscript_run("tests/interop/run.sh", "an SDK script failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sdks_through_tether)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
