/* messages.c - the Anthropic Messages endpoints (SPEC §4.1): POST
 * /v1/messages (translated into the chat IR, then routed by agent.c and
 * served by the upstream proxy with the agent adapter) and POST
 * /v1/messages/count_tokens (forwarded to an Anthropic-format backend, or
 * estimated from the IR's facts). */
#include "api/agent_proxy.h"
#include "request/request_agent.h"
#include "route/resolve.h"
#include "signals/signal.h"

#include <string.h>

void api_messages(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!ag_scan_client(req, ref, RQ_PROTO_ANTHROPIC, &jr)) return;
    if (!jr.has_messages) {
        app_config_release(ref);
        return api_error_anthropic(req, 400,
                                   jr.messages.len ? "messages: must be an array"
                                                   : "messages: field required (an array)");
    }
    if (!jr.max_tokens.len) {
        app_config_release(ref);
        return api_error_anthropic(req, 400, "max_tokens: field required");
    }
    ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_ANTHROPIC);
    p->up.client_stream = jr.stream == 1;
    p->jr_client = jr;
    char err[256];
    if (tr_req_anthropic_to_chat(req->body, req->body_len, NULL, &p->ir, &p->warn, err,
                                 sizeof err) != 0) {
        p->up.ref = NULL;
        ag_drop(p);
        app_config_release(ref);
        return api_error_anthropic(req, 400, "%s", err);
    }
    if (!ag_ir_facts(p)) return;
    ag_route(p);
}

/* ---------------------------------------------------------- count_tokens */

void api_messages_count_tokens(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!ag_scan_client(req, ref, RQ_PROTO_ANTHROPIC, &jr)) return;
    const cfg_t *cfg = ref->cfg;
    char *name = jscan_unescape(&req->arena, req->body, jr.model, NULL);
    const cfg_model_t *m = NULL;
    route_resolve_t rr = route_resolve_model(cfg, name ? name : "", name ? strlen(name) : 0, &m);
    if (rr == ROUTE_RESOLVE_UNKNOWN) {
        buf_t names = BUF_INIT;
        route_valid_names(cfg, &names);
        app_config_release(ref);
        api_error_anthropic(req, 400, "model '%.200s' is not served here; valid models: %s",
                            name ? name : "", names.data ? names.data : "");
        buf_free(&names);
        return;
    }
    if (m && m->api_format == CFG_API_ANTHROPIC && route_model_available(m)) {
        ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_ANTHROPIC);
        p->count_tokens = true;
        size_t mi = 0;
        for (size_t i = 0; i < cfg->providers.n_models; i++)
            if (&cfg->providers.models[i] == m) mi = i;
        up_set_model(&p->up, m, mi);
        p->kind = AG_UP_ANTHROPIC;
        p->up.raw = true;
        ag_splice_model(p, req->body, req->body_len, &jr);
        p->iov[0].iov_base = p->upbody.data;
        p->iov[0].iov_len = p->upbody.len;
        p->up.iov = p->iov;
        p->up.n_iov = 1;
        p->up.body_len = p->upbody.len;
        req->user = p;
        req->on_abort = up_client_abort;
        req->on_drain = up_client_drain;
        up_attempt(&p->up);
        return;
    }
    /* estimate: the chat IR's facts through the context estimator */
    buf_t ir = BUF_INIT;
    tr_warn_t wn = {0};
    char err[256];
    if (tr_req_anthropic_to_chat(req->body, req->body_len, NULL, &ir, &wn, err, sizeof err) != 0) {
        app_config_release(ref);
        buf_free(&ir);
        return api_error_anthropic(req, 400, "%s", err);
    }
    char *irc = arena_strndup(&req->arena, ir.data, ir.len);
    size_t irlen = ir.len;
    buf_free(&ir);
    jreq_t jir;
    double est = 0;
    if (jscan_request(irc, irlen, &req->arena, &jir, NULL) == 0) {
        rq_t *rq = rq_from_anthropic(&req->arena, req->body, req->body_len, irc, irlen, &jir,
                                     req->headers, req->n_headers);
        if (rq) est = sig_context_estimate(rq);
    }
    app_config_release(ref);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"input_tokens\":%lld}", (long long)(est + 0.5));
    ag_respond_json(req, 200, body, (size_t)n);
}
