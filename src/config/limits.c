/* limits.c - the rate limit and budget sections: global.services.rate_limits[]
 * (requests and tokens per fixed window, per key, team, model or decision),
 * global.services.budgets[] (spend per key or team over a calendar period,
 * rejected or downgraded when spent) and global.stores.limits (where their
 * counters live: this process, or Redis shared by the replicas). Nonsense is
 * rejected here: negative or huge limits, unknown scopes, windows that are
 * not whole seconds, budgets on models, a downgrade without a model, names
 * of models or decisions that do not exist. src/limits/ enforces them. */
#include "config/global.h"
#include "config/load.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const scope_names[CFG_LIM_N_SCOPES] = {"key", "team", "model", "decision"};

const char *cfg_lim_scope_name(cfg_lim_scope_t s)
{
    return s < CFG_LIM_N_SCOPES ? scope_names[s] : "?";
}

#define RL cfg_rate_limit_t
const cfg_schema_t cfg_schema_rate_limit = {
    "global.services.rate_limits[]",
    (const cfg_field_t[]){
        CFG_FSTR(RL, "name", name, NULL,
                 "rule name in metrics and the management API (default scope:match:window)"),
        CFG_FENUM_REQ(RL, "scope", scope_s, "key|team|model|decision",
                      "what is counted: the client key, its team, the routed model or decision"),
        CFG_FSTR(RL, "match", match, "*",
                 "one key/team/model/decision name, or * for each one separately"),
        CFG_FDUR(
            RL, "window", window_ms, "1m",
            "fixed window, whole seconds from 1s to 744h (31 days), aligned to the Unix epoch"),
        CFG_FI64(RL, "requests", requests, "0", 0, 1e12,
                 "requests per window (0: not limited; at most 1e12)"),
        CFG_FI64(RL, "tokens", tokens, "0", 0, 1e12,
                 "prompt + completion tokens per window, from the replies' usage (0: not "
                 "limited; at most 1e12)"),
        {0}},
    "Rate limits: a request over any matching rule gets 429 with retry-after.",
};
#undef RL

#define BG cfg_budget_t
const cfg_schema_t cfg_schema_budget = {
    "global.services.budgets[]",
    (const cfg_field_t[]){
        CFG_FSTR(BG, "name", name, NULL, "budget name (default scope:match:period)"),
        CFG_FENUM_REQ(BG, "scope", scope_s, "key|team", "whose spend: the client key or its team"),
        CFG_FSTR(BG, "match", match, "*", "one key/team name, or * for each one separately"),
        CFG_FENUM(BG, "period", period_s, "month", "day|week|month",
                  "calendar period in UTC (weeks start on Monday)"),
        {.key = "max_spend",
         .type = CFG_F_DOUBLE,
         .off = offsetof(BG, max_spend),
         .min = 0,
         .max = CFG_LIM_MAX_SPEND,
         .flags = CFG_FF_REQUIRED,
         .doc = "spend allowed per period, in the models' pricing currency (> 0, at most 1e9)"},
        CFG_FENUM(BG, "policy", policy, "reject", "reject|downgrade",
                  "when spent: reject (429 insufficient_quota) or serve downgrade_model"),
        CFG_FSTR(BG, "downgrade_model", downgrade_model, NULL,
                 "policy downgrade: the configured model that serves instead"),
        {0}},
    "Budgets: spend from the models' pricing and the replies' usage.",
};
#undef BG

const cfg_schema_t cfg_schema_store_limits = {
    "global.stores.limits",
    (const cfg_field_t[]){
        CFG_FENUM(cfg_stores_t, "backend", limits.backend, "memory", "memory|redis",
                  "counters of rate limits and budgets: this process, or Redis shared by the "
                  "replicas (an outage falls back to this process's counters)"),
        CFG_FSUB(cfg_stores_t, "redis", limits.redis, cfg_schema_redis,
                 "see global.stores.<store>.redis"),
        {0}},
    "Rate limit and budget counters.",
};

static bool scope_of(const char *s, cfg_lim_scope_t *out)
{
    for (int i = 0; i < CFG_LIM_N_SCOPES; i++)
        if (s && !strcmp(s, scope_names[i])) {
            *out = (cfg_lim_scope_t)i;
            return true;
        }
    return false;
}

static void load_rate(ld_t *l, const cfg_node_t *item, void *rec)
{
    cfg_rate_limit_t *r = rec;
    size_t e0 = l->d->n_errors;
    ld_section(l, item, &cfg_schema_rate_limit, r);
    if (l->d->n_errors > e0 || !scope_of(r->scope_s, &r->scope)) return; /* said so already */
    if (r->window_ms < 1000 || r->window_ms > 31ull * 86400 * 1000 || r->window_ms % 1000)
        ld_err_key(l, cfg_node_get(item, "window"), "window",
                   "window must be whole seconds from 1s to 744h (31 days), got %llu ms",
                   (unsigned long long)r->window_ms);
    if (!r->requests && !r->tokens)
        ld_err(l, item, "rate limit limits nothing: set requests or tokens (or both) above 0");
    if (!r->name)
        r->name = arena_sprintf(l->a, "%s:%s:%llus", r->scope_s, r->match ? r->match : "*",
                                (unsigned long long)(r->window_ms / 1000));
}

static void load_budget(ld_t *l, const cfg_node_t *item, void *rec)
{
    cfg_budget_t *b = rec;
    size_t e0 = l->d->n_errors;
    ld_section(l, item, &cfg_schema_budget, b);
    if (l->d->n_errors > e0 || !scope_of(b->scope_s, &b->scope)) return; /* said so already */
    b->period = !strcmp(b->period_s, "day")    ? CFG_PERIOD_DAY
                : !strcmp(b->period_s, "week") ? CFG_PERIOD_WEEK
                                               : CFG_PERIOD_MONTH;
    if (!(b->max_spend > 0))
        ld_err_key(l, cfg_node_get(item, "max_spend"), "max_spend",
                   "max_spend must be above 0 (remove the budget to allow any spend)");
    b->is_downgrade = !strcmp(b->policy, "downgrade");
    if (b->is_downgrade && !b->downgrade_model)
        ld_err(l, item, "policy downgrade needs downgrade_model (the cheaper model to serve)");
    if (!b->is_downgrade && b->downgrade_model)
        ld_err_key(l, cfg_node_get(item, "downgrade_model"), "downgrade_model",
                   "downgrade_model is used only with policy: downgrade");
    if (!b->name)
        b->name =
            arena_sprintf(l->a, "%s:%s:%s", b->scope_s, b->match ? b->match : "*", b->period_s);
}

/* The optional list parent[key]: an arena array of records of size bytes,
 * each item loaded by load under the path key[name] (or key[i]); *n counts
 * them. NULL (and *n untouched) when the list is absent. */
static void *load_list(ld_t *l, const cfg_node_t *parent, const char *key, size_t size, size_t *n,
                       void (*load)(ld_t *l, const cfg_node_t *item, void *rec))
{
    const cfg_node_t *list = cfg_node_get(parent, key);
    size_t s = ld_push_key(l, key);
    char *v = NULL;
    if (list && !cfg_node_is_null(list) && ld_expect_seq(l, list)) {
        v = arena_calloc(l->a, (list->n + 1) * size);
        for (size_t i = 0; i < list->n; i++) {
            size_t s2 = ld_push_item(l, list->items[i], i);
            load(l, list->items[i], v + (*n)++ * size);
            ld_pop(l, s2);
        }
    }
    ld_pop(l, s);
    return v;
}

static const char *rate_name(const void *recs, size_t i)
{
    return ((const cfg_rate_limit_t *)recs)[i].name;
}

static const char *budget_name(const void *recs, size_t i)
{
    return ((const cfg_budget_t *)recs)[i].name;
}

/* An error at every item of list (path key[i]) whose name an earlier item
 * has: "duplicate <what> name". */
static void dup_names(ld_t *l, const char *key, const cfg_node_t *list, const char *what,
                      const void *recs, size_t n, const char *(*name)(const void *recs, size_t i))
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            const char *a = name(recs, i), *b = name(recs, j);
            if (a && b && !strcmp(a, b)) {
                size_t s = ld_push_key(l, key);
                ld_push_index(l, i);
                ld_err(l, list->items[i], "duplicate %s name \"%s\"", what, a);
                ld_pop(l, s);
            }
        }
}

void cfg_load_limits(ld_t *l, const cfg_node_t *services, struct cfg_services *sv)
{
    sv->rate_limits = load_list(l, services, "rate_limits", sizeof *sv->rate_limits,
                                &sv->n_rate_limits, load_rate);
    sv->budgets =
        load_list(l, services, "budgets", sizeof *sv->budgets, &sv->n_budgets, load_budget);
    const cfg_node_t *rl = cfg_node_get(services, "rate_limits"),
                     *bg = cfg_node_get(services, "budgets");
    dup_names(l, "rate_limits", rl, "rate limit", sv->rate_limits, sv->n_rate_limits, rate_name);
    dup_names(l, "budgets", bg, "budget", sv->budgets, sv->n_budgets, budget_name);
}

static bool decision_exists(const cfg_t *c, const char *name)
{
    for (size_t r = 0; c->routing && r < c->routing->n_recipes; r++) {
        const cfg_recipe_t *rc = &c->routing->recipes[r];
        for (size_t i = 0; i < rc->n_decisions; i++)
            if (rc->decisions[i].name && !strcmp(rc->decisions[i].name, name)) return true;
    }
    return false;
}

void cfg_validate_limits(ld_t *l, const cfg_node_t *root, const cfg_t *c)
{
    if (!c->global_ext) return;
    const cfg_services_t *sv = &c->global_ext->services;
    const cfg_node_t *g = cfg_node_get(root, "global");
    const cfg_node_t *svn = cfg_node_get(g, "services");
    const cfg_node_t *rl = cfg_node_get(svn, "rate_limits");
    for (size_t i = 0; i < sv->n_rate_limits; i++) {
        const cfg_rate_limit_t *r = &sv->rate_limits[i];
        if (!r->name || !r->match || !strcmp(r->match, "*")) continue; /* !name: it failed */
        const cfg_node_t *at = rl && i < rl->n ? cfg_node_get(rl->items[i], "match") : NULL;
        size_t s = ld_push_key(l, "global.services.rate_limits");
        ld_push_index(l, i);
        ld_push_key(l, "match");
        if (r->scope == CFG_LIM_MODEL && !cfg_find_model(c, r->match, strlen(r->match)))
            ld_err(l, at, "rate limit \"%s\": no model named \"%s\"", r->name, r->match);
        if (r->scope == CFG_LIM_DECISION && !decision_exists(c, r->match))
            ld_err(l, at, "rate limit \"%s\": no decision named \"%s\"", r->name, r->match);
        ld_pop(l, s);
    }
    const cfg_node_t *bg = cfg_node_get(svn, "budgets");
    for (size_t i = 0; i < sv->n_budgets; i++) {
        const cfg_budget_t *b = &sv->budgets[i];
        if (!b->name || !b->downgrade_model ||
            cfg_find_model(c, b->downgrade_model, strlen(b->downgrade_model)))
            continue;
        size_t s = ld_push_key(l, "global.services.budgets");
        ld_push_index(l, i);
        ld_push_key(l, "downgrade_model");
        ld_err(l, bg && i < bg->n ? cfg_node_get(bg->items[i], "downgrade_model") : NULL,
               "budget \"%s\": downgrade_model \"%s\" is not a configured model", b->name,
               b->downgrade_model);
        ld_pop(l, s);
    }
}
