/* queue.c - the bounded replay queue and its writer thread, on the shared
 * bounded queue (core/workq.h). Request threads push record pointers; the
 * writer takes up to BATCH records at a time (lingering briefly so a batch
 * gathers), validates and redacts them, writes them to the store in one
 * batch (one SQLite transaction), and runs the store's sweep every 60 s.
 * Counters are atomics so stats never wait. */
#include "replay/queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/workq.h"
#include "metrics/catalog.h"
#include "replay/redact.h"

#define BATCH     1024
#define LINGER_MS 50 /* the longest a record waits for companions */

struct replay_queue {
    replay_store_t *store;
    bool redact;
    core_workq_t *wq;
    buf_t err;                                /* the writer's diagnostics */
    uint64_t written, dropped, errors, swept; /* atomics */
};

/* The queue's counter and tether_replay_writes_total{result} together. */
static void count(uint64_t *c, uint64_t n, const char *result)
{
    __atomic_add_fetch(c, n, __ATOMIC_RELAXED);
    met_inc(tmet.replay_writes_total, (double)n, result);
}

int replay_queue_push(replay_queue_t *q, replay_record_t *r)
{
    if (!r) return REPLAY_EINVAL;
    if (r->has_session && !replay_reason_valid(r->session.reason)) {
        tlog(TLOG_WARN, "replay_invalid_reason", "\"id\":\"%s\"", r->id);
        replay_record_free(r);
        count(&q->errors, 1, "error");
        return REPLAY_EINVAL;
    }
    return core_workq_push(q->wq, &r, 1) ? REPLAY_EDROPPED : REPLAY_OK;
}

/* Full, closed, or left at the shutdown deadline. */
static void on_drop(void *ud, void *items, size_t n, core_workq_why_t why)
{
    replay_queue_t *q = ud;
    replay_record_t **recs = items;
    for (size_t i = 0; i < n; i++)
        replay_record_free(recs[i]);
    count(&q->dropped, n, "dropped");
    if (why == CORE_WORKQ_DEADLINE) tlog(TLOG_WARN, "replay_flush_deadline", "\"dropped\":%zu", n);
}

/* The diagnostic is ours (never prompt text), but it may quote a path. */
static void log_err(tlog_level_t lvl, const char *event, const char *id, const buf_t *err)
{
    buf_t e = BUF_INIT;
    buf_json_str(&e, err->data ? err->data : "", err->len);
    tlog(lvl, event, "\"id\":\"%s\",\"error\":%s", id, e.data);
    buf_free(&e);
}

static uint64_t write_batch(void *ud, void *items, size_t n)
{
    replay_queue_t *q = ud;
    replay_record_t **b = items, *ok[BATCH];
    buf_t *err = &q->err;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned clean; /* fragments validation found clean: redaction skips them */
        if (replay_record_validate_clean(b[i], err, &clean) != REPLAY_OK) {
            log_err(TLOG_WARN, "replay_invalid_record", b[i]->id, err);
            count(&q->errors, 1, "error");
            replay_record_free(b[i]);
            continue;
        }
        replay_redact_record_clean(b[i], q->redact, clean);
        ok[k++] = b[i];
    }
    if (k) {
        if (replay_store_write(q->store, ok, k, err) == REPLAY_OK) {
            count(&q->written, k, "written");
        } else {
            log_err(TLOG_ERROR, "replay_store_error", ok[0]->id, err);
            count(&q->errors, k, "error");
        }
    }
    for (size_t i = 0; i < k; i++)
        replay_record_free(ok[i]);
    return 0;
}

static void sweep(void *ud)
{
    replay_queue_t *q = ud;
    size_t removed = 0;
    if (replay_store_sweep(q->store, clock_wall_ms(), &removed, &q->err) == REPLAY_OK)
        __atomic_add_fetch(&q->swept, removed, __ATOMIC_RELAXED);
    else
        log_err(TLOG_ERROR, "replay_sweep_error", "", &q->err);
}

replay_queue_t *replay_queue_new_ex(replay_store_t *store, const replay_config_t *c,
                                    uint64_t sweep_every_ms)
{
    replay_queue_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->store = store;
    q->redact = c ? c->redact : true;
    /* group commit: under load records arrive one by one, and one store
     * transaction per record costs more than the request that produced it;
     * the writer lingers up to LINGER_MS until a whole batch waits. A
     * router's busy sessions each have their place in the session index,
     * and every commit rewrites those pages whatever its size, so the
     * bigger the batch the fewer bytes per record: under wrk -c64 batches
     * of 800-900 records instead of 230-250 at 20 ms / 256, about 30 %
     * fewer bytes written (docs/PERFORMANCE.md "Replay writer, seventh
     * pass"); a record still waits at most LINGER_MS */
    core_workq_opts_t o = {.name = "replay-writer",
                           .item_size = sizeof(replay_record_t *),
                           .capacity = c && c->queue_size > 0 ? (size_t)c->queue_size : 10000,
                           .batch = BATCH,
                           .linger_ms = LINGER_MS,
                           .linger_enough = BATCH,
                           .tick_ms = sweep_every_ms,
                           .handle = write_batch,
                           .tick = sweep_every_ms ? sweep : NULL,
                           .drop = on_drop,
                           .ud = q};
    q->wq = core_workq_new(&o);
    /* records for the requests in flight before the writer hands the first
     * ones back: a steady worker then allocates none (about 1.2 MiB) */
    replay_record_reserve(256);
    return q;
}

replay_queue_t *replay_queue_new(replay_store_t *store, const replay_config_t *c)
{
    return replay_queue_new_ex(store, c, 60000);
}

void replay_queue_stats(replay_queue_t *q, replay_stats_t *o)
{
    o->written = __atomic_load_n(&q->written, __ATOMIC_RELAXED);
    o->dropped = __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
    o->errors = __atomic_load_n(&q->errors, __ATOMIC_RELAXED);
    o->swept = __atomic_load_n(&q->swept, __ATOMIC_RELAXED);
    o->depth = q->wq ? core_workq_depth(q->wq) : 0;
}

bool replay_queue_flush(replay_queue_t *q, uint64_t wait_ms)
{
    return core_workq_flush(q->wq, wait_ms);
}

void replay_queue_pause(replay_queue_t *q, bool paused)
{
    core_workq_pause(q->wq, paused);
}

void replay_queue_free(replay_queue_t *q, uint64_t deadline_ms, replay_stats_t *final)
{
    if (!q) return;
    core_workq_free(q->wq, deadline_ms);
    q->wq = NULL;
    replay_record_spares_free();
    if (final) replay_queue_stats(q, final);
    buf_free(&q->err);
    free(q);
}
