/* store.h - the session store interface (SPEC §9.2, §9.8): one record per
 * session key (sess_state_t), the prefix-chain index (chain hash -> key) and
 * the opener index (opener hash -> key), all with TTLs.
 *
 * Two backends share this interface, each one line of registry.h: `memory`
 * (store_memory.c, a sharded table with striped mutexes, TTL and LRU
 * eviction at max_sessions) and `redis` (store_redis.c, hiredis async on the
 * caller's event loop, atomic Lua commits, circuit breaker with fallback to
 * a local memory store; its descriptor is store_redis_desc.c).
 *
 * Every operation is asynchronous in form: it reports through a callback.
 * The memory store calls it before returning; the Redis store calls it later
 * from its event loop (never blocking that loop). A callback may be NULL for
 * fire-and-forget writes. Pointers handed to a callback (state, key) are
 * valid only during the callback. Keys are NUL-terminated strings (see
 * identity.h for their shape).
 *
 * Thread-safety: the memory store may be used from any thread. A Redis store
 * belongs to the thread running its event base (one per worker); those
 * instances may share one memory store as their fallback.
 *
 * The *_wait helpers run an operation to completion: inline for the memory
 * store, by running the store's own event base for a store opened with
 * sess_store_redis_open_sync (tests, CLI). Never call them on a worker's
 * loop. */
#ifndef TETHER_SESSION_STORE_H
#define TETHER_SESSION_STORE_H
#include "session/state.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* Status passed to callbacks and returned by the *_wait helpers. */
enum { SESS_OK = 0, SESS_NOT_FOUND = 1, SESS_ERR = -1 };

typedef struct sess_usage {
    bool has_usage; /* the backend reported usage */
    uint64_t prompt_tokens, cached_tokens, completion_tokens;
    double cost;
} sess_usage_t;

/* What a successful turn commits (§9.8). Strings may be NULL (= ""); names
 * longer than SESS_NAME_MAX-1 bytes are truncated. */
typedef struct sess_outcome {
    uint64_t expected_version; /* version of the record the routing read (0 = none) */
    uint64_t started_at_ms;    /* when routing of this turn started */
    uint64_t now_ms;           /* commit time: becomes last_seen */
    const char *model;         /* the model that actually served the turn */
    const char *backend, *decision, *reasoning;
    sess_lock_kind_t lock_kind;
    uint32_t lock_bindings; /* RQ_BIND_* */
    uint32_t lock_since_turn;
    double required_quality; /* the quality the turn asked for (policy trace), 0 unknown */
    uint64_t opener;         /* prefix-chain opener; 0 keeps the stored one */
    const char *trace_id;    /* rr_ + 24 hex */
    const char *reason;      /* §9.9 reason code */
    sess_usage_t usage;      /* usage known at commit time (often none yet) */
} sess_outcome_t;

typedef struct sess_commit_result {
    bool created;     /* the record did not exist before */
    bool applied;     /* routing fields (model, backend, decision, lock) applied */
    bool conflict;    /* they did not: version mismatch and started_at too old */
    bool switched;    /* served model differs from the stored last_model */
    uint64_t version; /* version after the commit */
} sess_commit_result_t;

typedef struct sess_store_stats {
    uint64_t sessions, chain_entries, openers; /* entries held (local tables) */
    uint64_t gets, hits, commits, conflicts, usage_adds;
    uint64_t evictions, expirations;
    /* redis backend */
    uint64_t errors;            /* failed or timed-out calls */
    uint64_t fallbacks;         /* calls served by the local store instead */
    uint64_t transitions;       /* circuit state changes */
    bool degraded;              /* circuit open: serving from the local store */
    uint64_t writeback_pushed;  /* outage records written back to Redis (acknowledged) */
    uint64_t writeback_pending; /* outage records waiting in the current write-back */
    size_t record_bytes;        /* bytes of an unpacked session record (sess_state_t) */
    uint64_t session_bytes;     /* memory store: bytes its session entries and buckets take
                                   (records are held packed; malloc overhead not counted) */
    uint64_t index_bytes;       /* memory store: the same for the chain and opener indexes */
} sess_store_stats_t;

typedef void (*sess_get_cb)(void *ud, int status, const sess_state_t *st);
typedef void (*sess_commit_cb)(void *ud, int status, const sess_commit_result_t *res,
                               const sess_state_t *after);
typedef void (*sess_done_cb)(void *ud, int status);
/* index: position in the looked-up hash array of the first hit (-1 none);
 * key: the session key of that hit (NULL when none). */
typedef void (*sess_lookup_cb)(void *ud, int status, int index, const char *key);

typedef struct sess_store sess_store_t;
typedef struct sess_store_ops {
    const char *name; /* "memory" | "redis" */
    void (*get)(sess_store_t *s, const char *key, sess_get_cb cb, void *ud);
    void (*commit)(sess_store_t *s, const char *key, const sess_outcome_t *o, sess_commit_cb cb,
                   void *ud);
    /* Late usage (end of stream): a commutative increment of totals and of
     * `model`'s stats; no version change. A missing record is left missing. */
    void (*add_usage)(sess_store_t *s, const char *key, const char *model, const sess_usage_t *u,
                      uint64_t now_ms, sess_done_cb cb, void *ud);
    /* Map each of hashes[0..n) to key. */
    void (*chain_put)(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key,
                      sess_done_cb cb, void *ud);
    /* First of hashes[0..n) (in array order) present in the chain index. */
    void (*chain_find)(sess_store_t *s, const uint64_t *hashes, size_t n, sess_lookup_cb cb,
                       void *ud);
    void (*opener_put)(sess_store_t *s, uint64_t opener, const char *key, sess_done_cb cb,
                       void *ud);
    void (*opener_get)(sess_store_t *s, uint64_t opener, sess_lookup_cb cb, void *ud);
    void (*stats)(sess_store_t *s, sess_store_stats_t *out);
    /* The base to run for *_wait, or NULL when operations complete inline. */
    struct event_base *(*wait_base)(sess_store_t *s);
    void (*free)(sess_store_t *s);
} sess_store_ops_t;

struct sess_store {
    const sess_store_ops_t *ops;
};

/* Thin dispatchers. */
void sess_store_get(sess_store_t *s, const char *key, sess_get_cb cb, void *ud);
void sess_store_commit(sess_store_t *s, const char *key, const sess_outcome_t *o, sess_commit_cb cb,
                       void *ud);
void sess_store_add_usage(sess_store_t *s, const char *key, const char *model,
                          const sess_usage_t *u, uint64_t now_ms, sess_done_cb cb, void *ud);
void sess_store_chain_put(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key,
                          sess_done_cb cb, void *ud);
void sess_store_chain_find(sess_store_t *s, const uint64_t *hashes, size_t n, sess_lookup_cb cb,
                           void *ud);
void sess_store_opener_put(sess_store_t *s, uint64_t opener, const char *key, sess_done_cb cb,
                           void *ud);
void sess_store_opener_get(sess_store_t *s, uint64_t opener, sess_lookup_cb cb, void *ud);
void sess_store_stats(sess_store_t *s, sess_store_stats_t *out);
/* NULL-safe. */
void sess_store_free(sess_store_t *s);

/* Blocking helpers (see the header comment). Return SESS_OK, SESS_NOT_FOUND
 * or SESS_ERR; outputs are filled on SESS_OK. */
int sess_store_get_wait(sess_store_t *s, const char *key, sess_state_t *out);
int sess_store_commit_wait(sess_store_t *s, const char *key, const sess_outcome_t *o,
                           sess_commit_result_t *res, sess_state_t *after);
int sess_store_add_usage_wait(sess_store_t *s, const char *key, const char *model,
                              const sess_usage_t *u, uint64_t now_ms);
int sess_store_chain_put_wait(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key);
/* index and key (cap bytes) may be NULL. */
int sess_store_chain_find_wait(sess_store_t *s, const uint64_t *hashes, size_t n, int *index,
                               char *key, size_t cap);
int sess_store_opener_put_wait(sess_store_t *s, uint64_t opener, const char *key);
int sess_store_opener_get_wait(sess_store_t *s, uint64_t opener, char *key, size_t cap);

/* ---- memory backend (store_memory.c) ---- */

typedef uint64_t (*sess_clock_fn)(void *ud); /* wall clock in ms */

typedef struct sess_memory_opts {
    uint64_t ttl_ms;       /* record lifetime after last_seen; 0 = 86400 s */
    uint64_t max_sessions; /* LRU cap; 0 = 100000 */
    uint64_t max_chain;    /* chain-index cap; 0 = 4 x max_sessions */
    unsigned n_shards;     /* power of two; 0 = 64 */
    sess_clock_fn clock;   /* NULL = clock_wall_ms */
    void *clock_ud;
} sess_memory_opts_t;

/* Never fails (aborts on OOM). opts may be NULL for the defaults. */
sess_store_t *sess_store_memory_new(const sess_memory_opts_t *opts);

/* Visit every live session (for the Redis store's recovery sweep). The
 * callback runs under a shard lock: it must not call back into the store. */
typedef void (*sess_memory_visit_fn)(void *ud, const char *key, const sess_state_t *st);
void sess_store_memory_foreach(sess_store_t *s, sess_memory_visit_fn fn, void *ud);
/* The same for the keys alone (records are held packed: this skips
 * unpacking each one). */
typedef void (*sess_memory_key_fn)(void *ud, const char *key);
void sess_store_memory_foreach_key(sess_store_t *s, sess_memory_key_fn fn, void *ud);
/* Remove a session if its last_seen is still last_seen_ms. */
void sess_store_memory_remove_if(sess_store_t *s, const char *key, uint64_t last_seen_ms);
/* Insert or replace a whole record (recovery, tests). */
void sess_store_memory_put(sess_store_t *s, const char *key, const sess_state_t *st);

/* ---- redis backend (store_redis.c) ---- */

/* Shared by the Redis stores of one process that share a fallback (one
 * per worker): at most one of them writes the local outage records back at
 * a time (the first whose circuit closes); one that closes meanwhile marks
 * the write-back as missed and the owner runs one more round when it ends.
 * Zero-initialise; outlives the stores. */
typedef struct sess_writeback_token {
    atomic_bool busy;
    atomic_bool missed;
} sess_writeback_token_t;

typedef struct sess_redis_opts {
    const char *address;  /* host:port (default 127.0.0.1:6379) or unix:/path */
    const char *password; /* NULL = no AUTH */
    int db;               /* SELECT when > 0 */
    const char
        *key_prefix;     /* "" default; keys {prefix}s:{key}, {prefix}c:{hash}, {prefix}o:{hash} */
    uint64_t timeout_ms; /* per call; 0 = 50 */
    uint64_t ttl_ms;     /* record and index lifetime; 0 = 86400 s */
    unsigned failures_to_open; /* consecutive errors that open the circuit; 0 = 3 */
    uint64_t open_ms;          /* how long the circuit stays open; 0 = 5000 */
    sess_store_t *fallback;    /* local memory store used while degraded (not owned); required */
    sess_writeback_token_t *writeback; /* shared by the stores on fallback; NULL: own write-back */
} sess_redis_opts_t;

/* A Redis store on `base` (a worker's loop). Connects lazily and never
 * blocks; returns NULL only on invalid options (with a message in err). */
sess_store_t *sess_store_redis_new(struct event_base *base, const sess_redis_opts_t *opts,
                                   char *err, size_t errlen);
/* The same with its own event base, for the *_wait helpers. */
sess_store_t *sess_store_redis_open_sync(const sess_redis_opts_t *opts, char *err, size_t errlen);
bool sess_store_redis_is_degraded(sess_store_t *s);

/* ---- backends (registry.h) ---- */

struct cfg;

/* What a backend's descriptor (config/family.h cfg_store_backend_t,
 * ops.session) points to. Every process keeps one local memory store (the
 * whole store with backend memory; the fallback of the others). */
typedef struct sess_backend_ops {
    /* The store worker loop `base` uses in front of the process's local
     * store `local` (its fallback; not owned), with the workers' shared
     * write-back token wb. NULL: workers use `local` itself. Returns NULL
     * with a message in err when it cannot (the worker then uses local). */
    sess_store_t *(*open_worker)(struct event_base *base, const struct cfg *cfg,
                                 sess_store_t *local, sess_writeback_token_t *wb, char *err,
                                 size_t errlen);
} sess_backend_ops_t;

/* ---- state helpers (state.c), shared by both backends ---- */

/* The stats slot of `model` (moved to the front; the least recently used
 * slot is recycled when all are taken). model must be non-empty. */
sess_model_stats_t *sess_state_touch_model(sess_state_t *s, const char *model);
/* Apply a commit to s (zeroed when !exists), §9.8 semantics. */
void sess_state_apply_commit(sess_state_t *s, bool exists, const sess_outcome_t *o,
                             sess_commit_result_t *res);
/* Add late usage for `model`; now_ms advances last_seen. */
void sess_state_add_usage(sess_state_t *s, const char *model, const sess_usage_t *u,
                          uint64_t now_ms);
#endif
