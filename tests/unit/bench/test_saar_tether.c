/* test_saar_tether.c - the tether rows of `bench saar` (issue 5): the
 * correctness gate (0 unsafe switches on the default matrix and on a
 * scenario file of our own), that the provider-state lock is what keeps
 * provider-state turns safe (its ablation is unsafe), and that the policy
 * starts every (scenario, seed) run from empty session memory. The goal
 * figures (switches, cost cuts, under-served) are reported in
 * docs/benchmarks.md, not asserted here. */
#include "bench/saar_run.h"
#include "bench/saar_tether.h"
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

static void test_tether_has_no_unsafe_switch_on_default_matrix(void **st)
{
    const char *const names[] = {"tether", "tether-no-state-lock"};
    saar_options_t o = {0};
    o.policies = names;
    o.n_policies = 2;
    saar_results_t r;
    char err[256] = "";
    assert_int_equal(saar_run(&o, &r, err, sizeof err), 0);
    assert_int_equal(r.turns, 21600);
    const saar_policy_result_t *t = find(&r, "tether");
    assert_true(t->ran);
    assert_int_equal(t->summary.turns, 21600);
    assert_int_equal(t->summary.unsafe, 0);
    assert_int_equal(t->tally.check_errors, 0);
    /* it routes: fewer switches than prompt-level, but not sticky-frozen */
    assert_true(t->summary.switches > 0);
    assert_true(t->summary.switches < r.baseline.switches);
    /* without the provider-state lock, provider-state turns do switch unsafely */
    const saar_policy_result_t *ns = find(&r, "tether-no-state-lock");
    assert_true(ns->ran);
    assert_true(ns->summary.unsafe_provider_state > 0);
    saar_results_free(&r);
}

static void test_tether_has_no_unsafe_switch_on_other_scenarios_and_seeds(void **st)
{
    saar_scenario_t *sc = NULL;
    size_t n = 0;
    char err[256] = "", path[1024];
    const char *root = getenv("TETHER_SRC");
    snprintf(path, sizeof path, "%s/tests/data/bench/scenario_mixed.json", root ? root : ".");
    if (saar_scenarios_load(path, &sc, &n, err, sizeof err)) fail_msg("%s", err);
    const uint32_t seeds[] = {1, 2, 3};
    const char *const names[] = {"tether"};
    saar_options_t o = {0};
    o.scenarios = sc;
    o.n_scenarios = n;
    o.seeds = seeds;
    o.n_seeds = 3;
    o.policies = names;
    o.n_policies = 1;
    saar_results_t r;
    assert_int_equal(saar_run(&o, &r, err, sizeof err), 0);
    assert_int_equal(find(&r, "tether")->summary.unsafe, 0);
    saar_results_free(&r);
    free(sc);
}

/* Two identical runs in one policy object give identical tallies: memory is
 * dropped at begin_run (session ids repeat across runs). */
static void test_memory_is_dropped_between_runs(void **st)
{
    const saar_scenario_t *s = saar_scenario_find("balanced");
    assert_non_null(s);
    saar_scenario_t two[2] = {*s, *s};
    snprintf(two[1].name, sizeof two[1].name, "balanced-again");
    const uint32_t seeds[] = {20260530u};
    const char *const names[] = {"tether"};
    saar_options_t o = {0};
    o.scenarios = two;
    o.n_scenarios = 2;
    o.seeds = seeds;
    o.n_seeds = 1;
    o.policies = names;
    o.n_policies = 1;
    saar_results_t r;
    char err[256] = "";
    assert_int_equal(saar_run(&o, &r, err, sizeof err), 0);
    const saar_policy_result_t *t = find(&r, "tether");
    assert_int_equal(t->by_scenario[0].switches, t->by_scenario[1].switches);
    assert_int_equal(t->by_scenario[0].under_served, t->by_scenario[1].under_served);
    assert_true(t->by_scenario[0].fair_cost == t->by_scenario[1].fair_cost);
    saar_results_free(&r);
}

static void test_bad_session_keys_are_reported(void **st)
{
    saar_policy_t p;
    char err[512] = "";
    assert_int_equal(saar_tether_policy_new_with(&p, 0, "stay_bias: -1", err, sizeof err), -1);
    assert_non_null(strstr(err, "stay_bias"));
    assert_int_equal(saar_tether_policy_new_with(&p, 0, "stay_bias: 0.2", err, sizeof err), 0);
    p.free(p.state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tether_has_no_unsafe_switch_on_default_matrix),
        cmocka_unit_test(test_tether_has_no_unsafe_switch_on_other_scenarios_and_seeds),
        cmocka_unit_test(test_memory_is_dropped_between_runs),
        cmocka_unit_test(test_bad_session_keys_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
