/* agent_adapter.c - the upstream proxy's adapter (upstream/proxy.h) for the
 * agent endpoints: a Messages or Responses client, or a chat client routed
 * to an Anthropic-format model. Here: the upstream body for the chosen
 * backend's protocol (the client's body spliced when the protocols match,
 * translated from the chat IR otherwise, with the stream translators set
 * before any byte), the head's path, the response headers and request log,
 * errors in the client's shape, the forced handoff's conversion and the
 * re-dispatch; the relay side (events, translation of a whole reply, the
 * Responses store) is agent_relay.c. */
#include "api/access_log.h"
#include "api/agent_proxy.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "session/handoff_rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_proxy_t *ag_of(up_proxy_t *up)
{
    return (ag_proxy_t *)up;
}

/* The adapter's own state (the proxy releases the rest). */
static void ad_end(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    buf_free(&p->ir);
    buf_free(&p->upbody);
    buf_free(&p->final_response);
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
    tr_asm_deinit(&p->asm_reply);
    up->assemble = false;
    cJSON_Delete(p->output);
    p->output = NULL;
    free(p->instructions);
    p->instructions = NULL;
    free(p->prev_id);
    p->prev_id = NULL;
    rstore_chain_free(p->chain);
    p->chain = NULL;
}

void ag_drop(ag_proxy_t *p)
{
    up_end(&p->up);
}

static const char *proto_label(ag_proxy_t *p)
{
    static const char *const names[3][3] = {
        {"openai->openai", "openai->anthropic", "openai->responses"},
        {"responses->openai", "responses->anthropic", "responses->responses"},
        {"anthropic->openai", "anthropic->anthropic", "anthropic->responses"},
    };
    int c = p->up.client == RQ_PROTO_CHAT ? 0 : p->up.client == RQ_PROTO_RESPONSES ? 1 : 2;
    return names[c][p->kind];
}

static int ad_headers(up_proxy_t *up, hsrv_header_t *h, int n, const char *path)
{
    ag_proxy_t *p = ag_of(up);
    const route_plan_t *pl = &p->up.plan;
    if (p->up.model) n = up_add_h(h, n, "x-tether-model", p->up.model->name);
    if (p->up.model && p->up.backend >= 0)
        n = up_add_h(h, n, "x-tether-backend", p->up.model->backend_refs[p->up.backend].name);
    n = up_add_h(h, n, "x-tether-request-id", p->up.req->request_id);
    n = up_add_h(h, n, "x-tether-response-path", path);
    if (p->up.routed) {
        n = up_plan_headers(h, n, pl, p->up.conf);
        const char *phase = up_phase_label(pl);
        if (p->up.cfg->router.compat_headers && p->up.model) {
            n = up_add_h(h, n, "x-vsr-selected-model", p->up.model->name);
            n = up_add_h(h, n, "x-vsr-selected-decision",
                         pl->decision_name ? pl->decision_name : "");
            n = up_add_h(h, n, "x-vsr-selected-confidence", p->up.conf);
            n = up_add_h(h, n, "x-vsr-session-phase", phase);
        }
    }
    n = up_add_h(h, n, "x-tether-protocol", proto_label(p));
    if (p->warn.len) n = up_add_h(h, n, "x-tether-warnings", p->warn.list);
    return n;
}

static void count_warnings(ag_proxy_t *p)
{
    met_family_t *wm = ag_warn_metric();
    if (!p->warn.len || !wm) return;
    char tmp[sizeof p->warn.list];
    memcpy(tmp, p->warn.list, sizeof tmp);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        met_inc(wm, 1, t);
}

static void ad_log_done(up_proxy_t *up, int status)
{
    ag_proxy_t *p = ag_of(up);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *ep = ag_ep_name(p->up.client);
    met_inc(tmet.requests_total, 1, ep, st,
            p->up.client == RQ_PROTO_ANTHROPIC ? "anthropic" : "openai");
    met_observe(tmet.request_duration_seconds,
                (double)(clock_mono_us() - p->up.req->started_us) / 1e6, ep);
    if (p->up.usage.found && p->up.model) {
        if (p->up.usage.prompt_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->up.usage.prompt_tokens, p->up.model->name,
                    "prompt");
        if (p->up.usage.completion_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->up.usage.completion_tokens, p->up.model->name,
                    "completion");
        if (p->up.usage.cached_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->up.usage.cached_tokens, p->up.model->name,
                    "cached");
    }
    up_count_cost(&p->up);
    api_access_note_proxy(&p->up);
    count_warnings(p);
    tlog(TLOG_DEBUG, "request", /* the access line (access_log.c) is the INFO one */
         "\"request_id\":\"%s\",\"endpoint\":\"%s\",\"status\":%d,\"model\":\"%s\",\"protocol\":\"%"
         "s\","
         "\"stream\":%s,\"attempts\":%d,\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
         "\"cached_tokens\":%lld,\"warnings\":\"%s\",\"duration_us\":%llu",
         p->up.req->request_id, ep, status, p->up.model ? p->up.model->name : "", proto_label(p),
         p->up.client_stream ? "true" : "false", p->up.attempts,
         (long long)(p->up.usage.found ? p->up.usage.prompt_tokens : -1),
         (long long)(p->up.usage.found ? p->up.usage.completion_tokens : -1),
         (long long)(p->up.usage.found ? p->up.usage.cached_tokens : -1), p->warn.list,
         (unsigned long long)(clock_mono_us() - p->up.req->started_us));
}

/* An error body in the client's shape. */
static void ad_error_body(up_proxy_t *up, int status, const char *type, const char *code,
                          const char *msg, buf_t *out)
{
    if (up->client == RQ_PROTO_ANTHROPIC)
        ag_anthropic_error_json(out, tr_anthropic_error_type(status), msg);
    else
        api_error_openai_body(up, status, type, code, msg, out);
}

/* ------------------------------------------------------------ attempts */

static void ad_head(up_proxy_t *up, const cfg_backend_ref_t *b, fwd_head_in_t *in)
{
    ag_proxy_t *p = ag_of(up);
    const char *path;
    if (p->kind == AG_UP_ANTHROPIC) {
        path = b->chat_path && strstr(b->chat_path, "messages") ? b->chat_path : "/messages";
        if (p->count_tokens) path = "/messages/count_tokens";
    } else if (p->kind == AG_UP_RESPONSES) {
        path = "/responses";
    } else {
        path =
            b->chat_path && !strstr(b->chat_path, "messages") ? b->chat_path : "/chat/completions";
    }
    in->path = path;
    in->body_len = p->upbody.len;
    in->anthropic_upstream = p->kind == AG_UP_ANTHROPIC;
    in->ops = NULL;
    in->n_ops = 0;
}

/* ------------------------------------------------------ upstream bodies */

/* The client's body with every top-level "model" replaced (and a wrapped
 * previous_response_id unwrapped). */
void ag_splice_model(ag_proxy_t *p, const char *body, size_t len, const jreq_t *jr)
{
    jsplice_t sp;
    jsplice_init(&sp);
    buf_t mv = BUF_INIT;
    buf_json_str(&mv, up_upstream_model(&p->up), strlen(up_upstream_model(&p->up)));
    for (uint32_t i = 0; i < jr->n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&sp, jr->model_all[i].off, jr->model_all[i].len, mv.data, (uint32_t)mv.len);
    rid_unwrap_prev(p->up.rq, jr, &sp, &p->up.req->arena);
    jsplice_sort(&sp);
    jsplice_to_buf(&sp, body, len, &p->upbody);
    jsplice_free(&sp);
    buf_free(&mv);
}

static bool build_upstream(ag_proxy_t *p, char *err, size_t errlen)
{
    hsrv_req_t *req = p->up.req;
    const char *pm = up_upstream_model(&p->up);
    buf_reset(&p->upbody);
    if (p->up.client == RQ_PROTO_ANTHROPIC && p->kind == AG_UP_ANTHROPIC) {
        jreq_t jr;
        if (jscan_request(req->body, req->body_len, NULL, &jr, NULL) != 0) return false;
        ag_splice_model(p, req->body, req->body_len, &jr);
        p->up.raw = true;
        return true;
    }
    if (p->up.client == RQ_PROTO_RESPONSES && p->kind == AG_UP_RESPONSES) {
        const char *prev = p->prev_id;
        if (prev && !p->chain_native) {
            /* an emulated chain reaching a native backend: send it explicitly */
            cJSON *r = cJSON_ParseWithLength(req->body, req->body_len);
            if (!r) return false;
            cJSON *items = cJSON_CreateArray();
            if (p->chain) rstore_chain_expand(p->chain, NULL, items, NULL, NULL, NULL, &p->warn);
            ag_items_of_input(cJSON_GetObjectItemCaseSensitive(r, "input"), items);
            cJSON_ReplaceItemInObject(r, "input", items);
            cJSON_DeleteItemFromObject(r, "previous_response_id");
            if (p->instructions && !cJSON_GetObjectItemCaseSensitive(r, "instructions"))
                cJSON_AddStringToObject(r, "instructions", p->instructions);
            cJSON_ReplaceItemInObject(r, "model", cJSON_CreateString(pm));
            char *s = cJSON_PrintUnformatted(r);
            buf_puts(&p->upbody, s);
            free(s);
            cJSON_Delete(r);
        } else {
            jreq_t jr;
            if (jscan_request(req->body, req->body_len, NULL, &jr, NULL) != 0) return false;
            ag_splice_model(p, req->body, req->body_len, &jr);
        }
        p->up.raw = true;
        return true;
    }
    /* translated paths: from the chat IR (or the chat client's body) */
    const char *ir = p->up.client == RQ_PROTO_CHAT ? req->body : p->ir.data;
    size_t irlen = p->up.client == RQ_PROTO_CHAT ? req->body_len : p->ir.len;
    if (p->kind == AG_UP_ANTHROPIC) {
        if (tr_req_chat_to_anthropic(ir, irlen, pm, &p->upbody, &p->warn, err, errlen) != 0)
            return false;
    } else {
        jreq_t jr;
        if (jscan_request(ir, irlen, NULL, &jr, NULL) != 0) return false;
        ag_splice_model(p, ir, irlen, &jr);
    }
    /* stream translators, set before any byte arrives */
    const char *cm = p->up.model->name;
    if (p->up.client_stream) {
        if (p->kind == AG_UP_ANTHROPIC) {
            bool last = p->up.client == RQ_PROTO_CHAT;
            tr_stream_init(&p->ts[0], TR_S_A2C, cm, last ? ag_emit_client : ag_emit_next, p,
                           &p->warn);
            p->ts[0].include_usage = p->up.client_usage || !last;
            p->n_ts = 1;
            if (!last) {
                tr_stream_init(&p->ts[1], p->up.client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R,
                               cm, ag_emit_client, p, &p->warn);
                p->ts[1].meta = &p->meta;
                p->n_ts = 2;
            }
        } else {
            tr_stream_init(&p->ts[0], p->up.client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R, cm,
                           ag_emit_client, p, &p->warn);
            p->ts[0].meta = &p->meta;
            p->n_ts = 1;
        }
    }
    return true;
}

ag_up_t ag_up_kind(const ag_proxy_t *p, const cfg_model_t *m)
{
    if (m->api_format == CFG_API_ANTHROPIC) return AG_UP_ANTHROPIC;
    if (p->up.client == RQ_PROTO_RESPONSES && m->responses_native) return AG_UP_RESPONSES;
    return AG_UP_CHAT;
}

/* (Re)build the upstream body for the model; a body that cannot be built
 * is the client's 400. */
static bool ad_build(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    char err[256] = "";
    if (!build_upstream(p, err, sizeof err)) {
        up_fail(up, 400, "invalid_request_error", "invalid_body",
                err[0] ? err : "the request could not be translated");
        return false;
    }
    /* the tool call ids as the provider issued them (response_id.h) */
    rid_unwrap_tool_ids_buf(p->kind == AG_UP_ANTHROPIC   ? RQ_PROTO_ANTHROPIC
                            : p->kind == AG_UP_RESPONSES ? RQ_PROTO_RESPONSES
                                                         : RQ_PROTO_CHAT,
                            &p->upbody);
    p->iov[0].iov_base = p->upbody.data;
    p->iov[0].iov_len = p->upbody.len;
    up->iov = p->iov;
    up->n_iov = 1;
    up->body_len = p->upbody.len;
    return true;
}

/* Another model takes the turn: its protocol, and no translator yet. */
static void ad_redispatch(up_proxy_t *up)
{
    ag_proxy_t *p = ag_of(up);
    p->meta.model = up->model->name;
    p->kind = ag_up_kind(p, up->model);
    up->raw = false;
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
}

/* A native Responses chain never falls back (it is provider state). */
static bool ad_may_fallback(const up_proxy_t *up)
{
    return !((const ag_proxy_t *)up)->chain_native;
}

/* A chain in tether's store can be expanded for any model. */
static void ad_handoff_facts(up_proxy_t *up, sess_facts_t *facts)
{
    ag_proxy_t *p = ag_of(up);
    if (p->prev_id && !p->chain_native) facts->previous_response_stored = true;
}

/* SPEC §9.4/§9.7 after failures: for a Responses client the stored chain is
 * already expanded: into the chat IR (p->ir) for a chat or Anthropic
 * upstream, and by build_upstream for a native Responses upstream (an
 * emulated chain is sent as explicit input items). The other conversions
 * of the handoff (dropping signed thinking, encrypted reasoning, ...) apply
 * to the IR. False after answering an error. */
static bool ad_handoff_convert(up_proxy_t *up, const sess_policy_out_t *out, const cfg_model_t *nm)
{
    ag_proxy_t *p = ag_of(up);
    hsrv_req_t *req = up->req;
    if (p->chain_native && ag_up_kind(p, nm) != AG_UP_RESPONSES) {
        up_fail(up, 503, "server_error", "session_model_unavailable",
                "previous_response_id is provider-bound state (native chain) that no "
                "available model can read");
        return false;
    }
    if (out->has_handoff && out->handoff.possible && up->client != RQ_PROTO_CHAT) {
        sess_handoff_result_t hr;
        memset(&hr, 0, sizeof hr);
        const char *nb;
        size_t nl;
        if (sess_handoff_apply(up->rq, &out->handoff, NULL, &req->arena, &nb, &nl, &hr) != 0) {
            up_fail(up, 503, "server_error", "session_model_unavailable",
                    hr.error ? hr.error : "the session's state cannot be converted");
            return false;
        }
        if (nb != p->ir.data) {
            buf_t nir = BUF_INIT;
            buf_append(&nir, nb, nl);
            buf_free(&p->ir);
            p->ir = nir;
        }
    }
    return true;
}

const up_adapter_t ag_adapter = {
    .build = ad_build,
    .head = ad_head,
    .headers = ad_headers,
    .error_body = ad_error_body,
    .stream_error = ag_stream_error,
    .log_done = ad_log_done,
    .end = ad_end,
    .on_ok = ag_on_ok,
    .sse_event = ag_sse_event,
    .relays_raw = ag_relays_raw,
    .whole = ag_whole,
    .assemble_start = ag_assemble_start,
    .assemble_end = ag_assemble_end,
    .assemble_abort = ag_assemble_abort,
    .translate_whole = ag_translate_whole,
    .translate_error = ag_translate_error,
    .stream_done = ag_stream_done,
    .handoff_facts = ad_handoff_facts,
    .handoff_convert = ad_handoff_convert,
    .may_fallback = ad_may_fallback,
    .redispatch = ad_redispatch,
};
