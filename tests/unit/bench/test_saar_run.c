/* test_saar_run.c - the correctness gates of `bench saar` (BENCH_SAAR.md):
 * with default options the prompt-level router shows exactly 21,600 turns,
 * 9,709 switches and 3,836 unsafe switches (3,404 tool loop, 432 provider
 * state) as judged by the checker on the generated bodies; sticky shows 340
 * switches, 0 unsafe and the published cuts. Also the policy plug-in point,
 * skipped policies, errors, reports and a scenario file of our own. */
#include "bench/saar_report.h"
#include "bench/saar_run.h"
#include <cjson/cJSON.h>
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

static int always_frontier(void *st, const saar_turn_ctx_t *ctx)
{
    (void)st, (void)ctx;
    return SAAR_FRONTIER;
}
static int frontier_new(saar_policy_t *out, unsigned v, char *e, size_t n)
{
    *out = (saar_policy_t){.name = "always-frontier", .choose = always_frontier};
    return 0;
}
static void test_default_matrix_gates(void **st)
{
    (void)st;
    /* the default list, plus one extra policy appended after the registry */
    const saar_policy_entry_t extra = {"always-frontier", "", frontier_new, 0};
    saar_options_t o = {.extra_policies = &extra, .n_extra_policies = 1};
    saar_results_t r;
    char err[300];
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(r.turns, 21600);
    assert_int_equal(r.n, 15);
    assert_string_equal(r.policy[14].name, "always-frontier");

    const saar_policy_result_t *f = find(&r, "always-frontier");
    /* one switch per session, at turn 0, which is never a tool or state turn */
    assert_int_equal(f->summary.switches, 1200);
    assert_int_equal(f->summary.unsafe, 0);
    assert_int_equal(f->summary.under_served, 0);
    assert_true(f->summary.quality_delta > 0);
    assert_true(f->summary.fair_cost_cut_pct < 0); /* dearer than prompt-level */

    const saar_policy_result_t *pl = find(&r, "prompt-level");
    assert_true(pl->ran);
    assert_int_equal(pl->summary.turns, 21600);
    assert_int_equal(pl->summary.switches, 9709);
    assert_int_equal(pl->summary.unsafe, 3836);
    assert_int_equal(pl->summary.unsafe_tool_loop, 3404);
    assert_int_equal(pl->summary.unsafe_provider_state, 432);
    assert_int_equal(pl->summary.under_served, 0);
    assert_int_equal(pl->tally.check_errors, 0);
    assert_true(pl->summary.reference_cost_cut_pct == 0.0);

    const saar_policy_result_t *sk = find(&r, "sticky");
    assert_true(sk->ran);
    assert_int_equal(sk->summary.switches, 340);
    assert_int_equal(sk->summary.unsafe, 0);
    assert_int_equal(sk->tally.check_errors, 0);
    /* the published sticky row: 98.65%, -0.1433, 98.37%, 71.3% */
    assert_true(round_to(sk->summary.reference_cost_cut_pct, 2) == 98.65);
    assert_true(round_to(sk->summary.quality_delta, 4) == -0.1433);
    assert_true(round_to(sk->summary.fair_cost_cut_pct, 2) == 98.37);
    assert_true(round_to(sk->summary.under_served_pct, 1) == 71.3);

    /* tether rows: registered (issue 5), run, and never unsafe except the
     * ablation without the provider-state lock */
    const char *const tether_rows[] = {"tether",
                                       "tether-no-tool-lock",
                                       "tether-no-state-lock",
                                       "tether-no-drift-reset",
                                       "tether-no-idle-reset",
                                       "tether-no-price-multiplier",
                                       "tether-defaults"};
    for (size_t i = 0; i < sizeof tether_rows / sizeof tether_rows[0]; i++) {
        const saar_policy_result_t *t = find(&r, tether_rows[i]);
        assert_true(t->ran);
        assert_int_equal(t->tally.turns, 21600);
        if (i != 2) assert_int_equal(t->summary.unsafe, 0);
    }

    /* per-scenario tallies add up */
    long sw = 0, unsafe = 0;
    for (size_t s = 0; s < r.n_scenarios; s++) {
        sw += pl->by_scenario[s].switches;
        unsafe += pl->by_scenario[s].unsafe_tool_loop + pl->by_scenario[s].unsafe_provider_state;
    }
    assert_int_equal(sw, 9709);
    assert_int_equal(unsafe, 3836);

    /* JSON: the shape; skipped policies only under "skipped" */
    buf_t b = BUF_INIT;
    saar_report_json(&r, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "turns")->valueint, 21600);
    cJSON *pols = cJSON_GetObjectItem(j, "policies");
    assert_int_equal(cJSON_GetArraySize(pols), 15); /* every row of this run now has figures */
    cJSON *p0 = cJSON_GetArrayItem(pols, 0);
    const char *keys[] = {"policy",          "switches",
                          "unsafe_switches", "switch_reduction_pct",
                          "reference_cost",  "reference_cost_cut_pct",
                          "fair_cost",       "fair_cost_cut_pct",
                          "under_served",    "under_served_pct",
                          "quality_delta"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_non_null(cJSON_GetObjectItem(p0, keys[k]));
    assert_int_equal(cJSON_GetObjectItem(p0, "unsafe_switches")->valueint, 3836);
    cJSON *skipped = cJSON_GetObjectItem(j, "skipped");
    assert_true(!skipped || cJSON_GetArraySize(skipped) == 0);
    cJSON_Delete(j);

    buf_reset(&b);
    saar_report_table(&r, &b);
    assert_null(strstr(b.data, "not registered"));
    assert_non_null(strstr(b.data, "9709"));
    buf_reset(&b);
    saar_report_csv(&r, &b);
    assert_non_null(strstr(b.data, "sticky,ok,21600,340,"));
    assert_non_null(strstr(b.data, "tether,ok,21600,"));
    buf_reset(&b);
    saar_report_svg(&r, &b);
    assert_true(!strncmp(b.data, "<svg", 4));
    assert_non_null(strstr(b.data, "</svg>"));
    assert_null(strstr(b.data, "skipped tether"));
    buf_free(&b);
    saar_results_free(&r);
}

/* A stand-in for the session policy: sticky behaviour, counting calls. */
typedef struct fake {
    int begin_runs, frees, choices;
    unsigned variant;
} fake_t;
static fake_t fake_state;

static int fake_begin(void *st, const saar_run_info_t *info)
{
    fake_t *f = st;
    assert_int_equal(info->idle_timeout_s, SAAR_IDLE_TIMEOUT_S);
    f->begin_runs++;
    return 0;
}
static int fake_choose(void *st, const saar_turn_ctx_t *ctx)
{
    fake_t *f = st;
    f->choices++;
    assert_int_equal(ctx->n_models, 3);
    assert_string_equal(ctx->headers[0].name, "x-session-id");
    if (ctx->prev_model >= 0) return ctx->prev_model;
    int best = 0;
    for (int m = 1; m < ctx->n_models; m++)
        if (ctx->base_scores[m] > ctx->base_scores[best]) best = m;
    return best;
}
static void fake_free(void *st)
{
    ((fake_t *)st)->frees++;
}
static int fake_new(saar_policy_t *out, unsigned variant, char *err, size_t n)
{
    memset(&fake_state, 0, sizeof fake_state);
    fake_state.variant = variant;
    *out = (saar_policy_t){"tether", &fake_state, fake_begin, fake_choose, fake_free};
    return 0;
}

static void test_registered_policy_runs_in_place_of_skip(void **st)
{
    (void)st;
    const saar_policy_entry_t extra = {"tether", "fake", fake_new, SAAR_TETHER_NO_IDLE_RESET};
    const char *const names[] = {"sticky", "tether"};
    const uint32_t seed = 20260530u;
    saar_options_t o = {.scenarios = saar_scenario_find("stateful-heavy"),
                        .n_scenarios = 1,
                        .seeds = &seed,
                        .n_seeds = 1,
                        .policies = names,
                        .n_policies = 2,
                        .extra_policies = &extra,
                        .n_extra_policies = 1};
    saar_results_t r;
    char err[300];
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(r.n, 2);
    const saar_policy_result_t *t = find(&r, "tether");
    assert_true(t->ran);
    assert_int_equal(fake_state.begin_runs, 1); /* one per (scenario, seed) */
    assert_int_equal(fake_state.choices, 720);
    assert_int_equal(fake_state.frees, 1);
    assert_int_equal(fake_state.variant, SAAR_TETHER_NO_IDLE_RESET);
    assert_int_equal(t->summary.switches, find(&r, "sticky")->summary.switches);
    assert_true(t->summary.fair_cost == find(&r, "sticky")->summary.fair_cost);
    /* the baseline ran even though prompt-level was not listed */
    assert_true(r.baseline.switches > t->summary.switches);
    assert_true(r.baseline.unsafe_provider_state > 0);
    saar_results_free(&r);
}

static int broken_choose(void *st, const saar_turn_ctx_t *ctx)
{
    (void)st;
    return ctx->prev_model >= 0 ? 7 : 0;
}
static int broken_new(saar_policy_t *out, unsigned v, char *e, size_t n)
{
    *out = (saar_policy_t){.name = "broken", .choose = broken_choose};
    return 0;
}

static void test_policies_and_errors(void **st)
{
    (void)st;
    const saar_policy_entry_t extra[2] = {{"sticky", "replaced", frontier_new, 0},
                                          {"broken", "", broken_new, 0}};
    const uint32_t seed = 1;
    saar_options_t o = {.seeds = &seed,
                        .n_seeds = 1,
                        .extra_policies = extra,
                        .n_extra_policies = 2,
                        .n_policies = 1};
    saar_results_t r;
    char err[300];
    /* an extra entry replaces the registry entry of the same name */
    const char *const replaced[] = {"sticky"};
    o.policies = replaced;
    o.scenarios = saar_scenario_find("balanced");
    o.n_scenarios = 1;
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.policy[0].summary.switches, 40); /* always-frontier behaviour */
    assert_int_equal(r.policy[0].summary.under_served, 0);
    saar_results_free(&r);

    const char *const bad[] = {"broken"};
    o.policies = bad;
    assert_int_equal(saar_run(&o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "returned 7"));
    assert_int_equal(r.n, 0);

    const char *const unknown[] = {"sticky", "nope"};
    o.policies = unknown;
    o.n_policies = 2;
    assert_int_equal(saar_run(&o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown policy 'nope'"));
    const char *const twice[] = {"sticky", "sticky"};
    o.policies = twice;
    assert_int_equal(saar_run(&o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
}

static void test_custom_scenario_seeds_and_per_turn_csv(void **st)
{
    (void)st;
    const char *root = getenv("TETHER_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/bench/scenario_mixed.json", root ? root : ".");
    saar_scenario_t *sc;
    size_t nsc;
    char err[400];
    if (saar_scenarios_load(path, &sc, &nsc, err, sizeof err)) fail_msg("%s", err);
    const uint32_t seeds[3] = {1, 2, 3};
    const char *const names[] = {"prompt-level", "sticky"};
    FILE *csv = tmpfile();
    assert_non_null(csv);
    saar_options_t o = {.scenarios = sc,
                        .n_scenarios = nsc,
                        .seeds = seeds,
                        .n_seeds = 3,
                        .sessions = 10,
                        .turns = 30,
                        .policies = names,
                        .n_policies = 2,
                        .per_turn_csv = csv};
    saar_results_t r;
    if (saar_run(&o, &r, err, sizeof err)) fail_msg("%s", err);
    /* figures of the reference generator and metric rules on this scenario */
    const saar_policy_result_t *pl = find(&r, "prompt-level"), *sk = find(&r, "sticky");
    assert_int_equal(r.turns, 900);
    assert_int_equal(pl->summary.switches, 427);
    assert_int_equal(pl->summary.unsafe_tool_loop, 166);
    assert_int_equal(pl->summary.unsafe_provider_state, 33);
    assert_true(fabs(pl->summary.reference_cost - 135.37992385000013) < 1e-9);
    assert_true(fabs(pl->summary.fair_cost - 67.22786356999988) < 1e-9);
    assert_int_equal(sk->summary.switches, 8);
    assert_int_equal(sk->summary.unsafe, 0);
    assert_int_equal(sk->summary.under_served, 673);
    assert_true(fabs(sk->summary.reference_cost - 1.6320938900000006) < 1e-9);
    assert_true(fabs(sk->summary.fair_cost - 1.4570647699999986) < 1e-9);

    /* one header plus one row per turn and policy; verdicts agree with tallies */
    rewind(csv);
    char line[512];
    long rows = 0, unsafe_rows = 0;
    while (fgets(line, sizeof line, csv)) {
        rows++;
        if (strstr(line, ",prompt-level,") && strstr(line, ",unsafe_")) unsafe_rows++;
    }
    assert_int_equal(rows, 1 + 2 * 900);
    assert_int_equal(unsafe_rows, 166 + 33);
    fclose(csv);
    saar_results_free(&r);
    free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_matrix_gates),
        cmocka_unit_test(test_registered_policy_runs_in_place_of_skip),
        cmocka_unit_test(test_policies_and_errors),
        cmocka_unit_test(test_custom_scenario_seeds_and_per_turn_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
