/* state.c - the runtime state selection reads (sel_state_t): per-model
 * latency sample rings and in-flight counts, elo ratings per (decision,
 * model), and the card-embedding cache of router_dc. One mutex guards it
 * all: the tables are small (one entry per model, per decision×model) and
 * every operation is a short scan, so contention stays low next to a
 * request's cost. Ratings live here in-process until the session store
 * backend holds them. */
#include "select/select.h"
#include "decision/cfgnode.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    double ms;
    uint64_t at_ms;
} sample_t;

typedef struct ring {
    sample_t s[SEL_WINDOW_SAMPLES];
    size_t n, next;
} ring_t;

typedef struct model_ent {
    char *name;
    ring_t ring[2];
    int64_t inflight;
} model_ent_t;

typedef struct elo_ent {
    char *decision, *model;
    double rating;
} elo_ent_t;

typedef struct vec_ent {
    char *key;
    float *v;
    size_t dim;
} vec_ent_t;

struct sel_state {
    pthread_mutex_t mu;
    model_ent_t *models;
    size_t n_models, cap_models;
    elo_ent_t *elo;
    size_t n_elo, cap_elo;
    vec_ent_t *vecs;
    size_t n_vecs, cap_vecs;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * size);
    if (!q) abort();
    *cap = c;
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

sel_state_t *sel_state_new(void)
{
    sel_state_t *st = calloc(1, sizeof *st);
    if (!st) abort();
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

void sel_state_free(sel_state_t *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n_models; i++)
        free(st->models[i].name);
    for (size_t i = 0; i < st->n_elo; i++) {
        free(st->elo[i].decision);
        free(st->elo[i].model);
    }
    for (size_t i = 0; i < st->n_vecs; i++) {
        free(st->vecs[i].key);
        free(st->vecs[i].v);
    }
    free(st->models);
    free(st->elo);
    free(st->vecs);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Caller holds mu. create=false returns NULL when absent. */
static model_ent_t *model_get(sel_state_t *st, const char *model, bool create)
{
    for (size_t i = 0; i < st->n_models; i++)
        if (!strcmp(st->models[i].name, model)) return &st->models[i];
    if (!create) return NULL;
    st->models = grow(st->models, &st->cap_models, st->n_models + 1, sizeof *st->models);
    model_ent_t *m = &st->models[st->n_models++];
    memset(m, 0, sizeof *m);
    m->name = xstrdup(model);
    return m;
}

void sel_observe(sel_state_t *st, const char *model, sel_metric_t m, double ms, uint64_t now_ms)
{
    if (!st || !model || !(ms >= 0) || (m != SEL_TTFT && m != SEL_TPOT)) return;
    pthread_mutex_lock(&st->mu);
    ring_t *r = &model_get(st, model, true)->ring[m];
    r->s[r->next] = (sample_t){ms, now_ms};
    r->next = (r->next + 1) % SEL_WINDOW_SAMPLES;
    if (r->n < SEL_WINDOW_SAMPLES) r->n++;
    pthread_mutex_unlock(&st->mu);
}

void sel_observe_ttft(sel_state_t *st, const char *model, double ms, uint64_t now_ms)
{
    sel_observe(st, model, SEL_TTFT, ms, now_ms);
}

void sel_observe_tpot(sel_state_t *st, const char *model, double ms, uint64_t now_ms)
{
    sel_observe(st, model, SEL_TPOT, ms, now_ms);
}

void sel_inflight_add(sel_state_t *st, const char *model, int delta)
{
    if (!st || !model) return;
    pthread_mutex_lock(&st->mu);
    model_ent_t *m = model_get(st, model, true);
    m->inflight += delta;
    if (m->inflight < 0) m->inflight = 0;
    pthread_mutex_unlock(&st->mu);
}

int64_t sel_inflight(sel_state_t *st, const char *model)
{
    if (!st || !model) return 0;
    pthread_mutex_lock(&st->mu);
    model_ent_t *m = model_get(st, model, false);
    int64_t v = m ? m->inflight : 0;
    pthread_mutex_unlock(&st->mu);
    return v;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

bool sel_latency_percentile(sel_state_t *st, const char *model, sel_metric_t which, double pct,
                            uint64_t window_ms, uint64_t now_ms, size_t min_samples, double *out)
{
    if (!st || !model || (which != SEL_TTFT && which != SEL_TPOT)) return false;
    double v[SEL_WINDOW_SAMPLES];
    size_t n = 0;
    pthread_mutex_lock(&st->mu);
    model_ent_t *m = model_get(st, model, false);
    if (m) {
        const ring_t *r = &m->ring[which];
        for (size_t i = 0; i < r->n; i++)
            if (!window_ms || r->s[i].at_ms + window_ms >= now_ms) v[n++] = r->s[i].ms;
    }
    pthread_mutex_unlock(&st->mu);
    if (n == 0 || n < min_samples) return false;
    qsort(v, n, sizeof *v, cmp_double);
    if (pct <= 0) pct = 1;
    if (pct > 100) pct = 100;
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n);
    if (rank < 1) rank = 1;
    *out = v[rank - 1];
    return true;
}

/* Caller holds mu. */
static elo_ent_t *elo_get(sel_state_t *st, const char *decision, const char *model, double initial)
{
    for (size_t i = 0; i < st->n_elo; i++)
        if (!strcmp(st->elo[i].decision, decision) && !strcmp(st->elo[i].model, model))
            return &st->elo[i];
    st->elo = grow(st->elo, &st->cap_elo, st->n_elo + 1, sizeof *st->elo);
    elo_ent_t *e = &st->elo[st->n_elo++];
    e->decision = xstrdup(decision);
    e->model = xstrdup(model);
    e->rating = initial;
    return e;
}

double sel_elo_rating(sel_state_t *st, const char *decision, const char *model, double initial)
{
    if (!st || !decision || !model) return initial;
    pthread_mutex_lock(&st->mu);
    double r = initial;
    for (size_t i = 0; i < st->n_elo; i++)
        if (!strcmp(st->elo[i].decision, decision) && !strcmp(st->elo[i].model, model)) {
            r = st->elo[i].rating;
            break;
        }
    pthread_mutex_unlock(&st->mu);
    return r;
}

void sel_elo_set(sel_state_t *st, const char *decision, const char *model, double rating)
{
    if (!st || !decision || !model) return;
    pthread_mutex_lock(&st->mu);
    elo_get(st, decision, model, rating)->rating = rating;
    pthread_mutex_unlock(&st->mu);
}

bool sel_feedback_parse(const char *s, sel_feedback_t *out)
{
    static const char *const names[] = {"good", "bad", "win", "loss", "tie"};
    for (int i = 0; s && i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (sel_feedback_t)i;
            return true;
        }
    return false;
}

static bool is_candidate(const cfg_decision_t *d, const char *model)
{
    for (size_t i = 0; model && i < d->n_model_refs; i++)
        if (d->model_refs[i].model && !strcmp(d->model_refs[i].model, model)) return true;
    return false;
}

static double expected(double r, double opp)
{
    return 1.0 / (1.0 + pow(10.0, (opp - r) / 400.0));
}

int sel_elo_feedback(sel_state_t *st, const cfg_t *cfg, const cfg_decision_t *d, const char *model,
                     sel_feedback_t v, const char *other, const char **err)
{
    static const char *e_model = "model is not a candidate of the decision";
    static const char *e_other = "other is not another candidate of the decision";
    if (!st || !d || !is_candidate(d, model)) {
        if (err) *err = e_model;
        return -1;
    }
    bool pairwise = v == SEL_FB_WIN || v == SEL_FB_LOSS || v == SEL_FB_TIE;
    if (pairwise && (!is_candidate(d, other) || !strcmp(other, model))) {
        if (err) *err = e_other;
        return -1;
    }
    double k = dec_cfg_num(d->algorithm_block, "k_factor", 32.0);
    double init = sel_elo_initial(cfg, d, model);
    pthread_mutex_lock(&st->mu);
    elo_ent_t *me = elo_get(st, d->name, model, init);
    if (pairwise) {
        elo_ent_t *op = elo_get(st, d->name, other, sel_elo_initial(cfg, d, other));
        me = elo_get(st, d->name, model, init); /* the table may have moved */
        double s = v == SEL_FB_WIN ? 1.0 : v == SEL_FB_LOSS ? 0.0 : 0.5;
        double ea = expected(me->rating, op->rating);
        me->rating += k * (s - ea);
        op->rating += k * ((1.0 - s) - (1.0 - ea));
    } else {
        double sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < d->n_model_refs; i++) {
            const char *m = d->model_refs[i].model;
            if (!m || !strcmp(m, model)) continue;
            sum += elo_get(st, d->name, m, sel_elo_initial(cfg, d, m))->rating;
            n++;
        }
        me = elo_get(st, d->name, model, init);
        if (n) {
            double s = v == SEL_FB_GOOD ? 1.0 : 0.0;
            me->rating += k * (s - expected(me->rating, sum / (double)n));
        }
    }
    pthread_mutex_unlock(&st->mu);
    return 0;
}

bool sel_state_vec_get(sel_state_t *st, const char *key, float *out, size_t dim)
{
    if (!st || !key) return false;
    bool ok = false;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->n_vecs; i++)
        if (st->vecs[i].dim == dim && !strcmp(st->vecs[i].key, key)) {
            memcpy(out, st->vecs[i].v, dim * sizeof(float));
            ok = true;
            break;
        }
    pthread_mutex_unlock(&st->mu);
    return ok;
}

void sel_state_vec_put(sel_state_t *st, const char *key, const float *v, size_t dim)
{
    if (!st || !key || !dim) return;
    float *copy = malloc(dim * sizeof(float));
    if (!copy) abort();
    memcpy(copy, v, dim * sizeof(float));
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->n_vecs; i++)
        if (!strcmp(st->vecs[i].key, key)) {
            free(st->vecs[i].v);
            st->vecs[i].v = copy;
            st->vecs[i].dim = dim;
            pthread_mutex_unlock(&st->mu);
            return;
        }
    st->vecs = grow(st->vecs, &st->cap_vecs, st->n_vecs + 1, sizeof *st->vecs);
    st->vecs[st->n_vecs++] = (vec_ent_t){xstrdup(key), copy, dim};
    pthread_mutex_unlock(&st->mu);
}
