/* response_cache_redis.c - the Redis backend of the response cache: blocking
 * hiredis calls with a tight timeout from a small connection pool, exact
 * entries as prefixed strings with a TTL, and a per-context hash of
 * embeddings scanned for the best cosine. response_cache.c puts its
 * in-memory LRU in front of it as a near cache. See response_cache_redis.h. */
#include "plugins/response_cache_redis.h"
#include "core/clock.h"
#include "core/log.h"
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_POOL_MAX  8
#define RC_DOWN_MS   500
#define RC_MAX_TRIES 4 /* candidates above threshold fetched per semantic lookup */

struct rc_redis {
    char host[256];
    int port;
    char *unix_path, *password, *prefix;
    int db;
    uint64_t timeout_ms;
    pthread_mutex_t mu;
    redisContext *idle[RC_POOL_MAX];
    int n_idle;
    uint64_t down_until_ms; /* mono; connects refused before this */
    bool logged_down;
};

void rc_redis_opts_from_cfg(const cfg_redis_t *r, rc_redis_opts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!r) return;
    out->address = r->address;
    out->password = r->password;
    if ((!out->password || !*out->password) && r->password_env)
        out->password = getenv(r->password_env);
    out->key_prefix = r->key_prefix;
    out->db = (int)r->db;
    out->timeout_ms = r->timeout_ms > 0 ? (uint64_t)r->timeout_ms : 0;
}

static bool parse_address(rc_redis_t *r, const char *addr, char *err, size_t errlen)
{
    if (!addr || !*addr) addr = "127.0.0.1:6379";
    if (strncmp(addr, "redis://", 8) == 0) addr += 8;
    if (strncmp(addr, "unix:", 5) == 0) {
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

rc_redis_t *rc_redis_new(const rc_redis_opts_t *o, char *err, size_t errlen)
{
    rc_redis_t *r = calloc(1, sizeof *r);
    if (!parse_address(r, o->address, err, errlen)) {
        free(r);
        return NULL;
    }
    r->password = o->password && *o->password ? strdup(o->password) : NULL;
    r->prefix = strdup(o->key_prefix ? o->key_prefix : "");
    r->db = o->db;
    r->timeout_ms = o->timeout_ms ? o->timeout_ms : 50;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void rc_redis_free(rc_redis_t *r)
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

void rc_redis_entry_free(rc_redis_entry_t *e)
{
    if (!e) return;
    free(e->body);
    free(e->emb);
    memset(e, 0, sizeof *e);
}

/* ---- connections ---- */

static bool reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

static redisContext *connect_one(rc_redis_t *r)
{
    struct timeval tv = {(time_t)(r->timeout_ms / 1000),
                         (suseconds_t)(r->timeout_ms % 1000) * 1000};
    redisContext *c = r->unix_path ? redisConnectUnixWithTimeout(r->unix_path, tv)
                                   : redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err || redisSetTimeout(c, tv) != REDIS_OK) goto fail;
    if (r->password) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        bool ok = reply_ok(rep);
        if (rep) freeReplyObject(rep);
        if (!ok) goto fail;
    }
    if (r->db > 0) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        bool ok = reply_ok(rep);
        if (rep) freeReplyObject(rep);
        if (!ok) goto fail;
    }
    return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

/* A connection, or NULL while Redis is down. */
static redisContext *conn_get(rc_redis_t *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->n_idle) {
        redisContext *c = r->idle[--r->n_idle];
        pthread_mutex_unlock(&r->mu);
        return c;
    }
    bool down = clock_mono_ms() < r->down_until_ms;
    pthread_mutex_unlock(&r->mu);
    if (down) return NULL;
    redisContext *c = connect_one(r); /* outside the lock: may take timeout_ms */
    pthread_mutex_lock(&r->mu);
    if (!c) {
        r->down_until_ms = clock_mono_ms() + RC_DOWN_MS;
        bool first = !r->logged_down;
        r->logged_down = true;
        pthread_mutex_unlock(&r->mu);
        if (first)
            tlog(TLOG_WARN, "response_cache_redis_down", "\"host\":\"%s\",\"port\":%d",
                 r->unix_path ? "unix" : r->host, r->port);
        return NULL;
    }
    bool was_down = r->logged_down;
    r->logged_down = false;
    pthread_mutex_unlock(&r->mu);
    if (was_down) tlog(TLOG_INFO, "response_cache_redis_up", "\"port\":%d", r->port);
    return c;
}

/* Give c back (ok) or drop it (after an error: its stream state is unknown). */
static void conn_put(rc_redis_t *r, redisContext *c, bool ok)
{
    if (!c) return;
    if (ok && !c->err) {
        pthread_mutex_lock(&r->mu);
        if (r->n_idle < RC_POOL_MAX) {
            r->idle[r->n_idle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&r->mu);
    }
    if (c) redisFree(c);
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
    redisContext *c = conn_get(r);
    if (!c) return -1;
    char ex[33], key[512], ikey[512], head[64];
    hex_exact(ex, exact);
    snprintf(key, sizeof key, "%src:%s", r->prefix, ex);
    snprintf(ikey, sizeof ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    int hl = snprintf(head, sizeof head, "RC1 %d %" PRIu64 "\n", (int)proto, wall_ms);
    char *blob = malloc((size_t)hl + len);
    memcpy(blob, head, (size_t)hl);
    memcpy(blob + hl, body, len);
    size_t blen = (size_t)hl + len;
    long long ttl_ms = ttl_s > 0 ? (long long)ttl_s * 1000 : 0;
    int n = 0;
    if (ttl_ms)
        redisAppendCommand(c, "SET %b %b PX %lld", key, strlen(key), blob, blen, ttl_ms);
    else
        redisAppendCommand(c, "SET %b %b", key, strlen(key), blob, blen);
    n++;
    if (emb && dim) {
        redisAppendCommand(c, "HSET %b %b %b", ikey, strlen(ikey), ex, (size_t)32,
                           (const char *)emb, dim * sizeof *emb);
        n++;
        /* the index lives as long as its longest entry (GT needs Redis 7;
         * an older server replies with an error, ignored below) */
        if (ttl_ms) {
            redisAppendCommand(c, "PEXPIRE %b %lld NX", ikey, strlen(ikey), ttl_ms);
            redisAppendCommand(c, "PEXPIRE %b %lld GT", ikey, strlen(ikey), ttl_ms);
            n += 2;
        } else {
            redisAppendCommand(c, "PERSIST %b", ikey, strlen(ikey));
            n++;
        }
    }
    free(blob);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
            ok = false;
            break;
        }
        if (i < 2 && !reply_ok(rep)) ok = false; /* SET / HSET must succeed */
        freeReplyObject(rep);
    }
    conn_put(r, c, ok && !c->err);
    return ok ? 0 : -1;
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

/* GET + PTTL of one key on c. 1 hit, 0 miss, -1 error. */
static int get_on(rc_redis_t *r, redisContext *c, const char *ex, rc_redis_entry_t *out)
{
    char key[512];
    snprintf(key, sizeof key, "%src:%s", r->prefix, ex);
    redisAppendCommand(c, "GET %b", key, strlen(key));
    redisAppendCommand(c, "PTTL %b", key, strlen(key));
    redisReply *g = NULL, *t = NULL;
    if (redisGetReply(c, (void **)&g) != REDIS_OK) return -1;
    if (redisGetReply(c, (void **)&t) != REDIS_OK) {
        freeReplyObject(g);
        return -1;
    }
    int rc = 0;
    if (!reply_ok(g) || !reply_ok(t))
        rc = -1;
    else if (g->type == REDIS_REPLY_STRING && parse_blob(g->str, g->len, out)) {
        out->ttl_left_ms = t->type == REDIS_REPLY_INTEGER && t->integer >= 0 ? t->integer : -1;
        rc = 1;
    }
    freeReplyObject(g);
    freeReplyObject(t);
    return rc;
}

int rc_redis_get(rc_redis_t *r, const uint64_t exact[2], rc_redis_entry_t *out)
{
    memset(out, 0, sizeof *out);
    redisContext *c = conn_get(r);
    if (!c) return -1;
    char ex[33];
    hex_exact(ex, exact);
    int rc = get_on(r, c, ex, out);
    conn_put(r, c, rc >= 0);
    return rc;
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

typedef struct cand {
    double sim;
    size_t field; /* index of the field in the HGETALL reply */
} cand_t;

int rc_redis_nearest(rc_redis_t *r, uint64_t ctx, const float *q, size_t dim, double threshold,
                     rc_redis_entry_t *out, double *sim, uint64_t exact_out[2])
{
    memset(out, 0, sizeof *out);
    *sim = 0;
    redisContext *c = conn_get(r);
    if (!c) return -1;
    char ikey[512];
    snprintf(ikey, sizeof ikey, "%srcx:%016" PRIx64, r->prefix, ctx);
    redisReply *h = redisCommand(c, "HGETALL %b", ikey, strlen(ikey));
    if (!reply_ok(h) || h->type != REDIS_REPLY_ARRAY) {
        if (h) freeReplyObject(h);
        conn_put(r, c, false);
        return -1;
    }
    /* the best few candidates above the threshold, best first */
    cand_t best[RC_MAX_TRIES];
    size_t nb = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (f->len != 32 || (size_t)v->len != dim * sizeof(float)) continue;
        double s = cosine(q, (const float *)v->str, dim);
        if (s < threshold) continue;
        size_t at = nb < RC_MAX_TRIES ? nb++ : RC_MAX_TRIES;
        if (at == RC_MAX_TRIES) {
            if (s <= best[RC_MAX_TRIES - 1].sim) continue;
            at = RC_MAX_TRIES - 1;
        }
        while (at > 0 && best[at - 1].sim < s) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = (cand_t){s, i};
    }
    int rc = 0;
    for (size_t k = 0; k < nb && rc == 0; k++) {
        redisReply *f = h->element[best[k].field], *v = h->element[best[k].field + 1];
        char ex[33];
        memcpy(ex, f->str, 32);
        ex[32] = 0;
        rc = get_on(r, c, ex, out);
        if (rc == 1) {
            *sim = best[k].sim;
            if (!parse_exact(ex, 32, exact_out)) exact_out[0] = exact_out[1] = 0;
            out->emb = malloc(dim * sizeof *out->emb);
            memcpy(out->emb, v->str, dim * sizeof *out->emb);
        } else if (rc == 0) { /* the entry expired: drop its index field */
            redisReply *d = redisCommand(c, "HDEL %b %b", ikey, strlen(ikey), ex, (size_t)32);
            if (!d)
                rc = -1;
            else
                freeReplyObject(d);
        }
    }
    freeReplyObject(h);
    conn_put(r, c, rc >= 0);
    return rc;
}
