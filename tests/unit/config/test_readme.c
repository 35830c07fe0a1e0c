/* test_readme.c - the README's configuration examples work as written: the
 * minimal config with its routing section replaced by the routed one, and
 * the `tether eval` shell lines run verbatim (issue 16). Without the key
 * variable, eval names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "proc.h"

static char tmpdir[64];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* the body of the first ``` block of kind `lang` after `anchor` (malloc'd) */
static char *block_after(const char *doc, const char *anchor, const char *lang)
{
    const char *a = strstr(doc, anchor);
    if (!a) return NULL;
    char fence[32];
    snprintf(fence, sizeof fence, "```%s\n", lang);
    const char *b = strstr(a, fence);
    if (!b) return NULL;
    b += strlen(fence);
    const char *e = strstr(b, "```\n");
    if (!e) return NULL;
    return strndup(b, (size_t)(e - b));
}

static int sh(const char *script)
{
    char path[128], cmd[512];
    snprintf(path, sizeof path, "%s/run.sh", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && sh run.sh >out.txt 2>err.txt", tmpdir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *file_in_tmp(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return slurp(p);
}

static void test_readme_eval_example(void **st)
{
    (void)st;
    const char *src = getenv("TETHER_SRC");
    char p[512];
    snprintf(p, sizeof p, "%s/README.md", src ? src : ".");
    char *doc = slurp(p);
    assert_non_null(doc);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-readme-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    /* config.yaml: the minimal config, its routing section replaced */
    char *minimal = block_after(doc, "A minimal config:", "yaml");
    char *routed = block_after(doc, "A routed config adds", "yaml");
    assert_non_null(minimal);
    assert_non_null(routed);
    char *r = strstr(minimal, "\nrouting:");
    assert_non_null(r);
    r[1] = 0;
    snprintf(p, sizeof p, "%s/config.yaml", tmpdir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "%s%s", minimal, routed);
    fclose(f);
    /* the shell lines, verbatim, with `tether` being the binary under test */
    char *cmds = block_after(doc, "`tether eval` routes offline", "sh");
    assert_non_null(cmds);
    char script[4096] = "", eval_line[1024] = "";
    snprintf(script, sizeof script, "set -e\nunset OPENAI_API_KEY\ntether() { '%s' \"$@\"; }\n",
             tproc_tether_bin());
    for (char *line = strtok(cmds, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "$ ", 2)) continue;
        strncat(script, line + 2, sizeof script - strlen(script) - 2);
        strcat(script, "\n");
        if (strstr(line, "tether eval")) snprintf(eval_line, sizeof eval_line, "%s", line + 2);
    }
    assert_true(eval_line[0]);
    assert_int_equal(sh(script), 0);
    char *out = file_in_tmp("out.txt");
    assert_non_null(out);
    assert_non_null(strstr(out, "decision: reasoning"));
    assert_non_null(strstr(out, "model: cloud"));
    free(out);
    /* without the variable: the eval line alone names it */
    snprintf(script, sizeof script, "unset OPENAI_API_KEY\ntether() { '%s' \"$@\"; }\n%s\n",
             tproc_tether_bin(), eval_line);
    assert_int_equal(sh(script), 1);
    char *err = file_in_tmp("err.txt");
    assert_non_null(err);
    assert_non_null(strstr(err, "OPENAI_API_KEY is not set"));
    free(err);
    free(cmds);
    free(minimal);
    free(routed);
    free(doc);
    snprintf(p, sizeof p, "rm -rf %s", tmpdir);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_eval_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
