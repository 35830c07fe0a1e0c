/* limits.h - typed rate limits and budgets (global.services.rate_limits[],
 * global.services.budgets[]) and the store that shares their counters
 * (global.stores.limits). Loaded by config/limits.c; enforced by src/limits/.
 * Immutable once loaded. */
#ifndef TETHER_CONFIG_LIMITS_H
#define TETHER_CONFIG_LIMITS_H
#include "config/config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who or what a rule counts: the client key, its team, the model the
 * routing picked, or the decision that picked it. */
typedef enum {
    CFG_LIM_KEY = 0,
    CFG_LIM_TEAM,
    CFG_LIM_MODEL,
    CFG_LIM_DECISION,
    CFG_LIM_N_SCOPES
} cfg_lim_scope_t;

typedef enum { CFG_PERIOD_DAY = 0, CFG_PERIOD_WEEK, CFG_PERIOD_MONTH } cfg_period_t;

/* Largest request or token count a rule accepts (counters stay far from
 * int64 overflow even summed over a day). */
#define CFG_LIM_MAX_COUNT 1000000000000ull
/* Largest spend a budget accepts, in the pricing currency. */
#define CFG_LIM_MAX_SPEND 1e9

typedef struct cfg_rate_limit {
    char *name;         /* default "<scope>:<match>:<window>" */
    char *scope_s;      /* key|team|model|decision */
    char *match;        /* one name, or "*" (each one counted on its own) */
    uint64_t window_ms; /* fixed window, 1s..31d, whole seconds */
    uint64_t requests;  /* per window; 0: not limited */
    uint64_t tokens;    /* prompt + completion per window; 0: not limited */
    cfg_lim_scope_t scope;
} cfg_rate_limit_t;

typedef struct cfg_budget {
    char *name;
    char *scope_s;  /* key|team */
    char *match;    /* one name, or "*" */
    char *period_s; /* day|week|month (UTC calendar) */
    double max_spend;
    char *policy;          /* reject|downgrade */
    char *downgrade_model; /* policy downgrade: the cheaper model */
    cfg_lim_scope_t scope;
    cfg_period_t period;
    bool is_downgrade;
} cfg_budget_t;

typedef struct cfg_limits_store {
    char *backend; /* memory|redis */
} cfg_limits_store_t;

/* Scope names as written in the config ("key", ...). */
const char *cfg_lim_scope_name(cfg_lim_scope_t s);
#endif
