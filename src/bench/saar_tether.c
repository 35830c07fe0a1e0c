/* saar_tether.c - the `tether` rows of `bench saar`: tether's session
 * policy (session/policy.c) driven through the real request path (scanner,
 * request facts, session key, decision, policy) on every generated turn,
 * with a simulated router memory per session. See saar_tether.h.
 *
 * The decision engine (src/decision/) is not built yet, so the benchmark
 * config's two keyword decisions are matched here by a case-insensitive
 * substring test of the query against each decision's keyword signals, in
 * config order; a turn that matches neither is "unmatched" and goes through
 * the policy's inheritance rule. Identity is the x-session-id header (the
 * first source of SPEC §9.1), which every benchmark turn carries. */
#include "bench/saar_tether.h"
#include "config/global.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/hash.h"
#include "json/scan.h"
#include "request/request.h"
#include "session/policy.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The session policy keys the benchmark config sets. A key given to
 * saar_tether_policy_new_with replaces the entry of the same name.
 *
 * quality_gap_multiplier: 4 is the default this benchmark's tuning proposes
 * for the loader's table (SPEC 1.0; docs/sessions.md, "Benchmark tuning"),
 * set here explicitly until the table changes. quality_gaps is ordinary user
 * config: the model cards' quality differences, as an operator states them
 * for these three models (every downgrade loses the card difference; the
 * upgrade between the two cheap models, 0.25 $/1M apart, gains it; upgrades
 * into the 27x more expensive frontier model are left to the selector). The
 * other keys keep their SPEC defaults (the "tether" ones were measured and
 * kept: allow_downgrade, downgrade_savings_weight, inherit...). */
static const char *const bench_session_keys[] = {
    "idle_timeout_seconds: 300",
    "allow_downgrade: true",
    "downgrade_savings_weight: 0.10",
    "inherit_decision_when_unmatched: true",
    "quality_gap_multiplier: 4",
    "quality_gaps: [{decision: '*', from: qwen3-8b, to: qwen3-32b, value: 0.14}, "
    "{decision: '*', from: qwen3-32b, to: qwen3-8b, value: -0.14}, "
    "{decision: '*', from: frontier-reasoner, to: qwen3-32b, value: -0.16}, "
    "{decision: '*', from: frontier-reasoner, to: qwen3-8b, value: -0.30}]",
};

const char saar_tether_config_yaml[] =
    "version: v0.3\n"
    "providers:\n"
    "  defaults: {default_model: qwen3-8b}\n"
    "  models:\n"
    "    - name: qwen3-8b\n"
    "      pricing: {currency: USD, prompt_per_1m: 0.05, cached_input_per_1m: 0.01, "
    "completion_per_1m: 0.10}\n"
    "      backend_refs: [{endpoint: '127.0.0.1:9'}]\n"
    "    - name: qwen3-32b\n"
    "      pricing: {currency: USD, prompt_per_1m: 0.30, cached_input_per_1m: 0.06, "
    "completion_per_1m: 0.60}\n"
    "      backend_refs: [{endpoint: '127.0.0.1:9'}]\n"
    "    - name: frontier-reasoner\n"
    "      pricing: {currency: USD, prompt_per_1m: 8.00, cached_input_per_1m: 1.20, "
    "completion_per_1m: 24.00}\n"
    "      backend_refs: [{endpoint: '127.0.0.1:9'}]\n"
    "routing:\n"
    "  modelCards:\n"
    "    - {name: qwen3-8b, quality_score: 0.64}\n"
    "    - {name: qwen3-32b, quality_score: 0.78}\n"
    "    - {name: frontier-reasoner, quality_score: 0.94}\n"
    "  signals:\n"
    "    keywords:\n"
    "      - name: writing_terms\n"
    "        keywords: [poem, story, essay, haiku, novel, prose, toast, stanza, newsletter]\n"
    "      - name: code_terms\n"
    "        keywords: [test, build, function, compile, code, bug, refactor, struct, thread,\n"
    "                   makefile, parser, diff, leak]\n"
    "  decisions:\n"
    "    - name: writing\n"
    "      rules: {operator: OR, conditions: [{type: keyword, name: writing_terms}]}\n"
    "      modelRefs: [{model: qwen3-8b}, {model: qwen3-32b}, {model: frontier-reasoner}]\n"
    "    - name: coding\n"
    "      rules: {operator: OR, conditions: [{type: keyword, name: code_terms}]}\n"
    "      modelRefs: [{model: qwen3-8b}, {model: qwen3-32b}, {model: frontier-reasoner}]\n"
    "global:\n"
    "  router:\n"
    "    session: {%s}\n";

/* Simulated completion tokens per turn: the router learns them from usage,
 * which the benchmark does not report; 300 is the policy's own prior. */
#define SIM_COMPLETION_TOKENS 300

typedef struct sim_session {
    char id[32]; /* "" = empty slot */
    sess_state_t st;
} sim_session_t;

typedef struct tether_bench {
    cfg_t *cfg;
    unsigned ablations;
    const cfg_recipe_t *recipe;
    cfg_session_t *knobs; /* [n_decisions]: effective per decision, ablations applied */
    cfg_session_t global; /* global knobs, ablations applied */
    sess_model_price_t prices[SAAR_N_MODELS];
    int model_of_price[SAAR_N_MODELS]; /* config model -> saar model index */
    double prior;                      /* remaining-turn prior of the run, < 0 none */
    int cache_ttl_s;                   /* the simulated provider's prompt-cache lifetime */
    sim_session_t *sess;
    size_t cap; /* power of two */
    arena_t arena;
} tether_bench_t;

static int terr(char *err, size_t n, const char *msg, const char *detail)
{
    if (err && n) snprintf(err, n, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
    return -1;
}

static void apply_ablations(cfg_session_t *k, unsigned ab)
{
    if (ab & SAAR_TETHER_NO_TOOL_LOCK) k->tool_loop_hard_lock = false;
    if (ab & SAAR_TETHER_NO_STATE_LOCK) k->context_portability_hard_lock = false;
    if (ab & SAAR_TETHER_NO_DRIFT_RESET) k->decision_drift_reset = false;
    if (ab & SAAR_TETHER_NO_IDLE_RESET) k->idle_timeout_seconds = 0;
    if (ab & SAAR_TETHER_NO_PRICE_MULTIPLIER) k->max_cache_cost_multiplier = 1.0;
}

static void tb_free(void *p)
{
    tether_bench_t *b = p;
    if (!b) return;
    cfg_free(b->cfg);
    free(b->knobs);
    free(b->sess);
    arena_deinit(&b->arena);
    free(b);
}

static int tb_begin_run(void *p, const saar_run_info_t *info)
{
    tether_bench_t *b = p;
    b->prior = info->remaining_turn_prior > 0 ? info->remaining_turn_prior : -1;
    b->cache_ttl_s = info->idle_timeout_s > 0 ? info->idle_timeout_s : SAAR_IDLE_TIMEOUT_S;
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

/* Session record by id, created empty on first sight (NULL when full). */
static sess_state_t *session_get(tether_bench_t *b, const char *id, size_t len)
{
    if (len >= sizeof b->sess[0].id) len = sizeof b->sess[0].id - 1;
    size_t h = (size_t)hash_xxh64(id, len, 0);
    for (size_t i = 0; i < b->cap; i++) {
        sim_session_t *s = &b->sess[(h + i) & (b->cap - 1)];
        if (!s->id[0]) {
            memcpy(s->id, id, len);
            s->id[len] = 0;
            return &s->st;
        }
        if (strlen(s->id) == len && !memcmp(s->id, id, len)) return &s->st;
    }
    return NULL;
}

static bool contains_ci(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m && i + m <= n; i++) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == m) return true;
    }
    return false;
}

/* The first decision (config order) whose keyword leaves match the query;
 * -1 when none does. Stand-in for src/decision/ (see the file comment). */
int saar_tether_match_decision(const struct cfg_recipe *rc, const char *q, size_t qn)
{
    for (size_t d = 0; d < rc->n_decisions; d++) {
        const cfg_rule_t *r = &rc->decisions[d].rules;
        for (size_t i = 0; i < r->n_children; i++) {
            const cfg_signal_t *sig = r->children[i].signal;
            if (!sig || sig->family != CFG_SIG_KEYWORD) continue;
            for (size_t k = 0; k < sig->keywords.n; k++)
                if (contains_ci(q, qn, sig->keywords.v[k])) return (int)d;
        }
    }
    return -1;
}

/* Commit the served turn into the simulated memory (SPEC §9.8), with usage
 * by the fair cache rule. */
static void commit(sess_state_t *st, const sess_policy_out_t *o, double P, bool idle,
                   uint64_t now_ms)
{
    const char *m = o->model;
    uint64_t prompt = (uint64_t)P, cached = 0;
    bool same_model = st->last_model[0] && !strcmp(st->last_model, m);
    if (same_model && !idle) {
        const sess_model_stats_t *ms = NULL;
        for (int i = 0; i < SESS_MAX_MODELS; i++)
            if (!strcmp(st->models[i].model, m)) ms = &st->models[i];
        uint64_t prev = ms ? ms->last_prompt_tokens : 0;
        cached = prompt < prev ? prompt : prev;
    }
    if (st->last_model[0] && !same_model) st->switch_count++;
    /* per-model slot, most recently used first */
    int at = SESS_MAX_MODELS - 1;
    for (int i = 0; i < SESS_MAX_MODELS; i++)
        if (!st->models[i].model[0] || !strcmp(st->models[i].model, m)) {
            at = i;
            break;
        }
    sess_model_stats_t ms = st->models[at];
    if (strcmp(ms.model, m)) {
        memset(&ms, 0, sizeof ms);
        snprintf(ms.model, sizeof ms.model, "%s", m);
    }
    memmove(&st->models[1], &st->models[0], (size_t)at * sizeof st->models[0]);
    ms.turns++;
    ms.responses_with_usage++;
    if (cached) ms.responses_with_cached++;
    ms.prompt_tokens += prompt;
    ms.cached_tokens += cached;
    ms.completion_tokens += SIM_COMPLETION_TOKENS;
    ms.last_prompt_tokens = prompt;
    st->models[0] = ms;
    st->prompt_tokens += prompt;
    st->cached_tokens += cached;
    st->completion_tokens += SIM_COMPLETION_TOKENS;
    snprintf(st->last_model, sizeof st->last_model, "%s", m);
    snprintf(st->last_decision, sizeof st->last_decision, "%s", o->decision ? o->decision : "");
    snprintf(st->last_reason, sizeof st->last_reason, "%s", sess_reason_name(o->reason));
    sess_lock_kind_t lk = o->hard_lock == SESS_HARD_LOCK_TOOL_LOOP        ? SESS_LOCK_TOOL_LOOP
                          : o->hard_lock == SESS_HARD_LOCK_PROVIDER_STATE ? SESS_LOCK_PROVIDER_STATE
                                                                          : SESS_LOCK_NONE;
    sess_state_note_lock(st, lk, o->required_quality, st->turn_count);
    st->lock_kind = o->hard_lock == SESS_HARD_LOCK_TOOL_LOOP        ? SESS_LOCK_TOOL_LOOP
                    : o->hard_lock == SESS_HARD_LOCK_PROVIDER_STATE ? SESS_LOCK_PROVIDER_STATE
                                                                    : SESS_LOCK_NONE;
    st->lock_bindings = o->bindings;
    st->turn_count++;
    st->version++;
    if (!st->created_at_ms) st->created_at_ms = now_ms;
    st->last_seen_ms = st->last_started_at_ms = now_ms;
}

static int tb_choose(void *p, const saar_turn_ctx_t *ctx)
{
    tether_bench_t *b = p;
    arena_reset(&b->arena);
    jreq_t jr;
    if (jscan_request(ctx->body, ctx->body_len, &b->arena, &jr, NULL)) return -1;
    rq_header_t hs[8];
    size_t nh = ctx->n_headers;
    if (nh > sizeof hs / sizeof hs[0]) nh = sizeof hs / sizeof hs[0];
    for (size_t i = 0; i < nh; i++)
        hs[i] = (rq_header_t){ctx->headers[i].name, strlen(ctx->headers[i].name),
                              ctx->headers[i].value, strlen(ctx->headers[i].value)};
    rq_t *rq = rq_from_chat(&b->arena, ctx->body, ctx->body_len, &jr, hs, nh);
    if (!rq) return -1;

    sess_facts_t f = {0};
    sess_facts_from_rq(rq, &f);
    size_t idlen = 0;
    const char *id = rq_header(rq, "x-session-id", &idlen);
    f.has_identity = id && idlen > 0;
    sess_state_t *st = f.has_identity ? session_get(b, id, idlen) : NULL;
    if (f.has_identity && !st) return -1;

    size_t qn = 0;
    const char *q = rq_query(rq, &qn);
    int d = saar_tether_match_decision(b->recipe, q, qn);
    f.decision = d >= 0 ? b->recipe->decisions[d].name : NULL;
    f.decision_is_catch_all = d >= 0 && b->recipe->decisions[d].is_catch_all;
    f.last_decision_inheritable = false;
    for (size_t i = 0; st && i < b->recipe->n_decisions; i++)
        if (!strcmp(b->recipe->decisions[i].name, st->last_decision))
            f.last_decision_inheritable = true; /* no decision here has fast_response */
    f.current_available = true;
    f.default_model = b->cfg->providers.default_model;
    f.default_model_available = true;
    f.now_ms = ctx->clock_ms;
    /* Provider state with no session memory behind it: a serving router asks
     * its response store / chain index which model issued it; the benchmark
     * provider's tokens name the issuer ("tb1:<model>:..."), standing in for
     * that lookup. */
    char bound[SESS_NAME_MAX] = "";
    if (f.bindings && (!st || !st->last_model[0])) {
        const char *tok = memmem(ctx->body, ctx->body_len, SAAR_STATE_TOKEN_PREFIX,
                                 sizeof SAAR_STATE_TOKEN_PREFIX - 1);
        if (tok) {
            tok += sizeof SAAR_STATE_TOKEN_PREFIX - 1;
            size_t n = strcspn(tok, ":\"");
            if (n < sizeof bound) memcpy(bound, tok, n), bound[n] = 0;
            f.bound_model = bound;
        }
    }
    f.remaining_turn_prior = b->prior;

    bool inherited;
    const char *eff = sess_policy_resolve_decision(&b->global, st, &f, &inherited);
    const cfg_session_t *knobs = &b->global;
    for (size_t i = 0; eff && i < b->recipe->n_decisions; i++)
        if (!strcmp(b->recipe->decisions[i].name, eff)) knobs = &b->knobs[i];

    sess_candidate_t cands[SAAR_N_MODELS];
    int cand_model[SAAR_N_MODELS];
    size_t nc = 0;
    const cfg_decision_t *dec = NULL;
    for (size_t i = 0; eff && i < b->recipe->n_decisions; i++)
        if (!strcmp(b->recipe->decisions[i].name, eff)) dec = &b->recipe->decisions[i];
    if (!dec) dec = &b->recipe->decisions[b->recipe->n_decisions - 1];
    for (size_t r = 0; r < dec->n_model_refs && nc < SAAR_N_MODELS; r++) {
        int pi = -1;
        for (int k = 0; k < SAAR_N_MODELS; k++)
            if (!strcmp(b->prices[k].model, dec->model_refs[r].model)) pi = k;
        if (pi < 0) continue;
        int sm = b->model_of_price[pi];
        cands[nc] = (sess_candidate_t){.model = b->prices[pi].model,
                                       .base = ctx->base_scores[sm],
                                       .quality = b->prices[pi].quality,
                                       .pricing = b->prices[pi].pricing,
                                       .available = true,
                                       .admissible = true};
        cand_model[nc++] = sm;
    }
    sess_policy_in_t in = {knobs, st, &f, cands, nc, b->prices, SAAR_N_MODELS};
    sess_policy_out_t o = {0};
    if (sess_policy_decide(&in, &o) || o.verdict != SESS_VERDICT_OK) return -1;
    int chosen = -1;
    if (o.chosen >= 0)
        chosen = cand_model[o.chosen];
    else
        for (int k = 0; k < SAAR_N_MODELS; k++)
            if (!strcmp(b->prices[k].model, o.model)) chosen = b->model_of_price[k];
    if (chosen < 0) return -1;
    /* the provider's cache expires after the idle gap whatever the policy's knobs say */
    bool cache_expired = st && st->last_seen_ms &&
                         ctx->clock_ms - st->last_seen_ms >= (uint64_t)b->cache_ttl_s * 1000u;
    if (st) commit(st, &o, f.C, cache_expired, ctx->clock_ms);
    return chosen;
}

static sess_pricing_t pricing_of(const cfg_pricing_t *p)
{
    return (sess_pricing_t){.prompt_per_1m = p->prompt_per_1m,
                            .cached_input_per_1m = p->cached_input_per_1m,
                            .cache_write_per_1m = p->cache_write_per_1m,
                            .completion_per_1m = p->completion_per_1m,
                            .has_cache_write = p->has_cache_write,
                            .priced = p->has_prompt && p->has_completion};
}

int saar_tether_policy_new_with(saar_policy_t *out, unsigned ablations, const char *session_yaml,
                                char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    buf_t keys = BUF_INIT;
    size_t n_bench_keys = ablations & SAAR_TETHER_DEFAULTS
                              ? 0
                              : sizeof bench_session_keys / sizeof bench_session_keys[0];
    for (size_t i = 0; i < n_bench_keys; i++) {
        const char *kv = bench_session_keys[i];
        size_t klen = strcspn(kv, ":");
        bool overridden = false; /* the same key name in session_yaml */
        for (const char *p = session_yaml; p && *p && !overridden;) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t n2 = strcspn(p, ":");
            if (n2 == klen && !strncmp(p, kv, klen)) overridden = true;
            p += strcspn(p, ",");
        }
        if (overridden) continue;
        if (keys.len) buf_puts(&keys, ", ");
        buf_puts(&keys, kv);
    }
    if (session_yaml && *session_yaml) {
        if (keys.len) buf_puts(&keys, ", ");
        buf_puts(&keys, session_yaml);
    }
    size_t n = sizeof saar_tether_config_yaml + keys.len + 8;
    char *yaml = malloc(n);
    if (!yaml) abort();
    snprintf(yaml, n, saar_tether_config_yaml, keys.data ? keys.data : "");
    buf_free(&keys);
    cfg_diags_t dg;
    cfg_diags_init(&dg);
    cfg_t *cfg = cfg_load_string("bench-saar.yaml", yaml, strlen(yaml), NULL, &dg);
    free(yaml);
    if (!cfg) {
        buf_t m = BUF_INIT;
        for (size_t i = 0; i < dg.n; i++) {
            if (i) buf_puts(&m, "; ");
            cfg_diag_format(&m, &dg.items[i]);
        }
        terr(err, errlen, "benchmark config", m.data ? m.data : "invalid");
        buf_free(&m);
        cfg_diags_free(&dg);
        return -1;
    }
    cfg_diags_free(&dg);
    tether_bench_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->cfg = cfg;
    b->ablations = ablations;
    b->prior = -1;
    arena_init(&b->arena, 64 * 1024);
    b->recipe = cfg_find_recipe(cfg, "default");
    if (!b->recipe || !b->recipe->n_decisions || !cfg->global_ext) {
        tb_free(b);
        return terr(err, errlen, "benchmark config", "no decisions");
    }
    b->global = cfg->global_ext->session;
    apply_ablations(&b->global, ablations);
    b->knobs = calloc(b->recipe->n_decisions, sizeof *b->knobs);
    if (!b->knobs) abort();
    for (size_t i = 0; i < b->recipe->n_decisions; i++) {
        const cfg_decision_t *dd = &b->recipe->decisions[i];
        b->knobs[i] = dd->session ? *dd->session : cfg->global_ext->session;
        apply_ablations(&b->knobs[i], ablations);
    }
    if (cfg->providers.n_models != SAAR_N_MODELS) {
        tb_free(b);
        return terr(err, errlen, "benchmark config", "expected the three BENCH_SAAR models");
    }
    for (size_t i = 0; i < SAAR_N_MODELS; i++) {
        const cfg_model_t *m = &cfg->providers.models[i];
        const cfg_model_card_t *card = cfg_find_card(cfg, m->name);
        b->prices[i] = (sess_model_price_t){m->name, card ? card->quality_score : 0.5,
                                            pricing_of(&m->pricing)};
        b->model_of_price[i] = saar_model_index(m->name);
        if (b->model_of_price[i] < 0) {
            tb_free(b);
            return terr(err, errlen, "benchmark config: unknown model", m->name);
        }
    }
    *out = (saar_policy_t){.name = ablations & SAAR_TETHER_DEFAULTS ? "tether-defaults" : "tether",
                           .state = b,
                           .begin_run = tb_begin_run,
                           .choose = tb_choose,
                           .free = tb_free};
    return 0;
}

int saar_tether_policy_new(saar_policy_t *out, unsigned ablations, char *err, size_t errlen)
{
    return saar_tether_policy_new_with(out, ablations, NULL, err, errlen);
}
