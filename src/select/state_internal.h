/* state_internal.h - the layout of sel_state_t, private to src/select/state*.c.
 * One mutex guards every table: they are small (one entry per model, per
 * decision x model) and every operation is a short scan. */
#ifndef TETHER_SELECT_STATE_INTERNAL_H
#define TETHER_SELECT_STATE_INTERNAL_H
#include "select/select.h"
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

static inline void *sel_grow(void *p, size_t *cap, size_t need, size_t size)
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

static inline char *sel_xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

#endif
