/* test_rules.c - rule trees (SPEC §6.1) over hand-built signal results:
 * AND mean with short-circuit (rest traced as skipped), OR max over every
 * child, NOT, labels, predicates, on_error no_match|match|fail, the trace
 * as text and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/routing.h"
#include "decision/decision.h"
#include "json/scan.h"

#include "dec_fixture.h"

static void test_and_mean_and_short_circuit(void **st)
{
    cfg_t *c = one("{operator: AND, conditions: [{type: keyword, name: kw_a}, "
                   "{type: keyword, name: kw_b}, {type: keyword, name: kw_c}]}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.8);
    hit(&s, "kw_b", 0.6);
    hit(&s, "kw_c", 1.0);
    dec_result_t r;
    assert_int_equal(dec_eval(c, recipe(c), &s, &a, &r), 0);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_string_equal(r.name, "d");
    assert_true(fabs(r.confidence - 0.8) < 1e-12);

    res(&s, "kw_b")->matched = false;
    assert_int_equal(dec_eval(c, recipe(c), &s, &a, &r), 0);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    const dec_node_t *root = &r.traces[0].root;
    assert_false(root->matched);
    assert_int_equal(root->n_children, 3);
    assert_true(root->children[0].matched);
    assert_false(root->children[0].skipped);
    assert_false(root->children[1].matched);
    assert_false(root->children[1].skipped);
    assert_true(root->children[2].skipped);
    assert_false(root->children[2].matched);
    assert_string_equal(root->children[2].signal, "keyword:kw_c");
    arena_deinit(&a);
    cfg_free(c);
}

static void test_or_max_over_matching_evaluates_all(void **st)
{
    cfg_t *c = one("{operator: OR, conditions: [{type: keyword, name: kw_a}, "
                   "{type: keyword, name: kw_b}, {type: keyword, name: kw_c}]}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.4);
    hit(&s, "kw_c", 0.7);
    res(&s, "kw_b")->score = 0.9; /* scored but not matched: ignored */
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_true(fabs(r.confidence - 0.7) < 1e-12);
    for (size_t i = 0; i < 3; i++)
        assert_false(r.traces[0].root.children[i].skipped);
    assert_false(r.traces[0].root.children[1].matched);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_not_inverts_with_confidence_one(void **st)
{
    cfg_t *c = one("{operator: NOT, conditions: [{type: keyword, name: kw_a}]}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_true(r.confidence == 1.0);
    hit(&s, "kw_a", 0.3);
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    assert_false(r.traces[0].matched);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_label_and_predicate(void **st)
{
    cfg_t *c = one("{operator: AND, conditions: [{type: complexity, name: cx, label: hard}, "
                   "{type: context, name: ctx, predicate: {gte: 1000, lt: 5000}}]}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "cx", 0.9);
    res(&s, "cx")->label = "easy";
    sig_result_t *ctx = res(&s, "ctx");
    ctx->has_value = true;
    ctx->value = 1200; /* rule unmatched, but the predicate reads the value */
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT); /* label easy != hard */
    assert_false(r.traces[0].root.children[0].matched);
    res(&s, "cx")->label = "hard";
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_true(fabs(r.confidence - (0.9 + 1.0) / 2) < 1e-12);
    ctx->value = 5000; /* lt 5000 fails */
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    ctx->has_value = false; /* no value: a predicate never matches */
    ctx->matched = true;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_on_error(void **st)
{
    const char *y =
        HEAD "  decisions:\n"
             "    - {name: nm, priority: 3, rules: {type: keyword, name: kw_a}, modelRefs: "
             "[{model: small}]}\n"
             "    - {name: m, priority: 2, rules: {type: keyword, name: kw_a, on_error: match},"
             " modelRefs: [{model: small}]}\n";
    cfg_t *c = load(y);
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.5);
    res(&s, "kw_a")->error = "timeout"; /* an error wins over matched */
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_string_equal(r.name, "m");
    assert_true(r.confidence == 1.0);
    assert_false(r.traces[0].matched);
    assert_string_equal(r.traces[0].root.children[0].error, "timeout");
    cfg_free(c);

    c = one("{operator: OR, conditions: [{type: keyword, name: kw_b}, "
            "{type: keyword, name: kw_a, on_error: fail}]}");
    s = results(&a, recipe(c));
    hit(&s, "kw_b", 1.0);
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    res(&s, "kw_a")->error = "timeout";
    assert_int_equal(dec_eval(c, recipe(c), &s, &a, &r), -1);
    assert_int_equal(r.outcome, DEC_FAIL);
    assert_string_equal(r.failed_leaf, "keyword:kw_a");
    assert_string_equal(r.name, "");
    cfg_free(c);

    /* a failing leaf that AND skipped is never read */
    c = one("{operator: AND, conditions: [{type: keyword, name: kw_b}, "
            "{type: keyword, name: kw_a, on_error: fail}]}");
    s = results(&a, recipe(c));
    res(&s, "kw_a")->error = "timeout";
    assert_int_equal(dec_eval(c, recipe(c), &s, &a, &r), 0);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    assert_true(r.traces[0].root.children[1].skipped);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_trace_text_and_json(void **st)
{
    cfg_t *c =
        one("{operator: AND, conditions: [{operator: OR, conditions: [{type: keyword, name: kw_a},"
            " {type: keyword, name: kw_b}]}, {type: keyword, name: kw_c}, "
            "{operator: NOT, conditions: [{type: complexity, name: cx, label: hard}]}]}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.5);
    res(&s, "kw_b")->error = "timeout";
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    buf_t b = BUF_INIT;
    dec_trace_text(&b, &r.traces[0]);
    assert_string_equal(b.data, "\xE2\x9C\x97 decision d 0.000\n"
                                "  \xE2\x9C\x97 AND 0.000\n"
                                "    \xE2\x9C\x93 OR 0.500\n"
                                "      \xE2\x9C\x93 keyword:kw_a 0.500\n"
                                "      \xE2\x9C\x97 keyword:kw_b 0.000 (error: timeout)\n"
                                "    \xE2\x9C\x97 keyword:kw_c 0.000\n"
                                "    \xC2\xB7 NOT (skipped)\n"
                                "      \xC2\xB7 complexity:cx [label=hard] (skipped)\n");
    buf_reset(&b);
    dec_node_json(&b, &r.traces[0].root.children[0]);
    assert_string_equal(
        b.data,
        "{\"kind\":\"OR\",\"signal\":null,\"label\":null,\"matched\":true,\"confidence\":0.5,"
        "\"skipped\":false,\"error\":null,\"children\":["
        "{\"kind\":\"leaf\",\"signal\":\"keyword:kw_a\",\"label\":null,\"matched\":true,"
        "\"confidence\":0.5,\"skipped\":false,\"error\":null,\"children\":[]},"
        "{\"kind\":\"leaf\",\"signal\":\"keyword:kw_b\",\"label\":null,\"matched\":false,"
        "\"confidence\":0,\"skipped\":false,\"error\":\"timeout\",\"children\":[]}]}");
    buf_reset(&b);
    dec_result_json(&b, &r);
    assert_int_equal(jscan_validate(b.data, b.len, NULL), 0);
    assert_non_null(strstr(b.data, "\"outcome\":\"default\",\"decision\":\"\""));
    assert_non_null(strstr(b.data, "\"model\":\"small\""));
    buf_free(&b);
    arena_deinit(&a);
    cfg_free(c);
}

/* Clear what the loader compiled into a rule tree (the hand-built shape). */
static void strip_compiled(cfg_rule_t *r)
{
    r->leaf_name = NULL;
    r->is_projection = false;
    for (size_t i = 0; i < r->n_children; i++)
        strip_compiled(&r->children[i]);
}

/* The leaf names and kinds compiled at load give the trace the bytes the
 * rules built per leaf before (still the path of hand-built rules): the
 * same tree evaluated both ways over random results, JSON and text alike. */
static void test_compiled_leaves_trace_as_built_ones(void **st)
{
    cfg_t *c =
        one("{operator: OR, conditions: [{operator: AND, conditions: [{type: keyword, name: kw_a},"
            " {type: keyword, name: kw_b}]}, {operator: NOT, conditions: "
            "[{type: keyword, name: kw_c}]}, {type: complexity, name: cx, label: hard},"
            " {operator: AND, conditions: [{type: keyword, name: kw_c}, {operator: OR, conditions:"
            " [{type: keyword, name: kw_a}, {type: complexity, name: cx, label: easy}]}]}]}");
    enum { ROUNDS = 64 };
    buf_t want[ROUNDS], got = BUF_INIT;
    for (int pass = 0; pass < 2; pass++) {
        srand(7);
        for (int i = 0; i < ROUNDS; i++) {
            arena_t a;
            arena_init(&a, 4096);
            sig_results_t s = results(&a, recipe(c));
            const char *names[] = {"kw_a", "kw_b", "kw_c"};
            for (int k = 0; k < 3; k++) {
                int v = rand() % 4;
                if (v == 1) hit(&s, names[k], (double)(rand() % 100) / 100);
                if (v == 2) res(&s, names[k])->error = "timeout";
                if (v == 3) res(&s, names[k])->label = rand() % 2 ? "x" : "y";
            }
            if (rand() % 2) res(&s, "cx")->label = rand() % 2 ? "hard" : "easy";
            dec_result_t r;
            dec_eval(c, recipe(c), &s, &a, &r);
            buf_t *b = pass ? &got : &want[i];
            if (pass)
                buf_reset(b);
            else
                *b = (buf_t)BUF_INIT;
            dec_result_json(b, &r);
            dec_trace_text(b, &r.traces[0]);
            if (pass) {
                assert_int_equal(got.len, want[i].len);
                assert_memory_equal(got.data, want[i].data, got.len);
                buf_free(&want[i]);
            }
            arena_deinit(&a);
        }
        /* the second pass: the same tree as if built by hand */
        cfg_decision_t *d = (cfg_decision_t *)&recipe(c)->decisions[0];
        if (!pass) {
            assert_string_equal(d->rules.children[0].children[0].leaf_name, "keyword:kw_a");
            strip_compiled(&d->rules);
        }
    }
    buf_free(&got);
    cfg_free(c);
}

/* A complexity rule's composer must also match: the leaf naming the rule
 * matches only when the label and the composer's tree both do. */
static void test_complexity_composer_must_also_match(void **st)
{
    static const char y[] =
        "version: v0.3\n"
        "providers:\n  defaults: {default_model: small}\n"
        "  models: [{name: small, backend_refs: [{endpoint: 'h:1'}]}]\n"
        "routing:\n  modelCards: [{name: small}]\n"
        "  signals:\n"
        "    keywords: [{name: kw_a, keywords: [a]}, {name: kw_b, keywords: [b]}]\n"
        "    complexity:\n"
        "      - name: cx\n"
        "        composer: {operator: OR, conditions: [{type: keyword, name: kw_a}, "
        "{type: keyword, name: kw_b}]}\n"
        "  decisions:\n"
        "    - {name: d, rules: {type: complexity, name: cx, label: hard}, "
        "modelRefs: [{model: small}]}\n";
    cfg_t *c = load(y);
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "cx", 0.9);
    res(&s, "cx")->label = "hard";
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT); /* hard, but neither keyword */
    hit(&s, "kw_b", 0.7);
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    res(&s, "cx")->label = "easy"; /* the composer alone is not enough */
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    arena_deinit(&a);
    cfg_free(c);
    /* the composer's leaves are checked like a decision's, and it cannot
     * name a complexity rule */
    static const char bad[] =
        "version: v0.3\n"
        "providers:\n  defaults: {default_model: small}\n"
        "  models: [{name: small, backend_refs: [{endpoint: 'h:1'}]}]\n"
        "routing:\n  modelCards: [{name: small}]\n"
        "  signals:\n"
        "    complexity:\n"
        "      - {name: cx, composer: {type: keyword, name: nope}}\n"
        "      - {name: cy, composer: {type: complexity, name: cx, label: hard}}\n"
        "  decisions:\n"
        "    - {name: d, rules: {type: complexity, name: cy, label: hard}, "
        "modelRefs: [{model: small}]}\n";
    cfg_diags_t d;
    cfg_diags_init(&d);
    assert_null(cfg_load_string("t.yaml", bad, strlen(bad), NULL, &d));
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < d.n; i++) {
        cfg_diag_format(&b, &d.items[i]);
        buf_putc(&b, '\n');
    }
    assert_non_null(strstr(b.data, "t.yaml:9:30: routing.signals.complexity[cx].composer: "
                                   "keyword signal \"nope\" is not declared"));
    assert_non_null(strstr(b.data, "t.yaml:10:30: routing.signals.complexity[cy].composer: a "
                                   "composer cannot reference complexity rules"));
    buf_free(&b);
    cfg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_and_mean_and_short_circuit),
        cmocka_unit_test(test_complexity_composer_must_also_match),
        cmocka_unit_test(test_or_max_over_matching_evaluates_all),
        cmocka_unit_test(test_not_inverts_with_confidence_one),
        cmocka_unit_test(test_label_and_predicate),
        cmocka_unit_test(test_on_error),
        cmocka_unit_test(test_trace_text_and_json),
        cmocka_unit_test(test_compiled_leaves_trace_as_built_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
