/* pool.c - the per-loop connection table of a Redis user (see pool.h);
 * neighbours: client.c (one connection), its users in api/, limits/ and
 * plugins/. */
#include "kv/pool.h"

bool kv_pool_init(kv_pool_t *p, const kv_opts_t *o, char *err, size_t errlen)
{
    if (!kv_conf_init(&p->conf, o, err, errlen)) return false;
    pthread_mutex_init(&p->mu, NULL);
    p->n_loops = 0;
    return true;
}

void kv_pool_deinit(kv_pool_t *p)
{
    for (int i = 0; i < p->n_loops; i++)
        kv_free(p->loops[i].kv);
    p->n_loops = 0;
    pthread_mutex_destroy(&p->mu);
    kv_conf_deinit(&p->conf);
}

kv_t *kv_pool_get(kv_pool_t *p, struct event_base *evb)
{
    kv_t *kv = NULL;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_loops && !kv; i++)
        if (p->loops[i].evb == evb) kv = p->loops[i].kv;
    if (!kv && p->n_loops < KV_POOL_MAX_LOOPS) {
        char err[256];
        kv = kv_new(evb, &p->conf.o, err, sizeof err); /* the address was checked in _init */
        if (kv) {
            p->loops[p->n_loops].evb = evb;
            p->loops[p->n_loops++].kv = kv;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return kv;
}

void kv_pool_drop(kv_pool_t *p, struct event_base *evb)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_loops; i++)
        if (p->loops[i].evb == evb) {
            kv_free(p->loops[i].kv);
            p->loops[i] = p->loops[--p->n_loops];
            break;
        }
    pthread_mutex_unlock(&p->mu);
}

bool kv_pool_any_degraded(kv_pool_t *p)
{
    bool d = false;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_loops; i++)
        d = d || kv_is_degraded(p->loops[i].kv);
    pthread_mutex_unlock(&p->mu);
    return d;
}
