/* script_test.c - test support: run a shell test runner as one cmocka
 * test (see script_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "script_test.h"
#include "proc.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int tscript_on_path(const char *name)
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

void tscript_run(const char *rel, const char *what_failed)
{
    const char *src = getenv("TETHER_SRC");
    char script[PATH_MAX], bin[PATH_MAX];
    snprintf(script, sizeof script, "%s/%s", src && *src ? src : ".", rel);
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
        fail_msg("%s exited %d (2: setup error, 1: %s; output above)", rel, WEXITSTATUS(status),
                 what_failed);
}
