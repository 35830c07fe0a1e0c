/* response_store_internal.h - private to the Responses store: the Redis
 * backend (response_store_redis.c) as response_store.c calls it. Not for
 * other modules: use api/response_store.h. */
#ifndef TETHER_API_RESPONSE_STORE_INTERNAL_H
#define TETHER_API_RESPONSE_STORE_INTERNAL_H
#include "api/response_store.h"
#include "kv/client.h"

typedef struct rredis rredis_t;

/* rc: 1 stored / deleted / found, 0 absent, -1 Redis unavailable. */
typedef void (*rr_done_cb)(void *ud, int rc);
/* e (owned by the callee) is set when rc is 1. */
typedef void (*rr_get_cb)(void *ud, int rc, rstore_entry_t *e);

/* NULL with err set for a malformed address; does not connect. */
rredis_t *rr_new(const rstore_redis_opts_t *o, char *err, size_t errlen);
void rr_free(rredis_t *r);
uint64_t rr_failures(rredis_t *r);
/* The private loop the blocking calls of response_store.h run on. */
struct event_base *rr_sync_base(rredis_t *r);
/* Calls on loop evb (its own connection, made on first use); callbacks run
 * on that loop, or inline when nothing was sent. ttl_ms 0: no expiry. */
void rr_put(rredis_t *r, struct event_base *evb, const rstore_entry_t *e, uint64_t ttl_ms,
            rr_done_cb cb, void *ud);
void rr_get(rredis_t *r, struct event_base *evb, const char *id, rr_get_cb cb, void *ud);
void rr_del(rredis_t *r, struct event_base *evb, const char *id, rr_done_cb cb, void *ud);
#endif
