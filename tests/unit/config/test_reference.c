/* test_reference.c - examples/config.reference.yaml loads with zero
 * diagnostics (even under --strict) once the variables it names are set,
 * and it spells out every key of every field table the loader uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/migrate.h"
#include "config/schema.h"

/* (CLASSIFIER_KEY is only named by the commented-out classifiers block) */
static const char *const vars[] = {"LOCAL_GPU_KEY",      "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
                                   "TEAM_KEY_ALICE",     "REDIS_PASSWORD",    "TETHER_ADMIN_TOKEN",
                                   "OTEL_EXPORT_HEADERS"};

static const char *path(void)
{
    static char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/examples/config.reference.yaml", src ? src : ".");
    return p;
}

static void test_loads_clean(void **st)
{
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        setenv(vars[i], "test-value", 1);
    setenv("TETHER_BINDING_KEY", "a binding key of at least 16 bytes", 1);
    cfg_load_opts_t strict = {.strict = true};
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_file(path(), &strict, &d);
    if (d.n) cfg_diags_print(stderr, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    assert_int_equal(c->providers.n_models, 3);
    cfg_free(c);
    cfg_diags_free(&d);
    /* without the variables: still valid, one warning per variable use */
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    cfg_diags_init(&d);
    c = cfg_load_file(path(), NULL, &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_true(d.n_warnings >= sizeof vars / sizeof *vars);
    cfg_free(c);
    cfg_diags_free(&d);
}

/* Every key of every table appears as "key:" in the file. Keys that cannot
 * appear in a clean file are listed with the reason. */
static void test_every_field_present(void **st)
{
    static const char *const excluded[] = {
        "session_aware", /* legacy algorithm block: accepted with a warning */
    };
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(path(), &b));
    size_t checked = 0, missing = 0;
    for (const cfg_schema_t *const *s = cfg_schema_all(); *s; s++)
        for (const cfg_field_t *f = (*s)->fields; f->key; f++) {
            bool skip = false;
            for (size_t i = 0; i < sizeof excluded / sizeof *excluded; i++)
                skip |= !strcmp(excluded[i], f->key);
            if (skip) continue;
            char k[160];
            snprintf(k, sizeof k, "%s:", f->key);
            const char *p = b.data;
            bool found = false;
            while (!found && (p = strstr(p, k)) != NULL) {
                char before = p == b.data ? '\n' : p[-1];
                found = before == ' ' || before == '\n' || before == '{' || before == ',';
                p++;
            }
            if (!found) {
                fprintf(stderr, "examples/config.reference.yaml lacks %s.%s\n", (*s)->path, f->key);
                missing++;
            }
            checked++;
        }
    assert_true(checked > 300);
    assert_int_equal(missing, 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_clean),
        cmocka_unit_test(test_every_field_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
