/* fetch_embed.c - the remote embedder's calls on a worker's loop
 * (embed_async.h): per request, the texts its similarity families read are
 * looked up in the shared LRU, the rest queued; the queue of a worker goes
 * upstream as one POST /embeddings per batch_max texts: with
 * batch_window_ms 0 (the default) at once while fewer than
 * FETCH_EMB_INFLIGHT_MAX calls are in flight, else when a call ends (the
 * texts gathered meanwhile share the call); with a window, when it ends.
 * Fetches are malloc'd and reference-counted so that a reply arriving
 * after a request's deadline (or after the request ended) finds live
 * memory; it still fills the cache while a waiting request keeps the
 * config generation (and so the embedder) alive. */
#include "route/fetch.h"
#include "http/upstream.h"
#include "signals/embed_async.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "kv/breaker.h"
#include "signals/bank.h"
#include "signals/classify.h"
#include "signals/family.h"
#include "plugins/response_cache.h"
#include "select/select.h"
#include "signals/similarity.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define EMB_BACKEND   "embeddings"
#define EMB_MAX_TEXTS 32  /* per request: query, history turns, router_dc cards */
#define EMB_MAX_BANK  256 /* plus the texts of banks whose build failed */
#define EMB_CAP       (EMB_MAX_TEXTS + EMB_MAX_BANK)

typedef struct emb_fetch {
    int refs;
    bool finished;
    sig_emb_client_t *c;
    emb_t *emb;
    int dims;
    size_t n, cap, pending;
    char **texts;
    size_t *lens;
    uint64_t *keys;
    float *vecs;
    bool *have;
    const char *why, *outcome;
    struct event *timer;
    uint64_t t0;
    uint32_t queue_us, call_us, batch_texts, cached; /* sig_emb_results_t's timings */
    arena_t *a;
    sig_emb_results_t *out;
    void (*done)(void *ud);
    void *ud;
} emb_fetch_t;

typedef struct emb_item {
    emb_fetch_t *f;
    size_t slot;
} emb_item_t;

typedef struct emb_batch emb_batch_t;
struct emb_batch {
    sig_emb_client_t *c;
    emb_t *emb;
    hup_call_t *call;
    emb_item_t *items;
    size_t n;
    buf_t head, body, resp;
    struct iovec iov;
    char host[256];
    int status;
    bool probe;
    uint64_t started_us, ended_us; /* clock_mono_us: the call started, its reply arrived */
    emb_batch_t *prev, *next;
};

struct sig_emb_client {
    struct event_base *base;
    hup_pools_t *pools;
    kv_breaker_t brk;
    emb_item_t *q;
    size_t qn, qcap;
    emb_t *q_emb;
    struct event *flush_ev;
    bool flush_armed;
    emb_batch_t *inflight;
    size_t n_inflight;
};

static void fetch_unref(emb_fetch_t *f)
{
    if (--f->refs) return;
    for (size_t i = 0; i < f->n; i++)
        free(f->texts[i]);
    free(f->texts);
    free(f->lens);
    free(f->keys);
    free(f->vecs);
    free(f->have);
    free(f);
}

/* Deadline or every vector in: copy what arrived into the request. */
static void on_fetch_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    emb_fetch_t *f = ud;
    f->finished = true;
    sig_emb_results_t *o = f->out;
    size_t d = (size_t)f->dims;
    bool all = true;
    for (size_t i = 0; i < f->n; i++) {
        if (!f->have[i]) {
            all = false;
            continue;
        }
        float *v = arena_alloc(f->a, sizeof(float) * d);
        memcpy(v, f->vecs + i * d, sizeof(float) * d);
        o->vecs[i] = v;
    }
    if (!all && !f->why) {
        f->why = "embedding_timeout";
        f->outcome = "timeout";
    }
    o->why = all ? NULL : f->why;
    o->outcome = all ? "ok" : f->outcome;
    o->latency_us = (uint32_t)(clock_mono_us() - f->t0);
    o->queue_us = f->queue_us;
    o->call_us = f->call_us;
    o->batch_texts = f->batch_texts;
    o->cached = f->cached;
    fetch_backend_count(EMB_BACKEND, o->outcome);
    event_free(f->timer);
    f->timer = NULL;
    void (*done)(void *) = f->done;
    void *dud = f->ud;
    fetch_unref(f);
    done(dud);
}

static void fetch_settle(emb_fetch_t *f)
{
    if (f->finished || --f->pending) return;
    evtimer_del(f->timer); /* the deadline; done later in this loop turn */
    event_active(f->timer, EV_TIMEOUT, 1);
}

static void fetch_fail(emb_fetch_t *f, const char *why, const char *outcome)
{
    if (f->finished) return;
    if (!f->why) {
        f->why = why;
        f->outcome = outcome;
    }
    fetch_settle(f);
}

/* ------------------------------------------------------------ batches */

/* Does a request still wait on the batch? While one does, it holds the
 * config generation, so the embedder is alive; else it may be gone. */
static bool batch_alive(const emb_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (!b->items[i].f->finished) return true;
    return false;
}

/* The call ended: outcome "ok" with vecs (b->n rows; NULL when nobody
 * waits any more), or a failure with its reason. */
static void batch_end(emb_batch_t *b, const char *why, const char *outcome, const float *vecs)
{
    sig_emb_client_t *c = b->c;
    bool ok = !strcmp(outcome, "ok");
    bool alive = batch_alive(b);
    size_t d = alive ? (size_t)emb_dims(b->emb) : 0;
    if (vecs && alive)
        for (size_t i = 0; i < b->n; i++) {
            emb_fetch_t *f = b->items[i].f;
            size_t s = b->items[i].slot;
            emb_openai_cache_put(b->emb, f->texts[s], f->lens[s], vecs + i * d);
        }
    if (alive) emb_openai_count(b->emb, !ok);
    uint64_t now_us = b->ended_us ? b->ended_us : clock_mono_us();
    for (size_t i = 0; i < b->n; i++) {
        emb_fetch_t *f = b->items[i].f;
        size_t s = b->items[i].slot;
        if (!f->finished && b->started_us) { /* the timings of the call it waited on */
            uint32_t q = (uint32_t)(b->started_us - f->t0), cu = (uint32_t)(now_us - b->started_us);
            if (q > f->queue_us) f->queue_us = q;
            if (cu > f->call_us) {
                f->call_us = cu;
                f->batch_texts = (uint32_t)b->n;
            }
        }
        if (vecs && !f->finished) {
            memcpy(f->vecs + s * d, vecs + i * d, sizeof(float) * d);
            f->have[s] = true;
            fetch_settle(f);
        } else if (!ok) {
            fetch_fail(f, why, outcome);
        }
        fetch_unref(f);
    }
    uint64_t now = clock_mono_ms();
    if (ok)
        kv_breaker_success(&c->brk, b->probe, now);
    else if (strcmp(outcome, "circuit_open"))
        kv_breaker_failure(&c->brk, b->probe, now);
    if (b->prev || c->inflight == b) {
        if (b->prev)
            b->prev->next = b->next;
        else
            c->inflight = b->next;
        if (b->next) b->next->prev = b->prev;
        c->n_inflight--;
        if (c->qn && !c->flush_armed && emb_openai_conf(c->q_emb)->batch_window_ms <= 0) {
            c->flush_armed = true; /* a slot is free: the gathered texts go later in this turn */
            event_active(c->flush_ev, EV_TIMEOUT, 1);
        }
    }
    buf_free(&b->head);
    buf_free(&b->body);
    buf_free(&b->resp);
    free(b->items);
    free(b);
}

static void cb_headers(void *ud, int status, const hsrv_header_t *h, size_t n, int64_t cl)
{
    (void)h;
    (void)n;
    (void)cl;
    ((emb_batch_t *)ud)->status = status;
}

static void cb_body(void *ud, const char *data, size_t len)
{
    emb_batch_t *b = ud;
    if (b->resp.len + len <= (64u << 20)) buf_append(&b->resp, data, len);
}

static void cb_done(void *ud)
{
    emb_batch_t *b = ud;
    b->call = NULL;
    b->ended_us = clock_mono_us(); /* before parsing: the call's own time */
    if (b->status < 200 || b->status > 299)
        return batch_end(b, "embedding_http_error", "http_error", NULL);
    if (!batch_alive(b)) return batch_end(b, NULL, "ok", NULL); /* the embedder may be gone */
    float *v = malloc(sizeof(float) * (size_t)emb_dims(b->emb) * b->n);
    if (!v) abort();
    emb_status_t st =
        emb_openai_parse(b->emb, b->resp.data ? b->resp.data : "", b->resp.len, b->n, v);
    if (st == EMB_OK)
        batch_end(b, NULL, "ok", v);
    else
        batch_end(b, st == EMB_ERR_DIMENSIONS ? "embedding_dimensions" : "embedding_bad_response",
                  "bad_response", NULL);
    free(v);
}

static void cb_error(void *ud, hup_error_t err, bool got_response)
{
    (void)got_response;
    emb_batch_t *b = ud;
    b->call = NULL;
    b->ended_us = clock_mono_us();
    bool timeout = err == HUP_ERR_TIMEOUT_CONNECT || err == HUP_ERR_TIMEOUT_FIRST_BYTE ||
                   err == HUP_ERR_TIMEOUT_IDLE;
    if (timeout)
        batch_end(b, "embedding_timeout", "timeout", NULL);
    else if (err == HUP_ERR_CONNECT)
        batch_end(b, "embedding_unreachable", "unreachable", NULL);
    else
        batch_end(b, "embedding_unavailable", "error", NULL);
}

static const hup_callbacks_t emb_callbacks = {
    .on_headers = cb_headers, .on_body = cb_body, .on_done = cb_done, .on_error = cb_error};

/* One upstream call for items [0, n) (ownership of items passes to it). */
static void batch_start(sig_emb_client_t *c, emb_t *emb, emb_item_t *items, size_t n)
{
    emb_batch_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->c = c;
    b->emb = emb;
    b->items = items;
    b->n = n;
    const emb_openai_conf_t *k = emb_openai_conf(emb);
    bool tls;
    int port;
    const char *path;
    if (fetch_url_parse(k->url, &tls, b->host, sizeof b->host, &port, &path) != 0)
        return batch_end(b, "embedding_unavailable", "error", NULL);
    kv_brk_admit_t adm = kv_breaker_admit(&c->brk, clock_mono_ms());
    if (adm == KV_BRK_DENY) return batch_end(b, "embedding_circuit_open", "circuit_open", NULL);
    b->probe = adm == KV_BRK_PROBE;
    size_t want = strlen(k->model) + 64; /* the body's size at once (escapes aside) */
    for (size_t i = 0; i < n; i++)
        want += items[i].f->lens[items[i].slot] + 3;
    buf_reserve(&b->body, want);
    buf_puts(&b->body, "{\"model\":");
    buf_json_str(&b->body, k->model, strlen(k->model));
    if (k->want_dims > 0) fetch_put_u(&b->body, ",\"dimensions\":", (uint64_t)k->want_dims);
    buf_puts(&b->body, ",\"input\":[");
    for (size_t i = 0; i < n; i++) {
        emb_fetch_t *f = items[i].f;
        if (i) buf_putc(&b->body, ',');
        buf_json_str(&b->body, f->texts[items[i].slot], f->lens[items[i].slot]);
    }
    buf_puts(&b->body, "]}");
    fetch_put_head(&b->head, path, b->host, port, b->body.len);
    if (k->auth_header) buf_printf(&b->head, "%s\r\n", k->auth_header);
    buf_puts(&b->head, "\r\n");
    b->iov.iov_base = b->body.data;
    b->iov.iov_len = b->body.len;
    uint64_t to = (uint64_t)k->timeout_ms;
    hup_request_t r = {.host = b->host,
                       .port = port,
                       .tls = tls,
                       .head = b->head.data,
                       .head_len = b->head.len,
                       .body = &b->iov,
                       .n_body = 1,
                       .connect_timeout_ms = to,
                       .first_byte_timeout_ms = to,
                       .idle_timeout_ms = to};
    b->started_us = clock_mono_us();
    b->call = hup_call_start(c->pools, &r, &emb_callbacks, b);
    if (!b->call) b->started_us = 0;
    if (!b->call) return batch_end(b, "embedding_unavailable", "error", NULL);
    b->next = c->inflight;
    if (b->next) b->next->prev = b;
    c->inflight = b;
    c->n_inflight++;
}

/* Send the gather queue: one call per batch_max texts. */
static void flush(sig_emb_client_t *c)
{
    c->flush_armed = false;
    evtimer_del(c->flush_ev);
    if (!c->qn) return;
    emb_t *emb = c->q_emb;
    size_t per = (size_t)emb_openai_conf(emb)->batch_max;
    for (size_t at = 0; at < c->qn; at += per) {
        size_t m = c->qn - at < per ? c->qn - at : per;
        emb_item_t *items = malloc(sizeof *items * m);
        if (!items) abort();
        memcpy(items, c->q + at, sizeof *items * m);
        batch_start(c, emb, items, m);
    }
    c->qn = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    flush(ud);
}

static void enqueue(sig_emb_client_t *c, emb_fetch_t *f, size_t slot)
{
    if (c->qn && c->q_emb != f->emb) flush(c); /* a reload changed the embedder */
    if (c->qn == c->qcap) {
        c->qcap = c->qcap ? c->qcap * 2 : 64;
        c->q = realloc(c->q, sizeof *c->q * c->qcap);
        if (!c->q) abort();
    }
    f->refs++;
    c->q_emb = f->emb;
    c->q[c->qn++] = (emb_item_t){f, slot};
    const emb_openai_conf_t *k = emb_openai_conf(f->emb);
    if (c->qn >= (size_t)k->batch_max) return flush(c);
    if (!c->flush_armed && k->batch_window_ms > 0) {
        c->flush_armed = true;
        struct timeval tv = {k->batch_window_ms / 1000, (k->batch_window_ms % 1000) * 1000};
        evtimer_add(c->flush_ev, &tv);
    }
}

/* A request queued its texts. With batch_window_ms 0: at once while fewer
 * than FETCH_EMB_INFLIGHT_MAX calls are in flight, else they wait for a
 * call to end (batch_end) and go then with every text gathered meanwhile. */
static void kick(sig_emb_client_t *c)
{
    if (!c->qn || emb_openai_conf(c->q_emb)->batch_window_ms > 0) return;
    if (c->n_inflight < FETCH_EMB_INFLIGHT_MAX) flush(c);
}

/* ------------------------------------------------------------ client */

sig_emb_client_t *fetch_emb_client_new(struct event_base *base, hup_pools_t *pools)
{
    sig_emb_client_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->base = base;
    c->pools = pools;
    c->flush_ev = evtimer_new(base, on_flush, c);
    /* 5 failures in a row open it for 5 s (jittered 20 %), as for classifiers */
    kv_breaker_init(&c->brk, 5, 5000, 20, (uint64_t)(uintptr_t)c ^ clock_mono_us());
    return c;
}

void fetch_emb_client_free(sig_emb_client_t *c)
{
    if (!c) return;
    while (c->inflight) {
        emb_batch_t *b = c->inflight;
        if (b->call) hup_call_cancel(b->call);
        b->call = NULL;
        batch_end(b, "embedding_unavailable", "error", NULL);
    }
    for (size_t i = 0; i < c->qn; i++)
        fetch_unref(c->q[i].f);
    free(c->q);
    if (c->flush_ev) event_free(c->flush_ev);
    free(c);
}

/* Does a family the recipe uses read vectors? Jailbreak rules do only in
 * the contrastive and hybrid methods. */
static bool uses_similarity(const sig_engine_t *e, const cfg_recipe_t *r)
{
    static const cfg_signal_family_t fams[] = {
        CFG_SIG_EMBEDDING,  CFG_SIG_DOMAIN, CFG_SIG_COMPLEXITY, CFG_SIG_KB,
        CFG_SIG_PREFERENCE, CFG_SIG_REASK,  CFG_SIG_FACT_CHECK, CFG_SIG_USER_FEEDBACK};
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++)
        if (sig_recipe_uses(e, r, fams[i])) return true;
    if (!sig_recipe_uses(e, r, CFG_SIG_JAILBREAK)) return false;
    for (size_t i = 0; i < r->n_signals; i++) {
        const char *m = r->signals[i].method;
        if (r->signals[i].family == CFG_SIG_JAILBREAK &&
            (!m || !strcmp(m, "hybrid") || !strcmp(m, "contrastive")))
            return true;
    }
    return false;
}

static bool is_router_dc(const cfg_decision_t *d)
{
    return d->algorithm && !strcmp(d->algorithm, "router_dc");
}

/* Does a decision of the recipe select with router_dc, or cache responses
 * semantically (the response_cache plugin in mode semantic or
 * exact_then_semantic)? Their query vectors are fetched here too, so that
 * neither embeds on the worker later (route_embedder_nonblocking). */
static bool uses_selector_vectors(const cfg_recipe_t *r)
{
    for (size_t i = 0; i < r->n_decisions; i++) {
        const cfg_decision_t *d = &r->decisions[i];
        if (is_router_dc(d)) return true;
        for (size_t k = 0; k < d->n_plugins; k++) {
            if (!d->plugins[k].type || strcmp(d->plugins[k].type, "response_cache")) continue;
            rc_conf_t rc;
            rc_conf_read(d->plugins[k].configuration, &rc);
            if (rc.mode != RC_MODE_EXACT) return true;
        }
    }
    return false;
}

bool fetch_emb_needed(const sig_engine_t *e, const cfg_recipe_t *recipe)
{
    const sig_sim_t *s = e && recipe ? sig_sim_of(e) : NULL;
    return s && emb_openai_conf(s->emb) &&
           (uses_similarity(e, recipe) || uses_selector_vectors(recipe));
}

int fetch_emb_vector(emb_t *emb, const sig_emb_results_t *pre, const char *text, size_t len,
                     float *out)
{
    if (!emb_openai_conf(emb)) return emb_embed(emb, text, len, out) == EMB_OK ? 0 : -1;
    int dims = emb_dims(emb);
    if (dims <= 0) return -1;
    char *buf = malloc(len > 8 * SIG_WINDOW_CPS ? 8 * SIG_WINDOW_CPS + 2 : len + 1);
    if (!buf) abort();
    const char *w;
    size_t wn = sig_query_window(text, len, buf, &w);
    const char *why = NULL;
    const float *v = pre && pre->n ? sig_emb_lookup(pre, w, wn, &why) : NULL;
    int rc = 0;
    if (v)
        memcpy(out, v, sizeof(float) * (size_t)dims);
    else if (!emb_openai_cache_get(emb, w, wn, out))
        rc = -1; /* not fetched: never a blocking call here */
    free(buf);
    return rc;
}

/* How many earlier user turns the recipe compares with the query. */
static size_t history_needed(const sig_engine_t *e, const cfg_recipe_t *r)
{
    size_t need = 0;
    for (size_t i = 0; i < r->n_signals; i++) {
        const cfg_signal_t *g = &r->signals[i];
        if (!sig_recipe_uses(e, r, g->family)) continue;
        if (g->family == CFG_SIG_REASK) {
            size_t lb = g->lookback_turns > 0 ? (size_t)g->lookback_turns : 1;
            if (lb > need) need = lb;
        } else if (g->family == CFG_SIG_JAILBREAK && g->include_history) {
            need = EMB_MAX_TEXTS;
        }
    }
    return need;
}

/* Room for one more text: the arrays start small and double (a fixed
 * EMB_CAP-sized set was four 2.3 KB callocs per request, each a large
 * malloc that consolidates the allocator's fast bins). */
static void fetch_grow(emb_fetch_t *f)
{
    size_t cap = f->cap ? f->cap * 2 : 4;
    if (cap > EMB_CAP) cap = EMB_CAP;
    f->texts = realloc(f->texts, cap * sizeof *f->texts);
    f->lens = realloc(f->lens, cap * sizeof *f->lens);
    f->keys = realloc(f->keys, cap * sizeof *f->keys);
    f->have = realloc(f->have, cap * sizeof *f->have);
    if (!f->texts || !f->lens || !f->keys || !f->have) abort();
    memset(f->have + f->cap, 0, (cap - f->cap) * sizeof *f->have);
    f->cap = cap;
}

static void add_text(emb_fetch_t *f, const char *s, size_t n)
{
    if (f->n >= EMB_CAP) return;
    char *buf = malloc(n > 8 * SIG_WINDOW_CPS ? 8 * SIG_WINDOW_CPS + 2 : n + 1);
    if (!buf) abort();
    const char *w;
    size_t wn = sig_query_window(s, n, buf, &w);
    if (w != buf) memcpy(buf, w, wn);
    buf[wn] = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->lens[i] == wn && !memcmp(f->texts[i], buf, wn)) {
            free(buf);
            return;
        }
    if (f->n == f->cap) fetch_grow(f);
    f->texts[f->n] = buf;
    f->lens[f->n] = wn;
    f->keys[f->n] = hash_xxh64(buf, wn, (uint64_t)wn);
    f->n++;
}

static void add_bank_text(void *ud, const char *t, size_t n)
{
    add_text(ud, t, n);
}

/* router_dc's query (the request's query text) and the card texts of
 * every router_dc decision's models; the semantic cache's query is the
 * latest user text, fetched above. Cards already in the LRU cost no call. */
static void add_selector_texts(emb_fetch_t *f, const sig_engine_t *e, const cfg_recipe_t *r,
                               rq_t *rq, arena_t *a)
{
    bool dc = false;
    for (size_t i = 0; i < r->n_decisions; i++) {
        const cfg_decision_t *d = &r->decisions[i];
        if (!is_router_dc(d)) continue;
        dc = true;
        for (size_t k = 0; k < d->n_model_refs; k++) {
            char *t = sel_router_dc_card_text(a, sig_engine_cfg(e), d, d->model_refs[k].model);
            if (t) add_text(f, t, strlen(t));
        }
    }
    size_t ql = 0;
    const char *q = dc ? rq_query(rq, &ql) : NULL;
    if (q && ql) add_text(f, q, ql);
}

bool fetch_embed(sig_emb_client_t *c, const sig_engine_t *e, const cfg_recipe_t *recipe, rq_t *rq,
                 uint64_t deadline_ms, arena_t *a, sig_emb_results_t *out, void (*done)(void *ud),
                 void *ud)
{
    memset(out, 0, sizeof *out);
    if (!c || !fetch_emb_needed(e, recipe)) return false;
    emb_t *emb = sig_sim_of(e)->emb;
    emb_fetch_t *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->refs = 1;
    f->c = c;
    f->emb = emb;
    f->dims = emb_dims(emb);
    f->a = a;
    f->out = out;
    f->done = done;
    f->ud = ud;
    f->t0 = clock_mono_us();
    out->t0_us = f->t0;
    fetch_grow(f);
    sig_ctx_t cx = {.e = e, .recipe = recipe, .rq = rq, .a = a};
    sig_text_t q = sig_ctx_query(&cx);
    add_text(f, q.s, q.n);
    size_t need = history_needed(e, recipe);
    const size_t *idx;
    size_t nh = sig_ctx_history(&cx, &idx);
    for (size_t k = 0; k < need && k < nh && f->n < EMB_MAX_TEXTS; k++) {
        sig_text_t t = sig_ctx_msg(&cx, idx[nh - 1 - k]);
        add_text(f, t.s, t.n);
    }
    add_selector_texts(f, e, recipe, rq, a);
    /* banks whose build failed: their texts join the fetch, so the next
     * use builds them from the cache (signals/bank.h) */
    sig_bank_unready_texts(emb, add_bank_text, f, EMB_MAX_BANK);
    out->n = f->n;
    out->asked = (uint32_t)f->n;
    out->keys = arena_alloc(a, sizeof *out->keys * f->n);
    out->lens = arena_alloc(a, sizeof *out->lens * f->n);
    out->vecs = arena_calloc(a, sizeof *out->vecs * f->n);
    memcpy(out->keys, f->keys, sizeof *out->keys * f->n);
    memcpy(out->lens, f->lens, sizeof *out->lens * f->n);
    f->timer = evtimer_new(c->base, on_fetch_timer, f);
    if (!f->dims) {                  /* the dimension probe at load failed: nothing to ask yet */
        emb_openai_probe_async(emb); /* again, on its own thread (at most once a second) */
        f->why = "embedding_unavailable";
        f->outcome = "error";
        event_active(f->timer, EV_TIMEOUT, 1); /* done later in this loop turn */
        return true;
    }
    f->vecs = malloc(sizeof(float) * (size_t)f->dims * f->n);
    if (!f->vecs) abort();
    for (size_t i = 0; i < f->n; i++)
        f->have[i] =
            emb_openai_cache_get(emb, f->texts[i], f->lens[i], f->vecs + i * (size_t)f->dims);
    for (size_t i = 0; i < f->n; i++)
        f->cached += f->have[i];
    for (size_t i = 0; i < f->n; i++)
        if (!f->have[i]) {
            f->pending++;
            enqueue(c, f, i);
        }
    kick(c);
    if (!f->pending) { /* every vector cached (or failed at once): later in this turn */
        event_active(f->timer, EV_TIMEOUT, 1);
        return true;
    }
    struct timeval tv = {(time_t)(deadline_ms / 1000), (suseconds_t)((deadline_ms % 1000) * 1000)};
    evtimer_add(f->timer, &tv);
    return true;
}
