/* pool.h - one kv_t per event loop for a Redis user shared by many loops
 * (the Responses store, rate limits, the response cache): the options
 * checked once, a connection made on a loop's first call, all freed
 * together. Thread-safe (a mutex guards the table); each kv_t returned is
 * then used on its own loop only (kv/client.h). */
#ifndef TETHER_KV_POOL_H
#define TETHER_KV_POOL_H
#include "kv/client.h"
#include <pthread.h>

#define KV_POOL_MAX_LOOPS 64

typedef struct kv_pool {
    kv_conf_t conf;
    pthread_mutex_t mu; /* guards loops[] */
    struct {
        struct event_base *evb;
        kv_t *kv;
    } loops[KV_POOL_MAX_LOOPS];
    int n_loops;
} kv_pool_t;

/* False with a diagnostic in err when the address is malformed. */
bool kv_pool_init(kv_pool_t *p, const kv_opts_t *o, char *err, size_t errlen);
/* Frees every connection (commands in flight are abandoned). */
void kv_pool_deinit(kv_pool_t *p);
/* The connection of loop evb, made on first use; NULL when every slot is
 * taken (the caller then degrades as its own header says). */
kv_t *kv_pool_get(kv_pool_t *p, struct event_base *evb);
/* Frees the connection of loop evb, if any (its loop is going away). */
void kv_pool_drop(kv_pool_t *p, struct event_base *evb);
/* Whether any connection's circuit is not closed. */
bool kv_pool_any_degraded(kv_pool_t *p);
#endif
