/* test_routing.c - routing, recipes, entrypoints and global extensions:
 * typed values and the exact diagnostics of reference and rule-tree errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/global.h"

/* Two models with cards; a routing body follows (starts at line 8). */
#define HEAD                                                                                       \
    "version: v0.3\n"                                                                              \
    "providers:\n"                                                                                 \
    "  defaults: {default_model: small}\n"                                                         \
    "  models:\n"                                                                                  \
    "    - {name: small, backend_refs: [{endpoint: 'h:1'}]}\n"                                     \
    "    - {name: large, backend_refs: [{endpoint: 'h:2'}]}\n"                                     \
    "routing:\n"                                                                                   \
    "  modelCards: [{name: small}, {name: large, quality_score: 0.9}]\n"                           \
    "  signals:\n"                                                                                 \
    "    keywords: [{name: code_terms, keywords: [segfault]}]\n"                                   \
    "    context: [{name: long_ctx, min_tokens: 48K}]\n"

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
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, &d);
    if (d.n != 1 || strcmp(diag(&d, 0), want)) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", diag(&d, i));
        fprintf(stderr, "  want: %s\n", want);
    }
    assert_int_equal(d.n, 1);
    assert_string_equal(diag(&d, 0), want);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_typed_routing(void **st)
{
    const char *y =
        HEAD "  decisions:\n"
             "    - name: coding\n"
             "      tier: 2\n"
             "      rules: {operator: OR, conditions: [{type: keyword, name: code_terms},\n"
             "              {operator: NOT, conditions: [{type: context, name: long_ctx}]}]}\n"
             "      modelRefs: [{model: large, use_reasoning: true, weight: 3}, {model: small}]\n"
             "      algorithm: {type: router_dc, router_dc: {min_similarity: 0.1},\n"
             "                  session: {stay_bias: 0.3}}\n"
             "      plugins: [{type: system_prompt, configuration: {system_prompt: hi}}]\n"
             "      emits: [{kind: retention, retention: {ttl_turns: 2}}]\n"
             "    - {name: fallback, modelRefs: [{model: small}]}\n"
             "global:\n"
             "  router:\n"
             "    session: {idle_timeout_seconds: 600, identity: {max_id_bytes: 64}}\n";
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", y, strlen(y), NULL, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", diag(&d, i));
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    const cfg_recipe_t *rc = cfg_find_recipe(c, "default");
    assert_non_null(rc);
    assert_string_equal(rc->strategy, "tiers");
    assert_int_equal(rc->n_signals, 2);
    assert_int_equal(rc->n_per_family[CFG_SIG_KEYWORD], 1);
    assert_int_equal(rc->signals[1].min_tokens, 48000);
    assert_int_equal(rc->n_decisions, 2);
    const cfg_decision_t *dc = &rc->decisions[0];
    assert_int_equal(dc->tier, 2);
    assert_int_equal(dc->rules.kind, CFG_RULE_OR);
    assert_int_equal(dc->rules.n_children, 2);
    assert_ptr_equal(dc->rules.children[0].signal, &rc->signals[0]);
    assert_int_equal(dc->rules.children[1].kind, CFG_RULE_NOT);
    assert_int_equal(dc->n_model_refs, 2);
    assert_true(dc->model_refs[0].has_use_reasoning && dc->model_refs[0].use_reasoning);
    assert_true(dc->model_refs[0].weight == 3.0);
    assert_true(dc->model_refs[1].weight == 1.0);
    assert_string_equal(dc->algorithm, "router_dc");
    assert_non_null(dc->algorithm_block);
    assert_true(dc->session->stay_bias == 0.3);
    assert_int_equal(dc->session->idle_timeout_seconds, 600); /* inherited from global */
    assert_int_equal(dc->n_plugins, 1);
    assert_true(dc->has_retention && dc->retention.ttl_turns == 2);
    assert_true(rc->decisions[1].is_catch_all);
    assert_string_equal(rc->decisions[1].algorithm, "static");
    const cfg_global_ext_t *g = c->global_ext;
    assert_true(g->session.stay_bias == 0.10);
    assert_int_equal(g->session.idle_timeout_seconds, 600);
    assert_int_equal(g->session.identity.max_id_bytes, 64);
    assert_int_equal(g->session.identity.headers.n, 3);
    assert_string_equal(g->stores.session.backend, "memory");
    assert_string_equal(g->services.router_replay.store, "sqlite");
    assert_int_equal(g->services.router_replay.max_body_bytes, 65536);
    assert_string_equal(g->services.management_api.listen, "127.0.0.1:8080");
    assert_true(cfg_find_card(c, "large")->quality_score == 0.9);
    assert_true(cfg_find_card(c, "small")->quality_score == 0.5);
    buf_t b = BUF_INIT;
    cfg_summary(c, &b);
    assert_string_equal(b.data,
                        "1 listener, 2 models, 2 model cards, 2 signals (keyword 1, context 1), "
                        "2 decisions, 1 plugin");
    buf_free(&b);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_leaf_to_undeclared_signal_suggests(void **st)
{
    expect_one(
        HEAD
        "  decisions:\n"
        "    - {name: a, rules: {type: keyword, name: code_term}, modelRefs: [{model: small}]}\n"
        "    - {name: b, rules: {type: context, name: long_ctx}, modelRefs: [{model: small}]}\n"
        "    - {name: c, rules: {type: keyword, name: code_terms}, modelRefs: [{model: small}]}\n",
        "t.yaml:13:24: routing.decisions[a]: keyword signal \"code_term\" is not declared in "
        "routing.signals.keywords (did you mean \"code_terms\"?)");
}

static void test_rule_tree_shape_errors(void **st)
{
    const char *use =
        "    - {name: u, rules: {operator: AND, conditions: [{type: keyword, name: code_terms},"
        " {type: context, name: long_ctx}]}, modelRefs: [{model: small}]}\n";
    char y[4096];
    snprintf(y, sizeof y,
             HEAD "  decisions:\n%s"
                  "    - name: n\n"
                  "      rules: {operator: NOT, conditions: [{type: keyword, name: code_terms},"
                  " {type: keyword, name: code_terms}]}\n"
                  "      modelRefs: [{model: small}]\n",
             use);
    expect_one(y,
               "t.yaml:15:25: routing.decisions[n].rules: NOT needs exactly one condition, got 2");
    snprintf(y, sizeof y,
             HEAD "  decisions:\n%s"
                  "    - name: n\n"
                  "      rules: {operator: OR, conditions: [{operator: AND}]}\n"
                  "      modelRefs: [{model: small}]\n",
             use);
    expect_one(y, "t.yaml:15:53: routing.decisions[n].rules.conditions[0]: AND without conditions");
}

static void test_decision_reference_errors(void **st)
{
    const char *use =
        "    - {name: u, rules: {operator: AND, conditions: [{type: keyword, name: code_terms},"
        " {type: context, name: long_ctx}]}, modelRefs: [{model: small}]}\n";
    char y[4096];
    snprintf(y, sizeof y, HEAD "  decisions:\n%s    - {name: x, modelRefs: [{model: larg}]}\n",
             use);
    expect_one(
        y,
        "t.yaml:14:37: routing.decisions[x].modelRefs[0].model: model \"larg\" is not a declared "
        "model (did you mean \"large\"?)");
    snprintf(y, sizeof y, HEAD "  decisions:\n%s    - {name: x, modelRefs: []}\n", use);
    expect_one(
        y, "t.yaml:14:28: routing.decisions[x].modelRefs: a decision needs at least one modelRef");
    snprintf(y, sizeof y,
             HEAD "  decisions:\n%s    - {name: x, modelRefs: [{model: small, wieght: 2}]}\n", use);
    expect_one(
        y,
        "t.yaml:14:44: warning: routing.decisions[x].modelRefs[0].wieght: unknown field \"wieght\" "
        "(did you mean \"weight\"?)");
    snprintf(y, sizeof y, HEAD "  decisions:\n%s    - {name: u, modelRefs: [{model: small}]}\n",
             use);
    expect_one(y, "t.yaml:14:14: routing.decisions[u]: duplicate decision name \"u\"");
    snprintf(
        y, sizeof y,
        HEAD
        "  decisions:\n%s    - {name: x, rules: {type: keyword, name: code_terms, label: hard},"
        " modelRefs: [{model: small}]}\n",
        use);
    expect_one(y, "t.yaml:14:24: routing.decisions[x]: keyword signals have no labels (remove "
                  "label \"hard\")");
    snprintf(
        y, sizeof y,
        HEAD
        "  decisions:\n%s    - {name: x, modelRefs: [{model: small}], plugins: [{type: rag}]}\n",
        use);
    expect_one(y, "t.yaml:14:63: routing.decisions[x].plugins[0].type: plugin type \"rag\" is not "
                  "supported by tether");
    snprintf(y, sizeof y,
             HEAD "  decisions:\n%s    - {name: x, modelRefs: [{model: small}], algorithm: {type: "
                  "elo, static: {}}}\n",
             use);
    expect_one(
        y,
        "t.yaml:14:69: routing.decisions[x].algorithm.static: algorithm block \"static\" does not "
        "match type \"elo\"");
}

static void test_entrypoints_and_session_ranges(void **st)
{
    const char *use =
        "  decisions:\n    - {name: u, rules: {operator: AND, conditions: [{type: keyword, "
        "name: code_terms}, {type: context, name: long_ctx}]}, modelRefs: [{model: small}]}\n";
    char y[4096];
    snprintf(y, sizeof y,
             HEAD "%sentrypoints:\n  - {model_names: [fast], recipe: quik}\n"
                  "recipes:\n  - {name: quick, routing: {decisions: [{name: q, modelRefs: [{model: "
                  "small}]}]}}\n",
             use);
    expect_one(y, "t.yaml:15:35: entrypoints[0].recipe: recipe \"quik\" is not declared (did you "
                  "mean \"quick\"?)");
    snprintf(y, sizeof y, HEAD "%sentrypoints:\n  - {model_names: [auto], recipe: default}\n", use);
    expect_one(y, "t.yaml:15:20: entrypoints[0].model_names[0]: entrypoint name \"auto\" collides "
                  "with an auto "
                  "model name");
    snprintf(y, sizeof y,
             HEAD "%sglobal:\n  router:\n    session: {max_cache_cost_multiplier: 0.5}\n", use);
    expect_one(y, "t.yaml:16:42: global.router.session.max_cache_cost_multiplier: 0.5 is out of "
                  "range [1, 1e+09]");
    snprintf(y, sizeof y, HEAD "%sglobal:\n  router:\n    session: {stay_bias: -0.1}\n", use);
    expect_one(y, "t.yaml:16:26: global.router.session.stay_bias: -0.1 must not be negative");
    snprintf(y, sizeof y, HEAD "%sglobal:\n  stores:\n    session: {backend: redis}\n", use);
    expect_one(y, "t.yaml:16:14: global.stores.session: backend redis needs redis.address");
    snprintf(y, sizeof y,
             HEAD "%sglobal:\n  services:\n    management_api: {listen: '0.0.0.0:8080'}\n", use);
    expect_one(y, "t.yaml:16:30: global.services.management_api.listen: management API on "
                  "non-loopback address "
                  "0.0.0.0:8080 needs tokens");
}

static void test_model_without_card_and_unused_signal(void **st)
{
    expect_one("version: v0.3\nproviders:\n  defaults: {default_model: m}\n  models:\n"
               "    - {name: m, backend_refs: [{endpoint: 'h:1'}]}\n",
               "t.yaml:5:14: providers.models[m]: model \"m\" has no model card (add {name: m} to "
               "routing.modelCards)");
    expect_one(
        HEAD "  decisions: [{name: d, rules: {type: keyword, name: code_terms}, modelRefs: "
             "[{model: small}]}]\n",
        "t.yaml:11:15: warning: routing.signals.context[long_ctx]: signal \"long_ctx\" is not "
        "used by any decision");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_routing),
        cmocka_unit_test(test_leaf_to_undeclared_signal_suggests),
        cmocka_unit_test(test_rule_tree_shape_errors),
        cmocka_unit_test(test_decision_reference_errors),
        cmocka_unit_test(test_entrypoints_and_session_ranges),
        cmocka_unit_test(test_model_without_card_and_unused_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
