/* agent_relay.c - the upstream side of the agent endpoints: attempts over
 * the model's backend_refs (retries before the first byte), fallback to the
 * next candidate and the forced handoff after a locked model's backends all
 * failed (re-dispatched with a rebuilt upstream body), the session commit at
 * the first 2xx headers, and the relay: raw bytes when the protocols match,
 * translated event by event (or the whole body at the end) when they
 * differ, with usage capture and the Responses store write at the end. The
 * proxy's core (headers, errors, upstream bodies) is agent.c. */
#include "api/agent_proxy.h"
#include "api/relay_common.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "session/handoff_rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ag_handoff_after_failures(ag_proxy_t *p);
static int ag_fallback(ag_proxy_t *p);

/* ------------------------------------------------------------ relay */

static void client_write_event(ag_proxy_t *p, const char *event, const char *data, size_t len)
{
    buf_t out = BUF_INIT;
    sse_write_event(&out, event && *event ? event : NULL, data, len);
    hsrv_write(p->req, out.data, out.len);
    buf_free(&out);
}

/* Last stage of a translated stream: to the client (and the reply text). */
void ag_emit_client(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    if (p->client == RQ_PROTO_RESPONSES && event && !strcmp(event, "response.completed")) {
        /* keep the final Response object for the store */
        cJSON *e = cJSON_ParseWithLength(data, len);
        char *r = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "response"));
        buf_reset(&p->final_response);
        if (r) buf_puts(&p->final_response, r);
        free(r);
        cJSON_Delete(e);
    }
    client_write_event(p, event, data, len);
}

/* Last stage of an assembled reply (A2C feeding the assembler). */
static void ag_emit_asm(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    (void)event;
    tr_asm_chunk(&p->asm_reply, data, len);
}

/* Middle stage (A2C feeding C2R). */
void ag_emit_next(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    tr_stream_event(&p->ts[1], event, data, len);
}

static void capture_reply_text(ag_proxy_t *p, const char *data, size_t len)
{
    /* chat chunk delta text, for the prefix chain of the next turn */
    if (p->reply.len >= 65536 || len < 10 || !memmem(data, len, "\"content\"", 9)) return;
    jspan_t doc = {0, (uint32_t)len}, ch, c0, delta, ct;
    uint32_t cur = 0;
    if (jscan_obj_get(data, doc, "choices", &ch) && jscan_arr_next(data, ch, &cur, &c0) &&
        jscan_obj_get(data, c0, "delta", &delta) && jscan_obj_get(data, delta, "content", &ct) &&
        jscan_type(data, ct) == '"') {
        size_t n = 0;
        char *t = jscan_unescape(&p->req->arena, data, ct, &n);
        if (t) buf_append(&p->reply, t, n);
    }
}

static void merge_usage(ag_proxy_t *p, const char *data, size_t len)
{
    if (len < 8 || !memmem(data, len, "usage", 5)) return;
    jusage_t u;
    jscan_usage(data, len, &u);
    if (!u.found) return;
    if (!p->usage.found) {
        p->usage = u;
        return;
    }
    if (u.prompt_tokens >= 0) p->usage.prompt_tokens = u.prompt_tokens;
    if (u.completion_tokens >= 0) p->usage.completion_tokens = u.completion_tokens;
    if (u.cached_tokens >= 0) p->usage.cached_tokens = u.cached_tokens;
}

static void sse_event_cb(void *ud, const char *event, size_t event_len, const char *data,
                         size_t data_len)
{
    ag_proxy_t *p = ud;
    if (p->raw) {
        merge_usage(p, data, data_len);
        if (p->up == AG_UP_RESPONSES && !p->native_id[0] && event_len &&
            !strcmp(event, "response.created")) {
            jspan_t doc = {0, (uint32_t)data_len}, r, id;
            if (jscan_obj_get(data, doc, "response", &r) && jscan_obj_get(data, r, "id", &id) &&
                jscan_type(data, id) == '"') {
                char *s = jscan_unescape(&p->req->arena, data, id, NULL);
                if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
            }
        }
        /* the provider's id as clients see it: with its binding */
        buf_t wrapped = BUF_INIT;
        if (rid_resp_wrap_event(&p->rid, data, data_len, &wrapped)) {
            data = wrapped.data;
            data_len = wrapped.len;
        }
        if (p->up == AG_UP_RESPONSES && event_len && !strcmp(event, "response.completed")) {
            jspan_t doc = {0, (uint32_t)data_len}, r;
            if (jscan_obj_get(data, doc, "response", &r)) {
                buf_reset(&p->final_response);
                buf_append(&p->final_response, data + r.off, r.len);
            }
        }
        if (p->rid.on) client_write_event(p, event_len ? event : NULL, data, data_len);
        buf_free(&wrapped);
        return; /* otherwise the bytes are relayed in up_body */
    }
    if (p->assemble && p->up == AG_UP_CHAT) {
        tr_asm_chunk(&p->asm_reply, data, data_len);
        return;
    }
    if (p->up == AG_UP_CHAT) capture_reply_text(p, data, data_len);
    tr_stream_event(&p->ts[0], event_len ? event : NULL, data, data_len);
}

static void stream_usage_from_translator(ag_proxy_t *p)
{
    tr_stream_t *s = &p->ts[0];
    if (s->out_tok < 0 && s->in_tok < 0) return;
    p->usage.found = true;
    if (p->up == AG_UP_ANTHROPIC) {
        int64_t cr = s->cache_read > 0 ? s->cache_read : 0,
                cc = s->cache_write > 0 ? s->cache_write : 0;
        p->usage.prompt_tokens = (s->in_tok > 0 ? s->in_tok : 0) + cr + cc;
        p->usage.cached_tokens = cr;
    } else {
        p->usage.prompt_tokens = s->in_tok;
        p->usage.cached_tokens = s->cache_read;
    }
    p->usage.completion_tokens = s->out_tok;
}

static void up_headers(void *ud, int status, const hsrv_header_t *hdrs, size_t n, int64_t clen)
{
    ag_proxy_t *p = ud;
    const cfg_reliability_t *rel = &p->model->reliability;
    unsigned bit = status == 502   ? CFG_RETRY_502
                   : status == 503 ? CFG_RETRY_503
                   : status == 504 ? CFG_RETRY_504
                   : status == 429 ? CFG_RETRY_429
                   : status == 500 ? CFG_RETRY_500
                   : status == 529 ? CFG_RETRY_529
                                   : 0;
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.upstream_requests_total, 1, p->model->name,
            p->model->backend_refs[p->backend].name, st);
    if (bit && (rel->retry_on & bit) && p->attempts < p->max_attempts) {
        met_inc(tmet.retries_total, 1, p->model->name, st);
        hup_call_cancel(p->call);
        p->call = NULL;
        p->upstream_status = status;
        ag_attempt(p);
        return;
    }
    p->upstream_status = status;
    const char *ctype = "application/json";
    size_t ctype_len = 16;
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name_len == 12 && !memcmp(hdrs[i].name, "content-type", 12)) {
            ctype = hdrs[i].value;
            ctype_len = hdrs[i].value_len;
            p->upstream_sse = memmem(ctype, ctype_len, "event-stream", 12) != NULL;
        }
    bool ok = status >= 200 && status < 300;
    p->rid.on = false;
    if (ok && p->client == RQ_PROTO_RESPONSES) {
        /* the serving model is known: bind the reply's ids to it */
        const char *minted =
            rid_resp_bind(&p->rid, p->ref->cfg, p->raw && p->up == AG_UP_RESPONSES, p->resp_id,
                          p->model->name, p->model->backend_refs[p->backend].name);
        if (minted) p->meta.id = minted;
    }
    if (!p->raw && !ok) {
        p->err_buffer = true; /* translated into the client's shape at the end */
        return;
    }
    if (!p->raw && !p->upstream_sse) return; /* whole body translated at the end */
    if (!p->raw && !p->client_stream) {
        /* a stream the client did not ask for: assemble it into one reply,
         * answered whole at the end (issue 20 item 11) */
        p->assemble = true;
        tr_asm_init(&p->asm_reply);
        if (p->up == AG_UP_ANTHROPIC) {
            tr_stream_init(&p->ts[0], TR_S_A2C, p->model->name, ag_emit_asm, p, &p->warn);
            p->ts[0].include_usage = true;
            p->n_ts = 1;
        }
        sse_parser_init(&p->sse, sse_event_cb, p);
        return;
    }
    if (p->raw && !p->upstream_sse) {
        /* a whole reply relayed as is: held until complete, so an upstream
         * that fails mid-body is a clean 502, never a truncated 200 */
        p->hold = true;
        p->hold_ctype = arena_strndup(&p->req->arena, ctype, ctype_len);
        if (ok && !p->committed && p->routed) {
            p->committed = true;
            route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                         NULL, NULL);
        }
        return;
    }
    hsrv_header_t h[48];
    int k = 0;
    if (p->raw) {
        h[k].name = "content-type";
        h[k].name_len = 12;
        h[k].value = ctype;
        h[k].value_len = ctype_len;
        k++;
    } else {
        k = relay_add_h(h, k, "content-type", "text/event-stream");
    }
    if (p->upstream_sse) k = relay_add_h(h, k, "cache-control", "no-cache");
    k = ag_tether_headers(p, h, k, "upstream");
    hsrv_start(p->req, status, h, (size_t)k, p->raw && !p->rid.on ? clen : -1);
    p->started = true;
    if (ok && !p->committed && p->routed) {
        p->committed = true;
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     NULL, NULL);
    }
    if (p->upstream_sse) sse_parser_init(&p->sse, sse_event_cb, p);
}

static void up_body(void *ud, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    if (p->sse.cb) {
        sse_parser_feed(&p->sse, data, len);
        if (p->raw && !p->rid.on) hsrv_write(p->req, data, len); /* else re-framed */
    } else if (p->started) {
        hsrv_write(p->req, data, len);
        if (p->acc.len + len <= AG_MAX_ACC) buf_append(&p->acc, data, len);
    } else if (p->acc.len + len <= AG_MAX_ACC) {
        buf_append(&p->acc, data, len);
    } else {
        p->too_large = true; /* the rest is read and dropped; up_done answers 502 */
    }
    if (p->started && hsrv_pending(p->req) > AG_HIGH_WATER) hup_call_pause(p->call, true);
}

void ag_client_drain(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    if (p->call) hup_call_pause(p->call, false);
}

/* A buffered non-2xx upstream body, in the client's error shape. */
static void finish_error(ag_proxy_t *p)
{
    char msg[600];
    tr_error_message(p->acc.data, p->acc.len, msg, sizeof msg);
    int st = p->upstream_status;
    const char *type = st == 429   ? "rate_limit_error"
                       : st >= 500 ? "upstream_error"
                                   : "invalid_request_error";
    const char *code = st >= 500 ? "bad_upstream_response" : "upstream_error";
    ag_error(p, st, type, code, msg);
}

/* Non-streamed 2xx body (or a non-SSE reply to a stream request): translate
 * and answer in one go. */
static void finish_translated_json(ag_proxy_t *p)
{
    buf_t chat = BUF_INIT, out = BUF_INIT;
    const char *src = p->acc.data ? p->acc.data : "";
    size_t srclen = p->acc.len;
    int rc = 0;
    if (p->up == AG_UP_ANTHROPIC && !p->assemble) {
        rc = tr_resp_anthropic_to_chat(src, srclen, &chat, &p->warn);
        src = chat.data;
        srclen = chat.len;
    }
    if (rc == 0) jscan_usage(src, srclen, &p->usage);
    if (rc == 0) {
        jspan_t doc = {0, (uint32_t)srclen}, ch, c0, msg, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(src, doc, "choices", &ch) && jscan_arr_next(src, ch, &cur, &c0) &&
            jscan_obj_get(src, c0, "message", &msg) && jscan_obj_get(src, msg, "content", &ct) &&
            jscan_type(src, ct) == '"') {
            size_t n = 0;
            char *t = jscan_unescape(&p->req->arena, src, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (rc == 0) {
        if (p->client == RQ_PROTO_CHAT)
            buf_append(&out, src, srclen);
        else if (p->client == RQ_PROTO_ANTHROPIC)
            rc = tr_resp_chat_to_anthropic(src, srclen, p->model->name, &out, &p->warn);
        else
            rc = tr_resp_chat_to_responses(src, srclen, &p->meta, &out, &p->output, &p->warn);
    }
    buf_free(&chat);
    if (rc != 0) {
        buf_free(&out);
        ag_error(p, 502, "upstream_error", "bad_upstream_response",
                 "the upstream reply could not be translated");
        return;
    }
    if (p->client == RQ_PROTO_RESPONSES) ag_store_turn(p, p->resp_id, false, out.data);
    hsrv_header_t h[48];
    int k = relay_add_h(h, 0, "content-type", "application/json");
    k = ag_tether_headers(p, h, k, "upstream");
    if (!p->committed && p->routed) {
        p->committed = true;
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     NULL, NULL);
    }
    buf_t body = out;
    out = (buf_t)BUF_INIT;
    p->acc.len = 0; /* consumed */
    p->started = true;
    int status = p->upstream_status;
    ag_log_done(p, status);
    /* route_finish needs the plan; then release and answer */
    if (p->committed) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens =
                p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    app_config_ref_t *ref = p->ref;
    p->ref = NULL;
    ag_end(p);
    hsrv_respond(req, status, h, (size_t)k, body.data, body.len);
    app_config_release(ref);
    buf_free(&body);
}

static void up_done(void *ud)
{
    ag_proxy_t *p = ud;
    p->call = NULL;
    met_observe(tmet.upstream_latency_seconds,
                (double)(clock_mono_us() - p->attempt_started_us) / 1e6, p->model->name,
                p->model->backend_refs[p->backend].name);
    if (p->err_buffer) return finish_error(p);
    if (p->assemble) {
        for (int i = 0; i < p->n_ts; i++)
            tr_stream_end(&p->ts[i]);
        buf_reset(&p->acc);
        tr_asm_finish(&p->asm_reply, &p->acc);
    }
    if (p->too_large && !p->started) {
        char msg[160];
        snprintf(msg, sizeof msg, "the upstream reply of model %s is larger than %u MiB",
                 p->model->name, (unsigned)(AG_MAX_ACC >> 20));
        ag_error(p, 502, "upstream_error", "upstream_response_too_large", msg);
        return;
    }
    buf_t wrapped = BUF_INIT; /* a native reply with its bound id */
    if (p->hold) {            /* the whole reply arrived: now the client gets it */
        hsrv_header_t h[48];
        int k = relay_add_h(h, 0, "content-type", p->hold_ctype);
        k = ag_tether_headers(p, h, k, "upstream");
        const char *b = p->acc.data;
        size_t bl = p->acc.len;
        if (rid_resp_wrap_body(&p->rid, b, bl, &wrapped)) {
            b = wrapped.data;
            bl = wrapped.len;
        }
        hsrv_start(p->req, p->upstream_status, h, (size_t)k, (int64_t)bl);
        if (bl) hsrv_write(p->req, b, bl);
        p->started = true;
    }
    if (!p->started) return finish_translated_json(p);
    if (p->raw && !p->sse.cb && p->acc.len) {
        jscan_usage(p->acc.data, p->acc.len, &p->usage);
        if (p->up == AG_UP_RESPONSES) {
            jspan_t doc = {0, (uint32_t)p->acc.len}, id;
            if (jscan_obj_get(p->acc.data, doc, "id", &id) && jscan_type(p->acc.data, id) == '"') {
                char *s = jscan_unescape(&p->req->arena, p->acc.data, id, NULL);
                if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
            }
            buf_reset(&p->final_response);
            if (wrapped.len)
                buf_append(&p->final_response, wrapped.data, wrapped.len);
            else
                buf_append(&p->final_response, p->acc.data, p->acc.len);
        }
    }
    buf_free(&wrapped);
    if (!p->raw && p->n_ts) {
        for (int i = 0; i < p->n_ts; i++)
            tr_stream_end(&p->ts[i]);
        stream_usage_from_translator(p);
        if (p->client == RQ_PROTO_RESPONSES && p->upstream_status < 300) {
            tr_stream_t *last = &p->ts[p->n_ts - 1];
            p->output = last->output;
            last->output = NULL;
            ag_store_turn(p, p->resp_id, false, p->final_response.data);
        }
    }
    if (p->raw && p->up == AG_UP_RESPONSES && p->upstream_status < 300 && p->native_id[0]) {
        p->output = NULL;
        ag_store_turn(p, p->native_id, true, p->final_response.data);
    }
    if (p->committed && p->upstream_status >= 200 && p->upstream_status < 300) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens =
                p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    ag_log_done(p, p->upstream_status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    ag_end(p);
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

/* In-band stream error in the client's protocol. */
static void stream_error_event(ag_proxy_t *p, const char *msg)
{
    buf_t js = BUF_INIT;
    if (p->client == RQ_PROTO_ANTHROPIC) {
        ag_anthropic_error_json(&js, "api_error", msg);
        client_write_event(p, "error", js.data, js.len);
    } else if (p->client == RQ_PROTO_RESPONSES) {
        buf_puts(&js, "{\"type\":\"error\",\"code\":\"stream_aborted\",\"message\":");
        buf_json_str(&js, msg, strlen(msg));
        buf_puts(&js, ",\"param\":null}");
        client_write_event(p, "error", js.data, js.len);
    } else {
        api_error_openai_json(&js, "upstream_error", "stream_aborted", NULL, msg);
        client_write_event(p, NULL, js.data, js.len);
    }
    buf_free(&js);
}

static void up_error(void *ud, hup_error_t e, bool got_response)
{
    ag_proxy_t *p = ud;
    (void)got_response;
    p->call = NULL;
    p->last_err = e;
    const char *bname = p->model->backend_refs[p->backend].name;
    tlog(TLOG_WARN, "upstream_error",
         "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"error\":\"%s\"",
         p->req->request_id, p->model->name, bname, hup_error_str(e));
    met_inc(tmet.upstream_requests_total, 1, p->model->name, bname, hup_error_str(e));
    if (!p->started) {
        if (retryable(&p->model->reliability, e) && p->attempts < p->max_attempts) {
            met_inc(tmet.retries_total, 1, p->model->name, hup_error_str(e));
            p->err_buffer = false;
            p->hold = false;
            p->too_large = false;
            p->acc.len = 0;
            if (p->assemble) { /* start the assembly over with the next attempt */
                for (int i = 0; i < p->n_ts; i++)
                    tr_stream_deinit(&p->ts[i]);
                p->n_ts = 0;
                tr_asm_deinit(&p->asm_reply);
                p->assemble = false;
                sse_parser_deinit(&p->sse);
                memset(&p->sse, 0, sizeof p->sse);
            }
            ag_attempt(p);
            return;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s for model %s (backend %s)", hup_error_str(e),
                 p->model->name, bname);
        if (e == HUP_ERR_TIMEOUT_CONNECT || e == HUP_ERR_TIMEOUT_FIRST_BYTE ||
            e == HUP_ERR_TIMEOUT_IDLE)
            ag_error(p, 504, "server_error", "upstream_timeout", msg);
        else
            ag_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        return;
    }
    ag_log_done(p, 502);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    if (p->sse.cb) {
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s after the stream started", hup_error_str(e));
        stream_error_event(p, msg);
        ag_end(p);
        hsrv_finish(req);
        return;
    }
    ag_end(p);
    hsrv_abort(req);
}

void ag_client_abort(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499", req->request_id);
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    ag_end(p);
}

void ag_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ag_proxy_t *p = arg;
    if (p->done) return;
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    if (!p->started) {
        ag_error(p, 504, "server_error", "upstream_timeout",
                 "request exceeded the listener timeout");
        return;
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    ag_end(p);
    hsrv_abort(req);
}

void ag_attempt(ag_proxy_t *p)
{
    app_worker_t *w = p->w;
    const cfg_model_t *m = p->model;
    int bi = -1;
    for (;;) {
        bi = wrr_next(&w->models[p->model_index].wrr, p->tried);
        if (bi < 0) break;
        const cfg_backend_ref_t *b = &m->backend_refs[bi];
        if (b->api_key_env && !b->api_key) {
            p->tried |= 1ull << bi;
            continue;
        }
        break;
    }
    if (bi < 0 && p->attempts > 0 && !p->started && !p->handoff_redone && p->plan.ran_policy &&
        sess_handoff_after_failures(&p->plan.pol, m->n_backend_refs, (size_t)p->attempts, false)) {
        if (ag_handoff_after_failures(p) == 0) return; /* re-dispatched, or answered */
    }
    if (bi < 0 && p->attempts > 0 && !p->started && p->plan.ran_policy &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_TOOL_LOOP &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_PROVIDER_STATE && !p->plan.passthrough) {
        if (ag_fallback(p) == 0) return;
    }
    if (bi < 0) {
        char msg[256];
        if (p->attempts == 0) {
            snprintf(msg, sizeof msg, "no available backend for model %s", m->name);
            ag_error(p, 503, "server_error", "no_backend_available", msg);
        } else {
            snprintf(msg, sizeof msg, "every backend of model %s failed (last: %s)", m->name,
                     p->upstream_status ? "upstream error status" : hup_error_str(p->last_err));
            if (p->last_err == HUP_ERR_TIMEOUT_FIRST_BYTE || p->last_err == HUP_ERR_TIMEOUT_CONNECT)
                ag_error(p, 504, "server_error", "upstream_timeout", msg);
            else if (p->upstream_status == 503)
                ag_error(p, 503, "server_error", "no_backend_available", msg);
            else
                ag_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        }
        return;
    }
    p->tried |= 1ull << bi;
    p->backend = bi;
    p->attempts++;
    const cfg_backend_ref_t *b = &m->backend_refs[bi];
    buf_t head = BUF_INIT;
    ag_build_head(p, b, &head);
    p->iov[0].iov_base = p->upbody.data;
    p->iov[0].iov_len = p->upbody.len;
    hup_request_t r = {
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .head = head.data,
        .head_len = head.len,
        .body = p->iov,
        .n_body = 1,
        .connect_timeout_ms = m->reliability.connect_timeout_ms,
        .first_byte_timeout_ms = m->reliability.first_byte_timeout_ms,
        .idle_timeout_ms = m->reliability.stream_idle_timeout_ms,
    };
    static const hup_callbacks_t cbs = {up_headers, up_body, up_done, up_error};
    p->upstream_status = 0;
    p->attempt_started_us = clock_mono_us();
    p->call = hup_call_start(w->pools, &r, &cbs, p);
    buf_free(&head);
}

/* Send this turn to another model: reset the attempts, rebuild the
 * upstream body for it and attempt again (answers an error itself when the
 * body cannot be built). Mirrors chat_relay.c chat_redispatch. */
static void ag_redispatch(ag_proxy_t *p, const cfg_model_t *nm)
{
    route_plan_t *pl = &p->plan;
    if (p->n_tried_models < 8) p->tried_models[p->n_tried_models++] = p->model->name;
    pl->model = nm;
    pl->model_index = (size_t)(nm - p->ref->cfg->providers.models);
    p->model = nm;
    p->model_index = pl->model_index;
    p->meta.model = nm->name;
    p->up = ag_up_kind(p, nm);
    p->tried = 0;
    p->attempts = 0;
    p->backend = -1;
    p->upstream_status = 0;
    p->err_buffer = false;
    p->acc.len = 0;
    p->raw = false;
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
    int retries = nm->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    char err[256] = "";
    if (!ag_build_upstream(p, err, sizeof err)) {
        ag_error(p, 400, "invalid_request_error", "invalid_body",
                 err[0] ? err : "the request could not be translated");
        return;
    }
    ag_attempt(p);
}

/* §4.6 / §9.6 step 9: the model failed for this request and nothing locks
 * the session: the next candidate by session score, then the default model
 * (relay_fallback_model, shared with chat_relay.c). A native Responses chain
 * never falls back (it is provider state). Returns 0 when re-dispatched. */
static int ag_fallback(ag_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    const cfg_t *cfg = p->ref->cfg;
    if (p->chain_native) return -1;
    const cfg_model_t *best = relay_fallback_model(cfg, pl, p->req->request_id, p->model->name,
                                                   p->tried_models, p->n_tried_models);
    if (!best) return -1;
    ag_redispatch(p, best);
    return 0;
}

/* SPEC §9.4/§9.7 after failures: the policy held the session on a model
 * (tool loop or provider state, e.g. a stored Responses chain) whose every
 * backend failed before the first byte; re-decide without it. The re-decision
 * (relay_redecide_without_current) is shared with chat_relay.c
 * chat_handoff_after_failures. For a Responses client the stored chain is
 * already expanded: into the chat IR (p->ir) for a chat or Anthropic
 * upstream, and by ag_build_upstream for a native Responses upstream (an
 * emulated chain is sent as explicit input items). The other conversions of
 * the handoff (dropping signed thinking, encrypted reasoning, ...) apply to
 * the IR. Returns 0 when re-dispatched or answered, -1 to fall through to
 * the plain error. */
static int ag_handoff_after_failures(ag_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    hsrv_req_t *req = p->req;
    p->handoff_redone = true;
    if (!pl->knobs || !pl->pol.model) return -1;
    sess_facts_t facts = pl->facts;
    /* a chain in tether's store can be expanded for any model */
    if (p->prev_id && !p->chain_native) facts.previous_response_stored = true;
    sess_policy_out_t out;
    const char *current = NULL;
    if (!relay_redecide_without_current(pl, &facts, &req->arena, &current, &out)) {
        ag_error(p, 503, "server_error", "session_model_unavailable",
                 out.error_message
                     ? out.error_message
                     : "the session's model is unavailable and its state cannot move");
        return 0;
    }
    const cfg_model_t *nm = cfg_find_model(p->ref->cfg, out.model, strlen(out.model));
    if (!nm) return -1;
    if (p->chain_native && ag_up_kind(p, nm) != AG_UP_RESPONSES) {
        ag_error(p, 503, "server_error", "session_model_unavailable",
                 "previous_response_id is provider-bound state (native chain) that no "
                 "available model can read");
        return 0;
    }
    if (out.has_handoff && out.handoff.possible && p->client != RQ_PROTO_CHAT) {
        sess_handoff_result_t hr;
        memset(&hr, 0, sizeof hr);
        const char *nb;
        size_t nl;
        if (sess_handoff_apply(p->rq, &out.handoff, NULL, &req->arena, &nb, &nl, &hr) != 0) {
            ag_error(p, 503, "server_error", "session_model_unavailable",
                     hr.error ? hr.error : "the session's state cannot be converted");
            return 0;
        }
        if (nb != p->ir.data) {
            buf_t nir = BUF_INIT;
            buf_append(&nir, nb, nl);
            buf_free(&p->ir);
            p->ir = nir;
        }
    }
    tlog(TLOG_INFO, "forced_handoff",
         "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"after\":\"backend_failures\","
         "\"endpoint\":\"%s\"",
         req->request_id, current, nm->name, ag_ep_name(p->client));
    met_inc(tmet.session_handoffs_total, 1, "converted");
    pl->pol = out;
    ag_redispatch(p, nm);
    return 0;
}
