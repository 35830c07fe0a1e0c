/* redis.h - rate limit and budget counters shared by the replicas in
 * Redis, over the non-blocking Redis layer (kv/client.h; one connection per
 * event loop, made on first use). One Lua script reads every counter of a
 * request and, when none denies, counts the request, atomically; another
 * adds a reply's tokens and spend. Keys: <key_prefix>lim:<counter>:<window
 * start ms>, expiring after their window. Nothing here blocks: an answer
 * that does not come (outage, open circuit, timeout) is reported as none
 * and the caller decides on its local counters.
 * Thread-safe (connections are per loop). */
#ifndef TETHER_LIMITS_REDIS_H
#define TETHER_LIMITS_REDIS_H
#include "config/global.h"
#include "limits/limits.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct lim_redis lim_redis_t;

/* NULL with err filled when the address does not parse. */
lim_redis_t *lim_redis_new(const cfg_redis_t *r, char *err, size_t errlen);
void lim_redis_free(lim_redis_t *r);

/* vals: the counts before the request, one per check, or NULL when Redis
 * did not answer. Runs on evb's loop, possibly before lim_redis_admit
 * returns (an open circuit answers at once). */
typedef void (*lim_redis_cb)(void *ud, const int64_t *vals);
void lim_redis_admit(lim_redis_t *r, struct event_base *evb, const lim_verdict_t *v,
                     lim_redis_cb cb, void *ud);
/* Add tokens to the token counters and nano to the spend counters (no answer awaited). */
void lim_redis_add(lim_redis_t *r, struct event_base *evb, const lim_verdict_t *v, int64_t tokens,
                   int64_t nano);
/* Close loop evb's connection (a worker stopping, its loop still alive). */
void lim_redis_loop_close(lim_redis_t *r, struct event_base *evb);
/* Is any loop's circuit open? (metrics, the management API) */
bool lim_redis_degraded(lim_redis_t *r);
#endif
