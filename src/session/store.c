/* store.c - the session store interface: dispatch to a backend's ops and the
 * blocking *_wait helpers (run an operation to completion, driving the
 * store's own event base when it has one). Backends: store_memory.c,
 * store_redis.c. */
#include "session/store.h"
#include <assert.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

void sess_store_get(sess_store_t *s, const char *key, sess_get_cb cb, void *ud)
{
    s->ops->get(s, key, cb, ud);
}
void sess_store_commit(sess_store_t *s, const char *key, const sess_outcome_t *o, sess_commit_cb cb,
                       void *ud)
{
    s->ops->commit(s, key, o, cb, ud);
}
void sess_store_add_usage(sess_store_t *s, const char *key, const char *model,
                          const sess_usage_t *u, uint64_t now_ms, sess_done_cb cb, void *ud)
{
    s->ops->add_usage(s, key, model, u, now_ms, cb, ud);
}
void sess_store_chain_put(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key,
                          sess_done_cb cb, void *ud)
{
    s->ops->chain_put(s, hashes, n, key, cb, ud);
}
void sess_store_chain_find(sess_store_t *s, const uint64_t *hashes, size_t n, sess_lookup_cb cb,
                           void *ud)
{
    s->ops->chain_find(s, hashes, n, cb, ud);
}
void sess_store_opener_put(sess_store_t *s, uint64_t opener, const char *key, sess_done_cb cb,
                           void *ud)
{
    s->ops->opener_put(s, opener, key, cb, ud);
}
void sess_store_opener_get(sess_store_t *s, uint64_t opener, sess_lookup_cb cb, void *ud)
{
    s->ops->opener_get(s, opener, cb, ud);
}
void sess_store_stats(sess_store_t *s, sess_store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    s->ops->stats(s, out);
}
void sess_store_free(sess_store_t *s)
{
    if (s) s->ops->free(s);
}

/* ---- blocking helpers ---- */

typedef struct waiter {
    bool done;
    int status;
    sess_state_t *state;
    sess_commit_result_t *res;
    int index;
    char *key;
    size_t cap;
} waiter_t;

static void wait_for(sess_store_t *s, waiter_t *w)
{
    struct event_base *b = s->ops->wait_base ? s->ops->wait_base(s) : NULL;
    /* events already due (a probe's reply, a write-back tick) run even when
     * the operation itself completed inline */
    if (b) event_base_loop(b, EVLOOP_NONBLOCK);
    while (!w->done) {
        assert(b && "operation did not complete inline and the store has no wait base");
        if (!b) return;
        event_base_loop(b, EVLOOP_ONCE);
    }
}

static void on_get(void *ud, int status, const sess_state_t *st)
{
    waiter_t *w = ud;
    w->status = status;
    if (status == SESS_OK && st && w->state) *w->state = *st;
    w->done = true;
}

static void on_commit(void *ud, int status, const sess_commit_result_t *res,
                      const sess_state_t *after)
{
    waiter_t *w = ud;
    w->status = status;
    if (status == SESS_OK) {
        if (w->res && res) *w->res = *res;
        if (w->state && after) *w->state = *after;
    }
    w->done = true;
}

static void on_done(void *ud, int status)
{
    waiter_t *w = ud;
    w->status = status;
    w->done = true;
}

static void on_lookup(void *ud, int status, int index, const char *key)
{
    waiter_t *w = ud;
    w->status = status;
    w->index = index;
    if (w->key && w->cap) snprintf(w->key, w->cap, "%s", key ? key : "");
    w->done = true;
}

int sess_store_get_wait(sess_store_t *s, const char *key, sess_state_t *out)
{
    waiter_t w = {.state = out};
    sess_store_get(s, key, on_get, &w);
    wait_for(s, &w);
    return w.status;
}

int sess_store_commit_wait(sess_store_t *s, const char *key, const sess_outcome_t *o,
                           sess_commit_result_t *res, sess_state_t *after)
{
    waiter_t w = {.state = after, .res = res};
    sess_store_commit(s, key, o, on_commit, &w);
    wait_for(s, &w);
    return w.status;
}

int sess_store_add_usage_wait(sess_store_t *s, const char *key, const char *model,
                              const sess_usage_t *u, uint64_t now_ms)
{
    waiter_t w = {0};
    sess_store_add_usage(s, key, model, u, now_ms, on_done, &w);
    wait_for(s, &w);
    return w.status;
}

int sess_store_chain_put_wait(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key)
{
    waiter_t w = {0};
    sess_store_chain_put(s, hashes, n, key, on_done, &w);
    wait_for(s, &w);
    return w.status;
}

int sess_store_chain_find_wait(sess_store_t *s, const uint64_t *hashes, size_t n, int *index,
                               char *key, size_t cap)
{
    waiter_t w = {.key = key, .cap = cap, .index = -1};
    sess_store_chain_find(s, hashes, n, on_lookup, &w);
    wait_for(s, &w);
    if (index) *index = w.index;
    return w.status;
}

int sess_store_opener_put_wait(sess_store_t *s, uint64_t opener, const char *key)
{
    waiter_t w = {0};
    sess_store_opener_put(s, opener, key, on_done, &w);
    wait_for(s, &w);
    return w.status;
}

int sess_store_opener_get_wait(sess_store_t *s, uint64_t opener, char *key, size_t cap)
{
    waiter_t w = {.key = key, .cap = cap, .index = -1};
    sess_store_opener_get(s, opener, on_lookup, &w);
    wait_for(s, &w);
    return w.status;
}
