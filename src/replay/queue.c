/* queue.c - the bounded replay queue and its writer thread. Request threads
 * push into a fixed ring of record pointers under a short mutex; the writer
 * takes up to BATCH records at a time, validates and redacts them, writes
 * them to the store in one batch (one SQLite transaction), and runs the
 * store's sweep every 60 s. Counters are atomics so stats never wait. */
#include "replay/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "replay/redact.h"

#define BATCH     256
#define LINGER_MS 20 /* the longest a record waits for companions */

struct replay_queue {
    replay_store_t *store;
    bool redact;
    uint64_t sweep_every_ms;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* writer: work or stop */
    pthread_cond_t drained; /* flushers: the ring became empty and idle */
    replay_record_t **ring;
    size_t cap, head, len; /* head: oldest */
    bool closing, paused, busy;
    uint64_t deadline_ms; /* monotonic; when closing */
    pthread_t thread;
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
    pthread_mutex_lock(&q->mu);
    if (q->closing || q->len == q->cap) {
        pthread_mutex_unlock(&q->mu);
        replay_record_free(r);
        count(&q->dropped, 1, "dropped");
        return REPLAY_EDROPPED;
    }
    q->ring[(q->head + q->len) % q->cap] = r;
    q->len++;
    if (q->len == 1) pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    return REPLAY_OK;
}

static void abs_time_in(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* The diagnostic is ours (never prompt text), but it may quote a path. */
static void log_err(tlog_level_t lvl, const char *event, const char *id, const buf_t *err)
{
    buf_t e = BUF_INIT;
    buf_json_str(&e, err->data ? err->data : "", err->len);
    tlog(lvl, event, "\"id\":\"%s\",\"error\":%s", id, e.data);
    buf_free(&e);
}

static void write_batch(replay_queue_t *q, replay_record_t **b, size_t n, buf_t *err)
{
    replay_record_t *ok[BATCH];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (replay_record_validate(b[i], err) != REPLAY_OK) {
            log_err(TLOG_WARN, "replay_invalid_record", b[i]->id, err);
            count(&q->errors, 1, "error");
            replay_record_free(b[i]);
            continue;
        }
        replay_redact_record(b[i], q->redact);
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
}

static void *writer_main(void *arg)
{
    replay_queue_t *q = arg;
    pthread_setname_np(pthread_self(), "replay-writer");
    buf_t err = BUF_INIT;
    uint64_t next_sweep = q->sweep_every_ms ? clock_mono_ms() + q->sweep_every_ms : 0;
    replay_record_t *batch[BATCH];
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while ((q->len == 0 || q->paused) && !q->closing) {
            if (q->len == 0) pthread_cond_broadcast(&q->drained);
            if (next_sweep && clock_mono_ms() >= next_sweep) break;
            if (next_sweep) {
                struct timespec ts;
                uint64_t now = clock_mono_ms();
                abs_time_in(&ts, next_sweep > now ? next_sweep - now : 0);
                pthread_cond_timedwait(&q->wake, &q->mu, &ts);
            } else {
                pthread_cond_wait(&q->wake, &q->mu);
            }
        }
        if (q->closing && (q->len == 0 || clock_mono_ms() >= q->deadline_ms)) break;
        if (!q->closing && !q->paused && q->len < BATCH / 4) {
            /* group commit: under load records arrive one by one, and one
             * store transaction per record costs more than the request that
             * produced it; linger briefly so a batch accumulates */
            struct timespec ts;
            abs_time_in(&ts, LINGER_MS);
            pthread_cond_timedwait(&q->wake, &q->mu, &ts);
        }
        size_t n = 0;
        if (!q->paused || q->closing)
            while (n < BATCH && q->len) {
                batch[n++] = q->ring[q->head];
                q->head = (q->head + 1) % q->cap;
                q->len--;
            }
        q->busy = true;
        pthread_mutex_unlock(&q->mu);
        if (n) write_batch(q, batch, n, &err);
        if (next_sweep && clock_mono_ms() >= next_sweep) {
            size_t removed = 0;
            if (replay_store_sweep(q->store, clock_wall_ms(), &removed, &err) == REPLAY_OK)
                __atomic_add_fetch(&q->swept, removed, __ATOMIC_RELAXED);
            else
                log_err(TLOG_ERROR, "replay_sweep_error", "", &err);
            next_sweep = clock_mono_ms() + q->sweep_every_ms;
        }
        pthread_mutex_lock(&q->mu);
        q->busy = false;
        if (q->len == 0) pthread_cond_broadcast(&q->drained);
    }
    /* Past the deadline: what is left is dropped, and counted. */
    size_t left = q->len;
    while (q->len) {
        replay_record_free(q->ring[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    pthread_cond_broadcast(&q->drained);
    pthread_mutex_unlock(&q->mu);
    if (left) {
        count(&q->dropped, left, "dropped");
        tlog(TLOG_WARN, "replay_flush_deadline", "\"dropped\":%zu", left);
    }
    buf_free(&err);
    return NULL;
}

replay_queue_t *replay_queue_new_ex(replay_store_t *store, const replay_config_t *c,
                                    uint64_t sweep_every_ms)
{
    replay_queue_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->store = store;
    q->redact = c ? c->redact : true;
    q->cap = c && c->queue_size > 0 ? (size_t)c->queue_size : 10000;
    q->ring = calloc(q->cap, sizeof *q->ring);
    if (!q->ring) abort();
    q->sweep_every_ms = sweep_every_ms;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_cond_init(&q->drained, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) abort();
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
    pthread_mutex_lock(&q->mu);
    o->depth = q->len;
    pthread_mutex_unlock(&q->mu);
}

bool replay_queue_flush(replay_queue_t *q, uint64_t deadline_ms)
{
    struct timespec ts;
    abs_time_in(&ts, deadline_ms);
    pthread_mutex_lock(&q->mu);
    pthread_cond_signal(&q->wake);
    int rc = 0;
    while ((q->len || q->busy) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&q->drained, &q->mu, &ts);
    bool ok = !q->len && !q->busy;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void replay_queue_pause(replay_queue_t *q, bool paused)
{
    pthread_mutex_lock(&q->mu);
    q->paused = paused;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
}

void replay_queue_free(replay_queue_t *q, uint64_t deadline_ms, replay_stats_t *final)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    q->deadline_ms = clock_mono_ms() + deadline_ms;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    if (final) replay_queue_stats(q, final);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->drained);
    free(q->ring);
    free(q);
}
