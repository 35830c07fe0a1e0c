/* limits.h - rate limits and budgets for one request (issue 16).
 *
 * After routing picked the model and decision, the proxy asks which
 * counters the request meets (lim_plan: one per rule and kind - requests,
 * tokens - and one per budget), reads them and decides (lim_decide): a
 * request is denied when a counter is at its limit (requests, tokens, or a
 * spent budget with policy reject); a spent budget with policy downgrade
 * asks for its cheaper model. An admitted request counts one request on
 * each requests counter; its reply's usage later adds prompt + completion
 * tokens and the cost from the model's pricing (lim_record).
 *
 * Counters live in this process (limits/table.h, shared by the workers)
 * and, with global.stores.limits.backend redis, in Redis shared by the
 * replicas (limits/redis.h): then the Redis answer decides, and when Redis
 * does not answer (outage, open circuit, timeout) the local counters do.
 *
 * Tokens are known only at the end of a reply, so a token limit admits a
 * request while the window's tokens are below the limit: one reply may
 * carry the count past it, and the next request waits for the window. The
 * same holds for budgets.
 * lim_t is thread-safe; a lim_verdict_t belongs to one request. */
#ifndef TETHER_LIMITS_LIMITS_H
#define TETHER_LIMITS_LIMITS_H
#include "config/global.h"
#include "core/arena.h"
#include "core/buf.h"
#include "limits/table.h"
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct lim_redis;

typedef enum { LIM_REQUESTS = 0, LIM_TOKENS, LIM_SPEND } lim_kind_t;

/* Who and what a request is, for matching rules (NULL: unknown; a rule
 * on an unknown scope does not apply). */
typedef struct lim_who {
    const char *key;  /* the client key's name */
    const char *team; /* its team (else its tenant) */
    const char *model, *decision;
} lim_who_t;

typedef struct lim_check {
    const char *rule;    /* rule or budget name */
    const char *subject; /* the key/team/model/decision counted */
    cfg_lim_scope_t scope;
    lim_kind_t kind;
    const cfg_budget_t *budget; /* LIM_SPEND */
    lim_key_t key;              /* the counter: type \x1f rule \x1f subject \x1f kind (arena) */
    uint64_t ws, left_ms;       /* window start, time left in it */
    int64_t limit, used;        /* used: before this request (spend in nano-units) */
} lim_check_t;

typedef struct lim_verdict {
    lim_check_t *checks;
    size_t n;
    int denied;                    /* index of the check that denies, -1: admitted */
    const cfg_budget_t *downgrade; /* a spent budget asks for its cheaper model */
    bool shared;                   /* the counts came from Redis */
} lim_verdict_t;

typedef struct lim {
    lim_table_t *tab;
    struct lim_redis *redis; /* NULL: counters in this process only */
} lim_t;

/* From the config's global.stores.limits (a Redis address that does not
 * parse is an error; Redis being down is not). NULL with err filled. */
lim_t *lim_new(const cfg_t *cfg, char *err, size_t errlen);
void lim_free(lim_t *l);
/* A worker's loop stops: its Redis connection goes (no-op without Redis). */
void lim_loop_close(lim_t *l, struct event_base *evb);
/* Any rule or budget configured? (the fast exit of the request path) */
bool lim_any(const cfg_t *cfg);

/* The counters the request meets (in the arena); n 0 when none. */
void lim_plan(const cfg_t *cfg, const lim_who_t *who, arena_t *a, uint64_t now_ms,
              lim_verdict_t *v);
/* From the checks' used values: denied and downgrade. */
void lim_decide(lim_verdict_t *v);
/* Decide on this process's counters; an admitted request is counted. */
void lim_admit_local(lim_t *l, lim_verdict_t *v);
/* Decide on the counts Redis returned (vals[i]: check i's count before the
 * request, which Redis counted already when admitted); the local counters
 * are raised to them, so an outage later starts from the shared count. */
void lim_admit_shared(lim_t *l, lim_verdict_t *v, const int64_t *vals);
/* A reply's usage: tokens on the token counters, cost on the spend
 * counters (and in Redis when shared; evb: the caller's loop). */
void lim_record(lim_t *l, struct event_base *evb, const lim_verdict_t *v, int64_t tokens,
                double cost);
/* The counters' state as JSON for the management API: kind "rate_limits"
 * or "budgets" (every configured rule, each subject counted so far). */
void lim_json(lim_t *l, const cfg_t *cfg, bool budgets, uint64_t now_ms, buf_t *out);

/* For the x-ratelimit-* headers: the requests and tokens checks with the
 * least room (NULL when none). */
const lim_check_t *lim_tightest(const lim_verdict_t *v, lim_kind_t kind);
#endif
