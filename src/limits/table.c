/* table.c - the local counters of rate limits and budgets (see table.h):
 * 64 mutex-guarded shards of chained hash buckets; a counter is allocated
 * once per name and lives until the process ends (names come from the
 * config: rules times keys, teams, models, decisions). */
#include "limits/table.h"
#include "core/hash.h"
#include "limits/window.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS  64
#define BUCKETS 256 /* per shard */

typedef struct ctr {
    struct ctr *next;
    uint64_t hash, ws;
    int64_t value;
    size_t len;
    char name[];
} ctr_t;

typedef struct shard {
    pthread_mutex_t mu;
    ctr_t *b[BUCKETS];
} shard_t;

struct lim_table {
    shard_t shards[SHARDS];
    size_t max;
    atomic_size_t n;
    atomic_uint_fast64_t dropped;
};

lim_table_t *lim_table_new(size_t max_counters)
{
    lim_table_t *t = calloc(1, sizeof *t);
    if (!t) abort();
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&t->shards[i].mu, NULL);
    t->max = max_counters ? max_counters : 100000;
    return t;
}

void lim_table_free(lim_table_t *t)
{
    if (!t) return;
    for (int i = 0; i < SHARDS; i++) {
        for (int j = 0; j < BUCKETS; j++)
            for (ctr_t *c = t->shards[i].b[j], *nx; c; c = nx) {
                nx = c->next;
                free(c);
            }
        pthread_mutex_destroy(&t->shards[i].mu);
    }
    free(t);
}

/* The counter (its shard locked by the caller), made when create. */
static ctr_t *find(lim_table_t *t, shard_t *s, uint64_t h, const char *name, size_t len,
                   bool create)
{
    ctr_t **b = &s->b[(h >> 6) % BUCKETS];
    for (ctr_t *c = *b; c; c = c->next)
        if (c->hash == h && c->len == len && !memcmp(c->name, name, len)) return c;
    if (!create) return NULL;
    if (atomic_fetch_add(&t->n, 1) >= t->max) {
        atomic_fetch_sub(&t->n, 1);
        atomic_fetch_add(&t->dropped, 1);
        return NULL;
    }
    ctr_t *c = calloc(1, sizeof *c + len);
    if (!c) abort();
    c->hash = h;
    c->len = len;
    memcpy(c->name, name, len);
    c->next = *b;
    *b = c;
    return c;
}

uint64_t lim_table_hash(const char *name, size_t len)
{
    return hash_xxh64(name, len, 0x6c696d6974730a);
}

int64_t lim_table_get(lim_table_t *t, const lim_key_t *k, uint64_t ws)
{
    shard_t *s = &t->shards[k->hash % SHARDS];
    pthread_mutex_lock(&s->mu);
    ctr_t *c = find(t, s, k->hash, k->name, k->len, false);
    int64_t v = c && c->ws == ws ? c->value : 0;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static ctr_t *in_window(ctr_t *c, uint64_t ws)
{
    if (c && c->ws != ws) {
        if (ws < c->ws) return NULL; /* a late add for a window already over */
        c->ws = ws;
        c->value = 0;
    }
    return c;
}

int64_t lim_table_add(lim_table_t *t, const lim_key_t *k, uint64_t ws, int64_t delta)
{
    shard_t *s = &t->shards[k->hash % SHARDS];
    pthread_mutex_lock(&s->mu);
    ctr_t *c = in_window(find(t, s, k->hash, k->name, k->len, true), ws);
    int64_t v = 0;
    if (c) v = c->value = lim_add_sat(c->value, delta);
    pthread_mutex_unlock(&s->mu);
    return v;
}

void lim_table_raise(lim_table_t *t, const lim_key_t *k, uint64_t ws, int64_t floor)
{
    shard_t *s = &t->shards[k->hash % SHARDS];
    pthread_mutex_lock(&s->mu);
    ctr_t *c = in_window(find(t, s, k->hash, k->name, k->len, true), ws);
    if (c && c->value < floor) c->value = floor;
    pthread_mutex_unlock(&s->mu);
}

uint64_t lim_table_dropped(const lim_table_t *t)
{
    return atomic_load(&((lim_table_t *)t)->dropped);
}

void lim_table_each(lim_table_t *t, const char *prefix, size_t plen,
                    void (*fn)(void *ud, const char *name, size_t len, uint64_t ws, int64_t value),
                    void *ud)
{
    for (int i = 0; i < SHARDS; i++) {
        shard_t *s = &t->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int j = 0; j < BUCKETS; j++)
            for (ctr_t *c = s->b[j]; c; c = c->next)
                if (c->len >= plen && !memcmp(c->name, prefix, plen))
                    fn(ud, c->name, c->len, c->ws, c->value);
        pthread_mutex_unlock(&s->mu);
    }
}
