/* spool.c - the bounded outage buffer and sink thread of the shared replay
 * stores (spool.h), on the shared bounded queue (core/workq.h). Rows wait
 * in the queue's ring; its thread hands a batch from the head to the sink
 * and forgets it only when the sink stored it: a failed batch stays at the
 * head and is retried, in order, after a backoff. Drops happen at push
 * time, when the ring is full, and at close, past the deadline. */
#include "replay/spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/workq.h"
#include "metrics/metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

struct replay_spool {
    replay_spool_opts_t o;
    char *store;
    core_workq_t *wq;
    buf_t err;                         /* the sink's diagnostics (spool thread) */
    uint64_t backoff;                  /* ms; 0 while the sink succeeds (spool thread) */
    bool is_down;                      /* atomic */
    uint64_t written, dropped, errors; /* atomics */
    pthread_mutex_t log_mu;            /* drop log lines */
    uint64_t dropped_logged;
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

static size_t pending(replay_spool_t *sp)
{
    return sp->wq ? core_workq_depth(sp->wq) : 0;
}

static void log_drops(replay_spool_t *sp)
{
    pthread_mutex_lock(&sp->log_mu);
    uint64_t d = __atomic_load_n(&sp->dropped, __ATOMIC_RELAXED);
    if (d != sp->dropped_logged) {
        tlog(TLOG_WARN, "replay_store_drops", "\"store\":\"%s\",\"dropped\":%llu,\"total\":%llu",
             sp->store, (unsigned long long)(d - sp->dropped_logged), (unsigned long long)d);
        sp->dropped_logged = d;
    }
    pthread_mutex_unlock(&sp->log_mu);
}

static void set_down(replay_spool_t *sp, bool down, const buf_t *err)
{
    if (down == __atomic_load_n(&sp->is_down, __ATOMIC_RELAXED)) return;
    __atomic_store_n(&sp->is_down, down, __ATOMIC_RELAXED);
    if (down) {
        buf_t e = BUF_INIT;
        buf_json_str(&e, err->data ? err->data : "", err->len);
        tlog(TLOG_WARN, "replay_store_down", "\"store\":\"%s\",\"error\":%s,\"pending\":%zu",
             sp->store, e.data, pending(sp));
        buf_free(&e);
    } else {
        tlog(TLOG_INFO, "replay_store_recovered", "\"store\":\"%s\",\"pending\":%zu", sp->store,
             pending(sp));
    }
}

/* A batch to the sink: done (0) or retried after the backoff (100 ms
 * doubling to retry_max_ms). */
static uint64_t sink_batch(void *ud, void *items, size_t n)
{
    replay_spool_t *sp = ud;
    replay_flat_t *rows = items;
    buf_reset(&sp->err);
    int rc = sp->o.sink(sp->o.ud, rows, n, &sp->err);
    if (rc == REPLAY_OK) {
        for (size_t i = 0; i < n; i++)
            replay_flat_deinit(&rows[i]);
        __atomic_add_fetch(&sp->written, n, __ATOMIC_RELAXED);
        met_inc(sp->m_written, (double)n, sp->store);
        set_down(sp, false, &sp->err);
        sp->backoff = 0;
        met_set(sp->m_pending, (double)(pending(sp) - n), sp->store);
        return 0;
    }
    __atomic_add_fetch(&sp->errors, 1, __ATOMIC_RELAXED);
    met_inc(sp->m_errors, 1, sp->store);
    set_down(sp, true, &sp->err);
    sp->backoff = sp->backoff ? sp->backoff * 2 : 100;
    if (sp->backoff > sp->o.retry_max_ms) sp->backoff = sp->o.retry_max_ms;
    return sp->backoff;
}

/* Full, closed, or left at the close deadline. */
static void drop_rows(void *ud, void *items, size_t n, core_workq_why_t why)
{
    replay_spool_t *sp = ud;
    replay_flat_t *rows = items;
    for (size_t i = 0; i < n; i++)
        replay_flat_deinit(&rows[i]);
    __atomic_add_fetch(&sp->dropped, n, __ATOMIC_RELAXED);
    met_inc(sp->m_dropped, (double)n, sp->store);
}

static void tick(void *ud)
{
    log_drops(ud);
}

replay_spool_t *replay_spool_new(const replay_spool_opts_t *o)
{
    replay_spool_t *sp = calloc(1, sizeof *sp);
    if (!sp) abort();
    sp->o = *o;
    sp->store = dup0(o->store ? o->store : "shared");
    if (!sp->o.batch) sp->o.batch = 256;
    if (!sp->o.log_every_ms) sp->o.log_every_ms = 10000;
    if (!sp->o.retry_max_ms) sp->o.retry_max_ms = 2000;
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
    pthread_mutex_init(&sp->log_mu, NULL);
    core_workq_opts_t wo = {.name = "replay-spool",
                            .item_size = sizeof(replay_flat_t),
                            .capacity = o->capacity ? o->capacity : 10000,
                            .batch = sp->o.batch,
                            .tick_ms = sp->o.log_every_ms,
                            .handle = sink_batch,
                            .tick = tick,
                            .drop = drop_rows,
                            .ud = sp};
    sp->wq = core_workq_new(&wo);
    return sp;
}

size_t replay_spool_push(replay_spool_t *sp, replay_flat_t *rows, size_t n)
{
    size_t dropped = core_workq_push(sp->wq, rows, n);
    memset(rows, 0, n * sizeof *rows); /* moved (or freed, when dropped) */
    met_set(sp->m_pending, (double)pending(sp), sp->store);
    return dropped;
}

void replay_spool_stats(replay_spool_t *sp, replay_spool_stats_t *o)
{
    o->written = __atomic_load_n(&sp->written, __ATOMIC_RELAXED);
    o->dropped = __atomic_load_n(&sp->dropped, __ATOMIC_RELAXED);
    o->errors = __atomic_load_n(&sp->errors, __ATOMIC_RELAXED);
    o->pending = pending(sp);
    o->is_down = __atomic_load_n(&sp->is_down, __ATOMIC_RELAXED);
}

bool replay_spool_wait(replay_spool_t *sp, uint64_t deadline_ms)
{
    return core_workq_flush(sp->wq, deadline_ms);
}

void replay_spool_free(replay_spool_t *sp, uint64_t deadline_ms)
{
    if (!sp) return;
    core_workq_free(sp->wq, deadline_ms);
    sp->wq = NULL;
    met_set(sp->m_pending, 0, sp->store);
    log_drops(sp);
    pthread_mutex_destroy(&sp->log_mu);
    buf_free(&sp->err);
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
