/* fetch_classify_batch.c - concurrent requests' calls to one http_classify or
 * http_pooling classifier sharing one upstream call (route/fetch_cls.h).
 *
 * A request's input list joins its classifier's gather queue on the worker;
 * the queue goes upstream as one call of all the queued lists (at most
 * batch_max inputs per call): at once while fewer than batch_inflight calls
 * to that classifier are in flight on the worker, else when a call ends
 * (the requests gathered meanwhile share the next call); a full queue goes
 * at once. An idle classifier therefore sees each request alone, with the
 * body and reply reading of a call of its own (sig_cls_parse_classify);
 * a shared reply is split back by data[].index (sig_cls_parse_batch).
 * Failure, timeout or an open circuit reach every request of the call with
 * its reason, as for a call of its own. A request whose deadline passes
 * leaves its queue or call; a call nobody waits on is cancelled, so a call
 * in flight always has a live request holding the classifier's config. */
#include "route/fetch_cls.h"
#include "core/clock.h"
#include "http/upstream.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct cls_batch {
    sig_cls_client_t *c;
    cls_queue_t *q;
    const cfg_classifier_t *k;
    hup_call_t *call;
    cls_call_t **m;  /* its requests' calls; NULL: left at its deadline */
    uint32_t *first; /* where member i's inputs start in the call's list */
    size_t n, live;
    buf_t head, body, resp;
    struct iovec iov;
    char host[256];
    int status;
    uint64_t sent_at, ended_at;
    cls_batch_t *prev, *next;
};

bool fetch_cls_batchable(const cfg_classifier_t *k)
{
    return k->type && (!strcmp(k->type, "http_classify") || !strcmp(k->type, "http_pooling"));
}

static void flush(cls_queue_t *q);

static void on_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    flush(ud);
}

static cls_queue_t *queue_of(sig_cls_client_t *c, const cfg_classifier_t *k)
{
    cls_queue_t *free_q = NULL;
    for (size_t i = 0; i < c->n_qs; i++) {
        if (c->qs[i].k == k) return &c->qs[i];
        if (!free_q && !c->qs[i].qn && !c->qs[i].n_inflight) free_q = &c->qs[i];
    }
    if (!free_q && c->n_qs < CLS_MAX_QUEUES) {
        free_q = &c->qs[c->n_qs++];
        free_q->c = c;
        free_q->flush_ev = evtimer_new(c->base, on_flush, free_q);
    }
    if (free_q) free_q->k = k; /* an idle queue of an older config: reused */
    return free_q;
}

/* The batch is over: off the in-flight list; gathered requests go later in
 * this turn (a slot is free). */
static void batch_free(cls_batch_t *b)
{
    sig_cls_client_t *c = b->c;
    cls_queue_t *q = b->q;
    if (b->prev)
        b->prev->next = b->next;
    else if (c->inflight == b)
        c->inflight = b->next;
    if (b->next) b->next->prev = b->prev;
    if (b->sent_at) q->n_inflight--;
    if (q->qn && !q->flush_armed) {
        q->flush_armed = true;
        event_active(q->flush_ev, EV_TIMEOUT, 1);
    }
    buf_free(&b->head);
    buf_free(&b->body);
    buf_free(&b->resp);
    free(b);
}

/* Member k's share of the call's outcome. */
static void member_end(cls_batch_t *b, cls_call_t *k, const char *outcome, bool ok)
{
    k->batch = NULL;
    k->sent_at = b->sent_at;
    k->ended_at = b->ended_at;
    k->f->out->items[k->idx].batch_requests = b->n > 1 ? (uint32_t)b->n : 0;
    fetch_cls_record(k, outcome, ok);
    fetch_cls_ended(k);
}

static void batch_fail(cls_batch_t *b, const char *outcome)
{
    if (!b->ended_at) b->ended_at = clock_mono_us();
    for (size_t i = 0; i < b->n; i++)
        if (b->m[i]) member_end(b, b->m[i], outcome, false);
    batch_free(b);
}

static void cb_headers(void *ud, int status, const hsrv_header_t *h, size_t n, int64_t cl)
{
    (void)h;
    (void)n;
    (void)cl;
    ((cls_batch_t *)ud)->status = status;
}

static void cb_body(void *ud, const char *data, size_t len)
{
    cls_batch_t *b = ud;
    if (b->resp.len + len <= (4u << 20)) buf_append(&b->resp, data, len);
}

static void cb_done(void *ud)
{
    cls_batch_t *b = ud;
    b->call = NULL;
    b->ended_at = clock_mono_us();
    if (b->status < 200 || b->status > 299) return batch_fail(b, "http_error");
    const char *body = b->resp.data ? b->resp.data : "";
    if (b->n == 1) { /* a call of its own: read exactly as one */
        cls_call_t *k = b->m[0];
        int rc = fetch_cls_parse_own(k, body, b->resp.len);
        member_end(b, k, rc == 0 ? "ok" : "bad_response", rc == 0);
        return batch_free(b);
    }
    sig_cls_part_t stack[32], *parts = b->live <= 32 ? stack : malloc(b->live * sizeof *parts);
    if (!parts) abort();
    size_t np = 0;
    for (size_t i = 0; i < b->n; i++) {
        cls_call_t *k = b->m[i];
        if (!k) continue; /* its entries belong to nobody now */
        parts[np++] = (sig_cls_part_t){.first = b->first[i],
                                       .count = k->n_inputs,
                                       .a = k->f->a,
                                       .out = &k->f->out->items[k->idx]};
    }
    bool pooling = !strcmp(b->k->type, "http_pooling");
    sig_cls_parse_batch(b->k, pooling, body, b->resp.len, parts, np);
    np = 0;
    for (size_t i = 0; i < b->n; i++) {
        cls_call_t *k = b->m[i];
        if (!k) continue;
        int rc = parts[np++].rc;
        member_end(b, k, rc == 0 ? "ok" : "bad_response", rc == 0);
    }
    if (parts != stack) free(parts);
    batch_free(b);
}

static void cb_error(void *ud, hup_error_t err, bool got_response)
{
    (void)got_response;
    cls_batch_t *b = ud;
    b->call = NULL;
    b->ended_at = clock_mono_us();
    bool timeout = err == HUP_ERR_TIMEOUT_CONNECT || err == HUP_ERR_TIMEOUT_FIRST_BYTE ||
                   err == HUP_ERR_TIMEOUT_IDLE;
    batch_fail(b, timeout ? "timeout" : err == HUP_ERR_CONNECT ? "unreachable" : "error");
}

static const hup_callbacks_t batch_callbacks = {
    .on_headers = cb_headers, .on_body = cb_body, .on_done = cb_done, .on_error = cb_error};

/* One upstream call for the n queued calls qm. */
static void batch_start(cls_queue_t *q, cls_call_t *const *qm, size_t n)
{
    sig_cls_client_t *c = q->c;
    const cfg_classifier_t *k = q->k;
    /* one allocation: the batch, its members, where their inputs start */
    cls_batch_t *b = calloc(1, sizeof *b + n * (sizeof *b->m + sizeof *b->first));
    if (!b) abort();
    b->c = c;
    b->q = q;
    b->k = k;
    b->m = (cls_call_t **)(b + 1);
    b->first = (uint32_t *)(b->m + n);
    b->n = b->live = n;
    cls_call_t **m = b->m;
    memcpy(m, qm, n * sizeof *m);
    uint64_t to = UINT64_MAX;
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        m[i]->queue = NULL;
        m[i]->batch = b;
        m[i]->slot = (uint32_t)i;
        b->first[i] = at;
        at += m[i]->n_inputs;
        if (m[i]->to_ms < to) to = m[i]->to_ms;
    }
    bool tls;
    int port;
    const char *path;
    if (fetch_url_parse(k->endpoint ? k->endpoint : "", &tls, b->host, sizeof b->host, &port,
                        &path) != 0)
        return batch_fail(b, "error");
    /* one request: the body of its own call; more: their input lists joined */
    const buf_t *body = &m[0]->body;
    if (n > 1) {
        fetch_cls_put_body_start(&b->body, k);
        buf_putc(&b->body, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) buf_putc(&b->body, ',');
            buf_append(&b->body, m[i]->body.data + m[i]->list_off + 1, m[i]->list_len - 2);
        }
        buf_puts(&b->body, "]}");
        body = &b->body;
    }
    fetch_cls_put_head(&b->head, k, path, b->host, port, body->len);
    b->iov.iov_base = body->data;
    b->iov.iov_len = body->len;
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
    b->sent_at = clock_mono_us();
    b->call = hup_call_start(c->pools, &r, &batch_callbacks, b);
    if (!b->call) {
        b->sent_at = 0;
        return batch_fail(b, "error");
    }
    q->n_inflight++;
    b->next = c->inflight;
    if (b->next) b->next->prev = b;
    c->inflight = b;
}

/* Send the queue: one call per batch_max inputs (a request's list is never
 * split; one longer than batch_max goes alone). */
static void flush(cls_queue_t *q)
{
    q->flush_armed = false;
    size_t qn = q->qn;
    q->qn = 0; /* q->q stays as it is meanwhile: nothing queues during a flush */
    q->q_inputs = 0;
    cls_call_t **all = q->q;
    uint64_t max = q->k && q->k->batch_max > 0 ? (uint64_t)q->k->batch_max : 1;
    for (size_t at = 0; at < qn;) {
        size_t end = at + 1;
        uint64_t in = all[at]->n_inputs;
        while (end < qn && in + all[end]->n_inputs <= max)
            in += all[end++]->n_inputs;
        batch_start(q, all + at, end - at);
        at = end;
    }
}

bool fetch_cls_enqueue(sig_cls_client_t *c, cls_call_t *k)
{
    cls_queue_t *q = queue_of(c, k->k);
    if (!q) return false;
    if (q->qn && q->q_inputs + k->n_inputs > (uint64_t)k->k->batch_max)
        flush(q); /* full: what is gathered goes now */
    if (q->qn == q->qcap) {
        q->qcap = q->qcap ? q->qcap * 2 : 16;
        q->q = realloc(q->q, q->qcap * sizeof *q->q);
        if (!q->q) abort();
    }
    k->queue = q;
    k->slot = (uint32_t)q->qn;
    q->q[q->qn++] = k;
    q->q_inputs += k->n_inputs;
    if (q->q_inputs >= (uint64_t)k->k->batch_max) flush(q);
    return true;
}

void fetch_cls_kick(sig_cls_client_t *c)
{
    for (size_t i = 0; i < c->n_qs; i++) {
        cls_queue_t *q = &c->qs[i];
        if (q->qn && q->n_inflight < (size_t)q->k->batch_inflight) flush(q);
    }
}

void fetch_cls_withdraw(cls_call_t *k)
{
    cls_queue_t *q = k->queue;
    if (q) {
        memmove(q->q + k->slot, q->q + k->slot + 1, (q->qn - k->slot - 1) * sizeof *q->q);
        q->qn--;
        for (size_t i = k->slot; i < q->qn; i++)
            q->q[i]->slot = (uint32_t)i;
        q->q_inputs -= k->n_inputs;
        k->queue = NULL;
    }
    cls_batch_t *b = k->batch;
    if (b) {
        b->m[k->slot] = NULL;
        k->batch = NULL;
        if (--b->live == 0) { /* nobody waits: the call goes */
            if (b->call) hup_call_cancel(b->call);
            b->call = NULL;
            batch_free(b);
        }
    }
}

void fetch_cls_batches_free(sig_cls_client_t *c)
{
    while (c->inflight) {
        cls_batch_t *b = c->inflight;
        c->inflight = b->next;
        if (b->call) hup_call_cancel(b->call);
        for (size_t i = 0; i < b->n; i++)
            if (b->m[i]) b->m[i]->batch = NULL;
        buf_free(&b->head);
        buf_free(&b->body);
        buf_free(&b->resp);
        free(b);
    }
    for (size_t i = 0; i < c->n_qs; i++) {
        cls_queue_t *q = &c->qs[i];
        for (size_t j = 0; j < q->qn; j++)
            q->q[j]->queue = NULL;
        free(q->q);
        if (q->flush_ev) event_free(q->flush_ev);
    }
    c->n_qs = 0;
}
