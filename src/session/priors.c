/* priors.c - learned remaining-turn priors: per decision a ring of the last
 * SESS_PRIORS_WINDOW sessions (session-key hash, longest turn count reached
 * in the decision) with a running sum, so the mean is O(1) to read and an
 * observation is one scan of a small ring. route/pipeline.c feeds it on
 * commit and reads it when no prior is configured. See priors.h. */
#include "session/priors.h"
#include "core/hash.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct prior_sess {
    uint64_t key; /* hash of the session key */
    int64_t turns;
} prior_sess_t;

typedef struct prior_dec {
    char *name;
    prior_sess_t ring[SESS_PRIORS_WINDOW];
    size_t n, next; /* entries used; where the next new session goes */
    int64_t sum;    /* of ring[].turns */
    /* shared sessions: the same window kept in Redis for every replica
     * (session/learned_redis.h); when set it is what the prior reads */
    bool has_shared;
    int64_t shared_sum, shared_n;
} prior_dec_t;

struct sess_priors {
    pthread_mutex_t mu;
    prior_dec_t *decs[SESS_PRIORS_MAX_DECISIONS];
    size_t n_decs;
};

sess_priors_t *sess_priors_new(void)
{
    sess_priors_t *p = calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void clear_locked(sess_priors_t *p)
{
    for (size_t i = 0; i < p->n_decs; i++) {
        free(p->decs[i]->name);
        free(p->decs[i]);
    }
    p->n_decs = 0;
}

void sess_priors_free(sess_priors_t *p)
{
    if (!p) return;
    clear_locked(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void sess_priors_clear(sess_priors_t *p)
{
    pthread_mutex_lock(&p->mu);
    clear_locked(p);
    pthread_mutex_unlock(&p->mu);
}

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static sess_priors_t *shared;
static void shared_init(void)
{
    shared = sess_priors_new();
}

sess_priors_t *sess_priors_shared(void)
{
    pthread_once(&shared_once, shared_init);
    return shared;
}

static prior_dec_t *find_locked(sess_priors_t *p, const char *decision, int create)
{
    for (size_t i = 0; i < p->n_decs; i++)
        if (!strcmp(p->decs[i]->name, decision)) return p->decs[i];
    if (!create || p->n_decs >= SESS_PRIORS_MAX_DECISIONS) return NULL;
    prior_dec_t *d = calloc(1, sizeof *d);
    d->name = strdup(decision);
    p->decs[p->n_decs++] = d;
    return d;
}

void sess_priors_observe(sess_priors_t *p, const char *decision, const char *session_key,
                         int64_t turns)
{
    if (!p || !decision || !*decision || !session_key || !*session_key || turns < 1) return;
    sess_priors_observe_hash(p, decision, hash_xxh64(session_key, strlen(session_key), 0), turns);
}

void sess_priors_each(sess_priors_t *p, sess_priors_visit_fn fn, void *ud)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_decs; i++) {
        const prior_dec_t *d = p->decs[i];
        /* oldest first, so a restore rebuilds the same ring order */
        for (size_t k = 0; k < d->n; k++) {
            size_t at = (d->next + SESS_PRIORS_WINDOW - d->n + k) % SESS_PRIORS_WINDOW;
            fn(ud, d->name, d->ring[at].key, d->ring[at].turns);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void sess_priors_observe_hash(sess_priors_t *p, const char *decision, uint64_t h, int64_t turns)
{
    if (!p || !decision || !*decision || turns < 1) return;
    pthread_mutex_lock(&p->mu);
    prior_dec_t *d = find_locked(p, decision, 1);
    if (d) {
        size_t i = 0;
        /* newest first: a session's turns usually follow each other */
        for (; i < d->n; i++) {
            prior_sess_t *s = &d->ring[(d->next + SESS_PRIORS_WINDOW - 1 - i) % SESS_PRIORS_WINDOW];
            if (s->key != h) continue;
            if (turns > s->turns) {
                d->sum += turns - s->turns;
                s->turns = turns;
            }
            break;
        }
        if (i == d->n) { /* a new session; the oldest leaves when the ring is full */
            prior_sess_t *s = &d->ring[d->next];
            if (d->n == SESS_PRIORS_WINDOW)
                d->sum -= s->turns;
            else
                d->n++;
            s->key = h;
            s->turns = turns;
            d->sum += turns;
            d->next = (d->next + 1) % SESS_PRIORS_WINDOW;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

double sess_priors_get(sess_priors_t *p, const char *decision, int64_t min_samples)
{
    if (!p || !decision || !*decision) return -1;
    if (min_samples < 1) min_samples = 1;
    double r = -1;
    pthread_mutex_lock(&p->mu);
    prior_dec_t *d = find_locked(p, decision, 0);
    if (d && d->has_shared) {
        if (d->shared_n >= min_samples && d->shared_n > 0)
            r = (double)d->shared_sum / (double)d->shared_n - 1;
    } else if (d && d->n >= (size_t)min_samples) {
        r = (double)d->sum / (double)d->n - 1;
    }
    pthread_mutex_unlock(&p->mu);
    return r; /* >= 0 when learned: every length is >= 1 */
}

size_t sess_priors_samples(sess_priors_t *p, const char *decision)
{
    if (!p || !decision) return 0;
    pthread_mutex_lock(&p->mu);
    prior_dec_t *d = find_locked(p, decision, 0);
    size_t n = d ? (d->has_shared ? (size_t)d->shared_n : d->n) : 0;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void sess_priors_set_shared(sess_priors_t *p, const char *decision, int64_t sum, int64_t n)
{
    if (!p || !decision || !*decision || n < 0 || sum < 0) return;
    pthread_mutex_lock(&p->mu);
    prior_dec_t *d = find_locked(p, decision, 1);
    if (d) {
        d->has_shared = true;
        d->shared_sum = sum;
        d->shared_n = n;
    }
    pthread_mutex_unlock(&p->mu);
}
