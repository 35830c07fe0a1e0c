/* state_latency.c - per-model TTFT/TPOT sample rings, in-flight counts and
 * window percentiles (latency_aware, multi_factor read them; the proxy feeds
 * them). */
#include "select/state_internal.h"
#include <math.h>

/* Caller holds mu. create=false returns NULL when absent. */
static model_ent_t *model_get(sel_state_t *st, const char *model, bool create)
{
    for (size_t i = 0; i < st->n_models; i++)
        if (!strcmp(st->models[i].name, model)) return &st->models[i];
    if (!create) return NULL;
    st->models = sel_grow(st->models, &st->cap_models, st->n_models + 1, sizeof *st->models);
    model_ent_t *m = &st->models[st->n_models++];
    memset(m, 0, sizeof *m);
    m->name = sel_xstrdup(model);
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
