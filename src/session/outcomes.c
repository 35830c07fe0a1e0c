/* outcomes.c - quality learned from outcomes: a small table of (decision,
 * model) -> weighted good/bad counts behind one mutex, and the bounded
 * adjustment the session policy adds to card quality. See outcomes.h. */
#include "session/outcomes.h"
#include "session/state.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct outcome_entry {
    char decision[SESS_NAME_MAX]; /* "" = every decision */
    char model[SESS_NAME_MAX];
    double good, bad;
} outcome_entry_t;

struct sess_outcomes {
    pthread_mutex_t mu;
    outcome_entry_t *e;
    size_t n;
    atomic_size_t n_pub; /* n, readable without the lock: the hot path skips an empty table */
};

sess_outcomes_t *sess_outcomes_new(void)
{
    sess_outcomes_t *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->e = calloc(SESS_OUTCOMES_MAX, sizeof *o->e);
    if (!o->e) abort();
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void sess_outcomes_free(sess_outcomes_t *o)
{
    if (!o) return;
    pthread_mutex_destroy(&o->mu);
    free(o->e);
    free(o);
}

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static sess_outcomes_t *shared;
static void shared_init(void)
{
    shared = sess_outcomes_new();
}

sess_outcomes_t *sess_outcomes_shared(void)
{
    pthread_once(&shared_once, shared_init);
    return shared;
}

static outcome_entry_t *find_locked(sess_outcomes_t *o, const char *decision, const char *model,
                                    bool create)
{
    if (!decision) decision = "";
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->e[i].model, model) && !strcmp(o->e[i].decision, decision)) return &o->e[i];
    if (!create || o->n >= SESS_OUTCOMES_MAX) return NULL;
    outcome_entry_t *x = &o->e[o->n++];
    atomic_store(&o->n_pub, o->n);
    memset(x, 0, sizeof *x);
    snprintf(x->decision, sizeof x->decision, "%s", decision);
    snprintf(x->model, sizeof x->model, "%s", model);
    return x;
}

static bool valid_name(const char *s)
{
    return s && strlen(s) < SESS_NAME_MAX;
}

static void add(outcome_entry_t *x, double v)
{
    x->good += v;
    x->bad += 1.0 - v;
    if (x->good + x->bad > SESS_OUTCOMES_MAX_WEIGHT) x->good *= 0.5, x->bad *= 0.5;
}

int sess_outcomes_record(sess_outcomes_t *o, const char *decision, const char *model, double v)
{
    if (!o || !valid_name(model) || !*model || (decision && !valid_name(decision)) || isnan(v) ||
        v < 0 || v > 1)
        return -1;
    pthread_mutex_lock(&o->mu);
    outcome_entry_t *m = find_locked(o, "", model, true);
    outcome_entry_t *d = decision && *decision ? find_locked(o, decision, model, true) : NULL;
    int rc = m && (d || !decision || !*decision) ? 0 : -1;
    if (rc == 0) {
        add(m, v);
        if (d) add(d, v);
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

double sess_outcomes_adjust(sess_outcomes_t *o, const char *decision, const char *model,
                            double bound, double prior_weight, sess_outcome_estimate_t *est)
{
    sess_outcome_estimate_t e = {0};
    if (o && model && *model && bound > 0 && prior_weight > 0 && atomic_load(&o->n_pub)) {
        pthread_mutex_lock(&o->mu);
        const outcome_entry_t *x =
            decision && *decision ? find_locked(o, decision, model, false) : NULL;
        e.per_decision = x && x->good + x->bad > 0;
        if (!e.per_decision) x = find_locked(o, "", model, false);
        if (x) {
            e.good = x->good, e.bad = x->bad;
            e.adjustment = bound * (x->good - x->bad) / (x->good + x->bad + prior_weight);
        }
        pthread_mutex_unlock(&o->mu);
    }
    if (est) *est = e;
    return e.adjustment;
}

void sess_outcomes_each(sess_outcomes_t *o, sess_outcomes_visit_fn fn, void *ud)
{
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n; i++)
        fn(ud, o->e[i].decision, o->e[i].model, o->e[i].good, o->e[i].bad);
    pthread_mutex_unlock(&o->mu);
}

int sess_outcomes_set(sess_outcomes_t *o, const char *decision, const char *model, double good,
                      double bad)
{
    if (!o || !valid_name(model) || !*model || !valid_name(decision ? decision : "") ||
        !(good >= 0) || !(bad >= 0) || good + bad > SESS_OUTCOMES_MAX_WEIGHT)
        return -1;
    pthread_mutex_lock(&o->mu);
    outcome_entry_t *x = find_locked(o, decision, model, true);
    if (x) x->good = good, x->bad = bad;
    pthread_mutex_unlock(&o->mu);
    return x ? 0 : -1;
}

void sess_outcomes_clear(sess_outcomes_t *o)
{
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->n = 0;
    atomic_store(&o->n_pub, 0);
    pthread_mutex_unlock(&o->mu);
}
