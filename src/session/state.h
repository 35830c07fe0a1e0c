/* state.h - router memory for one session (SPEC §9.2): the record the
 * session store keeps, the policy reads, and a commit updates.
 *
 * A fixed-size plain struct (no pointers) so stores can copy it, hash-table
 * shards can keep it inline, and Redis can hold it as one value. Model names
 * are stored by value (bounded) rather than as config indices, so a record
 * survives config reloads and is meaningful on every replica. */
#ifndef TETHER_SESSION_STATE_H
#define TETHER_SESSION_STATE_H
#include <stdbool.h>
#include <stdint.h>

#define SESS_NAME_MAX   64 /* model / decision / backend names (truncated) */
#define SESS_MAX_MODELS 4  /* per-model counters kept for this many models */

typedef enum {
    SESS_LOCK_NONE = 0,
    SESS_LOCK_TOOL_LOOP,
    SESS_LOCK_PROVIDER_STATE,
} sess_lock_kind_t;

typedef struct sess_model_stats {
    char model[SESS_NAME_MAX];
    uint32_t turns;
    uint32_t responses_with_usage;  /* for the κ(c) cache-warmth discount */
    uint32_t responses_with_cached; /* responses that reported cached tokens > 0 */
    uint64_t prompt_tokens, cached_tokens, completion_tokens;
    uint64_t last_prompt_tokens; /* cache sizing: last turn's prompt tokens on this model */
    double cost;
} sess_model_stats_t;

typedef struct sess_state {
    uint64_t version; /* bumped by every committed routing outcome */
    uint64_t created_at_ms, last_seen_ms, last_started_at_ms;
    char last_model[SESS_NAME_MAX]; /* "" = none (cold) */
    char last_backend[SESS_NAME_MAX];
    char last_decision[SESS_NAME_MAX];
    char last_reasoning[16];
    uint32_t turn_count, switch_count;
    uint64_t prompt_tokens, cached_tokens, completion_tokens;
    double cost;
    sess_model_stats_t models[SESS_MAX_MODELS]; /* most recently used first */
    sess_lock_kind_t lock_kind;
    uint32_t lock_bindings; /* RQ_BIND_* */
    uint32_t lock_since_turn;
    uint64_t opener;        /* prefix-chain opener hash */
    char last_trace_id[28]; /* rr_ + 24 hex */
    char last_reason[24];
    /* the session's trajectory of locks (tool loops, provider state), which
     * the policy uses to predict the next one (sess_state_note_lock) */
    uint32_t lock_episodes;       /* lock episodes seen (a locked turn after an unlocked one) */
    uint32_t lock_episode_turn;   /* turn index at which the latest episode began */
    uint32_t lock_episode_period; /* turns between the latest two episode starts (0: unknown) */
    double lock_required_quality; /* running mean (weight 1/2) of the quality the locked turns
                                     asked for; 0 = none seen */
} sess_state_t;

/* Record one committed turn's lock into the trajectory fields: `turn` is
 * the turn's index (turn_count before it), `now` its lock kind, `req` the
 * quality it asked for (the policy's required_quality, <= 0 unknown). Must
 * run before s->lock_kind takes `now` (it compares with the previous turn's).
 * The Redis commit script mirrors it. */
void sess_state_note_lock(sess_state_t *s, sess_lock_kind_t now, double req, uint32_t turn);

/* Stats of `model` in s, or NULL. */
const sess_model_stats_t *sess_state_model(const sess_state_t *s, const char *model);
#endif
