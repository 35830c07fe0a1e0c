/* response_cache.c - the response_cache plugin (SPEC §8): key and context
 * hashes over the client's request spans, a sharded in-memory LRU store
 * with TTL and size caps, exact and semantic lookups, assembly of streamed
 * chat responses into their final JSON, and SSE replay of hits. See
 * response_cache.h for the contract. */
#include "plugins/response_cache.h"
#include "config/global.h"
#include "core/clock.h"
#include "decision/cfgnode.h"
#include "http/sse.h"
#include "plugins/plugins.h"
#include "plugins/response_cache_redis.h"
#include "core/log.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

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
        if (s->response_cache.backend && !strcmp(s->response_cache.backend, "redis")) {
            rc_redis_opts_t ro;
            rc_redis_opts_from_cfg(&s->response_cache.redis, &ro);
            char err[256];
            rc_cache_t *c = rc_cache_new_redis(&o, &ro, err, sizeof err);
            if (c) return c;
            for (char *q = err; *q; q++)
                if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20) *q = '?';
            /* the config loader validated the address; never fail start-up */
            tlog(TLOG_ERROR, "response_cache_redis_config", "\"error\":\"%s\"", err);
        }
    }
    return rc_cache_new_opts(&o);
}

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
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(rc_shard_t *s, rc_entry_t *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    if (!s->tail) s->tail = e;
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

/* ------------------------------------------------------------ configuration */

const char *rc_mode_name(rc_mode_t m)
{
    return m == RC_MODE_SEMANTIC              ? "semantic"
           : m == RC_MODE_EXACT_THEN_SEMANTIC ? "exact_then_semantic"
                                              : "exact";
}

void rc_conf_read(const cfg_node_t *conf, rc_conf_t *out)
{
    const char *mode = dec_cfg_str(conf, "mode", "exact");
    const char *scope = dec_cfg_str(conf, "scope", "tenant");
    out->mode = strcmp(mode, "semantic") == 0              ? RC_MODE_SEMANTIC
                : strcmp(mode, "exact_then_semantic") == 0 ? RC_MODE_EXACT_THEN_SEMANTIC
                                                           : RC_MODE_EXACT;
    out->scope = strcmp(scope, "global") == 0    ? RC_SCOPE_GLOBAL
                 : strcmp(scope, "session") == 0 ? RC_SCOPE_SESSION
                                                 : RC_SCOPE_TENANT;
    double ttl;
    out->ttl_seconds = dec_cfg_has_num(conf, "ttl_seconds", &ttl) && ttl >= 0 ? (int64_t)ttl : -1;
    const cfg_node_t *sem =
        conf && conf->kind == CFG_NODE_MAP ? cfg_node_get(conf, "semantic") : NULL;
    out->threshold = dec_cfg_num(sem, "similarity_threshold", 0.92);
}

/* ------------------------------------------------------------ keys */

typedef struct hpair {
    XXH3_state_t ex, ctx;
} hpair_t;

static void hp_put(hpair_t *h, const void *p, size_t n, bool ctx_too)
{
    XXH3_128bits_update(&h->ex, p, n);
    if (ctx_too) XXH3_64bits_update(&h->ctx, p, n);
}

/* A length-delimited tag, so fields cannot run into each other. */
static void hp_tag(hpair_t *h, const char *s, bool ctx_too)
{
    size_t n = strlen(s);
    uint32_t l = (uint32_t)n;
    hp_put(h, &l, sizeof l, ctx_too);
    hp_put(h, s, n, ctx_too);
}

/* A JSON value with whitespace outside strings removed. */
static void hp_json(hpair_t *h, const char *body, jspan_t v, bool ctx_too)
{
    const char *s = body + v.off;
    size_t n = v.len, span = 0;
    bool in_str = false, esc = false;
    uint32_t l = v.len ? 1 : 0;
    hp_put(h, &l, sizeof l, ctx_too); /* present / absent */
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (i > span) hp_put(h, s + span, i - span, ctx_too);
            span = i + 1;
        }
    }
    if (n > span) hp_put(h, s + span, n - span, ctx_too);
    hp_put(h, "\x1e", 1, ctx_too);
}

static const char *const key_params[] = {
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "stop",
    "stop_sequences",
    "seed",
    "response_format",
    "text",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "top_k",
    "reasoning_effort",
    "reasoning",
    "thinking",
    "system",
    "instructions",
    "modalities",
    "audio",
};

static bool is_user(const char *body, jspan_t elem)
{
    jspan_t r;
    return jscan_type(body, elem) == '{' && jscan_obj_get(body, elem, "role", &r) &&
           jscan_type(body, r) == '"' && jscan_str_eq(body, r, "user");
}

/* The text of a message's content: a string, or the text parts joined with
 * '\n'. Heap, NUL-terminated; NULL when there is none. */
static char *content_text(const char *body, jspan_t content, size_t *len)
{
    arena_t a;
    arena_init(&a, 4096);
    buf_t b = BUF_INIT;
    if (jscan_type(body, content) == '"') {
        size_t n = 0;
        char *s = jscan_unescape(&a, body, content, &n);
        if (s) buf_append(&b, s, n);
    } else if (jscan_type(body, content) == '[') {
        uint32_t cur = 0;
        jspan_t part, v;
        while (jscan_arr_next(body, content, &cur, &part)) {
            jspan_t s = {0, 0};
            if (jscan_type(body, part) == '{' && jscan_obj_get(body, part, "text", &v) &&
                jscan_type(body, v) == '"')
                s = v;
            else if (jscan_type(body, part) == '"')
                s = part;
            if (!s.len) continue;
            size_t n = 0;
            char *u = jscan_unescape(&a, body, s, &n);
            if (!u) continue;
            if (b.len) buf_putc(&b, '\n');
            buf_append(&b, u, n);
        }
    }
    arena_deinit(&a);
    *len = b.len;
    if (!b.len) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static bool cc_has(const char *v, const char *token)
{
    if (!v) return false;
    size_t tl = strlen(token);
    for (const char *p = v; (p = strcasestr(p, token)); p += tl) {
        bool left = p == v || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t';
        char r = p[tl];
        if (left && (r == 0 || r == ',' || r == ' ' || r == '\t' || r == ';')) return true;
    }
    return false;
}

int rc_key_init(rc_key_t *k, rc_cache_t *c, const rc_key_in_t *in)
{
    memset(k, 0, sizeof *k);
    const cfg_plugin_t *p = in->decision ? plg_find(in->decision, "response_cache") : NULL;
    if (!p || !in->body || !in->jr) return 1;
    rc_conf_read(p->configuration, &k->conf);
    const char *scope_id = "";
    if (k->conf.scope == RC_SCOPE_TENANT)
        scope_id = in->tenant && *in->tenant ? in->tenant : "anon";
    if (k->conf.scope == RC_SCOPE_SESSION) {
        if (!in->session_key || !*in->session_key) return 1;
        scope_id = in->session_key;
    }
    if (in->stream && in->proto != RQ_PROTO_CHAT) return 1; /* no SSE replay for these */
    k->proto = in->proto;
    k->stream = in->stream;
    k->now_ms = in->now_ms ? in->now_ms : clock_mono_ms();
    k->enabled = true;
    k->lookup = !cc_has(in->cache_control, "no-cache");
    k->store = !cc_has(in->cache_control, "no-store") && !in->drop;

    const char *body = in->body;
    const jreq_t *jr = in->jr;
    hpair_t h;
    XXH3_INITSTATE(&h.ex);
    XXH3_INITSTATE(&h.ctx);
    XXH3_128bits_reset_withSeed(&h.ex, 0x7263);
    XXH3_64bits_reset_withSeed(&h.ctx, 0x7263);
    char proto = (char)('0' + in->proto);
    hp_put(&h, &proto, 1, true);
    hp_tag(&h, in->recipe ? in->recipe : "", true);
    hp_tag(&h, in->decision->name ? in->decision->name : "", true);
    hp_tag(&h,
           k->conf.scope == RC_SCOPE_GLOBAL   ? "g"
           : k->conf.scope == RC_SCOPE_TENANT ? "t"
                                              : "s",
           true);
    hp_tag(&h, scope_id, true);
    jspan_t top = {jr->obj_open, jr->obj_close - jr->obj_open + 1};
    for (size_t i = 0; i < sizeof key_params / sizeof key_params[0]; i++) {
        jspan_t v = {0, 0};
        hp_tag(&h, key_params[i], true);
        if (!jscan_obj_get(body, top, key_params[i], &v)) v.len = 0;
        hp_json(&h, body, v, true);
    }
    /* the conversation: messages (chat, Anthropic) or input (Responses) */
    jspan_t conv = {0, 0};
    if (!jscan_obj_get(body, top, in->proto == RQ_PROTO_RESPONSES ? "input" : "messages", &conv))
        conv.len = 0;
    hp_tag(&h, "conversation", true);
    if (jscan_type(body, conv) == '[') {
        uint32_t cur = 0, idx = 0;
        jspan_t e;
        long last = -1;
        while (jscan_arr_next(body, conv, &cur, &e)) {
            if (is_user(body, e)) last = idx;
            idx++;
        }
        cur = 0;
        idx = 0;
        while (jscan_arr_next(body, conv, &cur, &e)) {
            bool q = (long)idx++ == last;
            if (q) {
                jspan_t content;
                if (jscan_obj_get(body, e, "content", &content))
                    k->query = content_text(body, content, &k->query_len);
                hp_put(&h, "\x1dQ", 2, true); /* the slot of the last user message */
            }
            hp_json(&h, body, e, !q);
        }
    } else if (jscan_type(body, conv) == '"') { /* Responses input as one user text */
        k->query = content_text(body, conv, &k->query_len);
        hp_put(&h, "\x1dQ", 2, true);
        hp_json(&h, body, conv, false);
    } else {
        hp_json(&h, body, conv, true);
    }
    XXH128_hash_t ex = XXH3_128bits_digest(&h.ex);
    k->exact[0] = ex.low64;
    k->exact[1] = ex.high64;
    k->ctx = XXH3_64bits_digest(&h.ctx);
    return 0;
}

void rc_key_deinit(rc_key_t *k)
{
    free(k->query);
    free(k->emb);
    k->query = NULL;
    k->emb = NULL;
}

static bool semantic_mode(const rc_key_t *k)
{
    return k->conf.mode != RC_MODE_EXACT;
}

/* The query embedding, computed once per key. */
static const float *key_embedding(rc_cache_t *c, rc_key_t *k)
{
    if (k->emb) return k->emb;
    if (k->emb_failed || !c->emb || !c->emb->embed || !c->emb->dim || !k->query) return NULL;
    float *v = malloc(c->emb->dim * sizeof *v);
    if (c->emb->embed(c->emb->ctx, k->query, k->query_len, v) != 0) {
        free(v);
        k->emb_failed = true;
        return NULL;
    }
    k->emb = v;
    return v;
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

static rc_hit_kind_t remote_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out, uint64_t now)
{
    rc_redis_entry_t re;
    rc_hit_kind_t kind = RC_MISS;
    double sim = 1;
    uint64_t ex[2] = {k->exact[0], k->exact[1]};
    int rc = rc_redis_get(c->remote, k->exact, &re);
    if (rc == 1) kind = k->conf.mode == RC_MODE_SEMANTIC ? RC_HIT_SEMANTIC : RC_HIT_EXACT;
    if (rc == 0 && semantic_mode(k)) {
        const float *q = key_embedding(c, k);
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
    count(c, &c->st.remote_hits);
    uint64_t wall = clock_wall_ms();
    uint64_t age = wall > re.stored_wall_ms ? wall - re.stored_wall_ms : 0;
    if (c->o.max_entries > 0 && re.len <= c->o.max_entry_bytes) {
        rc_entry_t *e = malloc(sizeof *e + re.len + 1);
        memset(e, 0, sizeof *e);
        e->exact[0] = ex[0];
        e->exact[1] = ex[1];
        e->ctx = k->ctx;
        e->proto = re.proto;
        e->emb = re.emb;
        re.emb = NULL;
        e->len = re.len;
        memcpy(e->body, re.body, re.len + 1);
        e->stored_ms = now > age ? now - age : 0;
        e->expires_ms = re.ttl_left_ms >= 0 ? now + (uint64_t)re.ttl_left_ms : 0;
        if (e->expires_ms == 0 && re.ttl_left_ms == 0) e->expires_ms = 1; /* already gone */
        local_insert(c, e, now);
    }
    out->kind = kind;
    out->body = re.body; /* moved */
    out->len = re.len;
    out->proto = re.proto;
    out->similarity = sim;
    out->age_ms = age;
    re.body = NULL;
    rc_redis_entry_free(&re);
    return kind;
}

int rc_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out)
{
    memset(out, 0, sizeof *out);
    if (!k->enabled || !k->lookup) return RC_MISS;
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
    if (kind == RC_MISS && semantic_mode(k)) {
        const float *q = key_embedding(c, k); /* outside the lock: may be slow */
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
    if (kind == RC_MISS && c->remote) kind = remote_lookup(c, k, out, now);
    pthread_mutex_lock(&c->stats_mu);
    c->st.lookups[k->conf.mode][kind]++;
    if (kind)
        c->st.hits++;
    else
        c->st.misses++;
    pthread_mutex_unlock(&c->stats_mu);
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

/* ------------------------------------------------------------ streamed chat assembly */

typedef struct asm_choice {
    int index;
    char *role;
    buf_t content;
    bool has_content;
    char *finish;
    cJSON *calls; /* array of {id, type, function{name, arguments}} */
    buf_t *args;  /* arguments per call, parallel to calls */
    size_t n_args;
} asm_choice_t;

typedef struct asm_state {
    cJSON *first; /* id, created, model, system_fingerprint from the first chunk */
    cJSON *usage;
    asm_choice_t ch[16];
    size_t n;
    bool bad, finished;
} asm_state_t;

static asm_choice_t *asm_choice(asm_state_t *a, int index)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->ch[i].index == index) return &a->ch[i];
    if (a->n == sizeof a->ch / sizeof a->ch[0] || index < 0) return NULL;
    asm_choice_t *c = &a->ch[a->n++];
    memset(c, 0, sizeof *c);
    c->index = index;
    c->calls = cJSON_CreateArray();
    return c;
}

static void asm_call(asm_choice_t *c, const cJSON *tc)
{
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
    int i = cJSON_IsNumber(ix) ? ix->valueint : cJSON_GetArraySize(c->calls);
    if (i < 0 || i > 255) return;
    while (cJSON_GetArraySize(c->calls) <= i) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", "");
        cJSON_AddStringToObject(o, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(o, "function");
        cJSON_AddStringToObject(f, "name", "");
        cJSON_AddItemToArray(c->calls, o);
        c->args = realloc(c->args, (c->n_args + 1) * sizeof *c->args);
        c->args[c->n_args++] = (buf_t)BUF_INIT;
    }
    cJSON *o = cJSON_GetArrayItem(c->calls, i);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
    if (cJSON_IsString(id) && id->valuestring[0])
        cJSON_ReplaceItemInObjectCaseSensitive(o, "id", cJSON_CreateString(id->valuestring));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (cJSON_IsString(nm) && nm->valuestring[0])
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "function"),
                                               "name", cJSON_CreateString(nm->valuestring));
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(f, "arguments");
    if (cJSON_IsString(ar)) buf_puts(&c->args[i], ar->valuestring);
}

static void asm_event(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    asm_state_t *a = ud;
    if (a->bad) return;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return;
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j || !cJSON_IsObject(j)) {
        a->bad = true;
        cJSON_Delete(j);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "error")) a->bad = true;
    if (!a->first) {
        a->first = cJSON_Duplicate(j, true);
        cJSON_DeleteItemFromObjectCaseSensitive(a->first, "choices");
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        cJSON_Delete(a->usage);
        a->usage = cJSON_Duplicate(u, true);
    }
    const cJSON *chs = cJSON_GetObjectItemCaseSensitive(j, "choices"), *ch;
    cJSON_ArrayForEach(ch, chs)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(ch, "index");
        asm_choice_t *c = asm_choice(a, cJSON_IsNumber(ix) ? ix->valueint : 0);
        if (!c) {
            a->bad = true;
            break;
        }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(d, "role");
        if (cJSON_IsString(role) && !c->role) c->role = strdup(role->valuestring);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(d, "content");
        if (cJSON_IsString(ct)) {
            buf_puts(&c->content, ct->valuestring);
            c->has_content = true;
        }
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(d, "tool_calls"), *tc;
        cJSON_ArrayForEach(tc, tcs) asm_call(c, tc);
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        if (cJSON_IsString(fr)) {
            free(c->finish);
            c->finish = strdup(fr->valuestring);
            a->finished = true;
        }
    }
    cJSON_Delete(j);
}

/* The chat.completion JSON of a streamed chat response (heap), NULL when the
 * stream is unusable or never finished. */
static char *assemble_chat(const char *sse, size_t len)
{
    asm_state_t a = {0};
    sse_parser_t p;
    sse_parser_init(&p, asm_event, &a);
    sse_parser_feed(&p, sse, len);
    sse_parser_feed(&p, "\n\n", 2); /* flush a last event without its blank line */
    sse_parser_deinit(&p);
    char *out = NULL;
    if (!a.bad && a.finished && a.first) {
        cJSON *o = cJSON_CreateObject();
        static const char *const keep[] = {"id", "created", "model", "system_fingerprint",
                                           "service_tier"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(a.first, keep[i]);
            if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, true));
        }
        cJSON_AddStringToObject(o, "object", "chat.completion");
        cJSON *chs = cJSON_AddArrayToObject(o, "choices");
        for (size_t i = 0; i < a.n; i++) {
            asm_choice_t *c = &a.ch[i];
            cJSON *ch = cJSON_CreateObject();
            cJSON_AddNumberToObject(ch, "index", c->index);
            cJSON *m = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(m, "role", c->role ? c->role : "assistant");
            if (c->has_content)
                cJSON_AddStringToObject(m, "content", c->content.data ? c->content.data : "");
            else
                cJSON_AddNullToObject(m, "content");
            if (cJSON_GetArraySize(c->calls)) {
                for (size_t k = 0; k < c->n_args; k++)
                    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(
                                                cJSON_GetArrayItem(c->calls, (int)k), "function"),
                                            "arguments", c->args[k].data ? c->args[k].data : "");
                cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(c->calls, true));
            }
            if (c->finish)
                cJSON_AddStringToObject(ch, "finish_reason", c->finish);
            else
                cJSON_AddNullToObject(ch, "finish_reason");
            cJSON_AddItemToArray(chs, ch);
        }
        if (a.usage) cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(a.usage, true));
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    for (size_t i = 0; i < a.n; i++) {
        free(a.ch[i].role);
        free(a.ch[i].finish);
        buf_free(&a.ch[i].content);
        cJSON_Delete(a.ch[i].calls);
        for (size_t k = 0; k < a.ch[i].n_args; k++)
            buf_free(&a.ch[i].args[k]);
        free(a.ch[i].args);
    }
    cJSON_Delete(a.first);
    cJSON_Delete(a.usage);
    return out;
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

/* A JSON response fit to serve: an object without "error"; chat needs
 * choices. */
static bool servable_json(const char *s, size_t n, rq_proto_t proto)
{
    if (jscan_validate(s, n, NULL) != 0) return false;
    cJSON *j = cJSON_ParseWithLength(s, n);
    bool ok = cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "error");
    if (ok && proto == RQ_PROTO_CHAT)
        ok = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "choices"));
    cJSON_Delete(j);
    return ok;
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
        if (k->proto != RQ_PROTO_CHAT || !(assembled = assemble_chat(r->body, r->len)))
            return counted(c, RC_STORE_INVALID);
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
    if (semantic_mode(k)) {
        const float *q = key_embedding(c, k);
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
    if (c->remote) {
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

/* ------------------------------------------------------------ replay */

static void chunk(buf_t *out, const cJSON *base, cJSON *choices, const cJSON *usage)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const keep[] = {"id", "created", "model", "system_fingerprint",
                                       "service_tier"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(base, keep[i]);
        if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, true));
    }
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddItemToObject(o, "choices", choices);
    if (usage) cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(usage, true));
    char *s = cJSON_PrintUnformatted(o);
    sse_write_event(out, NULL, s, strlen(s));
    free(s);
    cJSON_Delete(o);
}

static cJSON *one_choice(int index, cJSON *delta, const char *finish)
{
    cJSON *arr = cJSON_CreateArray(), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    cJSON_AddItemToObject(ch, "delta", delta);
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(arr, ch);
    return arr;
}

int rc_render_hit(const rc_hit_t *h, bool stream, bool include_usage, buf_t *out,
                  const char **content_type)
{
    if (!stream) {
        buf_append(out, h->body, h->len);
        *content_type = "application/json";
        return 0;
    }
    if (h->proto != RQ_PROTO_CHAT) return -1;
    cJSON *j = cJSON_ParseWithLength(h->body, h->len);
    const cJSON *chs = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(chs)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, chs)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(ch, "index");
        int index = cJSON_IsNumber(ix) ? ix->valueint : 0;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ch, "message");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", cJSON_IsString(role) ? role->valuestring : "assistant");
        cJSON_AddStringToObject(d, "content", "");
        chunk(out, j, one_choice(index, d, NULL), NULL);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (cJSON_IsString(ct) && ct->valuestring[0]) {
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "content", ct->valuestring);
            chunk(out, j, one_choice(index, d, NULL), NULL);
        }
        if (cJSON_IsArray(tcs) && cJSON_GetArraySize(tcs)) {
            cJSON *calls = cJSON_Duplicate(tcs, true), *tc;
            int i = 0;
            cJSON_ArrayForEach(tc, calls)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(tc, "index");
                cJSON_AddNumberToObject(tc, "index", i++);
            }
            d = cJSON_CreateObject();
            cJSON_AddItemToObject(d, "tool_calls", calls);
            chunk(out, j, one_choice(index, d, NULL), NULL);
        }
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        chunk(
            out, j,
            one_choice(index, cJSON_CreateObject(), cJSON_IsString(fr) ? fr->valuestring : "stop"),
            NULL);
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (include_usage && cJSON_IsObject(u)) chunk(out, j, cJSON_CreateArray(), u);
    buf_puts(out, "data: [DONE]\n\n");
    cJSON_Delete(j);
    *content_type = "text/event-stream";
    return 0;
}
