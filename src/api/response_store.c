/* response_store.c - the Responses store: the memory backend (a chained
 * hash table on the id plus an insertion-ordered list for TTL and size
 * eviction), the Redis backend (one key per response, synchronous hiredis
 * calls with a short timeout; see rstore_new_redis) with the memory table as
 * its local fallback, and chain expansion over either. */
#include "api/response_store.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include <hiredis/hiredis.h>
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

struct rredis;
static void rr_free(struct rredis *r);

struct rstore {
    pthread_mutex_t mu;
    rnode_t *buckets[RS_BUCKETS];
    rnode_t *head, *tail; /* oldest .. newest */
    size_t n, max;
    uint64_t ttl_ms;
    struct rredis *redis; /* NULL: memory only */
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
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        s->tail = n->prev;
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
    n->prev = s->tail;
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
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

#define RR_POOL    16   /* idle connections kept */
#define RR_BACKOFF 1000 /* ms without Redis after a failure */

typedef struct rredis {
    pthread_mutex_t mu; /* guards idle[], n_idle, down_until_ms */
    char host[256];
    int port;
    char *unix_path, *password, *prefix;
    int db;
    uint64_t timeout_ms;
    redisContext *idle[RR_POOL];
    int n_idle;
    uint64_t down_until_ms;
    uint64_t failures;
} rredis_t;

static void rr_free(rredis_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_idle; i++)
        redisFree(r->idle[i]);
    pthread_mutex_destroy(&r->mu);
    free(r->unix_path);
    free(r->password);
    free(r->prefix);
    free(r);
}

static bool rr_parse_address(rredis_t *r, const char *addr, char *err, size_t errlen)
{
    if (!addr || !*addr) addr = "127.0.0.1:6379";
    if (!strncmp(addr, "redis://", 8)) addr += 8;
    if (!strncmp(addr, "unix:", 5)) {
        r->unix_path = strdup(addr + 5);
        return true;
    }
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hl == 0 || hl >= sizeof r->host) {
        snprintf(err, errlen, "redis address '%s': expected host:port or unix:/path", addr);
        return false;
    }
    memcpy(r->host, addr, hl);
    r->host[hl] = 0;
    r->port = 6379;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || p <= 0 || p > 65535) {
            snprintf(err, errlen, "redis address '%s': bad port", addr);
            return false;
        }
        r->port = (int)p;
    }
    return true;
}

/* A reply of the expected kind, else NULL (and the context is unusable). */
static redisReply *rr_cmd_ok(redisContext *c, redisReply *rep)
{
    if (!rep) return NULL;
    if (rep->type == REDIS_REPLY_ERROR) {
        tlog(TLOG_WARN, "response_store_redis_error", "\"error\":\"%.200s\"",
             rep->str ? rep->str : "");
        freeReplyObject(rep);
        return NULL;
    }
    (void)c;
    return rep;
}

static redisContext *rr_connect(rredis_t *r)
{
    struct timeval tv = {(time_t)(r->timeout_ms / 1000),
                         (suseconds_t)(r->timeout_ms % 1000) * 1000};
    redisContext *c = r->unix_path ? redisConnectUnixWithTimeout(r->unix_path, tv)
                                   : redisConnectWithTimeout(r->host, r->port, tv);
    if (!c) return NULL;
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        tlog(TLOG_WARN, "response_store_redis_connect", "\"error\":\"%.200s\"", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (r->password) {
        redisReply *rep = rr_cmd_ok(c, redisCommand(c, "AUTH %s", r->password));
        if (!rep) goto fail;
        freeReplyObject(rep);
    }
    if (r->db > 0) {
        redisReply *rep = rr_cmd_ok(c, redisCommand(c, "SELECT %d", r->db));
        if (!rep) goto fail;
        freeReplyObject(rep);
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* A connection, or NULL while Redis is backing off after a failure. */
static redisContext *rr_take(rredis_t *r)
{
    pthread_mutex_lock(&r->mu);
    redisContext *c = r->n_idle ? r->idle[--r->n_idle] : NULL;
    bool down = !c && r->down_until_ms > clock_mono_ms();
    pthread_mutex_unlock(&r->mu);
    if (c || down) return c;
    c = rr_connect(r);
    if (!c) {
        pthread_mutex_lock(&r->mu);
        r->down_until_ms = clock_mono_ms() + RR_BACKOFF;
        r->failures++;
        pthread_mutex_unlock(&r->mu);
    }
    return c;
}

/* Return c to the pool (ok) or drop it and back off (!ok). */
static void rr_give(rredis_t *r, redisContext *c, bool ok)
{
    pthread_mutex_lock(&r->mu);
    if (ok && !c->err && r->n_idle < RR_POOL) {
        r->idle[r->n_idle++] = c;
        c = NULL;
    } else if (!ok || c->err) {
        r->down_until_ms = clock_mono_ms() + RR_BACKOFF;
        r->failures++;
    }
    pthread_mutex_unlock(&r->mu);
    if (c) {
        if (c->err)
            tlog(TLOG_WARN, "response_store_redis_failed", "\"error\":\"%.200s\"", c->errstr);
        redisFree(c);
    }
}

static char *rr_key(rredis_t *r, const char *id)
{
    size_t n = strlen(r->prefix) + 2 + strlen(id) + 1;
    char *k = malloc(n);
    if (!k) abort();
    snprintf(k, n, "%sr:%s", r->prefix, id);
    return k;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v) cJSON_AddStringToObject(o, k, v);
}

static char *entry_to_json(const rstore_entry_t *e)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "id", e->id);
    add_str(o, "session_key", e->session_key);
    add_str(o, "model", e->model);
    cJSON_AddBoolToObject(o, "native", e->native);
    add_str(o, "input", e->input);
    add_str(o, "output", e->output);
    add_str(o, "instructions", e->instructions);
    add_str(o, "previous_response_id", e->previous_response_id);
    add_str(o, "response", e->response);
    cJSON_AddNumberToObject(o, "created_at", (double)e->created_at);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static char *get_str(const cJSON *o, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v ? strdup(v) : NULL;
}

static rstore_entry_t *entry_from_json(const char *s, size_t len, const char *id)
{
    cJSON *o = cJSON_ParseWithLength(s, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    rstore_entry_t *e = calloc(1, sizeof *e);
    if (!e) abort();
    snprintf(e->id, sizeof e->id, "%s", id);
    e->session_key = get_str(o, "session_key");
    e->model = get_str(o, "model");
    e->native = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "native"));
    e->input = get_str(o, "input");
    e->output = get_str(o, "output");
    e->instructions = get_str(o, "instructions");
    e->previous_response_id = get_str(o, "previous_response_id");
    e->response = get_str(o, "response");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "created_at");
    e->created_at = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : 0;
    e->expires_ms = UINT64_MAX; /* Redis expires the key itself */
    cJSON_Delete(o);
    return e;
}

/* 1 stored, 0 Redis unavailable (caller falls back). */
static int rr_put(rredis_t *r, const rstore_entry_t *e, uint64_t ttl_ms)
{
    redisContext *c = rr_take(r);
    if (!c) return 0;
    char *key = rr_key(r, e->id);
    char *val = entry_to_json(e);
    redisReply *rep;
    if (ttl_ms)
        rep = redisCommand(c, "SET %s %s PX %llu", key, val, (unsigned long long)ttl_ms);
    else
        rep = redisCommand(c, "SET %s %s", key, val);
    rep = rr_cmd_ok(c, rep);
    free(key);
    free(val);
    bool ok = rep != NULL;
    freeReplyObject(rep);
    rr_give(r, c, ok);
    return ok ? 1 : 0;
}

/* 1 found (*out), 0 absent, -1 Redis unavailable. */
static int rr_get(rredis_t *r, const char *id, rstore_entry_t **out)
{
    *out = NULL;
    redisContext *c = rr_take(r);
    if (!c) return -1;
    char *key = rr_key(r, id);
    redisReply *rep = rr_cmd_ok(c, redisCommand(c, "GET %s", key));
    free(key);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (rep && rep->type == REDIS_REPLY_STRING) {
        *out = entry_from_json(rep->str, rep->len, id);
        rc = *out ? 1 : 0;
    }
    freeReplyObject(rep);
    rr_give(r, c, rc >= 0);
    return rc;
}

/* 1 deleted, 0 absent, -1 Redis unavailable. */
static int rr_del(rredis_t *r, const char *id)
{
    redisContext *c = rr_take(r);
    if (!c) return -1;
    char *key = rr_key(r, id);
    redisReply *rep = rr_cmd_ok(c, redisCommand(c, "DEL %s", key));
    free(key);
    int rc = rep && rep->type == REDIS_REPLY_INTEGER ? (rep->integer > 0 ? 1 : 0) : -1;
    freeReplyObject(rep);
    rr_give(r, c, rc >= 0);
    return rc;
}

rstore_t *rstore_new_redis(uint64_t ttl_ms, size_t max, const rstore_redis_opts_t *o, char *err,
                           size_t errlen)
{
    rredis_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    pthread_mutex_init(&r->mu, NULL);
    if (!rr_parse_address(r, o->address, err, errlen)) {
        rr_free(r);
        return NULL;
    }
    r->password = o->password && *o->password ? strdup(o->password) : NULL;
    r->prefix = strdup(o->key_prefix ? o->key_prefix : "tether:");
    r->db = o->db;
    r->timeout_ms = o->timeout_ms ? o->timeout_ms : 50;
    rstore_t *s = rstore_new(ttl_ms, max);
    s->redis = r;
    /* try once now so a misconfiguration shows in the log at start */
    redisContext *c = rr_take(r);
    if (c) rr_give(r, c, true);
    return s;
}

bool rstore_is_redis(const rstore_t *s)
{
    return s->redis != NULL;
}

uint64_t rstore_redis_failures(rstore_t *s)
{
    if (!s->redis) return 0;
    pthread_mutex_lock(&s->redis->mu);
    uint64_t n = s->redis->failures;
    pthread_mutex_unlock(&s->redis->mu);
    return n;
}

/* ------------------------------------------------------------ interface */

void rstore_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms)
{
    if (s->redis && rr_put(s->redis, e, s->ttl_ms) == 1) {
        /* a stale local copy (written during an outage) must not shadow it */
        mem_delete(s, e->id);
        return;
    }
    mem_put(s, e, now_ms);
}

rstore_entry_t *rstore_get(rstore_t *s, const char *id, uint64_t now_ms)
{
    if (s->redis) {
        rstore_entry_t *e = NULL;
        if (rr_get(s->redis, id, &e) == 1) return e;
    }
    return mem_get(s, id, now_ms);
}

bool rstore_delete(rstore_t *s, const char *id)
{
    bool local = mem_delete(s, id);
    if (s->redis) return rr_del(s->redis, id) == 1 || local;
    return local;
}

int rstore_chain(rstore_t *s, const char *id, uint64_t now_ms, cJSON *msgs, cJSON *items,
                 char **instructions, bool *native, char **model, tr_warn_t *w)
{
    if (instructions) *instructions = NULL;
    if (native) *native = false;
    if (model) *model = NULL;
    rstore_entry_t **chain = NULL;
    int n = 0, cap = 0, rc = 0;
    const char *cur = id;
    while (cur && *cur) {
        if (n >= RS_MAX_CHAIN) {
            rc = -1;
            break;
        }
        rstore_entry_t *e = rstore_get(s, cur, now_ms);
        if (!e) {
            rc = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            rstore_entry_t **nc = realloc(chain, (size_t)cap * sizeof *chain);
            if (!nc) abort();
            chain = nc;
        }
        chain[n++] = e;
        cur = e->previous_response_id;
    }
    if (rc == 0) {
        if (n && instructions && chain[0]->instructions)
            *instructions = strdup(chain[0]->instructions);
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
    }
    for (int i = 0; i < n; i++)
        rstore_entry_free(chain[i]);
    free(chain);
    return rc < 0 ? -1 : n;
}

void rstore_new_id(char out[32])
{
    memcpy(out, "resp_", 5);
    hash_random_hex(out + 5, 24);
    out[29] = 0;
}
