/* store_redis_writeback.c - the paced write-back of the Redis session
 * store: when the circuit closes again, the records written locally during
 * the outage are pushed back ("later last_seen wins", store_redis.c) a
 * bounded batch at a time: at most WB_BATCH pushes in flight, the next
 * batch WB_TICK_MS later. A burst of every record at once would queue
 * behind itself past the per-call timeout, fail, and reopen the circuit
 * before anything was pushed (and again after each probe), so recovery
 * never converged. If the circuit opens meanwhile the write-back stops;
 * what was not pushed stays local (reads still consult it) and goes after
 * the next recovery. The workers of a process share one fallback table:
 * one of them (the holder of the shared token, sess_writeback_token_t)
 * writes it back, not each of them (a push per record per worker, the
 * duplicates refused by Redis). One per store instance (event loop); the
 * token is the only state shared between threads. */
#include "session/store_redis_internal.h"
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WB_BATCH   32 /* pushes in flight at most */
#define WB_TICK_MS 2  /* between batches */

typedef struct wb_collect {
    char **keys;
    size_t n, cap;
} wb_collect_t;

/* Runs under a shard lock of the memory store: only copies the key. */
static void collect(void *ud, const char *key)
{
    wb_collect_t *c = ud;
    if (sess_redis_is_mirror_key(key)) return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->keys = realloc(c->keys, c->cap * sizeof *c->keys);
        if (!c->keys) abort();
    }
    c->keys[c->n] = strdup(key);
    if (!c->keys[c->n]) abort();
    c->n++;
}

static void free_keys(sess_redis_t *rs)
{
    for (size_t i = 0; i < rs->wb_n; i++)
        free(rs->wb_keys[i]);
    free(rs->wb_keys);
    rs->wb_keys = NULL;
    rs->wb_n = rs->wb_next = 0;
}

/* Claim the process's write-back; false when another worker holds it (it
 * then runs one more round when it ends, for this worker's records). */
static bool claim(sess_redis_t *rs)
{
    if (!rs->wb_token || rs->wb_owner) return true;
    bool free_ = false;
    if (!atomic_compare_exchange_strong(&rs->wb_token->busy, &free_, true)) {
        atomic_store(&rs->wb_token->missed, true);
        return false;
    }
    rs->wb_owner = true;
    return true;
}

/* Give the token back; true when a worker recovered meanwhile and skipped
 * (its records may have come after this round's collection). */
static bool release(sess_redis_t *rs)
{
    if (!rs->wb_token || !rs->wb_owner) return false;
    rs->wb_owner = false;
    bool missed = atomic_exchange(&rs->wb_token->missed, false);
    atomic_store(&rs->wb_token->busy, false);
    return missed;
}

static void arm(sess_redis_t *rs)
{
    struct timeval tv = {0, WB_TICK_MS * 1000};
    evtimer_add(rs->wb_timer, &tv);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sess_redis_t *rs = arg;
    if (kv_is_degraded(rs->kv)) {
        sess_redis_wb_stop(rs);
        return;
    }
    while (rs->wb_inflight < WB_BATCH && rs->wb_next < rs->wb_n && !kv_is_degraded(rs->kv)) {
        const char *key = rs->wb_keys[rs->wb_next++];
        sess_state_t st;
        /* gone meanwhile: a read already pushed it, or it expired */
        if (sess_store_get_wait(rs->fb, key, &st) == SESS_OK)
            sess_redis_push_local(rs, key, &st, true);
    }
    if (rs->wb_next >= rs->wb_n) {
        free_keys(rs); /* the last pushes complete on their own */
        if (release(rs)) sess_redis_wb_start(rs);
        return;
    }
    arm(rs);
}

void sess_redis_wb_start(sess_redis_t *rs)
{
    free_keys(rs);
    if (!claim(rs)) return;
    wb_collect_t c = {0};
    sess_store_memory_foreach_key(rs->fb, collect, &c);
    if (!c.n) {
        free(c.keys);
        release(rs); /* nothing left: whoever missed found nothing either */
        return;
    }
    rs->wb_keys = c.keys;
    rs->wb_n = c.n;
    if (!rs->wb_timer) rs->wb_timer = evtimer_new(rs->evb, tick, rs);
    if (!rs->wb_timer) abort();
    tick(-1, 0, rs);
}

void sess_redis_wb_stop(sess_redis_t *rs)
{
    free_keys(rs);
    release(rs); /* the rest goes with the next recovery (of any worker) */
    if (rs->wb_timer) {
        event_free(rs->wb_timer);
        rs->wb_timer = NULL;
    }
}

size_t sess_redis_wb_pending(const sess_redis_t *rs)
{
    return rs->wb_n - rs->wb_next;
}
