/* response_cache.h - the response_cache plugin (SPEC §8, §3.4
 * global.stores.response_cache): an in-memory cache of complete 2xx
 * responses, looked up after the pre plugins and before the upstream call,
 * written after a complete 2xx upstream response.
 *
 * Keys. The exact key is a 128-bit hash of the protocol, the recipe, the
 * decision, the requested model, the canonical conversation (messages /
 * system / input / instructions, JSON with whitespace outside strings
 * removed), the tools, the sampling parameters (temperature, top_p,
 * max_tokens, max_completion_tokens, n, stop, seed, response_format,
 * tool_choice, parallel_tool_calls, presence/frequency penalties, logit_bias,
 * logprobs, top_logprobs, reasoning_effort, reasoning, thinking) and the
 * scope id: "" (global), the tenant (tenant), or the session key (session).
 * `stream` is not part of the key: a response stored from a stream serves a
 * JSON client and the other way round. The context hash is the same without
 * the last user message; semantic lookups (mode semantic or
 * exact_then_semantic) compare only entries with an equal context hash, by
 * the cosine of the last user message's embedding, and hit at
 * >= semantic.similarity_threshold (0.92).
 *
 * What is stored: only complete 2xx responses, never for an
 * `x-tether-cache-control: no-store` request or an EMIT drop turn;
 * `no-cache` skips the lookup but may store. A streamed reply is assembled
 * into the JSON reply of its protocol: chat into the final chat.completion
 * (content, tool calls, finish_reason, usage), Anthropic Messages into the
 * Message (content blocks, stop reason, usage), Responses into the Response
 * of its response.completed event; a stream that never finished (or
 * failed) is refused. An entry serves JSON and streaming clients of the
 * protocol it was stored for alike (the streaming ones get it replayed as
 * that protocol's SSE events).
 *
 * Eviction: entries expire after ttl_seconds (the plugin's, else the
 * store's; 0 = no expiry); each shard keeps an LRU list and evicts its
 * least recently used entry past its share of max_entries; a response
 * larger than max_entry_bytes is not stored.
 *
 * Use on a request (the cache is shared; everything else is per request):
 *
 *     rc_key_t k;
 *     if (rc_key_init(&k, cache, &in) == 0) {       // plugin configured
 *         rc_hit_t hit;
 *         if (rc_lookup(cache, &k, &hit) > 0) {      // answer from the cache
 *             rc_render_hit(&hit, in.stream, in.include_usage, &out, &ctype);
 *             rc_hit_free(&hit);
 *         }
 *         ... upstream ...
 *         rc_store(cache, &k, &resp);                // complete 2xx only
 *     }
 *     rc_key_deinit(&k);
 *
 * Backend redis (global.stores.response_cache.backend: redis): every
 * entry is also written to Redis (response_cache_redis.h has the layout),
 * and a near-cache miss asks Redis (exact, then nearest embedding of the
 * same context), so replicas sharing one Redis share hits. A worker reads
 * and writes Redis on its own loop (rc_lookup_async, rc_store with
 * rc_key_in_t.evb) and goes on serving other requests meanwhile; without a
 * loop the calls block the caller for at most redis.timeout_ms (50 ms by
 * default) per round trip. A Redis failure is a miss or a skipped write
 * (counted in rc_stats remote_errors), never a failed request. rc_cache_clear and
 * max_entries apply to the near cache only; Redis entries leave by TTL.
 *
 * Thread-safety: rc_cache_t is safe to share between threads (one mutex per
 * shard; the embedder must be thread-safe); rc_key_t and rc_hit_t belong to
 * one request. */
#ifndef TETHER_PLUGINS_RESPONSE_CACHE_H
#define TETHER_PLUGINS_RESPONSE_CACHE_H
#include "config/config.h"
#include "config/routing.h"
#include "core/buf.h"
#include "json/scan.h"
#include "request/request.h"
#include "select/select.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct rc_cache rc_cache_t;

typedef enum { RC_MODE_EXACT = 0, RC_MODE_SEMANTIC, RC_MODE_EXACT_THEN_SEMANTIC } rc_mode_t;
typedef enum { RC_SCOPE_GLOBAL = 0, RC_SCOPE_TENANT, RC_SCOPE_SESSION } rc_scope_t;

/* The store's limits (global.stores.response_cache). */
typedef struct rc_opts {
    int64_t max_entries;      /* 0: store nothing */
    int64_t ttl_seconds;      /* default entry lifetime; 0 = no expiry */
    uint64_t max_entry_bytes; /* largest stored body */
    unsigned shards;          /* 0: 16 when max_entries >= 256, else 1 */
} rc_opts_t;

/* From cfg->global_ext->stores.response_cache (the SPEC defaults when cfg or
 * global_ext is NULL): the backend its `backend` names in the registry
 * (response_cache_registry.h), memory when that one cannot open (logged).
 * Never NULL. */
rc_cache_t *rc_cache_new(const cfg_t *cfg);
/* What a backend of global.stores.response_cache.backend does. */
typedef struct rc_backend_ops {
    /* The cache from cfg with the store's limits o. NULL with a message in
     * err when it cannot. */
    rc_cache_t *(*open)(const cfg_t *cfg, const struct rc_opts *o, char *err, size_t errlen);
} rc_backend_ops_t;
rc_cache_t *rc_cache_new_opts(const rc_opts_t *o);
/* A cache whose shared store is Redis (response_cache_redis.h), with the
 * in-memory LRU of o in front of it as a near cache. rc_cache_new does this
 * for backend: redis. NULL with a diagnostic when the address is malformed
 * (no connection is made here). */
struct rc_redis_opts;
rc_cache_t *rc_cache_new_redis(const rc_opts_t *o, const struct rc_redis_opts *ro, char *err,
                               size_t errlen);
void rc_cache_free(rc_cache_t *c);
/* The embedder for semantic lookups (may be NULL: semantic lookups miss).
 * Borrowed: it must outlive the cache. Set before sharing the cache. */
void rc_cache_set_embedder(rc_cache_t *c, const sel_embedder_t *e);
/* Drop every entry. */
void rc_cache_clear(rc_cache_t *c);
size_t rc_cache_size(rc_cache_t *c);

/* The plugin configuration, read from a response_cache plugin's
 * configuration node (NULL: the defaults). */
typedef struct rc_conf {
    rc_mode_t mode;      /* exact */
    rc_scope_t scope;    /* tenant */
    int64_t ttl_seconds; /* -1: the store's */
    double threshold;    /* semantic.similarity_threshold: 0.92 */
} rc_conf_t;
void rc_conf_read(const cfg_node_t *conf, rc_conf_t *out);
const char *rc_mode_name(rc_mode_t m);

/* What the proxy knows about the request when it looks up. Borrowed: only
 * read during rc_key_init. */
typedef struct rc_key_in {
    const cfg_decision_t *decision; /* the matched decision; no response_cache plugin: no caching */
    const char *recipe;             /* recipe name ("" or NULL: none) */
    rq_proto_t proto;               /* the client's protocol */
    const char *body;               /* the client's request body (before plugin edits) */
    size_t body_len;
    const jreq_t *jr;          /* jscan_request over body (msgs built) */
    const char *tenant;        /* scope tenant (sess_identity_t.tenant); NULL = "anon" */
    const char *session_key;   /* the session key, NULL without one */
    const char *cache_control; /* x-tether-cache-control value, NULL when absent */
    bool drop;                 /* EMIT drop turn: never stored */
    bool stream;               /* the client asked for SSE */
    uint64_t now_ms;           /* clock_mono_ms(); 0 = read the clock */
    /* The caller's event loop: the shared store (backend redis) is then
     * read and written on it, never waited for (rc_lookup_async, rc_store).
     * NULL: blocking calls (tests, tools). */
    struct event_base *evb;
} rc_key_in_t;

/* One request's prepared key. */
typedef struct rc_key {
    bool enabled; /* a response_cache plugin applies */
    bool lookup;  /* false: no-cache (or nothing to look up) */
    bool store;   /* false: no-store, drop, or a shape not stored */
    rc_conf_t conf;
    rq_proto_t proto;
    bool stream;
    uint64_t exact[2]; /* 128-bit exact key */
    uint64_t ctx;      /* context hash */
    char *query;       /* the last user message's text (heap; NULL when none) */
    size_t query_len;
    float *emb; /* its embedding once computed (heap), NULL before */
    bool emb_failed;
    uint64_t now_ms;
    struct event_base *evb; /* rc_key_in_t.evb */
} rc_key_t;

/* Prepare k. Returns 0 when the cache applies (k->enabled), 1 when it does
 * not (no plugin, session scope without a session);
 * rc_key_deinit is due either way. */
int rc_key_init(rc_key_t *k, rc_cache_t *c, const rc_key_in_t *in);
void rc_key_deinit(rc_key_t *k);

typedef enum { RC_MISS = 0, RC_HIT_EXACT = 1, RC_HIT_SEMANTIC = 2 } rc_hit_kind_t;
typedef struct rc_hit {
    rc_hit_kind_t kind;
    char *body; /* the stored JSON (heap copy; rc_hit_free) */
    size_t len;
    rq_proto_t proto;  /* the protocol it was stored for */
    double similarity; /* semantic: the cosine; exact: 1 */
    uint64_t age_ms;
} rc_hit_t;

/* Look up k (no-op miss when !k->lookup). Returns kind (> 0 on a hit).
 * A semantic lookup may call the embedder (on the caller's thread). A hit
 * refreshes the entry's LRU position, not its expiry. */
int rc_lookup(rc_cache_t *c, rc_key_t *k, rc_hit_t *out);
/* The same without waiting on the shared store: the near cache is looked
 * up at once; on a near miss with backend redis and k->evb set, Redis is
 * asked on that loop and RC_PENDING returned, and cb(ud, kind) runs once on
 * the loop with *out filled (k and out must stay valid until then).
 * Otherwise (no Redis call needed, or Redis refused at once: an open
 * circuit) it returns the kind (> 0 on a hit, out filled) and cb is not
 * called; cb never runs inside this call. */
#define RC_PENDING (-1)
typedef void (*rc_lookup_cb)(void *ud, int kind);
int rc_lookup_async(rc_cache_t *c, rc_key_t *k, rc_hit_t *out, struct event_base *evb,
                    rc_lookup_cb cb, void *ud);
void rc_hit_free(rc_hit_t *h);
/* "exact" | "semantic" | "miss" */
const char *rc_hit_name(rc_hit_kind_t k);

/* The bytes to send for a hit: the stored JSON for a JSON client, or SSE
 * events rendered from it for a streaming client. Chat:
 * chat.completion.chunk events, per choice a role delta, one content delta
 * (tool calls in one delta), a finish chunk; then a usage chunk (choices
 * []) when include_usage and the JSON had usage; then [DONE]. Anthropic
 * Messages: message_start, per content block its start, one delta and its
 * stop, message_delta, message_stop. Responses: response.created,
 * response.in_progress, per output item output_item.added, its content
 * (content_part.added, one output_text.delta, output_text.done,
 * content_part.done; or the function call's arguments), output_item.done,
 * then response.completed with the stored Response. *content_type is set
 * to a static string. Returns 0, or -1 when the stored JSON cannot be
 * rendered (treat as a miss). */
int rc_render_hit(const rc_hit_t *h, bool stream, bool include_usage, buf_t *out,
                  const char **content_type);

/* The upstream response offered to the cache. */
typedef struct rc_response {
    int status;       /* HTTP status from the upstream */
    const char *body; /* the complete body as relayed (JSON, or the SSE text) */
    size_t len;
    const char *content_type; /* the upstream's (NULL: guessed from streamed) */
    bool streamed;            /* body is SSE */
    bool complete;            /* the relay finished (not aborted, not truncated) */
} rc_response_t;

typedef enum {
    RC_STORED = 0,
    RC_STORE_SKIPPED,   /* not cacheable: plugin off, no-store, drop, non-2xx, incomplete */
    RC_STORE_TOO_LARGE, /* over max_entry_bytes */
    RC_STORE_INVALID,   /* unusable body (bad JSON, unfinished stream, unsupported shape) */
} rc_store_result_t;
rc_store_result_t rc_store(rc_cache_t *c, rc_key_t *k, const rc_response_t *r);
/* "stored" | "skipped" | "too_large" | "invalid" */
const char *rc_store_result_name(rc_store_result_t r);

/* Counters for cache_lookups_total{mode,result} and cache_writes_total{result}. */
typedef struct rc_stats {
    uint64_t lookups[3][3]; /* [rc_mode_t][rc_hit_kind_t] */
    uint64_t writes[4];     /* [rc_store_result_t] */
    uint64_t hits, misses, stores, evictions, expirations, entries;
    /* backend redis: hits served from Redis (near-cache misses), entries
     * written to it, and failed calls (each one a miss or a skipped write) */
    uint64_t remote_hits, remote_writes, remote_errors;
} rc_stats_t;
void rc_stats(rc_cache_t *c, rc_stats_t *out);
#endif
