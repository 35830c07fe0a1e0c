/* test_dashboard_browser.c - runs tests/browser/run.sh: the dashboard in
 * headless Chromium (Debian's chromium, driven by playwright-core pinned in
 * tests/browser/package-lock.json) against the real tether binary and two
 * `tether mock` backends. Passes only when every browser check passes.
 * Chromium, node and npm are part of the machine (scripts/deps.sh installs
 * them): when one is missing the test fails saying so, it never passes or
 * skips silently. Screenshots land in tests/browser/artifacts/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "script_test.h"
#include <stdlib.h>

static void test_dashboard_in_headless_chromium(void **st)
{
    (void)st;
    const char *need[] = {"chromium", "node", "npm"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!tscript_on_path(need[i]) && !(i == 0 && getenv("CHROMIUM")))
            fail_msg("%s is not on PATH: the browser tests need chromium, node and npm "
                     "(install them with: sudo scripts/deps.sh)",
                     need[i]);
    tscript_run("tests/browser/run.sh", "a browser check failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dashboard_in_headless_chromium)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
