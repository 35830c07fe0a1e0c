/* store_memory.c - the local session store (SPEC §9.2, §9.8): three sharded
 * hash tables (sessions, chain index, openers), each shard with its own
 * mutex, an LRU list and a share of the size cap. Records expire ttl after
 * last_seen (sessions) or after their last write (index entries); expired
 * entries are dropped lazily on access and from the LRU tail on insert.
 *
 * Session records are kept packed (state_pack.c: about a hundred bytes
 * instead of sizeof(sess_state_t)); an entry's value has room for its
 * length rounded up to 16 bytes and is resized in place when a commit
 * outgrows it. Index entries whose value fits are rewritten in place.
 *
 * Used directly (global.stores.session.backend: memory) and as the Redis
 * store's fallback while Redis is unavailable. Every operation completes
 * before it returns (callbacks run inline). Thread-safe. */
#include "core/clock.h"
#include "core/dlist.h"
#include "core/hash.h"
#include "session/registry.h"
#include "session/state_pack.h"
#include "session/store.h"
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct ment {
    struct ment *hnext, *lprev, *lnext;
    uint64_t h, expires_ms;
    uint32_t klen, vlen;
    _Alignas(16) unsigned char data[]; /* key (klen, NUL-terminated, padded to 16), then value */
} ment_t;

static size_t key_space(uint32_t klen)
{
    return ((size_t)klen + 1 + 15) & ~(size_t)15;
}
/* Room for a value of vlen bytes: what the entry was allocated with (a
 * value is rewritten in place only when its room stays the same). */
static size_t val_space(uint32_t vlen)
{
    return ((size_t)vlen + 15) & ~(size_t)15;
}
static char *ment_key(ment_t *e)
{
    return (char *)e->data;
}
static void *ment_val(ment_t *e)
{
    return e->data + key_space(e->klen);
}

typedef struct mshard {
    pthread_mutex_t mu;
    ment_t **buckets;
    size_t nb, count;
    ment_t *head, *tail; /* head: most recently written */
    uint64_t cap;
    uint64_t evictions, expirations;
    uint64_t bytes; /* allocated by the entries */
} mshard_t;

typedef struct mtab {
    mshard_t *shards;
    unsigned n;
} mtab_t;

typedef struct mem_store {
    sess_store_t base;
    mtab_t sessions, chain, openers;
    uint64_t ttl_ms;
    sess_clock_fn clock;
    void *clock_ud;
    atomic_uint_fast64_t gets, hits, commits, conflicts, usage_adds;
} mem_store_t;

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) abort();
    return p;
}

static void mtab_init(mtab_t *t, unsigned n, uint64_t cap)
{
    t->n = n;
    t->shards = xcalloc(n, sizeof *t->shards);
    uint64_t per = (cap + n - 1) / n;
    for (unsigned i = 0; i < n; i++) {
        mshard_t *s = &t->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->nb = 64;
        s->buckets = xcalloc(s->nb, sizeof *s->buckets);
        s->cap = per ? per : 1;
    }
}

static void mtab_deinit(mtab_t *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        mshard_t *s = &t->shards[i];
        for (ment_t *e = s->head, *nx; e; e = nx) {
            nx = e->lnext;
            free(e);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(t->shards);
}

/* Shard from the high bits, bucket from the low bits. */
static mshard_t *shard_of(mtab_t *t, uint64_t h)
{
    return &t->shards[(h >> 40) & (t->n - 1)];
}

static void lru_unlink(mshard_t *s, ment_t *e)
{
    DLIST_UNLINK(s->head, s->tail, e, lprev, lnext);
}

static void lru_push_head(mshard_t *s, ment_t *e)
{
    DLIST_PUSH_FRONT(s->head, s->tail, e, lprev, lnext);
}

static size_t ment_size(uint32_t klen, uint32_t vlen)
{
    return sizeof(ment_t) + key_space(klen) + val_space(vlen);
}

static void ment_remove(mshard_t *s, ment_t *e)
{
    s->bytes -= ment_size(e->klen, e->vlen);
    ment_t **pp = &s->buckets[e->h & (s->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(s, e);
    s->count--;
    free(e);
}

static ment_t *ment_find(mshard_t *s, uint64_t h, const void *key, uint32_t klen, uint64_t now)
{
    for (ment_t *e = s->buckets[h & (s->nb - 1)]; e; e = e->hnext)
        if (e->h == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            if (e->expires_ms <= now) {
                ment_remove(s, e);
                s->expirations++;
                return NULL;
            }
            return e;
        }
    return NULL;
}

static void grow(mshard_t *s)
{
    size_t nb = s->nb * 2;
    ment_t **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < s->nb; i++)
        for (ment_t *e = s->buckets[i], *nx; e; e = nx) {
            nx = e->hnext;
            e->hnext = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->nb = nb;
}

/* A new entry at the LRU head (caller fills the value). Drops expired
 * entries from the tail, then the least recently written beyond the cap. */
/* Drop up to 8 expired entries from the LRU tail. */
static void expire_tail(mshard_t *s, uint64_t now)
{
    for (int i = 0; i < 8 && s->tail && s->tail->expires_ms <= now; i++) {
        ment_remove(s, s->tail);
        s->expirations++;
    }
}

static ment_t *ment_insert(mshard_t *s, uint64_t h, const void *key, uint32_t klen, uint32_t vlen,
                           uint64_t now)
{
    expire_tail(s, now);
    while (s->count >= s->cap && s->tail) {
        ment_remove(s, s->tail);
        s->evictions++;
    }
    if (s->count + 1 > s->nb) grow(s);
    ment_t *e = malloc(ment_size(klen, vlen));
    if (!e) abort();
    s->bytes += ment_size(klen, vlen);
    memset(e, 0, sizeof *e);
    e->h = h;
    e->klen = klen;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    e->data[klen] = 0;
    e->hnext = s->buckets[h & (s->nb - 1)];
    s->buckets[h & (s->nb - 1)] = e;
    lru_push_head(s, e);
    s->count++;
    return e;
}

/* Give e's value room for exactly val_space(vlen) bytes (reallocating when
 * that changes); returns the entry, which keeps its place in the bucket and
 * LRU lists. */
static ment_t *ment_resize(mshard_t *s, ment_t *e, uint32_t vlen)
{
    s->bytes += ment_size(e->klen, vlen) - ment_size(e->klen, e->vlen);
    if (val_space(vlen) == val_space(e->vlen)) {
        e->vlen = vlen;
        return e;
    }
    ment_t **pp = &s->buckets[e->h & (s->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    ment_t *n = realloc(e, ment_size(e->klen, vlen));
    if (!n) abort();
    *pp = n;
    if (n->lprev)
        n->lprev->lnext = n;
    else
        s->head = n;
    if (n->lnext)
        n->lnext->lprev = n;
    else
        s->tail = n;
    n->vlen = vlen;
    return n;
}

/* Store the packed form of st as e's value; e NULL: as a new entry for
 * key (h, klen) at the LRU head. */
static ment_t *ment_set_state(mshard_t *s, ment_t *e, uint64_t h, const char *key, uint32_t klen,
                              uint64_t now, const sess_state_t *st)
{
    unsigned char packed[SESS_PACK_MAX];
    size_t n = sess_state_pack_keep(st, packed);
    if (e)
        e = ment_resize(s, e, (uint32_t)n);
    else
        e = ment_insert(s, h, key, klen, (uint32_t)n, now);
    memcpy(ment_val(e), packed, n);
    return e;
}

static void ment_get_state(ment_t *e, sess_state_t *st)
{
    if (!sess_state_unpack_kept(ment_val(e), e->vlen, st)) abort(); /* our own bytes */
}

static uint64_t now_of(mem_store_t *m)
{
    return m->clock ? m->clock(m->clock_ud) : clock_wall_ms();
}

static uint64_t key_hash(const char *key, size_t n)
{
    return hash_xxh64(key, n, 0x5e55);
}

/* ---- sessions ---- */

/* A session key's place: its hash, its shard (locked by mem_lock_find) and
 * the time of the lookup. */
typedef struct mkey {
    const char *key;
    uint32_t len;
    uint64_t hash, now;
    mshard_t *shard;
} mkey_t;

/* Lock key's shard and return its live entry (NULL when there is none);
 * the caller unlocks k->shard->mu. */
static ment_t *mem_lock_find(mem_store_t *m, const char *key, mkey_t *k)
{
    size_t kl = strlen(key);
    k->key = key;
    k->len = (uint32_t)kl;
    k->hash = key_hash(key, kl);
    k->now = now_of(m);
    k->shard = shard_of(&m->sessions, k->hash);
    pthread_mutex_lock(&k->shard->mu);
    return ment_find(k->shard, k->hash, key, k->len, k->now);
}

static void mem_get(sess_store_t *ss, const char *key, sess_get_cb cb, void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    atomic_fetch_add(&m->gets, 1);
    sess_state_t st;
    mkey_t k;
    ment_t *e = mem_lock_find(m, key, &k);
    if (e) ment_get_state(e, &st);
    pthread_mutex_unlock(&k.shard->mu);
    if (e) atomic_fetch_add(&m->hits, 1);
    if (cb) cb(ud, e ? SESS_OK : SESS_NOT_FOUND, e ? &st : NULL);
}

static void mem_commit(sess_store_t *ss, const char *key, const sess_outcome_t *o,
                       sess_commit_cb cb, void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    sess_commit_result_t res;
    sess_state_t after;
    mkey_t k;
    ment_t *e = mem_lock_find(m, key, &k);
    bool exists = e != NULL;
    if (e) {
        lru_unlink(k.shard, e);
        lru_push_head(k.shard, e);
        ment_get_state(e, &after);
    }
    sess_state_apply_commit(&after, exists, o, &res);
    e = ment_set_state(k.shard, e, k.hash, key, k.len, k.now, &after);
    e->expires_ms = after.last_seen_ms + m->ttl_ms;
    pthread_mutex_unlock(&k.shard->mu);
    atomic_fetch_add(&m->commits, 1);
    if (res.conflict) atomic_fetch_add(&m->conflicts, 1);
    if (cb) cb(ud, SESS_OK, &res, &after);
}

static void mem_add_usage(sess_store_t *ss, const char *key, const char *model,
                          const sess_usage_t *u, uint64_t now_ms, sess_done_cb cb, void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    mkey_t k;
    ment_t *e = mem_lock_find(m, key, &k);
    if (e) {
        sess_state_t st;
        ment_get_state(e, &st);
        sess_state_add_usage(&st, model, u, now_ms);
        e = ment_set_state(k.shard, e, k.hash, key, k.len, 0, &st);
        e->expires_ms = st.last_seen_ms + m->ttl_ms;
    }
    pthread_mutex_unlock(&k.shard->mu);
    atomic_fetch_add(&m->usage_adds, 1);
    if (cb) cb(ud, e ? SESS_OK : SESS_NOT_FOUND);
}

void sess_store_memory_put(sess_store_t *ss, const char *key, const sess_state_t *st)
{
    mem_store_t *m = (mem_store_t *)ss;
    mkey_t k;
    ment_t *e = mem_lock_find(m, key, &k);
    if (e) ment_remove(k.shard, e);
    e = ment_set_state(k.shard, NULL, k.hash, key, k.len, k.now, st);
    e->expires_ms = st->last_seen_ms + m->ttl_ms;
    pthread_mutex_unlock(&k.shard->mu);
}

void sess_store_memory_remove_if(sess_store_t *ss, const char *key, uint64_t last_seen_ms)
{
    mkey_t k;
    ment_t *e = mem_lock_find((mem_store_t *)ss, key, &k);
    if (e) {
        sess_state_t st;
        ment_get_state(e, &st);
        if (st.last_seen_ms == last_seen_ms) ment_remove(k.shard, e);
    }
    pthread_mutex_unlock(&k.shard->mu);
}

/* Call visit on every live (unexpired) session entry, one shard locked at a
 * time. */
static void mem_walk_live(mem_store_t *m, void (*visit)(void *ud, ment_t *e), void *ud)
{
    uint64_t now = now_of(m);
    for (unsigned i = 0; i < m->sessions.n; i++) {
        mshard_t *s = &m->sessions.shards[i];
        pthread_mutex_lock(&s->mu);
        for (ment_t *e = s->head; e; e = e->lnext)
            if (e->expires_ms > now) visit(ud, e);
        pthread_mutex_unlock(&s->mu);
    }
}

typedef struct walk_ctx {
    sess_memory_key_fn key_fn;
    sess_memory_visit_fn visit_fn;
    void *ud;
} walk_ctx_t;

static void walk_key(void *p, ment_t *e)
{
    walk_ctx_t *w = p;
    w->key_fn(w->ud, ment_key(e));
}

static void walk_state(void *p, ment_t *e)
{
    walk_ctx_t *w = p;
    sess_state_t st;
    ment_get_state(e, &st);
    w->visit_fn(w->ud, ment_key(e), &st);
}

void sess_store_memory_foreach_key(sess_store_t *ss, sess_memory_key_fn fn, void *ud)
{
    walk_ctx_t w = {.key_fn = fn, .ud = ud};
    mem_walk_live((mem_store_t *)ss, walk_key, &w);
}

void sess_store_memory_foreach(sess_store_t *ss, sess_memory_visit_fn fn, void *ud)
{
    walk_ctx_t w = {.visit_fn = fn, .ud = ud};
    mem_walk_live((mem_store_t *)ss, walk_state, &w);
}

/* ---- chain and opener indexes: 8-byte hash -> session key ---- */

static void index_put(mem_store_t *m, mtab_t *t, uint64_t hash, const char *key)
{
    size_t vl = strlen(key) + 1;
    uint64_t now = now_of(m);
    mshard_t *s = shard_of(t, hash);
    pthread_mutex_lock(&s->mu);
    ment_t *e = ment_find(s, hash, &hash, sizeof hash, now);
    if (e && val_space((uint32_t)vl) == val_space(e->vlen)) {
        /* the same as removing and inserting it again, without the copy */
        lru_unlink(s, e);
        lru_push_head(s, e);
        s->bytes += ment_size(e->klen, (uint32_t)vl) - ment_size(e->klen, e->vlen);
        e->vlen = (uint32_t)vl;
        expire_tail(s, now);
    } else {
        if (e) ment_remove(s, e);
        e = ment_insert(s, hash, &hash, sizeof hash, (uint32_t)vl, now);
    }
    memcpy(ment_val(e), key, vl);
    e->expires_ms = now + m->ttl_ms;
    pthread_mutex_unlock(&s->mu);
}

/* Copies the key of hash into out (cap bytes); false when absent. */
static bool index_get(mem_store_t *m, mtab_t *t, uint64_t hash, char *out, size_t cap)
{
    mshard_t *s = shard_of(t, hash);
    pthread_mutex_lock(&s->mu);
    ment_t *e = ment_find(s, hash, &hash, sizeof hash, now_of(m));
    if (e) {
        size_t n = e->vlen < cap ? e->vlen : cap;
        memcpy(out, ment_val(e), n);
        out[n - 1] = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return e != NULL;
}

#define KEY_BUF 1024

static void mem_chain_put(sess_store_t *ss, const uint64_t *hashes, size_t n, const char *key,
                          sess_done_cb cb, void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    for (size_t i = 0; i < n; i++)
        index_put(m, &m->chain, hashes[i], key);
    if (cb) cb(ud, SESS_OK);
}

static void mem_chain_find(sess_store_t *ss, const uint64_t *hashes, size_t n, sess_lookup_cb cb,
                           void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    char key[KEY_BUF];
    for (size_t i = 0; i < n; i++)
        if (index_get(m, &m->chain, hashes[i], key, sizeof key)) {
            if (cb) cb(ud, SESS_OK, (int)i, key);
            return;
        }
    if (cb) cb(ud, SESS_NOT_FOUND, -1, NULL);
}

static void mem_opener_put(sess_store_t *ss, uint64_t opener, const char *key, sess_done_cb cb,
                           void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    index_put(m, &m->openers, opener, key);
    if (cb) cb(ud, SESS_OK);
}

static void mem_opener_get(sess_store_t *ss, uint64_t opener, sess_lookup_cb cb, void *ud)
{
    mem_store_t *m = (mem_store_t *)ss;
    char key[KEY_BUF];
    bool hit = index_get(m, &m->openers, opener, key, sizeof key);
    if (cb) cb(ud, hit ? SESS_OK : SESS_NOT_FOUND, hit ? 0 : -1, hit ? key : NULL);
}

/* ---- stats, lifecycle ---- */

static void tab_stats(mtab_t *t, uint64_t *count, uint64_t *ev, uint64_t *ex, uint64_t *bytes)
{
    for (unsigned i = 0; i < t->n; i++) {
        mshard_t *s = &t->shards[i];
        pthread_mutex_lock(&s->mu);
        *count += s->count;
        if (bytes) *bytes += s->bytes + s->nb * sizeof *s->buckets;
        if (ev) *ev += s->evictions;
        if (ex) *ex += s->expirations;
        pthread_mutex_unlock(&s->mu);
    }
}

static void mem_stats(sess_store_t *ss, sess_store_stats_t *o)
{
    mem_store_t *m = (mem_store_t *)ss;
    tab_stats(&m->sessions, &o->sessions, &o->evictions, &o->expirations, &o->session_bytes);
    tab_stats(&m->chain, &o->chain_entries, NULL, NULL, &o->index_bytes);
    tab_stats(&m->openers, &o->openers, NULL, NULL, &o->index_bytes);
    o->gets = atomic_load(&m->gets);
    o->hits = atomic_load(&m->hits);
    o->commits = atomic_load(&m->commits);
    o->conflicts = atomic_load(&m->conflicts);
    o->usage_adds = atomic_load(&m->usage_adds);
    o->record_bytes = sizeof(sess_state_t);
}

static void mem_free(sess_store_t *ss)
{
    mem_store_t *m = (mem_store_t *)ss;
    mtab_deinit(&m->sessions);
    mtab_deinit(&m->chain);
    mtab_deinit(&m->openers);
    free(m);
}

static const sess_store_ops_t mem_ops = {
    .name = "memory",
    .get = mem_get,
    .commit = mem_commit,
    .add_usage = mem_add_usage,
    .chain_put = mem_chain_put,
    .chain_find = mem_chain_find,
    .opener_put = mem_opener_put,
    .opener_get = mem_opener_get,
    .stats = mem_stats,
    .wait_base = NULL,
    .free = mem_free,
};

sess_store_t *sess_store_memory_new(const sess_memory_opts_t *opts)
{
    sess_memory_opts_t o = opts ? *opts : (sess_memory_opts_t){0};
    if (!o.ttl_ms) o.ttl_ms = 86400ull * 1000;
    if (!o.max_sessions) o.max_sessions = 100000;
    if (!o.max_chain) o.max_chain = 4 * o.max_sessions;
    if (!o.n_shards) o.n_shards = 64;
    unsigned n = 1;
    while (n < o.n_shards && n < 4096)
        n <<= 1;
    mem_store_t *m = xcalloc(1, sizeof *m);
    m->base.ops = &mem_ops;
    m->ttl_ms = o.ttl_ms;
    m->clock = o.clock;
    m->clock_ud = o.clock_ud;
    mtab_init(&m->sessions, n, o.max_sessions);
    mtab_init(&m->chain, n, o.max_chain);
    mtab_init(&m->openers, n, o.max_sessions);
    return &m->base;
}

/* The registry entry (registry.h): workers use the process's local store,
 * which is this backend. */
const cfg_store_backend_t sess_memory_store = {
    .name = "memory",
    .ops.session = &(const sess_backend_ops_t){.open_worker = NULL},
};
