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

static void test_sdks_through_tether(void **st)
{
    (void)st;
    if (!on_path("node"))
        fail_msg("node is not on PATH: the interop tests need Node.js (>= 18) and npm");
    if (!on_path("npm"))
        fail_msg("npm is not on PATH: the interop tests need Node.js (>= 18) and npm");

    const char *src = getenv("TETHER_SRC");
    char script[PATH_MAX], bin[PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/interop/run.sh", src && *src ? src : ".");
    if (access(script, X_OK) != 0)
        fail_msg("%s is missing or not executable (run from the repository root)", script);
    if (!realpath(tproc_tether_bin(), bin))
        fail_msg("tether binary %s not found", tproc_tether_bin());

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
        fail_msg("tests/interop/run.sh exited %d (2: setup error, 1: an SDK script failed; output "
                 "above)",
                 WEXITSTATUS(status));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sdks_through_tether)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
