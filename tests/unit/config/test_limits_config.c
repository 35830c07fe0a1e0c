/* test_limits_config.c - global.services.rate_limits[], budgets[] and
 * global.stores.limits load into typed rules, and nonsense is refused with
 * a message at its position: negative, non-integer and overflowing limits
 * (1e30 tokens), unknown scopes, windows that are not whole seconds, rules
 * that limit nothing, budgets on models, a downgrade without a model or to
 * an unknown one, names of models and decisions that do not exist,
 * duplicate names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/global.h"
#include <stdio.h>
#include <string.h>

#define HEAD                                                                                       \
    "version: v0.3\n"                                                                              \
    "providers:\n  models:\n"                                                                      \
    "    - {name: m, backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"                               \
    "    - {name: small, backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"                           \
    "routing:\n  modelCards: [{name: m}, {name: small}]\n"                                         \
    "  decisions: [{name: all, modelRefs: [{model: m}]}]\n"                                        \
    "global:\n  services:\n    "

static char yaml[4096];

static cfg_t *load(const char *tail, cfg_diags_t *d)
{
    snprintf(yaml, sizeof yaml, "%s%s\n", HEAD, tail);
    cfg_diags_init(d);
    return cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, d);
}

/* The config is refused with exactly one error that contains want. */
static void refused(const char *tail, const char *want)
{
    cfg_diags_t d;
    cfg_t *c = load(tail, &d);
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < d.n; i++) {
        cfg_diag_format(&b, &d.items[i]);
        buf_putc(&b, '\n');
    }
    if (d.n_errors != 1 || !strstr(b.data ? b.data : "", want))
        fprintf(stderr, "for: %s\nwant: %s\ngot:\n%s", tail, want, b.data ? b.data : "(none)\n");
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(b.data, want));
    buf_free(&b);
    cfg_diags_free(&d);
}

static void test_rules_and_budgets_load(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load("rate_limits:\n"
                    "      - {scope: key, window: 1s, requests: 5, tokens: 1000}\n"
                    "      - {name: dec, scope: decision, match: all, window: 744h, requests: 1}\n"
                    "    budgets:\n"
                    "      - {scope: team, match: research, period: week, max_spend: 12.5, "
                    "policy: downgrade, downgrade_model: small}\n"
                    "  stores:\n    limits: {backend: redis, redis: {address: \"127.0.0.1:6390\"}}",
                    &d);
    if (!c) cfg_diags_print(stderr, &d);
    assert_non_null(c);
    const cfg_services_t *sv = &c->global_ext->services;
    assert_int_equal(sv->n_rate_limits, 2);
    assert_string_equal(sv->rate_limits[0].name, "key:*:1s"); /* the default name */
    assert_int_equal(sv->rate_limits[0].scope, CFG_LIM_KEY);
    assert_int_equal(sv->rate_limits[0].window_ms, 1000);
    assert_int_equal(sv->rate_limits[0].tokens, 1000);
    assert_int_equal(sv->rate_limits[1].scope, CFG_LIM_DECISION);
    assert_int_equal(sv->n_budgets, 1);
    assert_true(sv->budgets[0].is_downgrade);
    assert_int_equal(sv->budgets[0].period, CFG_PERIOD_WEEK);
    assert_true(sv->budgets[0].max_spend == 12.5);
    assert_string_equal(c->global_ext->stores.limits.backend, "redis");
    assert_string_equal(c->global_ext->stores.limits.redis.address, "127.0.0.1:6390");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_negative_and_overflowing_limits_are_refused(void **st)
{
    refused("rate_limits: [{scope: key, requests: -5}]",
            "rate_limits[0].requests: -5 is out of range [0, 1000000000000]");
    refused("rate_limits: [{scope: key, tokens: 1e30}]",
            "rate_limits[0].tokens: expected an integer, got \"1e30\"");
    refused("rate_limits: [{scope: key, tokens: 99999999999999999999999}]",
            "rate_limits[0].tokens: 99999999999999999999999 is out of range");
    refused("rate_limits: [{scope: key, tokens: 1000000000001}]",
            "rate_limits[0].tokens: 1000000000001 is out of range");
    refused("budgets: [{scope: key, max_spend: 1e30}]",
            "budgets[0].max_spend: 1e30 is out of range");
    refused("budgets: [{scope: key, max_spend: -1}]", "budgets[0].max_spend: -1 is out of range");
    refused("budgets: [{scope: key, max_spend: 0}]", "max_spend must be above 0");
}

static void test_unknown_scopes_and_shapes_are_refused(void **st)
{
    refused("rate_limits: [{scope: user, requests: 5}]",
            "rate_limits[0].scope: \"user\" is not one of key|team|model|decision");
    refused("budgets: [{scope: model, max_spend: 1}]",
            "budgets[0].scope: \"model\" is not one of key|team");
    refused("rate_limits: [{requests: 5}]", "missing required field \"scope\"");
    refused("rate_limits: {scope: key}", "rate_limits: expected a list, got a mapping");
    refused("rate_limits: [{scope: key}]", "rate limit limits nothing");
    refused("rate_limits: [{scope: key, requests: 5, window: 1500ms}]",
            "rate_limits[0].window: window must be whole seconds from 1s to 744h");
    refused("rate_limits: [{scope: key, requests: 5, window: 745h}]", "window must be whole");
    refused("budgets: [{scope: key}]", "missing required field \"max_spend\"");
    refused("budgets: [{scope: key, max_spend: 1, period: year}]",
            "\"year\" is not one of day|week|month");
}

static void test_references_are_checked(void **st)
{
    refused("rate_limits: [{scope: model, match: nope, requests: 1}]",
            "rate_limits[0].match: rate limit \"model:nope:60s\": no model named \"nope\"");
    refused("rate_limits: [{scope: decision, match: nope, requests: 1}]",
            "no decision named \"nope\"");
    refused("budgets: [{scope: key, max_spend: 1, policy: downgrade}]",
            "policy downgrade needs downgrade_model");
    refused("budgets: [{scope: key, max_spend: 1, policy: downgrade, downgrade_model: zz}]",
            "budgets[0].downgrade_model: budget \"key:*:month\": downgrade_model \"zz\" is not a "
            "configured model");
    refused("budgets: [{scope: key, max_spend: 1, downgrade_model: small}]",
            "downgrade_model is used only with policy: downgrade");
    refused("rate_limits: [{scope: key, requests: 1}, {scope: key, requests: 2}]",
            "rate_limits[1]: duplicate rate limit name \"key:*:60s\"");
    refused("rate_limits: [{scope: key, requests: 1}]\n  stores:\n    limits: {backend: redis}",
            "backend redis needs redis.address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_and_budgets_load),
        cmocka_unit_test(test_negative_and_overflowing_limits_are_refused),
        cmocka_unit_test(test_unknown_scopes_and_shapes_are_refused),
        cmocka_unit_test(test_references_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
