/* response_store_redis.c - the Redis backend of the Responses store: one
 * key "{prefix}r:{id}" per response holding the entry as JSON (PX = the
 * store's TTL), read and written over the Redis layer (kv/client.h) on the
 * caller's event loop, one connection per loop, so no worker ever waits on
 * Redis. The circuit opens on the first failure for about a second (the
 * store's old back-off), during which response_store.c serves from its
 * local table. See response_store.h. */
#include "json/num.h"
#include "api/response_store_internal.h"
#include "api/response_store_registry.h"
#include "config/config.h"
#include "core/log.h"
#include "kv/pool.h"
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rredis {
    kv_pool_t pool; /* one connection per loop */
    char *prefix;
    pthread_mutex_t mu;           /* guards sync_base */
    struct event_base *sync_base; /* the blocking calls' private loop */
    _Atomic uint64_t failures;
};

rredis_t *rr_new(const rstore_redis_opts_t *o, char *err, size_t errlen)
{
    kv_opts_t ko = {.address = o->address,
                    .password = o->password,
                    .db = o->db,
                    .timeout_ms = o->timeout_ms ? o->timeout_ms : 50,
                    .failures_to_open = 1,
                    .open_ms = 1000,
                    .name = "response_store"};
    rredis_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    if (!kv_pool_init(&r->pool, &ko, err, errlen)) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->prefix = strdup(o->key_prefix ? o->key_prefix : "tether:");
    return r;
}

void rr_free(rredis_t *r)
{
    if (!r) return;
    kv_pool_deinit(&r->pool);
    if (r->sync_base) event_base_free(r->sync_base);
    pthread_mutex_destroy(&r->mu);
    free(r->prefix);
    free(r);
}

uint64_t rr_failures(rredis_t *r)
{
    return atomic_load(&r->failures);
}

struct event_base *rr_sync_base(rredis_t *r)
{
    pthread_mutex_lock(&r->mu);
    if (!r->sync_base) r->sync_base = event_base_new();
    struct event_base *b = r->sync_base;
    pthread_mutex_unlock(&r->mu);
    return b;
}

/* The connection of loop evb (made on first use), or NULL when every slot
 * is taken (the caller then serves from the local table). */
static kv_t *conn_of(rredis_t *r, struct event_base *evb)
{
    return kv_pool_get(&r->pool, evb);
}

static char *rr_key(rredis_t *r, const char *id, size_t *len)
{
    size_t n = strlen(r->prefix) + 2 + strlen(id) + 1;
    char *k = malloc(n);
    if (!k) abort();
    *len = (size_t)snprintf(k, n, "%sr:%s", r->prefix, id);
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
    e->created_at = cJSON_IsNumber(c) ? json_num_i64(c->valuedouble, 0) : 0;
    e->expires_ms = UINT64_MAX; /* Redis expires the key itself */
    cJSON_Delete(o);
    return e;
}

/* One call in flight: its caller's callback and what the reply needs. */
typedef struct rr_call {
    rredis_t *r;
    enum { RR_PUT, RR_GET, RR_DEL } kind;
    rr_done_cb done;
    rr_get_cb got;
    void *ud;
    char id[RSTORE_ID_MAX];
} rr_call_t;

static bool on_reply(void *ud, kv_status_t st, redisReply *rep)
{
    rr_call_t *c = ud;
    int rc = -1;
    rstore_entry_t *e = NULL;
    if (st == KV_EREPLY)
        tlog(TLOG_WARN, "response_store_redis_error", "\"error\":\"%.200s\"",
             rep->str ? rep->str : "");
    if (st == KV_OK) {
        if (c->kind == RR_PUT)
            rc = 1;
        else if (c->kind == RR_DEL && rep->type == REDIS_REPLY_INTEGER)
            rc = rep->integer > 0 ? 1 : 0;
        else if (c->kind == RR_GET && rep->type == REDIS_REPLY_NIL)
            rc = 0;
        else if (c->kind == RR_GET && rep->type == REDIS_REPLY_STRING) {
            e = entry_from_json(rep->str, rep->len, c->id);
            rc = e ? 1 : 0;
        }
    }
    if (rc < 0 && st != KV_EOPEN) atomic_fetch_add(&c->r->failures, 1);
    if (c->kind == RR_GET) {
        if (c->got) c->got(c->ud, rc, e);
    } else if (c->done) {
        c->done(c->ud, rc);
    }
    free(c);
    return rc >= 0;
}

static rr_call_t *call_new(rredis_t *r, int kind, const char *id, void *ud)
{
    rr_call_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->r = r;
    c->kind = kind;
    c->ud = ud;
    snprintf(c->id, sizeof c->id, "%s", id);
    return c;
}

/* Send argv, or complete c at once (rc -1) without a connection. */
static void send_call(rredis_t *r, struct event_base *evb, rr_call_t *c, int argc,
                      const char **argv, const size_t *lens, bool flush)
{
    kv_t *kv = conn_of(r, evb);
    if (!kv) {
        on_reply(c, KV_ECONN, NULL);
        return;
    }
    kv_cmd(kv, on_reply, c, argc, argv, lens);
    if (flush) kv_flush(kv);
}

void rr_put(rredis_t *r, struct event_base *evb, const rstore_entry_t *e, uint64_t ttl_ms,
            rr_done_cb cb, void *ud)
{
    rr_call_t *c = call_new(r, RR_PUT, e->id, ud);
    c->done = cb;
    size_t kl;
    char *key = rr_key(r, e->id, &kl);
    char *val = entry_to_json(e);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)ttl_ms);
    const char *argv[] = {"SET", key, val, "PX", ttl};
    size_t lens[] = {3, kl, strlen(val), 2, strlen(ttl)};
    /* the client is answered right after: Redis gets the write first */
    send_call(r, evb, c, ttl_ms ? 5 : 3, argv, lens, true);
    free(key);
    free(val);
}

/* GET or DEL of one response's key. */
static void send_key_cmd(rredis_t *r, struct event_base *evb, rr_call_t *c, const char *cmd)
{
    size_t kl;
    char *key = rr_key(r, c->id, &kl);
    const char *argv[] = {cmd, key};
    size_t lens[] = {strlen(cmd), kl};
    send_call(r, evb, c, 2, argv, lens, false);
    free(key);
}

void rr_get(rredis_t *r, struct event_base *evb, const char *id, rr_get_cb cb, void *ud)
{
    rr_call_t *c = call_new(r, RR_GET, id, ud);
    c->got = cb;
    send_key_cmd(r, evb, c, "GET");
}

void rr_del(rredis_t *r, struct event_base *evb, const char *id, rr_done_cb cb, void *ud)
{
    rr_call_t *c = call_new(r, RR_DEL, id, ud);
    c->done = cb;
    send_key_cmd(r, evb, c, "DEL");
}

/* The `redis` backend's registry entry (response_store_registry.h): the
 * store opened from global.stores.responses.redis, the memory table in
 * front of it as the local fallback. */
static rstore_t *redis_open(const struct cfg *cfg, uint64_t ttl_ms, size_t max, char *err,
                            size_t errlen)
{
    const cfg_redis_t *rc = &cfg->global_ext->stores.responses.redis;
    rstore_redis_opts_t o = {.address = rc->address,
                             .password = rc->password,
                             .db = (int)rc->db,
                             .key_prefix = rc->key_prefix,
                             .timeout_ms = rc->timeout_ms > 0 ? (uint64_t)rc->timeout_ms : 0};
    return rstore_new_redis(ttl_ms, max, &o, err, errlen);
}

const cfg_store_backend_t rstore_redis_store = {
    .name = "redis",
    .flags = CFG_STORE_SHARED | CFG_STORE_REDIS,
    .ops.responses = &(const rstore_backend_ops_t){.open = redis_open},
};
