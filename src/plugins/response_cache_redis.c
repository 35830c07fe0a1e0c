/* response_cache_redis.c - the Redis backend of the response cache: blocking
 * hiredis calls with a tight timeout from a small connection pool, exact
 * entries as prefixed strings with a TTL, and a per-context hash of
 * embeddings scanned for the best cosine. response_cache.c puts its
 * in-memory LRU in front of it as a near cache. See response_cache_redis.h. */
/* response_cache_redis.c - the Redis backend of the response cache over
 * the Redis layer (kv/client.h): exact entries as prefixed strings with a
 * TTL, and a per-context hash of embeddings scanned for the best cosine.
 * response_cache.c puts its in-memory LRU in front of it as a near cache.
 * The cache's callers want an answer before they go on, so each calling
 * thread has its own connection on a private event loop that the call runs
 * until its replies (or the layer's timeout) arrive: a call still holds its
 * thread for at most timeout_ms per round trip, as before the layer. See
 * response_cache_redis.h. */
#include "plugins/response_cache_redis.h"
#include "core/clock.h"
#include "plugins/response_cache.h"
#include "plugins/response_cache_registry.h"
#include "kv/client.h"
#include <event2/event.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_MAX_THREADS 64
#define RC_MAX_TRIES   4 /* candidates above threshold fetched per semantic lookup */

struct rc_redis {
    kv_conf_t conf;
    char *prefix;
    pthread_mutex_t mu; /* guards th[] */
    struct {
        pthread_t tid;
        struct event_base *evb;
        kv_t *kv;
    } th[RC_MAX_THREADS];
    int n_th;
};

void rc_redis_opts_from_cfg(const cfg_redis_t *r, rc_redis_opts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!r) return;
    kv_opts_t ko;
    kv_opts_from_cfg(r, &ko);
    out->address = ko.address;
    out->password = ko.password;
    out->key_prefix = r->key_prefix;
    out->db = ko.db;
    out->timeout_ms = ko.timeout_ms;
}

rc_redis_t *rc_redis_new(const rc_redis_opts_t *o, char *err, size_t errlen)
{
    /* a failure keeps Redis away for about half a second, then the next
     * call itself tries again: a dead Redis costs one timeout per
     * half-second, not one per request */
    kv_opts_t ko = {.address = o->address,
                    .password = o->password,
                    .db = o->db,
                    .timeout_ms = o->timeout_ms ? o->timeout_ms : 50,
                    .failures_to_open = 1,
                    .open_ms = 450,
                    .jitter_pct = 10,
                    .probe_is_call = true,
                    .name = "response_cache"};
    rc_redis_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    if (!kv_conf_init(&r->conf, &ko, err, errlen)) {
        free(r);
        return NULL;
    }
    r->prefix = strdup(o->key_prefix ? o->key_prefix : "");
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void rc_redis_free(rc_redis_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_th; i++) {
        kv_free(r->th[i].kv);
        event_base_free(r->th[i].evb);
    }
    pthread_mutex_destroy(&r->mu);
    kv_conf_deinit(&r->conf);
    free(r->prefix);
    free(r);
}

void rc_redis_entry_free(rc_redis_entry_t *e)
{
    if (!e) return;
    free(e->body);
    free(e->emb);
    memset(e, 0, sizeof *e);
}

/* ---- the calling thread's connection ---- */

static kv_t *conn_of_thread(rc_redis_t *r)
{
    pthread_t me = pthread_self();
    kv_t *kv = NULL;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_th && !kv; i++)
        if (pthread_equal(r->th[i].tid, me)) kv = r->th[i].kv;
    if (!kv && r->n_th < RC_MAX_THREADS) {
        struct event_base *b = event_base_new();
        char err[256];
        kv = b ? kv_new(b, &r->conf.o, err, sizeof err) : NULL;
        if (kv) {
            r->th[r->n_th].tid = me;
            r->th[r->n_th].evb = b;
            r->th[r->n_th++].kv = kv;
        } else if (b) {
            event_base_free(b);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return kv;
}

/* Commands of one call: each slot's result, and how many are still out. */
typedef struct rc_call {
    int left;
    bool failed;
    const char *prefix;
    /* GET + PTTL */
    rc_redis_entry_t *out;
    int hit; /* 1 hit, 0 miss */
    long long pttl;
    /* HGETALL: the best candidates, copied out of the reply */
    const float *q;
    size_t dim;
    double threshold;
    size_t nb;
    struct {
        double sim;
        char ex[33];
        float *emb;
    } best[RC_MAX_TRIES];
} rc_call_t;

typedef struct rc_slot {
    rc_call_t *call;
    enum { SL_MUST, SL_MAY_FAIL, SL_GET, SL_PTTL, SL_HGETALL } kind;
} rc_slot_t;

static void scan_index(rc_call_t *c, const redisReply *h);
static bool parse_blob(const char *s, size_t n, rc_redis_entry_t *out);

static bool on_slot(void *ud, kv_status_t st, redisReply *rep)
{
    rc_slot_t *s = ud;
    rc_call_t *c = s->call;
    bool good = st == KV_OK || (st == KV_EREPLY && s->kind == SL_MAY_FAIL);
    if (st == KV_OK && s->kind == SL_GET && rep->type == REDIS_REPLY_STRING)
        c->hit = parse_blob(rep->str, rep->len, c->out) ? 1 : 0;
    if (st == KV_OK && s->kind == SL_PTTL && rep->type == REDIS_REPLY_INTEGER)
        c->pttl = rep->integer;
    if (st == KV_OK && s->kind == SL_HGETALL) {
        if (rep->type == REDIS_REPLY_ARRAY)
            scan_index(c, rep);
        else
            good = false;
    }
    if (!good) c->failed = true;
    c->left--;
    free(s);
    return good;
}

static void wait_call(kv_t *kv, rc_call_t *c);

/* While the circuit is half-open, the command that went first is the probe
 * and the others would be refused: they wait for its answer. */
static void send_slot(kv_t *kv, rc_call_t *c, int kind, int argc, const char **argv,
                      const size_t *lens)
{
    if (c->left > 0 && kv_is_degraded(kv)) wait_call(kv, c);
    rc_slot_t *s = malloc(sizeof *s);
    if (!s) abort();
    s->call = c;
    s->kind = kind;
    c->left++;
    kv_cmd(kv, on_slot, s, argc, argv, lens);
}

/* Run kv's loop until every command of c answered (the layer's timer
 * bounds each). */
static void wait_call(kv_t *kv, rc_call_t *c)
{
    while (c->left > 0)
        event_base_loop(kv_base(kv), EVLOOP_ONCE);
    event_base_loop(kv_base(kv), EVLOOP_NONBLOCK);
}

static void hex_exact(char out[33], const uint64_t ex[2])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, ex[0], ex[1]);
}

static bool parse_exact(const char *s, size_t n, uint64_t ex[2])
{
    if (n != 32) return false;
    char a[17], b[17];
    memcpy(a, s, 16);
    memcpy(b, s + 16, 16);
    a[16] = b[16] = 0;
    char *e1, *e2;
    ex[0] = strtoull(a, &e1, 16);
    ex[1] = strtoull(b, &e2, 16);
    return !*e1 && !*e2;
}

/* ---- operations ---- */

int rc_redis_put(rc_redis_t *r, const uint64_t exact[2], uint64_t ctx, rq_proto_t proto,
                 const char *body, size_t len, const float *emb, size_t dim, int64_t ttl_s,
                 uint64_t wall_ms)
{
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    char ex[33], key[512], ikey[512], head[64], ttl[24];
    hex_exact(ex, exact);
    snprintf(key, sizeof key, "%src:%s", r->prefix, ex);
    snprintf(ikey, sizeof ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    int hl = snprintf(head, sizeof head, "RC1 %d %" PRIu64 "\n", (int)proto, wall_ms);
    char *blob = malloc((size_t)hl + len);
    if (!blob) abort();
    memcpy(blob, head, (size_t)hl);
    memcpy(blob + hl, body, len);
    long long ttl_ms = ttl_s > 0 ? (long long)ttl_s * 1000 : 0;
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms);
    rc_call_t call = {0};
    {
        const char *argv[] = {"SET", key, blob, "PX", ttl};
        size_t lens[] = {3, strlen(key), (size_t)hl + len, 2, strlen(ttl)};
        send_slot(kv, &call, SL_MUST, ttl_ms ? 5 : 3, argv, lens);
    }
    free(blob);
    if (emb && dim) {
        const char *argv[] = {"HSET", ikey, ex, (const char *)emb};
        size_t lens[] = {4, strlen(ikey), 32, dim * sizeof *emb};
        send_slot(kv, &call, SL_MUST, 4, argv, lens);
        /* the index lives as long as its longest entry (GT needs Redis 7;
         * an older server replies with an error, which does not count) */
        if (ttl_ms) {
            const char *nx[] = {"PEXPIRE", ikey, ttl, "NX"};
            const char *gt[] = {"PEXPIRE", ikey, ttl, "GT"};
            size_t el[] = {7, strlen(ikey), strlen(ttl), 2};
            send_slot(kv, &call, SL_MAY_FAIL, 4, nx, el);
            send_slot(kv, &call, SL_MAY_FAIL, 4, gt, el);
        } else {
            const char *pa[] = {"PERSIST", ikey};
            size_t pl[] = {7, strlen(ikey)};
            send_slot(kv, &call, SL_MAY_FAIL, 2, pa, pl);
        }
    }
    wait_call(kv, &call);
    return call.failed ? -1 : 0;
}

/* Parse a stored blob into out (body copied). */
static bool parse_blob(const char *s, size_t n, rc_redis_entry_t *out)
{
    const char *nl = memchr(s, '\n', n);
    if (!nl || n < 4 || memcmp(s, "RC1 ", 4) != 0) return false;
    char head[64];
    size_t hl = (size_t)(nl - s);
    if (hl >= sizeof head) return false;
    memcpy(head, s, hl);
    head[hl] = 0;
    int proto;
    unsigned long long at;
    if (sscanf(head, "RC1 %d %llu", &proto, &at) != 2 || proto < 0 || proto > RQ_PROTO_ANTHROPIC)
        return false;
    size_t bl = n - hl - 1;
    out->body = malloc(bl + 1);
    memcpy(out->body, nl + 1, bl);
    out->body[bl] = 0;
    out->len = bl;
    out->proto = (rq_proto_t)proto;
    out->stored_wall_ms = at;
    return true;
}

/* GET + PTTL of one key. 1 hit, 0 miss, -1 error. */
static int get_on(rc_redis_t *r, kv_t *kv, const char *ex, rc_redis_entry_t *out)
{
    char key[512];
    snprintf(key, sizeof key, "%src:%s", r->prefix, ex);
    rc_call_t call = {.out = out, .pttl = -1};
    const char *g[] = {"GET", key};
    const char *t[] = {"PTTL", key};
    size_t gl[] = {3, strlen(key)}, tl[] = {4, strlen(key)};
    send_slot(kv, &call, SL_GET, 2, g, gl);
    send_slot(kv, &call, SL_PTTL, 2, t, tl);
    wait_call(kv, &call);
    if (call.failed) {
        rc_redis_entry_free(out);
        return -1;
    }
    if (call.hit) out->ttl_left_ms = call.pttl >= 0 ? call.pttl : -1;
    return call.hit;
}

int rc_redis_get(rc_redis_t *r, const uint64_t exact[2], rc_redis_entry_t *out)
{
    memset(out, 0, sizeof *out);
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    char ex[33];
    hex_exact(ex, exact);
    return get_on(r, kv, ex, out);
}

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        float y;
        memcpy(&y, b + i, sizeof y); /* b points into a reply: maybe unaligned */
        d += (double)a[i] * y;
        na += (double)a[i] * a[i];
        nb += (double)y * y;
    }
    return na > 0 && nb > 0 ? d / (sqrt(na) * sqrt(nb)) : 0;
}

/* The best few candidates of an HGETALL reply above the threshold, best
 * first, copied out (the reply lives for the callback only). */
static void scan_index(rc_call_t *c, const redisReply *h)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (f->len != 32 || (size_t)v->len != c->dim * sizeof(float)) continue;
        double s = cosine(c->q, (const float *)v->str, c->dim);
        if (s < c->threshold) continue;
        size_t at = c->nb < RC_MAX_TRIES ? c->nb++ : RC_MAX_TRIES;
        if (at == RC_MAX_TRIES) {
            if (s <= c->best[RC_MAX_TRIES - 1].sim) continue;
            at = RC_MAX_TRIES - 1;
            free(c->best[at].emb);
        }
        while (at > 0 && c->best[at - 1].sim < s) {
            c->best[at] = c->best[at - 1];
            at--;
        }
        c->best[at].sim = s;
        memcpy(c->best[at].ex, f->str, 32);
        c->best[at].ex[32] = 0;
        c->best[at].emb = malloc(c->dim * sizeof(float));
        if (!c->best[at].emb) abort();
        memcpy(c->best[at].emb, v->str, c->dim * sizeof(float));
    }
}

int rc_redis_nearest(rc_redis_t *r, uint64_t ctx, const float *q, size_t dim, double threshold,
                     rc_redis_entry_t *out, double *sim, uint64_t exact_out[2])
{
    memset(out, 0, sizeof *out);
    *sim = 0;
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    char ikey[512];
    snprintf(ikey, sizeof ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    rc_call_t idx = {.q = q, .dim = dim, .threshold = threshold};
    const char *argv[] = {"HGETALL", ikey};
    size_t lens[] = {7, strlen(ikey)};
    send_slot(kv, &idx, SL_HGETALL, 2, argv, lens);
    wait_call(kv, &idx);
    int rc = idx.failed ? -1 : 0;
    for (size_t k = 0; k < idx.nb && rc == 0; k++) {
        const char *ex = idx.best[k].ex;
        rc = get_on(r, kv, ex, out);
        if (rc == 1) {
            *sim = idx.best[k].sim;
            if (!parse_exact(ex, 32, exact_out)) exact_out[0] = exact_out[1] = 0;
            out->emb = idx.best[k].emb;
            idx.best[k].emb = NULL;
        } else if (rc == 0) { /* the entry expired: drop its index field */
            rc_call_t del = {0};
            const char *dv[] = {"HDEL", ikey, ex};
            size_t dl[] = {4, strlen(ikey), 32};
            send_slot(kv, &del, SL_MUST, 3, dv, dl);
            wait_call(kv, &del);
            if (del.failed) rc = -1;
        }
    }
    for (size_t k = 0; k < idx.nb; k++)
        free(idx.best[k].emb);
    return rc;
}

/* The `redis` backend's registry entry (response_cache_registry.h): the
 * near cache in front of the Redis of global.stores.response_cache.redis. */
static rc_cache_t *redis_open(const cfg_t *cfg, const rc_opts_t *o, char *err, size_t errlen)
{
    rc_redis_opts_t ro;
    rc_redis_opts_from_cfg(&cfg->global_ext->stores.response_cache.redis, &ro);
    return rc_cache_new_redis(o, &ro, err, errlen);
}

const cfg_store_backend_t rc_redis_store = {
    .name = "redis",
    .flags = CFG_STORE_SHARED | CFG_STORE_REDIS,
    .ops.response_cache = &(const rc_backend_ops_t){.open = redis_open},
};
