/* test_strategy.c - choosing among matches (SPEC §6.2): the sort keys of
 * priority, confidence and tiers (a missing tier sorts after every tier),
 * tiers implied when strategy is omitted, catch-all and default_model
 * outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dec_fixture.h"

static const char *DECS =
    "  decisions:\n"
    "    - {name: low, priority: 1, %s rules: {type: keyword, name: kw_a}, modelRefs: [{model: "
    "small}]}\n"
    "    - {name: high, priority: 5, %s rules: {type: keyword, name: kw_b}, modelRefs: [{model: "
    "small}]}\n"
    "    - {name: high2, priority: 5, %s rules: {type: keyword, name: kw_c}, modelRefs: [{model: "
    "large}]}\n"
    "    - {name: same, %s rules: {type: keyword, name: kw_c}, modelRefs: [{model: large}]}\n";

static cfg_t *cfg_with(const char *strategy, const char *t1, const char *t2, const char *t3,
                       const char *t4)
{
    char y[8192], d[4096];
    snprintf(d, sizeof d, DECS, t1, t2, t3, t4);
    snprintf(y, sizeof y, "%s%s%s", HEAD, strategy, d);
    return load(y);
}

static void ranking(const dec_result_t *r, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; i < r->n_ranking; i++) {
        if (i) strcat(got, ",");
        strcat(got, r->traces[r->ranking[i].index].name);
    }
    assert_string_equal(got, want);
}

static void scores(sig_results_t *s, double a, double b, double c)
{
    hit(s, "kw_a", a);
    hit(s, "kw_b", b);
    hit(s, "kw_c", c);
}

static void test_priority_then_confidence_then_order(void **st)
{
    cfg_t *c = cfg_with("", "", "", "", "priority: 5,");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    scores(&s, 1.0, 0.5, 0.9);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.strategy, DEC_STRATEGY_PRIORITY);
    ranking(&r, "high2,same,high,low");
    assert_string_equal(r.name, "high2"); /* same keys as "same": config order */
    assert_string_equal(r.algorithm, "static");
    assert_false(r.may_inherit);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_confidence_then_priority(void **st)
{
    cfg_t *c = cfg_with("  strategy: confidence\n", "", "", "", "priority: 5,");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    scores(&s, 0.9, 0.5, 0.9);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.strategy, DEC_STRATEGY_CONFIDENCE);
    ranking(&r, "high2,same,low,high");
    arena_deinit(&a);
    cfg_free(c);
}

static void test_tiers_missing_tier_sorts_last(void **st)
{
    /* strategy omitted + tiers present => tiers; "same" has no tier and the
     * highest confidence and priority, yet sorts after every tier */
    cfg_t *c = cfg_with("", "tier: 2,", "tier: 1,", "tier: 1,", "priority: 100,");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    scores(&s, 1.0, 0.3, 0.8);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.strategy, DEC_STRATEGY_TIERS);
    ranking(&r, "high2,high,low,same");
    /* equal tier and confidence: priority decides */
    scores(&s, 1.0, 0.8, 0.8);
    dec_eval(c, recipe(c), &s, &a, &r);
    ranking(&r, "high,high2,low,same");
    arena_deinit(&a);
    cfg_free(c);
}

static void test_explicit_priority_ignores_tiers(void **st)
{
    cfg_t *c =
        cfg_with("  strategy: priority\n", "tier: 1,", "tier: 3,", "tier: 2,", "priority: 5,");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    scores(&s, 1.0, 0.5, 0.9);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    ranking(&r, "high2,same,high,low");
    arena_deinit(&a);
    cfg_free(c);
}

static void test_hand_built_recipe_implies_tiers(void **st)
{
    cfg_decision_t d[2] = {{.name = "x"}, {.name = "y", .tier = 2}};
    cfg_recipe_t rc = {.decisions = d, .n_decisions = 2};
    assert_int_equal(dec_strategy_of(&rc), DEC_STRATEGY_TIERS);
    d[1].tier = 0;
    assert_int_equal(dec_strategy_of(&rc), DEC_STRATEGY_PRIORITY);
    dec_match_t m[2] = {{0, 0.1}, {1, 0.9}};
    d[0].tier = 0;
    d[1].tier = 4;
    dec_strategy_sort(&rc, DEC_STRATEGY_TIERS, m, 2);
    assert_int_equal(m[0].index, 1);
}

static void test_catch_all_and_default(void **st)
{
    const char *y = HEAD "  decisions:\n"
                         "    - {name: fallback, priority: 100, modelRefs: [{model: large}]}\n"
                         "    - {name: specific, priority: 1, rules: {type: keyword, name: kw_a},"
                         " modelRefs: [{model: small}], algorithm: {type: elo}}\n";
    cfg_t *c = load(y);
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.6);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_MATCHED);
    assert_string_equal(r.name, "specific");
    assert_string_equal(r.algorithm, "elo");
    res(&s, "kw_a")->matched = false;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_CATCH_ALL);
    assert_string_equal(r.name, "fallback");
    assert_true(r.confidence == 0);
    assert_true(r.may_inherit);
    assert_true(r.traces[0].is_catch_all);
    cfg_free(c);

    c = one("{type: keyword, name: kw_a}");
    s = results(&a, recipe(c));
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_int_equal(r.outcome, DEC_DEFAULT);
    assert_string_equal(r.name, "");
    assert_string_equal(r.algorithm, "static");
    assert_string_equal(r.default_model, "small");
    assert_true(r.may_inherit);
    assert_null(r.decision);
    arena_deinit(&a);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_then_confidence_then_order),
        cmocka_unit_test(test_confidence_then_priority),
        cmocka_unit_test(test_tiers_missing_tier_sorts_last),
        cmocka_unit_test(test_explicit_priority_ignores_tiers),
        cmocka_unit_test(test_hand_built_recipe_implies_tiers),
        cmocka_unit_test(test_catch_all_and_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
