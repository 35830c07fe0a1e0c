/* state.c - the runtime state selection reads (sel_state_t): its lifecycle.
 * The tables live beside it, one file per job: latency rings and in-flight
 * counts (state_latency.c), elo ratings (state_elo.c) and router_dc's card
 * embeddings (state_vec.c); the layout is state_internal.h. Ratings live
 * here in-process until the session store backend holds them. */
#include "select/state_internal.h"

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
