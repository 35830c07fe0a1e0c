/* test_plan_memo.c - the replay record's routing parts through the
 * worker's memo (route/plan_memo.h): on many generated plans, drawn from a
 * small vocabulary so that most repeat an earlier one exactly and many
 * differ from one in a single field, route_part_json gives exactly the
 * bytes of dec_result_json, route_signals_json and route_candidates_json;
 * and the cases a stale entry would get wrong are pinned one by one: a
 * config reload that reuses a signal's name memory with other bytes,
 * different signal results, other latencies only, another session's
 * candidate terms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decision/decision.h"
#include "route/plan_memo.h"
#include "route/plan_render.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}
/* Mostly the first choices: plans repeat, and differ in one field often. */
static const char *pick_str(const char *const *v, size_t n)
{
    return rnd() % 4 ? v[0] : v[pick(n)];
}
static double pick_dbl(void)
{
    static const double v[] = {0, 0.5, 1, 0.25, -0.0, 0.123456789, 1e-7, 3.5};
    return rnd() % 4 ? v[0] : v[pick(sizeof v / sizeof *v)];
}
static bool pick_flag(void)
{
    return rnd() % 4 == 0;
}

#define N_RULES 8
static cfg_signal_t rules[N_RULES];
static char rule_names[N_RULES][32];

static const char *const strs[] = {
    NULL, "", "a", "b\"q", "keyword:code", "l\\x", "\xC3\xA9t\xC3\xA9"};
#define N_STRS (sizeof strs / sizeof *strs)

static dec_node_t nodes[4096];
static size_t n_nodes;

static void gen_node(dec_node_t *n, int depth)
{
    memset(n, 0, sizeof *n);
    n->kind = (cfg_rule_kind_t)(rnd() % 4 ? 0 : pick(4));
    n->signal = pick_str(strs, N_STRS);
    n->label = pick_str(strs, N_STRS);
    n->matched = pick_flag();
    n->skipped = pick_flag();
    n->confidence = pick_dbl();
    n->error = pick_str(strs, N_STRS);
    n->fallback = pick_str(strs, N_STRS);
    size_t nc = depth < 3 ? pick(3) : 0;
    if (n_nodes + nc > sizeof nodes / sizeof *nodes) nc = 0;
    n->children = &nodes[n_nodes];
    n->n_children = nc;
    n_nodes += nc;
    for (size_t i = 0; i < nc; i++)
        gen_node(&n->children[i], depth + 1);
}

static dec_trace_t traces[4];
static dec_match_t ranking[4];
static sig_result_t items[16];
static sess_candidate_t cands[4];
static sess_terms_t terms[4];
static route_plan_t plan;

static void gen_plan(void)
{
    memset(&plan, 0, sizeof plan);
    n_nodes = 0;
    plan.ran_decision = rnd() % 8 != 0;
    dec_result_t *r = &plan.dec;
    r->outcome = (dec_outcome_t)(rnd() % 4 ? 0 : pick(4));
    r->name = pick_str(strs, N_STRS);
    r->confidence = pick_dbl();
    r->algorithm = pick_str(strs, N_STRS);
    r->strategy = (dec_strategy_t)(rnd() % 4 ? 0 : pick(3));
    r->default_model = pick_str(strs, N_STRS);
    r->failed_leaf = pick_str(strs, N_STRS);
    r->n_traces = 1 + (rnd() % 4 ? 0 : pick(3));
    r->traces = traces;
    for (size_t i = 0; i < r->n_traces; i++) {
        traces[i].name = pick_str(strs, N_STRS);
        traces[i].matched = pick_flag();
        traces[i].is_catch_all = pick_flag();
        traces[i].confidence = pick_dbl();
        gen_node(&traces[i].root, 0);
    }
    r->n_ranking = pick(r->n_traces + 1);
    r->ranking = ranking;
    for (size_t i = 0; i < r->n_ranking; i++)
        ranking[i].index = pick(r->n_traces);
    /* the signals the plan shows (after the projections when the decision ran) */
    sig_results_t *s = plan.ran_decision ? &r->proj.sig : &plan.sig;
    s->items = items;
    s->n = rnd() % 4 ? 6 : pick(sizeof items / sizeof *items + 1);
    for (size_t i = 0; i < s->n; i++) {
        sig_result_t *x = &items[i];
        x->rule = &rules[rnd() % 4 ? i % N_RULES : pick(N_RULES)];
        x->matched = pick_flag();
        x->score = pick_dbl();
        x->label = pick_str(strs, N_STRS);
        x->has_value = pick_flag();
        x->value = pick_dbl();
        x->latency_us = (uint32_t)(rnd() % 3 ? rnd() % 1000 : rnd());
        x->error = pick_str(strs, N_STRS);
        x->fallback = pick_str(strs, N_STRS);
    }
    plan.cands = cands;
    plan.terms = terms;
    plan.n_cands = rnd() % 4 ? 2 : pick(5);
    for (size_t i = 0; i < plan.n_cands; i++) {
        cands[i].model = pick_str(strs, N_STRS);
        cands[i].admissible = pick_flag();
        cands[i].available = pick_flag();
        cands[i].excluded_reason = pick_str(strs, N_STRS);
        cands[i].learned_quality = pick_dbl();
        sess_terms_t *t = &terms[i];
        double *f[] = {&t->base,
                       &t->quality_gap,
                       &t->downgrade_credit,
                       &t->handoff_penalty,
                       &t->prefix_benefit,
                       &t->prefix_penalty,
                       &t->history_penalty,
                       &t->switch_margin,
                       &t->stay_bias,
                       &t->tool_loop_term,
                       &t->checkout_multiplier,
                       &t->final,
                       &t->net_switch_advantage};
        for (size_t j = 0; j < sizeof f / sizeof *f; j++)
            *f[j] = pick_dbl();
    }
}

/* The part as the renderers give it. */
static void reference(buf_t *b, route_part_t part)
{
    buf_reset(b);
    if (part == ROUTE_PART_TRACE)
        dec_result_json(b, &plan.dec);
    else if (part == ROUTE_PART_SIGNALS)
        route_signals_json(b, &plan);
    else
        route_candidates_json(b, &plan);
}

static void assert_part(route_part_t part)
{
    static buf_t want, scratch;
    reference(&want, part);
    size_t n = 0;
    const char *got = route_part_json(&plan, part, &scratch, &n);
    assert_int_equal(n, want.len);
    assert_memory_equal(got, want.data, n);
}

static void setup_rules(void)
{
    for (int i = 0; i < N_RULES; i++) {
        snprintf(rule_names[i], sizeof rule_names[i], i % 3 ? "rule_%d" : "r\"%d", i % 5);
        rules[i].name = rule_names[i];
        rules[i].family = (cfg_signal_family_t)(i % 6);
    }
}

/* A node of the decision trace, depth first (NULL past the end). */
static dec_node_t *nth_node(dec_node_t *n, size_t *k)
{
    if (!*k) return n;
    --*k;
    for (size_t i = 0; i < n->n_children; i++) {
        dec_node_t *f = nth_node(&n->children[i], k);
        if (f) return f;
    }
    return NULL;
}

/* One of a few plans again (the seed's), then, half the time, one field of
 * it changed; the latencies are new every time (they are not in the key). */
static void gen_variant(void)
{
    uint64_t keep = rnd();
    rng = 0x1234567ull + 7919 * pick(6);
    gen_plan();
    rng = keep;
    sig_results_t *s = plan.ran_decision ? &plan.dec.proj.sig : &plan.sig;
    for (size_t i = 0; i < s->n; i++)
        s->items[i].latency_us = (uint32_t)(rnd() % 5000);
    if (rnd() % 2) return;
    size_t k = pick(64);
    dec_node_t *n = nth_node(&plan.dec.traces[0].root, &k);
    sig_result_t *x = s->n ? &s->items[pick(s->n)] : NULL;
    switch (pick(8)) {
    case 0:
        if (n) n->matched = !n->matched;
        break;
    case 1:
        if (n) n->signal = strs[pick(N_STRS)];
        break;
    case 2:
        if (x) x->score += 0.5;
        break;
    case 3:
        if (x) x->error = strs[pick(N_STRS)];
        break;
    case 4:
        if (x) x->rule = &rules[pick(N_RULES)];
        break;
    case 5:
        if (plan.n_cands) plan.terms[0].final += 0.125;
        break;
    case 6: plan.dec.confidence += 1; break;
    default:
        if (plan.dec.n_ranking) plan.dec.ranking[0].index = pick(plan.dec.n_traces);
    }
}

static void test_memo_gives_the_renderers_bytes(void **st)
{
    (void)st;
    setup_rules();
    route_part_memo_reset();
    for (int i = 0; i < 20000; i++) {
        if (i % 2)
            gen_plan();
        else
            gen_variant();
        if (plan.ran_decision) assert_part(ROUTE_PART_TRACE);
        assert_part(ROUTE_PART_SIGNALS);
        assert_part(ROUTE_PART_CANDIDATES);
    }
    uint64_t hits = route_part_memo_hits();
    printf("memo hits: %llu of about 57500 parts\n", (unsigned long long)hits);
    assert_true(hits > 5000); /* the memo answered often */
}

/* The same plan twice: the second is a hit (and gives the same bytes). */
static uint64_t hits_of(route_part_t part)
{
    uint64_t h = route_part_memo_hits();
    assert_part(part);
    return route_part_memo_hits() - h;
}

static void test_stale_entries_are_never_served(void **st)
{
    (void)st;
    setup_rules();
    route_part_memo_reset();
    do
        gen_plan();
    while (!plan.ran_decision || plan.dec.proj.sig.n < 2 || plan.n_cands < 1);
    /* two decisions, the first ranked */
    traces[1] = traces[0];
    traces[0].name = "first";
    traces[1].name = "second";
    plan.dec.n_traces = 2;
    plan.dec.n_ranking = 1;
    ranking[0].index = 0;
    for (int p = 0; p < ROUTE_PART__N; p++) {
        assert_int_equal(hits_of((route_part_t)p), 0);
        assert_int_equal(hits_of((route_part_t)p), 1);
    }
    sig_result_t *x = &plan.dec.proj.sig.items[1];
    /* a config reload: the rule's name memory now holds another name */
    snprintf((char *)x->rule->name, 32, "reloaded_%d", 7);
    assert_int_equal(hits_of(ROUTE_PART_SIGNALS), 0);
    /* other signal results: a score, then a label */
    x->score += 0.5;
    assert_int_equal(hits_of(ROUTE_PART_SIGNALS), 0);
    x->label = x->label && !strcmp(x->label, "zz") ? "yy" : "zz";
    assert_int_equal(hits_of(ROUTE_PART_SIGNALS), 0);
    /* other latencies only: a hit, with the new latencies in (assert_part
     * compares with route_signals_json) */
    x->latency_us += 12345;
    plan.dec.proj.sig.items[0].latency_us = 7;
    assert_int_equal(hits_of(ROUTE_PART_SIGNALS), 1);
    /* the decision path: a leaf's match and a decision's confidence */
    plan.dec.traces[0].root.matched = !plan.dec.traces[0].root.matched;
    assert_int_equal(hits_of(ROUTE_PART_TRACE), 0);
    plan.dec.traces[0].confidence += 0.25;
    assert_int_equal(hits_of(ROUTE_PART_TRACE), 0);
    assert_int_equal(hits_of(ROUTE_PART_TRACE), 1);
    /* the other decision ranked first */
    ranking[0].index = 1;
    assert_int_equal(hits_of(ROUTE_PART_TRACE), 0);
    assert_int_equal(hits_of(ROUTE_PART_TRACE), 1);
    /* another session: its candidate terms */
    plan.terms[0].prefix_benefit += 0.0001;
    assert_int_equal(hits_of(ROUTE_PART_CANDIDATES), 0);
    plan.cands[0].admissible = !plan.cands[0].admissible;
    assert_int_equal(hits_of(ROUTE_PART_CANDIDATES), 0);
    assert_int_equal(hits_of(ROUTE_PART_CANDIDATES), 1);
}

/* Parts too large to remember (more signals than the memo's template
 * holds, a key past its size, a rendering past its size) come out as the
 * renderers give them, every time. */
static void test_large_parts_are_rendered_directly(void **st)
{
    (void)st;
    setup_rules();
    route_part_memo_reset();
    static sig_result_t many[100];
    static char huge[40000], ctl[4001];
    memset(huge, 'h', sizeof huge - 1);
    memset(ctl, 1, sizeof ctl - 1); /* 4 KB, rendered as 24 KB of escapes */
    for (int round = 0; round < 3; round++) {
        gen_plan();
        sig_results_t *s = plan.ran_decision ? &plan.dec.proj.sig : &plan.sig;
        for (size_t i = 0; i < 100; i++) {
            many[i] = items[0];
            many[i].rule = &rules[i % N_RULES];
            many[i].latency_us = (uint32_t)(i * 7 + (size_t)round);
        }
        s->items = many;
        s->n = 100;
        assert_part(ROUTE_PART_SIGNALS);
        plan.dec.traces[0].root.signal = huge; /* the key past KEY_MAX */
        if (plan.ran_decision) assert_part(ROUTE_PART_TRACE);
        plan.n_cands = 1;
        plan.cands[0].model = ctl; /* the key fits, the rendering not */
        assert_part(ROUTE_PART_CANDIDATES);
    }
    assert_int_equal(route_part_memo_hits(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memo_gives_the_renderers_bytes),
        cmocka_unit_test(test_stale_entries_are_never_served),
        cmocka_unit_test(test_large_parts_are_rendered_directly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
