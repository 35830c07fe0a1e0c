/* store_redis.c - the `redis` replay store: records shared by every replica
 * of a deployment, with a lifetime (ttl_seconds) and a bounded count
 * (max_records).
 *
 * Layout, under key_prefix (default "tether:replay:"):
 *   rec:<id>       a hash per record: the filter columns and the JSON
 *                  (fields id ms sid dec model reason phase turn sw json
 *                  bodies), expiring after ttl_seconds;
 *   time           a sorted set of every id by created_at_ms (the global
 *                  timeline, trimmed to max_records on write, to the TTL by
 *                  the sweep);
 *   sess:<session> a sorted set per session, expiring with its last turn.
 * One Lua script per batch adds each hash and its index entries and trims
 * the global index once (deleting the trimmed hashes), so a record is
 * either fully indexed or absent. An empty string counts as absent. Reads walk an index newest
 * first and drop ids whose hash has expired.
 *
 * Writes go through the project's Redis layer (kv/client.h, circuit breaker
 * and timeouts included) on a private event loop driven by the spool's
 * thread (spool.h): the replay writer only hands records over, and an
 * outage fills the spool's bounded buffer instead of blocking anything.
 * Reads (the management API, `tether replay`) use a second connection on
 * the caller's thread, bounded by timeout_ms per command. */
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "kv/client.h"
#include "replay/registry.h"
#include "replay/spool.h"
#include "replay/store.h"

typedef struct redis_replay_opts {
    char *address, *password_env, *key_prefix;
    int64_t db, timeout_ms, buffer_records;
} redis_replay_opts_t;

typedef struct {
    struct event_base *evb;
    kv_t *kv;
} rconn_t;

typedef struct {
    replay_spooled_t sp; /* first: base, spool, rmu */
    kv_conf_t conf;
    char *prefix;
    rconn_t w; /* the spool thread's */
    rconn_t r; /* readers', under rmu */
} redis_store_t;

/* One call per batch. KEYS[1]: the time index; ARGV: ttl_s, max_records,
 * prefix, then per record the 11 values of FIELDS (below) in order, ""
 * for an absent one. Adds each hash and its index entries, then trims the
 * time index once (deleting the trimmed hashes). */
static const char ADD_LUA[] =
    "local ttl, max, p = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]\n"
    "local names = {'id', 'ms', 'sid', 'dec', 'model', 'reason', 'phase', 'turn', 'sw',\n"
    "               'json', 'bodies'}\n"
    "local seen = {}\n"
    "for i = 4, #ARGV, 11 do\n"
    "  local id, ms, sid = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]\n"
    "  local rec, f = p .. 'rec:' .. id, {}\n"
    "  for k = 1, 11 do\n"
    "    local v = ARGV[i + k - 1]\n"
    "    if v ~= '' then f[#f + 1] = names[k]; f[#f + 1] = v end\n"
    "  end\n"
    "  redis.call('HSET', rec, unpack(f))\n"
    "  if ttl > 0 then redis.call('EXPIRE', rec, ttl) end\n"
    "  redis.call('ZADD', KEYS[1], ms, id)\n"
    "  if sid ~= '' then\n"
    "    local sk = p .. 'sess:' .. sid\n"
    "    redis.call('ZADD', sk, ms, id)\n"
    "    if ttl > 0 then\n"
    "      redis.call('EXPIRE', sk, ttl)\n"
    "      if not seen[sk] then\n"
    "        seen[sk] = true\n"
    "        redis.call('ZREMRANGEBYSCORE', sk, '-inf', '(' .. (ms - ttl * 1000))\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if max > 0 then\n"
    "  local over = redis.call('ZCARD', KEYS[1]) - max\n"
    "  if over > 0 then\n"
    "    local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)\n"
    "    for _, o in ipairs(old) do redis.call('DEL', p .. 'rec:' .. o) end\n"
    "    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)\n"
    "  end\n"
    "end\n"
    "return 1\n";
static const char *const SCRIPTS[] = {ADD_LUA};

/* ---- running commands to completion on a private loop ------------------ */

typedef struct {
    int pending;
    int failed;
    buf_t *err;
} rwait_t;

static bool ok_cb(void *ud, kv_status_t st, redisReply *r)
{
    rwait_t *w = ud;
    w->pending--;
    if (st != KV_OK) {
        if (!w->failed && w->err) {
            buf_reset(w->err);
            buf_printf(w->err, "redis: %s",
                       st == KV_EREPLY && r && r->str ? r->str
                       : st == KV_EOPEN               ? "circuit open (server unavailable)"
                       : st == KV_ETIMEOUT            ? "timeout"
                                                      : "connection failed");
        }
        w->failed++;
        return false;
    }
    return true;
}

static void run_until_done(rconn_t *c, rwait_t *w)
{
    kv_flush(c->kv);
    while (w->pending > 0)
        event_base_loop(c->evb, EVLOOP_ONCE);
}

static int rconn_open(rconn_t *c, const kv_conf_t *conf, buf_t *err)
{
    char e[256] = "";
    c->evb = event_base_new();
    if (!c->evb) abort();
    c->kv = kv_new(c->evb, &conf->o, e, sizeof e);
    if (!c->kv) {
        if (err) buf_printf(err, "replay store redis: %s", e);
        event_base_free(c->evb);
        c->evb = NULL;
        return REPLAY_EINVAL;
    }
    return REPLAY_OK;
}

static void rconn_close(rconn_t *c)
{
    if (c->kv) kv_free(c->kv);
    if (c->evb) event_base_free(c->evb);
    c->kv = NULL;
    c->evb = NULL;
}

/* ---- write (the spool's sink) ----------------------------------------- */

#define NF 11 /* values per record, in FIELDS order */

static int redis_sink(void *ud, const replay_flat_t *rows, size_t n, buf_t *err)
{
    redis_store_t *s = ud;
    if (!s->w.kv && rconn_open(&s->w, &s->conf, err) != REPLAY_OK) return REPLAY_EIO;
    const replay_config_t *c = &s->sp.base.cfg;
    char ttl[24], max[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)(c->ttl_seconds > 0 ? c->ttl_seconds : 0));
    snprintf(max, sizeof max, "%lld", (long long)(c->max_records > 0 ? c->max_records : 0));
    size_t argc = 5 + n * NF;
    const char **v = calloc(argc, sizeof *v);
    size_t *l = calloc(argc, sizeof *l);
    char(*nums)[3][24] = calloc(n ? n : 1, sizeof *nums);
    if (!v || !l || !nums) abort();
    buf_t key = BUF_INIT;
    buf_printf(&key, "%stime", s->prefix);
    size_t k = 0;
    v[k++] = "1";
    v[k++] = key.data;
    v[k++] = ttl;
    v[k++] = max;
    v[k++] = s->prefix;
    for (size_t i = 0; i < n; i++) {
        const replay_flat_t *r = &rows[i];
        snprintf(nums[i][0], sizeof nums[i][0], "%llu", (unsigned long long)r->created_at_ms);
        snprintf(nums[i][1], sizeof nums[i][1], "%lld", (long long)r->turn);
        snprintf(nums[i][2], sizeof nums[i][2], "%d", r->switched ? 1 : 0);
        const char *vals[NF] = {r->id,      nums[i][0], r->session_id, r->decision,
                                r->model,   r->reason,  r->phase,      nums[i][1],
                                nums[i][2], r->json,    r->bodies};
        for (int f = 0; f < NF; f++)
            v[k++] = vals[f] ? vals[f] : "";
    }
    for (size_t i = 0; i < argc; i++)
        l[i] = strlen(v[i]);
    rwait_t w = {.pending = 1, .err = err};
    kv_eval(s->w.kv, 0, ok_cb, &w, (int)argc, v, l);
    run_until_done(&s->w, &w);
    buf_free(&key);
    free(v);
    free(l);
    free(nums);
    return w.failed ? REPLAY_EIO : REPLAY_OK;
}

/* ---- scan --------------------------------------------------------------- */

enum { F_ID, F_MS, F_SID, F_DEC, F_MODEL, F_REASON, F_PHASE, F_TURN, F_SW, F_JSON, F_BODIES };
static const char *const FIELDS[NF] = {"id",    "ms",   "sid", "dec",  "model", "reason",
                                       "phase", "turn", "sw",  "json", "bodies"};

typedef struct {
    char *f[NF];
} hrow_t;

typedef struct {
    rwait_t w;
    char **ids;
    size_t n;
} idpage_t;

static bool ids_cb(void *ud, kv_status_t st, redisReply *r)
{
    idpage_t *p = ud;
    if (st == KV_OK && r->type != REDIS_REPLY_ARRAY) st = KV_EREPLY;
    bool ok = ok_cb(&p->w, st, st == KV_EREPLY && r && r->type == REDIS_REPLY_ERROR ? r : NULL);
    if (!ok) return false;
    p->ids = calloc(r->elements ? r->elements : 1, sizeof *p->ids);
    if (!p->ids) abort();
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            p->ids[p->n++] = strndup(r->element[i]->str, r->element[i]->len);
    return true;
}

typedef struct {
    rwait_t *w;
    hrow_t *row;
} hget_t;

static bool hget_cb(void *ud, kv_status_t st, redisReply *r)
{
    hget_t *h = ud;
    if (st == KV_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != NF)) st = KV_EREPLY;
    if (!ok_cb(h->w, st, NULL)) return false;
    for (size_t i = 0; i < NF; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            h->row->f[i] = strndup(r->element[i]->str, r->element[i]->len);
    return true;
}

static void hrow_free(hrow_t *h)
{
    for (int i = 0; i < NF; i++)
        free(h->f[i]);
}

/* Fetch the hashes of ids[0..n) into rows (missing ones stay all-NULL). */
static int fetch_rows(redis_store_t *s, char **ids, size_t n, hrow_t *rows, buf_t *err)
{
    rwait_t w = {.err = err};
    hget_t *hs = calloc(n ? n : 1, sizeof *hs);
    if (!hs) abort();
    buf_t key = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_reset(&key);
        buf_printf(&key, "%srec:%s", s->prefix, ids[i]);
        const char *v[NF + 2] = {"HMGET", key.data};
        size_t l[NF + 2] = {5, key.len};
        for (int k = 0; k < NF; k++) {
            v[k + 2] = FIELDS[k];
            l[k + 2] = strlen(FIELDS[k]);
        }
        hs[i] = (hget_t){&w, &rows[i]};
        w.pending++;
        kv_cmd(s->r.kv, hget_cb, &hs[i], NF + 2, v, l);
    }
    run_until_done(&s->r, &w);
    buf_free(&key);
    free(hs);
    return w.failed ? REPLAY_EIO : REPLAY_OK;
}

#define PAGE 200

static int scan_locked(redis_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                       buf_t *err)
{
    buf_t key = BUF_INIT;
    char hi[32], lo[32], off[24], cnt[24];
    if (f->session_id)
        buf_printf(&key, "%ssess:%s", s->prefix, f->session_id);
    else
        buf_printf(&key, "%stime", s->prefix);
    if (f->has_cursor)
        snprintf(hi, sizeof hi, "%llu", (unsigned long long)f->before_ms);
    else
        snprintf(hi, sizeof hi, "+inf");
    if (f->since_ms)
        snprintf(lo, sizeof lo, "%llu", (unsigned long long)f->since_ms);
    else
        snprintf(lo, sizeof lo, "-inf");
    size_t emitted = 0, offset = 0;
    bool more = true, has_last = false;
    uint64_t last_ms = 0;
    char last_id[REPLAY_ID_LEN + 1] = "";
    int rc = REPLAY_OK;
    while (more && (!f->limit || emitted < f->limit)) {
        idpage_t p = {.w = {.err = err}};
        if (f->id) { /* one record: no index walk */
            p.ids = calloc(1, sizeof *p.ids);
            if (!p.ids) abort();
            p.ids[p.n++] = strdup(f->id);
            more = false;
        } else {
            snprintf(off, sizeof off, "%zu", offset);
            snprintf(cnt, sizeof cnt, "%d", PAGE);
            const char *v[] = {"ZREVRANGEBYSCORE", key.data, hi, lo, "LIMIT", off, cnt};
            size_t l[7];
            for (int i = 0; i < 7; i++)
                l[i] = strlen(v[i]);
            p.w.pending = 1;
            kv_cmd(s->r.kv, ids_cb, &p, 7, v, l);
            run_until_done(&s->r, &p.w);
            if (p.w.failed) {
                rc = REPLAY_EIO;
                break;
            }
            offset += p.n;
            more = p.n == PAGE;
        }
        hrow_t *rows = calloc(p.n ? p.n : 1, sizeof *rows);
        if (!rows) abort();
        rc = fetch_rows(s, p.ids, p.n, rows, err);
        for (size_t i = 0; rc == REPLAY_OK && i < p.n; i++) {
            char **x = rows[i].f;
            if (!x[F_ID] || !x[F_JSON] || !x[F_MS]) continue; /* expired or trimmed */
            replay_row_t r = {.id = x[F_ID],
                              .created_at_ms = strtoull(x[F_MS], NULL, 10),
                              .session_id = x[F_SID],
                              .decision = x[F_DEC],
                              .model = x[F_MODEL],
                              .reason = x[F_REASON],
                              .phase = x[F_PHASE],
                              .turn = x[F_TURN] ? strtoll(x[F_TURN], NULL, 10) : 0,
                              .switched = x[F_SW] && x[F_SW][0] == '1',
                              .json = x[F_JSON],
                              .bodies_json = x[F_BODIES]};
            if (!replay_filter_match(f, &r)) continue;
            /* offsets shift when records arrive during the walk: keep the
             * order strict so none is handed out twice */
            if (has_last && replay_row_cmp(r.created_at_ms, r.id, last_ms, last_id) >= 0) continue;
            has_last = true;
            last_ms = r.created_at_ms;
            snprintf(last_id, sizeof last_id, "%s", r.id);
            emitted++;
            if (!cb(ctx, &r) || (f->limit && emitted >= f->limit)) {
                more = false;
                break;
            }
        }
        for (size_t i = 0; i < p.n; i++) {
            hrow_free(&rows[i]);
            free(p.ids[i]);
        }
        free(rows);
        free(p.ids);
        if (rc != REPLAY_OK) break;
    }
    buf_free(&key);
    return rc;
}

static int redis_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                      buf_t *err)
{
    redis_store_t *s = (redis_store_t *)bs;
    replay_filter_t all = {0};
    if (!f) f = &all;
    pthread_mutex_lock(&s->sp.rmu);
    int rc = s->r.kv ? REPLAY_OK : rconn_open(&s->r, &s->conf, err);
    if (rc == REPLAY_OK) rc = scan_locked(s, f, cb, ctx, err);
    pthread_mutex_unlock(&s->sp.rmu);
    return rc;
}

/* ---- sweep, flush, close ---------------------------------------------- */

/* Hashes and session sets expire by themselves; the global index drops
 * the ids older than the TTL. */
static int redis_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    redis_store_t *s = (redis_store_t *)bs;
    *removed = 0;
    int64_t ttl = bs->cfg.ttl_seconds;
    if (ttl <= 0 || now_ms <= (uint64_t)ttl * 1000) return REPLAY_OK;
    char cut[32];
    snprintf(cut, sizeof cut, "(%llu", (unsigned long long)(now_ms - (uint64_t)ttl * 1000));
    buf_t key = BUF_INIT;
    buf_printf(&key, "%stime", s->prefix);
    pthread_mutex_lock(&s->sp.rmu);
    int rc = s->r.kv ? REPLAY_OK : rconn_open(&s->r, &s->conf, err);
    if (rc == REPLAY_OK) {
        rwait_t w = {.pending = 1, .err = err};
        const char *v[] = {"ZREMRANGEBYSCORE", key.data, "-inf", cut};
        size_t l[] = {16, key.len, 4, strlen(cut)};
        kv_cmd(s->r.kv, ok_cb, &w, 4, v, l);
        run_until_done(&s->r, &w);
        rc = w.failed ? REPLAY_EIO : REPLAY_OK;
    }
    pthread_mutex_unlock(&s->sp.rmu);
    buf_free(&key);
    return rc;
}

/* The spooled base's release: called by replay_spooled_close once the
 * spool's thread (which owns s->w until then) has stopped. */
static void redis_release(replay_spooled_t *sp)
{
    redis_store_t *s = (redis_store_t *)sp;
    rconn_close(&s->w);
    rconn_close(&s->r);
    kv_conf_deinit(&s->conf);
    free(s->prefix);
}

static replay_store_t *redis_open(const replay_config_t *c, buf_t *err);

static const replay_store_ops_t REDIS_OPS =
    REPLAY_SPOOLED_OPS("redis", redis_open, redis_scan, redis_sweep);

static replay_store_t *redis_open(const replay_config_t *c, buf_t *err)
{
    const redis_replay_opts_t *o = c->opts;
    kv_opts_t ko = {
        .address = o && o->address ? o->address : "127.0.0.1:6379",
        .password = o && o->password_env ? getenv(o->password_env) : NULL,
        .db = o ? (int)o->db : 0,
        .timeout_ms = o && o->timeout_ms > 0 ? (uint64_t)o->timeout_ms : 500,
        .scripts = SCRIPTS,
        .n_scripts = 1,
        .probe_is_call = true,
        .name = "replay_store",
    };
    redis_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    char e[256] = "";
    if (!kv_conf_init(&s->conf, &ko, e, sizeof e)) {
        if (err) {
            buf_reset(err);
            buf_printf(err, "replay store redis: %s", e);
        }
        free(s);
        return NULL;
    }
    s->prefix = strdup(o && o->key_prefix ? o->key_prefix : "tether:replay:");
    if (!s->prefix) abort();
    replay_spooled_init(&s->sp, &REDIS_OPS, c, o ? o->buffer_records : 0, redis_sink,
                        redis_release);
    return &s->sp.base;
}

/* The registry entry (registry.h). */
const cfg_store_backend_t replay_redis_store = {
    .name = "redis",
    .flags = CFG_STORE_SHARED,
    .doc = "Records shared by every replica in one Redis: a hash per record with the TTL, "
           "indexed by time and by session in sorted sets, the time index trimmed to "
           "max_records. Written off the request path; while Redis is away records wait in a "
           "buffer of buffer_records (then are dropped and counted).",
    .fields =
        (const cfg_field_t[]){
            CFG_FSTR(redis_replay_opts_t, "address", address, "127.0.0.1:6379",
                     "host:port, redis://host:port or unix:/path"),
            CFG_FSTR(redis_replay_opts_t, "password_env", password_env, NULL,
                     "environment variable with the password"),
            CFG_FI64(redis_replay_opts_t, "db", db, "0", 0, 1000, "database number"),
            CFG_FSTR(redis_replay_opts_t, "key_prefix", key_prefix,
                     "tether:replay:", "prefix of every key"),
            CFG_FI64(redis_replay_opts_t, "timeout_ms", timeout_ms, "500", 1, 600000,
                     "per command"),
            CFG_FI64(redis_replay_opts_t, "buffer_records", buffer_records, "10000", 1, 100000000,
                     "records held while Redis is unavailable"),
            {0}},
    .opts_size = sizeof(redis_replay_opts_t),
    .ops.replay = &REDIS_OPS,
};
