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

#include "proc.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 1 when an executable named name is on $PATH. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char dir[PATH_MAX], full[2 * PATH_MAX];
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0 && n < sizeof dir) {
            memcpy(dir, p, n);
            dir[n] = '\0';
            snprintf(full, sizeof full, "%s/%s", dir, name);
            if (access(full, X_OK) == 0) return 1;
        }
        p += n;
        if (*p == ':') p++;
    }
    return 0;
}

static void test_dashboard_in_headless_chromium(void **st)
{
    (void)st;
    const char *need[] = {"chromium", "node", "npm"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!on_path(need[i]) && !(i == 0 && getenv("CHROMIUM")))
            fail_msg("%s is not on PATH: the browser tests need chromium, node and npm "
                     "(install them with: sudo scripts/deps.sh)",
                     need[i]);
    const char *src = getenv("TETHER_SRC");
    char script[PATH_MAX], bin[PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/browser/run.sh", src && *src ? src : ".");
    if (access(script, X_OK) != 0)
        fail_msg("%s is missing or not executable (run from the repository root)", script);
    if (!realpath(tproc_tether_bin(), bin))
        fail_msg("tether binary %s not found", tproc_tether_bin());
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TETHER_BIN", bin, 1);
        execl("/bin/bash", "bash", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        continue;
    if (!WIFEXITED(status)) fail_msg("run.sh killed by signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("tests/browser/run.sh exited %d (2: setup error, 1: a browser check failed; "
                 "output above)",
                 WEXITSTATUS(status));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dashboard_in_headless_chromium)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
