/* plan_render.c - a routing plan rendered for people and tools: the JSON
 * of `POST /api/v1/eval`, replay records and traces, and the text of
 * `tether eval`. It only reads a finished plan; route/pipeline.c makes it. */
#include "route/plan_render.h"
#include <string.h>

/* A string literal: its length is known, no strlen (renderers on the
 * request path) */
#define PUTL(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

static void json_str(buf_t *b, const char *s)
{
    buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* An unsigned integer in decimal: printf's "%u"/"%llu" bytes without printf. */
static void put_u64(buf_t *b, unsigned long long v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, t + i, sizeof t - i);
}

/* ,"key":v with four decimals: printf's "%.4f" bytes without printf. key
 * is a literal. */
#define num4(b, key, v) num4_lit((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (v))
static void num4_lit(buf_t *b, const char *prefix, size_t n, double v)
{
    buf_append(b, prefix, n);
    buf_fixed(b, v, 4);
}

/* The signals' JSON; cuts NULL: whole, else without the latency values,
 * cuts[i] the offset where signal i's digits go (route_signals_json_fill). */
static void signals_json(buf_t *b, const route_plan_t *p, size_t *cuts)
{
    const sig_results_t *s = route_plan_signals(p);
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n; i++) {
        const sig_result_t *x = &s->items[i];
        if (i) buf_putc(b, ',');
        PUTL(b, "{\"family\":");
        json_str(b, cfg_signal_family_name(x->rule->family));
        PUTL(b, ",\"name\":");
        json_str(b, x->rule->name);
        buf_puts(b, x->matched ? ",\"matched\":true" : ",\"matched\":false");
        num4(b, "score", x->score);
        buf_json_opt(b, "label", x->label);
        if (x->has_value) num4(b, "value", x->value);
        PUTL(b, ",\"latency_us\":");
        if (cuts)
            cuts[i] = b->len;
        else
            put_u64(b, x->latency_us);
        buf_json_opt(b, "error", x->error);
        buf_json_opt(b, "fallback", x->fallback);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

void route_signals_json(buf_t *b, const route_plan_t *p)
{
    signals_json(b, p, NULL);
}

void route_signals_json_cut(buf_t *b, const route_plan_t *p, size_t *cuts)
{
    signals_json(b, p, cuts);
}

void route_signals_json_fill(buf_t *b, const char *tmpl, size_t len, const size_t *cuts,
                             const route_plan_t *p)
{
    const sig_results_t *s = route_plan_signals(p);
    size_t at = 0;
    for (size_t i = 0; i < s->n; i++) {
        buf_append(b, tmpl + at, cuts[i] - at);
        put_u64(b, s->items[i].latency_us);
        at = cuts[i];
    }
    buf_append(b, tmpl + at, len - at);
}

void route_candidates_json(buf_t *b, const route_plan_t *p)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < p->n_cands; i++) {
        const sess_candidate_t *c = &p->cands[i];
        const sess_terms_t *t = &p->terms[i];
        if (i) buf_putc(b, ',');
        PUTL(b, "{\"model\":");
        json_str(b, c->model);
        buf_puts(b, c->admissible ? ",\"admissible\":true" : ",\"admissible\":false");
        buf_puts(b, c->available ? ",\"available\":true" : ",\"available\":false");
        buf_json_opt(b, "excluded_reason", c->excluded_reason);
        /* the quality learned from outcomes (session/outcomes.h) */
        PUTL(b, ",\"learned_quality\":");
        buf_fixed(b, c->learned_quality, 6);
        num4(b, "base", t->base);
        num4(b, "quality_gap", t->quality_gap);
        num4(b, "downgrade_credit", t->downgrade_credit);
        num4(b, "handoff_penalty", t->handoff_penalty);
        num4(b, "prefix_benefit", t->prefix_benefit);
        num4(b, "prefix_penalty", t->prefix_penalty);
        num4(b, "history_penalty", t->history_penalty);
        num4(b, "switch_margin", t->switch_margin);
        num4(b, "stay_bias", t->stay_bias);
        num4(b, "tool_loop_term", t->tool_loop_term);
        num4(b, "checkout_multiplier", t->checkout_multiplier);
        num4(b, "final", t->final);
        num4(b, "net_switch_advantage", t->net_switch_advantage);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

static void session_json(buf_t *b, const route_plan_t *p)
{
    const sess_policy_out_t *o = &p->pol;
    PUTL(b, "{\"id\":");
    if (p->id.found) {
        /* the id part of tenant SEP source SEP id */
        const char *k = strchr(p->id.key, SESS_KEY_SEP);
        k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
        json_str(b, k ? k + 1 : p->id.key);
    } else {
        PUTL(b, "null");
    }
    PUTL(b, ",\"identity_source\":");
    json_str(b, p->id.found ? p->id.source : "none");
    buf_printf(b, ",\"identity_confidence\":\"%s\"", p->id.low_confidence ? "low" : "high");
    buf_printf(b, ",\"turn\":%u", p->has_state ? p->state.turn_count + 1 : 1);
    PUTL(b, ",\"phase\":");
    json_str(b, sess_phase_name(o->phase));
    PUTL(b, ",\"previous_model\":");
    if (o->previous_model)
        json_str(b, o->previous_model);
    else
        PUTL(b, "null");
    PUTL(b, ",\"mode\":");
    json_str(b, sess_mode_name(o->mode));
    PUTL(b, ",\"selected_model\":");
    json_str(b, o->model);
    if (o->mode == SESS_MODE_OBSERVE) {
        /* the policy's verdict, recorded but not enforced */
        PUTL(b, ",\"verdict_model\":");
        if (o->verdict_model)
            json_str(b, o->verdict_model);
        else
            PUTL(b, "null");
    }
    buf_printf(b, ",\"switched\":%s,\"reason\":", o->switched ? "true" : "false");
    json_str(b, sess_reason_name(o->reason));
    PUTL(b, ",\"hard_lock\":");
    json_str(b, sess_hard_lock_name(o->hard_lock));
    PUTL(b, ",\"bindings\":[");
    int k = 0;
    for (unsigned bit = 1; bit <= RQ_BIND_SERVER_TOOL_STATE; bit <<= 1)
        if (o->bindings & bit) {
            if (k++) buf_putc(b, ',');
            json_str(b, rq_binding_name(bit));
        }
    PUTL(b, "],\"idle_for_s\":");
    buf_fixed(b, o->idle_for_s, 1);
    buf_printf(b,
               ",\"idle_reset\":%s,\"drift_reset\":%s,\"decision_inherited\":%s,"
               "\"current_not_in_candidates\":%s",
               o->idle_reset ? "true" : "false", o->drift_reset ? "true" : "false",
               o->decision_inherited ? "true" : "false",
               o->current_not_in_candidates ? "true" : "false");
    /* the turn's required quality, raised when the session's lock trajectory
     * predicts a lock next turn (issue 19) */
    num4(b, "required_quality", o->required_quality);
    /* r: the remaining-turn prior the policy used (configured or learned; -1 none) */
    num4(b, "remaining_turn_prior", p->facts.remaining_turn_prior);
    buf_puts(b, o->lock_predicted ? ",\"lock_predicted\":true" : ",\"lock_predicted\":false");
    num4(b, "lock_escalation", o->lock_escalation);
    num4(b, "continuation_mass", o->continuation_mass);
    num4(b, "cache_warmth", o->cache_warmth);
    buf_printf(b, ",\"switch_count\":%u", p->has_state ? p->state.switch_count : 0);
    num4(b, "confidence", o->confidence);
    buf_puts(b, o->fallback ? ",\"fallback\":true" : ",\"fallback\":false");
    if (o->has_handoff) {
        PUTL(b, ",\"handoff\":{\"from\":");
        json_str(b, o->handoff.from);
        PUTL(b, ",\"to\":");
        json_str(b, o->handoff.to);
        PUTL(b, ",\"conversions\":[");
        for (size_t i = 0; i < o->handoff.n_conversions; i++) {
            if (i) buf_putc(b, ',');
            json_str(b, sess_conversion_name(o->handoff.conversions[i]));
        }
        PUTL(b, "]}");
    }
    PUTL(b, ",\"candidates\":");
    route_candidates_json(b, p);
    buf_putc(b, '}');
}

void route_plan_json(buf_t *b, const route_plan_t *p, bool with_trace)
{
    PUTL(b, "{\"status\":");
    json_str(b, p->status == ROUTE_OK ? "ok" : p->error_code);
    if (p->status != ROUTE_OK) {
        PUTL(b, ",\"error\":");
        json_str(b, p->error_message);
    }
    PUTL(b, ",\"recipe\":");
    json_str(b, p->passthrough ? "" : p->recipe_name);
    buf_printf(b, ",\"passthrough\":%s,\"signals\":", p->passthrough ? "true" : "false");
    route_signals_json(b, p);
    PUTL(b, ",\"decision\":{\"name\":");
    json_str(b, p->decision_name);
    num4(b, "confidence", p->confidence);
    PUTL(b, ",\"outcome\":");
    json_str(b, p->ran_decision ? dec_outcome_name(p->dec.outcome)
                                : (p->passthrough ? "passthrough" : "default"));
    PUTL(b, ",\"strategy\":");
    json_str(b, p->ran_decision ? dec_strategy_name(p->dec.strategy) : "");
    PUTL(b, "},\"model\":");
    if (p->model)
        json_str(b, p->model->name);
    else
        PUTL(b, "null");
    PUTL(b, ",\"algorithm\":");
    json_str(b, p->algorithm);
    if (p->ran_selection) {
        PUTL(b, ",\"selection\":");
        sel_result_json(b, &p->sel);
    }
    if (p->ran_policy) {
        PUTL(b, ",\"session\":");
        session_json(b, p);
    }
    buf_printf(b, ",\"routing_us\":%llu", (unsigned long long)p->routing_us);
    if (with_trace && p->ran_decision) {
        PUTL(b, ",\"trace\":");
        dec_result_json(b, &p->dec);
    }
    buf_putc(b, '}');
}

void route_plan_text(buf_t *b, const route_plan_t *p, bool with_trace)
{
    if (p->status != ROUTE_OK) {
        buf_printf(b, "error: %s: %s\n", p->error_code, p->error_message);
        return;
    }
    const sig_results_t *s = route_plan_signals(p);
    buf_printf(b, "signals (%zu):\n", s->n);
    for (size_t i = 0; i < s->n; i++) {
        const sig_result_t *x = &s->items[i];
        buf_printf(b, "  %s %s:%s score=%.3f", x->matched ? "✓" : "✗",
                   cfg_signal_family_name(x->rule->family), x->rule->name, x->score);
        if (x->label) buf_printf(b, " label=%s", x->label);
        if (x->has_value) buf_printf(b, " value=%.3f", x->value);
        if (x->error) buf_printf(b, " error=%s", x->error);
        PUTL(b, "\n");
    }
    buf_printf(b, "decision: %s (confidence %.3f%s)\n",
               *p->decision_name ? p->decision_name : "(none)", p->confidence,
               p->passthrough ? ", passthrough" : "");
    if (with_trace && p->ran_decision) dec_result_text(b, &p->dec);
    buf_printf(b, "algorithm: %s\n", p->algorithm ? p->algorithm : "");
    for (size_t i = 0; i < p->n_cands; i++) {
        const sess_terms_t *t = &p->terms[i];
        buf_printf(b, "  %-24s base=%.3f final=%.3f%s%s\n", p->cands[i].model, p->cands[i].base,
                   t->final, p->cands[i].admissible ? "" : " (excluded)",
                   p->model && !strcmp(p->cands[i].model, p->model->name) ? "  <- chosen" : "");
        if (with_trace && t->scored)
            buf_printf(b,
                       "      quality_gap=%.3f downgrade=%.3f handoff=-%.3f prefix=+%.3f/-%.3f "
                       "history=-%.3f margin=-%.3f stay=%.3f tool_loop=%.3f K=%.3f\n",
                       t->quality_gap, t->downgrade_credit, t->handoff_penalty, t->prefix_benefit,
                       t->prefix_penalty, t->history_penalty, t->switch_margin, t->stay_bias,
                       t->tool_loop_term, t->checkout_multiplier);
    }
    if (p->ran_policy)
        buf_printf(b, "session: %s reason=%s phase=%s%s\n", p->id.found ? p->id.source : "none",
                   sess_reason_name(p->pol.reason), sess_phase_name(p->pol.phase),
                   p->pol.switched ? " switched" : "");
    buf_printf(b, "model: %s\n", p->model ? p->model->name : "(none)");
}
