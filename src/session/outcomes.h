/* outcomes.h - quality learned from outcomes (issue 19): per (decision,
 * model) and per model, how the turns a model served turned out (success or
 * failure, user feedback, a task result in [0,1]), reported through
 * POST /v1/router/outcomes. The session policy adds the learned adjustment
 * to a candidate's card quality wherever it derives quality gaps from the
 * cards (sess_candidate_t.learned_quality), and the trace shows it.
 *
 * The estimate is bounded and explainable: with good/bad the weighted
 * counts of outcomes (an outcome v in [0,1] adds v to good and 1-v to bad),
 *   adjustment = bound * (good - bad) / (good + bad + prior_weight)
 * so it is 0 with no evidence, moves towards +-bound as evidence grows, and
 * never leaves [-bound, bound]. A decision's own entry is used once it has
 * an outcome, else the model's entry over every decision. Counts are halved
 * when good + bad exceeds SESS_OUTCOMES_MAX_WEIGHT, so old evidence fades.
 *
 * Memory is bounded: at most SESS_OUTCOMES_MAX entries (further pairs are
 * not learned). Thread-safety: every function takes one mutex.
 * sess_outcomes_shared() is the process-wide instance the pipeline reads
 * and the management API feeds; session/learned_file.h persists it. */
#ifndef TETHER_SESSION_OUTCOMES_H
#define TETHER_SESSION_OUTCOMES_H
#include <stdbool.h>
#include <stddef.h>

#define SESS_OUTCOMES_MAX        1024
#define SESS_OUTCOMES_MAX_WEIGHT 1000.0

typedef struct sess_outcomes sess_outcomes_t;

sess_outcomes_t *sess_outcomes_new(void);
void sess_outcomes_free(sess_outcomes_t *o);
/* The process-wide instance (created on first use, never freed). */
sess_outcomes_t *sess_outcomes_shared(void);

/* Record an outcome v in [0,1] (1 = success / positive, 0 = failure /
 * negative) of `model` in `decision` (NULL or "": no decision). Updates the
 * (decision, model) entry and the model's entry. Returns 0, or -1 when the
 * arguments are invalid or the table is full. */
int sess_outcomes_record(sess_outcomes_t *o, const char *decision, const char *model, double v);

/* One estimate, for explanations (replay, the API's answer). */
typedef struct sess_outcome_estimate {
    double good, bad;  /* weighted counts of the entry used */
    bool per_decision; /* the decision's own entry (else the model's) */
    double adjustment; /* bound * (good - bad) / (good + bad + prior_weight) */
} sess_outcome_estimate_t;

/* The learned quality adjustment of model in decision; 0 with no evidence.
 * bound >= 0, prior_weight > 0. est may be NULL. */
double sess_outcomes_adjust(sess_outcomes_t *o, const char *decision, const char *model,
                            double bound, double prior_weight, sess_outcome_estimate_t *est);

/* Every entry, for snapshots: decision "" = the model's entry. */
typedef void (*sess_outcomes_visit_fn)(void *ud, const char *decision, const char *model,
                                       double good, double bad);
void sess_outcomes_each(sess_outcomes_t *o, sess_outcomes_visit_fn fn, void *ud);
/* Set an entry's counts (restoring a snapshot). -1 when full or invalid. */
int sess_outcomes_set(sess_outcomes_t *o, const char *decision, const char *model, double good,
                      double bad);
void sess_outcomes_clear(sess_outcomes_t *o);
#endif
