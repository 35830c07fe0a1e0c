/* snapshot.c - atomic pointer + per-config reference counts for hot reload.
 *
 * Why a reader count on the holder: a reader loads the pointer and then
 * increments that config's refcount; a swap in between could drop the last
 * reference and free it. Readers therefore announce themselves (readers++)
 * before loading the pointer, and a swap waits for in-progress acquires to
 * finish before dropping the holder's reference to the old config. */
#include "config/snapshot.h"
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct node {
    cfg_t *cfg;
    atomic_long refs;
} node_t;

struct cfg_snapshot {
    _Atomic(node_t *) cur;
    atomic_long acquiring;
    atomic_uint_fast64_t generation;
};

/* The node is found from the cfg through cfg_t.snap_node (private). */
static node_t *node_of(const cfg_t *c)
{
    return (node_t *)c->snap_node;
}

static void unref(node_t *n)
{
    if (atomic_fetch_sub(&n->refs, 1) == 1) {
        cfg_free(n->cfg);
        free(n);
    }
}

static node_t *node_new(cfg_t *c)
{
    node_t *n = malloc(sizeof(*n));
    if (!n) abort();
    n->cfg = c;
    atomic_init(&n->refs, 1); /* the holder's reference */
    c->snap_node = n;
    return n;
}

cfg_snapshot_t *cfg_snapshot_new(cfg_t *initial)
{
    cfg_snapshot_t *s = calloc(1, sizeof(*s));
    if (!s) abort();
    initial->generation = 1;
    atomic_init(&s->generation, 1);
    atomic_init(&s->acquiring, 0);
    atomic_init(&s->cur, node_new(initial));
    return s;
}

void cfg_snapshot_free(cfg_snapshot_t *s)
{
    if (!s) return;
    unref(atomic_load(&s->cur));
    free(s);
}

const cfg_t *cfg_snapshot_acquire(cfg_snapshot_t *s)
{
    atomic_fetch_add(&s->acquiring, 1);
    node_t *n = atomic_load(&s->cur);
    atomic_fetch_add(&n->refs, 1);
    atomic_fetch_sub(&s->acquiring, 1);
    return n->cfg;
}

void cfg_snapshot_release(cfg_snapshot_t *s, const cfg_t *c)
{
    (void)s;
    if (c) unref(node_of(c));
}

uint64_t cfg_snapshot_swap(cfg_snapshot_t *s, cfg_t *next)
{
    uint64_t gen = atomic_fetch_add(&s->generation, 1) + 1;
    next->generation = gen;
    node_t *old = atomic_exchange(&s->cur, node_new(next));
    /* wait out readers that may have loaded `old` but not yet counted it */
    while (atomic_load(&s->acquiring) > 0)
        sched_yield();
    unref(old);
    return gen;
}

uint64_t cfg_snapshot_generation(cfg_snapshot_t *s)
{
    return atomic_load(&s->generation);
}
