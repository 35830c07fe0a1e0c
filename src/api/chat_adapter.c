/* chat_adapter.c - the chat completions adapter of the upstream proxy
 * (upstream/proxy.h) for an OpenAI-format model: the upstream body spliced
 * from the client's (plugins' edits, the provider model id, and
 * stream_options.include_usage for streams, whose usage-only chunk is then
 * hidden unless the client asked), the head's path, the response headers,
 * errors in the OpenAI shape, the SSE events (usage, reply text, the bound
 * id in every chunk and the bound tool call ids) and the bound ids of a
 * whole reply, and the forced
 * handoff's conversion of the request. The entry is chat.c. */
#include "api/chat_proxy.h"
#include "api/access_log.h"
#include "api/errors.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "session/binding_token.h"
#include "session/handoff_rewrite.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CHAT_MAX_REWRAP (8u << 20) /* a whole reply larger than this keeps its id */

static chat_proxy_t *chat_of(up_proxy_t *up)
{
    return (chat_proxy_t *)up;
}

/* Does the raw span v hold the tool binding mark? Ids are short: memchr to
 * each candidate first byte, then the mark's other bytes. */
static bool has_mark(const char *body, jspan_t v)
{
    const char *s = body + v.off, *e = s + v.len;
    const size_t ml = SESS_BINDING_TOOL_MARK_LEN;
    while ((size_t)(e - s) >= ml &&
           (s = memchr(s, SESS_BINDING_TOOL_MARK[0], (size_t)(e - s) - ml + 1))) {
        if (!memcmp(s, SESS_BINDING_TOOL_MARK, ml)) return true;
        s++;
    }
    return false;
}

/* May rid_unwrap_tool_ids find a wrapped tool call id in the chat body the
 * scan jr describes? It unwraps only the raw "tool_call_id" of a message
 * and the "id" of a "tool_calls" element (the last of each, as the scanner
 * records them) holding the tool mark unescaped, so when none of those
 * spans holds it, its search of the whole body (memmem over 64 KB) cannot
 * find anything to do. True (ask it) when the scan did not record them. */
static bool chat_ids_may_be_wrapped(const char *body, const jreq_t *jr)
{
    if (!jr->has_messages) return false; /* no "messages" array to walk */
    if (jr->n_msgs && !jr->msgs_built) return true;
    for (uint32_t i = 0; i < jr->n_msgs; i++) {
        const jmsg_t *m = &jr->msgs[i];
        if (m->tool_call_id.len && has_mark(body, m->tool_call_id)) return true;
        if (!m->tool_calls.len || body[m->tool_calls.off] != '[') continue;
        if (!m->calls_built) return true;
        for (uint32_t c = 0; c < m->n_tool_calls; c++)
            if (m->calls[c].id.len && has_mark(body, m->calls[c].id)) return true;
    }
    return false;
}

/* The upstream body: the client body (p->cbody) with the plugins' edits,
 * the provider model id spliced over every top-level "model", and
 * stream_options.include_usage for streams. Zero-copy iovecs in p->iov. */
int chat_build_body(chat_proxy_t *p)
{
    up_proxy_t *up = &p->up;
    hsrv_req_t *req = up->req;
    const jreq_t jr = p->jr;
    jsplice_init_arena(&p->splice, &req->arena);
    for (size_t i = 0; i < up->plg.edits.n; i++)
        jsplice_add(&p->splice, up->plg.edits.edits[i].off, up->plg.edits.edits[i].len,
                    up->plg.edits.edits[i].repl, up->plg.edits.edits[i].repl_len);
    buf_t mv = BUF_ARENA(&req->arena); /* stays in the arena: the splice points at it */
    buf_json_str(&mv, up_upstream_model(up), strlen(up_upstream_model(up)));
    const char *mvs = mv.data;
    uint32_t mvl = (uint32_t)mv.len;
    for (uint32_t i = 0; i < jr.n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&p->splice, jr.model_all[i].off, jr.model_all[i].len, mvs, mvl);
    if (p->cbody == req->body) rid_unwrap_prev(up->rq, &jr, &p->splice, &req->arena);
    if (up->client_stream) {
        /* ask upstream for usage; hide the usage chunk unless the client asked */
        jspan_t iu;
        if (jr.stream_options.len == 0) {
            static const char inj[] = "\"stream_options\":{\"include_usage\":true},";
            /* first member; the object is non-empty (it has messages) */
            jsplice_add(&p->splice, jr.obj_open + 1, 0, inj, sizeof inj - 1);
            p->hide_usage = true;
        } else if (jscan_type(p->cbody, jr.stream_options) == '{' &&
                   !jscan_obj_get(p->cbody, jr.stream_options, "include_usage", &iu)) {
            uint32_t cur = 0;
            jspan_t k, v;
            int empty = !jscan_obj_next(p->cbody, jr.stream_options, &cur, &k, &v);
            static const char inj2[] = "\"include_usage\":true,";
            static const char inj3[] = "\"include_usage\":true";
            if (empty)
                jsplice_add(&p->splice, jr.stream_options.off + 1, 0, inj3, sizeof inj3 - 1);
            else
                jsplice_add(&p->splice, jr.stream_options.off + 1, 0, inj2, sizeof inj2 - 1);
            p->hide_usage = true;
        }
    }
    /* the tool call ids as the provider issued them (response_id.h) */
    if (chat_ids_may_be_wrapped(p->cbody, &jr))
        rid_unwrap_tool_ids(RQ_PROTO_CHAT, p->cbody, p->cbody_len, &p->splice);
    jsplice_sort(&p->splice);
    up->body_len = jsplice_len(&p->splice, p->cbody_len);
    up->n_iov = jsplice_iov(&p->splice, p->cbody, p->cbody_len, p->iov,
                            (int)(sizeof p->iov / sizeof p->iov[0]));
    if (up->n_iov < 0) { /* more edits than iovecs (a long tool loop): one buffer */
        buf_reset(&p->upbuf);
        jsplice_to_buf(&p->splice, p->cbody, p->cbody_len, &p->upbuf);
        p->iov[0].iov_base = p->upbuf.data;
        p->iov[0].iov_len = p->upbuf.len;
        up->n_iov = 1;
    }
    up->iov = p->iov;
    up->raw = true;
    return up->n_iov < 0 ? -1 : 0;
}

static bool ad_build(up_proxy_t *up)
{
    if (chat_build_body(chat_of(up)) == 0) return true;
    up_fail(up, 500, "server_error", "internal_error", "request rewrite failed");
    return false;
}

static void ad_head(up_proxy_t *up, const cfg_backend_ref_t *b, fwd_head_in_t *in)
{
    (void)up;
    in->path = b->chat_path ? b->chat_path : "/chat/completions";
}

int chat_tether_headers(up_proxy_t *up, hsrv_header_t *h, int n, const char *path)
{
    const cfg_t *cfg = up->cfg;
    n = up_add_h(h, n, "x-tether-model", up->model->name);
    if (up->backend >= 0)
        n = up_add_h(h, n, "x-tether-backend", up->model->backend_refs[up->backend].name);
    n = up_add_h(h, n, "x-tether-request-id", up->req->request_id);
    n = up_add_h(h, n, "x-tether-response-path", path);
    n = up_add_h(h, n, "x-tether-protocol", "openai->openai"); /* as every endpoint (api.md) */
    if (up->replay_id[0]) {
        n = up_add_h(h, n, "x-tether-replay-id", up->replay_id);
        if (cfg->router.compat_headers) n = up_add_h(h, n, "x-vsr-replay-id", up->replay_id);
    }
    const route_plan_t *pl = &up->plan;
    n = up_plan_headers(h, n, pl, up->conf);
    const char *phase = up_phase_label(pl);
    if (cfg->router.debug_headers && up->rq) {
        size_t dl = 0;
        const char *dv = rq_header(up->rq, "x-tether-debug", &dl);
        if (dv && dl == 4 && !strncasecmp(dv, "true", 4)) {
            /* the matched signals per family, and the context estimate */
            buf_t m = BUF_INIT;
            const sig_results_t *sr = pl->ran_decision ? &pl->dec.proj.sig : &pl->sig;
            for (size_t i = 0; i < sr->n; i++)
                if (sr->items[i].matched)
                    buf_printf(&m, "%s%s:%s", m.len ? "," : "",
                               cfg_signal_family_name(sr->items[i].rule->family),
                               sr->items[i].rule->name);
            n = up_add_h(h, n, "x-tether-matched-signals",
                         arena_strdup(&up->req->arena, m.data ? m.data : ""));
            buf_free(&m);
            n = up_add_h(h, n, "x-tether-context-tokens",
                         arena_sprintf(&up->req->arena, "%.0f", sig_context_estimate(up->rq)));
        }
    }
    for (size_t i = 0; up->has_plg && i < up->plg.n_resp_headers && n < 26; i++)
        n = up_add_h(h, n, up->plg.resp_headers[i].name, up->plg.resp_headers[i].value);
    if (cfg->router.compat_headers) {
        n = up_add_h(h, n, "x-vsr-selected-model", up->model->name);
        n = up_add_h(h, n, "x-vsr-selected-decision", pl->decision_name ? pl->decision_name : "");
        n = up_add_h(h, n, "x-vsr-selected-confidence", up->conf);
        n = up_add_h(h, n, "x-vsr-session-phase", phase);
    }
    return n;
}

static void ad_log_done(up_proxy_t *up, int status)
{
    chat_proxy_t *p = chat_of(up);
    char st[8];
    if (status >= 0 && status < 1000) { /* an HTTP status, without printf */
        char *w = st;
        if (status >= 100) *w++ = (char)('0' + status / 100);
        if (status >= 10) *w++ = (char)('0' + status / 10 % 10);
        *w++ = (char)('0' + status % 10);
        *w = 0;
    } else
        snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, "chat", st, "openai");
    met_observe(tmet.request_duration_seconds,
                (double)(clock_mono_us() - up->req->started_us) / 1e6, "chat");
    const jusage_t *u = &up->usage;
    if (u->found) {
        if (u->prompt_tokens > 0)
            met_inc(tmet.tokens_total, (double)u->prompt_tokens, up->model->name, "prompt");
        if (u->completion_tokens > 0)
            met_inc(tmet.tokens_total, (double)u->completion_tokens, up->model->name, "completion");
        if (u->cached_tokens > 0)
            met_inc(tmet.tokens_total, (double)u->cached_tokens, up->model->name, "cached");
    }
    up_count_cost(up);
    api_access_note_proxy(up);
    const cfg_backend_ref_t *b = up->backend >= 0 ? &up->model->backend_refs[up->backend] : NULL;
    tlog(TLOG_DEBUG, "request", /* the access line (access_log.c) is the INFO one */
         "\"request_id\":\"%s\",\"endpoint\":\"chat\",\"status\":%d,\"model\":\"%s\","
         "\"backend\":\"%s\",\"route\":\"%s\",\"stream\":%s,\"attempts\":%d,"
         "\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"cached_tokens\":%lld,"
         "\"duration_us\":%llu",
         up->req->request_id, status, up->model->name, b ? b->name : "", p->route_kind,
         up->client_stream ? "true" : "false", up->attempts,
         (long long)(u->found ? u->prompt_tokens : -1),
         (long long)(u->found ? u->completion_tokens : -1),
         (long long)(u->found ? u->cached_tokens : -1),
         (unsigned long long)(clock_mono_us() - up->req->started_us));
}

static void ad_end(up_proxy_t *up)
{
    jsplice_free(&chat_of(up)->splice);
    buf_free(&chat_of(up)->upbuf);
}

static void ad_on_ok(up_proxy_t *up)
{
    chat_proxy_t *p = chat_of(up);
    if (p->rid) return;
    /* a 2xx reply's id carries the signed model binding */
    p->rid = arena_alloc(&up->req->arena, sizeof *p->rid);
    rid_wrapper_init(p->rid, up->cfg, SESS_BINDING_CHAT, up->model->name,
                     up->model->backend_refs[up->backend].name);
    p->tid = arena_alloc(&up->req->arena, sizeof *p->tid);
    rid_wrapper_init(p->tid, up->cfg, SESS_BINDING_TOOL, up->model->name,
                     up->model->backend_refs[up->backend].name);
}

static bool ad_relays_raw(const up_proxy_t *up)
{
    const chat_proxy_t *p = (const chat_proxy_t *)up;
    return !p->hide_usage && !p->rid;
}

static void ad_sse_event(up_proxy_t *up, const char *event, size_t event_len, const char *data,
                         size_t data_len)
{
    chat_proxy_t *p = chat_of(up);
    bool usage_only = false;
    /* one walk of the event for what is read from it below (the same
     * gates as when each was a walk of its own) */
    bool want_usage = data_len > 8 && memmem(data, data_len, "\"usage\"", 7);
    bool want_text = up->env.store && up->plan.id.found && up->reply.len < 65536 &&
                     data_len >= 10 && memmem(data, data_len, "\"content\"", 9);
    bool want_id = p->rid && !ad_relays_raw(up);
    jreply_t r = {.valid = false};
    if (want_usage || want_text || want_id) jreply_scan(data, data_len, true, &r);
    if (want_usage && r.usage.found) {
        up->usage = r.usage;
        /* the include_usage chunk has an empty choices array */
        if (memmem(data, data_len, "\"choices\":[]", 12)) usage_only = true;
    }
    /* delta text for the prefix chain of the next turn */
    if (want_text) up_capture_chat_scanned(up, data, data_len, true, &r);
    if (ad_relays_raw(up)) return; /* raw bytes are relayed by the proxy */
    /* the thread's scratch buffers: an event costs no malloc */
    buf_t *out = buf_scratch(0), *wrapped = buf_scratch(1), *tools = buf_scratch(2);
    if (usage_only && p->hide_usage) { /* not for this client; the cache keeps the usage */
        sse_write_event(out, event_len ? event : NULL, data, data_len);
        up_cache_keep(up, out->data, out->len);
        return;
    }
    if (p->rid && (r.valid ? r.id.len && rid_wrap_span(p->rid, data, data_len, r.id, wrapped)
                           : rid_wrap_top_id(p->rid, data, data_len, wrapped))) {
        data = wrapped->data;
        data_len = wrapped->len;
    }
    if (p->tid && rid_wrap_tool_ids(p->tid, RQ_PROTO_CHAT, data, data_len, tools)) {
        data = tools->data;
        data_len = tools->len;
    }
    sse_write_event(out, event_len ? event : NULL, data, data_len);
    up_client_write(up, out->data, out->len); /* also kept for the cache */
}

static bool ad_whole(up_proxy_t *up, buf_t *out)
{
    chat_proxy_t *p = chat_of(up);
    if (!p->rid || up->acc.len > CHAT_MAX_REWRAP) return false;
    buf_t id = BUF_ARENA(&up->req->arena);
    const char *b = up->acc.data;
    size_t bl = up->acc.len;
    /* the id relay.c's scan of the reply found, else the walk for it */
    bool any = up->has_acc_scan && up->acc_scan.valid
                   ? up->acc_scan.id.len && rid_wrap_span(p->rid, b, bl, up->acc_scan.id, &id)
                   : rid_wrap_top_id(p->rid, b, bl, &id);
    if (any) {
        b = id.data;
        bl = id.len;
    }
    if (!rid_wrap_tool_ids(p->tid, RQ_PROTO_CHAT, b, bl, out) && any) buf_append(out, b, bl);
    buf_free(&id);
    return any || out->len;
}

/* The forced handoff after failures: the request converted for the model
 * that takes over (§9.7); false after answering an error. */
static bool ad_handoff_convert(up_proxy_t *up, const sess_policy_out_t *out, const cfg_model_t *nm)
{
    (void)nm;
    chat_proxy_t *p = chat_of(up);
    hsrv_req_t *req = up->req;
    if (!out->has_handoff || !out->handoff.possible) return true;
    sess_handoff_result_t hr;
    const char *nb;
    size_t nl;
    jscan_err_t je = {0};
    if (sess_handoff_apply(up->rq, &out->handoff, NULL, &req->arena, &nb, &nl, &hr) != 0 ||
        jscan_request(nb, nl, &req->arena, &p->jr, &je) != 0) {
        up_fail(up, 503, "server_error", "session_model_unavailable",
                hr.error ? hr.error : "the session's state cannot be converted");
        return false;
    }
    p->cbody = nb;
    p->cbody_len = nl;
    up->rq = rq_from_chat(&req->arena, nb, nl, &p->jr, req->headers, req->n_headers);
    return true;
}

void chat_plugin_ctx(chat_proxy_t *p, plg_ctx_t *pc)
{
    up_proxy_t *up = &p->up;
    const route_plan_t *pl = &up->plan;
    const cfg_model_t *m = up->model;
    *pc = (plg_ctx_t){.cfg = up->cfg,
                      .decision = pl->decision,
                      .model = m,
                      .proto = RQ_PROTO_CHAT,
                      .body = p->cbody,
                      .body_len = p->cbody_len,
                      .jr = &p->jr,
                      .stream = up->client_stream,
                      .reply_model = m->name,
                      .arena = &up->req->arena};
    for (size_t i = 0; pl->decision && i < pl->decision->n_model_refs; i++)
        if (!strcmp(pl->decision->model_refs[i].model, m->name))
            pc->ref = &pl->decision->model_refs[i];
}

/* Another model takes the turn: the plugins' model-dependent edits again. */
static void ad_redispatch(up_proxy_t *up)
{
    chat_proxy_t *p = chat_of(up);
    const route_plan_t *pl = &up->plan;
    if (up->has_plg) plg_out_deinit(&up->plg);
    plg_out_init(&up->plg);
    up->has_plg = true;
    plg_ctx_t pc;
    chat_plugin_ctx(p, &pc);
    if (pl->decision) plg_run_post(&pc, &up->plg);
    jsplice_free(&p->splice);
    p->hide_usage = false;
}

const up_adapter_t chat_adapter = {
    .build = ad_build,
    .head = ad_head,
    .headers = chat_tether_headers,
    .error_body = api_error_openai_body,
    .stream_error = api_error_openai_stream,
    .log_done = ad_log_done,
    .end = ad_end,
    .on_ok = ad_on_ok,
    .sse_event = ad_sse_event,
    .relays_raw = ad_relays_raw,
    .whole = ad_whole,
    .handoff_convert = ad_handoff_convert,
    .redispatch = ad_redispatch,
};
