/* response_store.c - the Responses store: the memory backend (a chained
 * hash table on the id plus an insertion-ordered list for TTL and size
 * eviction), the calls on an event loop over the Redis backend
 * (response_store_redis.c) with the memory table as its local fallback,
 * chain walks and their expansion, and the blocking forms for tests and
 * tools. */
#include "api/response_store_internal.h"
#include "core/dlist.h"
#include "api/response_store_registry.h"
#include "core/hash.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_BUCKETS   4096
#define RS_MAX_CHAIN 10000

typedef struct rnode {
    rstore_entry_t e;
    struct rnode *hnext;       /* bucket chain */
    struct rnode *prev, *next; /* insertion order */
} rnode_t;

struct rstore {
    pthread_mutex_t mu;
    rnode_t *buckets[RS_BUCKETS];
    rnode_t *head, *tail; /* oldest .. newest */
    size_t n, max;
    uint64_t ttl_ms;
    rredis_t *redis; /* NULL: memory only */
};

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void entry_copy(rstore_entry_t *d, const rstore_entry_t *s)
{
    *d = *s;
    d->session_key = dup0(s->session_key);
    d->model = dup0(s->model);
    d->input = dup0(s->input);
    d->output = dup0(s->output);
    d->instructions = dup0(s->instructions);
    d->previous_response_id = dup0(s->previous_response_id);
    d->response = dup0(s->response);
}

static void entry_deinit(rstore_entry_t *e)
{
    free(e->session_key);
    free(e->model);
    free(e->input);
    free(e->output);
    free(e->instructions);
    free(e->previous_response_id);
    free(e->response);
}

void rstore_entry_free(rstore_entry_t *e)
{
    if (!e) return;
    entry_deinit(e);
    free(e);
}

rstore_t *rstore_new(uint64_t ttl_ms, size_t max)
{
    rstore_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->ttl_ms = ttl_ms;
    s->max = max;
    return s;
}

static size_t bucket(const char *id)
{
    return hash_xxh64(id, strlen(id), 0) % RS_BUCKETS;
}

static void unlink_node(rstore_t *s, rnode_t *n)
{
    rnode_t **pp = &s->buckets[bucket(n->e.id)];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp) *pp = n->hnext;
    DLIST_UNLINK(s->head, s->tail, n, prev, next);
    s->n--;
    entry_deinit(&n->e);
    free(n);
}

static rnode_t *find(rstore_t *s, const char *id)
{
    for (rnode_t *n = s->buckets[bucket(id)]; n; n = n->hnext)
        if (!strcmp(n->e.id, id)) return n;
    return NULL;
}

static void sweep(rstore_t *s, uint64_t now_ms)
{
    /* insertion order == expiry order (one TTL for all) */
    while (s->head && s->ttl_ms && s->head->e.expires_ms <= now_ms)
        unlink_node(s, s->head);
}

void rstore_free(rstore_t *s)
{
    if (!s) return;
    while (s->head)
        unlink_node(s, s->head);
    rr_free(s->redis);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void mem_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms)
{
    rnode_t *n = calloc(1, sizeof *n);
    entry_copy(&n->e, e);
    n->e.expires_ms = s->ttl_ms ? now_ms + s->ttl_ms : UINT64_MAX;
    pthread_mutex_lock(&s->mu);
    sweep(s, now_ms);
    rnode_t *old = find(s, e->id);
    if (old) unlink_node(s, old);
    size_t b = bucket(n->e.id);
    n->hnext = s->buckets[b];
    s->buckets[b] = n;
    DLIST_PUSH_BACK(s->head, s->tail, n, prev, next);
    s->n++;
    while (s->max && s->n > s->max)
        unlink_node(s, s->head);
    pthread_mutex_unlock(&s->mu);
}

static rstore_entry_t *mem_get(rstore_t *s, const char *id, uint64_t now_ms)
{
    rstore_entry_t *out = NULL;
    pthread_mutex_lock(&s->mu);
    rnode_t *n = find(s, id);
    if (n && n->e.expires_ms > now_ms) {
        out = malloc(sizeof *out);
        entry_copy(out, &n->e);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

static bool mem_delete(rstore_t *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    rnode_t *n = find(s, id);
    if (n) unlink_node(s, n);
    pthread_mutex_unlock(&s->mu);
    return n != NULL;
}

size_t rstore_count(rstore_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------------ Redis */

/* The `memory` backend (response_store_registry.h): the table alone. */
static rstore_t *memory_open(const struct cfg *cfg, uint64_t ttl_ms, size_t max, char *err,
                             size_t errlen)
{
    return rstore_new(ttl_ms, max);
}

const cfg_store_backend_t rstore_memory_store = {
    .name = "memory",
    .ops.responses = &(const rstore_backend_ops_t){.open = memory_open},
};

rstore_t *rstore_new_redis(uint64_t ttl_ms, size_t max, const rstore_redis_opts_t *o, char *err,
                           size_t errlen)
{
    rredis_t *r = rr_new(o, err, errlen);
    if (!r) return NULL;
    rstore_t *s = rstore_new(ttl_ms, max);
    s->redis = r;
    return s;
}

bool rstore_is_redis(const rstore_t *s)
{
    return s->redis != NULL;
}

uint64_t rstore_redis_failures(rstore_t *s)
{
    return s->redis ? rr_failures(s->redis) : 0;
}

/* ------------------------------------------------------------ on a loop */

typedef struct put_ack {
    rstore_t *s;
    char id[RSTORE_ID_MAX];
} put_ack_t;

static void on_put(void *ud, int rc)
{
    put_ack_t *a = ud;
    /* Redis has it: the local copy must not shadow a later change there */
    if (rc == 1) mem_delete(a->s, a->id);
    free(a);
}

void rstore_put_async(rstore_t *s, struct event_base *evb, const rstore_entry_t *e, uint64_t now_ms)
{
    mem_put(s, e, now_ms);
    if (!s->redis) return;
    put_ack_t *a = malloc(sizeof *a);
    if (!a) abort();
    a->s = s;
    snprintf(a->id, sizeof a->id, "%s", e->id);
    rr_put(s->redis, evb, e, s->ttl_ms, on_put, a);
}

typedef struct get_call {
    rstore_t *s;
    char id[RSTORE_ID_MAX];
    uint64_t now_ms;
    rstore_get_cb cb;
    void *ud;
} get_call_t;

static void on_get(void *ud, int rc, rstore_entry_t *e)
{
    get_call_t *g = ud;
    if (rc != 1) e = mem_get(g->s, g->id, g->now_ms);
    g->cb(g->ud, e);
    free(g);
}

void rstore_get_async(rstore_t *s, struct event_base *evb, const char *id, uint64_t now_ms,
                      rstore_get_cb cb, void *ud)
{
    if (!s->redis) {
        cb(ud, mem_get(s, id, now_ms));
        return;
    }
    get_call_t *g = malloc(sizeof *g);
    if (!g) abort();
    *g = (get_call_t){.s = s, .now_ms = now_ms, .cb = cb, .ud = ud};
    snprintf(g->id, sizeof g->id, "%s", id);
    rr_get(s->redis, evb, id, on_get, g);
}

typedef struct del_call {
    bool local;
    rstore_delete_cb cb;
    void *ud;
} del_call_t;

static void on_del(void *ud, int rc)
{
    del_call_t *d = ud;
    d->cb(d->ud, rc == 1 || d->local);
    free(d);
}

void rstore_delete_async(rstore_t *s, struct event_base *evb, const char *id, rstore_delete_cb cb,
                         void *ud)
{
    bool local = mem_delete(s, id);
    if (!s->redis) {
        cb(ud, local);
        return;
    }
    del_call_t *d = malloc(sizeof *d);
    if (!d) abort();
    *d = (del_call_t){local, cb, ud};
    rr_del(s->redis, evb, id, on_del, d);
}

/* ------------------------------------------------------------ chains */

struct rstore_chain {
    rstore_entry_t **e; /* newest first */
    int n, cap;
};

void rstore_chain_free(rstore_chain_t *ch)
{
    if (!ch) return;
    for (int i = 0; i < ch->n; i++)
        rstore_entry_free(ch->e[i]);
    free(ch->e);
    free(ch);
}

/* One walk down a chain: a read per entry, each after the one before
 * (the next id is in the entry). Reads answered inline (memory, an open
 * circuit) continue in walk's loop rather than recursing. */
typedef struct chain_walk {
    rstore_t *s;
    struct event_base *evb;
    uint64_t now_ms;
    char *first;
    rstore_chain_t *ch;
    bool failed, in_call, answered;
    rstore_chain_cb cb;
    void *ud;
} chain_walk_t;

static void walk_end(chain_walk_t *w)
{
    rstore_chain_t *ch = w->ch;
    if (w->failed) {
        rstore_chain_free(ch);
        ch = NULL;
    }
    w->cb(w->ud, ch);
    free(w->first);
    free(w);
}

static void walk_next(chain_walk_t *w);

static void on_walk_get(void *ud, rstore_entry_t *e)
{
    chain_walk_t *w = ud;
    rstore_chain_t *ch = w->ch;
    if (!e) {
        w->failed = true;
    } else {
        if (ch->n == ch->cap) {
            ch->cap = ch->cap ? ch->cap * 2 : 8;
            rstore_entry_t **nc = realloc(ch->e, (size_t)ch->cap * sizeof *ch->e);
            if (!nc) abort();
            ch->e = nc;
        }
        ch->e[ch->n++] = e;
    }
    if (w->in_call) {
        w->answered = true;
        return;
    }
    walk_next(w);
}

static void walk_next(chain_walk_t *w)
{
    for (;;) {
        const char *cur = w->ch->n ? w->ch->e[w->ch->n - 1]->previous_response_id : w->first;
        if (w->failed || !cur || !*cur || w->ch->n >= RS_MAX_CHAIN) {
            if (cur && *cur && w->ch->n >= RS_MAX_CHAIN) w->failed = true;
            walk_end(w);
            return;
        }
        w->in_call = true;
        w->answered = false;
        rstore_get_async(w->s, w->evb, cur, w->now_ms, on_walk_get, w);
        w->in_call = false;
        if (!w->answered) return; /* on_walk_get continues */
    }
}

void rstore_chain_fetch(rstore_t *s, struct event_base *evb, const char *id, uint64_t now_ms,
                        rstore_chain_cb cb, void *ud)
{
    chain_walk_t *w = calloc(1, sizeof *w);
    if (!w) abort();
    *w = (chain_walk_t){.s = s, .evb = evb, .now_ms = now_ms, .cb = cb, .ud = ud};
    w->first = strdup(id ? id : "");
    w->ch = calloc(1, sizeof *w->ch);
    if (!w->first || !w->ch) abort();
    walk_next(w);
}

int rstore_chain_expand(const rstore_chain_t *ch, cJSON *msgs, cJSON *items, char **instructions,
                        bool *native, char **model, tr_warn_t *w)
{
    if (instructions) *instructions = NULL;
    if (native) *native = false;
    if (model) *model = NULL;
    int n = ch->n;
    rstore_entry_t *const *chain = ch->e;
    if (n && instructions && chain[0]->instructions) *instructions = strdup(chain[0]->instructions);
    if (n && model && chain[0]->model) *model = strdup(chain[0]->model);
    for (int i = n - 1; i >= 0; i--) {
        if (native && chain[i]->native) *native = true;
        cJSON *in = chain[i]->input ? cJSON_Parse(chain[i]->input) : NULL;
        cJSON *out = chain[i]->output ? cJSON_Parse(chain[i]->output) : NULL;
        if (msgs) {
            if (in) tr_items_to_messages(in, msgs, w);
            if (out) tr_items_to_messages(out, msgs, w);
        }
        if (items) {
            cJSON *x;
            cJSON_ArrayForEach(x, in) cJSON_AddItemToArray(items, cJSON_Duplicate(x, 1));
            cJSON_ArrayForEach(x, out) cJSON_AddItemToArray(items, cJSON_Duplicate(x, 1));
        }
        cJSON_Delete(in);
        cJSON_Delete(out);
    }
    return n;
}

/* ------------------------------------------------------------ blocking */

/* The private loop of the blocking calls (NULL for memory: all inline). */
static struct event_base *sync_base(rstore_t *s)
{
    return s->redis ? rr_sync_base(s->redis) : NULL;
}

/* Until the call is done; and once more without waiting, so that what the
 * loop owes (the circuit's probe, a late reply) is handled even when the
 * call was answered inline. */
static void wait_for(struct event_base *b, const bool *done)
{
    if (!b) return;
    while (!*done)
        event_base_loop(b, EVLOOP_ONCE);
    event_base_loop(b, EVLOOP_NONBLOCK);
}

typedef struct sync_res {
    bool done, deleted;
    rstore_entry_t *e;
    rstore_chain_t *ch;
} sync_res_t;

static void sync_got(void *ud, rstore_entry_t *e)
{
    sync_res_t *r = ud;
    r->e = e;
    r->done = true;
}

static void sync_deleted(void *ud, bool deleted)
{
    sync_res_t *r = ud;
    r->deleted = deleted;
    r->done = true;
}

static void sync_chain(void *ud, rstore_chain_t *ch)
{
    sync_res_t *r = ud;
    r->ch = ch;
    r->done = true;
}

typedef struct sync_put {
    rstore_t *s;
    char id[RSTORE_ID_MAX];
    bool done;
} sync_put_t;

static void sync_put_done(void *ud, int rc)
{
    sync_put_t *p = ud;
    if (rc == 1) mem_delete(p->s, p->id);
    p->done = true;
}

void rstore_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms)
{
    mem_put(s, e, now_ms);
    if (!s->redis) return;
    sync_put_t p = {.s = s};
    snprintf(p.id, sizeof p.id, "%s", e->id);
    rr_put(s->redis, sync_base(s), e, s->ttl_ms, sync_put_done, &p);
    wait_for(sync_base(s), &p.done);
}

rstore_entry_t *rstore_get(rstore_t *s, const char *id, uint64_t now_ms)
{
    sync_res_t r = {0};
    rstore_get_async(s, sync_base(s), id, now_ms, sync_got, &r);
    wait_for(sync_base(s), &r.done);
    return r.e;
}

bool rstore_delete(rstore_t *s, const char *id)
{
    sync_res_t r = {0};
    rstore_delete_async(s, sync_base(s), id, sync_deleted, &r);
    wait_for(sync_base(s), &r.done);
    return r.deleted;
}

int rstore_chain(rstore_t *s, const char *id, uint64_t now_ms, cJSON *msgs, cJSON *items,
                 char **instructions, bool *native, char **model, tr_warn_t *w)
{
    if (instructions) *instructions = NULL;
    if (native) *native = false;
    if (model) *model = NULL;
    sync_res_t r = {0};
    rstore_chain_fetch(s, sync_base(s), id, now_ms, sync_chain, &r);
    wait_for(sync_base(s), &r.done);
    if (!r.ch) return -1;
    int n = rstore_chain_expand(r.ch, msgs, items, instructions, native, model, w);
    rstore_chain_free(r.ch);
    return n;
}

void rstore_new_id(char out[32])
{
    memcpy(out, "resp_", 5);
    hash_random_hex(out + 5, 24);
    out[29] = 0;
}
