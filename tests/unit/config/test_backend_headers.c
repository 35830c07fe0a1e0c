/* test_backend_headers.c - what a backend ref may add to the upstream
 * request: forward_client_credentials (default false; a warning when the
 * backend has its own key, which always wins), extra_headers that are
 * tokens with values free of control bytes and not framing or hop-by-hop
 * headers, and an api_key_env value with a control byte disabling the
 * backend instead of splitting the head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define PRE "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs:\n"
#define SUF                                                                                        \
    "routing:\n  modelCards: [{name: m}]\n  decisions: [{name: all, modelRefs: [{model: m}]}]\n"

static cfg_t *load(const char *yaml, cfg_diags_t *d)
{
    cfg_diags_init(d);
    return cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, d);
}

static const char *diag(const cfg_diags_t *d, size_t i)
{
    static char s[2048];
    buf_t b = BUF_INIT;
    if (i < d->n) cfg_diag_format(&b, &d->items[i]);
    snprintf(s, sizeof s, "%s", b.data ? b.data : "(none)");
    buf_free(&b);
    return s;
}

static void expect_one(const char *yaml, const char *want)
{
    cfg_diags_t d;
    cfg_t *c = load(yaml, &d);
    if (d.n != 1 || strcmp(diag(&d, 0), want)) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", diag(&d, i));
        fprintf(stderr, "  want: %s\n", want);
    }
    assert_int_equal(d.n, 1);
    assert_string_equal(diag(&d, 0), want);
    if (d.items[0].severity == CFG_DIAG_ERROR) assert_null(c);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_forward_client_credentials_defaults_to_false(void **st)
{
    cfg_diags_t d;
    cfg_t *c =
        load(PRE "        - {name: a, endpoint: 'h:1'}\n"
                 "        - {name: b, endpoint: 'h:2', forward_client_credentials: true}\n" SUF,
             &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    assert_false(c->providers.models[0].backend_refs[0].forward_client_credentials);
    assert_true(c->providers.models[0].backend_refs[1].forward_client_credentials);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_forward_client_credentials_with_own_key_warns(void **st)
{
    setenv("TBH_KEY", "sk-1", 1);
    expect_one(
        PRE "        - {name: a, endpoint: 'h:1', api_key_env: TBH_KEY, "
            "forward_client_credentials: true}\n" SUF,
        "t.yaml:6:88: warning: providers.models[m].backend_refs[a].forward_client_credentials: "
        "no effect: backend \"a\" sends its own key (api_key_env), never the "
        "client's");
}

static void test_extra_headers_that_could_break_the_head_are_errors(void **st)
{
    expect_one(
        PRE "        - {name: a, endpoint: 'h:1', extra_headers: {x-a: \"v\\r\\nx-b: 1\"}}\n" SUF,
        "t.yaml:6:59: providers.models[m].backend_refs[a].extra_headers.x-a: header x-a: "
        "the value contains a control character");
    expect_one(PRE "        - {name: a, endpoint: 'h:1', extra_headers: {'bad name': v}}\n" SUF,
               "t.yaml:6:66: providers.models[m].backend_refs[a].extra_headers.bad name: header "
               "name \"bad name\" is not a valid HTTP token");
    expect_one(PRE "        - {name: a, endpoint: 'h:1', extra_headers: {Transfer-Encoding: "
                   "chunked}}\n" SUF,
               "t.yaml:6:73: providers.models[m].backend_refs[a].extra_headers.Transfer-Encoding: "
               "header Transfer-Encoding is set by tether and cannot be configured");
}

static void test_api_key_with_control_byte_disables_the_backend(void **st)
{
    setenv("TBH_BAD_KEY", "sk-1\r\nx-injected: 1", 1);
    cfg_diags_t d;
    cfg_t *c = load(PRE "        - {name: a, endpoint: 'h:1', api_key_env: TBH_BAD_KEY}\n" SUF, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(diag(&d, 0), "holds a control character: backend \"a\" is unavailable"));
    assert_null(strstr(diag(&d, 0), "x-injected"));
    assert_null(c->providers.models[0].backend_refs[0].api_key);
    cfg_free(c);
    cfg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_client_credentials_defaults_to_false),
        cmocka_unit_test(test_forward_client_credentials_with_own_key_warns),
        cmocka_unit_test(test_extra_headers_that_could_break_the_head_are_errors),
        cmocka_unit_test(test_api_key_with_control_byte_disables_the_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
