/* priors.h - learned remaining-turn priors (SPEC §9.10
 * learn_remaining_turn_priors): per decision, the mean length of the
 * sessions seen in it, minus one, once at least min_samples sessions were
 * seen. The session policy takes it as facts.remaining_turn_prior (r) when
 * no remaining_turn_priors entry is configured for the decision: a
 * configured prior always wins over a learned one.
 *
 * Fed by route_commit (src/route/pipeline.c) with every committed turn:
 * (decision, session key, the session's turn count after the turn). A
 * session's length in a decision is the largest turn count it reached while
 * in that decision (grouped by session id: a session counts once per
 * decision however many turns it has). Ongoing sessions count with the
 * length reached so far, so the prior grows as they continue.
 *
 * Memory is bounded: per decision the last SESS_PRIORS_WINDOW sessions seen
 * (older ones leave the mean), at most SESS_PRIORS_MAX_DECISIONS decisions
 * (further decisions are not learned).
 *
 * Thread-safety: every function is safe to call from any thread (one
 * mutex). sess_priors_shared() is the process-wide instance the pipeline
 * feeds and reads. */
#ifndef TETHER_SESSION_PRIORS_H
#define TETHER_SESSION_PRIORS_H
#include <stddef.h>
#include <stdint.h>

#define SESS_PRIORS_WINDOW        1024
#define SESS_PRIORS_MAX_DECISIONS 256

typedef struct sess_priors sess_priors_t;

sess_priors_t *sess_priors_new(void);
void sess_priors_free(sess_priors_t *p);
/* The process-wide instance (created on first use, never freed). */
sess_priors_t *sess_priors_shared(void);

/* Record that session_key reached turns turns (>= 1) while in decision.
 * Ignored for an empty decision or session key. */
void sess_priors_observe(sess_priors_t *p, const char *decision, const char *session_key,
                         int64_t turns);
/* The learned prior for decision: mean(session length) - 1 when at least
 * min_samples (>= 1) sessions were seen, else -1. */
double sess_priors_get(sess_priors_t *p, const char *decision, int64_t min_samples);
/* How many sessions decision's mean is over now. */
size_t sess_priors_samples(sess_priors_t *p, const char *decision);
/* The same, with the session key's hash (hash_xxh64, seed 0): restoring a
 * snapshot (session/learned_file.h), which stores hashes, never keys. */
void sess_priors_observe_hash(sess_priors_t *p, const char *decision, uint64_t key_hash,
                              int64_t turns);
/* Every remembered session, per decision oldest first (snapshots). */
typedef void (*sess_priors_visit_fn)(void *ud, const char *decision, uint64_t key_hash,
                                     int64_t turns);
void sess_priors_each(sess_priors_t *p, sess_priors_visit_fn fn, void *ud);
/* Shared sessions (session/learned_redis.h): the decision's window as Redis
 * keeps it for every replica, sum of the session lengths and their number;
 * from then on sess_priors_get and sess_priors_samples read it instead of
 * this process's ring (which keeps learning, for the file snapshot). */
void sess_priors_set_shared(sess_priors_t *p, const char *decision, int64_t sum, int64_t n);
/* Forget everything (tests; config reload keeps what was learned). */
void sess_priors_clear(sess_priors_t *p);
#endif
