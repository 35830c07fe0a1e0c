/* test_saar_reference.c - the reference session policy rows of `bench saar`
 * (src/bench/saar_reference.c): on the default workload they reproduce the
 * published figures of BENCH_SAAR.md (reference session policy, its two
 * published ablations, locks only); the row is deterministic (two runs give
 * the same per-turn choices); and the rule's order and switch cost. */
#include "bench/saar_reference.h"
#include "bench/saar_run.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const saar_policy_result_t *find(const saar_results_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->policy[i].name, name)) return &r->policy[i];
    fail_msg("no row for %s", name);
    return NULL;
}

static double round_to(double v, int digits)
{
    double f = pow(10, digits);
    return round(v * f) / f;
}

typedef struct published {
    const char *name;
    long switches;
    double ref_cut, quality, fair_cut, under_served; /* NAN: not published */
} published_t;

static void test_reference_rows_reproduce_published_figures(void **st)
{
    (void)st;
    static const published_t rows[] = {
        {"reference-session", 2011, 78.71, -0.0453, 72.76, 39.9},
        {"reference-no-idle-boundary", 1555, 80.14, -0.0427, 74.49, 39.2},
        {"reference-no-drift-reset", 1637, 81.31, -0.0482, 77.18, 41.3},
        {"locks-only", 5985, NAN, NAN, 36.15, 30.1},
    };
    const char *names[4];
    for (size_t i = 0; i < 4; i++)
        names[i] = rows[i].name;
    saar_options_t o = {.policies = names, .n_policies = 4};
    saar_results_t r;
    char err[300];
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(r.turns, 21600);
    for (size_t i = 0; i < 4; i++) {
        const saar_summary_t *s = &find(&r, rows[i].name)->summary;
        assert_int_equal(s->switches, rows[i].switches);
        assert_int_equal(s->unsafe, 0);
        if (!isnan(rows[i].ref_cut))
            assert_true(round_to(s->reference_cost_cut_pct, 2) == rows[i].ref_cut);
        if (!isnan(rows[i].quality)) assert_true(round_to(s->quality_delta, 4) == rows[i].quality);
        assert_true(round_to(s->fair_cost_cut_pct, 2) == rows[i].fair_cut);
        assert_true(round_to(s->under_served_pct, 1) == rows[i].under_served);
    }
    saar_results_free(&r);
}

static char *run_csv(const char *policy, saar_summary_t *sum)
{
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    assert_non_null(f);
    const char *const names[] = {policy};
    const uint32_t seeds[] = {1, 2};
    saar_options_t o = {
        .seeds = seeds, .n_seeds = 2, .policies = names, .n_policies = 1, .per_turn_csv = f};
    saar_results_t r;
    char err[300];
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    fclose(f);
    *sum = r.policy[0].summary;
    saar_results_free(&r);
    return data;
}

static void test_reference_row_is_deterministic(void **st)
{
    (void)st;
    saar_summary_t a, b;
    char *x = run_csv("reference-session", &a);
    char *y = run_csv("reference-session", &b);
    assert_true(strlen(x) > 1000);
    assert_string_equal(x, y); /* every turn's choice, verdict and cost */
    assert_memory_equal(&a, &b, sizeof a);
    free(x);
    free(y);
}

static void test_rule_order_and_switch_cost(void **st)
{
    (void)st;
    saar_ref_turn_t t = {.turn = 3,
                         .current = SAAR_QWEN3_8B,
                         .base = SAAR_QWEN3_32B,
                         .state_issuer = -1,
                         .history_tokens = 2000,
                         .remaining_turn_prior = 6};
    const char *why;
    /* cost 0.05 + 0.20 * M * W * F: M = max(2000/16000, 3/8) = 0.375,
     * W = 0.5, F = 1 + 1.6 * 0.24/6.8 */
    double cost = 0.05 + 0.20 * 0.375 * 0.5 * (1 + 1.6 * 0.24 / 6.8);
    assert_true(fabs(saar_reference_switch_cost(&t) - cost) < 1e-12);
    /* gain 0.14 clears it */
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_QWEN3_32B);
    assert_string_equal(why, "quality_gain_clears_switch_cost");
    /* a downgrade never clears it */
    t.current = SAAR_FRONTIER;
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_FRONTIER);
    assert_string_equal(why, "continuity_cost_blocks_switch");
    /* idle and drift reset to the base choice, unless switched off */
    t.idle = 1;
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_QWEN3_32B);
    assert_string_equal(why, "idle_select");
    assert_int_equal(saar_reference_decide(&t, SAAR_REF_NO_IDLE_BOUNDARY, NULL), SAAR_FRONTIER);
    t.idle = 0, t.drift = 1;
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_QWEN3_32B);
    assert_string_equal(why, "decision_drift_select");
    assert_int_equal(saar_reference_decide(&t, SAAR_REF_NO_DRIFT_RESET, NULL), SAAR_FRONTIER);
    /* locks hold over resets */
    t.tool_loop = 1;
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_FRONTIER);
    assert_string_equal(why, "tool_loop_hard_lock");
    t.tool_loop = 0, t.provider_state = 1;
    assert_int_equal(saar_reference_decide(&t, SAAR_REF_LOCKS_ONLY, &why), SAAR_FRONTIER);
    assert_string_equal(why, "context_portability_hard_lock");
    /* locks only: otherwise the base choice */
    t.provider_state = 0, t.drift = 0;
    assert_int_equal(saar_reference_decide(&t, SAAR_REF_LOCKS_ONLY, &why), SAAR_QWEN3_32B);
    /* first turn: the base choice, or the issuer of provider state */
    t.first_turn = 1;
    assert_int_equal(saar_reference_decide(&t, 0, &why), SAAR_QWEN3_32B);
    assert_string_equal(why, "cold_select");
    t.provider_state = 1, t.state_issuer = SAAR_QWEN3_8B;
    assert_int_equal(saar_reference_decide(&t, 0, NULL), SAAR_QWEN3_8B);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_rows_reproduce_published_figures),
        cmocka_unit_test(test_reference_row_is_deterministic),
        cmocka_unit_test(test_rule_order_and_switch_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
