/* agent_relay.c - the relay side of the agent adapter (agent_adapter.c,
 * upstream/proxy.h): the SSE events of the upstream (raw: usage and the
 * native Responses id and object, the id bound to the serving model
 * (response_id.h) in the events and the whole reply; translated: event by event into the
 * client's protocol, or assembled into one reply for a client that did not
 * ask for a stream), a whole reply translated into the client's protocol,
 * an upstream error in the client's shape, the in-band stream error, and
 * the Responses store write at the end of a turn. */
#include "api/agent_proxy.h"
#include "api/errors.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_proxy_t *ag_of(up_proxy_t *up)
{
    return (ag_proxy_t *)up;
}

static void client_write_event(ag_proxy_t *p, const char *event, const char *data, size_t len)
{
    buf_t out = BUF_INIT;
    sse_write_event(&out, event && *event ? event : NULL, data, len);
    up_client_write(&p->up, out.data, out.len);
    buf_free(&out);
}

/* Last stage of a translated stream: to the client (and the reply text). */
void ag_emit_client(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    buf_t tools = BUF_INIT; /* the tool call ids with their binding */
    if (p->tid_on && rid_wrap_tool_ids(&p->tid, p->up.client, data, len, &tools)) {
        data = tools.data;
        len = tools.len;
    }
    if (p->up.client == RQ_PROTO_RESPONSES && event && !strcmp(event, "response.completed")) {
        /* keep the final Response object for the store */
        cJSON *e = cJSON_ParseWithLength(data, len);
        char *r = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "response"));
        buf_reset(&p->final_response);
        if (r) buf_puts(&p->final_response, r);
        free(r);
        cJSON_Delete(e);
    }
    client_write_event(p, event, data, len);
    buf_free(&tools);
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

static void merge_usage(ag_proxy_t *p, const char *data, size_t len)
{
    if (len < 8 || !memmem(data, len, "usage", 5)) return;
    jusage_t u;
    jscan_usage(data, len, &u);
    if (!u.found) return;
    if (!p->up.usage.found) {
        p->up.usage = u;
        return;
    }
    if (u.prompt_tokens >= 0) p->up.usage.prompt_tokens = u.prompt_tokens;
    if (u.completion_tokens >= 0) p->up.usage.completion_tokens = u.completion_tokens;
    if (u.cached_tokens >= 0) p->up.usage.cached_tokens = u.cached_tokens;
}

void ag_sse_event(up_proxy_t *up, const char *event, size_t event_len, const char *data,
                  size_t data_len)
{
    ag_proxy_t *p = ag_of(up);
    if (p->up.raw) {
        merge_usage(p, data, data_len);
        if (p->kind == AG_UP_RESPONSES && !p->native_id[0] && event_len &&
            !strcmp(event, "response.created")) {
            jspan_t doc = {0, (uint32_t)data_len}, r, id;
            if (jscan_obj_get(data, doc, "response", &r) && jscan_obj_get(data, r, "id", &id) &&
                jscan_type(data, id) == '"') {
                char *s = jscan_unescape(&p->up.req->arena, data, id, NULL);
                if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
            }
        }
        /* the provider's id as clients see it: with its binding */
        buf_t wrapped = BUF_INIT, tools = BUF_INIT;
        if (rid_resp_wrap_event(&p->rid, data, data_len, &wrapped)) {
            data = wrapped.data;
            data_len = wrapped.len;
        }
        if (p->tid_on && rid_wrap_tool_ids(&p->tid, up->client, data, data_len, &tools)) {
            data = tools.data;
            data_len = tools.len;
        }
        if (p->kind == AG_UP_RESPONSES && event_len && !strcmp(event, "response.completed")) {
            jspan_t doc = {0, (uint32_t)data_len}, r;
            if (jscan_obj_get(data, doc, "response", &r)) {
                buf_reset(&p->final_response);
                buf_append(&p->final_response, data + r.off, r.len);
            }
        }
        if (!ag_relays_raw(up)) client_write_event(p, event_len ? event : NULL, data, data_len);
        buf_free(&wrapped);
        buf_free(&tools);
        return; /* otherwise the proxy relays the bytes */
    }
    if (p->up.assemble && p->kind == AG_UP_CHAT) {
        tr_asm_chunk(&p->asm_reply, data, data_len);
        return;
    }
    if (p->kind == AG_UP_CHAT) up_capture_chat_text(up, data, data_len, true);
    tr_stream_event(&p->ts[0], event_len ? event : NULL, data, data_len);
}

static void stream_usage_from_translator(ag_proxy_t *p)
{
    tr_stream_t *s = &p->ts[0];
    if (s->out_tok < 0 && s->in_tok < 0) return;
    p->up.usage.found = true;
    if (p->kind == AG_UP_ANTHROPIC) {
        int64_t cr = s->cache_read > 0 ? s->cache_read : 0,
                cc = s->cache_write > 0 ? s->cache_write : 0;
        p->up.usage.prompt_tokens = (s->in_tok > 0 ? s->in_tok : 0) + cr + cc;
        p->up.usage.cached_tokens = cr;
    } else {
        p->up.usage.prompt_tokens = s->in_tok;
        p->up.usage.cached_tokens = s->cache_read;
    }
    p->up.usage.completion_tokens = s->out_tok;
}

/* A buffered non-2xx upstream body, in the client's error shape. */
void ag_translate_error(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    char msg[600];
    tr_error_message(p->up.acc.data, p->up.acc.len, msg, sizeof msg);
    int st = p->up.upstream_status;
    const char *type = st == 429   ? "rate_limit_error"
                       : st >= 500 ? "upstream_error"
                                   : "invalid_request_error";
    const char *code = st >= 500 ? "bad_upstream_response" : "upstream_error";
    up_fail(up, st, type, code, msg);
}

/* A whole 2xx reply (or an assembled stream, already chat) into the
 * client's protocol: usage and reply text from the chat form, and the
 * Responses store write. False when it cannot be translated. */
bool ag_translate_whole(up_proxy_t *up, buf_t *out)
{
    ag_proxy_t *p = ag_of(up);
    buf_t chat = BUF_ARENA(&up->req->arena);
    const char *src = up->acc.data ? up->acc.data : "";
    size_t srclen = up->acc.len;
    int rc = 0;
    if (p->kind == AG_UP_ANTHROPIC && !up->assemble) {
        rc = tr_resp_anthropic_to_chat(src, srclen, &chat, &p->warn);
        src = chat.data;
        srclen = chat.len;
    }
    if (rc == 0) {
        jreply_t r; /* one walk: usage and the text */
        jreply_scan(src, srclen, false, &r);
        up->usage = r.usage;
        up_capture_chat_scanned(up, src, srclen, false, &r);
        if (up->client == RQ_PROTO_CHAT)
            buf_append(out, src, srclen);
        else if (up->client == RQ_PROTO_ANTHROPIC)
            rc = tr_resp_chat_to_anthropic(src, srclen, up->model->name, out, &p->warn);
        else
            rc = tr_resp_chat_to_responses(src, srclen, &p->meta, out, &p->output, &p->warn);
    }
    buf_free(&chat);
    if (rc != 0) return false;
    buf_t tools = BUF_ARENA(out->arena); /* the tool call ids with their binding */
    if (p->tid_on && rid_wrap_tool_ids(&p->tid, up->client, out->data, out->len, &tools)) {
        buf_free(out);
        *out = tools;
    }
    if (up->client == RQ_PROTO_RESPONSES) ag_store_turn(p, p->resp_id, false, out->data);
    return true;
}

/* A stream the client did not ask for: chat chunks (an Anthropic stream
 * through its translator first) assembled into one chat reply. */
void ag_assemble_start(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    tr_asm_init(&p->asm_reply);
    if (p->kind == AG_UP_ANTHROPIC) {
        tr_stream_init(&p->ts[0], TR_S_A2C, up->model->name, ag_emit_asm, p, &p->warn);
        p->ts[0].include_usage = true;
        p->n_ts = 1;
    }
}

void ag_assemble_end(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_end(&p->ts[i]);
    buf_reset(&up->acc);
    tr_asm_finish(&p->asm_reply, &up->acc);
}

void ag_assemble_abort(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
    tr_asm_deinit(&p->asm_reply);
}

/* A 2xx reply is about to reach the client: the serving model is known,
 * the reply's Responses ids are bound to it (native: the provider's ids as
 * relayed; emulate: the id tether minted, in every translated event). */
void ag_on_ok(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    const char *bname = up->model->backend_refs[up->backend].name;
    rid_wrapper_init(&p->tid, up->cfg, SESS_BINDING_TOOL, up->model->name, bname);
    p->tid_on = true;
    p->rid.on = false;
    if (up->client != RQ_PROTO_RESPONSES) return;
    const char *minted =
        rid_resp_bind(&p->rid, up->cfg, up->raw && p->kind == AG_UP_RESPONSES, p->resp_id,
                      up->model->name, up->model->backend_refs[up->backend].name);
    if (minted) p->meta.id = minted;
}

/* Raw events are re-framed while their ids are wrapped. */
bool ag_relays_raw(const up_proxy_t *up)
{
    const ag_proxy_t *p = (const ag_proxy_t *)up;
    return !p->rid.on && !p->tid_on;
}

/* A whole raw reply: the native Responses id kept (the store key) and the
 * Response object the client gets, with its bound id. */
bool ag_whole(up_proxy_t *up, buf_t *out)
{
    ag_proxy_t *p = ag_of(up);
    bool ok = up->upstream_status >= 200 && up->upstream_status < 300;
    if (!up->acc.len || !ok) return false;
    /* relay.c's scan of acc, when it read one valid object */
    const jreply_t *rs = up->has_acc_scan && up->acc_scan.valid ? &up->acc_scan : NULL;
    if (p->kind == AG_UP_RESPONSES) {
        jspan_t doc = {0, (uint32_t)up->acc.len}, id = {0, 0};
        bool has_id;
        if (rs) { /* jscan_obj_get's walk below needs the '{' at 0 */
            id = rs->id;
            has_id = up->acc.data[0] == '{' && id.len;
        } else
            has_id = jscan_obj_get(up->acc.data, doc, "id", &id);
        if (has_id && jscan_type(up->acc.data, id) == '"') {
            char *s = jscan_unescape(&up->req->arena, up->acc.data, id, NULL);
            if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
        }
    }
    buf_t idw = BUF_ARENA(&up->req->arena);
    const char *b = up->acc.data;
    size_t bl = up->acc.len;
    bool any = rs ? p->rid.on && p->rid.native && rs->id.len &&
                        rid_wrap_span(&p->rid.w, b, bl, rs->id, &idw)
                  : rid_resp_wrap_body(&p->rid, b, bl, &idw);
    if (any) {
        b = idw.data;
        bl = idw.len;
    }
    if (p->tid_on && rid_wrap_tool_ids(&p->tid, up->client, b, bl, out))
        any = true;
    else if (any)
        buf_append(out, b, bl);
    buf_free(&idw);
    if (p->kind == AG_UP_RESPONSES) {
        buf_reset(&p->final_response);
        if (any)
            buf_append(&p->final_response, out->data, out->len);
        else
            buf_append(&p->final_response, up->acc.data, up->acc.len);
    }
    return any;
}

/* The relayed reply ended: the translators flushed (usage, the Responses
 * output) and the turn written to the Responses store. */
void ag_stream_done(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    bool ok = up->upstream_status < 300;
    if (!up->raw && p->n_ts) {
        for (int i = 0; i < p->n_ts; i++)
            tr_stream_end(&p->ts[i]);
        stream_usage_from_translator(p);
        if (up->client == RQ_PROTO_RESPONSES && ok) {
            tr_stream_t *last = &p->ts[p->n_ts - 1];
            p->output = last->output;
            last->output = NULL;
            ag_store_turn(p, p->resp_id, false, p->final_response.data);
        }
    }
    if (up->raw && p->kind == AG_UP_RESPONSES && ok && p->native_id[0]) {
        p->output = NULL;
        ag_store_turn(p, p->native_id, true, p->final_response.data);
    }
}

/* In-band stream error in the client's protocol. */
void ag_stream_error(up_proxy_t *up, const char *msg, buf_t *out)
{
    ag_proxy_t *p = ag_of(up);
    buf_t js = BUF_INIT;
    if (p->up.client == RQ_PROTO_ANTHROPIC) {
        ag_anthropic_error_json(&js, "api_error", msg);
        sse_write_event(out, "error", js.data, js.len);
    } else if (p->up.client == RQ_PROTO_RESPONSES) {
        buf_puts(&js, "{\"type\":\"error\",\"code\":\"stream_aborted\",\"message\":");
        buf_json_str(&js, msg, strlen(msg));
        buf_puts(&js, ",\"param\":null}");
        sse_write_event(out, "error", js.data, js.len);
    } else {
        api_error_openai_stream(up, msg, out);
    }
    buf_free(&js);
}
