/* response_cache.c - the response_cache plugin's store (SPEC §8): a
 * sharded in-memory LRU with TTL and size caps, exact and semantic lookups
 * over it, and (backend redis) the shared store behind it as a near cache.
 * Keys come from response_cache_key.c; streamed chat responses are
 * assembled and hits rendered by response_cache_sse.c; the Redis store is
 * response_cache_redis.c. See response_cache.h for the contract. */
#include "plugins/response_cache.h"
#include "core/dlist.h"
#include "config/global.h"
#include "core/clock.h"
#include "plugins/response_cache_internal.h"
#include "plugins/response_cache_redis.h"
#include "plugins/response_cache_registry.h"
#include "core/log.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ store */

typedef struct rc_entry {
    uint64_t exact[2], ctx;
    struct rc_entry *hnext;         /* bucket chain */
    struct rc_entry *prev, *next;   /* LRU: head = most recent */
    uint64_t stored_ms, expires_ms; /* expires 0: never */
    rq_proto_t proto;
    float *emb; /* NULL: not semantically indexed */
    size_t len;
    char body[];
} rc_entry_t;

typedef struct rc_shard {
    pthread_mutex_t mu;
    rc_entry_t **buckets;
    size_t nbuckets; /* power of two */
    rc_entry_t *head, *tail;
    size_t n, cap;
} rc_shard_t;

struct rc_cache {
    rc_opts_t o;
    rc_shard_t *shards;
    unsigned nshards;
    const sel_embedder_t *emb;
    rc_redis_t *remote; /* backend redis: the shared store behind the near cache */
    pthread_mutex_t stats_mu;
    rc_stats_t st;
};

rc_cache_t *rc_cache_new_opts(const rc_opts_t *o)
{
    rc_cache_t *c = calloc(1, sizeof *c);
    c->o = *o;
    if (c->o.max_entries < 0) c->o.max_entries = 0;
    unsigned ns = o->shards ? o->shards : (o->max_entries >= 256 ? 16 : 1);
    c->nshards = ns;
    c->shards = calloc(ns, sizeof *c->shards);
    for (unsigned i = 0; i < ns; i++) {
        rc_shard_t *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        /* the shares of max_entries add up to it exactly */
        s->cap =
            (size_t)(c->o.max_entries / ns) + ((uint64_t)i < (uint64_t)(c->o.max_entries % ns));
        size_t nb = 16;
        while (nb < s->cap * 2)
            nb <<= 1;
        s->nbuckets = nb;
        s->buckets = calloc(nb, sizeof *s->buckets);
    }
    pthread_mutex_init(&c->stats_mu, NULL);
    return c;
}

rc_cache_t *rc_cache_new(const cfg_t *cfg)
{
    rc_opts_t o = {.max_entries = 1000, .ttl_seconds = 3600, .max_entry_bytes = 1u << 20};
    if (cfg && cfg->global_ext) {
        const cfg_stores_t *s = &cfg->global_ext->stores;
        o.max_entries = s->response_cache.max_entries;
        o.ttl_seconds = s->response_cache.ttl_seconds;
        o.max_entry_bytes = s->response_cache.max_entry_bytes;
        const cfg_store_backend_t *b =
            cfg_store_backend_find(CFG_STORE_RESPONSE_CACHE, s->response_cache.backend);
        if (b && b->ops.response_cache && b->ops.response_cache->open) {
            char err[256] = "";
            rc_cache_t *c = b->ops.response_cache->open(cfg, &o, err, sizeof err);
            /* the options are copied into the cache */
            // cppcheck-suppress returnDanglingLifetime
            if (c) return c;
            for (char *q = err; *q; q++)
                if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20) *q = '?';
            /* the config loader validated the backend; never fail start-up */
            char ev[64]; /* response_cache_redis_config, as before the registry */
            snprintf(ev, sizeof ev, "response_cache_%s_config", b->name);
            tlog(TLOG_ERROR, ev, "\"error\":\"%s\"", err);
        }
    }
    return rc_cache_new_opts(&o);
}

/* The `memory` backend (response_cache_registry.h): the sharded LRU alone. */
static rc_cache_t *memory_open(const cfg_t *cfg, const rc_opts_t *o, char *err, size_t errlen)
{
    return rc_cache_new_opts(o);
}

const cfg_store_backend_t rc_memory_store = {
    .name = "memory",
    .ops.response_cache = &(const rc_backend_ops_t){.open = memory_open},
};

rc_cache_t *rc_cache_new_redis(const rc_opts_t *o, const rc_redis_opts_t *ro, char *err,
                               size_t errlen)
{
    rc_redis_t *r = rc_redis_new(ro, err, errlen);
    if (!r) return NULL;
    rc_cache_t *c = rc_cache_new_opts(o);
    c->remote = r;
    return c;
}

static void entry_free(rc_entry_t *e)
{
    free(e->emb);
    free(e);
}

static void shard_clear(rc_shard_t *s)
{
    for (rc_entry_t *e = s->head, *n; e; e = n) {
        n = e->next;
        entry_free(e);
    }
    memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
    s->head = s->tail = NULL;
    s->n = 0;
}

void rc_cache_free(rc_cache_t *c)
{
    if (!c) return;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard_clear(&c->shards[i]);
        free(c->shards[i].buckets);
        pthread_mutex_destroy(&c->shards[i].mu);
    }
    free(c->shards);
    rc_redis_free(c->remote);
    pthread_mutex_destroy(&c->stats_mu);
    free(c);
}

void rc_cache_set_embedder(rc_cache_t *c, const sel_embedder_t *e)
{
    c->emb = e;
}

void rc_cache_clear(rc_cache_t *c)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        shard_clear(&c->shards[i]);
        pthread_mutex_unlock(&c->shards[i].mu);
    }
}

size_t rc_cache_size(rc_cache_t *c)
{
    size_t n = 0;
    for (unsigned i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        n += c->shards[i].n;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return n;
}

/* Shards by exact key (a shared context, such as a common system prompt,
 * must not crowd into one shard); a semantic lookup scans every shard. */
static rc_shard_t *shard_of(rc_cache_t *c, const uint64_t ex[2])
{
    return &c->shards[(ex[1] >> 32) % c->nshards];
}

static rc_entry_t **bucket(rc_shard_t *s, const uint64_t ex[2])
{
    return &s->buckets[(ex[0] ^ (ex[1] >> 7)) & (s->nbuckets - 1)];
}

static void lru_unlink(rc_shard_t *s, rc_entry_t *e)
{
    DLIST_UNLINK(s->head, s->tail, e, prev, next);
}

static void lru_push(rc_shard_t *s, rc_entry_t *e)
{
    DLIST_PUSH_FRONT(s->head, s->tail, e, prev, next);
}

static void shard_remove(rc_shard_t *s, rc_entry_t *e)
{
    for (rc_entry_t **p = bucket(s, e->exact); *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    lru_unlink(s, e);
    s->n--;
    entry_free(e);
}

static bool expired(const rc_entry_t *e, uint64_t now)
{
    return e->expires_ms && now >= e->expires_ms;
}

static void count(rc_cache_t *c, uint64_t *field)
{
    pthread_mutex_lock(&c->stats_mu);
    (*field)++;
    pthread_mutex_unlock(&c->stats_mu);
}

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return na > 0 && nb > 0 ? d / (sqrt(na) * sqrt(nb)) : 0;
}

static void hit_from(rc_hit_t *out, const rc_entry_t *e, rc_hit_kind_t kind, double sim,
                     uint64_t now)
{
    out->kind = kind;
    out->body = malloc(e->len + 1);
    memcpy(out->body, e->body, e->len);
    out->body[e->len] = 0;
    out->len = e->len;
    out->proto = e->proto;
    out->similarity = sim;
    out->age_ms = now > e->stored_ms ? now - e->stored_ms : 0;
}

/* After a near-cache miss: the shared store, exact then (semantic modes)
 * nearest. A hit is copied into the near cache with its remaining TTL. A
 * Redis failure is a counted miss. */
static rc_store_result_t local_insert(rc_cache_t *c, rc_entry_t *e, uint64_t now);

/* A hit read from the shared store (re, from entry ex): into the near
 * cache and out. */
static void remote_hit(rc_cache_t *c, rc_key_t *k, rc_hit_t *out, uint64_t now,
                       rc_redis_entry_t *re, rc_hit_kind_t kind, double sim, const uint64_t ex[2])
{
    count(c, &c->st.remote_hits);
    uint64_t wall = clock_wall_ms();
    uint64_t age = wall > re->stored_wall_ms ? wall - re->stored_wall_ms : 0;
    if (c->o.max_entries > 0 && re->len <= c->o.max_entry_bytes) {
        rc_entry_t *e = malloc(sizeof *e + re->len + 1);
        memset(e, 0, sizeof *e);
        e->exact[0] = ex[0];
        e->exact[1] = ex[1];
        e->ctx = k->ctx;
        e->proto = re->proto;
        e->emb = re->emb;
        re->emb = NULL;
        e->len = re->len;
        memcpy(e->body, re->body, re->len + 1);
        e->stored_ms = now > age ? now - age : 0;
        e->expires_ms = re->ttl_left_ms >= 0 ? now + (uint64_t)re->ttl_left_ms : 0;
        if (e->expires_ms == 0 && re->ttl_left_ms == 0) e->expires_ms = 1; /* already gone */
        local_insert(c, e, now);
    }
    out->kind = kind;
    out->body = re->body; /* moved */
    out->len = re->len;
    out->proto = re->proto;
    out->similarity = sim;
    out->age_ms = age;
    re->body = NULL;
    rc_redis_entry_free(re);
}

static rc_hit_kind_t remote_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out, uint64_t now)
{
    rc_redis_entry_t re;
    rc_hit_kind_t kind = RC_MISS;
    double sim = 1;
    uint64_t ex[2] = {k->exact[0], k->exact[1]};
    int rc = rc_redis_get(c->remote, k->exact, &re);
    if (rc == 1) kind = k->conf.mode == RC_MODE_SEMANTIC ? RC_HIT_SEMANTIC : RC_HIT_EXACT;
    if (rc == 0 && rc_key_is_semantic(k)) {
        const float *q = rc_key_embedding(k, c->emb);
        if (q) {
            rc = rc_redis_nearest(c->remote, k->ctx, q, c->emb->dim, k->conf.threshold, &re, &sim,
                                  ex);
            if (rc == 1) kind = RC_HIT_SEMANTIC;
        }
    }
    if (rc < 0) {
        count(c, &c->st.remote_errors);
        return RC_MISS;
    }
    if (kind == RC_MISS) return RC_MISS;
    remote_hit(c, k, out, now, &re, kind, sim, ex);
    return kind;
}

/* The near cache: exact, then (semantic modes) the nearest entry of the
 * same context. */
static rc_hit_kind_t local_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out)
{
    rc_shard_t *s = shard_of(c, k->exact);
    uint64_t now = k->now_ms;
    rc_hit_kind_t kind = RC_MISS;
    pthread_mutex_lock(&s->mu);
    for (rc_entry_t *e = *bucket(s, k->exact), *n; e; e = n) {
        n = e->hnext;
        if (e->exact[0] != k->exact[0] || e->exact[1] != k->exact[1]) continue;
        if (expired(e, now)) {
            shard_remove(s, e);
            count(c, &c->st.expirations);
            break;
        }
        lru_unlink(s, e);
        lru_push(s, e);
        kind = k->conf.mode == RC_MODE_SEMANTIC ? RC_HIT_SEMANTIC : RC_HIT_EXACT;
        hit_from(out, e, kind, 1.0, now);
        break;
    }
    pthread_mutex_unlock(&s->mu);
    if (kind == RC_MISS && rc_key_is_semantic(k)) {
        const float *q = rc_key_embedding(k, c->emb); /* outside the lock: may be slow */
        double best = -2;
        for (unsigned i = 0; q && i < c->nshards; i++) {
            size_t dim = c->emb->dim;
            s = &c->shards[i];
            pthread_mutex_lock(&s->mu);
            rc_entry_t *be = NULL;
            double bs = best;
            for (rc_entry_t *e = s->head; e; e = e->next) {
                if (e->ctx != k->ctx || !e->emb || expired(e, now)) continue;
                double sim = cosine(q, e->emb, dim);
                if (sim > bs) {
                    bs = sim;
                    be = e;
                }
            }
            if (be && bs >= k->conf.threshold) { /* better than any earlier shard's */
                lru_unlink(s, be);
                lru_push(s, be);
                rc_hit_free(out);
                kind = RC_HIT_SEMANTIC;
                hit_from(out, be, kind, bs, now);
                best = bs;
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    return kind;
}

static void count_lookup(rc_cache_t *c, const rc_key_t *k, rc_hit_kind_t kind)
{
    pthread_mutex_lock(&c->stats_mu);
    c->st.lookups[k->conf.mode][kind]++;
    if (kind)
        c->st.hits++;
    else
        c->st.misses++;
    pthread_mutex_unlock(&c->stats_mu);
}

int rc_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out)
{
    memset(out, 0, sizeof *out);
    if (!k->enabled || !k->lookup) return RC_MISS;
    rc_hit_kind_t kind = local_lookup(c, k, out);
    if (kind == RC_MISS && c->remote) kind = remote_lookup(c, k, out, k->now_ms);
    count_lookup(c, k, kind);
    return kind;
}

/* ---- the same on a loop: the shared store's replies continue it ---- */

typedef struct rc_alookup {
    rc_cache_t *c;
    rc_key_t *k;
    rc_hit_t *out;
    struct event_base *evb;
    rc_lookup_cb cb;
    void *ud;
    bool inline_call; /* still inside rc_lookup_async: report there, not to cb */
    bool done;
    rc_hit_kind_t kind;
} rc_alookup_t;

static void alookup_end(rc_alookup_t *a, rc_hit_kind_t kind)
{
    count_lookup(a->c, a->k, kind);
    if (a->inline_call) { /* e.g. refused at once by an open circuit */
        a->done = true;
        a->kind = kind;
        return;
    }
    rc_lookup_cb cb = a->cb;
    void *ud = a->ud;
    free(a);
    cb(ud, kind);
}

static void alookup_got(void *ud, int rc, rc_redis_entry_t *e, double sim, const uint64_t ex[2],
                        rc_hit_kind_t kind)
{
    rc_alookup_t *a = ud;
    if (rc < 0) {
        count(a->c, &a->c->st.remote_errors);
        alookup_end(a, RC_MISS);
        return;
    }
    if (rc == 1) {
        remote_hit(a->c, a->k, a->out, a->k->now_ms, e, kind, sim, ex);
        alookup_end(a, kind);
        return;
    }
    alookup_end(a, RC_MISS);
}

static void alookup_nearest(void *ud, int rc, rc_redis_entry_t *e, double sim, const uint64_t ex[2])
{
    alookup_got(ud, rc, e, sim, ex, RC_HIT_SEMANTIC);
}

static void alookup_exact(void *ud, int rc, rc_redis_entry_t *e, double sim, const uint64_t ex[2])
{
    rc_alookup_t *a = ud;
    rc_key_t *k = a->k;
    if (rc == 0 && rc_key_is_semantic(k)) {
        const float *q = rc_key_embedding(k, a->c->emb);
        if (q) {
            rc_redis_nearest_async(a->c->remote, a->evb, k->ctx, q, a->c->emb->dim,
                                   k->conf.threshold, alookup_nearest, a);
            return;
        }
    }
    alookup_got(ud, rc, e, 1, ex,
                k->conf.mode == RC_MODE_SEMANTIC ? RC_HIT_SEMANTIC : RC_HIT_EXACT);
}

int rc_lookup_async(rc_cache_t *c, rc_key_t *k, rc_hit_t *out, struct event_base *evb,
                    rc_lookup_cb cb, void *ud)
{
    memset(out, 0, sizeof *out);
    if (!k->enabled || !k->lookup) return RC_MISS;
    rc_hit_kind_t kind = local_lookup(c, k, out);
    if (kind != RC_MISS || !c->remote || !evb) {
        if (kind == RC_MISS && c->remote) kind = remote_lookup(c, k, out, k->now_ms);
        count_lookup(c, k, kind);
        return kind;
    }
    rc_alookup_t *a = calloc(1, sizeof *a);
    if (!a) abort();
    *a = (rc_alookup_t){
        .c = c, .k = k, .out = out, .evb = evb, .cb = cb, .ud = ud, .inline_call = true};
    rc_redis_get_async(c->remote, evb, k->exact, alookup_exact, a);
    a->inline_call = false;
    if (!a->done) return RC_PENDING;
    kind = a->kind;
    free(a);
    return kind;
}

void rc_hit_free(rc_hit_t *h)
{
    free(h->body);
    h->body = NULL;
}

const char *rc_hit_name(rc_hit_kind_t k)
{
    return k == RC_HIT_EXACT ? "exact" : k == RC_HIT_SEMANTIC ? "semantic" : "miss";
}

/* ------------------------------------------------------------ store */

const char *rc_store_result_name(rc_store_result_t r)
{
    static const char *const n[] = {"stored", "skipped", "too_large", "invalid"};
    return (unsigned)r < 4 ? n[r] : "invalid";
}

static rc_store_result_t local_insert(rc_cache_t *c, rc_entry_t *e, uint64_t now);

static rc_store_result_t counted(rc_cache_t *c, rc_store_result_t r)
{
    pthread_mutex_lock(&c->stats_mu);
    c->st.writes[r]++;
    if (r == RC_STORED) c->st.stores++;
    pthread_mutex_unlock(&c->stats_mu);
    return r;
}

/* A JSON response fit to serve: an object without an "error" (a Response
 * object carries "error": null); chat needs choices. */
static bool servable_json(const char *s, size_t n, rq_proto_t proto)
{
    if (jscan_validate(s, n, NULL) != 0) return false;
    cJSON *j = cJSON_ParseWithLength(s, n);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    bool ok = cJSON_IsObject(j) && (!err || cJSON_IsNull(err));
    if (ok && proto == RQ_PROTO_CHAT)
        ok = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "choices"));
    cJSON_Delete(j);
    return ok;
}

static void put_counted(void *ud, int rc)
{
    rc_cache_t *c = ud;
    count(c, rc != 0 ? &c->st.remote_errors : &c->st.remote_writes);
}

rc_store_result_t rc_store(rc_cache_t *c, rc_key_t *k, const rc_response_t *r)
{
    if (!k->enabled || !k->store || !r->complete || r->status < 200 || r->status > 299 ||
        !r->body || c->o.max_entries <= 0)
        return counted(c, RC_STORE_SKIPPED);
    if (!r->streamed && r->len > c->o.max_entry_bytes) return counted(c, RC_STORE_TOO_LARGE);
    char *assembled = NULL;
    const char *body = r->body;
    size_t len = r->len;
    if (r->streamed) {
        assembled = k->proto == RQ_PROTO_CHAT        ? rc_assemble_chat(r->body, r->len)
                    : k->proto == RQ_PROTO_ANTHROPIC ? rc_assemble_messages(r->body, r->len)
                                                     : rc_assemble_responses(r->body, r->len);
        if (!assembled) return counted(c, RC_STORE_INVALID);
        body = assembled;
        len = strlen(assembled);
        if (len > c->o.max_entry_bytes) {
            free(assembled);
            return counted(c, RC_STORE_TOO_LARGE);
        }
    } else if (!servable_json(body, len, k->proto)) {
        return counted(c, RC_STORE_INVALID);
    }
    float *emb = NULL;
    if (rc_key_is_semantic(k)) {
        const float *q = rc_key_embedding(k, c->emb);
        if (q) {
            emb = malloc(c->emb->dim * sizeof *emb);
            memcpy(emb, q, c->emb->dim * sizeof *emb);
        }
    }
    rc_entry_t *e = malloc(sizeof *e + len + 1);
    memset(e, 0, sizeof *e);
    e->exact[0] = k->exact[0];
    e->exact[1] = k->exact[1];
    e->ctx = k->ctx;
    e->proto = k->proto;
    e->emb = emb;
    e->len = len;
    memcpy(e->body, body, len);
    e->body[len] = 0;
    free(assembled);
    uint64_t now = k->now_ms;
    int64_t ttl = k->conf.ttl_seconds >= 0 ? k->conf.ttl_seconds : c->o.ttl_seconds;
    e->stored_ms = now;
    e->expires_ms = ttl > 0 ? now + (uint64_t)ttl * 1000 : 0;
    if (c->remote && k->evb) {
        /* on the caller's loop: counted when Redis answers */
        rc_redis_put_async(c->remote, k->evb, e->exact, e->ctx, e->proto, e->body, e->len, e->emb,
                           e->emb ? c->emb->dim : 0, ttl, clock_wall_ms(), put_counted, c);
    } else if (c->remote) {
        /* shared first: a failed write is counted and skipped, the local
         * near cache still keeps the entry */
        if (rc_redis_put(c->remote, e->exact, e->ctx, e->proto, e->body, e->len, e->emb,
                         e->emb ? c->emb->dim : 0, ttl, clock_wall_ms()) != 0)
            count(c, &c->st.remote_errors);
        else
            count(c, &c->st.remote_writes);
    }
    return counted(c, local_insert(c, e, now));
}

/* Put e (owned) into its shard, replacing an equal key and evicting past the
 * shard's capacity. */
static rc_store_result_t local_insert(rc_cache_t *c, rc_entry_t *e, uint64_t now)
{
    rc_shard_t *s = shard_of(c, e->exact);
    uint64_t evicted = 0, gone = 0;
    pthread_mutex_lock(&s->mu);
    if (!s->cap) { /* this shard's share of max_entries is 0 */
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return RC_STORE_SKIPPED;
    }
    for (rc_entry_t *o = *bucket(s, e->exact); o; o = o->hnext)
        if (o->exact[0] == e->exact[0] && o->exact[1] == e->exact[1]) {
            shard_remove(s, o); /* replaced */
            break;
        }
    while (s->n >= s->cap && s->tail) {
        rc_entry_t *v = s->tail;
        /* an expired entry leaving counts as an expiry, not an eviction */
        if (expired(v, now))
            gone++;
        else
            evicted++;
        shard_remove(s, v);
    }
    rc_entry_t **b = bucket(s, e->exact);
    e->hnext = *b;
    *b = e;
    lru_push(s, e);
    s->n++;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&c->stats_mu);
    c->st.evictions += evicted;
    c->st.expirations += gone;
    pthread_mutex_unlock(&c->stats_mu);
    return RC_STORED;
}

void rc_stats(rc_cache_t *c, rc_stats_t *out)
{
    pthread_mutex_lock(&c->stats_mu);
    *out = c->st;
    pthread_mutex_unlock(&c->stats_mu);
    out->entries = rc_cache_size(c);
}
