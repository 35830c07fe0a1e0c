/* chat_relay.c - the upstream side of POST /v1/chat/completions: attempts
 * over the model's backend_refs (smooth weighted round robin, retries before
 * the first byte), fallback to the next candidate or the default model when
 * a model is unavailable and nothing locks the session, the forced handoff
 * when a locked model's backends all fail, the session commit at the first
 * 2xx headers (the client's headers wait for it), and the relay of the
 * response chunk by chunk with usage capture. See chat.c for the entry. */
#include "api/chat_proxy.h"
#include "api/forward_headers.h"
#include "api/relay_common.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "session/handoff_rewrite.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int chat_handoff_after_failures(chat_proxy_t *p);
static void chat_redispatch(chat_proxy_t *p, const cfg_model_t *nm);
static int chat_fallback(chat_proxy_t *p);
static void chat_send_client_headers(chat_proxy_t *p);
static void chat_commit_done(void *ud);

/* The selector's runtime data (latency_aware, multi_factor): in-flight
 * counts per model, TTFT at the first body byte, TPOT at the end. */
static void inflight_end(chat_proxy_t *p)
{
    if (!p->inflight) return;
    p->inflight = 0;
    sel_inflight_add(p->env.sel, p->model->name, -1);
}

static void sse_event_cb(void *ud, const char *event, size_t event_len, const char *data,
                         size_t data_len)
{
    chat_proxy_t *p = ud;
    int usage_only = 0;
    if (data_len > 8 && memmem(data, data_len, "\"usage\"", 7)) {
        jusage_t u;
        jscan_usage(data, data_len, &u);
        if (u.found) {
            p->usage = u;
            /* the include_usage chunk has an empty choices array */
            if (memmem(data, data_len, "\"choices\":[]", 12)) usage_only = 1;
        }
    }
    if (p->reply.len < 65536 && data_len > 10 && memmem(data, data_len, "\"content\"", 9)) {
        /* collect delta text for the prefix chain of the next turn */
        jspan_t doc = {0, (uint32_t)data_len}, ch, c0, delta, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(data, doc, "choices", &ch) && jscan_arr_next(data, ch, &cur, &c0) &&
            jscan_obj_get(data, c0, "delta", &delta) &&
            jscan_obj_get(data, delta, "content", &ct) && jscan_type(data, ct) == '"') {
            arena_t *a = &p->req->arena;
            size_t n = 0;
            char *t = jscan_unescape(a, data, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (!p->hide_usage && !p->rid) return; /* raw bytes are relayed in on_body */
    if (usage_only && p->hide_usage) return;
    buf_t out = BUF_INIT, wrapped = BUF_INIT;
    if (p->rid && rid_wrap_top_id(p->rid, data, data_len, &wrapped)) {
        data = wrapped.data;
        data_len = wrapped.len;
    }
    sse_write_event(&out, event_len ? event : NULL, data, data_len);
    buf_free(&wrapped);
    hsrv_write(p->req, out.data, out.len);
    buf_free(&out);
}

static void up_headers(void *ud, int status, const hsrv_header_t *hdrs, size_t n, int64_t clen)
{
    chat_proxy_t *p = ud;
    const cfg_reliability_t *rel = &p->model->reliability;
    unsigned bit = status == 502   ? CFG_RETRY_502
                   : status == 503 ? CFG_RETRY_503
                   : status == 504 ? CFG_RETRY_504
                   : status == 429 ? CFG_RETRY_429
                   : status == 500 ? CFG_RETRY_500
                   : status == 529 ? CFG_RETRY_529
                                   : 0;
    {
        char st[8];
        snprintf(st, sizeof st, "%d", status);
        met_inc(tmet.upstream_requests_total, 1, p->model->name,
                p->model->backend_refs[p->backend].name, st);
        met_observe(tmet.upstream_ttft_seconds,
                    (double)(clock_mono_us() - p->attempt_started_us) / 1e6, p->model->name);
    }
    if (bit && (rel->retry_on & bit) && p->attempts < p->max_attempts) {
        char reason[8];
        snprintf(reason, sizeof reason, "%d", status);
        met_inc(tmet.retries_total, 1, p->model->name, reason);
        tlog(TLOG_WARN, "upstream_retry",
             "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"status\":%d",
             p->req->request_id, p->model->name, p->model->backend_refs[p->backend].name, status);
        hup_call_cancel(p->call);
        p->call = NULL;
        p->upstream_status = status;
        chat_attempt(p);
        return;
    }
    p->upstream_status = status;
    const char *ctype = "application/json";
    size_t ctype_len = 16;
    int is_sse = 0;
    for (size_t i = 0; i < n; i++) {
        if (hdrs[i].name_len == 12 && memcmp(hdrs[i].name, "content-type", 12) == 0) {
            ctype = hdrs[i].value;
            ctype_len = hdrs[i].value_len;
            is_sse = memmem(ctype, ctype_len, "event-stream", 12) != NULL;
        }
    }
    if (!is_sse) p->hide_usage = 0; /* an error body: pass it through untouched */
    p->pend_status = status;
    p->pend_ctype = arena_strndup(&p->req->arena, ctype, ctype_len);
    p->pend_clen = clen;
    p->pend_sse = is_sse;
    if (status >= 200 && status < 300 && !p->committed) {
        /* §9.8: memory is committed at the first 2xx headers, with the model
         * that actually serves the turn; the client's headers follow the
         * store's acknowledgement (inline with the memory store) */
        p->committed = 1;
        p->awaiting_commit = 1;
        p->req->keep_on_abort = true; /* a Redis ack may come after the client left */
        hup_call_pause(p->call, true);
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     chat_commit_done, p);
        return;
    }
    chat_send_client_headers(p);
}

/* The client's status line and headers; out_len as for hsrv_start. */
static void chat_start_client(chat_proxy_t *p, int64_t out_len)
{
    hsrv_header_t h[44];
    int k = 0;
    k = relay_add_h(h, k, "content-type", p->pend_ctype);
    if (p->pend_sse) k = relay_add_h(h, k, "cache-control", "no-cache");
    k = chat_tether_headers(p, h, k, "upstream");
    hsrv_start(p->req, p->pend_status, h, (size_t)k, out_len);
    p->started = 1;
}

/* A stream is relayed as it comes; a whole body is held until it is complete
 * (up to CHAT_MAX_BODY), so an upstream that fails mid-body is a clean 502
 * (or a retry), never a 200 with a truncated body (issue 20 item 9). */
static void chat_send_client_headers(chat_proxy_t *p)
{
    if (p->pend_status >= 200 && p->pend_status < 300 && !p->rid) {
        /* a 2xx reply's id carries the signed model binding */
        p->rid = arena_alloc(&p->req->arena, sizeof *p->rid);
        rid_wrapper_init(p->rid, p->ref->cfg, SESS_BINDING_CHAT, p->model->name,
                         p->model->backend_refs[p->backend].name);
    }
    if (!p->pend_sse) {
        p->buffering = 1;
        return;
    }
    chat_start_client(p, p->hide_usage || p->rid ? -1 : p->pend_clen);
    sse_parser_init(&p->sse, sse_event_cb, p);
}

static void relay_body(chat_proxy_t *p, const char *data, size_t len);
static void up_done(void *ud);

static void chat_commit_done(void *ud)
{
    chat_proxy_t *p = ud;
    p->awaiting_commit = 0;
    p->req->keep_on_abort = false;
    if (p->client_gone) {
        hsrv_req_t *req = p->req;
        if (p->call) hup_call_cancel(p->call);
        p->call = NULL;
        req->on_abort = NULL;
        req->on_drain = NULL;
        chat_end(p);
        hsrv_abort(req);
        return;
    }
    chat_send_client_headers(p);
    if (p->pend_body.len) relay_body(p, p->pend_body.data, p->pend_body.len);
    buf_free(&p->pend_body);
    if (p->done_pending) {
        up_done(p);
        return;
    }
    hup_call_pause(p->call, false);
}

static void up_body(void *ud, const char *data, size_t len)
{
    chat_proxy_t *p = ud;
    if (p->awaiting_commit) {
        buf_append(&p->pend_body, data, len);
        return;
    }
    relay_body(p, data, len);
}

static void relay_body(chat_proxy_t *p, const char *data, size_t len)
{
    if (!p->ttft_us) {
        p->ttft_us = clock_mono_us();
        if (p->env.sel)
            sel_observe_ttft(p->env.sel, p->model->name,
                             (double)(p->ttft_us - p->attempt_started_us) / 1000.0,
                             clock_mono_ms());
    }
    if (p->rc_on && p->sse.cb && p->rc_sse.len + len <= CHAT_MAX_ACC)
        buf_append(&p->rc_sse, data, len);
    if (p->buffering) {
        /* past the cap the rest is read and dropped; up_done answers 502 */
        if (p->acc.len + len > CHAT_MAX_BODY) p->too_large = 1;
        if (!p->too_large) buf_append(&p->acc, data, len);
        return;
    }
    if (p->sse.cb) {
        sse_parser_feed(&p->sse, data, len);
        if (!p->hide_usage && !p->rid) hsrv_write(p->req, data, len);
    } else {
        hsrv_write(p->req, data, len);
        if (p->acc.len + len <= CHAT_MAX_ACC) buf_append(&p->acc, data, len);
    }
    if (hsrv_pending(p->req) > CHAT_HIGH_WATER) hup_call_pause(p->call, true);
}

void chat_client_drain(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    if (p->call) hup_call_pause(p->call, false);
}

static void up_done(void *ud)
{
    chat_proxy_t *p = ud;
    p->call = NULL;
    inflight_end(p);
    if (p->awaiting_commit) {
        p->done_pending = 1;
        return;
    }
    met_observe(tmet.upstream_latency_seconds,
                (double)(clock_mono_us() - p->attempt_started_us) / 1e6, p->model->name,
                p->model->backend_refs[p->backend].name);
    if (p->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg, "the upstream reply of model %s is larger than %u MiB",
                 p->model->name, (unsigned)(CHAT_MAX_BODY >> 20));
        chat_error(p, 502, "upstream_error", "upstream_response_too_large", msg);
        return;
    }
    if (!p->sse.cb && p->acc.len) {
        jscan_usage(p->acc.data, p->acc.len, &p->usage);
        jspan_t doc = {0, (uint32_t)p->acc.len}, ch, c0, msg, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(p->acc.data, doc, "choices", &ch) &&
            jscan_arr_next(p->acc.data, ch, &cur, &c0) &&
            jscan_obj_get(p->acc.data, c0, "message", &msg) &&
            jscan_obj_get(p->acc.data, msg, "content", &ct) && jscan_type(p->acc.data, ct) == '"') {
            size_t n = 0;
            char *t = jscan_unescape(&p->req->arena, p->acc.data, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (p->usage.found && p->upstream_status >= 200 && p->upstream_status < 300) {
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
    if (p->committed && p->upstream_status >= 200 && p->upstream_status < 300) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens =
                p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
            const cfg_pricing_t *pr = &p->model->pricing;
            u.cost = ((double)(u.prompt_tokens - u.cached_tokens) * pr->prompt_per_1m +
                      (double)u.cached_tokens * pr->cached_input_per_1m +
                      (double)u.completion_tokens * pr->completion_per_1m) /
                     1e6;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    if (p->rc_on && p->upstream_status >= 200 && p->upstream_status < 300) {
        rc_response_t rr = {.status = p->upstream_status,
                            .body = p->sse.cb ? p->rc_sse.data : p->acc.data,
                            .len = p->sse.cb ? p->rc_sse.len : p->acc.len,
                            .content_type = p->pend_ctype,
                            .streamed = p->sse.cb != NULL,
                            .complete = true};
        if (rr.body) rc_store(p->w->app->rcache, &p->rck, &rr);
    }
    if (p->buffering) { /* the whole body arrived: now the client gets it */
        buf_t out = BUF_INIT;
        const char *b = p->acc.data;
        size_t bl = p->acc.len;
        if (p->rid && bl <= CHAT_MAX_ACC && rid_wrap_top_id(p->rid, b, bl, &out)) {
            b = out.data; /* with the bound id */
            bl = out.len;
        }
        chat_start_client(p, (int64_t)bl);
        if (bl) hsrv_write(p->req, b, bl);
        buf_free(&out);
    }
    chat_trace_done(p, p->upstream_status, "upstream");
    chat_log_done(p, p->upstream_status);
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    hsrv_req_t *req = p->req;
    chat_end(p);
    hsrv_finish(req);
}

static int retryable(const cfg_reliability_t *rel, hup_error_t e)
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
    return 0;
}

static void up_error(void *ud, hup_error_t e, bool got_response)
{
    inflight_end(ud);
    chat_proxy_t *p = ud;
    p->call = NULL;
    p->last_err = e;
    const char *bname = p->model->backend_refs[p->backend].name;
    tlog(TLOG_WARN, "upstream_error",
         "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"error\":\"%s\","
         "\"client_started\":%s",
         p->req->request_id, p->model->name, bname, hup_error_str(e),
         p->started ? "true" : "false");
    met_inc(tmet.upstream_requests_total, 1, p->model->name, bname, hup_error_str(e));
    if (!p->started) {
        /* a body held back (buffering) never reached the client */
        p->buffering = 0;
        buf_reset(&p->acc);
        buf_reset(&p->reply);
        if (retryable(&p->model->reliability, e) && p->attempts < p->max_attempts) {
            met_inc(tmet.retries_total, 1, p->model->name, hup_error_str(e));
            chat_attempt(p);
            return;
        }
        int timeout = e == HUP_ERR_TIMEOUT_CONNECT || e == HUP_ERR_TIMEOUT_FIRST_BYTE ||
                      e == HUP_ERR_TIMEOUT_IDLE;
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s for model %s (backend %s)", hup_error_str(e),
                 p->model->name, bname);
        if (timeout)
            chat_error(p, 504, "server_error", "upstream_timeout", msg);
        else
            chat_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        return;
    }
    /* bytes already reached the client: never retry; end the stream */
    chat_trace_done(p, 502, "stream_aborted");
    chat_log_done(p, 502);
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    hsrv_req_t *req = p->req;
    if (p->sse.cb) {
        buf_t ev = BUF_INIT, js = BUF_INIT;
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s after the stream started", hup_error_str(e));
        api_error_openai_json(&js, "upstream_error", "stream_aborted", NULL, msg);
        sse_write_event(&ev, NULL, js.data, js.len);
        chat_end(p);
        hsrv_write(req, ev.data, ev.len);
        buf_free(&ev);
        buf_free(&js);
        /* a chunked stream can end cleanly after the error event */
        hsrv_finish(req);
        return;
    }
    chat_end(p);
    hsrv_abort(req);
}

void chat_client_abort(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    inflight_end(p);
    if (p->awaiting_commit) { /* chat_commit_done ends the request */
        p->client_gone = 1;
        return;
    }
    tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499", req->request_id);
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    chat_end(p);
}

void chat_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    inflight_end(arg);
    chat_proxy_t *p = arg;
    if (p->done) return;
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    if (!p->started) {
        chat_error(p, 504, "server_error", "upstream_timeout",
                   "request exceeded the listener timeout");
        return;
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    chat_end(p);
    hsrv_abort(req);
}

/* --------------------------------------------------------------- attempts */

static void build_head(chat_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h)
{
    fwd_head_in_t in = {
        .backend = b,
        .path_prefix = b->endpoint && !b->base_url ? "/v1" : b->path_prefix,
        .path = b->chat_path ? b->chat_path : "/chat/completions",
        .body_len = p->body_len,
        .request_id = p->req->request_id,
        .client = p->req->headers,
        .n_client = p->req->n_headers,
        .listener_keyed = p->req->principal != NULL,
        .ops = p->has_plg ? p->plg.hdr_ops : NULL,
        .n_ops = p->has_plg ? p->plg.n_hdr_ops : 0,
    };
    fwd_build_head(&in, h);
}

/* Every backend of the locked model failed before the first byte: the model
 * is unavailable for this turn (§9.4), so re-decide without it — a forced
 * handoff with the request converted for the new model (§9.7), or a 503.
 * Returns 0 when the request was re-dispatched or answered, -1 to fall
 * through to the ordinary "every backend failed" error. */
static int chat_handoff_after_failures(chat_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    hsrv_req_t *req = p->req;
    p->handoff_redone = 1;
    if (!pl->knobs || !pl->pol.model) return -1;
    sess_policy_out_t out;
    const char *current = NULL;
    if (!relay_redecide_without_current(pl, &pl->facts, &req->arena, &current, &out)) {
        chat_error(p, 503, "server_error", "session_model_unavailable",
                   out.error_message
                       ? out.error_message
                       : "the session's model is unavailable and its state cannot move");
        return 0;
    }
    const cfg_model_t *nm = cfg_find_model(p->ref->cfg, out.model, strlen(out.model));
    if (!nm) return -1;
    if (out.has_handoff && out.handoff.possible) {
        sess_handoff_result_t hr;
        const char *nb;
        size_t nl;
        jscan_err_t je = {0};
        if (sess_handoff_apply(p->rq, &out.handoff, NULL, &req->arena, &nb, &nl, &hr) != 0 ||
            jscan_request(nb, nl, &req->arena, &p->jr, &je) != 0) {
            chat_error(p, 503, "server_error", "session_model_unavailable",
                       hr.error ? hr.error : "the session's state cannot be converted");
            return 0;
        }
        p->cbody = nb;
        p->cbody_len = nl;
        p->rq = rq_from_chat(&req->arena, nb, nl, &p->jr, req->headers, req->n_headers);
    }
    tlog(TLOG_INFO, "forced_handoff",
         "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"after\":\"backend_failures\"",
         req->request_id, current, nm->name);
    met_inc(tmet.session_handoffs_total, 1, "converted");
    pl->pol = out;
    chat_redispatch(p, nm);
    return 0;
}

/* Send this turn to another model: reset the attempts, redo the plugins'
 * model-dependent edits and the upstream body, and attempt again. */
static void chat_redispatch(chat_proxy_t *p, const cfg_model_t *nm)
{
    route_plan_t *pl = &p->plan;
    hsrv_req_t *req = p->req;
    if (p->n_tried_models < 8) p->tried_models[p->n_tried_models++] = p->model->name;
    pl->model = nm;
    pl->model_index = (size_t)(nm - p->ref->cfg->providers.models);
    p->model = nm;
    p->model_index = pl->model_index;
    p->tried = 0;
    p->attempts = 0;
    p->upstream_status = 0;
    int retries = nm->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    if (p->has_plg) plg_out_deinit(&p->plg);
    plg_out_init(&p->plg);
    p->has_plg = 1;
    plg_ctx_t pc = {.cfg = p->ref->cfg,
                    .decision = pl->decision,
                    .model = nm,
                    .proto = RQ_PROTO_CHAT,
                    .body = p->cbody,
                    .body_len = p->cbody_len,
                    .jr = &p->jr,
                    .stream = p->client_stream,
                    .reply_model = nm->name,
                    .arena = &req->arena};
    for (size_t i = 0; pl->decision && i < pl->decision->n_model_refs; i++)
        if (!strcmp(pl->decision->model_refs[i].model, nm->name))
            pc.ref = &pl->decision->model_refs[i];
    if (pl->decision) plg_run_post(&pc, &p->plg);
    jsplice_free(&p->splice);
    p->hide_usage = 0;
    if (chat_build_body(p) != 0) {
        chat_error(p, 500, "server_error", "internal_error", "request rewrite failed");
        return;
    }
    app_worker_sync(p->w, p->ref->cfg, p->ref->cfg->generation);
    chat_attempt(p);
}

/* §4.6 / §9.6 step 9: the model is unavailable for this request and nothing
 * locks the session: the next candidate by session score, then the default
 * model (traced as fallback). Returns 0 when re-dispatched. */
static int chat_fallback(chat_proxy_t *p)
{
    const cfg_model_t *best =
        relay_fallback_model(p->ref->cfg, &p->plan, p->req->request_id, p->model->name,
                             p->tried_models, p->n_tried_models);
    if (!best) return -1;
    chat_redispatch(p, best);
    return 0;
}

void chat_attempt(chat_proxy_t *p)
{
    app_worker_t *w = p->w;
    const cfg_model_t *m = p->model;
    int bi = -1;
    for (;;) {
        bi = wrr_next(&w->models[p->model_index].wrr, p->tried);
        if (bi < 0) break;
        const cfg_backend_ref_t *b = &m->backend_refs[bi];
        if (b->api_key_env && !b->api_key) { /* credential missing: unavailable */
            p->tried |= 1ull << bi;
            continue;
        }
        break;
    }
    if (bi < 0 && p->attempts > 0 && !p->started && !p->handoff_redone && p->plan.ran_policy &&
        sess_handoff_after_failures(&p->plan.pol, m->n_backend_refs, (size_t)p->attempts, false)) {
        if (chat_handoff_after_failures(p) == 0) return; /* re-dispatched, or answered */
    }
    if (bi < 0 && p->attempts > 0 && !p->started && p->plan.ran_policy &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_TOOL_LOOP &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_PROVIDER_STATE && !p->plan.passthrough) {
        if (chat_fallback(p) == 0) return;
    }
    if (bi < 0) {
        if (p->attempts == 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "no available backend for model %s", m->name);
            chat_error(p, 503, "server_error", "no_backend_available", msg);
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "every backend of model %s failed (last: %s)", m->name,
                     p->upstream_status ? "upstream error status" : hup_error_str(p->last_err));
            int st = p->upstream_status >= 500 ? p->upstream_status : 502;
            if (p->last_err == HUP_ERR_TIMEOUT_FIRST_BYTE || p->last_err == HUP_ERR_TIMEOUT_CONNECT)
                chat_error(p, 504, "server_error", "upstream_timeout", msg);
            else
                chat_error(p, st == 503 ? 503 : 502, st == 503 ? "server_error" : "upstream_error",
                           st == 503 ? "no_backend_available" : "bad_upstream_response", msg);
        }
        return;
    }
    p->tried |= 1ull << bi;
    p->backend = bi;
    p->attempts++;
    const cfg_backend_ref_t *b = &m->backend_refs[bi];
    buf_t head = BUF_INIT;
    build_head(p, b, &head);
    hup_request_t r = {
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .head = head.data,
        .head_len = head.len,
        .body = p->iov,
        .n_body = p->n_iov,
        .connect_timeout_ms = m->reliability.connect_timeout_ms,
        .first_byte_timeout_ms = m->reliability.first_byte_timeout_ms,
        .idle_timeout_ms = m->reliability.stream_idle_timeout_ms,
    };
    static const hup_callbacks_t cbs = {up_headers, up_body, up_done, up_error};
    p->upstream_status = 0;
    p->attempt_started_us = clock_mono_us();
    if (p->env.sel && !p->inflight) {
        sel_inflight_add(p->env.sel, m->name, +1);
        p->inflight = 1;
    }
    p->call = hup_call_start(w->pools, &r, &cbs, p);
    buf_free(&head);
}

/* ---------------------------------------------------------------- entry */
