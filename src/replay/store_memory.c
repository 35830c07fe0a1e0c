/* store_memory.c - the in-process replay store (SPEC §9.9): a ring buffer of
 * max_records slots (10000 when max_records is 0); a new record overwrites
 * the oldest written one. The sweep drops records past ttl_seconds. Gone when
 * the process exits; the CLI cannot read it (use the management API). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "replay/registry.h"
#include "replay/store.h"

typedef struct {
    bool used;
    uint64_t created_at_ms;
    int64_t turn;
    bool switched;
    char *id, *session_id, *decision, *model, *reason, *phase, *json, *bodies;
} mem_slot_t;

typedef struct {
    replay_store_t base;
    mem_slot_t *slots;
    size_t cap, next; /* next: slot the next write goes to */
    pthread_mutex_t mu;
} mem_store_t;

static char *dup_or_null(const char *s)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static void slot_clear(mem_slot_t *x)
{
    free(x->id);
    free(x->session_id);
    free(x->decision);
    free(x->model);
    free(x->reason);
    free(x->phase);
    free(x->json);
    free(x->bodies);
    memset(x, 0, sizeof *x);
}

static int mem_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err)
{
    mem_store_t *s = (mem_store_t *)bs;
    buf_t js = BUF_INIT, bod = BUF_INIT;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        const replay_record_t *r = recs[i];
        mem_slot_t *x = &s->slots[s->next];
        s->next = (s->next + 1) % s->cap;
        slot_clear(x);
        buf_reset(&js);
        replay_record_render(r, false, &js);
        x->used = true;
        x->created_at_ms = r->created_at_ms;
        x->id = dup_or_null(r->id);
        x->decision = dup_or_null(r->decision);
        x->model = dup_or_null(r->model);
        if (r->has_session) {
            x->session_id = dup_or_null(r->session.id);
            x->reason = dup_or_null(r->session.reason);
            x->phase = dup_or_null(r->session.phase);
            x->turn = r->session.turn;
            x->switched = r->session.switched;
        }
        x->json = buf_steal(&js);
        if (r->request_body || r->response_body) {
            buf_reset(&bod);
            replay_record_render_bodies(r, &bod);
            x->bodies = buf_steal(&bod);
        }
    }
    pthread_mutex_unlock(&s->mu);
    buf_free(&js);
    buf_free(&bod);
    return REPLAY_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    const mem_slot_t *x = *(const mem_slot_t *const *)a, *y = *(const mem_slot_t *const *)b;
    return -replay_row_cmp(x->created_at_ms, x->id, y->created_at_ms, y->id);
}

static replay_row_t slot_row(const mem_slot_t *x)
{
    replay_row_t r = {.id = x->id,
                      .created_at_ms = x->created_at_ms,
                      .session_id = x->session_id,
                      .decision = x->decision,
                      .model = x->model,
                      .reason = x->reason,
                      .phase = x->phase,
                      .turn = x->turn,
                      .switched = x->switched,
                      .json = x->json,
                      .bodies_json = x->bodies};
    return r;
}

static int mem_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                    buf_t *err)
{
    mem_store_t *s = (mem_store_t *)bs;
    pthread_mutex_lock(&s->mu);
    const mem_slot_t **idx = malloc((s->cap ? s->cap : 1) * sizeof *idx);
    size_t n = 0;
    if (!idx) abort();
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].used) continue;
        replay_row_t r = slot_row(&s->slots[i]);
        if (replay_filter_match(f, &r)) idx[n++] = &s->slots[i];
    }
    qsort(idx, n, sizeof *idx, cmp_desc);
    /* The callback runs under the store mutex: it must not call back into
     * this store (query.c only copies rows out). */
    for (size_t i = 0; i < n; i++) {
        if (f->limit && i >= f->limit) break;
        replay_row_t r = slot_row(idx[i]);
        if (!cb(ctx, &r)) break;
    }
    pthread_mutex_unlock(&s->mu);
    free((void *)idx);
    return REPLAY_OK;
}

static int mem_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    mem_store_t *s = (mem_store_t *)bs;
    *removed = 0;
    if (bs->cfg.ttl_seconds <= 0 || now_ms <= (uint64_t)bs->cfg.ttl_seconds * 1000)
        return REPLAY_OK;
    uint64_t cut = now_ms - (uint64_t)bs->cfg.ttl_seconds * 1000;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].used && s->slots[i].created_at_ms < cut) {
            slot_clear(&s->slots[i]);
            (*removed)++;
        }
    pthread_mutex_unlock(&s->mu);
    return REPLAY_OK;
}

static void mem_close(replay_store_t *bs)
{
    mem_store_t *s = (mem_store_t *)bs;
    for (size_t i = 0; i < s->cap; i++)
        slot_clear(&s->slots[i]);
    free(s->slots);
    pthread_mutex_destroy(&s->mu);
    replay_store_base_deinit(bs);
    free(s);
}

static const replay_store_ops_t MEM_OPS = {.name = "memory",
                                           .open = replay_store_memory_open,
                                           .write = mem_write,
                                           .scan = mem_scan,
                                           .sweep = mem_sweep,
                                           .close = mem_close};

replay_store_t *replay_store_memory_open(const replay_config_t *c, buf_t *err)
{
    if (c->read_only) {
        if (err) {
            buf_reset(err);
            buf_puts(err, "the memory replay store lives inside the running server; query it "
                          "through the management API (GET /v1/router_replay)");
        }
        return NULL;
    }
    mem_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    replay_store_base_init(&s->base, &MEM_OPS, c);
    s->cap = c->max_records > 0 ? (size_t)c->max_records : 10000;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) abort();
    pthread_mutex_init(&s->mu, NULL);
    return &s->base;
}

/* The registry entry (registry.h). */
const cfg_store_backend_t replay_memory_store = {.name = "memory", .ops.replay = &MEM_OPS};
