/* chat.c - POST /v1/chat/completions, the client side: scan the body once,
 * build the request facts, run the routing pipeline (route_decide), apply the
 * plan (errors, forced-handoff conversion, plugins), and build the upstream
 * body by splicing (provider model id, plugin edits, stream_options for
 * usage); also the response headers, error answers, logs and replay records
 * shared with chat_relay.c, which does the upstream attempts and the relay.
 *
 * Streams: when the client did not ask for usage, tether asks upstream for it
 * (stream_options.include_usage) and hides the usage-only chunk from the
 * client; otherwise upstream bytes are relayed untouched. */
#include "api/agent.h"
#include "api/app.h"
#include "api/client_auth.h"
#include "api/errors.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/sse.h"
#include "json/scan.h"
#include "json/splice.h"
#include "metrics/catalog.h"
#include "api/trace.h"
#include "plugins/plugins.h"
#include "route/pipeline.h"
#include "route/resolve.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_proxy.h"
#include "api/relay_common.h"
#include "session/handoff_rewrite.h"

static void chat_routed(void *ud, route_plan_t *plan);
static void routing_abort(hsrv_req_t *req);

void chat_end(chat_proxy_t *p)
{
    /* release everything the proxy holds; the request is already finished */
    if (p->deadline) event_free(p->deadline);
    p->deadline = NULL;
    sse_parser_deinit(&p->sse);
    buf_free(&p->acc);
    buf_free(&p->reply);
    buf_free(&p->pend_body);
    if (p->rc_on) rc_key_deinit(&p->rck);
    p->rc_on = 0;
    buf_free(&p->rc_sse);
    if (p->rec) {
        /* the client went away: still record the turn */
        chat_trace_done(p, 499, "client_closed");
    }
    if (p->has_plg) plg_out_deinit(&p->plg);
    p->has_plg = 0;
    jsplice_free(&p->splice);
    app_config_release(p->ref);
    p->ref = NULL;
    p->done = 1;
}

void chat_trace_done(chat_proxy_t *p, int status, const char *path)
{
    if (!p->rec) return;
    api_trace_outcome_t o = {0};
    o.backend = p->backend >= 0 ? p->model->backend_refs[p->backend].name : "";
    o.response_path = path;
    o.status = status;
    o.attempts = p->attempts;
    o.prompt_tokens = p->usage.found ? p->usage.prompt_tokens : -1;
    o.cached_tokens = p->usage.found ? p->usage.cached_tokens : -1;
    o.completion_tokens = p->usage.found ? p->usage.completion_tokens : -1;
    const cfg_pricing_t *pr = &p->model->pricing;
    o.currency = pr->currency ? pr->currency : "USD";
    if (p->usage.found) {
        double pt = p->usage.prompt_tokens > 0 ? (double)p->usage.prompt_tokens : 0;
        double ct = p->usage.cached_tokens > 0 ? (double)p->usage.cached_tokens : 0;
        double comp = p->usage.completion_tokens > 0 ? (double)p->usage.completion_tokens : 0;
        o.cost = ((pt - ct) * pr->prompt_per_1m + ct * pr->cached_input_per_1m +
                  comp * pr->completion_per_1m) /
                 1e6;
        /* baseline: the base top choice's price, no cache credit */
        const cfg_model_t *base = p->model;
        if (p->plan.ran_selection && p->plan.sel.n)
            base = cfg_find_model(p->ref->cfg, p->plan.sel.models[p->plan.sel.best],
                                  strlen(p->plan.sel.models[p->plan.sel.best]));
        if (!base) base = p->model;
        o.baseline_cost =
            (pt * base->pricing.prompt_per_1m + comp * base->pricing.completion_per_1m) / 1e6;
    }
    o.ttft_ms = p->ttft_us ? (double)(p->ttft_us - p->req->started_us) / 1000.0 : 0;
    o.total_ms = (double)(clock_mono_us() - p->req->started_us) / 1000.0;
    api_trace_finish(p->rec, &o, p->w->app->replay);
    p->rec = NULL;
}

void chat_log_done(chat_proxy_t *p, int status)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, "chat", st, "openai");
    met_observe(tmet.request_duration_seconds, (double)(clock_mono_us() - p->req->started_us) / 1e6,
                "chat");
    if (p->usage.found) {
        if (p->usage.prompt_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.prompt_tokens, p->model->name, "prompt");
        if (p->usage.completion_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.completion_tokens, p->model->name,
                    "completion");
        if (p->usage.cached_tokens > 0)
            met_inc(tmet.tokens_total, (double)p->usage.cached_tokens, p->model->name, "cached");
    }
    const cfg_backend_ref_t *b = p->backend >= 0 ? &p->model->backend_refs[p->backend] : NULL;
    tlog(TLOG_INFO, "request",
         "\"request_id\":\"%s\",\"endpoint\":\"chat\",\"status\":%d,\"model\":\"%s\","
         "\"backend\":\"%s\",\"route\":\"%s\",\"stream\":%s,\"attempts\":%d,"
         "\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"cached_tokens\":%lld,"
         "\"duration_us\":%llu",
         p->req->request_id, status, p->model->name, b ? b->name : "", p->route_kind,
         p->client_stream ? "true" : "false", p->attempts,
         (long long)(p->usage.found ? p->usage.prompt_tokens : -1),
         (long long)(p->usage.found ? p->usage.completion_tokens : -1),
         (long long)(p->usage.found ? p->usage.cached_tokens : -1),
         (unsigned long long)(clock_mono_us() - p->req->started_us));
}

/* ---------------------------------------------------------------- headers */

int chat_tether_headers(chat_proxy_t *p, hsrv_header_t *h, int n, const char *path)
{
    const cfg_t *cfg = p->ref->cfg;
    n = relay_add_h(h, n, "x-tether-model", p->model->name);
    if (p->backend >= 0)
        n = relay_add_h(h, n, "x-tether-backend", p->model->backend_refs[p->backend].name);
    n = relay_add_h(h, n, "x-tether-request-id", p->req->request_id);
    n = relay_add_h(h, n, "x-tether-response-path", path);
    if (p->replay_id[0]) {
        n = relay_add_h(h, n, "x-tether-replay-id", p->replay_id);
        if (cfg->router.compat_headers) n = relay_add_h(h, n, "x-vsr-replay-id", p->replay_id);
    }
    const route_plan_t *pl = &p->plan;
    n = relay_plan_headers(h, n, pl, p->conf);
    const char *phase = relay_phase_label(pl);
    if (cfg->router.debug_headers && p->rq) {
        size_t dl = 0;
        const char *dv = rq_header(p->rq, "x-tether-debug", &dl);
        if (dv && dl == 4 && !strncasecmp(dv, "true", 4)) {
            /* the matched signals per family, and the context estimate */
            buf_t m = BUF_INIT;
            const sig_results_t *sr = pl->ran_decision ? &pl->dec.proj.sig : &pl->sig;
            for (size_t i = 0; i < sr->n; i++)
                if (sr->items[i].matched)
                    buf_printf(&m, "%s%s:%s", m.len ? "," : "",
                               cfg_signal_family_name(sr->items[i].rule->family),
                               sr->items[i].rule->name);
            n = relay_add_h(h, n, "x-tether-matched-signals",
                            arena_strdup(&p->req->arena, m.data ? m.data : ""));
            buf_free(&m);
            n = relay_add_h(h, n, "x-tether-context-tokens",
                            arena_sprintf(&p->req->arena, "%.0f", sig_context_estimate(p->rq)));
        }
    }
    for (size_t i = 0; p->has_plg && i < p->plg.n_resp_headers && n < 26; i++)
        n = relay_add_h(h, n, p->plg.resp_headers[i].name, p->plg.resp_headers[i].value);
    if (cfg->router.compat_headers) {
        n = relay_add_h(h, n, "x-vsr-selected-model", p->model->name);
        n = relay_add_h(h, n, "x-vsr-selected-decision",
                        pl->decision_name ? pl->decision_name : "");
        n = relay_add_h(h, n, "x-vsr-selected-confidence", p->conf);
        n = relay_add_h(h, n, "x-vsr-session-phase", phase);
    }
    return n;
}

/* Error after resolution: OpenAI shape plus the routing headers. */
void chat_error(chat_proxy_t *p, int status, const char *type, const char *code, const char *msg)
{
    buf_t b = BUF_INIT;
    api_error_openai_json(&b, type, code, NULL, msg);
    hsrv_header_t h[40];
    int n = relay_add_h(h, 0, "content-type", "application/json");
    n = chat_tether_headers(p, h, n, "error");
    met_inc(tmet.request_errors_total, 1, "chat", code);
    chat_trace_done(p, status, "error");
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"model\":\"%s\"", p->req->request_id,
         status, code, p->model->name);
    chat_log_done(p, status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    /* p lives in the request arena, which hsrv_respond releases: finish with
     * p first, but keep the config (header strings) until the bytes are out */
    app_config_ref_t *ref = p->ref;
    p->ref = NULL;
    chat_end(p);
    hsrv_respond(req, status, h, (size_t)n, b.data, b.len);
    app_config_release(ref);
    buf_free(&b);
}

/* ------------------------------------------------------------ relay */

void api_chat_completions(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    const cfg_t *cfg = ref->cfg;
    jreq_t jr;
    if (!api_scan_client(req, ref, RQ_PROTO_CHAT, &req->arena, &jr)) return;
    if (!jr.has_messages) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "messages",
                                "missing required field 'messages'");
    }
    if (jr.n_model == 0 || !jr.model_is_string) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "model",
                                jr.n_model ? "field 'model' must be a string"
                                           : "missing required field 'model'");
    }
    chat_proxy_t *p = arena_calloc(&req->arena, sizeof *p);
    p->req = req;
    p->w = w;
    p->ref = ref;
    p->jr = jr;
    p->backend = -1;
    p->client_stream = jr.stream == 1;
    p->rq =
        rq_from_chat(&req->arena, req->body, req->body_len, &p->jr, req->headers, req->n_headers);
    if (p->rq) rid_bind_request(cfg, p->rq, &req->arena, req->request_id);
    app_route_env(ref, &p->env);
    if (w->store) p->env.store = w->store; /* the worker's Redis store */
    p->rin.cfg = cfg;
    p->rin.rq = p->rq;
    p->rin.request_id = req->request_id;
    p->rin.now_ms = clock_wall_ms();
    client_auth_route_in(req, &p->rin);
    req->user = p;
    /* identity and memory may complete later (Redis): keep the request if the
     * client goes away meanwhile, and end it when routing reports */
    req->keep_on_abort = true;
    req->on_abort = routing_abort;
    route_decide(&p->env, &p->rin, &req->arena, &p->plan, chat_routed, p);
}

static void routing_abort(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    p->client_gone = 1;
}

/* The upstream body: the client body (p->cbody) with the plugins' edits,
 * the provider model id spliced over every top-level "model", and
 * stream_options.include_usage for streams. Zero-copy iovecs in p->iov. */
int chat_build_body(chat_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    const jreq_t jr = p->jr;
    const cfg_model_t *model = p->model;
    /* upstream body: splice the provider model id over every top-level model */
    jsplice_init(&p->splice);
    for (size_t i = 0; i < p->plg.edits.n; i++)
        jsplice_add(&p->splice, p->plg.edits.edits[i].off, p->plg.edits.edits[i].len,
                    p->plg.edits.edits[i].repl, p->plg.edits.edits[i].repl_len);
    buf_t mv = BUF_INIT;
    buf_json_str(&mv, model->provider_model_id, strlen(model->provider_model_id));
    char *mvs = arena_strndup(&req->arena, mv.data, mv.len);
    uint32_t mvl = (uint32_t)mv.len;
    buf_free(&mv);
    for (uint32_t i = 0; i < jr.n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&p->splice, jr.model_all[i].off, jr.model_all[i].len, mvs, mvl);
    if (p->cbody == req->body) rid_unwrap_prev(p->rq, &jr, &p->splice, &req->arena);
    if (p->client_stream) {
        /* ask upstream for usage; hide the usage chunk unless the client asked */
        jspan_t iu;
        if (jr.stream_options.len == 0) {
            static const char inj[] = "\"stream_options\":{\"include_usage\":true},";
            /* first member; the object is non-empty (it has messages) */
            jsplice_add(&p->splice, jr.obj_open + 1, 0, inj, sizeof inj - 1);
            p->hide_usage = 1;
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
            p->hide_usage = 1;
        }
    }
    jsplice_sort(&p->splice);
    p->body_len = jsplice_len(&p->splice, p->cbody_len);
    p->n_iov = jsplice_iov(&p->splice, p->cbody, p->cbody_len, p->iov,
                           (int)(sizeof p->iov / sizeof p->iov[0]));
    return p->n_iov < 0 ? -1 : 0;
}

/* The pipeline has a plan: answer its error, or proxy to its model. */
static void chat_routed(void *ud, route_plan_t *plan)
{
    chat_proxy_t *p = ud;
    hsrv_req_t *req = p->req;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (p->client_gone) {
        app_config_release(p->ref);
        p->ref = NULL;
        hsrv_abort(req);
        return;
    }
    const cfg_t *cfg = p->ref->cfg;
    p->cbody = req->body;
    p->cbody_len = req->body_len;
    if (plan->status != ROUTE_OK) {
        app_config_ref_t *ref = p->ref;
        if (plan->status == ROUTE_ERR_MODEL_NOT_FOUND) {
            buf_t names = BUF_INIT;
            route_valid_names(cfg, &names);
            api_error_openai(req, 400, "invalid_request_error", "model_not_found", "model",
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
    if (plan->ran_policy && plan->pol.reason == SESS_REASON_FORCED_HANDOFF &&
        plan->pol.has_handoff && plan->pol.handoff.possible) {
        /* §9.7: the locked model is gone; convert what only it could read
         * so the new model can (the converted body replaces the client's) */
        sess_handoff_result_t hr;
        const char *nb;
        size_t nl;
        jscan_err_t je = {0};
        if (sess_handoff_apply(p->rq, &plan->pol.handoff, NULL, &req->arena, &nb, &nl, &hr) != 0 ||
            jscan_request(nb, nl, &req->arena, &p->jr, &je) != 0) {
            api_error_openai(req, 503, "server_error", "session_model_unavailable", NULL, "%s",
                             hr.error ? hr.error : "the session's state cannot be converted");
            app_config_release(p->ref);
            return;
        }
        p->cbody = nb;
        p->cbody_len = nl;
        p->rq = rq_from_chat(&req->arena, nb, nl, &p->jr, req->headers, req->n_headers);
        tlog(TLOG_INFO, "forced_handoff", "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
             req->request_id, plan->pol.handoff.from ? plan->pol.handoff.from : "",
             plan->pol.handoff.to ? plan->pol.handoff.to : "");
    }
    const cfg_model_t *model = plan->model;
    if (model->api_format == CFG_API_ANTHROPIC) { /* translated path: agent.c */
        app_config_ref_t *ref = p->ref;
        p->ref = NULL;
        api_agent_chat_to_anthropic(req, p->w, ref, &p->env, &p->rin, plan);
        return;
    }
    p->model = model;
    p->model_index = plan->model_index;
    p->route_kind = plan->passthrough ? "passthrough" : "auto";
    snprintf(p->conf, sizeof p->conf, "%.3f", plan->confidence);
    if (p->w->app->replay) {
        p->rec = api_trace_begin(plan, req->request_id, "chat", "openai", "openai");
        snprintf(p->replay_id, sizeof p->replay_id, "%s", p->rec->id);
    }
    if (plan->ran_policy) {
        const sess_policy_out_t *o = &plan->pol;
        met_inc(tmet.session_decisions_total, 1, sess_reason_name(o->reason));
        if (o->hard_lock != SESS_HARD_LOCK_NONE)
            met_inc(tmet.session_locks_total, 1, sess_hard_lock_name(o->hard_lock));
        if (o->switched && o->previous_model)
            met_inc(tmet.session_switches_total, 1, o->previous_model, model->name);
        if (o->idle_reset) met_inc(tmet.session_resets_total, 1, "idle");
        if (o->drift_reset) met_inc(tmet.session_resets_total, 1, "drift");
        if (o->has_handoff)
            met_inc(tmet.session_handoffs_total, 1,
                    o->handoff.possible ? "converted" : "impossible");
        if (plan->id.found)
            met_inc(tmet.session_identity_total, 1, plan->id.source ? plan->id.source : "");
    }
    req->on_abort = chat_client_abort;
    req->on_drain = chat_client_drain;
    int retries = model->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    req->user = p;
    req->on_abort = chat_client_abort;
    req->on_drain = chat_client_drain;

    /* plugins of the effective decision (§8): fast_response and
     * request_params first, then the body and header changes */
    plg_ctx_t pc = {.cfg = cfg,
                    .decision = plan->decision,
                    .model = model,
                    .proto = RQ_PROTO_CHAT,
                    .body = p->cbody,
                    .body_len = p->cbody_len,
                    .jr = &p->jr,
                    .stream = p->client_stream,
                    .reply_model = model->name,
                    .arena = &req->arena};
    for (size_t i = 0; plan->decision && i < plan->decision->n_model_refs; i++)
        if (!strcmp(plan->decision->model_refs[i].model, model->name))
            pc.ref = &plan->decision->model_refs[i];
    plg_out_init(&p->plg);
    p->has_plg = 1;
    if (plan->decision && plg_run_pre(&pc, &p->plg)) {
        hsrv_header_t fh[44];
        int fn = relay_add_h(fh, 0, "content-type",
                             p->plg.fast
                                 ? (p->plg.content_type ? p->plg.content_type : "application/json")
                                 : "application/json");
        fn = chat_tether_headers(p, fh, fn, p->plg.fast ? "fast_response" : "error");
        int st = p->plg.status ? p->plg.status : (p->plg.fast ? 200 : 400);
        buf_t eb = BUF_INIT;
        const char *body = p->plg.reply;
        size_t blen = p->plg.reply_len;
        if (!p->plg.fast) {
            api_error_openai_json(&eb, "invalid_request_error", "invalid_body", NULL,
                                  p->plg.error ? p->plg.error : "rejected by request_params");
            body = eb.data;
            blen = eb.len;
        }
        met_inc(tmet.requests_total, 1, "chat", p->plg.fast ? "fast_response" : "400", "openai");
        chat_trace_done(p, st, p->plg.fast ? "fast_response" : "error");
        app_config_ref_t *ref = p->ref;
        p->ref = NULL;
        chat_end(p);
        req->on_abort = NULL;
        req->on_drain = NULL;
        hsrv_respond(req, st, fh, (size_t)fn, body, blen);
        buf_free(&eb);
        app_config_release(ref);
        return;
    }
    if (plan->decision && p->w->app->rcache && plg_find(plan->decision, "response_cache")) {
        /* §8 response cache: after fast_response/request_params, before the upstream */
        size_t ccl = 0;
        const char *cc = rq_header(p->rq, "x-tether-cache-control", &ccl);
        rc_key_in_t ci = {.decision = plan->decision,
                          .recipe = plan->recipe_name,
                          .proto = RQ_PROTO_CHAT,
                          .body = p->cbody,
                          .body_len = p->cbody_len,
                          .jr = &p->jr,
                          .tenant = plan->id.found ? plan->id.tenant : NULL,
                          .session_key = plan->id.found ? plan->id.key : NULL,
                          .cache_control = cc ? arena_strndup(&req->arena, cc, ccl) : NULL,
                          .drop = plan->decision->has_retention && plan->decision->retention.drop,
                          .stream = p->client_stream};
        if (rc_key_init(&p->rck, p->w->app->rcache, &ci) == 0) {
            p->rc_on = 1;
            rc_hit_t hit;
            if (rc_lookup(p->w->app->rcache, &p->rck, &hit) > 0) {
                buf_t out = BUF_INIT;
                const char *ct = "application/json";
                jspan_t iu;
                bool usage = p->jr.stream_options.len &&
                             jscan_obj_get(p->cbody, p->jr.stream_options, "include_usage", &iu) &&
                             jscan_type(p->cbody, iu) == 't';
                if (rc_render_hit(&hit, p->client_stream, usage, &out, &ct) == 0) {
                    hsrv_header_t fh[44];
                    int fn = relay_add_h(fh, 0, "content-type", ct);
                    fn = relay_add_h(fh, fn, "x-tether-cache-hit", rc_hit_name(hit.kind));
                    fn = chat_tether_headers(p, fh, fn, "cache");
                    met_inc(tmet.requests_total, 1, "chat", "200", "openai");
                    chat_trace_done(p, 200, "cache");
                    app_config_ref_t *ref = p->ref;
                    p->ref = NULL;
                    chat_end(p);
                    req->on_abort = NULL;
                    req->on_drain = NULL;
                    hsrv_respond(req, 200, fh, (size_t)fn, out.data, out.len);
                    buf_free(&out);
                    rc_hit_free(&hit);
                    app_config_release(ref);
                    return;
                }
                buf_free(&out);
                rc_hit_free(&hit);
            }
        }
    }
    if (plan->decision) plg_run_post(&pc, &p->plg);

    if (chat_build_body(p) != 0) {
        p->backend = -1;
        chat_error(p, 500, "server_error", "internal_error", "request rewrite failed");
        return;
    }
    uint64_t total = model->reliability.total_timeout_ms;
    if (!total && req->listener_index >= 0 && (size_t)req->listener_index < cfg->n_listeners)
        total = cfg->listeners[req->listener_index].timeout_ms;
    if (total) {
        p->deadline = evtimer_new(hsrv_req_base(req), chat_deadline_cb, p);
        struct timeval tv = {(time_t)(total / 1000), (suseconds_t)((total % 1000) * 1000)};
        evtimer_add(p->deadline, &tv);
    }
    chat_attempt(p);
}
