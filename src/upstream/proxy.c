/* proxy.c - the upstream proxy's lifecycle (proxy.h): setting it up for a
 * routed request, arming the deadline and making the first attempt, the
 * answers that end it before the relay (an error in the client's shape, a
 * whole body such as a fast_response or a cache hit), the replay record's
 * outcome, and releasing what it holds. The attempts are attempt.c, the
 * relay relay.c, the response cache cache.c. */
#include "upstream/proxy.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "upstream/trace.h"
#include <stdio.h>
#include <string.h>

void up_proxy_init(up_proxy_t *p, const up_adapter_t *ad, hsrv_req_t *req, const up_host_t *host,
                   const cfg_t *cfg, void *ref, rq_proto_t client, const char *endpoint)
{
    p->ad = ad;
    p->req = req;
    p->host = *host;
    p->cfg = cfg;
    p->ref = ref;
    p->client = client;
    p->endpoint = endpoint;
    p->backend = -1;
    up_otel_begin(p);
}

void up_set_model(up_proxy_t *p, const cfg_model_t *m, size_t index)
{
    p->model = m;
    p->model_index = index;
    int retries = m->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    up_proxy_t *p = arg;
    if (p->inflight) {
        p->inflight = false;
        sel_inflight_add(p->env.sel, p->model->name, -1);
    }
    if (p->done) return;
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    if (!p->started) {
        up_fail(p, 504, "server_error", "upstream_timeout",
                "request exceeded the listener timeout");
        return;
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    up_end(p);
    hsrv_abort(req);
}

void up_start(up_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    req->user = p;
    req->on_abort = up_client_abort;
    req->on_drain = up_client_drain;
    if (!up_limits_admit(p)) return;
    up_start_admitted(p);
}

void up_start_admitted(up_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    /* a reply held whole, and the one that waits for the session commit,
     * live in the request's arena (no malloc on the request path) */
    if (!p->acc.data) p->acc.arena = &req->arena;
    if (!p->pend_body.data) p->pend_body.arena = &req->arena;
    if (!p->reply.data) p->reply.arena = &req->arena;
    if (!p->ad->build(p)) return;
    uint64_t total = p->model->reliability.total_timeout_ms;
    if (!total && req->listener_index >= 0 && (size_t)req->listener_index < p->cfg->n_listeners)
        total = p->cfg->listeners[req->listener_index].timeout_ms;
    if (total) {
        if (p->deadline) event_del(p->deadline); /* never assign a pending event */
        evtimer_assign(&p->deadline_ev, hsrv_req_base(req), deadline_cb, p);
        p->deadline = &p->deadline_ev;
        struct timeval tv = {(time_t)(total / 1000), (suseconds_t)((total % 1000) * 1000)};
        evtimer_add(p->deadline, &tv);
    }
    up_attempt(p);
}

void up_end(up_proxy_t *p)
{
    /* release everything the proxy holds; the request is already finished */
    if (p->deadline) event_del(p->deadline); /* embedded: nothing to free */
    p->deadline = NULL;
    up_limits_end(p);
    up_backend_release(p);
    sse_parser_deinit(&p->sse);
    buf_free(&p->acc);
    buf_free(&p->reply);
    buf_free(&p->pend_body);
    if (p->rc_on) rc_key_deinit(&p->rck);
    p->rc_on = false;
    buf_free(&p->rc_sse);
    if (p->rec) up_trace_done(p, 499, "client_closed"); /* the client went away: still record */
    up_otel_finish(p);
    if (p->has_plg) plg_out_deinit(&p->plg);
    p->has_plg = false;
    if (p->ad->end) p->ad->end(p);
    if (p->ref) p->host.release(p->ref);
    p->ref = NULL;
    p->done = true;
}

void up_trace_bodies(up_proxy_t *p, const char *resp, size_t len)
{
    if (!p->rec || !p->cfg->global_ext) return;
    const cfg_services_t *sv = &p->cfg->global_ext->services;
    if (!sv->router_replay.capture_bodies) return;
    size_t cap = (size_t)sv->router_replay.max_body_bytes;
    if (p->req && p->req->body_len)
        replay_record_set_body(p->rec, 0, p->req->body, p->req->body_len, cap);
    if (resp && len) replay_record_set_body(p->rec, 1, resp, len, cap);
}

void up_trace_done(up_proxy_t *p, int status, const char *path)
{
    up_otel_status(p, status, path);
    if (!p->rec) return;
    up_trace_rec_outcome_t o = {0};
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
        double comp = p->usage.completion_tokens > 0 ? (double)p->usage.completion_tokens : 0;
        o.cost = up_usage_cost(p->model, &p->usage);
        /* baseline: the base top choice's price, no cache credit */
        const cfg_model_t *base = p->model;
        if (p->plan.ran_selection && p->plan.sel.n)
            base = cfg_find_model(p->cfg, p->plan.sel.models[p->plan.sel.best],
                                  strlen(p->plan.sel.models[p->plan.sel.best]));
        if (!base) base = p->model;
        o.baseline_cost =
            (pt * base->pricing.prompt_per_1m + comp * base->pricing.completion_per_1m) / 1e6;
    }
    o.ttft_ms = p->ttft_us ? (double)(p->ttft_us - p->req->started_us) / 1000.0 : 0;
    o.total_ms = (double)(clock_mono_us() - p->req->started_us) / 1000.0;
    up_trace_rec_finish(p->rec, &o, p->host.replay);
    p->rec = NULL;
}

const char *up_upstream_model(const up_proxy_t *p)
{
    const cfg_decision_t *d = p->plan.decision;
    for (size_t i = 0; d && i < d->n_model_refs; i++) {
        const cfg_model_ref_t *r = &d->model_refs[i];
        if (r->lora_name && *r->lora_name && r->model && !strcmp(r->model, p->model->name))
            return r->lora_name;
    }
    return p->model->provider_model_id;
}

/* Prompt tokens not read from the cache at the prompt price, cached ones at
 * the cached price, completion at the completion price (per million). */
double up_usage_cost(const cfg_model_t *m, const jusage_t *u)
{
    if (!u->found) return 0;
    const cfg_pricing_t *pr = &m->pricing;
    double pt = u->prompt_tokens > 0 ? (double)u->prompt_tokens : 0;
    double ct = u->cached_tokens > 0 ? (double)u->cached_tokens : 0;
    double comp = u->completion_tokens > 0 ? (double)u->completion_tokens : 0;
    if (ct > pt) ct = pt;
    return ((pt - ct) * pr->prompt_per_1m + ct * pr->cached_input_per_1m +
            comp * pr->completion_per_1m) /
           1e6;
}

void up_count_cost(const up_proxy_t *p)
{
    if (!p->model || !p->usage.found) return;
    double c = up_usage_cost(p->model, &p->usage);
    if (c > 0)
        met_inc(tmet.cost_total, c, p->model->name,
                p->model->pricing.currency ? p->model->pricing.currency : "USD");
}

void up_fail(up_proxy_t *p, int status, const char *type, const char *code, const char *msg)
{
    buf_t b = BUF_INIT;
    p->ad->error_body(p, status, type, code, msg, &b);
    hsrv_header_t h[56];
    int n = up_add_h(h, 0, "content-type", "application/json");
    n = p->ad->headers(p, h, n, "error");
    n = up_limits_headers(p, h, n);
    met_inc(tmet.request_errors_total, 1, p->endpoint, code);
    up_trace_done(p, status, "error");
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"model\":\"%s\"", p->req->request_id,
         status, code, p->model ? p->model->name : "");
    p->ad->log_done(p, status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    /* p lives in the request arena, which hsrv_respond releases: finish with
     * p first, but keep the config (header strings) until the bytes are out */
    void *ref = p->ref;
    void (*release)(void *) = p->host.release;
    p->ref = NULL;
    up_end(p);
    hsrv_respond(req, status, h, (size_t)n, b.data, b.len);
    if (ref) release(ref);
    buf_free(&b);
}

void up_respond(up_proxy_t *p, int status, const char *ct, const hsrv_header_t *extra, int n_extra,
                const char *path, const char *body, size_t len)
{
    hsrv_header_t h[64];
    int n = up_add_h(h, 0, "content-type", ct);
    for (int i = 0; i < n_extra; i++)
        h[n++] = extra[i];
    n = p->ad->headers(p, h, n, path);
    n = up_limits_headers(p, h, n);
    hsrv_req_t *req = p->req;
    void *ref = p->ref;
    void (*release)(void *) = p->host.release;
    p->ref = NULL;
    up_end(p);
    req->on_abort = NULL;
    req->on_drain = NULL;
    hsrv_respond(req, status, h, (size_t)n, body, len);
    if (ref) release(ref);
}

void up_client_write(up_proxy_t *p, const char *data, size_t len)
{
    /* what the adapter writes is what the client gets (relay.c keeps the
     * bytes relayed as they are) */
    bool relayed = p->raw && (!p->ad->relays_raw || p->ad->relays_raw(p));
    if (p->rc_on && !relayed && p->rc_sse.len + len <= UP_MAX_CACHE)
        buf_append(&p->rc_sse, data, len);
    hsrv_write(p->req, data, len);
}

/* ---------------------------------------------------------------- headers */

int up_add_h(hsrv_header_t *h, int n, const char *name, const char *value)
{
    h[n].name = name;
    h[n].name_len = strlen(name);
    h[n].value = value;
    h[n].value_len = strlen(value);
    return n + 1;
}

const char *up_phase_label(const route_plan_t *pl)
{
    return pl->ran_policy ? sess_phase_name(pl->pol.phase) : "none";
}

int up_plan_headers(hsrv_header_t *h, int n, const route_plan_t *pl, const char *conf)
{
    n = up_add_h(h, n, "x-tether-decision", pl->decision_name ? pl->decision_name : "");
    n = up_add_h(h, n, "x-tether-algorithm", pl->algorithm ? pl->algorithm : "static");
    n = up_add_h(h, n, "x-tether-confidence", conf);
    if (!pl->passthrough && pl->recipe_name) n = up_add_h(h, n, "x-tether-recipe", pl->recipe_name);
    n = up_add_h(h, n, "x-tether-session-phase", up_phase_label(pl));
    if (pl->ran_policy)
        n = up_add_h(h, n, "x-tether-session-reason", sess_reason_name(pl->pol.reason));
    if (pl->id.found) {
        const char *k = strchr(pl->id.key, SESS_KEY_SEP);
        k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
        n = up_add_h(h, n, "x-tether-session", k ? k + 1 : pl->id.key);
        n = up_add_h(h, n, "x-tether-session-source", pl->id.source ? pl->id.source : "");
    }
    return n;
}

void up_count_plan(const route_plan_t *plan, const cfg_model_t *m, bool all)
{
    if (!plan->ran_policy) return;
    const sess_policy_out_t *o = &plan->pol;
    met_inc(tmet.session_decisions_total, 1, sess_reason_name(o->reason));
    if (o->hard_lock != SESS_HARD_LOCK_NONE)
        met_inc(tmet.session_locks_total, 1, sess_hard_lock_name(o->hard_lock));
    if (o->switched && o->previous_model)
        met_inc(tmet.session_switches_total, 1, o->previous_model, m->name);
    if (!all) return;
    if (o->idle_reset) met_inc(tmet.session_resets_total, 1, "idle");
    if (o->drift_reset) met_inc(tmet.session_resets_total, 1, "drift");
    if (o->has_handoff)
        met_inc(tmet.session_handoffs_total, 1, o->handoff.possible ? "converted" : "impossible");
    if (plan->id.found)
        met_inc(tmet.session_identity_total, 1, plan->id.source ? plan->id.source : "");
}

void up_capture_chat_text(up_proxy_t *p, const char *data, size_t len, bool delta)
{
    /* choices[0].delta.content (a chunk) or .message.content (a reply);
     * only route_finish reads it, for a session's prefix chain: without a
     * session store or an identity the reply is not scanned for it */
    if (!p->env.store || !p->plan.id.found) return;
    if (p->reply.len >= 65536 || len < 10 || !memmem(data, len, "\"content\"", 9)) return;
    jspan_t doc = {0, (uint32_t)len}, ch, c0, msg, ct;
    uint32_t cur = 0;
    if (jscan_obj_get(data, doc, "choices", &ch) && jscan_arr_next(data, ch, &cur, &c0) &&
        jscan_obj_get(data, c0, delta ? "delta" : "message", &msg) &&
        jscan_obj_get(data, msg, "content", &ct) && jscan_type(data, ct) == '"') {
        size_t n = 0;
        char *t = jscan_unescape(&p->req->arena, data, ct, &n);
        if (t) buf_append(&p->reply, t, n);
    }
}

void up_capture_chat_scanned(up_proxy_t *p, const char *data, size_t len, bool delta,
                             const jreply_t *r)
{
    if (!r->valid) { /* a broken reply: the old walk stops where it stops */
        up_capture_chat_text(p, data, len, delta);
        return;
    }
    if (!p->env.store || !p->plan.id.found) return;
    /* up_capture_chat_text's gates; a raw "content" key is in data when
     * the one that gave the text had no escape */
    if (p->reply.len >= 65536 || len < 10 || !r->text.len) return;
    if (r->escaped_key && !memmem(data, len, "\"content\"", 9)) return;
    size_t n = 0;
    char *t = jscan_unescape(&p->req->arena, data, r->text, &n);
    if (t) buf_append(&p->reply, t, n);
}
