/* response_cache_redis.h - the Redis backend of the response cache
 * (global.stores.response_cache.backend: redis), shared by every replica
 * pointing at the same Redis.
 *
 * Layout (prefix = redis.key_prefix):
 *   {prefix}rc:{exact_hex32}  string "RC1 <proto> <stored_wall_ms>\n<body>",
 *                             with the entry's TTL (PX; none when ttl 0)
 *   {prefix}rcx:{ctx_hex16}   hash {exact_hex32 -> embedding as dim raw
 *                             floats}, the semantic index of one context;
 *                             its TTL is refreshed to the longest one
 *                             written; a field whose rc: key has expired
 *                             is deleted when a lookup meets it.
 *
 * Calls go through the Redis layer (kv/client.h). The _async calls send on
 * the caller's event loop (one connection per loop, made on first use) and
 * report in a callback on that loop: a worker never waits on Redis. The
 * blocking calls run the same operation on a private loop of the calling
 * thread until it reports, for at most timeout_ms per round trip (tests and
 * tools). A failure reports -1: the caller treats it as a miss or a skipped
 * write, never as a failed request. After a failure the layer's circuit
 * keeps Redis away for about 450 ms (calls fail at once), then the next call
 * tries again, so a dead Redis costs one timeout per half-second, not one
 * per request.
 *
 * Thread-safety: rc_redis_t is safe to share between threads (each loop and
 * each blocking thread has its own connection); an _async call and its
 * callback belong to the caller's loop thread. */
#ifndef TETHER_PLUGINS_RESPONSE_CACHE_REDIS_H
#define TETHER_PLUGINS_RESPONSE_CACHE_REDIS_H
#include "config/global.h"
#include "request/request.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rc_redis rc_redis_t;

typedef struct rc_redis_opts {
    const char *address;    /* host:port | redis://host:port | unix:/path ("": 127.0.0.1:6379) */
    const char *password;   /* NULL/"": no AUTH */
    const char *key_prefix; /* NULL: "" */
    int db;                 /* SELECT when > 0 */
    uint64_t timeout_ms;    /* 0: 50 */
} rc_redis_opts_t;

/* Options from a cfg_redis_t (password, else getenv(password_env)). The
 * strings are borrowed from r. */
void rc_redis_opts_from_cfg(const cfg_redis_t *r, rc_redis_opts_t *out);

/* Parses the address only (does not connect: the first call does). NULL
 * with a diagnostic in err when the address is malformed. */
rc_redis_t *rc_redis_new(const rc_redis_opts_t *o, char *err, size_t errlen);
void rc_redis_free(rc_redis_t *r);

/* One entry read from Redis. */
typedef struct rc_redis_entry {
    char *body; /* heap, NUL-terminated; rc_redis_entry_free */
    size_t len;
    rq_proto_t proto;
    uint64_t stored_wall_ms;
    int64_t ttl_left_ms; /* -1: no expiry */
    float *emb;          /* semantic hits: the stored embedding (heap), else NULL */
} rc_redis_entry_t;
void rc_redis_entry_free(rc_redis_entry_t *e);

/* Store an entry (and index emb under ctx when emb != NULL). ttl_s 0: no
 * expiry. Returns 0, or -1 on a Redis failure. */
int rc_redis_put(rc_redis_t *r, const uint64_t exact[2], uint64_t ctx, rq_proto_t proto,
                 const char *body, size_t len, const float *emb, size_t dim, int64_t ttl_s,
                 uint64_t wall_ms);
/* Exact lookup. Returns 1 (out filled), 0 miss, -1 Redis failure. */
int rc_redis_get(rc_redis_t *r, const uint64_t exact[2], rc_redis_entry_t *out);
/* Semantic lookup: the entry of context ctx whose embedding has the best
 * cosine with q, if >= threshold. Returns 1 (out, *sim and exact_out
 * filled), 0 miss, -1 Redis failure. */
int rc_redis_nearest(rc_redis_t *r, uint64_t ctx, const float *q, size_t dim, double threshold,
                     rc_redis_entry_t *out, double *sim, uint64_t exact_out[2]);

/* ---- the same on an event loop (evb: the caller's). Callbacks run once,
 * on evb, or inline when nothing could be sent. ---- */
struct event_base;
/* rc: 1 hit (e filled: the callee may move its strings out, zeroing them;
 * sim and exact say which entry: the key's own for an exact lookup), 0
 * miss, -1 Redis failure (e NULL). */
typedef void (*rc_redis_get_cb)(void *ud, int rc, rc_redis_entry_t *e, double sim,
                                const uint64_t exact[2]);
/* rc: 0 stored, -1 Redis failure. */
typedef void (*rc_redis_put_cb)(void *ud, int rc);
void rc_redis_get_async(rc_redis_t *r, struct event_base *evb, const uint64_t exact[2],
                        rc_redis_get_cb cb, void *ud);
/* q is copied. */
void rc_redis_nearest_async(rc_redis_t *r, struct event_base *evb, uint64_t ctx, const float *q,
                            size_t dim, double threshold, rc_redis_get_cb cb, void *ud);
/* body and emb are copied before it returns; cb may be NULL. */
void rc_redis_put_async(rc_redis_t *r, struct event_base *evb, const uint64_t exact[2],
                        uint64_t ctx, rq_proto_t proto, const char *body, size_t len,
                        const float *emb, size_t dim, int64_t ttl_s, uint64_t wall_ms,
                        rc_redis_put_cb cb, void *ud);
#endif
