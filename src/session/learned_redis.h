/* learned_redis.h - outcome quality estimates (session/outcomes.h) shared
 * by every replica through Redis when sessions are shared (issue 19): all
 * replicas learn together, and a restarted replica finds what was learned.
 * The remaining-turn priors and the elo selector's ratings go the same way
 * (sess_learned_redis_push_prior, sess_learned_redis_push_elo).
 *
 * Redis holds one hash, {key_prefix}learned:outcomes, field
 * "<decision>\x1f<model>" (decision "" = the model's entry over every
 * decision), value "<good> <bad>". A recorded outcome is queued here and
 * added by a Lua script on Redis (the same counts and fading as
 * sess_outcomes_record: halved past SESS_OUTCOMES_MAX_WEIGHT; at most
 * SESS_OUTCOMES_MAX fields). Every sync interval the hash is read back and
 * replaces the local entries (sess_outcomes_set): Redis is the source of
 * truth, the local table the copy the policy reads without I/O.
 *
 * The Redis traffic runs on a thread of its own with its own event loop,
 * through the non-blocking Redis layer (kv/client.h), never on a worker's
 * loop. During a Redis outage outcomes are still learned locally (the
 * caller records them in its table first), the queued increments are kept
 * (bounded) and sent once Redis answers again.
 *
 * Thread-safety: sess_learned_redis_push may be called from any thread. */
#ifndef TETHER_SESSION_LEARNED_REDIS_H
#define TETHER_SESSION_LEARNED_REDIS_H
#include "config/global.h"
#include "session/outcomes.h"
#include "session/priors.h"
#include "select/select.h"
#include <stdint.h>

#define SESS_LEARNED_REDIS_QUEUE 4096 /* increments waiting for Redis at most */

typedef struct sess_learned_redis sess_learned_redis_t;

/* Start the sync thread against the Redis of r (the session store's), keys
 * under prefix (NULL: "tether:"), into/out of o (and priors, and the elo
 * ratings of elo; either may be NULL). sync_ms: how often Redis
 * is read back (0: 1000). The first read runs at once (restore on start).
 * NULL with err filled when the address is malformed or the thread cannot
 * start. */
sess_learned_redis_t *sess_learned_redis_start(const cfg_redis_t *r, const char *prefix,
                                               sess_outcomes_t *o, sess_priors_t *priors,
                                               sel_state_t *elo, uint64_t sync_ms, char *err,
                                               size_t errlen);
/* Stop the thread and free. Increments Redis has not acknowledged yet stay
 * in this process's table only. NULL is fine. */
void sess_learned_redis_stop(sess_learned_redis_t *l);
/* Queue an outcome v in [0,1] of model in decision (NULL/"": none) for
 * Redis: the (decision, model) entry and the model's entry. False when the
 * queue is full (the outcome stays local only). */
bool sess_learned_redis_push(sess_learned_redis_t *l, const char *decision, const char *model,
                             double v);
/* Queue a remaining-turn prior observation (priors.h: session key_hash
 * reached turns in decision) for the decision's shared window in Redis
 * ({prefix}learned:prior:<decision>, the last SESS_PRIORS_WINDOW sessions);
 * the read-back gives every replica's priors the same window
 * (sess_priors_set_shared). False when the queue is full. */
bool sess_learned_redis_push_prior(sess_learned_redis_t *l, const char *decision, uint64_t key_hash,
                                   int64_t turns);
/* Queue an elo rating move (select.h sel_elo_feedback_deltas: delta on
 * model in decision, whose initial rating is initial) for the hash
 * {prefix}learned:elo, field "<decision>\x1f<model>", value the rating: a
 * script adds delta to it (a missing field starts at initial; at most
 * SEL_ELO_MAX fields). Elo's update depends on the ratings at the time, so
 * replicas share the moves each computed from its copy, not the values
 * (concurrent verdicts all count; none overwrites another); the read-back
 * replaces the local ratings with the merged ones (sel_elo_restore).
 * False when the queue is full (the move stays local only). */
bool sess_learned_redis_push_elo(sess_learned_redis_t *l, const char *decision, const char *model,
                                 double delta, double initial);
/* The process's instance (set by the app at start, NULL before and after),
 * for the route pipeline's commit. */
void sess_learned_redis_set_shared(sess_learned_redis_t *l);
sess_learned_redis_t *sess_learned_redis_shared(void);
/* Reads of the hash that completed (tests and diagnostics). */
uint64_t sess_learned_redis_syncs(sess_learned_redis_t *l);
#endif
