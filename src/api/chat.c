/* chat.c - POST /v1/chat/completions, the client side: scan the body once,
 * build the request facts, run the routing pipeline (route_decide), and
 * apply the plan: its errors, the forced-handoff conversion, the plugins
 * (fast_response, request_params, body and header edits) and the response
 * cache lookup; then the upstream proxy (upstream/proxy.h) serves the turn
 * with the chat adapter (chat_adapter.c), or, for an Anthropic-format
 * model, the translated path of agent.c. */
#include "api/agent.h"
#include "api/app.h"
#include "api/chat_proxy.h"
#include "api/client_auth.h"
#include "api/errors.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "route/resolve.h"
#include "session/handoff_rewrite.h"
#include "upstream/trace.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void chat_routed(void *ud, route_plan_t *plan);
static void routing_abort(hsrv_req_t *req);

/* Zero bytes [from, to) of p. */
static void zero_range(void *p, size_t from, size_t to)
{
    memset((char *)p + from, 0, to - from);
}

/* A request's proxy state from the arena, zeroed except the three large
 * parts that are written before anything reads them (about 10 of its 12 KB,
 * a memset on every request otherwise): the plan (route_decide clears it
 * first), the plugins' output (plg_out_init clears it before has_plg is
 * set; every reader checks has_plg) and the iovecs (filled by the body
 * build, read only up to n_iov). */
static chat_proxy_t *chat_proxy_new(arena_t *a)
{
    _Static_assert(offsetof(chat_proxy_t, up) == 0, "up first");
    _Static_assert(offsetof(up_proxy_t, plg) < offsetof(up_proxy_t, plan), "layout");
    _Static_assert(offsetof(up_proxy_t, plan) + sizeof(route_plan_t) <= sizeof(up_proxy_t),
                   "layout");
    _Static_assert(offsetof(chat_proxy_t, iov) >= sizeof(up_proxy_t), "layout");
    chat_proxy_t *p = arena_alloc(a, sizeof *p);
    const size_t plg = offsetof(up_proxy_t, plg), plan = offsetof(up_proxy_t, plan),
                 iov = offsetof(chat_proxy_t, iov);
    zero_range(p, 0, plg);
    zero_range(p, plg + sizeof p->up.plg, plan);
    zero_range(p, plan + sizeof p->up.plan, iov);
    zero_range(p, iov + sizeof p->iov, sizeof *p);
    return p;
}

void api_chat_completions(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    const cfg_t *cfg = ref->cfg;
    jreq_t jr;
    if (!api_scan_client(req, ref, RQ_PROTO_CHAT, &req->arena, &jr)) return;
    if (!jr.has_messages) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "messages",
                                jr.messages.len ? "messages: must be an array"
                                                : "missing required field 'messages'");
    }
    if (jr.n_model == 0 || !jr.model_is_string) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "model",
                                jr.n_model ? "field 'model' must be a string"
                                           : "missing required field 'model'");
    }
    chat_proxy_t *p = chat_proxy_new(&req->arena);
    up_proxy_t *up = &p->up;
    up_host_t host;
    app_upstream_host(w, &host);
    up_proxy_init(up, &chat_adapter, req, &host, cfg, ref, RQ_PROTO_CHAT, "chat");
    p->w = w;
    p->jr = jr;
    up->client_stream = jr.stream == 1;
    jspan_t iu;
    up->client_usage = jr.stream_options.len &&
                       jscan_obj_get(req->body, jr.stream_options, "include_usage", &iu) &&
                       jscan_type(req->body, iu) == 't';
    up->rq =
        rq_from_chat(&req->arena, req->body, req->body_len, &p->jr, req->headers, req->n_headers);
    if (up->rq) {
        rid_bind_request(cfg, up->rq, &req->arena, req->request_id);
        rid_bind_tool_calls(cfg, up->rq, &req->arena, req->request_id);
    }
    app_route_env(ref, &up->env);
    if (w->store) up->env.store = w->store; /* the worker's Redis store */
    up->env.cls = w->cls;
    up->rin.cfg = cfg;
    up->rin.rq = up->rq;
    up->rin.request_id = req->request_id;
    up->rin.now_ms = clock_wall_ms();
    client_auth_route_in(req, &up->rin);
    if (!client_auth_model_allowed(req, up->rq ? up->rq->model : NULL)) {
        up->ref = NULL;
        client_auth_forbid(req, RQ_PROTO_CHAT, false, up->rq ? up->rq->model : NULL);
        app_config_release(ref);
        return;
    }
    if (req->principal) { /* rate limits and budgets count the key and its team */
        const client_principal_t *cp = req->principal;
        up->client_key = cp->key_name;
        up->client_team = cp->team ? cp->team : cp->tenant;
    }
    req->user = p;
    /* identity and memory may complete later (Redis): keep the request if the
     * client goes away meanwhile, and end it when routing reports */
    req->keep_on_abort = true;
    req->on_abort = routing_abort;
    route_decide(&up->env, &up->rin, &req->arena, &up->plan, chat_routed, p);
}

static void routing_abort(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    p->up.client_gone = true;
}

/* Redis answered the cache lookup with a miss: the rest of chat_plugins,
 * then the upstream. */
static void chat_cache_miss(up_proxy_t *up)
{
    chat_proxy_t *p = (chat_proxy_t *)up;
    plg_ctx_t pc;
    chat_plugin_ctx(p, &pc);
    if (up->plan.decision) plg_run_post(&pc, &up->plg);
    up_start(up);
}

/* The plugins of the effective decision (§8) before the upstream call:
 * fast_response and request_params (true when they answered), then the
 * response cache, then the body and header changes. */
static bool chat_plugins(chat_proxy_t *p)
{
    up_proxy_t *up = &p->up;
    const route_plan_t *plan = &up->plan;
    plg_ctx_t pc;
    chat_plugin_ctx(p, &pc);
    plg_out_init(&up->plg);
    up->has_plg = true;
    if (plan->decision && plg_run_pre(&pc, &up->plg)) {
        const plg_out_t *o = &up->plg;
        int st = o->status ? o->status : (o->fast ? 200 : 400);
        buf_t eb = BUF_INIT;
        const char *body = o->reply;
        size_t blen = o->reply_len;
        if (!o->fast) {
            api_error_openai_json(&eb, "invalid_request_error", "invalid_body", NULL,
                                  o->error ? o->error : "rejected by request_params");
            body = eb.data;
            blen = eb.len;
        }
        const char *ct = o->fast && o->content_type ? o->content_type : "application/json";
        met_inc(tmet.requests_total, 1, "chat", o->fast ? "fast_response" : "400", "openai");
        const char *path = o->fast ? "fast_response" : "error";
        up_trace_done(up, st, path);
        up_respond(up, st, ct, NULL, 0, path, body, blen);
        buf_free(&eb);
        return true;
    }
    /* §8 response cache: after fast_response/request_params, before the upstream */
    if (up_cache_lookup(up, p->cbody, p->cbody_len, &p->jr, chat_cache_miss)) return true;
    if (plan->decision) plg_run_post(&pc, &up->plg);
    return false;
}

/* snprintf(dst, cap, "%s", s) without printf: s cut to cap - 1 bytes. */
static void copy_cut(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - 1) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

/* The confidence as "%.3f" writes it (buf_fixed: the same bytes, no printf). */
static const char *conf_text(arena_t *a, double confidence)
{
    buf_t t = BUF_ARENA(a);
    buf_fixed(&t, confidence, 3);
    return t.data;
}

/* The pipeline has a plan: answer its error, or proxy to its model. */
static void chat_routed(void *ud, route_plan_t *plan)
{
    chat_proxy_t *p = ud;
    up_proxy_t *up = &p->up;
    hsrv_req_t *req = up->req;
    app_config_ref_t *ref = up->ref;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (up->client_gone) {
        up->ref = NULL;
        app_config_release(ref);
        hsrv_abort(req);
        return;
    }
    const cfg_t *cfg = up->cfg;
    p->cbody = req->body;
    p->cbody_len = req->body_len;
    if (plan->status != ROUTE_OK) {
        up->ref = NULL;
        if (plan->status == ROUTE_ERR_MODEL_NOT_FOUND) {
            buf_t names = BUF_INIT;
            route_valid_names(cfg, &names);
            api_error_openai(req, 404, "invalid_request_error", "model_not_found", "model",
                             "model '%.200s' is not served here; valid models: %s",
                             plan->error_message, names.data);
            buf_free(&names);
        } else {
            api_error_openai(req, 503, "server_error", plan->error_code, NULL, "%s",
                             plan->error_message);
        }
        app_config_release(ref);
        return;
    }
    if (!cfg_model_serves(plan->model, CFG_EP_CHAT)) { /* named by the client */
        up->ref = NULL;
        api_error_openai(req, 400, "invalid_request_error", "model_not_supported", "model",
                         "model '%s' does not serve chat (providers.models[].endpoints)",
                         plan->model->name);
        app_config_release(ref);
        return;
    }
    if (plan->ran_policy && plan->pol.reason == SESS_REASON_FORCED_HANDOFF &&
        plan->pol.has_handoff && plan->pol.handoff.possible) {
        /* §9.7: the locked model is gone; convert what only it could read
         * so the new model can (the converted body replaces the client's) */
        sess_handoff_result_t hr;
        const char *nb;
        size_t nl;
        jscan_err_t je = {0};
        if (sess_handoff_apply(up->rq, &plan->pol.handoff, NULL, &req->arena, &nb, &nl, &hr) != 0 ||
            jscan_request(nb, nl, &req->arena, &p->jr, &je) != 0) {
            up->ref = NULL;
            api_error_openai(req, 503, "server_error", "session_model_unavailable", NULL, "%s",
                             hr.error ? hr.error : "the session's state cannot be converted");
            app_config_release(ref);
            return;
        }
        p->cbody = nb;
        p->cbody_len = nl;
        up->rq = rq_from_chat(&req->arena, nb, nl, &p->jr, req->headers, req->n_headers);
        tlog(TLOG_INFO, "forced_handoff", "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
             req->request_id, plan->pol.handoff.from ? plan->pol.handoff.from : "",
             plan->pol.handoff.to ? plan->pol.handoff.to : "");
    }
    if (!client_auth_decision_allowed(req, plan->decision_name)) {
        up->ref = NULL;
        client_auth_forbid(req, RQ_PROTO_CHAT, true, plan->decision_name);
        app_config_release(ref);
        return;
    }
    const cfg_model_t *model = plan->model;
    if (model->api_format == CFG_API_ANTHROPIC) { /* translated path: agent.c */
        up->ref = NULL;
        api_agent_chat_to_anthropic(req, p->w, ref, &up->env, &up->rin, plan);
        return;
    }
    up_set_model(up, model, plan->model_index);
    up->routed = true;
    p->route_kind = plan->passthrough ? "passthrough" : "auto";
    copy_cut(up->conf, sizeof up->conf, conf_text(&req->arena, plan->confidence));
    if (up->host.replay) {
        up->rec = up_trace_rec_begin(plan, req->request_id, "chat", "openai", "openai");
        copy_cut(up->replay_id, sizeof up->replay_id, up->rec->id);
        client_auth_trace(req, up->rec);
    }
    up_count_plan(plan, model, true);
    req->user = p;
    req->on_abort = up_client_abort;
    req->on_drain = up_client_drain;
    if (chat_plugins(p)) return;
    up_start(up);
}
