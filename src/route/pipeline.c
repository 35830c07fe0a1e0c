/* pipeline.c - the routing pipeline: resolve -> identity -> memory ->
 * signals -> decisions -> selection -> session policy -> plan. See
 * pipeline.h. Every stage writes only its own part of the plan. */
#include "route/fetch.h"
#include "route/pipeline.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "select/health.h"
#include "signals/bank.h"
#include "signals/embedder.h"
#include "signals/similarity.h"
#include "session/outcomes.h"
#include "session/learned_redis.h"
#include "session/priors.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The loader always fills global.router.session with the SPEC §9.10
 * defaults (config/global_ext.c), so there is one source of defaults. */
static const cfg_session_t *global_knobs(const cfg_t *cfg)
{
    return &cfg->global_ext->session;
}

static int embed_adapter(void *ctx, const char *text, size_t len, float *out)
{
    return emb_embed(ctx, text, len, out) == EMB_OK ? 0 : -1;
}

/* On a worker: never a blocking call (route/fetch.h fetch_emb_vector). */
static int embed_nonblocking(void *ctx, const char *text, size_t len, float *out)
{
    return fetch_emb_vector(ctx, NULL, text, len, out);
}

bool route_embedder_nonblocking_of(const sig_engine_t *sig, sel_embedder_t *out)
{
    if (!route_embedder_of(sig, out)) return false;
    out->embed = embed_nonblocking;
    return true;
}

/* One request's view: its fetched vectors first (p->emb), then the LRU. */
typedef struct req_emb {
    emb_t *emb;
    const sig_emb_results_t *pre;
} req_emb_t;

static int embed_prefetched(void *ctx, const char *text, size_t len, float *out)
{
    const req_emb_t *r = ctx;
    return fetch_emb_vector(r->emb, r->pre, text, len, out);
}

/* router_dc's embedder for this request: on a worker (it has a fetch
 * client), never blocking: the request's fetched vectors, then the LRU.
 * Off the workers (eval API, tools) the embedder as given. */
static const sel_embedder_t *request_embedder(const route_env_t *env, const route_plan_t *p,
                                              arena_t *a)
{
    const sel_embedder_t *e = env->embedder;
    if (!e || !env->cls || (e->embed != embed_adapter && e->embed != embed_nonblocking)) return e;
    req_emb_t *c = arena_alloc(a, sizeof *c);
    c->emb = e->ctx;
    c->pre = &p->emb;
    sel_embedder_t *out = arena_alloc(a, sizeof *out);
    *out = (sel_embedder_t){.embed = embed_prefetched, .dim = e->dim, .ctx = c};
    return out;
}

bool route_embedder_of(const sig_engine_t *sig, sel_embedder_t *out)
{
    const sig_sim_t *sim = sig ? sig_sim_of(sig) : NULL;
    emb_t *e = sim ? sim->emb : NULL;
    if (!e) return false;
    out->embed = embed_adapter;
    out->dim = (size_t)emb_dims(e);
    out->ctx = e;
    return true;
}

/* A backend with weight, its credential, and not ejected nor failing its
 * health check (select/health.h). */
bool route_model_available(const cfg_model_t *m)
{
    return m && sel_health_model_up(m, clock_mono_ms());
}

static const cfg_decision_t *find_decision(const cfg_recipe_t *r, const char *name)
{
    if (!r || !name || !*name) return NULL;
    for (size_t i = 0; i < r->n_decisions; i++)
        if (!strcmp(r->decisions[i].name, name)) return &r->decisions[i];
    return NULL;
}

static bool has_fast_response(const cfg_decision_t *d)
{
    for (size_t i = 0; d && i < d->n_plugins; i++)
        if (d->plugins[i].type && !strcmp(d->plugins[i].type, "fast_response")) return true;
    return false;
}

static sess_pricing_t pricing_of(const cfg_model_t *m)
{
    sess_pricing_t p = {0};
    if (!m) return p;
    p.prompt_per_1m = m->pricing.prompt_per_1m;
    p.cached_input_per_1m = m->pricing.cached_input_per_1m;
    p.cache_write_per_1m = m->pricing.cache_write_per_1m;
    p.completion_per_1m = m->pricing.completion_per_1m;
    p.has_cache_write = m->pricing.has_cache_write;
    p.priced = m->pricing.has_prompt && m->pricing.has_completion;
    return p;
}

static double quality_of(const cfg_t *cfg, const char *model)
{
    const cfg_model_card_t *c = cfg->routing ? cfg_find_card(cfg, model) : NULL;
    return c ? c->quality_score : 0.5;
}

/* remaining_turn_priors: {decision: expected turns} */
static double remaining_prior(const cfg_session_t *k, const char *decision)
{
    if (!k->remaining_turn_priors || !decision || !*decision) return -1;
    if (k->remaining_turn_priors->kind != CFG_NODE_MAP) return -1;
    const cfg_node_t *v = cfg_node_get(k->remaining_turn_priors, decision);
    if (!v || v->kind != CFG_NODE_SCALAR || !v->str) return -1;
    char *end;
    double d = strtod(v->str, &end);
    return end != v->str && d >= 0 ? d : -1;
}

/* A configured prior wins; else the learned one (session/priors.h). */
static double effective_prior(const cfg_session_t *k, const char *decision)
{
    double r = remaining_prior(k, decision);
    if (r < 0 && k->learn_remaining_turn_priors)
        r = sess_priors_get(sess_priors_shared(), decision, k->min_remaining_turn_prior_samples);
    return r;
}

typedef struct route_run {
    const route_env_t *env;
    route_in_t in;
    arena_t *a;
    route_plan_t *plan;
    route_done_fn done;
    void *ud;
    int waiting; /* classifier and embedder fetches still running */
} route_run_t;

static void finish(route_run_t *r)
{
    r->plan->mark_us[4] = clock_mono_us();
    r->plan->routing_us = r->plan->mark_us[4] - r->plan->routing_us;
    r->done(r->ud, r->plan);
}

static void fail(route_run_t *r, route_status_t st, const char *code, const char *fmt,
                 const char *arg)
{
    r->plan->status = st;
    r->plan->error_code = code;
    snprintf(r->plan->error_message, sizeof r->plan->error_message, fmt, arg ? arg : "");
    finish(r);
}

/* Everything after memory is loaded: signals, decisions, selection, policy. */
static void stage_route(route_run_t *r)
{
    route_plan_t *p = r->plan;
    const cfg_t *cfg = r->in.cfg;
    rq_t *rq = r->in.rq;
    const sess_state_t *st = p->has_state ? &p->state : NULL;
    sess_facts_t *f = &p->facts;
    sess_facts_from_rq(rq, f);
    f->previous_response_stored = rq->previous_response_stored;
    f->has_identity = p->id.found;
    size_t aff_len = 0;
    const char *aff = rq_header(rq, "x-tether-session-affinity", &aff_len);
    f->affinity_off = aff && aff_len == 3 && !strncasecmp(aff, "off", 3);
    f->now_ms = r->in.now_ms;
    f->default_model = cfg->providers.default_model;
    f->default_model_available =
        f->default_model &&
        route_model_available(cfg_find_model(cfg, f->default_model, strlen(f->default_model)));
    f->remaining_turn_prior = -1;
    /* the current model: the signed issuer of the request's provider state,
     * else the session's last model (as the policy decides it) */
    const char *cur_name = st && st->last_model[0] ? st->last_model : NULL;
    if (f->bound_model_signed && ((f->bindings & RQ_BIND_PREVIOUS_RESPONSE_ID) ||
                                  (f->active_tool_loop && f->bound_by_tool_calls)))
        cur_name = f->bound_model;
    if (cur_name)
        f->current_available =
            route_model_available(cfg_find_model(cfg, cur_name, strlen(cur_name)));
    const cfg_session_t *knobs = global_knobs(cfg);

    if (p->passthrough) {
        f->passthrough = true;
        f->requested_model = p->model->name;
    } else {
        /* signals, projections, decisions */
        sig_env_t senv = {.user = r->in.key_user,
                          .groups = r->in.key_groups,
                          .n_groups = r->in.n_key_groups,
                          .key_name = r->in.key_name,
                          .team = r->in.key_team,
                          .metadata = r->in.key_metadata,
                          .n_metadata = r->in.n_key_metadata,
                          .cls = p->cls.n ? &p->cls : NULL,
                          .emb = p->emb.n ? &p->emb : NULL};
        if (st) {
            senv.has_session = true;
            senv.session_turns = st->turn_count;
            senv.session_switches = st->switch_count;
            senv.session_idle_seconds = st->last_seen_ms && r->in.now_ms > st->last_seen_ms
                                            ? (int64_t)((r->in.now_ms - st->last_seen_ms) / 1000)
                                            : 0;
        }
        memset(&p->sig, 0, sizeof p->sig);
        p->mark_us[1] = clock_mono_us();
        if (r->env->sig && p->recipe && p->recipe->n_signals) {
            /* on a worker a failed bank rebuilds from what the fetch asked
             * for, never through a call (signals/bank.h) */
            sig_bank_set_nonblocking(r->env->cls != NULL);
            sig_eval(r->env->sig, p->recipe, rq, &senv, r->a, &p->sig);
            sig_bank_set_nonblocking(false);
            p->ran_signals = true;
        }
        p->mark_us[2] = clock_mono_us();
        if (p->recipe) {
            dec_eval(cfg, p->recipe, &p->sig, r->a, &p->dec);
            p->ran_decision = true;
        } else {
            memset(&p->dec, 0, sizeof p->dec);
            p->dec.outcome = DEC_DEFAULT;
            p->dec.name = "";
            p->dec.algorithm = "static";
        }
        if (p->dec.outcome == DEC_FAIL)
            return fail(r, ROUTE_ERR_SIGNAL, "signal_unavailable",
                        "a signal this route depends on failed (%s)", p->dec.failed_leaf);
        const cfg_decision_t *matched = p->dec.decision;
        f->decision = p->dec.outcome == DEC_DEFAULT ? NULL : p->dec.name;
        f->decision_is_catch_all = p->dec.outcome == DEC_CATCH_ALL;
        const cfg_decision_t *last = st ? find_decision(p->recipe, st->last_decision) : NULL;
        f->last_decision_inheritable = last && !has_fast_response(last);
        if (matched && matched->session) knobs = matched->session;
        bool inherited = false;
        const char *eff = sess_policy_resolve_decision(knobs, st, f, &inherited);
        const cfg_decision_t *d = find_decision(p->recipe, eff);
        if (!d && p->dec.outcome == DEC_CATCH_ALL) d = matched;
        p->decision = d;
        p->decision_name = d ? d->name : "";
        p->confidence = inherited ? 0 : p->dec.confidence;
        if (d && d->session) knobs = d->session;
        if (d && d->has_retention) {
            f->keep_current_model = d->retention.keep_current_model;
            f->prefer_prefix_retention = d->retention.prefer_prefix_retention;
        }
        f->decision = d ? d->name : f->decision;
        f->remaining_turn_prior = effective_prior(knobs, p->decision_name);
    }

    /* candidates and base scores */
    if (p->passthrough) {
        p->n_cands = 1;
        p->cands = arena_calloc(r->a, sizeof *p->cands);
        p->cands[0].model = p->model->name;
        p->cands[0].base = 1;
        p->algorithm = "passthrough";
    } else if (p->decision) {
        sel_input_t si = {.cfg = cfg,
                          .decision = p->decision,
                          .session_key = p->id.found ? p->id.key : r->in.request_id,
                          .sig = p->ran_decision ? &p->dec.proj.sig : &p->sig,
                          .state = r->env->sel,
                          .embedder = request_embedder(r->env, p, r->a)};
        si.query = rq_query(rq, &si.query_len);
        if (sel_run(&si, r->a, &p->sel) != 0)
            return fail(r, ROUTE_ERR_SELECTION, "no_backend_available", "selection failed: %s",
                        p->sel.error);
        p->ran_selection = true;
        p->algorithm = p->sel.used ? p->sel.used : "static";
        p->n_cands = p->sel.n;
        p->cands = arena_calloc(r->a, (p->n_cands ? p->n_cands : 1) * sizeof *p->cands);
        for (size_t i = 0; i < p->n_cands; i++) {
            p->cands[i].model = p->sel.models[i];
            p->cands[i].base = p->sel.excluded && p->sel.excluded[i] ? 0 : p->sel.scores[i];
        }
    } else {
        const char *dm = cfg->providers.default_model;
        if (!dm)
            return fail(r, ROUTE_ERR_NO_DEFAULT, "no_backend_available",
                        "no decision matched and no default_model is configured%s", NULL);
        p->n_cands = 1;
        p->cands = arena_calloc(r->a, sizeof *p->cands);
        p->cands[0].model = dm;
        p->cands[0].base = 1;
        p->algorithm = "static";
    }
    const cfg_model_t *cur = cur_name ? cfg_find_model(cfg, cur_name, strlen(cur_name)) : NULL;
    for (size_t i = 0; i < p->n_cands; i++) {
        sess_candidate_t *c = &p->cands[i];
        const cfg_model_t *m = cfg_find_model(cfg, c->model, strlen(c->model));
        c->quality = quality_of(cfg, c->model);
        /* quality learned from outcomes (session/outcomes.h), bounded */
        c->learned_quality =
            sess_outcomes_adjust(sess_outcomes_shared(), p->decision_name, c->model,
                                 knobs->outcome_quality_bound, knobs->outcome_prior_weight, NULL);
        c->pricing = pricing_of(m);
        c->available = route_model_available(m);
        c->admissible = m != NULL;
        if (m && cur && f->bindings && m->api_format != cur->api_format) {
            /* provider-bound state restricts candidates to c's API format */
            c->admissible = false;
            c->excluded_reason = "api_format";
        }
    }
    size_t np = cfg->providers.n_models;
    sess_model_price_t *prices = arena_calloc(r->a, (np ? np : 1) * sizeof *prices);
    for (size_t i = 0; i < np; i++) {
        prices[i].model = cfg->providers.models[i].name;
        prices[i].quality = quality_of(cfg, prices[i].model);
        prices[i].pricing = pricing_of(&cfg->providers.models[i]);
    }
    p->terms = arena_calloc(r->a, (p->n_cands ? p->n_cands : 1) * sizeof *p->terms);
    sess_policy_in_t pin = {.knobs = knobs,
                            .state = st,
                            .facts = f,
                            .cands = p->cands,
                            .n_cands = p->n_cands,
                            .prices = prices,
                            .n_prices = np};
    memset(&p->pol, 0, sizeof p->pol);
    p->pol.terms = p->terms;
    p->knobs = knobs;
    p->prices = prices;
    p->n_prices = np;
    p->mark_us[3] = clock_mono_us();
    sess_policy_decide(&pin, &p->pol);
    p->ran_policy = true;
    if (p->pol.verdict == SESS_VERDICT_ERROR || !p->pol.model) {
        p->status = ROUTE_ERR_SESSION;
        p->error_code = p->pol.error_code ? p->pol.error_code : "session_model_unavailable";
        snprintf(p->error_message, sizeof p->error_message, "%s",
                 p->pol.error_message ? p->pol.error_message
                                      : "no model is available for this session");
        return finish(r);
    }
    const cfg_model_t *chosen = cfg_find_model(cfg, p->pol.model, strlen(p->pol.model));
    if (!chosen)
        return fail(r, ROUTE_ERR_SESSION, "session_model_unavailable",
                    "the session's model %s is not configured", p->pol.model);
    p->model = chosen;
    p->model_index = (size_t)(chosen - cfg->providers.models);
    p->status = ROUTE_OK;
    finish(r);
}

static void on_fetched(void *ud)
{
    route_run_t *r = ud;
    if (--r->waiting == 0) stage_route(r);
}

/* External classifiers the recipe names and the remote embedder's vectors
 * are fetched in parallel on the loop (signals/classify.h, embed_async.h)
 * under one signal_timeout; the rest continues when they all answered or
 * the deadline passed. */
static void stage_classify(route_run_t *r)
{
    route_plan_t *p = r->plan;
    if (!r->env->cls || p->passthrough || !r->env->sig) return stage_route(r);
    uint64_t deadline = r->in.cfg->router.limits.signal_timeout_ms;
    r->waiting = 1; /* held until both are started: neither calls back inline */
    if (fetch_classify(r->env->cls, r->env->sig, p->recipe, r->in.rq, deadline, r->a, &p->cls,
                       on_fetched, r))
        r->waiting++;
    if (fetch_embed(fetch_cls_client_emb(r->env->cls), r->env->sig, p->recipe, r->in.rq, deadline,
                    r->a, &p->emb, on_fetched, r))
        r->waiting++;
    on_fetched(r);
}

static void on_state(void *ud, int status, const sess_state_t *s)
{
    route_run_t *r = ud;
    if (status == SESS_OK && s) {
        r->plan->has_state = true;
        r->plan->state = *s;
    }
    stage_classify(r);
}

static void on_identity(void *ud, const sess_identity_t *id)
{
    route_run_t *r = ud;
    r->plan->id = *id;
    if (id->found && r->env->store) {
        sess_store_get(r->env->store, id->key, on_state, r);
        return;
    }
    stage_classify(r);
}

void route_decide(const route_env_t *env, const route_in_t *in, arena_t *a, route_plan_t *plan,
                  route_done_fn done, void *ud)
{
    memset(plan, 0, sizeof *plan);
    plan->routing_us = clock_mono_us();
    plan->mark_us[0] = plan->routing_us;
    plan->started_ms = in->now_ms;
    plan->decision_name = "";
    route_run_t *r = arena_calloc(a, sizeof *r);
    r->env = env;
    r->in = *in;
    r->a = a;
    r->plan = plan;
    r->done = done;
    r->ud = ud;
    const cfg_t *cfg = in->cfg;
    const char *name = in->rq->model ? in->rq->model : "";
    size_t nl = strlen(name);
    const cfg_model_t *m = NULL;
    if (cfg_is_auto_name(cfg, name, nl)) {
        plan->recipe = cfg->routing && cfg->routing->n_recipes ? &cfg->routing->recipes[0] : NULL;
        plan->recipe_name = "default";
    } else if (cfg->routing && (plan->recipe = cfg_recipe_for_model(cfg, name, nl))) {
        plan->recipe_name = plan->recipe->name;
    } else if ((m = cfg_find_model(cfg, name, nl))) {
        plan->passthrough = true;
        plan->model = m;
        plan->model_index = (size_t)(m - cfg->providers.models);
    } else {
        return fail(r, ROUTE_ERR_MODEL_NOT_FOUND, "model_not_found", "%s", name);
    }
    const cfg_session_t *knobs = global_knobs(cfg);
    if (in->no_session || !knobs->enabled) {
        stage_classify(r);
        return;
    }
    if (in->seed_state || in->seed_session_key) {
        plan->id.found = in->seed_session_key != NULL;
        if (in->seed_session_key)
            snprintf(plan->id.key, sizeof plan->id.key, "%s", in->seed_session_key);
        plan->id.source = "seed";
        if (in->seed_state) {
            plan->has_state = true;
            plan->state = *in->seed_state;
        }
        stage_classify(r);
        return;
    }
    sess_identity_in_t ii = {
        .cfg = knobs,
        .tenant = {.key_tenant = in->key_tenant,
                   .trust_identity_headers =
                       cfg->global_ext && cfg->global_ext->services.authz.trust_identity_headers},
        .request_id = in->request_id,
        .store = env->store};
    sess_identity_resolve(&ii, in->rq, on_identity, r);
}

typedef struct commit_wait {
    void (*done)(void *ud);
    void *ud;
    bool on_heap; /* no arena was given */
} commit_wait_t;

static void on_committed(void *ud, int status, const sess_commit_result_t *res,
                         const sess_state_t *after)
{
    commit_wait_t w = *(commit_wait_t *)ud;
    if (w.on_heap) free(ud);
    if (status != SESS_OK) tlog(TLOG_WARN, "session_commit_failed", "\"status\":%d", status);
    if (w.done) w.done(w.ud);
}

void route_commit(const route_env_t *env, const route_in_t *in, const route_plan_t *p,
                  const char *backend, const char *trace_id, arena_t *a, void (*done)(void *ud),
                  void *ud)
{
    if (!env->store || !p->id.found || in->seed_state || in->seed_session_key || !p->model) {
        if (done) done(ud);
        return;
    }
    sess_outcome_t o = {0};
    o.expected_version = p->has_state ? p->state.version : 0;
    o.started_at_ms = p->started_ms;
    o.now_ms = clock_wall_ms();
    o.model = p->model->name;
    o.backend = backend;
    o.decision = p->decision_name;
    o.lock_kind = p->facts.active_tool_loop ? SESS_LOCK_TOOL_LOOP
                  : p->facts.bindings       ? SESS_LOCK_PROVIDER_STATE
                                            : SESS_LOCK_NONE;
    o.lock_bindings = p->facts.bindings;
    o.lock_since_turn = p->has_state ? p->state.turn_count : 0;
    o.required_quality = p->ran_policy ? p->pol.required_quality : 0;
    o.opener = p->id.opener;
    o.trace_id = trace_id;
    o.reason = p->ran_policy ? sess_reason_name(p->pol.reason) : "no_session";
    /* learned remaining-turn priors: the length this session reached in
     * this decision (after this turn) */
    int64_t turns = (p->has_state ? p->state.turn_count : 0) + 1;
    uint64_t key_hash = hash_xxh64(p->id.key, strlen(p->id.key), 0); /* once for both */
    if (*p->id.key)
        sess_priors_observe_hash(sess_priors_shared(), p->decision_name, key_hash, turns);
    /* shared sessions: into the window every replica reads (learned_redis.h) */
    if (p->decision_name && *p->decision_name)
        sess_learned_redis_push_prior(sess_learned_redis_shared(), p->decision_name, key_hash,
                                      turns);
    /* the opener goes in with the commit (ordered on the same connection, so
     * it is stored when the commit is acknowledged): the next turn on another
     * replica finds the session through it even if the end-of-turn chain
     * index, which needs the reply, is still on its way */
    if (p->id.has_chain && p->id.opener)
        sess_store_opener_put(env->store, p->id.opener, p->id.key, NULL, NULL);
    commit_wait_t *w = a ? arena_alloc(a, sizeof *w) : malloc(sizeof *w);
    if (!w) abort();
    w->done = done;
    w->ud = ud;
    w->on_heap = !a;
    sess_store_commit(env->store, p->id.key, &o, on_committed, w);
}

void route_finish(const route_env_t *env, const route_plan_t *p, const sess_usage_t *usage,
                  const char *reply_text, size_t reply_len)
{
    if (!env->store || !p->id.found || !p->model) return;
    if (usage && usage->has_usage)
        sess_store_add_usage(env->store, p->id.key, p->model->name, usage, clock_wall_ms(), NULL,
                             NULL);
    sess_identity_index_turn(env->store, &p->id, reply_text, reply_len, NULL, 0, NULL, NULL);
}
