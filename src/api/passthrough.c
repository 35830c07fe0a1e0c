/* passthrough.c - POST /v1/embeddings and POST /v1/completions (legacy text
 * completions): no routing, no session. The request names a configured model
 * that lists the endpoint in providers.models[].endpoints; the body goes to
 * one of its backend_refs with only the model id replaced (the provider's),
 * through the one upstream proxy (upstream/proxy.h: retries, outlier
 * ejection, timeouts, usage, cost). Errors are in the OpenAI shape: an
 * unknown model 404 model_not_found, a model that does not serve the
 * endpoint (an auto name included) 400 model_not_supported. Neighbours:
 * app.c (dispatch), chat_adapter.c (the chat endpoint's adapter). */
#include "api/agent.h"
#include "api/app.h"
#include "api/errors.h"
#include "api/access_log.h"
#include "api/passthrough.h"
#include "core/clock.h"
#include "metrics/catalog.h"
#include "json/splice.h"
#include "upstream/proxy.h"
#include <stdio.h>
#include <string.h>

typedef struct pt_proxy {
    up_proxy_t up; /* first: the adapter's ops receive &up */
    unsigned ep;   /* CFG_EP_EMBEDDINGS | CFG_EP_COMPLETIONS */
    jreq_t jr;
    jsplice_t splice;
    struct iovec iov[2 * JREQ_MAX_MODEL_KEYS + 2];
} pt_proxy_t;

static pt_proxy_t *pt_of(up_proxy_t *up)
{
    return (pt_proxy_t *)up;
}

const char *api_passthrough_name(unsigned ep)
{
    return ep == CFG_EP_EMBEDDINGS ? "embeddings" : "completions";
}

static bool ad_build(up_proxy_t *up)
{
    pt_proxy_t *p = pt_of(up);
    hsrv_req_t *req = up->req;
    jsplice_init(&p->splice);
    buf_t mv = BUF_INIT;
    const char *id = up->model->provider_model_id;
    buf_json_str(&mv, id, strlen(id));
    char *mvs = arena_strndup(&req->arena, mv.data, mv.len);
    uint32_t mvl = (uint32_t)mv.len;
    buf_free(&mv);
    for (uint32_t i = 0; i < p->jr.n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&p->splice, p->jr.model_all[i].off, p->jr.model_all[i].len, mvs, mvl);
    jsplice_sort(&p->splice);
    up->body_len = jsplice_len(&p->splice, req->body_len);
    up->n_iov = jsplice_iov(&p->splice, req->body, req->body_len, p->iov,
                            (int)(sizeof p->iov / sizeof p->iov[0]));
    up->iov = p->iov;
    up->raw = true;
    if (up->n_iov >= 0) return true;
    up_fail(up, 500, "server_error", "internal_error", "request rewrite failed");
    return false;
}

static void ad_head(up_proxy_t *up, const cfg_backend_ref_t *b, fwd_head_in_t *in)
{
    (void)b;
    in->path = pt_of(up)->ep == CFG_EP_EMBEDDINGS ? "/embeddings" : "/completions";
}

static int ad_headers(up_proxy_t *up, hsrv_header_t *h, int n, const char *path)
{
    n = up_add_h(h, n, "x-tether-model", up->model->name);
    if (up->backend >= 0)
        n = up_add_h(h, n, "x-tether-backend", up->model->backend_refs[up->backend].name);
    n = up_add_h(h, n, "x-tether-request-id", up->req->request_id);
    n = up_add_h(h, n, "x-tether-response-path", path);
    return up_add_h(h, n, "x-tether-protocol", "openai->openai");
}

static void ad_log_done(up_proxy_t *up, int status)
{
    const char *ep = api_passthrough_name(pt_of(up)->ep);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, ep, st, "openai");
    met_observe(tmet.request_duration_seconds,
                (double)(clock_mono_us() - up->req->started_us) / 1e6, ep);
    const jusage_t *u = &up->usage;
    if (u->found && u->prompt_tokens > 0)
        met_inc(tmet.tokens_total, (double)u->prompt_tokens, up->model->name, "prompt");
    if (u->found && u->completion_tokens > 0)
        met_inc(tmet.tokens_total, (double)u->completion_tokens, up->model->name, "completion");
    up_count_cost(up);
    api_access_note_proxy(up);
}

static void ad_end(up_proxy_t *up)
{
    jsplice_free(&pt_of(up)->splice);
}

/* A streamed legacy completion: usage from the chunk that carries it. */
static void ad_sse_event(up_proxy_t *up, const char *event, size_t event_len, const char *data,
                         size_t len)
{
    (void)event;
    (void)event_len;
    if (len > 8 && memmem(data, len, "\"usage\"", 7)) {
        jusage_t u;
        jscan_usage(data, len, &u);
        if (u.found) up->usage = u;
    }
}

/* Another model would not serve this endpoint: never fall back. */
static bool ad_may_fallback(const up_proxy_t *up)
{
    (void)up;
    return false;
}

static const up_adapter_t pt_adapter = {
    .build = ad_build,
    .head = ad_head,
    .headers = ad_headers,
    .error_body = api_error_openai_body,
    .stream_error = api_error_openai_stream,
    .log_done = ad_log_done,
    .end = ad_end,
    .sse_event = ad_sse_event,
    .may_fallback = ad_may_fallback,
};

/* The configured models that serve ep, comma separated ("none" when none). */
static void serving_names(const cfg_t *cfg, unsigned ep, buf_t *out)
{
    for (size_t i = 0; i < cfg->providers.n_models; i++)
        if (cfg_model_serves(&cfg->providers.models[i], ep))
            buf_printf(out, "%s%s", out->len ? ", " : "", cfg->providers.models[i].name);
    if (!out->len) buf_puts(out, "none");
}

static void refuse_model(hsrv_req_t *req, app_config_ref_t *ref, unsigned ep, int status,
                         const char *code, const char *what, const char *model)
{
    buf_t names = BUF_INIT;
    serving_names(ref->cfg, ep, &names);
    app_config_release(ref);
    const char *ename = api_passthrough_name(ep);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, ename, st, "openai");
    api_error_openai(req, status, "invalid_request_error", code, "model",
                     "model '%.200s' %s /v1/%s; models serving /v1/%s: %s", model, what, ename,
                     ename, names.data);
    buf_free(&names);
}

void api_passthrough(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, unsigned ep)
{
    const cfg_t *cfg = ref->cfg;
    jreq_t jr;
    if (!api_scan_client(req, ref, RQ_PROTO_CHAT, &req->arena, &jr)) return;
    if (jr.n_model == 0 || !jr.model_is_string) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "model",
                                jr.n_model ? "field 'model' must be a string"
                                           : "missing required field 'model'");
    }
    size_t nl = 0;
    const char *name = jscan_unescape(&req->arena, req->body, jr.model, &nl);
    api_access_note(req, NULL, name, NULL);
    const cfg_model_t *m = cfg_find_model(cfg, name, nl);
    if (!m && cfg_is_auto_name(cfg, name, nl))
        return refuse_model(req, ref, ep, 400, "model_not_supported",
                            "routes chat only; name a model for", name);
    if (!m) return refuse_model(req, ref, ep, 404, "model_not_found", "is not served here:", name);
    if (!cfg_model_serves(m, ep))
        return refuse_model(req, ref, ep, 400, "model_not_supported",
                            "does not list this endpoint in providers.models[].endpoints:", name);
    pt_proxy_t *p = arena_calloc(&req->arena, sizeof *p);
    p->ep = ep;
    p->jr = jr;
    up_proxy_t *up = &p->up;
    up_host_t host;
    app_upstream_host(w, &host);
    up_proxy_init(up, &pt_adapter, req, &host, cfg, ref, RQ_PROTO_CHAT, api_passthrough_name(ep));
    app_route_env(ref, &up->env);
    up->client_stream = jr.stream == 1;
    up->plan.model = m;
    up->plan.model_index = (size_t)(m - cfg->providers.models);
    up->plan.passthrough = true;
    up_set_model(up, m, up->plan.model_index);
    up_start(up);
}
