/* saar_reference.c - the reference session policy rows of `bench saar`
 * (reference-session, its two published ablations and locks-only): the rule
 * of saar_reference.h as a pure function, and a policy that reads each
 * turn's facts from the request (tether's scanner and request facts for the
 * tool loop and provider state, the benchmark's keyword decisions for drift,
 * the clock for idleness) with a small per-session memory (turns, switches,
 * first and last decision). */
#include "bench/saar_reference.h"
#include "bench/saar_tether.h"
#include "config/global.h"
#include "core/arena.h"
#include "core/hash.h"
#include "json/scan.h"
#include "request/request.h"
#include "session/policy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* cache checkout price share P(m) */
static double cost_pressure(int m)
{
    double best = 0;
    double co[SAAR_N_MODELS];
    for (int i = 0; i < SAAR_N_MODELS; i++) {
        double d = saar_models[i].prompt_per_1m - saar_models[i].cached_per_1m;
        co[i] = d > 0 ? d : (saar_models[i].prompt_per_1m > 0 ? saar_models[i].prompt_per_1m : 0);
        if (co[i] > best) best = co[i];
    }
    return best > 0 ? co[m] / best : 0.5;
}

double saar_reference_switch_cost(const saar_ref_turn_t *in)
{
    double h = in->history_tokens > 0 ? in->history_tokens : 0;
    double mass = clamp(h / 16000.0, 0, 1);
    if (in->remaining_turn_prior > 0) {
        double left = in->remaining_turn_prior - in->turn;
        double prior_mass = clamp(left > 0 ? left / 8.0 : 0, 0, 1);
        if (prior_mass > mass) mass = prior_mass;
    }
    double warmth = clamp(h / 48000.0, 0.5, 0.72);
    if (in->tool_loop) warmth += 0.12;
    if (in->provider_state) warmth += 0.08;
    if (in->current == SAAR_FRONTIER) warmth += 0.06;
    warmth = clamp(warmth, 0, 0.85);
    double pb = cost_pressure(in->base), pc = cost_pressure(in->current);
    double frontier = 1.0 + 1.6 * (pb > pc ? pb : pc);
    double sw = in->switches / 8.0;
    return 0.05 + 0.20 * mass * warmth * frontier + 0.04 * (sw < 1 ? sw : 1);
}

int saar_reference_decide(const saar_ref_turn_t *in, unsigned variant, const char **reason)
{
    const char *why;
    int m;
    if (in->first_turn) {
        bool bound = in->provider_state && in->state_issuer >= 0;
        m = bound ? in->state_issuer : in->base;
        why = bound ? "context_portability_hard_lock" : "cold_select";
    } else if (in->tool_loop) {
        m = in->current, why = "tool_loop_hard_lock";
    } else if (in->provider_state) {
        m = in->current, why = "context_portability_hard_lock";
    } else if (variant & SAAR_REF_LOCKS_ONLY) {
        m = in->base, why = "locks_only";
    } else if (in->drift && !(variant & SAAR_REF_NO_DRIFT_RESET)) {
        m = in->base, why = "decision_drift_select";
    } else if (in->idle && !(variant & SAAR_REF_NO_IDLE_BOUNDARY)) {
        m = in->base, why = "idle_select";
    } else if (in->base == in->current) {
        m = in->current, why = "base_selects_current";
    } else if (saar_models[in->base].quality - saar_models[in->current].quality >
               saar_reference_switch_cost(in)) {
        m = in->base, why = "quality_gain_clears_switch_cost";
    } else {
        m = in->current, why = "continuity_cost_blocks_switch";
    }
    if (reason) *reason = why;
    return m;
}

/* ---- the policy ---------------------------------------------------------- */

typedef struct ref_session {
    char id[32]; /* "" = empty slot */
    int turns, switches;
    int last_decision;  /* -1: nothing matched */
    int first_decision; /* the session's first matched decision, -1 none yet */
    uint64_t last_clock_ms;
} ref_session_t;

typedef struct ref_bench {
    unsigned variant;
    cfg_t *cfg; /* the benchmark config: its two keyword decisions */
    const cfg_recipe_t *recipe;
    double prior;
    uint64_t idle_ms;
    ref_session_t *sess;
    size_t cap; /* power of two */
    arena_t arena;
} ref_bench_t;

static void ref_free(void *p)
{
    ref_bench_t *b = p;
    if (!b) return;
    cfg_free(b->cfg);
    free(b->sess);
    arena_deinit(&b->arena);
    free(b);
}

static int ref_begin_run(void *p, const saar_run_info_t *info)
{
    ref_bench_t *b = p;
    b->prior = info->remaining_turn_prior;
    b->idle_ms =
        (uint64_t)(info->idle_timeout_s > 0 ? info->idle_timeout_s : SAAR_IDLE_TIMEOUT_S) * 1000u;
    size_t want = 64;
    while (want < (size_t)info->sessions * 2)
        want <<= 1;
    if (want != b->cap) {
        free(b->sess);
        b->sess = calloc(want, sizeof *b->sess);
        if (!b->sess) return -1;
        b->cap = want;
    } else {
        memset(b->sess, 0, b->cap * sizeof *b->sess);
    }
    return 0;
}

static ref_session_t *ref_session(ref_bench_t *b, const char *id, size_t len, int *fresh)
{
    if (len >= sizeof b->sess[0].id) len = sizeof b->sess[0].id - 1;
    size_t h = (size_t)hash_xxh64(id, len, 0);
    for (size_t i = 0; i < b->cap; i++) {
        ref_session_t *s = &b->sess[(h + i) & (b->cap - 1)];
        if (!s->id[0]) {
            memcpy(s->id, id, len);
            s->id[len] = 0;
            s->last_decision = s->first_decision = -1;
            *fresh = 1;
            return s;
        }
        if (strlen(s->id) == len && !memcmp(s->id, id, len)) {
            *fresh = 0;
            return s;
        }
    }
    return NULL;
}

/* The issuer named by the benchmark provider's state token ("tb1:<model>:"),
 * standing in for a router's response-store lookup; -1 when absent. */
static int state_issuer(const char *body, size_t len)
{
    const char *tok =
        memmem(body, len, SAAR_STATE_TOKEN_PREFIX, sizeof SAAR_STATE_TOKEN_PREFIX - 1);
    if (!tok) return -1;
    tok += sizeof SAAR_STATE_TOKEN_PREFIX - 1;
    char name[64];
    size_t n = strcspn(tok, ":\"");
    if (n >= sizeof name) return -1;
    memcpy(name, tok, n);
    name[n] = 0;
    return saar_model_index(name);
}

static int ref_choose(void *p, const saar_turn_ctx_t *ctx)
{
    ref_bench_t *b = p;
    arena_reset(&b->arena);
    jreq_t jr;
    if (jscan_request(ctx->body, ctx->body_len, &b->arena, &jr, NULL)) return -1;
    rq_header_t hs[8];
    size_t nh = ctx->n_headers < 8 ? ctx->n_headers : 8;
    for (size_t i = 0; i < nh; i++)
        hs[i] = (rq_header_t){ctx->headers[i].name, strlen(ctx->headers[i].name),
                              ctx->headers[i].value, strlen(ctx->headers[i].value)};
    rq_t *rq = rq_from_chat(&b->arena, ctx->body, ctx->body_len, &jr, hs, nh);
    if (!rq) return -1;
    sess_facts_t f = {0};
    sess_facts_from_rq(rq, &f);
    size_t idlen = 0;
    const char *id = rq_header(rq, "x-session-id", &idlen);
    if (!id || !idlen) return -1;
    int fresh = 0;
    ref_session_t *s = ref_session(b, id, idlen, &fresh);
    if (!s) return -1;
    size_t qn = 0;
    const char *q = rq_query(rq, &qn);
    int decision = saar_tether_match_decision(b->recipe, q, qn);

    int base = 0;
    for (int m = 1; m < ctx->n_models; m++)
        if (ctx->base_scores[m] > ctx->base_scores[base]) base = m;
    /* drift: off the session's opening topic (the published simulator), or
     * off the previous turn's decision (SPEC §9.5) */
    int anchor = b->variant & SAAR_REF_DRIFT_VS_PREVIOUS ? s->last_decision : s->first_decision;
    int current = ctx->prev_model >= 0 ? ctx->prev_model : SAAR_QWEN3_8B;
    unsigned state = f.bindings & ~(unsigned)RQ_BIND_TOOL_CALL_ID_FORMAT;
    saar_ref_turn_t in = {
        .first_turn = fresh || ctx->prev_model < 0,
        .turn = s->turns,
        .current = current,
        .base = base,
        .tool_loop = f.active_tool_loop,
        .provider_state = state != 0,
        .state_issuer = state ? state_issuer(ctx->body, ctx->body_len) : -1,
        .drift = !fresh && decision >= 0 && anchor >= 0 && decision != anchor,
        .idle = !fresh && ctx->clock_ms - s->last_clock_ms >= b->idle_ms,
        .switches = s->switches,
        .history_tokens = ctx->history_tokens,
        .remaining_turn_prior = b->prior,
    };
    int m = saar_reference_decide(&in, b->variant, NULL);
    if (m != current) s->switches++;
    s->turns++;
    s->last_decision = decision;
    if (s->first_decision < 0) s->first_decision = decision;
    s->last_clock_ms = ctx->clock_ms;
    return m;
}

int saar_reference_policy_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(saar_tether_config_yaml) + 1;
    char *yaml = malloc(n);
    if (!yaml) abort();
    snprintf(yaml, n, saar_tether_config_yaml, "");
    cfg_diags_t dg;
    cfg_diags_init(&dg);
    cfg_t *cfg = cfg_load_string("bench-saar.yaml", yaml, strlen(yaml), NULL, &dg);
    free(yaml);
    cfg_diags_free(&dg);
    const cfg_recipe_t *rc = cfg ? cfg_find_recipe(cfg, "default") : NULL;
    if (!rc || !rc->n_decisions) {
        cfg_free(cfg);
        return saar_err(err, errlen, "reference: the benchmark config has no decisions");
    }
    ref_bench_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->variant = variant;
    b->cfg = cfg;
    b->recipe = rc;
    b->idle_ms = SAAR_IDLE_TIMEOUT_S * 1000u;
    arena_init(&b->arena, 64 * 1024);
    const char *name = variant & SAAR_REF_LOCKS_ONLY          ? "locks-only"
                       : variant & SAAR_REF_NO_IDLE_BOUNDARY  ? "reference-no-idle-boundary"
                       : variant & SAAR_REF_NO_DRIFT_RESET    ? "reference-no-drift-reset"
                       : variant & SAAR_REF_DRIFT_VS_PREVIOUS ? "reference-drift-vs-previous"
                                                              : "reference-session";
    *out = (saar_policy_t){.name = name,
                           .state = b,
                           .begin_run = ref_begin_run,
                           .choose = ref_choose,
                           .free = ref_free};
    return 0;
}
