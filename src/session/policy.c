/* policy.c - the session policy (SPEC §9.3-§9.7): hard locks, resets,
 * decision inheritance, switch economics and forced handoff, as one pure
 * function over (knobs, memory, request facts, candidates, price table,
 * clock). It never reads a clock, a store or a socket; the route pipeline
 * and `bench saar` call it the same way. See policy.h for the contract and
 * docs/sessions.md for how to read the trace. */
#include "session/policy.h"
#include "session/policy_start.h"
#include "request/request.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sess_reason_names[SESS_REASON__N] = {
    "cold_start",
    "stay_best_adjusted",
    "switch_allowed",
    "hard_lock_tool_loop",
    "hard_lock_provider_state",
    "hard_lock_min_turns",
    "idle_reset",
    "drift_reset",
    "forced_handoff",
    "passthrough",
    "no_session",
};

const char *sess_reason_name(sess_reason_t r)
{
    return (unsigned)r < SESS_REASON__N ? sess_reason_names[r] : "unknown";
}

const char *sess_phase_name(sess_phase_t p)
{
    static const char *const n[] = {"none", "user_turn", "tool_loop", "provider_state"};
    return (unsigned)p < 4 ? n[p] : "unknown";
}

const char *sess_hard_lock_name(sess_hard_lock_t k)
{
    static const char *const n[] = {"none", "tool_loop", "provider_state", "min_turns"};
    return (unsigned)k < 4 ? n[k] : "unknown";
}

const char *sess_conversion_name(sess_conversion_t c)
{
    static const char *const n[] = {
        "expand_response_chain",   "drop_encrypted_reasoning", "drop_signed_thinking",
        "drop_thought_signatures", "keep_reasoning_summaries", "rewrite_tool_call_ids",
        "tool_loop_as_history",
    };
    return (unsigned)c < sizeof n / sizeof n[0] ? n[c] : "unknown";
}

sess_mode_t sess_mode_of(const char *m)
{
    if (m && !strcmp(m, "observe_only")) return SESS_MODE_OBSERVE;
    if (m && !strcmp(m, "bypass")) return SESS_MODE_BYPASS;
    return SESS_MODE_ENFORCE;
}

const char *sess_mode_name(sess_mode_t m)
{
    return m == SESS_MODE_OBSERVE ? "observe_only" : m == SESS_MODE_BYPASS ? "bypass" : "enforce";
}

static bool nonempty(const char *s)
{
    return s && *s;
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* ---- lookups ------------------------------------------------------------ */

static const sess_model_stats_t *stats_of(const sess_state_t *s, const char *model)
{
    if (!s || !nonempty(model)) return NULL;
    for (int i = 0; i < SESS_MAX_MODELS; i++)
        if (s->models[i].model[0] && !strcmp(s->models[i].model, model)) return &s->models[i];
    return NULL;
}

static const sess_model_price_t *price_of(const sess_policy_in_t *in, const char *model)
{
    for (size_t i = 0; model && i < in->n_prices; i++)
        if (same(in->prices[i].model, model)) return &in->prices[i];
    return NULL;
}

static int cand_index(const sess_policy_in_t *in, const char *model)
{
    for (size_t i = 0; model && i < in->n_cands; i++)
        if (same(in->cands[i].model, model)) return (int)i;
    return -1;
}

static const char *node_str(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *n = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    return n && n->kind == CFG_NODE_SCALAR ? n->str : NULL;
}

static bool node_num(const cfg_node_t *map, const char *key, double *out)
{
    const char *s = node_str(map, key);
    if (!s) return false;
    char *end;
    double v = strtod(s, &end);
    if (end == s) return false;
    *out = v;
    return true;
}

/* QG(c→m) from the table: the decision's entry, then "*"; false when
 * neither exists (*v = 0). */
static bool quality_gap_entry(const cfg_session_t *k, const char *decision, const char *c,
                              const char *m, double *v)
{
    *v = 0;
    const cfg_node_t *seq = k->quality_gaps;
    if (!seq || seq->kind != CFG_NODE_SEQ) return false;
    double star = 0;
    bool have_star = false;
    for (size_t i = 0; i < seq->n; i++) {
        const cfg_node_t *e = seq->items[i];
        if (!same(node_str(e, "from"), c) || !same(node_str(e, "to"), m)) continue;
        double x;
        if (!node_num(e, "value", &x)) continue;
        const char *d = node_str(e, "decision");
        if (nonempty(decision) && same(d, decision)) {
            *v = x;
            return true;
        }
        if ((!d || !strcmp(d, "*")) && !have_star) star = x, have_star = true;
    }
    *v = star;
    return have_star;
}

/* HP(c→m): the configured pair, else default_handoff_penalty. */
static double handoff_penalty(const cfg_session_t *k, const char *c, const char *m)
{
    const cfg_node_t *seq = k->handoff_penalties;
    for (size_t i = 0; seq && seq->kind == CFG_NODE_SEQ && i < seq->n; i++) {
        const cfg_node_t *e = seq->items[i];
        double v;
        if (same(node_str(e, "from"), c) && same(node_str(e, "to"), m) && node_num(e, "value", &v))
            return v;
    }
    return k->default_handoff_penalty;
}

/* ---- prices: checkout, P(x), K(a,b), E(x) ------------------------------ */

static double checkout(const sess_pricing_t *p)
{
    if (p->has_cache_write) return p->cache_write_per_1m;
    double v = p->prompt_per_1m - p->cached_input_per_1m;
    return v > 0 ? v : 0;
}

static double max_checkout(const sess_policy_in_t *in)
{
    double mx = 0;
    for (size_t i = 0; i < in->n_prices; i++)
        if (in->prices[i].pricing.priced && checkout(&in->prices[i].pricing) > mx)
            mx = checkout(&in->prices[i].pricing);
    for (size_t i = 0; i < in->n_cands; i++)
        if (in->cands[i].pricing.priced && checkout(&in->cands[i].pricing) > mx)
            mx = checkout(&in->cands[i].pricing);
    return mx;
}

/* P(x) in [0,1]; unpriced: quality_score, else 0.5. */
static double price_level(const sess_pricing_t *p, double quality, bool has_quality, double mx)
{
    if (p && p->priced && mx > 0) return clamp01(checkout(p) / mx);
    return has_quality ? clamp01(quality) : 0.5;
}

typedef struct model_view {
    const sess_pricing_t *pricing; /* NULL when unknown */
    double quality;
    bool has_quality;
    double P;
} model_view_t;

static model_view_t view_model(const sess_policy_in_t *in, const char *name, double mx)
{
    model_view_t v = {0};
    int ci = cand_index(in, name);
    const sess_model_price_t *pt = price_of(in, name);
    if (ci >= 0) {
        v.pricing = &in->cands[ci].pricing;
        v.quality = in->cands[ci].quality, v.has_quality = true;
    } else if (pt) {
        v.pricing = &pt->pricing;
        v.quality = pt->quality, v.has_quality = true;
    }
    if (pt && (!v.pricing || !v.pricing->priced)) v.pricing = &pt->pricing;
    v.P = price_level(v.pricing, v.quality, v.has_quality, mx);
    return v;
}

static double k_mult(const cfg_session_t *k, double Pa, double Pb)
{
    return 1.0 + (k->max_cache_cost_multiplier - 1.0) * (Pa > Pb ? Pa : Pb);
}

/* ---- resets, locks -------------------------------------------------------- */

static bool idle_applies(const cfg_session_t *k, const sess_state_t *s, uint64_t now_ms,
                         double *idle_for_s)
{
    *idle_for_s = -1;
    if (!s || !s->last_seen_ms) return false;
    *idle_for_s = now_ms >= s->last_seen_ms ? (double)(now_ms - s->last_seen_ms) / 1000.0 : 0;
    return k->idle_timeout_seconds > 0 && *idle_for_s >= (double)k->idle_timeout_seconds;
}

const char *sess_policy_resolve_decision(const cfg_session_t *k, const sess_state_t *s,
                                         const sess_facts_t *f, bool *inherited)
{
    *inherited = false;
    double idle_for;
    bool unmatched = !nonempty(f->decision) || f->decision_is_catch_all;
    if (k->inherit_decision_when_unmatched && unmatched && s && nonempty(s->last_decision) &&
        f->last_decision_inheritable && !idle_applies(k, s, f->now_ms, &idle_for)) {
        *inherited = true;
        return s->last_decision;
    }
    return f->decision;
}

/* Bindings that lock on provider state (tool_call_id_format excluded: it
 * removes candidates instead). */
static unsigned locking_bindings(const cfg_session_t *k, const sess_facts_t *f)
{
    unsigned b = f->bindings & ~(unsigned)RQ_BIND_TOOL_CALL_ID_FORMAT;
    if ((b & RQ_BIND_PREVIOUS_RESPONSE_ID) && f->previous_response_stored &&
        k->treat_stored_chains_as_portable)
        b &= ~(unsigned)RQ_BIND_PREVIOUS_RESPONSE_ID;
    return b;
}

/* ---- forced handoff -------------------------------------------------------- */

static void add_conv(sess_handoff_t *h, sess_conversion_t c)
{
    if (h->n_conversions < SESS_MAX_CONVERSIONS) h->conversions[h->n_conversions++] = c;
}

void sess_handoff_plan(const cfg_session_t *k, const sess_facts_t *f, const char *from,
                       const char *to, sess_handoff_t *h)
{
    memset(h, 0, sizeof *h);
    h->from = from, h->to = to;
    unsigned b = f->bindings;
    if (!k->handoff_on_unavailable) {
        h->impossible_why = "handoff_on_unavailable is off";
        return;
    }
    if ((b & RQ_BIND_PREVIOUS_RESPONSE_ID) && !f->previous_response_stored) {
        h->blocking_binding = RQ_BIND_PREVIOUS_RESPONSE_ID;
        h->impossible_why = "previous_response_id is native to the unavailable model's provider "
                            "or unknown to tether, so its conversation cannot be expanded";
        return;
    }
    if (b & RQ_BIND_SERVER_TOOL_STATE) {
        h->blocking_binding = RQ_BIND_SERVER_TOOL_STATE;
        h->impossible_why = "the request depends on server-side tool state (containers, built-in "
                            "tool items) held by the unavailable model's provider";
        return;
    }
    if (!nonempty(to)) {
        h->impossible_why = "no admissible model with a healthy backend to hand the session to";
        return;
    }
    h->possible = true;
    if (b & RQ_BIND_PREVIOUS_RESPONSE_ID) add_conv(h, SESS_CONV_EXPAND_RESPONSE_CHAIN);
    if (b & RQ_BIND_ENCRYPTED_REASONING) add_conv(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
    if (b & RQ_BIND_SIGNED_THINKING) add_conv(h, SESS_CONV_DROP_SIGNED_THINKING);
    if (b & RQ_BIND_THOUGHT_SIGNATURE) add_conv(h, SESS_CONV_DROP_THOUGHT_SIGNATURES);
    if ((b & (RQ_BIND_ENCRYPTED_REASONING | RQ_BIND_SIGNED_THINKING)) &&
        k->handoff_keep_reasoning_summaries)
        add_conv(h, SESS_CONV_KEEP_REASONING_SUMMARIES);
    if ((b & RQ_BIND_TOOL_CALL_ID_FORMAT) || f->active_tool_loop)
        add_conv(h, SESS_CONV_REWRITE_TOOL_CALL_IDS);
    if (f->active_tool_loop) add_conv(h, SESS_CONV_TOOL_LOOP_AS_HISTORY);
}

/* ---- the procedure ----------------------------------------------------------- */

static void set_error(sess_policy_out_t *o, const char *code, const char *msg, unsigned binding)
{
    o->verdict = SESS_VERDICT_ERROR;
    o->chosen = -1;
    o->model = NULL;
    o->error_code = code;
    o->error_message = msg;
    o->error_binding = binding;
}

static void choose(sess_policy_out_t *o, const sess_policy_in_t *in, int idx, const char *model)
{
    o->verdict = SESS_VERDICT_OK;
    o->chosen = idx;
    o->model = idx >= 0 ? in->cands[idx].model : model;
    o->switched = o->previous_model && o->model && strcmp(o->previous_model, o->model);
}

/* Best candidate by B among admissible (when need_admissible) and available
 * ones, ties to modelRefs order; exclude: a model name to skip. -1: none. */
static int best_by_base(const sess_policy_in_t *in, bool need_admissible, const char *exclude)
{
    int best = -1;
    for (size_t i = 0; i < in->n_cands; i++) {
        const sess_candidate_t *c = &in->cands[i];
        if (!c->available || (need_admissible && !c->admissible) || same(c->model, exclude))
            continue;
        if (best < 0 || c->base > in->cands[best].base) best = (int)i;
    }
    return best;
}

static void forced_handoff(const sess_policy_in_t *in, sess_policy_out_t *o, const char *c)
{
    const cfg_session_t *k = in->knobs;
    const sess_facts_t *f = in->facts;
    int t = best_by_base(in, true, c);
    const char *to = t >= 0 ? in->cands[t].model : NULL;
    if (!to && f->default_model_available && nonempty(f->default_model) &&
        !same(f->default_model, c))
        to = f->default_model;
    o->has_handoff = true;
    sess_handoff_plan(k, f, c, to, &o->handoff);
    o->reason = SESS_REASON_FORCED_HANDOFF;
    if (!o->handoff.possible) {
        set_error(o, "session_model_unavailable", o->handoff.impossible_why,
                  o->handoff.blocking_binding);
        return;
    }
    choose(o, in, t >= 0 ? t : cand_index(in, to), to);
}

static void fill_unscored_terms(const sess_policy_in_t *in, sess_policy_out_t *o, const char *c)
{
    for (size_t i = 0; o->terms && i < in->n_cands; i++) {
        o->terms[i] = (sess_terms_t){.base = in->cands[i].base,
                                     .final = in->cands[i].base,
                                     .is_current = same(in->cands[i].model, c)};
    }
}

/* The quality the turn asks for: the card quality of the admissible
 * candidate with the top B (ties to modelRefs order). */
static double required_quality(const sess_policy_in_t *in, bool *have)
{
    int top = -1;
    for (size_t i = 0; i < in->n_cands; i++)
        if (in->cands[i].admissible && (top < 0 || in->cands[i].base > in->cands[top].base))
            top = (int)i;
    *have = top >= 0;
    return top >= 0 ? in->cands[top].quality + in->cands[top].learned_quality : 0;
}

/* Whether the session's lock trajectory predicts a lock episode on the turn
 * after turn T: after one episode, any turn may start the next (period
 * unknown); after two, the turn that completes the last period. */
static bool lock_next(const sess_state_t *s, uint32_t T)
{
    if (!s->lock_episodes || !(s->lock_required_quality > 0)) return false;
    if (s->lock_episodes == 1 || !s->lock_episode_period) return true;
    uint32_t next = T + 1;
    return next > s->lock_episode_turn &&
           (next - s->lock_episode_turn) % s->lock_episode_period == 0;
}

/* A QG derived from the cards: how much of the required quality c falls
 * short of, minus how much m does. Positive: m serves the turn better;
 * negative: leaving c would under-serve it. Over-serving counts nothing
 * (its price is the downgrade credit's business). */
static double card_gap(double req, double qc, double qm)
{
    return fmax(0.0, req - qc) - fmax(0.0, req - qm);
}

/* §9.5 scoring over the admissible candidates; returns the winner's index
 * (ties to c, then modelRefs order), or -1 when nothing is admissible. */
static int score(const sess_policy_in_t *in, sess_policy_out_t *o, const char *c, bool reset,
                 bool tool_loop_unlocked, double *S)
{
    const cfg_session_t *k = in->knobs;
    const sess_facts_t *f = in->facts;
    const sess_state_t *s = in->state;
    double N = reset ? 0.0 : 1.0, L = tool_loop_unlocked ? 1.0 : 0.0;
    double T = o->T;

    /* M: continuation mass, with the remaining-turn prior. */
    double Cq = f->C > 1 ? f->C : 1;
    double M0 = clamp01(0.45 * fmin(1.0, f->H / Cq) + 0.35 * fmin(1.0, f->H / 8192.0) +
                        0.20 * fmin(1.0, T / 8.0));
    double M = M0;
    if (f->remaining_turn_prior >= 0 && k->remaining_turn_prior_horizon > 0) {
        double pm = clamp01((f->remaining_turn_prior - T) / k->remaining_turn_prior_horizon);
        M = clamp01(M0 + fmax(0.0, pm - M0) * k->remaining_turn_prior_weight);
    }
    /* W: cache warmth of c. */
    const sess_model_stats_t *cs = stats_of(s, c);
    double W = 0.5;
    if (cs && cs->turns > 0) {
        double kappa = cs->responses_with_usage >= 16 && cs->responses_with_cached == 0 ? 0.25 : 1;
        W = clamp01((double)cs->last_prompt_tokens / Cq) * kappa;
    }
    if (reset) W *= k->reset_warmth_factor;
    o->continuation_mass = M;
    o->cache_warmth = W;

    double wp = k->prefix_cache_weight * (f->prefer_prefix_retention ? 2.0 : 1.0);
    double mx = max_checkout(in);
    model_view_t cv = view_model(in, c, mx);
    int ci = cand_index(in, c);
    bool c_scored = ci >= 0 && in->cands[ci].admissible;
    double Bc = c_scored ? in->cands[ci].base : -INFINITY;

    /* E(x) with the session's mean prompt/completion tokens. */
    double Pbar = 2000, Cbar = 300;
    if (s && s->turn_count > 0 && s->prompt_tokens > 0) {
        Pbar = (double)s->prompt_tokens / s->turn_count;
        Cbar = (double)s->completion_tokens / s->turn_count;
    }
    bool c_priced = cv.pricing && cv.pricing->priced;
    double Ec =
        c_priced ? Pbar * cv.pricing->prompt_per_1m + Cbar * cv.pricing->completion_per_1m : 0;
    double hist = k->switch_history_weight * fmin((s ? s->switch_count : 0) / 8.0, 1.0);
    /* the turn's required quality: the card quality of the selector's top pick */
    bool have_req = false;
    double req = required_quality(in, &have_req);
    /* the trajectory: a lock predicted for the next turn holds the model chosen now, so the
     * turn asks for what the session's locks have asked for */
    if (have_req && s && lock_next(s, o->T) && s->lock_required_quality > req &&
        k->lock_escalation_weight > 0) {
        o->lock_predicted = true;
        o->lock_escalation = k->lock_escalation_weight * (s->lock_required_quality - req);
        req += o->lock_escalation;
    }
    double cv_learned = ci >= 0 ? in->cands[ci].learned_quality : 0;
    /* an operator's quality_gaps table replaces the derived gaps altogether */
    bool derive = sess_policy_derived_gaps(k) && have_req;
    /* the session's age: entering a dearer model costs its uncached prompt of the whole history,
     * which grows with every turn, so the upgrade discount grows with T */
    double age = k->upgrade_age_turns > 0 ? 1.0 + T / k->upgrade_age_turns : 1.0;
    bool step_down = derive && k->allow_downgrade && k->step_down_after_turns > 0 &&
                     T >= (double)k->step_down_after_turns;

    int best = -1;
    for (size_t i = 0; i < in->n_cands; i++) {
        const sess_candidate_t *m = &in->cands[i];
        sess_terms_t t = {.base = m->base, .is_current = (int)i == ci};
        if (!m->admissible) {
            t.final = -INFINITY;
            S[i] = -INFINITY;
            if (o->terms) o->terms[i] = t;
            continue;
        }
        t.scored = true;
        if ((int)i == ci) {
            t.checkout_multiplier = k_mult(k, cv.P, cv.P);
            t.stay_bias = N * k->stay_bias;
            t.prefix_benefit = N * wp * M * W * t.checkout_multiplier;
            t.tool_loop_term = L * k->tool_loop_stay_bias;
            t.final = m->base + t.stay_bias + t.prefix_benefit + t.tool_loop_term;
        } else {
            model_view_t mv = view_model(in, m->model, mx);
            double qg;
            if (quality_gap_entry(k, o->decision, c, m->model, &qg))
                t.quality_gap = k->quality_gap_multiplier * qg;
            else if (derive) {
                double qm = m->quality + m->learned_quality;
                t.learned_quality = m->learned_quality;
                qg = card_gap(req, cv.quality + cv_learned, qm);
                /* an upgrade is worth less the dearer its target is and the older the session
                 * is; past its gain it costs (at most the gain itself) */
                if (qg > 0) qg *= fmax(-1.0, 1.0 - k->card_gap_price_discount * mv.P * age);
                /* leaving a better model loses its quality for the predicted rest (M) */
                if (qm < cv.quality + cv_learned)
                    qg -= k->card_gap_keep_weight * (cv.quality + cv_learned - qm) * M;
                t.quality_gap = k->card_quality_gap_weight * qg;
            }
            if (k->allow_downgrade && !reset && m->base >= Bc && c_priced && m->pricing.priced &&
                Ec > 0) {
                double Em = Pbar * m->pricing.prompt_per_1m + Cbar * m->pricing.completion_per_1m;
                t.downgrade_credit = k->downgrade_savings_weight * fmax(0.0, 1.0 - Em / Ec);
            }
            /* an older session steps down to a cheaper model that meets the turn's quality */
            if (step_down && mv.P < cv.P && m->quality + m->learned_quality >= req)
                t.downgrade_credit += k->step_down_weight * (cv.P - mv.P);
            t.checkout_multiplier = k_mult(k, cv.P, mv.P);
            t.handoff_penalty = N * k->handoff_penalty_weight * handoff_penalty(k, c, m->model);
            t.prefix_penalty = N * wp * M * W * t.checkout_multiplier;
            t.history_penalty = N * hist;
            t.switch_margin = N * k->switch_margin;
            t.tool_loop_term = -L * k->tool_loop_stay_bias;
            t.stay_bias = (m->base <= Bc && qg <= 0) ? -N * k->stay_bias : 0;
            t.final = m->base + t.quality_gap + t.downgrade_credit - t.handoff_penalty -
                      t.prefix_penalty - t.history_penalty - t.switch_margin + t.tool_loop_term +
                      t.stay_bias;
        }
        S[i] = t.final;
        if (o->terms) o->terms[i] = t;
        /* ties: c first, then modelRefs order (the earlier index stays) */
        if (best < 0 || S[i] > S[best] || (S[i] == S[best] && (int)i == ci)) best = (int)i;
    }
    if (o->terms && c_scored)
        for (size_t i = 0; i < in->n_cands; i++)
            if ((int)i != ci && o->terms[i].scored) o->terms[i].net_switch_advantage = S[i] - S[ci];
    return best;
}

/* Step 2's choice, also the per-request routing of observe_only and bypass:
 * the best admissible available candidate by B (any available one when
 * none is admissible); fallback when a better-scored one is down. */
static void plain_choice(const sess_policy_in_t *in, sess_policy_out_t *o)
{
    int top = best_by_base(in, true, NULL), top_any = best_by_base(in, false, NULL);
    if (top < 0) top = top_any;
    if (top < 0) {
        set_error(o, "no_available_model", "no candidate model has a healthy backend", 0);
        return;
    }
    for (size_t i = 0; i < in->n_cands; i++)
        if (in->cands[i].admissible && in->cands[i].base > in->cands[top].base) o->fallback = true;
    choose(o, in, top, NULL);
}

static int decide_enforced(const sess_policy_in_t *in, sess_policy_out_t *o);

int sess_policy_decide(const sess_policy_in_t *in, sess_policy_out_t *o)
{
    if (!in || !in->knobs || !in->facts || !o || (in->n_cands && !in->cands)) return -1;
    sess_mode_t mode = sess_mode_of(in->knobs->mode);
    const sess_facts_t *f = in->facts;
    bool session = f->has_identity && !f->affinity_off && !f->passthrough;
    if (mode == SESS_MODE_ENFORCE || !session) {
        int rc = decide_enforced(in, o);
        o->mode = mode;
        o->verdict_model = o->model;
        return rc;
    }
    if (mode == SESS_MODE_BYPASS) {
        /* step 2 for a session the decision exempts: no locks, no memory terms */
        sess_terms_t *terms = o->terms;
        memset(o, 0, sizeof *o);
        o->terms = terms;
        o->mode = mode;
        o->idle_for_s = -1;
        o->confidence = 1.0;
        o->reason = SESS_REASON_NO_SESSION;
        o->phase = SESS_PHASE_NONE;
        o->decision = f->decision;
        const sess_state_t *s = in->state;
        o->previous_model = s && s->last_model[0] ? s->last_model : NULL;
        fill_unscored_terms(in, o, NULL);
        plain_choice(in, o);
        o->verdict_model = o->model;
        return 0;
    }
    /* observe_only: the verdict in full, then the per-request choice routes */
    int rc = decide_enforced(in, o);
    if (rc) return rc;
    o->mode = mode;
    o->verdict_model = o->verdict == SESS_VERDICT_OK ? o->model : NULL;
    /* nothing of the verdict is enforced: no handoff conversion either (the
     * reason and verdict_model still say what it would have done) */
    o->has_handoff = false;
    const char *code = o->error_code, *msg = o->error_message;
    unsigned eb = o->error_binding;
    o->fallback = false;
    plain_choice(in, o);
    if (o->verdict == SESS_VERDICT_OK && !o->verdict_model) {
        o->error_code = code, o->error_message = msg, o->error_binding = eb;
    }
    return 0;
}

static int decide_enforced(const sess_policy_in_t *in, sess_policy_out_t *o)
{
    sess_terms_t *terms = o->terms;
    memset(o, 0, sizeof *o);
    o->terms = terms;
    o->chosen = -1;
    o->idle_for_s = -1;
    o->confidence = 1.0;
    const cfg_session_t *k = in->knobs;
    const sess_facts_t *f = in->facts;
    const sess_state_t *s = in->state;
    const char *c = s && s->last_model[0] ? s->last_model : NULL;
    /* no last_model: state bound to a known model makes that model current;
     * a signed binding names the issuer and wins over a (stale) last_model */
    if ((!c || f->bound_model_signed) && nonempty(f->bound_model) &&
        (locking_bindings(k, f) || (f->active_tool_loop && f->bound_by_tool_calls)) &&
        f->has_identity && !f->affinity_off && !f->passthrough)
        c = f->bound_model;
    o->previous_model = c;
    o->decision = f->decision;
    fill_unscored_terms(in, o, c);

    /* 1. passthrough: obey the client, even through a lock. */
    if (f->passthrough) {
        o->reason = SESS_REASON_PASSTHROUGH;
        o->phase = !f->has_identity || f->affinity_off ? SESS_PHASE_NONE
                   : f->active_tool_loop               ? SESS_PHASE_TOOL_LOOP
                   : locking_bindings(k, f)            ? SESS_PHASE_PROVIDER_STATE
                                                       : SESS_PHASE_USER_TURN;
        choose(o, in, cand_index(in, f->requested_model), f->requested_model);
        if (c && o->switched &&
            ((k->tool_loop_hard_lock && f->active_tool_loop) ||
             (k->context_portability_hard_lock && locking_bindings(k, f))))
            o->lock_overridden_by_client = true;
        return 0;
    }
    /* 2. no identity: the base top choice. */
    if (!f->has_identity || f->affinity_off) {
        o->reason = SESS_REASON_NO_SESSION;
        o->phase = SESS_PHASE_NONE;
        o->previous_model = NULL;
        plain_choice(in, o);
        o->switched = false;
        return 0;
    }

    /* 3. facts, bindings, resets. */
    o->T = s ? s->turn_count : 0;
    if (f->n_assistant > o->T) o->T = f->n_assistant;
    unsigned lockb = locking_bindings(k, f);
    o->phase = f->active_tool_loop ? SESS_PHASE_TOOL_LOOP
               : lockb             ? SESS_PHASE_PROVIDER_STATE
                                   : SESS_PHASE_USER_TURN;
    bool idle = idle_applies(k, s, f->now_ms, &o->idle_for_s);
    /* 4. inheritance */
    bool inherited;
    o->decision = sess_policy_resolve_decision(k, s, f, &inherited);
    o->decision_inherited = inherited;
    bool drift = k->decision_drift_reset && !inherited && s && nonempty(o->decision) &&
                 nonempty(s->last_decision) && strcmp(o->decision, s->last_decision);
    o->idle_reset = idle;
    o->drift_reset = drift;
    bool reset = idle || drift;

    /* 5. cold start */
    if (!c) {
        o->reason = SESS_REASON_COLD_START;
        int b = best_by_base(in, true, NULL);
        if (b < 0) {
            set_error(o, "no_available_model",
                      "no admissible candidate model has a healthy backend", 0);
            return 0;
        }
        choose(o, in, sess_policy_start_pick(in, b, o->T), NULL);
        o->switched = false;
        return 0;
    }
    int ci = cand_index(in, c);
    o->current_not_in_candidates = ci < 0;
    bool c_available = f->current_available && (ci < 0 || in->cands[ci].available);

    /* tool_call_id_format locks only when nothing but c remains admissible */
    if ((f->bindings & RQ_BIND_TOOL_CALL_ID_FORMAT) && k->context_portability_hard_lock) {
        bool other = false;
        for (size_t i = 0; i < in->n_cands; i++)
            if ((int)i != ci && in->cands[i].admissible) other = true;
        if (!other) lockb |= RQ_BIND_TOOL_CALL_ID_FORMAT;
    }

    {
        bool have;
        o->required_quality = required_quality(in, &have);
    }
    /* 6. locks: tool loop, provider state, min turns. */
    sess_hard_lock_t lock = SESS_HARD_LOCK_NONE;
    if (k->tool_loop_hard_lock && f->active_tool_loop)
        lock = SESS_HARD_LOCK_TOOL_LOOP;
    else if (k->context_portability_hard_lock && lockb)
        lock = SESS_HARD_LOCK_PROVIDER_STATE;
    else if (!reset && (int64_t)o->T < k->min_turns_before_switch)
        lock = SESS_HARD_LOCK_MIN_TURNS;
    if (lock != SESS_HARD_LOCK_NONE) {
        o->hard_lock = lock;
        if (lock == SESS_HARD_LOCK_PROVIDER_STATE) o->bindings = lockb;
        if (lock == SESS_HARD_LOCK_TOOL_LOOP) o->bindings = lockb; /* recorded too */
        if (c_available) {
            o->reason = lock == SESS_HARD_LOCK_TOOL_LOOP ? SESS_REASON_HARD_LOCK_TOOL_LOOP
                        : lock == SESS_HARD_LOCK_PROVIDER_STATE
                            ? SESS_REASON_HARD_LOCK_PROVIDER_STATE
                            : SESS_REASON_HARD_LOCK_MIN_TURNS;
            choose(o, in, ci, c);
            return 0;
        }
        if (lock != SESS_HARD_LOCK_MIN_TURNS) {
            forced_handoff(in, o, c);
            return 0;
        }
        /* a min-turns lock binds nothing: an unavailable c just goes to scoring */
        o->hard_lock = SESS_HARD_LOCK_NONE;
    }

    /* 7. EMIT keep_current_model */
    if (f->keep_current_model && c_available) {
        o->reason = SESS_REASON_STAY_BEST_ADJUSTED;
        o->retention_keep_current_model = true;
        choose(o, in, ci, c);
        return 0;
    }

    /* 8. scoring; a session that has made no free choice yet (every turn so far was locked)
     * starts now, as a cold start would (policy_start.h) */
    if (sess_policy_never_free(s)) {
        int top = best_by_base(in, true, NULL), start = sess_policy_start_pick(in, top, o->T);
        if (start != top) {
            o->reason = idle          ? SESS_REASON_IDLE_RESET
                        : drift       ? SESS_REASON_DRIFT_RESET
                        : start == ci ? SESS_REASON_STAY_BEST_ADJUSTED
                                      : SESS_REASON_SWITCH_ALLOWED;
            choose(o, in, start, NULL);
            return 0;
        }
    }
    bool tool_loop_unlocked = f->active_tool_loop && !k->tool_loop_hard_lock;
    double Sbuf[64];
    double *S = in->n_cands <= 64 ? Sbuf : malloc(in->n_cands * sizeof *S);
    if (!S) abort();
    int win = score(in, o, c, reset, tool_loop_unlocked, S);
    if (win < 0) {
        if (S != Sbuf) free(S);
        set_error(o, "no_available_model", "no admissible candidate model", 0);
        return 0;
    }
    /* confidence from the best two scores */
    double second = -INFINITY;
    for (size_t i = 0; i < in->n_cands; i++)
        if ((int)i != win && S[i] > second) second = S[i];
    o->confidence = 0.5 + (isinf(second) ? 0.5 : fmin(0.5, S[win] - second));
    o->reason = idle        ? SESS_REASON_IDLE_RESET
                : drift     ? SESS_REASON_DRIFT_RESET
                : win == ci ? SESS_REASON_STAY_BEST_ADJUSTED
                            : SESS_REASON_SWITCH_ALLOWED;
    /* 9. no available backend for the winner: next by S */
    if (!in->cands[win].available) {
        int next = -1;
        for (size_t i = 0; i < in->n_cands; i++) {
            if (!in->cands[i].available || isinf(S[i])) continue;
            if (next < 0 || S[i] > S[next] || (S[i] == S[next] && (int)i == ci)) next = (int)i;
        }
        o->fallback = true;
        if (next < 0) {
            if (S != Sbuf) free(S);
            set_error(o, "no_available_model",
                      "no admissible candidate model has a healthy backend", 0);
            return 0;
        }
        win = next;
        if (win == ci && !reset)
            o->reason = SESS_REASON_STAY_BEST_ADJUSTED;
        else if (!reset)
            o->reason = SESS_REASON_SWITCH_ALLOWED;
    }
    if (S != Sbuf) free(S);
    choose(o, in, win, NULL);
    return 0;
}
