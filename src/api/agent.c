/* agent.c - the agent endpoints' client side, shared by the Anthropic
 * Messages (messages.c) and Responses (responses.c) endpoints and by chat
 * completions routed to an Anthropic-format model: errors before routing in
 * the client's shape, the body checks, the request facts from the chat IR,
 * the routing step (route_decide) and applying its plan (errors, the
 * response cache lookup); then the upstream proxy (upstream/proxy.h) serves
 * the turn with the agent adapter (agent_adapter.c, agent_relay.c). */
#include "api/agent_proxy.h"
#include "api/client_auth.h"
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
    const char *type = tr_anthropic_error_type(status);
    buf_t b = BUF_INIT;
    ag_anthropic_error_json(&b, type, msg);
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"endpoint\":\"messages\",\"status\":%d,\"type\":\"%s\"",
         req->request_id, status, type);
    api_error_respond(req, status, &b, "messages", "anthropic", type);
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

/* ------------------------------------------------------- after routing */

static void ag_routed(void *ud, route_plan_t *plan)
{
    ag_proxy_t *p = ud;
    up_proxy_t *up = &p->up;
    hsrv_req_t *req = up->req;
    const cfg_t *cfg = up->cfg;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (up->client_gone) { /* left while identity and memory were read */
        ag_drop(p);
        hsrv_abort(req);
        return;
    }
    if (plan->status != ROUTE_OK) {
        app_config_ref_t *ref = up->ref;
        up->ref = NULL;
        rq_proto_t client = up->client;
        ag_drop(p);
        if (plan->status == ROUTE_ERR_MODEL_NOT_FOUND) {
            buf_t names = BUF_INIT;
            route_valid_names(cfg, &names);
            char msg[768];
            snprintf(msg, sizeof msg, "model '%.200s' is not served here; valid models: %s",
                     plan->error_message, names.data ? names.data : "");
            ag_early_error(req, client, 404, "invalid_request_error", "model_not_found", "model",
                           msg);
            buf_free(&names);
        } else {
            ag_early_error(req, client, 503, "server_error", plan->error_code, NULL,
                           plan->error_message);
        }
        app_config_release(ref);
        return;
    }
    if (!client_auth_decision_allowed(req, plan->decision_name)) {
        app_config_ref_t *ref = up->ref;
        up->ref = NULL;
        rq_proto_t client = up->client;
        ag_drop(p);
        client_auth_forbid(req, client, true, plan->decision_name);
        app_config_release(ref);
        return;
    }
    if (!cfg_model_serves(plan->model, CFG_EP_CHAT)) { /* named by the client */
        app_config_ref_t *ref = up->ref;
        up->ref = NULL;
        rq_proto_t client = up->client;
        char msg[320];
        snprintf(msg, sizeof msg, "model '%s' does not serve chat (providers.models[].endpoints)",
                 plan->model->name);
        ag_drop(p);
        ag_early_error(req, client, 400, "invalid_request_error", "model_not_supported", "model",
                       msg);
        app_config_release(ref);
        return;
    }
    up->routed = true;
    const cfg_model_t *m = plan->model;
    up_set_model(up, m, plan->model_index);
    p->meta.model = m->name;
    snprintf(up->conf, sizeof up->conf, "%.3f", plan->confidence);
    p->kind = ag_up_kind(p, m);
    if (p->chain_native && p->kind != AG_UP_RESPONSES) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "previous_response_id %s is provider-bound state (native chain) that model %s "
                 "cannot read",
                 p->prev_id, m->name);
        up_fail(up, 503, "server_error", "session_model_unavailable", msg);
        return;
    }
    up_count_plan(plan, m, false);
    req->user = p;
    req->on_abort = up_client_abort;
    req->on_drain = up_client_drain;
    /* §8 response cache (Messages and Responses clients; no other plugin
     * runs on these endpoints) */
    if (up->client != RQ_PROTO_CHAT &&
        up_cache_lookup(up, req->body, req->body_len, &p->jr_client, up_start))
        return;
    up_start(up);
}

ag_proxy_t *ag_new(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, rq_proto_t c)
{
    ag_proxy_t *p = arena_calloc(&req->arena, sizeof *p);
    up_host_t host;
    app_upstream_host(w, &host);
    up_proxy_init(&p->up, &ag_adapter, req, &host, ref->cfg, ref, c, ag_ep_name(c));
    if (req->principal) { /* rate limits and budgets count the key and its team */
        const client_principal_t *cp = req->principal;
        p->up.client_key = cp->key_name;
        p->up.client_team = cp->team ? cp->team : cp->tenant;
    }
    p->w = w;
    p->store = true;
    return p;
}

static void ag_routing_abort(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    p->up.client_gone = true;
}

void ag_route(ag_proxy_t *p)
{
    up_proxy_t *up = &p->up;
    hsrv_req_t *req = up->req;
    app_route_env(up->ref, &up->env);
    /* the worker's Redis store, as for chat: session memory is shared by
     * the replicas (without it, every replica kept its own) */
    if (p->w && p->w->store) up->env.store = p->w->store;
    if (p->w) up->env.cls = p->w->cls;
    /* the open tool calls' binding: the loop's model without a store */
    rid_bind_tool_calls(up->cfg, up->rq, &req->arena, req->request_id);
    up->rin.cfg = up->cfg;
    up->rin.rq = up->rq;
    up->rin.request_id = req->request_id;
    up->rin.now_ms = clock_wall_ms();
    client_auth_route_in(req, &up->rin);
    const char *model = up->rq ? up->rq->model : NULL;
    if (!client_auth_model_allowed(req, model)) {
        app_config_ref_t *ref = up->ref;
        up->ref = NULL;
        rq_proto_t client = up->client;
        ag_drop(p);
        client_auth_forbid(req, client, false, model);
        app_config_release(ref);
        return;
    }
    req->user = p;
    /* identity and memory may complete later (Redis): keep the request if
     * the client goes away meanwhile, and end it when routing reports */
    req->keep_on_abort = true;
    req->on_abort = ag_routing_abort;
    route_decide(&up->env, &up->rin, &req->arena, &up->plan, ag_routed, p);
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
    hsrv_req_t *req = p->up.req;
    if (jscan_request(p->ir.data, p->ir.len, &req->arena, &p->jr_ir, NULL) != 0) {
        app_config_ref_t *ref = p->up.ref;
        p->up.ref = NULL;
        rq_proto_t c = p->up.client;
        ag_drop(p);
        app_config_release(ref);
        ag_early_error(req, c, 500, "server_error", "internal_error", NULL,
                       "request normalisation failed");
        return false;
    }
    if (p->up.client == RQ_PROTO_ANTHROPIC)
        p->up.rq = rq_from_anthropic(&req->arena, req->body, req->body_len, p->ir.data, p->ir.len,
                                     &p->jr_ir, req->headers, req->n_headers);
    else
        p->up.rq = rq_from_responses(&req->arena, req->body, req->body_len, p->ir.data, p->ir.len,
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
        p->up.client_stream = jr.stream == 1;
        jspan_t iu;
        p->up.client_usage = jr.stream_options.len &&
                             jscan_obj_get(req->body, jr.stream_options, "include_usage", &iu) &&
                             jscan_type(req->body, iu) == 't';
        if (jr.thinking.len || jr.reasoning.len)
            tr_warn_add(&p->warn, "thinking_signature_dropped");
    }
    p->up.env = *env;
    p->up.rin = *rin;
    p->up.rq = rin->rq;
    p->up.plan = *plan;
    req->user = p;
    ag_routed(p, &p->up.plan);
}
