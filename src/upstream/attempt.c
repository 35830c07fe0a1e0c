/* attempt.c - the upstream proxy's attempts (proxy.h): the next backend_ref
 * of the model (smooth weighted round robin; a backend whose credential is
 * missing is skipped), retries before the first byte, the forced handoff
 * when a locked model's backends all failed (SPEC §9.4 / §9.7), the
 * fallback to the next candidate or the default model when nothing locks the
 * session (§4.6 / §9.6 step 9), the re-dispatch to another model, and the
 * client going away. The relay callbacks are relay.c. */
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "select/health.h"
#include "session/handoff_rewrite.h"
#include "upstream/proxy.h"
#include "upstream/relay.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

void up_inflight_end(up_proxy_t *p)
{
    if (!p->inflight) return;
    p->inflight = false;
    sel_inflight_add(p->env.sel, p->model->name, -1);
}

void up_backend_release(up_proxy_t *p)
{
    if (!p->bh) return;
    sel_health_inflight_add(p->bh, -1);
    p->bh = NULL;
}

void up_redispatch(up_proxy_t *p, const cfg_model_t *nm)
{
    route_plan_t *pl = &p->plan;
    if (p->n_tried_models < 8) p->tried_models[p->n_tried_models++] = p->model->name;
    pl->model = nm;
    pl->model_index = (size_t)(nm - p->cfg->providers.models);
    up_set_model(p, nm, pl->model_index);
    p->tried = 0;
    p->attempts = 0;
    p->skipped_unhealthy = false;
    p->backend = -1;
    p->upstream_status = 0;
    p->err_buffer = false;
    buf_reset(&p->acc);
    if (p->ad->redispatch) p->ad->redispatch(p);
    if (!p->ad->build(p)) return;
    if (p->host.sync) p->host.sync(p->host.worker, p->cfg, p->cfg->generation);
    up_attempt(p);
}

static bool model_tried(const char *name, const char *current, const char *const *tried,
                        int n_tried)
{
    for (int i = 0; i < n_tried; i++)
        if (!strcmp(tried[i], name)) return true;
    return !strcmp(current, name);
}

/* The next admissible, available candidate by session score that this turn
 * has not given up on, else the default model; logged and counted. */
static const cfg_model_t *fallback_model(up_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    const cfg_t *cfg = p->cfg;
    const char *current = p->model->name;
    const cfg_model_t *best = NULL;
    double best_s = -1e9;
    for (size_t i = 0; i < pl->n_cands; i++) {
        const sess_candidate_t *c = &pl->cands[i];
        if (!c->admissible || model_tried(c->model, current, p->tried_models, p->n_tried_models))
            continue;
        const cfg_model_t *m = cfg_find_model(cfg, c->model, strlen(c->model));
        if (!m || !route_model_available(m)) continue; /* ejected backends count as down */
        double sc = pl->terms && pl->terms[i].scored ? pl->terms[i].final : c->base;
        if (!best || sc > best_s) {
            best = m;
            best_s = sc;
        }
    }
    const char *dm = cfg->providers.default_model;
    if (!best && dm && !model_tried(dm, current, p->tried_models, p->n_tried_models)) {
        const cfg_model_t *d = cfg_find_model(cfg, dm, strlen(dm));
        if (d && route_model_available(d)) best = d;
    }
    if (!best) return NULL;
    tlog(TLOG_WARN, "fallback", "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
         p->req->request_id, current, best->name);
    met_inc(tmet.fallbacks_total, 1, "model");
    pl->pol.fallback = true;
    return best;
}

/* Every backend of the locked model failed before the first byte: the model
 * is unavailable for this turn (§9.4), so re-decide without it: a forced
 * handoff with the request converted for the new model (§9.7), or a 503.
 * Returns 0 when the request was re-dispatched or answered, -1 to fall
 * through to the ordinary "every backend failed" error. */
static int handoff_after_failures(up_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    hsrv_req_t *req = p->req;
    p->handoff_redone = true;
    if (!pl->knobs || !pl->pol.model) return -1;
    sess_facts_t facts = pl->facts;
    if (p->ad->handoff_facts) p->ad->handoff_facts(p, &facts);
    sess_policy_in_t pin = {.knobs = pl->knobs,
                            .state = pl->has_state ? &pl->state : NULL,
                            .facts = &facts,
                            .cands = pl->cands,
                            .n_cands = pl->n_cands,
                            .prices = pl->prices,
                            .n_prices = pl->n_prices};
    sess_facts_t fs;
    sess_candidate_t *cs = arena_calloc(&req->arena, (pl->n_cands ? pl->n_cands : 1) * sizeof *cs);
    sess_policy_out_t out;
    memset(&out, 0, sizeof out);
    out.terms = pl->terms;
    const char *current = arena_strdup(&req->arena, pl->pol.model);
    sess_policy_decide_without_current(&pin, current, &fs, cs, &out);
    if (out.verdict != SESS_VERDICT_OK || !out.model || !strcmp(out.model, current)) {
        up_fail(p, 503, "server_error", "session_model_unavailable",
                out.error_message ? out.error_message
                                  : "the session's model is unavailable and its state cannot move");
        return 0;
    }
    const cfg_model_t *nm = cfg_find_model(p->cfg, out.model, strlen(out.model));
    if (!nm) return -1;
    if (p->ad->handoff_convert && !p->ad->handoff_convert(p, &out, nm)) return 0;
    tlog(TLOG_INFO, "forced_handoff",
         "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"after\":\"backend_failures\","
         "\"endpoint\":\"%s\"",
         req->request_id, current, nm->name, p->endpoint);
    met_inc(tmet.session_handoffs_total, 1, "converted");
    pl->pol = out;
    up_redispatch(p, nm);
    return 0;
}

/* The head is rendered in a buffer the thread keeps between requests
 * (released when one was unusually large; freed at thread exit), then
 * copied into the request's arena. */
#define HEAD_SCRATCH_KEEP (16 * 1024)
static __thread buf_t head_buf;
static __thread bool head_buf_registered;
static pthread_key_t head_buf_key;
static pthread_once_t head_buf_once = PTHREAD_ONCE_INIT;

static void head_buf_free(void *b)
{
    buf_free(b);
}

static void head_buf_key_init(void)
{
    pthread_key_create(&head_buf_key, head_buf_free);
}

static buf_t *head_scratch(void)
{
    if (!head_buf_registered) {
        pthread_once(&head_buf_once, head_buf_key_init);
        pthread_setspecific(head_buf_key, &head_buf);
        head_buf_registered = true;
    }
    buf_reset(&head_buf);
    return &head_buf;
}

static void build_head(up_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h)
{
    fwd_head_in_t in = {
        .backend = b,
        .path_prefix = b->endpoint && !b->base_url ? "/v1" : b->path_prefix,
        .body_len = p->body_len,
        .request_id = p->req->request_id,
        .client = p->req->headers,
        .n_client = p->req->n_headers,
        .listener_keyed = p->req->principal != NULL,
        .ops = p->has_plg ? p->plg.hdr_ops : NULL,
        .n_ops = p->has_plg ? p->plg.n_hdr_ops : 0,
        .traceparent = up_otel_attempt(p),
    };
    p->ad->head(p, b, &in);
    fwd_build_head(&in, h);
}

/* No backend is left: a forced handoff, a fallback, or the error. */
static void out_of_backends(up_proxy_t *p)
{
    const cfg_model_t *m = p->model;
    const route_plan_t *pl = &p->plan;
    if (p->attempts > 0 && !p->started && !p->handoff_redone && pl->ran_policy &&
        sess_handoff_after_failures(&pl->pol, m->n_backend_refs, (size_t)p->attempts, false)) {
        if (handoff_after_failures(p) == 0) return; /* re-dispatched, or answered */
    }
    if ((p->attempts > 0 || p->skipped_unhealthy) && !p->started && pl->ran_policy &&
        pl->pol.hard_lock != SESS_HARD_LOCK_TOOL_LOOP &&
        pl->pol.hard_lock != SESS_HARD_LOCK_PROVIDER_STATE && !pl->passthrough &&
        (!p->ad->may_fallback || p->ad->may_fallback(p))) {
        const cfg_model_t *best = fallback_model(p);
        if (best) {
            up_redispatch(p, best);
            return;
        }
    }
    char msg[256];
    if (p->attempts == 0) {
        snprintf(msg, sizeof msg, "no available backend for model %s", m->name);
        up_fail(p, 503, "server_error", "no_backend_available", msg);
        return;
    }
    snprintf(msg, sizeof msg, "every backend of model %s failed (last: %s)", m->name,
             p->upstream_status ? "upstream error status" : hup_error_str(p->last_err));
    if (p->last_err == HUP_ERR_TIMEOUT_FIRST_BYTE || p->last_err == HUP_ERR_TIMEOUT_CONNECT)
        up_fail(p, 504, "server_error", "upstream_timeout", msg);
    else if (p->upstream_status == 503)
        up_fail(p, 503, "server_error", "no_backend_available", msg);
    else
        up_fail(p, 502, "upstream_error", "bad_upstream_response", msg);
}

/* lb_policy least_request: the admissible backend with the fewest requests
 * in flight per unit of weight (ties: the first). */
static int least_request(up_proxy_t *p, uint64_t skip)
{
    const cfg_model_t *m = p->model;
    int best = -1;
    double best_load = 0;
    for (size_t i = 0; i < m->n_backend_refs && i < WRR_MAX; i++) {
        const cfg_backend_ref_t *b = &m->backend_refs[i];
        if ((skip >> i) & 1 || b->weight <= 0) continue;
        double load = (sel_health_inflight(sel_health_get(m->name, b->name)) + 1.0) / b->weight;
        if (best < 0 || load < best_load) best = (int)i, best_load = load;
    }
    return best;
}

void up_attempt(up_proxy_t *p)
{
    const cfg_model_t *m = p->model;
    up_backend_release(p);
    wrr_t *wrr = p->host.picker(p->host.worker, p->model_index);
    bool lr = m->reliability.lb_policy && !strcmp(m->reliability.lb_policy, "least_request");
    uint64_t now = clock_mono_ms();
    int bi = -1;
    sel_health_t *h = NULL;
    for (;;) {
        bi = lr ? least_request(p, p->tried) : wrr_next(wrr, p->tried);
        if (bi < 0) break;
        const cfg_backend_ref_t *b = &m->backend_refs[bi];
        if (b->api_key_env && !b->api_key) { /* credential missing: unavailable */
            p->tried |= 1ull << bi;
            continue;
        }
        h = sel_health_get(m->name, b->name);
        if (!sel_health_is_up(h, now)) { /* ejected, or failing its health check */
            p->tried |= 1ull << bi;
            p->skipped_unhealthy = true;
            continue;
        }
        break;
    }
    if (bi < 0) {
        out_of_backends(p);
        return;
    }
    p->tried |= 1ull << bi;
    p->backend = bi;
    p->attempts++;
    p->bh = h;
    sel_health_inflight_add(h, +1);
    const cfg_backend_ref_t *b = &m->backend_refs[bi];
    /* the call reads the head again when it retries a stale pooled
     * connection, so it lives in the request's arena, as the body does */
    buf_t *hb = head_scratch();
    build_head(p, b, hb);
    char *head = arena_strndup(&p->req->arena, hb->data ? hb->data : "", hb->len);
    size_t head_len = hb->len;
    if (hb->cap > HEAD_SCRATCH_KEEP) buf_free(hb);
    hup_request_t r = {
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .head = head,
        .head_len = head_len,
        .body = p->iov,
        .n_body = p->n_iov,
        .connect_timeout_ms = m->reliability.connect_timeout_ms,
        .first_byte_timeout_ms = m->reliability.first_byte_timeout_ms,
        .idle_timeout_ms = m->reliability.stream_idle_timeout_ms,
    };
    p->upstream_status = 0;
    p->attempt_started_us = clock_mono_us();
    if (p->env.sel && !p->inflight) {
        sel_inflight_add(p->env.sel, m->name, +1);
        p->inflight = true;
    }
    p->call = hup_call_start(p->host.pools, &r, &up_relay_callbacks, p);
}

void up_client_abort(hsrv_req_t *req)
{
    up_proxy_t *p = req->user;
    up_inflight_end(p);
    if (p->awaiting_commit) { /* the commit's acknowledgement ends the request */
        p->client_gone = true;
        return;
    }
    tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499", req->request_id);
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    up_end(p);
}

void up_client_drain(hsrv_req_t *req)
{
    up_proxy_t *p = req->user;
    if (p->call) hup_call_pause(p->call, false);
}
