/* fetch_classify.c - the asynchronous calls of classify.h: one HTTP call per
 * classifier a request needs (vLLM /classify, /pooling or /score, or a guard
 * model's chat completions), started together on the worker's loop through
 * the upstream client (http/upstream.h), one deadline timer for all of them,
 * a circuit breaker per classifier name (kv/breaker.h) and the metric
 * tether_signal_backend_total{backend,outcome}. /classify and /pooling
 * calls of concurrent requests may share one upstream call
 * (fetch_classify_batch.c). Replies are parsed by classify_parse.c;
 * families read the outcomes through sig_cls_lookup. */
#include "route/fetch.h"
#include "route/fetch_cls.h"
#include "http/upstream.h"
#include "signals/classify.h"
#include "signals/embed_async.h"
#include "core/buf.h"
#include "core/clock.h"
#include "kv/breaker.h"
#include "metrics/metrics.h"
#include "signals/family.h"
#include "signals/signal.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLS_MAX_CHUNKS 8

static met_family_t *backend_total;
static pthread_once_t met_once = PTHREAD_ONCE_INIT;
static void met_init(void)
{
    static const char *const labels[] = {"backend", "outcome", NULL};
    backend_total = met_counter("tether_signal_backend_total",
                                "External classifier and embedder calls by backend (classifier "
                                "name, or embeddings) and outcome (ok, timeout, unreachable, "
                                "error, http_error, bad_response, circuit_open)",
                                labels);
}

sig_cls_client_t *fetch_cls_client_new(struct event_base *base, hup_pools_t *pools)
{
    pthread_once(&met_once, met_init);
    sig_cls_client_t *c = calloc(1, sizeof *c);
    c->base = base;
    c->pools = pools;
    c->emb = fetch_emb_client_new(base, pools);
    return c;
}

void fetch_cls_client_free(sig_cls_client_t *c)
{
    if (!c) return;
    fetch_cls_batches_free(c);
    fetch_emb_client_free(c->emb);
    free(c);
}

sig_emb_client_t *fetch_cls_client_emb(sig_cls_client_t *c)
{
    return c ? c->emb : NULL;
}

void fetch_backend_count(const char *backend, const char *outcome)
{
    pthread_once(&met_once, met_init);
    met_inc(backend_total, 1, backend, outcome);
}

static kv_breaker_t *breaker_of(sig_cls_client_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_brk; i++)
        if (!strcmp(c->brk[i].name, name)) return &c->brk[i].b;
    if (c->n_brk == CLS_MAX_BREAKERS) return NULL;
    cls_breaker_t *b = &c->brk[c->n_brk++];
    snprintf(b->name, sizeof b->name, "%s", name);
    /* 5 failures in a row open it for 5 s (jittered 20 %) */
    kv_breaker_init(&b->b, 5, 5000, 20, (uint64_t)(uintptr_t)b ^ clock_mono_us());
    return &b->b;
}

bool fetch_cls_needed(const sig_engine_t *e, const cfg_recipe_t *recipe)
{
    if (!e || !recipe) return false;
    for (size_t i = 0; i < recipe->n_signals; i++)
        if (recipe->signals[i].classifier && sig_recipe_uses(e, recipe, recipe->signals[i].family))
            return true;
    return false;
}

/* scheme://host[:port][/path] */
int fetch_url_parse(const char *url, bool *tls, char *host, size_t hl, int *port, const char **path)
{
    const char *p;
    if (!strncmp(url, "http://", 7)) {
        *tls = false;
        *port = 80;
        p = url + 7;
    } else if (!strncmp(url, "https://", 8)) {
        *tls = true;
        *port = 443;
        p = url + 8;
    } else {
        return -1;
    }
    size_t n = strcspn(p, ":/");
    if (!n || n >= hl) return -1;
    memcpy(host, p, n);
    host[n] = 0;
    p += n;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (v <= 0 || v > 65535) return -1;
        *port = (int)v;
        p = end;
    }
    *path = *p == '/' ? p : "/";
    return 0;
}

/* The inputs of one classifier: the query, sampled when long, or
 * overlapping chunks (window: chunks) for http_classify. Returns how many. */
static uint32_t put_inputs(const cfg_classifier_t *k, sig_text_t q, buf_t *b)
{
    uint32_t n_in = 1;
    size_t max = k->max_input_chars > 0 ? (size_t)k->max_input_chars : 4000;
    bool chunks = k->window && !strcmp(k->window, "chunks") && q.n > max;
    buf_putc(b, '[');
    if (!chunks) {
        char *w = malloc((q.n < max ? q.n : max) + 16); /* a window is at most that long */
        size_t n = sig_cls_window(q.s, q.n, max, w);
        buf_json_str(b, w, n);
        free(w);
    } else {
        size_t step = max - max / 4, at = 0; /* a quarter overlap */
        for (int c = 0; c < CLS_MAX_CHUNKS && at < q.n; c++, at += step) {
            size_t end = at + max < q.n ? at + max : q.n;
            while (end < q.n && end > at + 1 && ((unsigned char)q.s[end] & 0xC0) == 0x80)
                end--; /* cut on a UTF-8 boundary */
            if (c) buf_putc(b, ',');
            n_in = (uint32_t)c + 1;
            buf_json_str(b, q.s + at, end - at);
            if (end == q.n) break;
            size_t nx = at + step;
            while (nx < q.n && ((unsigned char)q.s[nx] & 0xC0) == 0x80)
                nx++;
            at = nx - step;
        }
    }
    buf_putc(b, ']');
    return n_in;
}

/* http_score: "text_1" the query (sampled when long), "text_2" the text of
 * each label (label_texts, else the labels): one score per label. */
static void put_score_texts(const cfg_classifier_t *k, sig_text_t q, buf_t *b)
{
    size_t max = k->max_input_chars > 0 ? (size_t)k->max_input_chars : 4000;
    char *w = malloc((q.n < max ? q.n : max) + 16); /* a window is at most that long */
    size_t n = sig_cls_window(q.s, q.n, max, w);
    buf_puts(b, "\"text_1\":");
    buf_json_str(b, w, n);
    free(w);
    buf_puts(b, ",\"text_2\":[");
    const cfg_strlist_t *t = k->label_texts.n == k->labels.n ? &k->label_texts : &k->labels;
    for (size_t i = 0; i < k->labels.n; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, t->v[i], strlen(t->v[i]));
    }
    buf_putc(b, ']');
}

static void guard_content(const cfg_classifier_t *k, sig_text_t q, buf_t *b)
{
    size_t max = k->max_input_chars > 0 ? (size_t)k->max_input_chars : 4000;
    char *w = malloc((q.n < max ? q.n : max) + 16); /* a window is at most that long */
    size_t n = sig_cls_window(q.s, q.n, max, w);
    const char *t = k->prompt ? strstr(k->prompt, "{{text}}") : NULL;
    buf_t c = BUF_INIT;
    if (!k->prompt) {
        buf_append(&c, w, n);
    } else if (!t) {
        buf_puts(&c, k->prompt);
        buf_puts(&c, "\n\n");
        buf_append(&c, w, n);
    } else {
        buf_append(&c, k->prompt, (size_t)(t - k->prompt));
        buf_append(&c, w, n);
        buf_puts(&c, t + 8);
    }
    buf_json_str(b, c.data ? c.data : "", c.len);
    buf_free(&c);
    free(w);
}

void fetch_cls_put_body_start(buf_t *b, const cfg_classifier_t *k)
{
    buf_puts(b, "{");
    if (k->model) {
        buf_puts(b, "\"model\":");
        buf_json_str(b, k->model, strlen(k->model));
        buf_putc(b, ',');
    }
    if (k->type && !strcmp(k->type, "http_pooling") && k->task && *k->task) {
        buf_puts(b, "\"task\":");
        buf_json_str(b, k->task, strlen(k->task));
        buf_putc(b, ',');
    }
    buf_puts(b, "\"input\":");
}

void fetch_cls_put_head(buf_t *b, const cfg_classifier_t *k, const char *path, const char *host,
                        int port, size_t body_len)
{
    fetch_put_head(b, path, host, port, body_len);
    if (k->api_key) buf_printf(b, "Authorization: Bearer %s\r\n", k->api_key);
    buf_puts(b, "\r\n");
}

static void fetch_free_call(cls_call_t *k)
{
    buf_free(&k->head);
    buf_free(&k->body);
    buf_free(&k->resp);
}

void fetch_cls_record(cls_call_t *k, const char *outcome, bool ok)
{
    cls_fetch_t *f = k->f;
    sig_cls_out_t *o = &f->out->items[k->idx];
    uint64_t now_us = clock_mono_us();
    o->ok = ok;
    o->outcome = outcome;
    o->latency_us = (uint32_t)(now_us - f->t0);
    if (k->sent_at) {
        o->sent_us = (uint32_t)(k->sent_at - f->t0);
        o->call_us = (uint32_t)((k->ended_at ? k->ended_at : now_us) - k->sent_at);
    }
    met_inc(backend_total, 1, k->k->name, outcome);
    if (!k->brk || !strcmp(outcome, "circuit_open")) return;
    uint64_t now = clock_mono_ms();
    if (ok)
        kv_breaker_success(k->brk, k->probe, now);
    else
        kv_breaker_failure(k->brk, k->probe, now);
}

static void on_deadline(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    cls_fetch_t *f = ud;
    for (size_t i = 0; i < f->n; i++) {
        cls_call_t *k = &f->calls[i];
        if (k->call) {
            hup_call_cancel(k->call);
            k->call = NULL;
            fetch_cls_record(k, "timeout", false);
        } else if (k->queue || k->batch) {
            fetch_cls_withdraw(k);
            fetch_cls_record(k, "timeout", false);
        }
        fetch_free_call(k);
    }
    event_free(f->timer);
    f->done(f->ud);
}

/* The last call ended: finish later in this loop turn, after the events
 * already active (never from inside an upstream callback; not a zero timer,
 * which runs only after the next turn's I/O: at 64 connections on one
 * worker a turn is milliseconds). */
void fetch_cls_ended(cls_call_t *k)
{
    k->call = NULL;
    cls_fetch_t *f = k->f;
    if (--f->pending == 0 && !f->finishing) {
        f->finishing = true;
        evtimer_del(f->timer);
        event_active(f->timer, EV_TIMEOUT, 1);
    }
}

static void cb_headers(void *ud, int status, const hsrv_header_t *h, size_t n, int64_t cl)
{
    (void)h;
    (void)n;
    (void)cl;
    ((cls_call_t *)ud)->status = status;
}

static void cb_body(void *ud, const char *data, size_t len)
{
    cls_call_t *k = ud;
    if (k->resp.len + len <= (1u << 20)) buf_append(&k->resp, data, len);
}

int fetch_cls_parse_own(cls_call_t *k, const char *body, size_t bl)
{
    sig_cls_out_t *o = &k->f->out->items[k->idx];
    const char *t = k->k->type ? k->k->type : "";
    arena_t *a = k->f->a;
    return !strcmp(t, "openai_chat")    ? sig_cls_parse_guard(k->k, body, bl, a, o)
           : !strcmp(t, "http_pooling") ? sig_cls_parse_pooling(k->k, body, bl, a, o)
           : !strcmp(t, "http_score")   ? sig_cls_parse_score(k->k, body, bl, a, o)
                                        : sig_cls_parse_classify(k->k, body, bl, a, o);
}

static void cb_done(void *ud)
{
    cls_call_t *k = ud;
    k->ended_at = clock_mono_us();
    if (k->status < 200 || k->status > 299) {
        fetch_cls_record(k, "http_error", false);
    } else {
        int rc = fetch_cls_parse_own(k, k->resp.data ? k->resp.data : "", k->resp.len);
        fetch_cls_record(k, rc == 0 ? "ok" : "bad_response", rc == 0);
    }
    fetch_cls_ended(k);
}

static void cb_error(void *ud, hup_error_t err, bool got_response)
{
    (void)got_response;
    cls_call_t *k = ud;
    k->ended_at = clock_mono_us();
    bool timeout = err == HUP_ERR_TIMEOUT_CONNECT || err == HUP_ERR_TIMEOUT_FIRST_BYTE ||
                   err == HUP_ERR_TIMEOUT_IDLE;
    fetch_cls_record(k,
                     timeout                  ? "timeout"
                     : err == HUP_ERR_CONNECT ? "unreachable"
                                              : "error",
                     false);
    fetch_cls_ended(k);
}

static const hup_callbacks_t cls_callbacks = {
    .on_headers = cb_headers, .on_body = cb_body, .on_done = cb_done, .on_error = cb_error};

/* Build and start the call of classifier k; false when it could not start
 * (bad URL, open circuit), its outcome then recorded. */
static bool start_call(cls_fetch_t *f, cls_call_t *c, sig_text_t q, uint64_t deadline_ms)
{
    const cfg_classifier_t *k = c->k;
    bool guard = k->type && !strcmp(k->type, "openai_chat");
    char url[1024];
    if (guard) {
        const char *b = k->base_url ? k->base_url : "";
        size_t bl = strlen(b);
        while (bl && b[bl - 1] == '/')
            bl--;
        snprintf(url, sizeof url, "%.*s/chat/completions", (int)bl, b);
    } else {
        /* snprintf's "%s" bytes (truncated alike) without printf */
        const char *ep = k->endpoint ? k->endpoint : "";
        size_t el = strnlen(ep, sizeof url - 1);
        memcpy(url, ep, el);
        url[el] = 0;
    }
    bool tls;
    int port;
    const char *path;
    if (fetch_url_parse(url, &tls, c->host, sizeof c->host, &port, &path) != 0) {
        fetch_cls_record(c, "error", false);
        return false;
    }
    c->brk = breaker_of(f->c, k->name);
    kv_brk_admit_t adm = c->brk ? kv_breaker_admit(c->brk, clock_mono_ms()) : KV_BRK_ALLOW;
    if (adm == KV_BRK_DENY) {
        fetch_cls_record(c, "circuit_open", false);
        return false;
    }
    c->probe = adm == KV_BRK_PROBE;
    c->to_ms = k->timeout_ms > 0 && (uint64_t)k->timeout_ms < deadline_ms ? (uint64_t)k->timeout_ms
                                                                          : deadline_ms;
    {
        /* the body's size at once (escapes and chunk overlaps aside) */
        size_t max = k->max_input_chars > 0 ? (size_t)k->max_input_chars : 4000;
        buf_reserve(&c->body, (q.n < max ? q.n : max) + (k->model ? strlen(k->model) : 0) + 64);
    }
    if (!c->probe && k->batch_max > 1 && fetch_cls_batchable(k)) {
        /* concurrent requests may share the call: queue the body of a call
         * of its own, whose input list a shared call takes */
        fetch_cls_put_body_start(&c->body, k);
        c->list_off = (uint32_t)c->body.len;
        c->n_inputs = put_inputs(k, q, &c->body);
        c->list_len = (uint32_t)(c->body.len - c->list_off);
        buf_putc(&c->body, '}');
        if (fetch_cls_enqueue(f->c, c)) return true;
        c->body.len = 0;
    }
    if (guard) {
        buf_puts(&c->body, "{\"model\":");
        buf_json_str(&c->body, k->model ? k->model : "", k->model ? strlen(k->model) : 0);
        buf_puts(&c->body, ",\"temperature\":0,\"max_tokens\":16,\"stream\":false,"
                           "\"messages\":[{\"role\":\"user\",\"content\":");
        guard_content(k, q, &c->body);
        buf_puts(&c->body, "}]}");
    } else if (k->type && !strcmp(k->type, "http_score")) {
        buf_puts(&c->body, "{");
        if (k->model) {
            buf_puts(&c->body, "\"model\":");
            buf_json_str(&c->body, k->model, strlen(k->model));
            buf_putc(&c->body, ',');
        }
        put_score_texts(k, q, &c->body);
        buf_puts(&c->body, "}");
    } else {
        fetch_cls_put_body_start(&c->body, k);
        put_inputs(k, q, &c->body);
        buf_puts(&c->body, "}");
    }
    fetch_cls_put_head(&c->head, k, path, c->host, port, c->body.len);
    uint64_t to = c->to_ms;
    struct iovec *iov = arena_alloc(f->a, sizeof *iov);
    iov->iov_base = c->body.data;
    iov->iov_len = c->body.len;
    hup_request_t r = {.host = c->host,
                       .port = port,
                       .tls = tls,
                       .head = c->head.data,
                       .head_len = c->head.len,
                       .body = iov,
                       .n_body = 1,
                       .connect_timeout_ms = to,
                       .first_byte_timeout_ms = to,
                       .idle_timeout_ms = to};
    c->sent_at = clock_mono_us();
    c->call = hup_call_start(f->c->pools, &r, &cls_callbacks, c);
    if (!c->call) c->sent_at = 0;
    return c->call != NULL;
}

bool fetch_classify(sig_cls_client_t *c, const sig_engine_t *e, const cfg_recipe_t *recipe,
                    rq_t *rq, uint64_t deadline_ms, arena_t *a, sig_cls_results_t *out,
                    void (*done)(void *ud), void *ud)
{
    const cfg_t *cfg = sig_engine_cfg(e);
    const cfg_model_catalog_t *mc = cfg && cfg->global_ext ? &cfg->global_ext->model_catalog : NULL;
    memset(out, 0, sizeof *out);
    if (!c || !mc || !mc->n_classifiers || !fetch_cls_needed(e, recipe)) return false;
    out->n = mc->n_classifiers;
    out->items = arena_calloc(a, out->n * sizeof *out->items);
    for (size_t i = 0; i < recipe->n_signals; i++) {
        const cfg_signal_t *s = &recipe->signals[i];
        int k = s->classifier && sig_recipe_uses(e, recipe, s->family)
                    ? sig_cls_index(cfg, s->classifier)
                    : -1;
        if (k >= 0) out->items[k].asked = true;
    }
    cls_fetch_t *f = arena_calloc(a, sizeof *f);
    f->c = c;
    f->a = a;
    f->out = out;
    f->done = done;
    f->ud = ud;
    f->t0 = clock_mono_us();
    out->t0_us = f->t0;
    f->calls = arena_calloc(a, out->n * sizeof *f->calls);
    sig_ctx_t cx = {.e = e, .recipe = recipe, .rq = rq, .a = a};
    sig_text_t q = sig_ctx_query(&cx);
    f->timer = evtimer_new(c->base, on_deadline, f);
    f->pending = 1; /* held while the calls start: none may finish the fetch meanwhile */
    for (size_t i = 0; i < out->n; i++) {
        if (!out->items[i].asked) continue;
        cls_call_t *k = &f->calls[f->n++];
        k->f = f;
        k->idx = i;
        k->k = &mc->classifiers[i];
        out->items[i].name = k->k->name;
        if (start_call(f, k, q, deadline_ms)) f->pending++;
    }
    fetch_cls_kick(c);       /* queued calls go now unless their classifier is busy */
    if (--f->pending == 0) { /* nothing in flight: report later in this turn */
        f->finishing = true;
        event_active(f->timer, EV_TIMEOUT, 1);
        return true;
    }
    struct timeval tv = {(time_t)(deadline_ms / 1000), (suseconds_t)((deadline_ms % 1000) * 1000)};
    evtimer_add(f->timer, &tv);
    return true;
}
