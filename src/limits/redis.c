/* redis.c - rate limit and budget counters in Redis, shared by the
 * replicas (see redis.h): per event loop one kv_t (kv/client.h: non-blocking,
 * per-command timeout, circuit breaker), two Lua scripts (admit: read all,
 * count the request when none denies; add: tokens and spend). */
#include "limits/redis.h"
#include "core/log.h"
#include "kv/pool.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LR_TTL_SLACK 60000 /* a key outlives its window by a minute (clock skew) */

/* KEYS: the counters; ARGV, 4 per key: limit, increment, hard (1: at the
 * limit denies), ttl ms. Returns {denying key (1-based) or 0, counts...}. */
static const char ADMIT_LUA[] =
    "local deny = 0\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local v = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
    "  out[i + 1] = v\n"
    "  local b = 4 * (i - 1)\n"
    "  if deny == 0 and ARGV[b + 3] == '1' and v >= tonumber(ARGV[b + 1]) then deny = i end\n"
    "end\n"
    "if deny == 0 then\n"
    "  for i = 1, #KEYS do\n"
    "    local b = 4 * (i - 1)\n"
    "    local inc = tonumber(ARGV[b + 2])\n"
    "    if inc > 0 then\n"
    "      redis.call('INCRBY', KEYS[i], inc)\n"
    "      if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[b + 4]) "
    "end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "out[1] = deny\n"
    "return out\n";

/* KEYS: the counters; ARGV, 2 per key: increment, ttl ms. */
static const char ADD_LUA[] = "for i = 1, #KEYS do\n"
                              "  local b = 2 * (i - 1)\n"
                              "  redis.call('INCRBY', KEYS[i], ARGV[b + 1])\n"
                              "  if redis.call('PTTL', KEYS[i]) < 0 then\n"
                              "    redis.call('PEXPIRE', KEYS[i], ARGV[b + 2])\n"
                              "  end\n"
                              "end\n"
                              "return #KEYS\n";

static const char *const SCRIPTS[] = {ADMIT_LUA, ADD_LUA};
enum { SCRIPT_ADMIT = 0, SCRIPT_ADD };

struct lim_redis {
    kv_pool_t pool; /* one connection per loop */
    char *prefix;
};

lim_redis_t *lim_redis_new(const cfg_redis_t *r, char *err, size_t errlen)
{
    kv_opts_t ko;
    kv_opts_from_cfg(r, &ko);
    ko.failures_to_open = 1; /* the first failure: local counters for about a second */
    ko.open_ms = 1000;
    ko.scripts = SCRIPTS;
    ko.n_scripts = 2;
    ko.name = "limits";
    lim_redis_t *lr = calloc(1, sizeof *lr);
    if (!lr) abort();
    if (!kv_pool_init(&lr->pool, &ko, err, errlen)) {
        free(lr);
        return NULL;
    }
    lr->prefix = strdup(r->key_prefix ? r->key_prefix : "tether:");
    if (!lr->prefix) abort();
    return lr;
}

void lim_redis_free(lim_redis_t *r)
{
    if (!r) return;
    kv_pool_deinit(&r->pool);
    free(r->prefix);
    free(r);
}

/* The loop's connection (made on first use), NULL when every slot is taken. */
static kv_t *conn_of(lim_redis_t *r, struct event_base *evb)
{
    return kv_pool_get(&r->pool, evb);
}

void lim_redis_loop_close(lim_redis_t *r, struct event_base *evb)
{
    kv_pool_drop(&r->pool, evb);
}

bool lim_redis_degraded(lim_redis_t *r)
{
    return kv_pool_any_degraded(&r->pool);
}

/* argv for EVALSHA: numkeys, keys, then per key `per` numbers from fill. */
typedef struct argv_buf {
    const char **argv;
    size_t *lens;
    char *mem; /* the keys and numbers */
    int argc;
} argv_buf_t;

static void argv_build(lim_redis_t *r, const lim_verdict_t *v, int per,
                       void (*fill)(const lim_check_t *c, void *ud, int64_t *out), void *ud,
                       argv_buf_t *a)
{
    size_t n = v->n, plen = strlen(r->prefix), room = 32;
    for (size_t i = 0; i < n; i++)
        room += plen + 4 + v->checks[i].key.len + 24 + (size_t)per * 24;
    a->argc = (int)(1 + n + n * (size_t)per);
    a->argv = calloc((size_t)a->argc, sizeof *a->argv);
    a->lens = calloc((size_t)a->argc, sizeof *a->lens);
    a->mem = malloc(room);
    if (!a->argv || !a->lens || !a->mem) abort();
    char *m = a->mem;
    int k = 0;
    a->argv[k] = m;
    a->lens[k++] = (size_t)sprintf(m, "%zu", n);
    m += a->lens[k - 1] + 1;
    for (size_t i = 0; i < n; i++) {
        const lim_check_t *c = &v->checks[i];
        a->argv[k] = m;
        memcpy(m, r->prefix, plen);
        memcpy(m + plen, "lim:", 4);
        memcpy(m + plen + 4, c->key.name, c->key.len);
        size_t l = plen + 4 + c->key.len;
        l += (size_t)sprintf(m + l, ":%llu", (unsigned long long)c->ws);
        a->lens[k++] = l;
        m += l + 1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t nums[4] = {0};
        fill(&v->checks[i], ud, nums);
        for (int j = 0; j < per; j++) {
            a->argv[k] = m;
            a->lens[k++] = (size_t)sprintf(m, "%lld", (long long)nums[j]);
            m += a->lens[k - 1] + 1;
        }
    }
}

static void argv_free(argv_buf_t *a)
{
    free(a->argv);
    free(a->lens);
    free(a->mem);
}

static int64_t ttl_of(const lim_check_t *c)
{
    return (int64_t)c->left_ms + LR_TTL_SLACK;
}

static void fill_admit(const lim_check_t *c, void *ud, int64_t *out)
{
    (void)ud;
    out[0] = c->limit;
    out[1] = c->kind == LIM_REQUESTS ? 1 : 0;
    out[2] = c->kind != LIM_SPEND || !c->budget->is_downgrade;
    out[3] = ttl_of(c);
}

typedef struct admit_ticket {
    lim_redis_cb cb;
    void *ud;
    size_t n;
} admit_ticket_t;

static bool admit_reply(void *ud, kv_status_t st, redisReply *rp)
{
    admit_ticket_t *t = ud;
    bool good = st == KV_OK && rp && rp->type == REDIS_REPLY_ARRAY && rp->elements == t->n + 1;
    int64_t *vals = NULL;
    if (good) {
        vals = calloc(t->n + 1, sizeof *vals);
        if (!vals) abort();
        for (size_t i = 0; i < t->n && good; i++) {
            const redisReply *e = rp->element[i + 1];
            if (e->type == REDIS_REPLY_INTEGER)
                vals[i] = e->integer;
            else
                good = false;
        }
    }
    if (st != KV_OK) tlog(TLOG_DEBUG, "limits_redis_unanswered", "\"status\":%d", (int)st);
    t->cb(t->ud, good ? vals : NULL);
    free(vals);
    free(t);
    return good; /* an error or malformed reply counts as a failure */
}

void lim_redis_admit(lim_redis_t *r, struct event_base *evb, const lim_verdict_t *v,
                     lim_redis_cb cb, void *ud)
{
    kv_t *kv = conn_of(r, evb);
    if (!kv || !v->n) {
        cb(ud, NULL);
        return;
    }
    admit_ticket_t *t = malloc(sizeof *t);
    if (!t) abort();
    t->cb = cb;
    t->ud = ud;
    t->n = v->n;
    argv_buf_t a;
    argv_build(r, v, 4, fill_admit, NULL, &a);
    kv_eval(kv, SCRIPT_ADMIT, admit_reply, t, a.argc, a.argv, a.lens);
    argv_free(&a);
}

typedef struct add_amounts {
    int64_t tokens, nano;
} add_amounts_t;

static void fill_add(const lim_check_t *c, void *ud, int64_t *out)
{
    const add_amounts_t *am = ud;
    out[0] = c->kind == LIM_TOKENS ? am->tokens : c->kind == LIM_SPEND ? am->nano : 0;
    out[1] = ttl_of(c);
}

void lim_redis_add(lim_redis_t *r, struct event_base *evb, const lim_verdict_t *v, int64_t tokens,
                   int64_t nano)
{
    /* only the counters this usage changes */
    lim_verdict_t sub = *v;
    lim_check_t *cs = calloc(v->n ? v->n : 1, sizeof *cs);
    if (!cs) abort();
    sub.checks = cs;
    sub.n = 0;
    for (size_t i = 0; i < v->n; i++) {
        const lim_check_t *c = &v->checks[i];
        if ((c->kind == LIM_TOKENS && tokens) || (c->kind == LIM_SPEND && nano)) cs[sub.n++] = *c;
    }
    kv_t *kv = sub.n ? conn_of(r, evb) : NULL;
    if (kv) {
        add_amounts_t am = {tokens, nano};
        argv_buf_t a;
        argv_build(r, &sub, 2, fill_add, &am, &a);
        kv_eval(kv, SCRIPT_ADD, NULL, NULL, a.argc, a.argv, a.lens);
        argv_free(&a);
    }
    free(cs);
}
