/* test_select.c - selection algorithms (SPEC §7) with hand-built inputs:
 * static (positions, model_scores, domain model_scores), weighted
 * (deterministic per session, score shape, follows the weights), multi_factor
 * (normalised factors, filters, on_no_candidates), latency_aware, router_dc
 * (with a toy embedder; fallbacks), elo (initial ratings, softmax, feedback),
 * the single-candidate rule, state windows and the JSON trace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json/scan.h"
#include "select/select.h"

#define HEAD                                                                                       \
    "version: v0.3\n"                                                                              \
    "providers:\n"                                                                                 \
    "  defaults: {default_model: a}\n"                                                             \
    "  models:\n"                                                                                  \
    "    - {name: a, pricing: {prompt_per_1m: 1, completion_per_1m: 2}, backend_refs: "            \
    "[{endpoint: 'h:1'}]}\n"                                                                       \
    "    - {name: b, pricing: {prompt_per_1m: 3, completion_per_1m: 6}, backend_refs: "            \
    "[{endpoint: 'h:2'}]}\n"                                                                       \
    "    - {name: c, backend_refs: [{endpoint: 'h:3'}]}\n"                                         \
    "routing:\n"                                                                                   \
    "  modelCards:\n"                                                                              \
    "    - {name: a, description: chat, quality_score: 0.5}\n"                                     \
    "    - {name: b, description: code, quality_score: 0.9}\n"                                     \
    "    - {name: c, capabilities: [math], quality_score: 0.7}\n"                                  \
    "  signals:\n"                                                                                 \
    "    domains: [{name: dm, model_scores: {a: 0.2, b: 0.4, c: 0.9}}]\n"                          \
    "  decisions:\n"

static cfg_t *load(const char *decision)
{
    char y[8192];
    snprintf(y, sizeof y, HEAD "    - {name: d, rules: {type: domain, name: dm}, %s}\n", decision);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", y, strlen(y), NULL, &d);
    for (size_t i = 0; i < d.n; i++) {
        if (d.items[i].severity != CFG_DIAG_ERROR) continue;
        buf_t b = BUF_INIT;
        cfg_diag_format(&b, &d.items[i]);
        fprintf(stderr, "diag: %s\n", b.data);
        buf_free(&b);
    }
    cfg_diags_free(&d);
    assert_non_null(c);
    return c;
}

static const cfg_decision_t *dec(const cfg_t *c)
{
    return &c->routing->recipes[0].decisions[0];
}

#define ABC        "modelRefs: [{model: a}, {model: b}, {model: c}]"
#define NEAR(x, y) assert_true(fabs((x) - (y)) < 1e-9)

static sel_result_t run(const cfg_t *c, sel_input_t in, arena_t *a)
{
    in.cfg = c;
    in.decision = dec(c);
    if (!in.now_ms) in.now_ms = 1000000;
    sel_result_t r;
    assert_int_equal(sel_run(&in, a, &r), 0);
    return r;
}

static void test_static(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    cfg_t *c = load(ABC);
    sel_result_t r = run(c, (sel_input_t){0}, &a);
    assert_string_equal(r.used, "static");
    NEAR(r.scores[0], 1.0);
    NEAR(r.scores[1], 0.999);
    NEAR(r.scores[2], 0.998);
    assert_int_equal(r.best, 0);
    /* the matched domain's model_scores */
    const cfg_recipe_t *rc = &c->routing->recipes[0];
    sig_result_t item = {.rule = &rc->signals[0], .matched = true, .score = 0.8};
    sig_results_t sig = {.items = &item, .n = 1};
    r = run(c, (sel_input_t){.sig = &sig}, &a);
    NEAR(r.scores[0], 0.2);
    NEAR(r.scores[2], 0.9);
    assert_int_equal(r.best, 2);
    cfg_free(c);
    /* algorithm.static.model_scores wins over the domain */
    c = load(ABC ", algorithm: {type: static, static: {model_scores: {b: 0.7}}}");
    item.rule = &c->routing->recipes[0].signals[0];
    r = run(c, (sel_input_t){.sig = &sig}, &a);
    NEAR(r.scores[0], 0);
    NEAR(r.scores[1], 0.7);
    assert_int_equal(r.best, 1);
    cfg_free(c);
    /* a single candidate gets 1 */
    c = load("modelRefs: [{model: b}], algorithm: {type: elo}");
    r = run(c, (sel_input_t){0}, &a);
    assert_int_equal(r.n, 1);
    NEAR(r.scores[0], 1.0);
    assert_string_equal(r.used, "elo");
    cfg_free(c);
    arena_deinit(&a);
}

static void test_weighted(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    cfg_t *c =
        load("modelRefs: [{model: a, weight: 3}, {model: b, weight: 1}, {model: c, weight: 0}],"
             " algorithm: {type: weighted}");
    size_t picks[3] = {0};
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "sess-%d", i);
        sel_result_t r = run(c, (sel_input_t){.session_key = key}, &a);
        picks[r.best]++;
        sel_result_t r2 = run(c, (sel_input_t){.session_key = key}, &a);
        assert_int_equal(r.best, r2.best); /* deterministic per session */
        if (r.best == 0) {
            NEAR(r.scores[0], 1);
            NEAR(r.scores[1], 0.5 * 1 / 3.0);
        } else {
            assert_int_equal(r.best, 1);
            NEAR(r.scores[0], 0.5);
        }
        NEAR(r.scores[2], 0);
        arena_reset(&a);
    }
    assert_int_equal(picks[2], 0);
    assert_in_range(picks[0], 1400, 1600); /* 3:1 weights over 2000 sessions */
    /* the same key under another decision name hashes elsewhere */
    assert_true(sel_weighted_unit("k", "d") != sel_weighted_unit("k", "e"));
    sel_result_t r = run(c, (sel_input_t){0}, &a);
    assert_string_equal(r.used, "static");
    assert_string_equal(r.fallback_reason, "no session key or request id");
    cfg_free(c);
    arena_deinit(&a);
}

static void test_multi_factor(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    cfg_t *c = load(ABC ", algorithm: {type: multi_factor, multi_factor: {quality_weight: 0.6,"
                        " cost_weight: 0.4, latency_weight: 0, load_weight: 0}}");
    sel_result_t r = run(c, (sel_input_t){0}, &a);
    /* Q: a 0.5 -> 0, b 0.9 -> 1, c 0.7 -> 0.5; C: a 3 -> 1, b 9 -> 0, c unknown 0.5 */
    NEAR(r.scores[0], 0.6 * 0 + 0.4 * 1);
    NEAR(r.scores[1], 0.6 * 1 + 0.4 * 0);
    NEAR(r.scores[2], 0.6 * 0.5 + 0.4 * 0.5);
    assert_int_equal(r.best, 1);
    cfg_free(c);

    /* limits: b is too expensive, a has too many requests in flight */
    sel_state_t *s = sel_state_new();
    sel_inflight_add(s, "a", 1);
    sel_inflight_add(s, "a", 1);
    sel_inflight_add(s, "c", 1);
    sel_observe_ttft(s, "c", 100, 999000);
    c = load(
        ABC
        ", algorithm: {type: multi_factor, multi_factor: {max_cost_per_1m: 5, max_inflight: 2}}");
    r = run(c, (sel_input_t){.state = s}, &a);
    assert_true(r.excluded[0]);
    assert_true(r.excluded[1]);
    assert_false(r.excluded[2]);
    NEAR(r.scores[0], 0);
    NEAR(r.scores[1], 0);
    /* c alone: Q, L, Load have data (range 0: 1.0), C missing 0.5 */
    NEAR(r.scores[2], (0.25 + 0.25 + 0.125 + 0.25) / 1.0);
    assert_int_equal(r.best, 2);
    cfg_free(c);

    /* nothing passes: cheapest (a), first, fail */
    c = load(ABC ", algorithm: {type: multi_factor, multi_factor: {max_inflight: 0}}");
    r = run(c, (sel_input_t){.state = s}, &a);
    assert_false(r.excluded[0]); /* c costs unknown, a is cheaper than b */
    assert_true(r.excluded[1]);
    assert_int_equal(r.best, 0);
    cfg_free(c);
    c = load("modelRefs: [{model: b}, {model: a}], algorithm: {type: multi_factor,"
             " multi_factor: {max_inflight: 0, on_no_candidates: first}}");
    r = run(c, (sel_input_t){.state = s}, &a);
    assert_int_equal(r.best, 0);
    assert_string_equal(r.models[0], "b");
    cfg_free(c);
    c = load(ABC ", algorithm: {type: multi_factor, multi_factor: {max_inflight: 0, "
                 "on_no_candidates: fail}}");
    sel_input_t in = {.cfg = c, .decision = dec(c), .state = s, .now_ms = 1};
    assert_int_equal(sel_run(&in, &a, &r), -1);
    assert_non_null(strstr(r.error, "on_no_candidates: fail"));
    cfg_free(c);
    sel_state_free(s);
    arena_deinit(&a);
}

static void test_latency_aware(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    sel_state_t *s = sel_state_new();
    cfg_t *c =
        load(ABC ", algorithm: {type: latency_aware, latency_aware: {window: 1m, min_samples: 2}}");
    sel_result_t r = run(c, (sel_input_t){.state = s, .now_ms = 100000}, &a);
    assert_string_equal(r.used, "static");
    assert_string_equal(r.fallback_reason, "no latency data");
    /* a: TTFT 100,200 (p90 200), TPOT 10,10; b: TTFT 400,400, TPOT 30,30;
     * c: one sample only (below min_samples) plus old ones outside the window */
    for (int i = 0; i < 2; i++) {
        sel_observe_ttft(s, "a", 100.0 * (i + 1), 99000);
        sel_observe_tpot(s, "a", 10, 99000);
        sel_observe_ttft(s, "b", 400, 99000);
        sel_observe_tpot(s, "b", 30, 99000);
        sel_observe_ttft(s, "c", 1, 1000); /* 99 s old: outside 1m */
    }
    sel_observe_ttft(s, "c", 50, 99000);
    r = run(c, (sel_input_t){.state = s, .now_ms = 100000}, &a);
    assert_string_equal(r.used, "latency_aware");
    NEAR(r.scores[0], 1.0);
    NEAR(r.scores[1], 1.0 / ((400.0 / 200 + 30.0 / 10) / 2));
    NEAR(r.scores[2], 0.5);
    double p;
    assert_true(sel_latency_percentile(s, "a", SEL_TTFT, 50, 0, 100000, 1, &p));
    NEAR(p, 100);
    assert_false(sel_latency_percentile(s, "c", SEL_TTFT, 90, 60000, 100000, 2, &p));
    assert_true(sel_latency_percentile(s, "c", SEL_TTFT, 90, 0, 100000, 2, &p)); /* no window */
    NEAR(p, 50);
    cfg_free(c);
    sel_state_free(s);
    arena_deinit(&a);
}

/* Toy embedder: axis 0 "code", 1 "chat", 2 "math", 3 anything else. */
static int toy_embed(void *ctx, const char *t, size_t n, float *out)
{
    (*(int *)ctx)++;
    memset(out, 0, 4 * sizeof(float));
    const char *w[3] = {"code", "chat", "math"};
    bool any = false;
    for (int i = 0; i < 3; i++)
        if (memmem(t, n, w[i], strlen(w[i]))) out[i] = 1, any = true;
    if (!any) out[3] = 1;
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += out[i] * out[i];
    for (int i = 0; i < 4; i++)
        out[i] /= sqrtf(s);
    return 0;
}

static void test_router_dc(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    int calls = 0;
    sel_embedder_t e = {toy_embed, 4, &calls};
    sel_state_t *s = sel_state_new();
    cfg_t *c = load(ABC ", algorithm: {type: router_dc}");
    const char *q = "please fix my code";
    sel_result_t r =
        run(c, (sel_input_t){.query = q, .query_len = strlen(q), .embedder = &e, .state = s}, &a);
    assert_string_equal(r.used, "router_dc");
    double big = exp(1 / 0.07);
    NEAR(r.scores[1], big / (big + 2));
    NEAR(r.scores[0], 1 / (big + 2));
    assert_int_equal(r.best, 1);
    assert_int_equal(calls, 4); /* query + three cards */
    r = run(c, (sel_input_t){.query = q, .query_len = strlen(q), .embedder = &e, .state = s}, &a);
    assert_int_equal(calls, 5); /* cards are cached */
    q = "math please";          /* c has only capabilities: matched through them */
    r = run(c, (sel_input_t){.query = q, .query_len = strlen(q), .embedder = &e, .state = s}, &a);
    assert_int_equal(r.best, 2);
    q = "weather";
    r = run(c, (sel_input_t){.query = q, .query_len = strlen(q), .embedder = &e, .state = s}, &a);
    assert_string_equal(r.used, "static");
    assert_string_equal(r.fallback_reason, "best similarity 0.000 is below min_similarity 0.100");
    r = run(c, (sel_input_t){.query = q, .query_len = strlen(q)}, &a);
    assert_string_equal(r.fallback_reason, "no embedder");
    assert_int_equal(r.best, 0);
    cfg_free(c);
    sel_state_free(s);
    arena_deinit(&a);
}

static void test_elo(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    sel_state_t *s = sel_state_new();
    cfg_t *c = load(ABC ", algorithm: {type: elo, elo: {k_factor: 16}}");
    const cfg_decision_t *d = dec(c);
    NEAR(sel_elo_initial(c, d, "b"), 1900);
    sel_result_t r = run(c, (sel_input_t){.state = s}, &a);
    double ea = pow(10, 1500 / 400.0), eb = pow(10, 1900 / 400.0), ec = pow(10, 1700 / 400.0);
    NEAR(r.scores[0], ea / (ea + eb + ec));
    NEAR(r.scores[1], eb / (ea + eb + ec));
    assert_int_equal(r.best, 1);

    /* good on a: a win against the mean of b and c (1800) */
    assert_int_equal(sel_elo_feedback(s, c, d, "a", SEL_FB_GOOD, NULL, NULL), 0);
    double want = 1500 + 16 * (1 - 1 / (1 + pow(10, (1800 - 1500) / 400.0)));
    NEAR(sel_elo_rating(s, "d", "a", 0), want);
    NEAR(sel_elo_rating(s, "d", "b", 0), 1900); /* only a moved */
    /* a tie between b and c moves both */
    assert_int_equal(sel_elo_feedback(s, c, d, "b", SEL_FB_TIE, "c", NULL), 0);
    double eb2 = 1 / (1 + pow(10, (1700 - 1900) / 400.0));
    NEAR(sel_elo_rating(s, "d", "b", 0), 1900 + 16 * (0.5 - eb2));
    NEAR(sel_elo_rating(s, "d", "c", 0), 1700 - 16 * (0.5 - eb2));
    const char *err = NULL;
    assert_int_equal(sel_elo_feedback(s, c, d, "zz", SEL_FB_BAD, NULL, &err), -1);
    assert_non_null(err);
    assert_int_equal(sel_elo_feedback(s, c, d, "a", SEL_FB_WIN, "a", &err), -1);
    sel_feedback_t v;
    assert_true(sel_feedback_parse("loss", &v));
    assert_int_equal(v, SEL_FB_LOSS);
    assert_false(sel_feedback_parse("meh", &v));
    /* many losses for b hand the lead to c */
    for (int i = 0; i < 40; i++)
        sel_elo_feedback(s, c, d, "b", SEL_FB_LOSS, "c", NULL);
    r = run(c, (sel_input_t){.state = s}, &a);
    assert_int_equal(r.best, 2);
    buf_t b = BUF_INIT;
    sel_result_json(&b, &r);
    assert_int_equal(jscan_validate(b.data, b.len, NULL), 0);
    assert_non_null(strstr(b.data, "\"algorithm\":\"elo\",\"used\":\"elo\",\"best\":\"c\""));
    buf_free(&b);
    cfg_free(c);
    sel_state_free(s);
    arena_deinit(&a);
}

static void test_inflight(void **st)
{
    sel_state_t *s = sel_state_new();
    assert_int_equal(sel_inflight(s, "a"), 0);
    sel_inflight_add(s, "a", 1);
    sel_inflight_add(s, "a", 1);
    sel_inflight_add(s, "a", -1);
    assert_int_equal(sel_inflight(s, "a"), 1);
    sel_inflight_add(s, "a", -5);
    assert_int_equal(sel_inflight(s, "a"), 0);
    sel_state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static),       cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_multi_factor), cmocka_unit_test(test_latency_aware),
        cmocka_unit_test(test_router_dc),    cmocka_unit_test(test_elo),
        cmocka_unit_test(test_inflight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
