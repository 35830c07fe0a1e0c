/* spool.c - the bounded outage buffer and sink thread of the shared replay
 * stores (spool.h). Rows wait in a ring; the thread peeks a batch at the
 * head (pushers only ever append at the tail, so the peeked rows stay put
 * while the mutex is released), calls the sink, and pops the batch only
 * when the sink stored it: a failed batch is retried, in order, after a
 * backoff. Drops happen at push time, when the ring is full. */
#include "replay/spool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "metrics/metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

struct replay_spool {
    replay_spool_opts_t o;
    char *store;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    replay_flat_t *ring;
    size_t cap, head, len;
    bool closing, busy, is_down;
    uint64_t deadline_ms; /* monotonic, when closing */
    uint64_t written, dropped, errors, dropped_logged;
    pthread_t thread;
    met_family_t *m_pending, *m_written, *m_dropped, *m_errors;
};

static char *dup0(const char *s)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

void replay_flat_from_record(replay_flat_t *f, const replay_record_t *r)
{
    memset(f, 0, sizeof *f);
    memcpy(f->id, r->id, sizeof f->id);
    f->created_at_ms = r->created_at_ms;
    f->decision = dup0(r->decision);
    f->model = dup0(r->model);
    if (r->has_session) {
        f->session_id = dup0(r->session.id);
        f->reason = dup0(r->session.reason);
        f->phase = dup0(r->session.phase);
        f->hard_lock = dup0(r->session.hard_lock);
        f->turn = r->session.turn;
        f->switched = r->session.switched;
    }
    f->status = r->status;
    f->prompt_tokens = r->usage.prompt;
    f->cached_tokens = r->usage.cached;
    f->completion_tokens = r->usage.completion;
    f->cost = r->cost.actual;
    f->baseline_cost = r->cost.baseline;
    buf_t b = BUF_INIT;
    replay_record_render(r, false, &b);
    f->json = buf_steal(&b);
    if (r->request_body || r->response_body) {
        replay_record_render_bodies(r, &b);
        f->bodies = buf_steal(&b);
    }
    buf_free(&b);
}

void replay_flat_deinit(replay_flat_t *f)
{
    free(f->session_id);
    free(f->decision);
    free(f->model);
    free(f->reason);
    free(f->phase);
    free(f->hard_lock);
    free(f->json);
    free(f->bodies);
    memset(f, 0, sizeof *f);
}

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

static void log_drops(replay_spool_t *sp)
{
    uint64_t d = sp->dropped;
    if (d == sp->dropped_logged) return;
    tlog(TLOG_WARN, "replay_store_drops", "\"store\":\"%s\",\"dropped\":%llu,\"total\":%llu",
         sp->store, (unsigned long long)(d - sp->dropped_logged), (unsigned long long)d);
    sp->dropped_logged = d;
}

static void set_down(replay_spool_t *sp, bool down, const buf_t *err)
{
    if (down == sp->is_down) return;
    sp->is_down = down;
    if (down) {
        buf_t e = BUF_INIT;
        buf_json_str(&e, err->data ? err->data : "", err->len);
        tlog(TLOG_WARN, "replay_store_down", "\"store\":\"%s\",\"error\":%s,\"pending\":%zu",
             sp->store, e.data, sp->len);
        buf_free(&e);
    } else {
        tlog(TLOG_INFO, "replay_store_recovered", "\"store\":\"%s\",\"pending\":%zu", sp->store,
             sp->len);
    }
}

static void *spool_main(void *arg)
{
    replay_spool_t *sp = arg;
    buf_t err = BUF_INIT;
    replay_flat_t *batch = calloc(sp->o.batch, sizeof *batch);
    if (!batch) abort();
    uint64_t backoff = 0, retry_at = 0, next_log = clock_mono_ms() + sp->o.log_every_ms;
    pthread_mutex_lock(&sp->mu);
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= next_log) {
            log_drops(sp);
            next_log = now + sp->o.log_every_ms;
        }
        if (sp->closing && (sp->len == 0 || now >= sp->deadline_ms)) break;
        if (sp->len == 0 || now < retry_at) {
            uint64_t until = next_log;
            if (sp->len && retry_at < until) until = retry_at;
            if (sp->closing && sp->deadline_ms < until) until = sp->deadline_ms;
            struct timespec ts;
            abs_in(&ts, until > now ? until - now : 0);
            if (sp->len == 0) pthread_cond_broadcast(&sp->idle);
            pthread_cond_timedwait(&sp->wake, &sp->mu, &ts);
            continue;
        }
        size_t n = sp->len < sp->o.batch ? sp->len : sp->o.batch;
        for (size_t i = 0; i < n; i++)
            batch[i] = sp->ring[(sp->head + i) % sp->cap]; /* shallow: the ring keeps them */
        sp->busy = true;
        pthread_mutex_unlock(&sp->mu);
        buf_reset(&err);
        int rc = sp->o.sink(sp->o.ud, batch, n, &err);
        pthread_mutex_lock(&sp->mu);
        sp->busy = false;
        if (rc == REPLAY_OK) {
            for (size_t i = 0; i < n; i++) {
                replay_flat_deinit(&sp->ring[sp->head]);
                sp->head = (sp->head + 1) % sp->cap;
            }
            sp->len -= n;
            sp->written += n;
            met_inc(sp->m_written, (double)n, sp->store);
            set_down(sp, false, &err);
            backoff = retry_at = 0;
        } else {
            sp->errors++;
            met_inc(sp->m_errors, 1, sp->store);
            set_down(sp, true, &err);
            backoff = backoff ? backoff * 2 : 100;
            if (backoff > sp->o.retry_max_ms) backoff = sp->o.retry_max_ms;
            retry_at = clock_mono_ms() + backoff;
        }
        met_set(sp->m_pending, (double)sp->len, sp->store);
        if (sp->len == 0) pthread_cond_broadcast(&sp->idle);
    }
    size_t left = sp->len;
    while (sp->len) {
        replay_flat_deinit(&sp->ring[sp->head]);
        sp->head = (sp->head + 1) % sp->cap;
        sp->len--;
    }
    sp->dropped += left;
    met_inc(sp->m_dropped, (double)left, sp->store);
    met_set(sp->m_pending, 0, sp->store);
    log_drops(sp);
    pthread_cond_broadcast(&sp->idle);
    pthread_mutex_unlock(&sp->mu);
    free(batch);
    buf_free(&err);
    return NULL;
}

replay_spool_t *replay_spool_new(const replay_spool_opts_t *o)
{
    replay_spool_t *sp = calloc(1, sizeof *sp);
    if (!sp) abort();
    sp->o = *o;
    sp->store = dup0(o->store ? o->store : "shared");
    sp->cap = o->capacity ? o->capacity : 10000;
    if (!sp->o.batch) sp->o.batch = 256;
    if (!sp->o.log_every_ms) sp->o.log_every_ms = 10000;
    if (!sp->o.retry_max_ms) sp->o.retry_max_ms = 2000;
    sp->ring = calloc(sp->cap, sizeof *sp->ring);
    if (!sp->ring) abort();
    sp->m_pending = met_gauge("replay_store_pending", "Replay records waiting for the shared store",
                              L("store"));
    sp->m_written = met_counter("replay_store_written_total",
                                "Replay records written to the shared store", L("store"));
    sp->m_dropped =
        met_counter("replay_store_dropped_total",
                    "Replay records dropped: the shared store's buffer was full", L("store"));
    sp->m_errors = met_counter("replay_store_errors_total",
                               "Failed writes to the shared replay store (retried)", L("store"));
    met_set(sp->m_pending, 0, sp->store);
    met_inc(sp->m_dropped, 0, sp->store);
    met_inc(sp->m_errors, 0, sp->store);
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->wake, &ca);
    pthread_cond_init(&sp->idle, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&sp->thread, NULL, spool_main, sp) != 0) abort();
    return sp;
}

size_t replay_spool_push(replay_spool_t *sp, replay_flat_t *rows, size_t n)
{
    size_t dropped = 0;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < n; i++) {
        if (sp->closing || sp->len == sp->cap) {
            replay_flat_deinit(&rows[i]);
            dropped++;
            continue;
        }
        sp->ring[(sp->head + sp->len) % sp->cap] = rows[i];
        memset(&rows[i], 0, sizeof rows[i]);
        sp->len++;
    }
    sp->dropped += dropped;
    if (dropped) met_inc(sp->m_dropped, (double)dropped, sp->store);
    met_set(sp->m_pending, (double)sp->len, sp->store);
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
    return dropped;
}

void replay_spool_stats(replay_spool_t *sp, replay_spool_stats_t *o)
{
    pthread_mutex_lock(&sp->mu);
    o->written = sp->written;
    o->dropped = sp->dropped;
    o->errors = sp->errors;
    o->pending = sp->len;
    o->is_down = sp->is_down;
    pthread_mutex_unlock(&sp->mu);
}

bool replay_spool_wait(replay_spool_t *sp, uint64_t deadline_ms)
{
    struct timespec ts;
    abs_in(&ts, deadline_ms);
    pthread_mutex_lock(&sp->mu);
    pthread_cond_signal(&sp->wake);
    int rc = 0;
    while ((sp->len || sp->busy) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&sp->idle, &sp->mu, &ts);
    bool ok = !sp->len && !sp->busy;
    pthread_mutex_unlock(&sp->mu);
    return ok;
}

void replay_spool_free(replay_spool_t *sp, uint64_t deadline_ms)
{
    if (!sp) return;
    pthread_mutex_lock(&sp->mu);
    sp->closing = true;
    sp->deadline_ms = clock_mono_ms() + deadline_ms;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->thread, NULL);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->wake);
    pthread_cond_destroy(&sp->idle);
    free(sp->ring);
    free(sp->store);
    free(sp);
}

/* ---- the shared stores' base (replay_spooled_t) ------------------------ */

void replay_spooled_init(replay_spooled_t *s, const replay_store_ops_t *ops,
                         const replay_config_t *c, int64_t buffer_records,
                         replay_spool_sink_fn sink, void (*release)(replay_spooled_t *s))
{
    replay_store_base_init(&s->base, ops, c);
    pthread_mutex_init(&s->rmu, NULL);
    s->release = release;
    if (c->read_only) return;
    replay_spool_opts_t so = {.store = ops->name,
                              .capacity = buffer_records > 0 ? (size_t)buffer_records : 10000,
                              .sink = sink,
                              .ud = s};
    s->spool = replay_spool_new(&so);
}

void replay_spooled_close(replay_store_t *bs)
{
    replay_spooled_t *s = (replay_spooled_t *)bs;
    replay_spool_free(s->spool, 2000);
    s->release(s);
    pthread_mutex_destroy(&s->rmu);
    replay_store_base_deinit(bs);
    free(s);
}

int replay_spooled_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err)
{
    replay_spooled_t *s = (replay_spooled_t *)bs;
    if (!s->spool) {
        if (err) buf_printf(err, "the %s replay store was opened read-only", bs->ops->name);
        return REPLAY_EINVAL;
    }
    replay_flat_t rows[64];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < 64 && i < n; k++, i++)
            replay_flat_from_record(&rows[k], recs[i]);
        replay_spool_push(s->spool, rows, k);
    }
    return REPLAY_OK;
}

bool replay_spooled_flush(replay_store_t *bs, uint64_t deadline_ms)
{
    replay_spooled_t *s = (replay_spooled_t *)bs;
    return !s->spool || replay_spool_wait(s->spool, deadline_ms);
}

void replay_spooled_stats(replay_store_t *bs, replay_spool_stats_t *out)
{
    replay_spooled_t *s = (replay_spooled_t *)bs;
    if (s->spool) replay_spool_stats(s->spool, out);
}
