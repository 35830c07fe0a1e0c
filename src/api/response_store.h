/* response_store.h - the Responses API store (SPEC §4.5): for each response
 * its id (resp_ + 24 hex), session key, model, native flag, input and output
 * items (JSON arrays), instructions, previous_response_id, creation time and
 * the Response object served by GET. Memory backend: TTL and max_responses
 * (oldest evicted first). Redis backend (rstore_new_redis): one key
 * "{prefix}r:{id}" per response holding the entry as JSON, with the TTL as
 * PX; max_responses is not enforced in Redis (the TTL and Redis' own
 * maxmemory bound it). Redis is reached through the Redis layer
 * (kv/client.h): one non-blocking connection per event loop, each command
 * bounded by timeout_ms; a worker calls the _async functions with its loop
 * and never waits. When Redis fails, the store backs off for about 1 s (the
 * layer's circuit) and serves from its local memory table (writes land
 * there and reads look there after a Redis miss), so one replica keeps
 * working alone. A put is written to the local table at once and dropped
 * from it when Redis acknowledges it, so a continuation served by another
 * worker of this process finds it before the acknowledgement.
 *
 * Thread-safety: every function may be called from any thread (the memory
 * table has a mutex; each loop has its own Redis connection). The blocking
 * functions (rstore_put, rstore_get, rstore_delete, rstore_chain) run the
 * Redis calls on a private loop: for tests and tools, never on a worker's
 * loop. Entries returned are copies owned by the caller (rstore_entry_free). */
#ifndef TETHER_API_RESPONSE_STORE_H
#define TETHER_API_RESPONSE_STORE_H
#include "api/translate.h"
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rstore rstore_t;

/* The longest id the store keys (a provider's native id, or a minted one;
 * never the wrapped form a client sees). */
#define RSTORE_ID_MAX 128

typedef struct rstore_entry {
    char id[RSTORE_ID_MAX];
    char *session_key;          /* may be NULL */
    char *model;                /* configured model that produced it */
    bool native;                /* provider holds the state (responses_mode: native) */
    char *input;                /* JSON array of input items of this turn */
    char *output;               /* JSON array of output items */
    char *instructions;         /* may be NULL */
    char *previous_response_id; /* may be NULL */
    char *response;             /* the Response object (JSON) */
    int64_t created_at;         /* unix seconds */
    uint64_t expires_ms;        /* set by the store */
} rstore_entry_t;

/* ttl_ms 0 = no expiry; max 0 = unbounded. */
rstore_t *rstore_new(uint64_t ttl_ms, size_t max);
void rstore_free(rstore_t *s);

typedef struct rstore_redis_opts {
    const char *address;    /* host:port, redis://host:port or unix:/path */
    const char *password;   /* NULL: no AUTH */
    int db;                 /* SELECT when > 0 */
    const char *key_prefix; /* NULL: "tether:" */
    uint64_t timeout_ms;    /* connect and per command; 0: 50 */
} rstore_redis_opts_t;
/* The Redis backend (the memory table with ttl_ms/max as local fallback).
 * NULL with err set only for a malformed address; an unreachable server is
 * not an error (calls fall back until it answers). */
rstore_t *rstore_new_redis(uint64_t ttl_ms, size_t max, const rstore_redis_opts_t *o, char *err,
                           size_t errlen);
bool rstore_is_redis(const rstore_t *s);
/* Redis connection or command failures so far (0 for memory). */
uint64_t rstore_redis_failures(rstore_t *s);
/* Copy e in (replacing an entry with the same id). now_ms: wall clock.
 * Blocking (see above). */
void rstore_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms);
/* A copy of the entry, or NULL when absent or expired. Blocking. */
rstore_entry_t *rstore_get(rstore_t *s, const char *id, uint64_t now_ms);
/* True when an entry was deleted (in Redis or locally). Blocking. */
bool rstore_delete(rstore_t *s, const char *id);

/* ---- the same on an event loop (evb: the caller's; unused for memory).
 * Callbacks run once, on evb, or inline when no Redis call was needed. */

/* e: the entry (owned by the callee), or NULL when absent or expired. */
typedef void (*rstore_get_cb)(void *ud, rstore_entry_t *e);
typedef void (*rstore_delete_cb)(void *ud, bool deleted);
/* Fire and forget: the local table holds e until Redis acknowledges it. */
void rstore_put_async(rstore_t *s, struct event_base *evb, const rstore_entry_t *e,
                      uint64_t now_ms);
void rstore_get_async(rstore_t *s, struct event_base *evb, const char *id, uint64_t now_ms,
                      rstore_get_cb cb, void *ud);
void rstore_delete_async(rstore_t *s, struct event_base *evb, const char *id, rstore_delete_cb cb,
                         void *ud);
/* Entries in the memory table (for Redis: those held by the fallback). */
size_t rstore_count(rstore_t *s);
void rstore_entry_free(rstore_entry_t *e);

/* The entries of a chain, newest first (rstore_chain_fetch). */
typedef struct rstore_chain rstore_chain_t;
/* ch: the chain (owned by the callee: rstore_chain_free), or NULL when an
 * id on it is unknown (previous_response_not_found). */
typedef void (*rstore_chain_cb)(void *ud, rstore_chain_t *ch);
/* Read the chain ending at id, one entry after the other. */
void rstore_chain_fetch(rstore_t *s, struct event_base *evb, const char *id, uint64_t now_ms,
                        rstore_chain_cb cb, void *ud);
/* Expand ch (oldest first) into chat messages appended to msgs, and into
 * Responses items appended to items (either may be NULL). *instructions
 * (malloc'd, may be NULL) is the newest instructions on the chain; *native
 * tells whether any entry is native; *model the model of the newest entry
 * (malloc'd). Returns the chain length. */
int rstore_chain_expand(const rstore_chain_t *ch, cJSON *msgs, cJSON *items, char **instructions,
                        bool *native, char **model, tr_warn_t *w);
void rstore_chain_free(rstore_chain_t *ch);
/* Fetch and expand, blocking. Returns the chain length, or -1 when an id
 * on the chain is unknown. */
int rstore_chain(rstore_t *s, const char *id, uint64_t now_ms, cJSON *msgs, cJSON *items,
                 char **instructions, bool *native, char **model, tr_warn_t *w);

/* ---- backends (response_store_registry.h) ---- */

struct cfg;
/* What a backend of global.stores.responses.backend does. */
typedef struct rstore_backend_ops {
    /* The process's store from cfg's global.stores.responses (ttl_ms and
     * max: the memory table's limits, which is also a remote backend's
     * local fallback). NULL with a message in err when it cannot: the
     * server logs it and uses the memory backend. */
    rstore_t *(*open)(const struct cfg *cfg, uint64_t ttl_ms, size_t max, char *err, size_t errlen);
} rstore_backend_ops_t;

/* A new id: "resp_" + 24 random hex digits. */
void rstore_new_id(char out[32]);
#endif
