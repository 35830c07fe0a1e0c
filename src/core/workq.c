/* workq.c - the bounded queue with one consumer thread (workq.h). Items
 * live in a ring of item_size slots. The consumer copies a batch from the
 * head into its scratch array and releases the lock while the handler
 * runs; producers only ever append at the tail, so the batch stays where it
 * is and is popped only when the handler is done with it (a handler asking
 * for a retry leaves it at the head). */
#include "core/workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

struct core_workq {
    core_workq_opts_t o;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* consumer: work, stop or resume */
    pthread_cond_t drained; /* flushers: empty and idle */
    unsigned char *ring, *scratch;
    size_t head, len, weight;
    bool closing, paused, busy;
    uint64_t deadline_ms; /* monotonic, when closing */
    pthread_t thread;
};

static void abs_in(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void wait_until(core_workq_t *q, uint64_t until_ms)
{
    uint64_t now = clock_mono_ms();
    struct timespec ts;
    abs_in(&ts, until_ms > now ? until_ms - now : 0);
    pthread_cond_timedwait(&q->wake, &q->mu, &ts);
}

static unsigned char *slot(const core_workq_t *q, size_t i)
{
    return q->ring + ((q->head + i) % q->o.capacity) * q->o.item_size;
}

static size_t item_weight(const core_workq_t *q, const void *item)
{
    return q->o.weight ? q->o.weight(item) : 1;
}

/* What lingering counts: weight with a weight function, items without. */
static size_t waiting(const core_workq_t *q)
{
    return q->o.weight ? q->weight : q->len;
}

/* Under mu: copy a batch from the head into scratch; returns its length
 * and its weight in *wout (weighed now: a handler may free the items). */
static size_t peek_batch(core_workq_t *q, size_t *wout)
{
    size_t n = 0, w = 0;
    while (n < q->len && n < q->o.batch) {
        const unsigned char *it = slot(q, n);
        size_t iw = item_weight(q, it);
        if (n && q->o.batch_weight && w + iw > q->o.batch_weight) break;
        memcpy(q->scratch + n * q->o.item_size, it, q->o.item_size);
        w += iw;
        n++;
    }
    *wout = w;
    return n;
}

/* Under mu: forget the n items at the head, of total weight w. */
static void pop(core_workq_t *q, size_t n, size_t w)
{
    q->weight -= w;
    q->head = (q->head + n) % q->o.capacity;
    q->len -= n;
}

static void *consumer_main(void *arg)
{
    core_workq_t *q = arg;
    if (q->o.name) {
        char nm[16];
        strncpy(nm, q->o.name, sizeof nm - 1);
        nm[sizeof nm - 1] = 0;
        pthread_setname_np(pthread_self(), nm);
    }
    uint64_t next_tick = q->o.tick_ms && q->o.tick ? clock_mono_ms() + q->o.tick_ms : UINT64_MAX;
    uint64_t retry_at = 0;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= next_tick) {
            pthread_mutex_unlock(&q->mu);
            q->o.tick(q->o.ud);
            pthread_mutex_lock(&q->mu);
            now = clock_mono_ms();
            next_tick = now + q->o.tick_ms;
        }
        if (q->closing && (q->len == 0 || now >= q->deadline_ms)) break;
        bool held = q->paused && !q->closing;
        if (q->len == 0 || held || now < retry_at) {
            uint64_t until = next_tick;
            if (q->len && !held && retry_at < until) until = retry_at;
            if (q->closing && q->deadline_ms < until) until = q->deadline_ms;
            if (q->len == 0) pthread_cond_broadcast(&q->drained);
            if (until == UINT64_MAX)
                pthread_cond_wait(&q->wake, &q->mu);
            else
                wait_until(q, until);
            continue;
        }
        if (!q->closing && q->o.linger_enough && waiting(q) < q->o.linger_enough) {
            /* group commit: let a batch gather, up to linger_ms */
            uint64_t until = now + q->o.linger_ms;
            if (next_tick < until) until = next_tick;
            while (!q->closing && !q->paused && waiting(q) < q->o.linger_enough &&
                   clock_mono_ms() < until)
                wait_until(q, until);
            if (q->paused && !q->closing) continue;
        }
        size_t w, n = peek_batch(q, &w);
        q->busy = true;
        pthread_mutex_unlock(&q->mu);
        uint64_t retry = q->o.handle(q->o.ud, q->scratch, n);
        pthread_mutex_lock(&q->mu);
        q->busy = false;
        if (retry) {
            retry_at = clock_mono_ms() + retry;
        } else {
            retry_at = 0;
            pop(q, n, w);
        }
        if (q->len == 0) pthread_cond_broadcast(&q->drained);
    }
    /* Past the deadline (or empty): what is left is dropped, a scratch
     * array at a time. */
    while (q->len) {
        size_t n = q->len < q->o.batch ? q->len : q->o.batch, w = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(q->scratch + i * q->o.item_size, slot(q, i), q->o.item_size);
            w += item_weight(q, slot(q, i));
        }
        pop(q, n, w);
        pthread_mutex_unlock(&q->mu);
        q->o.drop(q->o.ud, q->scratch, n, CORE_WORKQ_DEADLINE);
        pthread_mutex_lock(&q->mu);
    }
    pthread_cond_broadcast(&q->drained);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

core_workq_t *core_workq_new(const core_workq_opts_t *o)
{
    core_workq_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->o = *o;
    if (!q->o.capacity) q->o.capacity = 1024;
    if (!q->o.batch) q->o.batch = 256;
    if (q->o.weight && !q->o.max_weight) q->o.max_weight = q->o.capacity;
    q->ring = calloc(q->o.capacity, q->o.item_size);
    q->scratch = calloc(q->o.batch, q->o.item_size);
    if (!q->ring || !q->scratch) abort();
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_cond_init(&q->drained, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&q->thread, NULL, consumer_main, q) != 0) abort();
    return q;
}

size_t core_workq_push(core_workq_t *q, const void *items, size_t n)
{
    const unsigned char *in = items;
    size_t taken = 0;
    bool closed;
    pthread_mutex_lock(&q->mu);
    closed = q->closing;
    size_t before = waiting(q);
    /* in order: the first item that does not fit ends the run, so the
     * dropped ones are the tail of the array */
    while (!closed && taken < n && q->len < q->o.capacity) {
        const unsigned char *it = in + taken * q->o.item_size;
        size_t w = item_weight(q, it);
        if (q->o.weight && q->weight + w > q->o.max_weight) break;
        memcpy(slot(q, q->len), it, q->o.item_size);
        q->len++;
        q->weight += w;
        taken++;
    }
    /* wake the consumer when it may be waiting for work, or lingering for
     * a batch that is now big enough */
    bool wake = taken && (q->len == taken || (q->o.linger_enough && before < q->o.linger_enough &&
                                              waiting(q) >= q->o.linger_enough));
    pthread_mutex_unlock(&q->mu);
    if (wake) pthread_cond_signal(&q->wake);
    if (taken < n)
        q->o.drop(q->o.ud, (void *)(in + taken * q->o.item_size), n - taken,
                  closed ? CORE_WORKQ_CLOSED : CORE_WORKQ_FULL);
    return n - taken;
}

size_t core_workq_depth(core_workq_t *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

bool core_workq_flush(core_workq_t *q, uint64_t wait_ms)
{
    struct timespec ts;
    abs_in(&ts, wait_ms);
    pthread_mutex_lock(&q->mu);
    pthread_cond_signal(&q->wake);
    int rc = 0;
    while ((q->len || q->busy) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&q->drained, &q->mu, &ts);
    bool ok = !q->len && !q->busy;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void core_workq_pause(core_workq_t *q, bool paused)
{
    pthread_mutex_lock(&q->mu);
    q->paused = paused;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
}

void core_workq_free(core_workq_t *q, uint64_t deadline_ms)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    q->deadline_ms = clock_mono_ms() + deadline_ms;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->drained);
    free(q->ring);
    free(q->scratch);
    free(q);
}
