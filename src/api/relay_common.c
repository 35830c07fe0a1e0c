/* relay_common.c - the pieces the chat-completions proxy (chat.c,
 * chat_relay.c) and the agent proxy (agent.c, agent_relay.c) share in the
 * same shape: response header building with the routing headers of a plan,
 * the fallback choice by session score after a model failed, and the
 * session policy re-decision without the current model that starts a forced
 * handoff. Each caller keeps its own answers and re-dispatch. */
#include "api/relay_common.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "session/handoff_rewrite.h"
#include <string.h>

int relay_add_h(hsrv_header_t *h, int n, const char *name, const char *value)
{
    h[n].name = name;
    h[n].name_len = strlen(name);
    h[n].value = value;
    h[n].value_len = strlen(value);
    return n + 1;
}

const char *relay_phase_label(const route_plan_t *pl)
{
    return pl->ran_policy ? sess_phase_name(pl->pol.phase) : "none";
}

int relay_plan_headers(hsrv_header_t *h, int n, const route_plan_t *pl, const char *conf)
{
    n = relay_add_h(h, n, "x-tether-decision", pl->decision_name ? pl->decision_name : "");
    n = relay_add_h(h, n, "x-tether-algorithm", pl->algorithm ? pl->algorithm : "static");
    n = relay_add_h(h, n, "x-tether-confidence", conf);
    if (!pl->passthrough && pl->recipe_name)
        n = relay_add_h(h, n, "x-tether-recipe", pl->recipe_name);
    n = relay_add_h(h, n, "x-tether-session-phase", relay_phase_label(pl));
    if (pl->ran_policy)
        n = relay_add_h(h, n, "x-tether-session-reason", sess_reason_name(pl->pol.reason));
    if (pl->id.found) {
        const char *k = strchr(pl->id.key, SESS_KEY_SEP);
        k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
        n = relay_add_h(h, n, "x-tether-session", k ? k + 1 : pl->id.key);
        n = relay_add_h(h, n, "x-tether-session-source", pl->id.source ? pl->id.source : "");
    }
    return n;
}

static bool model_tried(const char *name, const char *current, const char *const *tried,
                        int n_tried)
{
    for (int i = 0; i < n_tried; i++)
        if (!strcmp(tried[i], name)) return true;
    return !strcmp(current, name);
}

const cfg_model_t *relay_fallback_model(const cfg_t *cfg, route_plan_t *pl, const char *request_id,
                                        const char *current, const char *const *tried, int n_tried)
{
    const cfg_model_t *best = NULL;
    double best_s = -1e9;
    for (size_t i = 0; i < pl->n_cands; i++) {
        const sess_candidate_t *c = &pl->cands[i];
        if (!c->admissible || model_tried(c->model, current, tried, n_tried)) continue;
        const cfg_model_t *m = cfg_find_model(cfg, c->model, strlen(c->model));
        if (!m || !route_model_available(m)) continue;
        double sc = pl->terms && pl->terms[i].scored ? pl->terms[i].final : c->base;
        if (!best || sc > best_s) {
            best = m;
            best_s = sc;
        }
    }
    const char *dm = cfg->providers.default_model;
    if (!best && dm && !model_tried(dm, current, tried, n_tried)) {
        const cfg_model_t *d = cfg_find_model(cfg, dm, strlen(dm));
        if (d && route_model_available(d)) best = d;
    }
    if (!best) return NULL;
    tlog(TLOG_WARN, "fallback", "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"", request_id,
         current, best->name);
    met_inc(tmet.fallbacks_total, 1, "model");
    pl->pol.fallback = true;
    return best;
}

bool relay_redecide_without_current(const route_plan_t *pl, const sess_facts_t *facts, arena_t *a,
                                    const char **current, sess_policy_out_t *out)
{
    sess_policy_in_t pin = {.knobs = pl->knobs,
                            .state = pl->has_state ? &pl->state : NULL,
                            .facts = facts,
                            .cands = pl->cands,
                            .n_cands = pl->n_cands,
                            .prices = pl->prices,
                            .n_prices = pl->n_prices};
    sess_facts_t fs;
    sess_candidate_t *cs = arena_calloc(a, (pl->n_cands ? pl->n_cands : 1) * sizeof *cs);
    memset(out, 0, sizeof *out);
    out->terms = pl->terms;
    *current = arena_strdup(a, pl->pol.model);
    sess_policy_decide_without_current(&pin, *current, &fs, cs, out);
    return out->verdict == SESS_VERDICT_OK && out->model && strcmp(out->model, *current) != 0;
}
