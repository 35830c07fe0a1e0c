/* agent.c - the agent proxy's core, shared by the Anthropic Messages
 * (messages.c) and Responses (responses.c) endpoints and by chat completions
 * routed to an Anthropic-format model: the proxy's lifecycle, errors in the
 * client's shape, the response headers and request log, the routing step
 * (route_decide and applying its plan), and the upstream request for the
 * chosen backend's protocol (spliced when it matches the client's,
 * translated otherwise). The attempts and the relay are in agent_relay.c. */
#include "api/agent_proxy.h"
#include "api/client_auth.h"
#include "api/forward_headers.h"
#include "api/relay_common.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "request/request_agent.h"
#include "route/resolve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ errors */

const char *ag_ep_name(rq_proto_t c)
{
    return c == RQ_PROTO_ANTHROPIC ? "messages" : c == RQ_PROTO_RESPONSES ? "responses" : "chat";
}

void ag_anthropic_error_json(buf_t *b, const char *type, const char *msg)
{
    buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    buf_json_str(b, type, strlen(type));
    buf_puts(b, ",\"message\":");
    buf_json_str(b, msg, strlen(msg));
    buf_puts(b, "}}");
}

void api_error_anthropic(hsrv_req_t *req, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b = BUF_INIT;
    const char *type = tr_anthropic_error_type(status);
    ag_anthropic_error_json(&b, type, msg);
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"endpoint\":\"messages\",\"status\":%d,\"type\":\"%s\"",
         req->request_id, status, type);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, "messages", st, "anthropic");
    met_inc(tmet.request_errors_total, 1, "messages", type);
    hsrv_respond(req, status, h, 2, b.data, b.len);
    buf_free(&b);
}

/* An error before routing, in the client's shape. */
void ag_early_error(hsrv_req_t *req, rq_proto_t client, int status, const char *type,
                    const char *code, const char *param, const char *msg)
{
    if (client == RQ_PROTO_ANTHROPIC)
        api_error_anthropic(req, status, "%s", msg);
    else
        api_error_openai(req, status, type, code, param, "%s", msg);
}

/* ------------------------------------------------------------ lifecycle */

void ag_end(ag_proxy_t *p)
{
    if (p->deadline) event_free(p->deadline);
    p->deadline = NULL;
    sse_parser_deinit(&p->sse);
    buf_free(&p->acc);
    buf_free(&p->reply);
    buf_free(&p->ir);
    buf_free(&p->upbody);
    buf_free(&p->final_response);
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
    tr_asm_deinit(&p->asm_reply);
    p->assemble = false;
    cJSON_Delete(p->output);
    p->output = NULL;
    free(p->instructions);
    p->instructions = NULL;
    free(p->prev_id);
    p->prev_id = NULL;
    if (p->ref) app_config_release(p->ref);
    p->ref = NULL;
    p->done = true;
}

static const char *proto_label(ag_proxy_t *p)
{
    static const char *const names[3][3] = {
        {"openai->openai", "openai->anthropic", "openai->responses"},
        {"responses->openai", "responses->anthropic", "responses->responses"},
        {"anthropic->openai", "anthropic->anthropic", "anthropic->responses"},
    };
    int c = p->client == RQ_PROTO_CHAT ? 0 : p->client == RQ_PROTO_RESPONSES ? 1 : 2;
    return names[c][p->up];
}

int ag_tether_headers(ag_proxy_t *p, hsrv_header_t *h, int n, const char *path)
{
    const route_plan_t *pl = &p->plan;
    if (p->model) n = relay_add_h(h, n, "x-tether-model", p->model->name);
    if (p->model && p->backend >= 0)
        n = relay_add_h(h, n, "x-tether-backend", p->model->backend_refs[p->backend].name);
    n = relay_add_h(h, n, "x-tether-request-id", p->req->request_id);
    n = relay_add_h(h, n, "x-tether-response-path", path);
    if (p->routed) {
        n = relay_plan_headers(h, n, pl, p->conf);
        const char *phase = relay_phase_label(pl);
        if (p->ref->cfg->router.compat_headers && p->model) {
            n = relay_add_h(h, n, "x-vsr-selected-model", p->model->name);
            n = relay_add_h(h, n, "x-vsr-selected-decision",
                            pl->decision_name ? pl->decision_name : "");
            n = relay_add_h(h, n, "x-vsr-selected-confidence", p->conf);
            n = relay_add_h(h, n, "x-vsr-session-phase", phase);
        }
    }
    n = relay_add_h(h, n, "x-tether-protocol", proto_label(p));
    if (p->warn.len) n = relay_add_h(h, n, "x-tether-warnings", p->warn.list);
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

void ag_log_done(ag_proxy_t *p, int status)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *ep = ag_ep_name(p->client);
    met_inc(tmet.requests_total, 1, ep, st,
            p->client == RQ_PROTO_ANTHROPIC ? "anthropic" : "openai");
    met_observe(tmet.request_duration_seconds, (double)(clock_mono_us() - p->req->started_us) / 1e6,
                ep);
    if (p->usage.found && p->model) {
        if (p->usage.prompt_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.prompt_tokens, p->model->name, "prompt");
        if (p->usage.completion_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.completion_tokens, p->model->name,
                    "completion");
        if (p->usage.cached_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.cached_tokens, p->model->name, "cached");
    }
    count_warnings(p);
    tlog(TLOG_INFO, "request",
         "\"request_id\":\"%s\",\"endpoint\":\"%s\",\"status\":%d,\"model\":\"%s\",\"protocol\":\"%"
         "s\","
         "\"stream\":%s,\"attempts\":%d,\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
         "\"cached_tokens\":%lld,\"warnings\":\"%s\",\"duration_us\":%llu",
         p->req->request_id, ep, status, p->model ? p->model->name : "", proto_label(p),
         p->client_stream ? "true" : "false", p->attempts,
         (long long)(p->usage.found ? p->usage.prompt_tokens : -1),
         (long long)(p->usage.found ? p->usage.completion_tokens : -1),
         (long long)(p->usage.found ? p->usage.cached_tokens : -1), p->warn.list,
         (unsigned long long)(clock_mono_us() - p->req->started_us));
}

/* Error after routing, in the client's shape, with the routing headers. */
void ag_error(ag_proxy_t *p, int status, const char *type, const char *code, const char *msg)
{
    buf_t b = BUF_INIT;
    if (p->client == RQ_PROTO_ANTHROPIC)
        ag_anthropic_error_json(&b, tr_anthropic_error_type(status), msg);
    else
        api_error_openai_json(&b, type, code, NULL, msg);
    hsrv_header_t h[40];
    int n = relay_add_h(h, 0, "content-type", "application/json");
    n = ag_tether_headers(p, h, n, "error");
    met_inc(tmet.request_errors_total, 1, ag_ep_name(p->client), code);
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"model\":\"%s\"", p->req->request_id,
         status, code, p->model ? p->model->name : "");
    ag_log_done(p, status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    app_config_ref_t *ref = p->ref;
    p->ref = NULL;
    ag_end(p);
    hsrv_respond(req, status, h, (size_t)n, b.data, b.len);
    app_config_release(ref);
    buf_free(&b);
}

/* ------------------------------------------------------------ attempts */

void ag_build_head(ag_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h)
{
    const char *path;
    if (p->up == AG_UP_ANTHROPIC) {
        path = b->chat_path && strstr(b->chat_path, "messages") ? b->chat_path : "/messages";
        if (p->count_tokens) path = "/messages/count_tokens";
    } else if (p->up == AG_UP_RESPONSES) {
        path = "/responses";
    } else {
        path =
            b->chat_path && !strstr(b->chat_path, "messages") ? b->chat_path : "/chat/completions";
    }
    fwd_head_in_t in = {
        .backend = b,
        .path_prefix = b->endpoint && !b->base_url ? "/v1" : b->path_prefix,
        .path = path,
        .body_len = p->upbody.len,
        .request_id = p->req->request_id,
        .client = p->req->headers,
        .n_client = p->req->n_headers,
        .anthropic_upstream = p->up == AG_UP_ANTHROPIC,
        .listener_keyed = p->req->principal != NULL,
    };
    fwd_build_head(&in, h);
}

/* ------------------------------------------------------ upstream bodies */

/* The client's body with every top-level "model" replaced (and a wrapped
 * previous_response_id unwrapped). */
void ag_splice_model(ag_proxy_t *p, const char *body, size_t len, const jreq_t *jr)
{
    jsplice_t sp;
    jsplice_init(&sp);
    buf_t mv = BUF_INIT;
    buf_json_str(&mv, p->model->provider_model_id, strlen(p->model->provider_model_id));
    for (uint32_t i = 0; i < jr->n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&sp, jr->model_all[i].off, jr->model_all[i].len, mv.data, (uint32_t)mv.len);
    rid_unwrap_prev(p->rq, jr, &sp, &p->req->arena);
    jsplice_sort(&sp);
    jsplice_to_buf(&sp, body, len, &p->upbody);
    jsplice_free(&sp);
    buf_free(&mv);
}

bool ag_build_upstream(ag_proxy_t *p, char *err, size_t errlen)
{
    hsrv_req_t *req = p->req;
    const char *pm = p->model->provider_model_id;
    buf_reset(&p->upbody);
    if (p->client == RQ_PROTO_ANTHROPIC && p->up == AG_UP_ANTHROPIC) {
        jreq_t jr;
        if (jscan_request(req->body, req->body_len, NULL, &jr, NULL) != 0) return false;
        ag_splice_model(p, req->body, req->body_len, &jr);
        p->raw = true;
        return true;
    }
    if (p->client == RQ_PROTO_RESPONSES && p->up == AG_UP_RESPONSES) {
        const char *prev = p->prev_id;
        if (prev && !p->chain_native) {
            /* an emulated chain reaching a native backend: send it explicitly */
            cJSON *r = cJSON_ParseWithLength(req->body, req->body_len);
            if (!r) return false;
            cJSON *items = cJSON_CreateArray();
            rstore_chain(api_response_store(p->ref->cfg), prev, clock_wall_ms(), NULL, items, NULL,
                         NULL, NULL, &p->warn);
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
        p->raw = true;
        return true;
    }
    /* translated paths: from the chat IR (or the chat client's body) */
    const char *ir = p->client == RQ_PROTO_CHAT ? req->body : p->ir.data;
    size_t irlen = p->client == RQ_PROTO_CHAT ? req->body_len : p->ir.len;
    if (p->up == AG_UP_ANTHROPIC) {
        if (tr_req_chat_to_anthropic(ir, irlen, pm, &p->upbody, &p->warn, err, errlen) != 0)
            return false;
    } else {
        jreq_t jr;
        if (jscan_request(ir, irlen, NULL, &jr, NULL) != 0) return false;
        ag_splice_model(p, ir, irlen, &jr);
    }
    /* stream translators, set before any byte arrives */
    const char *cm = p->model->name;
    if (p->client_stream) {
        if (p->up == AG_UP_ANTHROPIC) {
            bool last = p->client == RQ_PROTO_CHAT;
            tr_stream_init(&p->ts[0], TR_S_A2C, cm, last ? ag_emit_client : ag_emit_next, p,
                           &p->warn);
            p->ts[0].include_usage = p->client_usage || !last;
            p->n_ts = 1;
            if (!last) {
                tr_stream_init(&p->ts[1], p->client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R, cm,
                               ag_emit_client, p, &p->warn);
                p->ts[1].meta = &p->meta;
                p->n_ts = 2;
            }
        } else {
            tr_stream_init(&p->ts[0], p->client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R, cm,
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
    if (p->client == RQ_PROTO_RESPONSES && m->responses_native) return AG_UP_RESPONSES;
    return AG_UP_CHAT;
}

/* ------------------------------------------------------- after routing */

static void ag_routed(void *ud, route_plan_t *plan)
{
    ag_proxy_t *p = ud;
    hsrv_req_t *req = p->req;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (p->client_gone) { /* left while identity and memory were read */
        ag_end(p);
        hsrv_abort(req);
        return;
    }
    const cfg_t *cfg = p->ref->cfg;
    if (plan->status != ROUTE_OK) {
        app_config_ref_t *ref = p->ref;
        p->ref = NULL;
        rq_proto_t client = p->client;
        ag_end(p);
        if (plan->status == ROUTE_ERR_MODEL_NOT_FOUND) {
            buf_t names = BUF_INIT;
            route_valid_names(cfg, &names);
            char msg[768];
            snprintf(msg, sizeof msg, "model '%.200s' is not served here; valid models: %s",
                     plan->error_message, names.data ? names.data : "");
            ag_early_error(req, client, 400, "invalid_request_error", "model_not_found", "model",
                           msg);
            buf_free(&names);
        } else {
            ag_early_error(req, client, 503, "server_error", plan->error_code, NULL,
                           plan->error_message);
        }
        app_config_release(ref);
        return;
    }
    p->routed = true;
    p->model = plan->model;
    p->model_index = plan->model_index;
    p->meta.model = plan->model->name;
    snprintf(p->conf, sizeof p->conf, "%.3f", plan->confidence);
    const cfg_model_t *m = p->model;
    p->up = ag_up_kind(p, m);
    if (p->chain_native && p->up != AG_UP_RESPONSES) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "previous_response_id %s is provider-bound state (native chain) that model %s "
                 "cannot read",
                 p->prev_id, m->name);
        ag_error(p, 503, "server_error", "session_model_unavailable", msg);
        return;
    }
    if (plan->ran_policy) {
        const sess_policy_out_t *o = &plan->pol;
        met_inc(tmet.session_decisions_total, 1, sess_reason_name(o->reason));
        if (o->hard_lock != SESS_HARD_LOCK_NONE)
            met_inc(tmet.session_locks_total, 1, sess_hard_lock_name(o->hard_lock));
        if (o->switched && o->previous_model)
            met_inc(tmet.session_switches_total, 1, o->previous_model, m->name);
    }
    int retries = m->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    req->user = p;
    req->on_abort = ag_client_abort;
    req->on_drain = ag_client_drain;
    char err[256] = "";
    if (!ag_build_upstream(p, err, sizeof err)) {
        ag_error(p, 400, "invalid_request_error", "invalid_body",
                 err[0] ? err : "the request could not be translated");
        return;
    }
    uint64_t total = m->reliability.total_timeout_ms;
    if (!total && req->listener_index >= 0 && (size_t)req->listener_index < cfg->n_listeners)
        total = cfg->listeners[req->listener_index].timeout_ms;
    if (total) {
        p->deadline = evtimer_new(hsrv_req_base(req), ag_deadline_cb, p);
        struct timeval tv = {(time_t)(total / 1000), (suseconds_t)((total % 1000) * 1000)};
        evtimer_add(p->deadline, &tv);
    }
    ag_attempt(p);
}

ag_proxy_t *ag_new(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, rq_proto_t c)
{
    ag_proxy_t *p = arena_calloc(&req->arena, sizeof *p);
    p->req = req;
    p->w = w;
    p->ref = ref;
    p->client = c;
    p->backend = -1;
    p->store = true;
    return p;
}

static void ag_routing_abort(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    p->client_gone = true;
}

void ag_route(ag_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    app_route_env(p->ref, &p->env);
    /* the worker's Redis store, as for chat: session memory is shared by
     * the replicas (without it, every replica kept its own) */
    if (p->w && p->w->store) p->env.store = p->w->store;
    p->rin.cfg = p->ref->cfg;
    p->rin.rq = p->rq;
    p->rin.request_id = req->request_id;
    p->rin.now_ms = clock_wall_ms();
    client_auth_route_in(req, &p->rin);
    req->user = p;
    /* identity and memory may complete later (Redis): keep the request if
     * the client goes away meanwhile, and end it when routing reports */
    req->keep_on_abort = true;
    req->on_abort = ag_routing_abort;
    route_decide(&p->env, &p->rin, &req->arena, &p->plan, ag_routed, p);
}

/* ------------------------------------------------------------ entries */

bool api_scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, arena_t *arena,
                     jreq_t *jr)
{
    jscan_err_t err = {0};
    api_mem_note_body(req->body_len);
    uint64_t max = ref->cfg->router.limits.max_messages;
    uint32_t cap = max && max < UINT32_MAX ? (uint32_t)max : UINT32_MAX - 1;
    int rc = jscan_request_max(req->body, req->body_len, arena, cap, jr, &err);
    char msg[256];
    if (rc == JSCAN_ETOO_MANY) {
        /* before any per-message structure grows: the cost stays bounded */
        const char *what = c == RQ_PROTO_RESPONSES ? "input items" : "messages";
        snprintf(msg, sizeof msg,
                 "too many %s: more than %u in one request (global.router.limits.max_messages)",
                 what, cap);
        tlog(TLOG_WARN, "too_many_messages",
             "\"request_id\":\"%s\",\"endpoint\":\"%s\",\"limit\":%u,\"at_byte\":%zu",
             req->request_id, ag_ep_name(c), cap, err.offset);
        app_config_release(ref);
        ag_early_error(req, c, 413, "invalid_request_error", "too_many_messages",
                       c == RQ_PROTO_RESPONSES ? "input" : "messages", msg);
        return false;
    }
    if (rc == -1) {
        snprintf(msg, sizeof msg, "malformed JSON at byte %zu: %s", err.offset, err.message);
        app_config_release(ref);
        ag_early_error(req, c, 400, "invalid_request_error", "invalid_json", NULL, msg);
        return false;
    }
    if (rc != 0) {
        app_config_release(ref);
        ag_early_error(req, c, 400, "invalid_request_error", "invalid_body", NULL,
                       "the request body must be a JSON object");
        return false;
    }
    if (jr->dup_key) {
        /* parsers disagree on which duplicate wins: never guess (docs/api.md) */
        snprintf(msg, sizeof msg,
                 "duplicate key \"%s\" at byte %u: each top-level key may appear only once",
                 jr->dup_key, jr->dup_off);
        app_config_release(ref);
        ag_early_error(req, c, 400, "invalid_request_error", "duplicate_key", jr->dup_key, msg);
        return false;
    }
    return true;
}

bool ag_scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, jreq_t *jr)
{
    if (!api_scan_client(req, ref, c, NULL, jr)) return false;
    if (jr->n_model == 0 || !jr->model_is_string) {
        app_config_release(ref);
        ag_early_error(req, c, 400, "invalid_request_error", "invalid_body", "model",
                       jr->n_model ? "model: must be a string" : "model: field required");
        return false;
    }
    return true;
}

/* Build the chat IR facts; false after answering an error. */
bool ag_ir_facts(ag_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    if (jscan_request(p->ir.data, p->ir.len, &req->arena, &p->jr_ir, NULL) != 0) {
        app_config_ref_t *ref = p->ref;
        p->ref = NULL;
        rq_proto_t c = p->client;
        ag_end(p);
        app_config_release(ref);
        ag_early_error(req, c, 500, "server_error", "internal_error", NULL,
                       "request normalisation failed");
        return false;
    }
    if (p->client == RQ_PROTO_ANTHROPIC)
        p->rq = rq_from_anthropic(&req->arena, req->body, req->body_len, p->ir.data, p->ir.len,
                                  &p->jr_ir, req->headers, req->n_headers);
    else
        p->rq = rq_from_responses(&req->arena, req->body, req->body_len, p->ir.data, p->ir.len,
                                  &p->jr_ir, req->headers, req->n_headers);
    return true;
}

void api_agent_chat_to_anthropic(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref,
                                 const route_env_t *env, const route_in_t *rin,
                                 const route_plan_t *plan)
{
    ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_CHAT);
    jreq_t jr;
    if (jscan_request(req->body, req->body_len, NULL, &jr, NULL) == 0) {
        p->client_stream = jr.stream == 1;
        jspan_t iu;
        p->client_usage = jr.stream_options.len &&
                          jscan_obj_get(req->body, jr.stream_options, "include_usage", &iu) &&
                          jscan_type(req->body, iu) == 't';
        if (jr.thinking.len || jr.reasoning.len)
            tr_warn_add(&p->warn, "thinking_signature_dropped");
    }
    p->env = *env;
    p->rin = *rin;
    p->rq = rin->rq;
    p->plan = *plan;
    req->user = p;
    ag_routed(p, &p->plan);
}
