/* response_cache_redis.c - the Redis backend of the response cache over
 * the Redis layer (kv/client.h): exact entries as prefixed strings with a
 * TTL, and a per-context hash of embeddings scanned for the best cosine.
 * response_cache.c puts its in-memory LRU in front of it as a near cache.
 *
 * Every operation is a small state machine (rc_op_t) that sends its
 * commands on one connection and continues in their callbacks: the _async
 * calls use the caller's event loop (one connection per loop), so a worker
 * never waits on Redis; the blocking calls run the same machine on a
 * private loop of the calling thread until it finishes (tests, tools). See
 * response_cache_redis.h. */
#include "plugins/response_cache_redis.h"
#include "core/clock.h"
#include "plugins/response_cache.h"
#include "plugins/response_cache_registry.h"
#include "kv/pool.h"
#include <event2/event.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_MAX_THREADS 64
#define RC_MAX_TRIES   4 /* candidates above threshold fetched per semantic lookup */
#define RC_MAX_Q       4 /* commands of one stage */

struct rc_redis {
    kv_pool_t pool; /* the _async calls: one connection per caller's loop */
    char *prefix;
    pthread_mutex_t mu; /* guards th[] */
    struct {            /* the blocking calls: a private loop per thread */
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
    if (!kv_pool_init(&r->pool, &ko, err, errlen)) {
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
    kv_pool_deinit(&r->pool);
    pthread_mutex_destroy(&r->mu);
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

/* ---- connections ---- */

/* The calling thread's connection on its private loop (blocking calls). */
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
        kv = b ? kv_new(b, &r->pool.conf.o, err, sizeof err) : NULL;
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

/* The connection of loop evb (made on first use), or NULL when every slot
 * is taken (the call then fails: a miss or a skipped write). */
static kv_t *conn_of_loop(rc_redis_t *r, struct event_base *evb)
{
    return kv_pool_get(&r->pool, evb);
}

/* ---- one operation: stages of commands, each stage's replies awaited ---- */

typedef struct rc_op rc_op_t;
typedef void (*rc_stage_fn)(rc_op_t *op);

enum { SL_MUST, SL_MAY_FAIL, SL_GET, SL_PTTL, SL_HGETALL };

typedef struct rc_qcmd {
    int kind, argc;
    char *argv[5]; /* copies, freed once sent */
    size_t lens[5];
} rc_qcmd_t;

struct rc_op {
    rc_redis_t *r;
    kv_t *kv;
    /* the stage in flight */
    int left; /* commands sent and not answered */
    bool failed, pumping;
    rc_qcmd_t q[RC_MAX_Q];
    int nq, sent;
    rc_stage_fn stage_done;
    /* GET + PTTL */
    rc_redis_entry_t out;
    int hit; /* 1 hit, 0 miss */
    long long pttl;
    /* HGETALL: the best candidates, copied out of the reply */
    float *q_emb;
    size_t dim;
    double threshold;
    size_t nb, cand;
    struct {
        double sim;
        char ex[33];
        float *emb;
    } best[RC_MAX_TRIES];
    char ikey[512];
    double sim;
    uint64_t exact[2];
    /* the caller */
    rc_redis_get_cb got;
    rc_redis_put_cb put;
    void *ud;
};

typedef struct rc_slot {
    rc_op_t *op;
    int kind;
} rc_slot_t;

static void scan_index(rc_op_t *c, const redisReply *h);
static bool parse_blob(const char *s, size_t n, rc_redis_entry_t *out);
static void pump(rc_op_t *op);

static void deferred_pump(evutil_socket_t fd, short what, void *ud)
{
    pump(ud);
}

static bool on_slot(void *ud, kv_status_t st, redisReply *rep)
{
    rc_slot_t *s = ud;
    rc_op_t *c = s->op;
    bool good = st == KV_OK || (st == KV_EREPLY && s->kind == SL_MAY_FAIL);
    if (st == KV_OK && s->kind == SL_GET && rep->type == REDIS_REPLY_STRING)
        c->hit = parse_blob(rep->str, rep->len, &c->out) ? 1 : 0;
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
    if (c->pumping) return good; /* inline (refused, failed send): the running pump goes on */
    if (kv_is_degraded(c->kv)) {
        /* this reply may be the probe's: the layer closes the circuit once
         * the callback returned, so the next command waits a loop turn */
        if (event_base_once(kv_base(c->kv), -1, EV_TIMEOUT, deferred_pump, c,
                            &(struct timeval){0, 0}) == 0)
            return good;
    }
    pump(c);
    return good;
}

/* Queue one command of the next stage (argv copied). */
static void queue(rc_op_t *op, int kind, int argc, const char **argv, const size_t *lens)
{
    if (op->nq >= RC_MAX_Q) abort();
    rc_qcmd_t *q = &op->q[op->nq++];
    q->kind = kind;
    q->argc = argc;
    for (int i = 0; i < argc; i++) {
        q->argv[i] = malloc(lens[i] ? lens[i] : 1);
        if (!q->argv[i]) abort();
        memcpy(q->argv[i], argv[i], lens[i]);
        q->lens[i] = lens[i];
    }
}

/* Send what the stage may send now, and end the stage once every command
 * answered. While the circuit is half-open, the command that went first is
 * the probe and the others would be refused: they wait for its answer. */
static void pump(rc_op_t *op)
{
    if (op->pumping) return;
    op->pumping = true;
    while (op->sent < op->nq && !(op->left > 0 && kv_is_degraded(op->kv))) {
        rc_qcmd_t *q = &op->q[op->sent++];
        rc_slot_t *s = malloc(sizeof *s);
        if (!s) abort();
        s->op = op;
        s->kind = q->kind;
        op->left++;
        kv_cmd(op->kv, on_slot, s, q->argc, (const char **)q->argv, q->lens);
        for (int i = 0; i < q->argc; i++)
            free(q->argv[i]);
    }
    op->pumping = false;
    if (op->left == 0 && op->sent == op->nq) {
        op->nq = op->sent = 0;
        op->stage_done(op); /* may start the next stage, or free op */
    }
}

static void start_stage(rc_op_t *op, rc_stage_fn done)
{
    op->failed = false;
    op->stage_done = done;
    pump(op);
}

static rc_op_t *op_new(rc_redis_t *r, kv_t *kv)
{
    rc_op_t *op = calloc(1, sizeof *op);
    if (!op) abort();
    op->r = r;
    op->kv = kv;
    op->pttl = -1;
    return op;
}

/* Report rc to the caller and free op (the entry is the callee's on 1). */
static void op_finish(rc_op_t *op, int rc)
{
    if (rc == 1) op->out.ttl_left_ms = op->pttl >= 0 ? op->pttl : -1;
    if (rc != 1) rc_redis_entry_free(&op->out);
    if (op->got) op->got(op->ud, rc, rc == 1 ? &op->out : NULL, op->sim, op->exact);
    if (op->put) op->put(op->ud, rc);
    rc_redis_entry_free(&op->out);
    for (size_t k = 0; k < op->nb; k++)
        free(op->best[k].emb);
    free(op->q_emb);
    free(op);
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

/* ---- put ---- */

static void put_done(rc_op_t *op)
{
    op_finish(op, op->failed ? -1 : 0);
}

static void put_on(rc_redis_t *r, kv_t *kv, const uint64_t exact[2], uint64_t ctx, rq_proto_t proto,
                   const char *body, size_t len, const float *emb, size_t dim, int64_t ttl_s,
                   uint64_t wall_ms, rc_redis_put_cb cb, void *ud)
{
    rc_op_t *op = op_new(r, kv);
    op->put = cb;
    op->ud = ud;
    char ex[33], key[512], head[64], ttl[24];
    hex_exact(ex, exact);
    snprintf(key, sizeof key, "%src:%s", r->prefix, ex);
    snprintf(op->ikey, sizeof op->ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    const char *ikey = op->ikey;
    int hl = snprintf(head, sizeof head, "RC1 %d %" PRIu64 "\n", (int)proto, wall_ms);
    char *blob = malloc((size_t)hl + len);
    if (!blob) abort();
    memcpy(blob, head, (size_t)hl);
    memcpy(blob + hl, body, len);
    long long ttl_ms = ttl_s > 0 ? (long long)ttl_s * 1000 : 0;
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms);
    {
        const char *argv[] = {"SET", key, blob, "PX", ttl};
        size_t lens[] = {3, strlen(key), (size_t)hl + len, 2, strlen(ttl)};
        queue(op, SL_MUST, ttl_ms ? 5 : 3, argv, lens);
    }
    free(blob);
    if (emb && dim) {
        const char *argv[] = {"HSET", ikey, ex, (const char *)emb};
        size_t lens[] = {4, strlen(ikey), 32, dim * sizeof *emb};
        queue(op, SL_MUST, 4, argv, lens);
        /* the index lives as long as its longest entry (GT needs Redis 7;
         * an older server replies with an error, which does not count) */
        if (ttl_ms) {
            const char *nx[] = {"PEXPIRE", ikey, ttl, "NX"};
            const char *gt[] = {"PEXPIRE", ikey, ttl, "GT"};
            size_t el[] = {7, strlen(ikey), strlen(ttl), 2};
            queue(op, SL_MAY_FAIL, 4, nx, el);
            queue(op, SL_MAY_FAIL, 4, gt, el);
        } else {
            const char *pa[] = {"PERSIST", ikey};
            size_t pl[] = {7, strlen(ikey)};
            queue(op, SL_MAY_FAIL, 2, pa, pl);
        }
    }
    start_stage(op, put_done);
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

/* ---- get: GET + PTTL of one key ---- */

static void queue_get(rc_op_t *op, const char *ex)
{
    char key[512];
    snprintf(key, sizeof key, "%src:%s", op->r->prefix, ex);
    rc_redis_entry_free(&op->out);
    op->hit = 0;
    op->pttl = -1;
    const char *g[] = {"GET", key};
    const char *t[] = {"PTTL", key};
    size_t gl[] = {3, strlen(key)}, tl[] = {4, strlen(key)};
    queue(op, SL_GET, 2, g, gl);
    queue(op, SL_PTTL, 2, t, tl);
}

static void get_done(rc_op_t *op)
{
    op_finish(op, op->failed ? -1 : op->hit);
}

static void get_on(rc_redis_t *r, kv_t *kv, const uint64_t exact[2], rc_redis_get_cb cb, void *ud)
{
    rc_op_t *op = op_new(r, kv);
    op->got = cb;
    op->ud = ud;
    op->sim = 1;
    op->exact[0] = exact[0];
    op->exact[1] = exact[1];
    char ex[33];
    hex_exact(ex, exact);
    queue_get(op, ex);
    start_stage(op, get_done);
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
static void scan_index(rc_op_t *c, const redisReply *h)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (f->len != 32 || (size_t)v->len != c->dim * sizeof(float)) continue;
        double s = cosine(c->q_emb, (const float *)v->str, c->dim);
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

/* ---- nearest: HGETALL of the context's index, then GET + PTTL of the
 * candidates best first; a candidate whose entry expired loses its index
 * field (HDEL) before the next is tried ---- */

static void next_candidate(rc_op_t *op);

static void hdel_done(rc_op_t *op)
{
    if (op->failed) {
        op_finish(op, -1);
        return;
    }
    op->cand++;
    next_candidate(op);
}

static void cand_done(rc_op_t *op)
{
    if (op->failed) {
        op_finish(op, -1);
        return;
    }
    const char *ex = op->best[op->cand].ex;
    if (op->hit) {
        op->sim = op->best[op->cand].sim;
        if (!parse_exact(ex, 32, op->exact)) op->exact[0] = op->exact[1] = 0;
        op->out.emb = op->best[op->cand].emb;
        op->best[op->cand].emb = NULL;
        op_finish(op, 1);
        return;
    }
    const char *dv[] = {"HDEL", op->ikey, ex};
    size_t dl[] = {4, strlen(op->ikey), 32};
    queue(op, SL_MUST, 3, dv, dl);
    start_stage(op, hdel_done);
}

static void next_candidate(rc_op_t *op)
{
    if (op->cand >= op->nb) {
        op_finish(op, 0);
        return;
    }
    queue_get(op, op->best[op->cand].ex);
    start_stage(op, cand_done);
}

static void index_done(rc_op_t *op)
{
    if (op->failed) {
        op_finish(op, -1);
        return;
    }
    op->cand = 0;
    next_candidate(op);
}

static void nearest_on(rc_redis_t *r, kv_t *kv, uint64_t ctx, const float *q, size_t dim,
                       double threshold, rc_redis_get_cb cb, void *ud)
{
    rc_op_t *op = op_new(r, kv);
    op->got = cb;
    op->ud = ud;
    op->dim = dim;
    op->threshold = threshold;
    op->q_emb = malloc(dim * sizeof *q + 1);
    if (!op->q_emb) abort();
    memcpy(op->q_emb, q, dim * sizeof *q);
    snprintf(op->ikey, sizeof op->ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    const char *argv[] = {"HGETALL", op->ikey};
    size_t lens[] = {7, strlen(op->ikey)};
    queue(op, SL_HGETALL, 2, argv, lens);
    start_stage(op, index_done);
}

/* ---- on the caller's loop ---- */

void rc_redis_put_async(rc_redis_t *r, struct event_base *evb, const uint64_t exact[2],
                        uint64_t ctx, rq_proto_t proto, const char *body, size_t len,
                        const float *emb, size_t dim, int64_t ttl_s, uint64_t wall_ms,
                        rc_redis_put_cb cb, void *ud)
{
    kv_t *kv = conn_of_loop(r, evb);
    if (!kv) {
        if (cb) cb(ud, -1);
        return;
    }
    put_on(r, kv, exact, ctx, proto, body, len, emb, dim, ttl_s, wall_ms, cb, ud);
}

void rc_redis_get_async(rc_redis_t *r, struct event_base *evb, const uint64_t exact[2],
                        rc_redis_get_cb cb, void *ud)
{
    kv_t *kv = conn_of_loop(r, evb);
    if (!kv) {
        cb(ud, -1, NULL, 0, exact);
        return;
    }
    get_on(r, kv, exact, cb, ud);
}

void rc_redis_nearest_async(rc_redis_t *r, struct event_base *evb, uint64_t ctx, const float *q,
                            size_t dim, double threshold, rc_redis_get_cb cb, void *ud)
{
    kv_t *kv = conn_of_loop(r, evb);
    if (!kv) {
        static const uint64_t none[2];
        cb(ud, -1, NULL, 0, none);
        return;
    }
    nearest_on(r, kv, ctx, q, dim, threshold, cb, ud);
}

/* ---- blocking: the same on the thread's private loop ---- */

typedef struct rc_wait {
    bool done;
    int rc;
    rc_redis_entry_t *out;
    double sim;
    uint64_t exact[2];
} rc_wait_t;

static void wait_got(void *ud, int rc, rc_redis_entry_t *e, double sim, const uint64_t ex[2])
{
    rc_wait_t *w = ud;
    w->done = true;
    w->rc = rc;
    if (rc == 1) {
        *w->out = *e; /* moved */
        memset(e, 0, sizeof *e);
        w->sim = sim;
        w->exact[0] = ex[0];
        w->exact[1] = ex[1];
    }
}

static void wait_put(void *ud, int rc)
{
    rc_wait_t *w = ud;
    w->done = true;
    w->rc = rc;
}

/* Run kv's loop until the operation reported (the layer's timer bounds
 * each command). */
static void wait_for(kv_t *kv, rc_wait_t *w)
{
    while (!w->done)
        event_base_loop(kv_base(kv), EVLOOP_ONCE);
    event_base_loop(kv_base(kv), EVLOOP_NONBLOCK);
}

int rc_redis_put(rc_redis_t *r, const uint64_t exact[2], uint64_t ctx, rq_proto_t proto,
                 const char *body, size_t len, const float *emb, size_t dim, int64_t ttl_s,
                 uint64_t wall_ms)
{
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    rc_wait_t w = {0};
    put_on(r, kv, exact, ctx, proto, body, len, emb, dim, ttl_s, wall_ms, wait_put, &w);
    wait_for(kv, &w);
    return w.rc;
}

int rc_redis_get(rc_redis_t *r, const uint64_t exact[2], rc_redis_entry_t *out)
{
    memset(out, 0, sizeof *out);
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    rc_wait_t w = {.out = out};
    get_on(r, kv, exact, wait_got, &w);
    wait_for(kv, &w);
    return w.rc;
}

int rc_redis_nearest(rc_redis_t *r, uint64_t ctx, const float *q, size_t dim, double threshold,
                     rc_redis_entry_t *out, double *sim, uint64_t exact_out[2])
{
    memset(out, 0, sizeof *out);
    *sim = 0;
    kv_t *kv = conn_of_thread(r);
    if (!kv) return -1;
    rc_wait_t w = {.out = out};
    nearest_on(r, kv, ctx, q, dim, threshold, wait_got, &w);
    wait_for(kv, &w);
    if (w.rc == 1) {
        *sim = w.sim;
        exact_out[0] = w.exact[0];
        exact_out[1] = w.exact[1];
    }
    return w.rc;
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
