/* test_secrets.c - no diagnostic shows a value from the environment: ${VAR}
 * values and *_env values are redacted from every diagnostic (text, JSON,
 * the CLI), even where a check reports the value (an integer, a port out of
 * range, an enum, a list item, a reference, an item name in the path); a
 * sealed load (validation through the management API) never reads the
 * environment and reports env-dependent values as unchecked warnings; and
 * `config show` prints such values as written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "config/migrate.h"
#include "proc.h"

#define MARK "zq-marker-7f3a"
#define NUM  "7654321"

/* Every way a value reaches a diagnostic: an integer, a port out of range,
 * an enum, a duration, a list item, a reference (with did-you-mean), a
 * listener name in the path, and a secret header written in the file. */
static const char *const BAD =
    "version: v0.3\n"
    "listeners:\n"
    "  - {name: \"${TETHER_T_SECRET}\", address: 127.0.0.1, port: \"${TETHER_T_SECRET}\"}\n"
    "  - {name: b, port: \"${TETHER_T_NUM}\"}\n"
    "providers:\n"
    "  defaults: {default_model: \"${TETHER_T_SECRET}\"}\n"
    "  models:\n"
    "    - name: m\n"
    "      reliability:\n"
    "        retry_on: [reset, \"x${TETHER_T_SECRET}\"]\n"
    "        timeouts: {connect: \"${TETHER_T_SECRET}\"}\n"
    "      backend_refs:\n"
    "        - name: b1\n"
    "          endpoint: \"127.0.0.1:1\"\n"
    "          api_key_env: TETHER_T_KEY\n"
    "          extra_headers: {Authorization: \"Bearer literal-file-secret\", x-n: [1]}\n"
    "routing:\n  modelCards: [{name: m}]\n"
    "global:\n"
    "  services:\n    logging: {level: \"${TETHER_T_SECRET}\"}\n";

static int setup(void **st)
{
    setenv("TETHER_T_SECRET", MARK, 1);
    setenv("TETHER_T_NUM", NUM, 1);
    setenv("TETHER_T_KEY", "sk-" MARK "-key", 1);
    return 0;
}

/* All diagnostics, text and JSON, in one string (malloc'd). */
static char *all_output(const cfg_diags_t *d)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        cfg_diag_format(&b, &d->items[i]);
        buf_putc(&b, '\n');
    }
    cfg_diags_json(&b, d);
    return buf_steal(&b);
}

static void test_diagnostics_never_show_environment_values(void **st)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", BAD, strlen(BAD), NULL, &d);
    assert_null(c);
    char *out = all_output(&d);
    /* the checks did run on the real values */
    assert_non_null(strstr(out, "listeners[<redacted>].port: expected an integer"));
    assert_non_null(strstr(out, "listeners[b].port: <redacted> is out of range [1, 65535]"));
    assert_non_null(strstr(out, "\"<redacted>\" is not one of debug|info|warn|error|off"));
    assert_non_null(strstr(out, "unknown retry condition \"x<redacted>\""));
    assert_non_null(strstr(out, "invalid duration \"<redacted>\""));
    assert_non_null(strstr(out, "default_model \"<redacted>\" is not a declared model"));
    assert_null(strstr(out, MARK));
    assert_null(strstr(out, NUM));
    assert_null(strstr(out, "literal-file-secret"));
    free(out);
    cfg_diags_free(&d);
}

static void test_late_diagnostics_are_redacted_too(void **st)
{
    /* what a reload hook adds after the load (e.g. a bank that fails to
     * build) goes through the same list */
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_diags_add(&d, CFG_DIAG_ERROR, "f", 1, 1, "a." MARK, "before: %s", MARK);
    cfg_diags_add_secret(&d, MARK, strlen(MARK));
    cfg_diags_add(&d, CFG_DIAG_ERROR, "f", 2, 1, "", "after: %s/%s", MARK, "x" MARK "x");
    cfg_diags_add_secret(&d, "abc", 3); /* too short to be a secret: ignored */
    cfg_diags_add(&d, CFG_DIAG_WARNING, "f", 3, 1, "", "abc");
    char *out = all_output(&d);
    assert_null(strstr(out, MARK));
    assert_non_null(strstr(out, "f:1:1: a.<redacted>: before: <redacted>"));
    assert_non_null(strstr(out, "after: <redacted>/x<redacted>x"));
    assert_non_null(strstr(out, "f:3:1: warning: abc"));
    free(out);
    cfg_diags_free(&d);
}

static void test_sealed_load_reads_no_environment(void **st)
{
    cfg_load_opts_t o = {.seal_env = true};
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", BAD, strlen(BAD), &o, &d);
    assert_null(c); /* the literal list item [1] in extra_headers is still an error */
    char *out = all_output(&d);
    assert_null(strstr(out, MARK));
    assert_null(strstr(out, NUM));
    /* env-dependent values are reported as written, as unchecked warnings */
    assert_non_null(strstr(out, "warning: listeners[0].port: expected an integer, got "
                                "\"${TETHER_T_SECRET}\" (not checked: the value comes from the "
                                "environment"));
    free(out);
    cfg_diags_free(&d);

    /* a valid config with env references validates, without reading keys */
    const char *ok = "version: v0.3\n"
                     "listeners: [{name: a, address: \"${TETHER_T_SECRET}\", port: "
                     "\"${TETHER_T_NUM}\"}]\n"
                     "providers:\n  defaults: {default_model: m}\n  models:\n"
                     "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:1\", "
                     "api_key_env: TETHER_T_KEY}]\n"
                     "routing:\n  modelCards: [{name: m}]\n"
                     "global:\n  services:\n    logging: {level: \"${TETHER_T_UNSET:-warn}\"}\n";
    unsetenv("TETHER_T_UNSET");
    cfg_diags_init(&d);
    c = cfg_load_string("t.yaml", ok, strlen(ok), &o, &d);
    assert_non_null(c);
    assert_null(c->providers.models[0].backend_refs[0].api_key);
    assert_string_equal(c->listeners[0].address, "${TETHER_T_SECRET}");
    assert_string_equal(c->logging.level, "warn"); /* the default was checked */
    out = all_output(&d);
    assert_null(strstr(out, MARK));
    assert_null(strstr(out, "is not set")); /* not even whether a variable exists */
    free(out);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_config_show_prints_env_values_as_written(void **st)
{
    const char *ok = "version: v0.3\n"
                     "listeners: [{name: a, address: \"${TETHER_T_SECRET}\", port: 8899}]\n"
                     "providers:\n  defaults: {default_model: m}\n  models:\n"
                     "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:1\", "
                     "extra_headers: {x-tag: \"t-${TETHER_T_SECRET}\"}}]\n"
                     "routing:\n  modelCards: [{name: m}]\n";
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", ok, strlen(ok), NULL, &d);
    assert_non_null(c);
    assert_string_equal(c->listeners[0].address, MARK); /* the loaded value is expanded */
    for (int json = 0; json < 2; json++) {
        buf_t b = BUF_INIT;
        cfg_show(c, json, &b);
        assert_null(strstr(b.data, MARK));
        assert_non_null(strstr(b.data, json ? "\"address\": \"${TETHER_T_SECRET}\""
                                            : "address: ${TETHER_T_SECRET}"));
        assert_non_null(strstr(b.data, "t-${TETHER_T_SECRET}"));
        buf_free(&b);
    }
    cfg_free(c);
    cfg_diags_free(&d);
}

/* ---- the CLI ---- */

static char tmpdir[64];

static int run(const char *args, char **out)
{
    char cmd[1024], p[128];
    snprintf(cmd, sizeof cmd, "%s %s >%s/out.txt 2>&1", tproc_tether_bin(), args, tmpdir);
    int st = system(cmd);
    snprintf(p, sizeof p, "%s/out.txt", tmpdir);
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(p, &b));
    *out = buf_steal(&b);
    unlink(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_validate_and_show_never_print_environment_values(void **st)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-secrets-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char cfgp[128], args[300];
    snprintf(cfgp, sizeof cfgp, "%s/bad.yaml", tmpdir);
    FILE *f = fopen(cfgp, "w");
    fputs(BAD, f);
    fclose(f);
    const char *forms[] = {"validate --config %s", "validate --config %s --format json",
                           "config validate --config %s --strict", "config show --config %s",
                           "config show --config %s --format json"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        snprintf(args, sizeof args, forms[i], cfgp);
        char *out;
        assert_int_equal(run(args, &out), 1);
        if (strstr(out, MARK) || strstr(out, NUM)) fprintf(stderr, "%s:\n%s\n", args, out);
        assert_null(strstr(out, MARK));
        assert_null(strstr(out, NUM));
        assert_non_null(strstr(out, "<redacted>"));
        free(out);
    }
    unlink(cfgp);
    rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagnostics_never_show_environment_values),
        cmocka_unit_test(test_late_diagnostics_are_redacted_too),
        cmocka_unit_test(test_sealed_load_reads_no_environment),
        cmocka_unit_test(test_config_show_prints_env_values_as_written),
        cmocka_unit_test(test_cli_validate_and_show_never_print_environment_values),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
