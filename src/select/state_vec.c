/* state_vec.c - router_dc's cache of model-card embeddings, keyed by card
 * text, so a card is embedded once per process. */
#include "select/state_internal.h"

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
    st->vecs = sel_grow(st->vecs, &st->cap_vecs, st->n_vecs + 1, sizeof *st->vecs);
    st->vecs[st->n_vecs++] = (vec_ent_t){sel_xstrdup(key), copy, dim};
    pthread_mutex_unlock(&st->mu);
}
