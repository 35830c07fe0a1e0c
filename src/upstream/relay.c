/* relay.c - the upstream proxy's relay (proxy.h): the upstream call's
 * callbacks. At the headers: retry on a retryable status, else the session
 * commit at the first 2xx headers (the client's headers wait for the
 * store's acknowledgement; bytes that arrive meanwhile are kept), then one
 * of the ways a reply reaches the client: an SSE stream relayed as it comes
 * (raw, re-framed or translated event by event by the adapter), a whole raw
 * body held until complete (an upstream that fails mid-body is a clean 502
 * or a retry, never a truncated 200), or a translated reply answered whole
 * at the end. At the end: usage for the selector and the session, the
 * response cache, the replay record and the request log. On a transport
 * error: retry before the first byte, else end the stream with an error
 * event in the client's protocol. Attempts are attempt.c. */
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "select/health.h"
#include "upstream/proxy.h"
#include "upstream/relay.h"
#include <stdio.h>
#include <string.h>

static void relay_body(up_proxy_t *p, const char *data, size_t len);
static void done_cb(void *ud);

static bool is_2xx(int status)
{
    return status >= 200 && status < 300;
}

static void sse_cb(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    up_proxy_t *p = ud;
    p->ad->sse_event(p, event, event_len, data, len);
}

static bool relays_raw(const up_proxy_t *p)
{
    return p->raw && (!p->ad->relays_raw || p->ad->relays_raw(p));
}

/* The client's status line and headers; out_len as for hsrv_start. With a
 * body (whole), the head and the body go out in one write. */
static void start_client(up_proxy_t *p, const char *ctype, int64_t out_len, const char *body)
{
    hsrv_header_t h[56];
    int k = up_add_h(h, 0, "content-type", ctype);
    if (p->upstream_sse) k = up_add_h(h, k, "cache-control", "no-cache");
    k = p->ad->headers(p, h, k, "upstream");
    k = up_limits_headers(p, h, k);
    if (body)
        hsrv_start_whole(p->req, p->pend_status, h, (size_t)k, body, (size_t)out_len);
    else
        hsrv_start(p->req, p->pend_status, h, (size_t)k, out_len);
    p->started = true;
}

/* The SSE parser, its buffers in the request's arena (no malloc per stream). */
static void sse_start(up_proxy_t *p)
{
    sse_parser_init(&p->sse, sse_cb, p);
    p->sse.line.arena = p->sse.event.arena = p->sse.data.arena = &p->req->arena;
}

/* After the commit (or without one): how the reply reaches the client. */
static void relay_start(up_proxy_t *p)
{
    if (is_2xx(p->pend_status) && p->ad->on_ok) p->ad->on_ok(p);
    if (!p->upstream_sse) {
        p->hold = p->raw; /* raw: held until complete; translated: whole at the end */
        return;
    }
    if (!p->raw && !p->client_stream) {
        /* a stream the client did not ask for: assembled into one reply */
        p->assemble = true;
        p->ad->assemble_start(p);
        sse_start(p);
        return;
    }
    start_client(p, p->raw ? p->pend_ctype : "text/event-stream", relays_raw(p) ? p->pend_clen : -1,
                 NULL);
    sse_start(p);
}

static void commit_done(void *ud)
{
    up_proxy_t *p = ud;
    p->awaiting_commit = false;
    p->req->keep_on_abort = false;
    if (p->client_gone) {
        hsrv_req_t *req = p->req;
        if (p->call) hup_call_cancel(p->call);
        p->call = NULL;
        req->on_abort = NULL;
        req->on_drain = NULL;
        up_end(p);
        hsrv_abort(req);
        return;
    }
    relay_start(p);
    if (p->pend_body.len) relay_body(p, p->pend_body.data, p->pend_body.len);
    buf_free(&p->pend_body);
    if (p->done_pending) {
        done_cb(p);
        return;
    }
    hup_call_pause(p->call, false);
}

static unsigned retry_bit(int status)
{
    return status == 502   ? CFG_RETRY_502
           : status == 503 ? CFG_RETRY_503
           : status == 504 ? CFG_RETRY_504
           : status == 429 ? CFG_RETRY_429
           : status == 500 ? CFG_RETRY_500
           : status == 529 ? CFG_RETRY_529
                           : 0;
}

static void headers_cb(void *ud, int status, const hsrv_header_t *hdrs, size_t n, int64_t clen)
{
    up_proxy_t *p = ud;
    const cfg_model_t *m = p->model;
    const char *bname = m->backend_refs[p->backend].name;
    char st[12]; /* the status as a label, without printf */
    {
        unsigned v = status < 0 ? 0u : (unsigned)status, k = sizeof st - 1;
        st[k] = 0;
        do {
            st[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v && k);
        memmove(st, st + k, sizeof st - k);
    }
    met_inc(tmet.upstream_requests_total, 1, m->name, bname, st);
    met_observe(tmet.upstream_ttft_seconds, (double)(clock_mono_us() - p->attempt_started_us) / 1e6,
                m->name);
    unsigned bit = retry_bit(status);
    /* outlier detection counts 5xx (and 529 overload) replies as failures */
    sel_health_observe(p->bh, status < 500, &m->reliability, clock_mono_ms());
    if (bit && (m->reliability.retry_on & bit) && p->attempts < p->max_attempts) {
        met_inc(tmet.retries_total, 1, m->name, st);
        tlog(TLOG_WARN, "upstream_retry",
             "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"status\":%d",
             p->req->request_id, m->name, bname, status);
        hup_call_cancel(p->call);
        p->call = NULL;
        p->upstream_status = status;
        up_attempt(p);
        return;
    }
    p->upstream_status = status;
    const char *ctype = "application/json";
    size_t ctype_len = 16;
    p->upstream_sse = false;
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name_len == 12 && !memcmp(hdrs[i].name, "content-type", 12)) {
            ctype = hdrs[i].value;
            ctype_len = hdrs[i].value_len;
            p->upstream_sse = memmem(ctype, ctype_len, "event-stream", 12) != NULL;
        }
    p->pend_status = status;
    p->pend_ctype = arena_strndup(&p->req->arena, ctype, ctype_len);
    p->pend_clen = clen;
    if (!p->raw && !is_2xx(status)) {
        p->err_buffer = true; /* answered in the client's shape at the end */
        return;
    }
    if (is_2xx(status) && p->routed && !p->committed) {
        /* §9.8: memory is committed at the first 2xx headers, with the model
         * that actually serves the turn; the client's headers follow the
         * store's acknowledgement (inline with the memory store) */
        p->committed = true;
        p->awaiting_commit = true;
        p->req->keep_on_abort = true; /* a Redis ack may come after the client left */
        hup_call_pause(p->call, true);
        route_commit(&p->env, &p->rin, &p->plan, bname, NULL, &p->req->arena, commit_done, p);
        return;
    }
    relay_start(p);
}

static void body_cb(void *ud, const char *data, size_t len)
{
    up_proxy_t *p = ud;
    if (p->awaiting_commit) {
        buf_append(&p->pend_body, data, len);
        return;
    }
    relay_body(p, data, len);
}

static void relay_body(up_proxy_t *p, const char *data, size_t len)
{
    if (!p->ttft_us) {
        p->ttft_us = clock_mono_us();
        if (p->env.sel)
            sel_observe_ttft(p->env.sel, p->model->name,
                             (double)(p->ttft_us - p->attempt_started_us) / 1000.0,
                             clock_mono_ms());
    }
    if (!p->sse.cb) {
        /* held whole (raw, an error to translate, or a reply translated at
         * the end); past the cap the rest is read and dropped: 502 */
        if (p->acc.len + len > UP_MAX_BODY) p->too_large = true;
        if (!p->too_large) buf_append(&p->acc, data, len);
        return;
    }
    /* the cache keeps the bytes the client gets (ids with their binding):
     * these when relayed as they are, else up_client_write's */
    if (p->rc_on && relays_raw(p) && p->rc_sse.len + len <= UP_MAX_CACHE)
        buf_append(&p->rc_sse, data, len);
    sse_parser_feed(&p->sse, data, len);
    if (p->started && relays_raw(p)) hsrv_write(p->req, data, len);
    if (p->started && hsrv_pending(p->req) > UP_HIGH_WATER) hup_call_pause(p->call, true);
}

/* Usage for the selector's runtime data and the session's memory. */
static void usage_done(up_proxy_t *p)
{
    if (p->usage.found) {
        if (p->env.sel && p->ttft_us && p->usage.completion_tokens > 1)
            sel_observe_tpot(p->env.sel, p->model->name,
                             (double)(clock_mono_us() - p->ttft_us) / 1000.0 /
                                 (double)(p->usage.completion_tokens - 1),
                             clock_mono_ms());
        if (p->env.sig && p->usage.prompt_tokens > 0 && p->rq)
            /* the calibration table is internally locked; the engine is shared */
            sig_context_observe((sig_engine_t *)p->env.sig, p->model->name,
                                sig_context_estimate(p->rq), (double)p->usage.prompt_tokens);
    }
    if (!p->committed) return;
    sess_usage_t u = {0};
    if (p->usage.found) {
        u.has_usage = true;
        u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
        u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
        u.completion_tokens =
            p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
        u.cost = up_usage_cost(p->model, &p->usage);
    }
    route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
}

static void done_cb(void *ud)
{
    up_proxy_t *p = ud;
    p->call = NULL;
    up_inflight_end(p);
    if (p->awaiting_commit) {
        p->done_pending = true;
        return;
    }
    met_observe(tmet.upstream_latency_seconds,
                (double)(clock_mono_us() - p->attempt_started_us) / 1e6, p->model->name,
                p->model->backend_refs[p->backend].name);
    if (p->err_buffer) {
        p->ad->translate_error(p);
        return;
    }
    if (p->assemble) p->ad->assemble_end(p);
    if (p->too_large && !p->started) {
        char msg[160];
        snprintf(msg, sizeof msg, "the upstream reply of model %s is larger than %u MiB",
                 p->model->name, (unsigned)(UP_MAX_BODY >> 20));
        up_fail(p, 502, "upstream_error", "upstream_response_too_large", msg);
        return;
    }
    bool ok = is_2xx(p->upstream_status);
    /* the whole body the client gets, when not acc as held */
    buf_t out = BUF_ARENA(&p->req->arena);
    const char *body = NULL, *ctype = NULL;
    size_t blen = 0;
    if (p->hold) {
        if (p->acc.len) { /* one walk: usage, the text, the id for whole() */
            jreply_scan(p->acc.data, p->acc.len, false, &p->acc_scan);
            p->has_acc_scan = true;
            p->usage = p->acc_scan.usage;
            up_capture_chat_scanned(p, p->acc.data, p->acc.len, false, &p->acc_scan);
        }
        body = p->acc.data;
        blen = p->acc.len;
        ctype = p->pend_ctype;
        if (p->ad->whole && p->ad->whole(p, &out)) {
            body = out.data; /* e.g. with the bound id */
            blen = out.len;
        }
        p->has_acc_scan = false;
    } else if (!p->started) {
        /* a translated reply, answered whole */
        if (!p->ad->translate_whole(p, &out)) {
            buf_free(&out);
            up_fail(p, 502, "upstream_error", "bad_upstream_response",
                    "the upstream reply could not be translated");
            return;
        }
        body = out.data;
        blen = out.len;
        ctype = "application/json";
    }
    if (p->started || p->hold) {
        if (p->ad->stream_done) p->ad->stream_done(p);
    }
    if (ok) usage_done(p);
    up_limits_usage(p); /* before a whole reply reaches the client: its next request sees it */
    if (p->rc_on && ok) {
        if (p->sse.cb && !p->assemble)
            up_cache_store(p, p->rc_sse.data, p->rc_sse.len, p->pend_ctype, true);
        else if (p->hold) /* as the client gets it (whole: with the bound ids) */
            up_cache_store(p, body, blen, p->pend_ctype, false);
        else
            up_cache_store(p, body, blen, ctype, false);
    }
    if (ctype) { /* the whole body arrived: now the client gets it */
        start_client(p, ctype, (int64_t)blen, body ? body : "");
    }
    up_trace_bodies(p, ctype ? body : NULL, ctype ? blen : 0);
    buf_free(&out);
    up_trace_done(p, p->upstream_status, "upstream");
    p->ad->log_done(p, p->upstream_status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    up_end(p);
    hsrv_finish(req);
}

static bool retryable(const cfg_reliability_t *rel, hup_error_t e)
{
    switch (e) {
    case HUP_ERR_CONNECT:
    case HUP_ERR_TLS: return (rel->retry_on & CFG_RETRY_CONNECT) != 0;
    case HUP_ERR_RESET:
    case HUP_ERR_PROTOCOL: return (rel->retry_on & CFG_RETRY_RESET) != 0;
    case HUP_ERR_TIMEOUT_CONNECT:
        return (rel->retry_on & (CFG_RETRY_CONNECT | CFG_RETRY_TIMEOUT)) != 0;
    case HUP_ERR_TIMEOUT_FIRST_BYTE:
    case HUP_ERR_TIMEOUT_IDLE: return (rel->retry_on & CFG_RETRY_TIMEOUT) != 0;
    }
    return false;
}

static void error_cb(void *ud, hup_error_t e, bool got_response)
{
    up_proxy_t *p = ud;
    up_inflight_end(p);
    p->call = NULL;
    p->last_err = e;
    const char *bname = p->model->backend_refs[p->backend].name;
    tlog(TLOG_WARN, "upstream_error",
         "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"error\":\"%s\","
         "\"client_started\":%s",
         p->req->request_id, p->model->name, bname, hup_error_str(e),
         p->started ? "true" : "false");
    met_inc(tmet.upstream_requests_total, 1, p->model->name, bname, hup_error_str(e));
    if (!got_response) sel_health_observe(p->bh, false, &p->model->reliability, clock_mono_ms());
    up_backend_release(p);
    if (!p->started) {
        /* a reply held back never reached the client */
        p->hold = false;
        p->err_buffer = false;
        p->too_large = false;
        buf_reset(&p->acc);
        buf_reset(&p->reply);
        if (p->assemble) { /* start the assembly over with the next attempt */
            p->ad->assemble_abort(p);
            p->assemble = false;
            sse_parser_deinit(&p->sse);
            memset(&p->sse, 0, sizeof p->sse);
        }
        if (retryable(&p->model->reliability, e) && p->attempts < p->max_attempts) {
            met_inc(tmet.retries_total, 1, p->model->name, hup_error_str(e));
            up_attempt(p);
            return;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s for model %s (backend %s)", hup_error_str(e),
                 p->model->name, bname);
        if (e == HUP_ERR_TIMEOUT_CONNECT || e == HUP_ERR_TIMEOUT_FIRST_BYTE ||
            e == HUP_ERR_TIMEOUT_IDLE)
            up_fail(p, 504, "server_error", "upstream_timeout", msg);
        else
            up_fail(p, 502, "upstream_error", "bad_upstream_response", msg);
        return;
    }
    /* bytes already reached the client: never retry; end the stream */
    up_trace_done(p, 502, "stream_aborted");
    p->ad->log_done(p, 502);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    if (p->sse.cb) {
        buf_t ev = BUF_INIT;
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s after the stream started", hup_error_str(e));
        p->ad->stream_error(p, msg, &ev);
        up_end(p);
        hsrv_write(req, ev.data, ev.len);
        buf_free(&ev);
        /* a chunked stream can end cleanly after the error event */
        hsrv_finish(req);
        return;
    }
    up_end(p);
    hsrv_abort(req);
}

const hup_callbacks_t up_relay_callbacks = {headers_cb, body_cb, done_cb, error_cb};
