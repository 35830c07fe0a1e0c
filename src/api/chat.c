/* chat.c - POST /v1/chat/completions: scan the body once, resolve the model,
 * splice the upstream body, pick a backend_ref (smooth weighted round robin),
 * send, retry on the next untried backend_ref while nothing has reached the
 * client, and relay the response chunk by chunk while capturing usage.
 *
 * Streams: when the client did not ask for usage, tether asks upstream for it
 * (stream_options.include_usage) and hides the usage-only chunk from the
 * client; otherwise upstream bytes are relayed untouched. */
#include "api/agent.h"
#include "api/app.h"
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

#define CHAT_MAX_ACC (8u << 20) /* non-streamed bodies kept for usage capture */
#define CHAT_HIGH_WATER (256 * 1024)

typedef struct chat_proxy {
    hsrv_req_t *req;
    app_worker_t *w;
    app_config_ref_t *ref;
    const cfg_model_t *model;
    size_t model_index;
    const char *route_kind; /* "auto" | "passthrough" */
    jreq_t jr;
    jsplice_t splice;
    struct iovec iov[2 * JREQ_MAX_MODEL_KEYS + 4];
    int n_iov;
    size_t body_len;
    hup_call_t *call;
    uint64_t tried;    /* bitmask of backend_refs tried */
    int attempts;      /* made so far */
    int max_attempts;
    int backend;       /* current backend index */
    int client_stream; /* client asked for a stream */
    int hide_usage;    /* we injected include_usage: drop the usage-only chunk */
    int started;       /* client headers sent */
    int done;
    int upstream_status;
    sse_parser_t sse;
    buf_t acc;
    jusage_t usage;
    struct event *deadline;
    hup_error_t last_err;
    uint64_t attempt_started_us;
    /* routing */
    rq_t *rq;
    route_env_t env;
    route_in_t rin;
    route_plan_t plan;
    char conf[16];
    int committed;
    buf_t reply; /* assistant text seen in the response, for the prefix chain */
    plg_out_t plg;
    int has_plg;
    int client_gone; /* disconnected while routing was pending */
    /* client headers wait for the session commit (read-your-writes across replicas) */
    int awaiting_commit, done_pending;
    int pend_status;
    char *pend_ctype;
    int64_t pend_clen;
    int pend_sse;
    buf_t pend_body;
    replay_record_t *rec; /* this turn's replay record, until pushed */
    char replay_id[40];   /* its id (x-tether-replay-id); outlives the push */
    uint64_t ttft_us;
} chat_proxy_t;

static void chat_attempt(chat_proxy_t *p);
static void trace_done(chat_proxy_t *p, int status, const char *path);
static void send_client_headers(chat_proxy_t *p);
static void commit_done(void *ud);
static void chat_routed(void *ud, route_plan_t *plan);
static void routing_abort(hsrv_req_t *req);

static void chat_end(chat_proxy_t *p)
{
    /* release everything the proxy holds; the request is already finished */
    if (p->deadline) event_free(p->deadline);
    p->deadline = NULL;
    sse_parser_deinit(&p->sse);
    buf_free(&p->acc);
    buf_free(&p->reply);
    buf_free(&p->pend_body);
    if (p->rec) {
        /* the client went away: still record the turn */
        trace_done(p, 499, "client_closed");
    }
    if (p->has_plg) plg_out_deinit(&p->plg);
    p->has_plg = 0;
    jsplice_free(&p->splice);
    app_config_release(p->ref);
    p->ref = NULL;
    p->done = 1;
}

static void trace_done(chat_proxy_t *p, int status, const char *path)
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
        o.cost = ((pt - ct) * pr->prompt_per_1m + ct * pr->cached_input_per_1m + comp * pr->completion_per_1m) / 1e6;
        /* baseline: the base top choice's price, no cache credit */
        const cfg_model_t *base = p->model;
        if (p->plan.ran_selection && p->plan.sel.n)
            base = cfg_find_model(p->ref->cfg, p->plan.sel.models[p->plan.sel.best],
                                  strlen(p->plan.sel.models[p->plan.sel.best]));
        if (!base) base = p->model;
        o.baseline_cost = (pt * base->pricing.prompt_per_1m + comp * base->pricing.completion_per_1m) / 1e6;
    }
    o.ttft_ms = p->ttft_us ? (double)(p->ttft_us - p->req->started_us) / 1000.0 : 0;
    o.total_ms = (double)(clock_mono_us() - p->req->started_us) / 1000.0;
    api_trace_finish(p->rec, &o, p->w->app->replay);
    p->rec = NULL;
}

static void log_done(chat_proxy_t *p, int status)
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
            met_inc(tmet.tokens_total, (double)p->usage.completion_tokens, p->model->name, "completion");
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

static int add_h(hsrv_header_t *h, int n, const char *name, const char *value)
{
    h[n].name = name;
    h[n].name_len = strlen(name);
    h[n].value = value;
    h[n].value_len = strlen(value);
    return n + 1;
}

static int tether_headers(chat_proxy_t *p, hsrv_header_t *h, int n, const char *path)
{
    const cfg_t *cfg = p->ref->cfg;
    n = add_h(h, n, "x-tether-model", p->model->name);
    if (p->backend >= 0) n = add_h(h, n, "x-tether-backend", p->model->backend_refs[p->backend].name);
    n = add_h(h, n, "x-tether-request-id", p->req->request_id);
    n = add_h(h, n, "x-tether-response-path", path);
    if (p->replay_id[0]) {
        n = add_h(h, n, "x-tether-replay-id", p->replay_id);
        if (cfg->router.compat_headers) n = add_h(h, n, "x-vsr-replay-id", p->replay_id);
    }
    const route_plan_t *pl = &p->plan;
    n = add_h(h, n, "x-tether-decision", pl->decision_name ? pl->decision_name : "");
    n = add_h(h, n, "x-tether-algorithm", pl->algorithm ? pl->algorithm : "static");
    n = add_h(h, n, "x-tether-confidence", p->conf);
    if (!pl->passthrough && pl->recipe_name) n = add_h(h, n, "x-tether-recipe", pl->recipe_name);
    const char *phase = pl->ran_policy ? sess_phase_name(pl->pol.phase) : "none";
    n = add_h(h, n, "x-tether-session-phase", phase);
    if (pl->ran_policy) n = add_h(h, n, "x-tether-session-reason", sess_reason_name(pl->pol.reason));
    if (pl->id.found) {
        const char *k = strchr(pl->id.key, SESS_KEY_SEP);
        k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
        n = add_h(h, n, "x-tether-session", k ? k + 1 : pl->id.key);
        n = add_h(h, n, "x-tether-session-source", pl->id.source ? pl->id.source : "");
    }
    for (size_t i = 0; p->has_plg && i < p->plg.n_resp_headers && n < 26; i++)
        n = add_h(h, n, p->plg.resp_headers[i].name, p->plg.resp_headers[i].value);
    if (cfg->router.compat_headers) {
        n = add_h(h, n, "x-vsr-selected-model", p->model->name);
        n = add_h(h, n, "x-vsr-selected-decision", pl->decision_name ? pl->decision_name : "");
        n = add_h(h, n, "x-vsr-selected-confidence", p->conf);
        n = add_h(h, n, "x-vsr-session-phase", phase);
    }
    return n;
}

/* Error after resolution: OpenAI shape plus the routing headers. */
static void chat_error(chat_proxy_t *p, int status, const char *type, const char *code,
                       const char *msg)
{
    buf_t b = BUF_INIT;
    api_error_openai_json(&b, type, code, NULL, msg);
    hsrv_header_t h[40];
    int n = add_h(h, 0, "content-type", "application/json");
    n = tether_headers(p, h, n, "error");
    met_inc(tmet.request_errors_total, 1, "chat", code);
    trace_done(p, status, "error");
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"model\":\"%s\"",
         p->req->request_id, status, code, p->model->name);
    log_done(p, status);
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

static void sse_event_cb(void *ud, const char *event, size_t event_len, const char *data,
                         size_t data_len)
{
    chat_proxy_t *p = ud;
    int usage_only = 0;
    if (data_len > 8 && memmem(data, data_len, "\"usage\"", 7)) {
        jusage_t u;
        jscan_usage(data, data_len, &u);
        if (u.found) {
            p->usage = u;
            /* the include_usage chunk has an empty choices array */
            if (memmem(data, data_len, "\"choices\":[]", 12)) usage_only = 1;
        }
    }
    if (p->reply.len < 65536 && data_len > 10 && memmem(data, data_len, "\"content\"", 9)) {
        /* collect delta text for the prefix chain of the next turn */
        jspan_t doc = {0, (uint32_t)data_len}, ch, c0, delta, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(data, doc, "choices", &ch) && jscan_arr_next(data, ch, &cur, &c0) &&
            jscan_obj_get(data, c0, "delta", &delta) && jscan_obj_get(data, delta, "content", &ct) &&
            jscan_type(data, ct) == '"') {
            arena_t *a = &p->req->arena;
            size_t n = 0;
            char *t = jscan_unescape(a, data, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (!p->hide_usage) return; /* raw bytes are relayed in on_body */
    if (usage_only) return;
    buf_t out = BUF_INIT;
    sse_write_event(&out, event_len ? event : NULL, data, data_len);
    hsrv_write(p->req, out.data, out.len);
    buf_free(&out);
}

static void up_headers(void *ud, int status, const hsrv_header_t *hdrs, size_t n, int64_t clen)
{
    chat_proxy_t *p = ud;
    const cfg_reliability_t *rel = &p->model->reliability;
    unsigned bit = status == 502   ? CFG_RETRY_502
                   : status == 503 ? CFG_RETRY_503
                   : status == 504 ? CFG_RETRY_504
                   : status == 429 ? CFG_RETRY_429
                   : status == 500 ? CFG_RETRY_500
                   : status == 529 ? CFG_RETRY_529
                                   : 0;
    {
        char st[8];
        snprintf(st, sizeof st, "%d", status);
        met_inc(tmet.upstream_requests_total, 1, p->model->name,
                p->model->backend_refs[p->backend].name, st);
        met_observe(tmet.upstream_ttft_seconds, (double)(clock_mono_us() - p->attempt_started_us) / 1e6,
                    p->model->name);
    }
    if (bit && (rel->retry_on & bit) && p->attempts < p->max_attempts) {
        char reason[8];
        snprintf(reason, sizeof reason, "%d", status);
        met_inc(tmet.retries_total, 1, p->model->name, reason);
        tlog(TLOG_WARN, "upstream_retry",
             "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"status\":%d",
             p->req->request_id, p->model->name, p->model->backend_refs[p->backend].name, status);
        hup_call_cancel(p->call);
        p->call = NULL;
        p->upstream_status = status;
        chat_attempt(p);
        return;
    }
    p->upstream_status = status;
    const char *ctype = "application/json";
    size_t ctype_len = 16;
    int is_sse = 0;
    for (size_t i = 0; i < n; i++) {
        if (hdrs[i].name_len == 12 && memcmp(hdrs[i].name, "content-type", 12) == 0) {
            ctype = hdrs[i].value;
            ctype_len = hdrs[i].value_len;
            is_sse = memmem(ctype, ctype_len, "event-stream", 12) != NULL;
        }
    }
    if (!is_sse) p->hide_usage = 0; /* an error body: pass it through untouched */
    p->pend_status = status;
    p->pend_ctype = arena_strndup(&p->req->arena, ctype, ctype_len);
    p->pend_clen = clen;
    p->pend_sse = is_sse;
    if (status >= 200 && status < 300 && !p->committed) {
        /* §9.8: memory is committed at the first 2xx headers, with the model
         * that actually serves the turn; the client's headers follow the
         * store's acknowledgement (inline with the memory store) */
        p->committed = 1;
        p->awaiting_commit = 1;
        p->req->keep_on_abort = true; /* a Redis ack may come after the client left */
        hup_call_pause(p->call, true);
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     commit_done, p);
        return;
    }
    send_client_headers(p);
}

static void send_client_headers(chat_proxy_t *p)
{
    hsrv_header_t h[44];
    int k = 0;
    k = add_h(h, k, "content-type", p->pend_ctype);
    if (p->pend_sse) k = add_h(h, k, "cache-control", "no-cache");
    k = tether_headers(p, h, k, "upstream");
    int64_t out_len = p->hide_usage ? -1 : p->pend_clen;
    hsrv_start(p->req, p->pend_status, h, (size_t)k, out_len);
    p->started = 1;
    if (p->pend_sse) sse_parser_init(&p->sse, sse_event_cb, p);
}

static void relay_body(chat_proxy_t *p, const char *data, size_t len);
static void up_done(void *ud);

static void commit_done(void *ud)
{
    chat_proxy_t *p = ud;
    p->awaiting_commit = 0;
    p->req->keep_on_abort = false;
    if (p->client_gone) {
        hsrv_req_t *req = p->req;
        if (p->call) hup_call_cancel(p->call);
        p->call = NULL;
        req->on_abort = NULL;
        req->on_drain = NULL;
        chat_end(p);
        hsrv_abort(req);
        return;
    }
    send_client_headers(p);
    if (p->pend_body.len) relay_body(p, p->pend_body.data, p->pend_body.len);
    buf_free(&p->pend_body);
    if (p->done_pending) {
        up_done(p);
        return;
    }
    hup_call_pause(p->call, false);
}

static void up_body(void *ud, const char *data, size_t len)
{
    chat_proxy_t *p = ud;
    if (p->awaiting_commit) {
        buf_append(&p->pend_body, data, len);
        return;
    }
    relay_body(p, data, len);
}

static void relay_body(chat_proxy_t *p, const char *data, size_t len)
{
    if (!p->ttft_us) p->ttft_us = clock_mono_us();
    if (p->sse.cb) {
        sse_parser_feed(&p->sse, data, len);
        if (!p->hide_usage) hsrv_write(p->req, data, len);
    } else {
        hsrv_write(p->req, data, len);
        if (p->acc.len + len <= CHAT_MAX_ACC) buf_append(&p->acc, data, len);
    }
    if (hsrv_pending(p->req) > CHAT_HIGH_WATER) hup_call_pause(p->call, true);
}

static void client_drain(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    if (p->call) hup_call_pause(p->call, false);
}

static void up_done(void *ud)
{
    chat_proxy_t *p = ud;
    p->call = NULL;
    if (p->awaiting_commit) {
        p->done_pending = 1;
        return;
    }
    met_observe(tmet.upstream_latency_seconds, (double)(clock_mono_us() - p->attempt_started_us) / 1e6,
                p->model->name, p->model->backend_refs[p->backend].name);
    if (!p->sse.cb && p->acc.len) {
        jscan_usage(p->acc.data, p->acc.len, &p->usage);
        jspan_t doc = {0, (uint32_t)p->acc.len}, ch, c0, msg, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(p->acc.data, doc, "choices", &ch) && jscan_arr_next(p->acc.data, ch, &cur, &c0) &&
            jscan_obj_get(p->acc.data, c0, "message", &msg) &&
            jscan_obj_get(p->acc.data, msg, "content", &ct) && jscan_type(p->acc.data, ct) == '"') {
            size_t n = 0;
            char *t = jscan_unescape(&p->req->arena, p->acc.data, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (p->committed && p->upstream_status >= 200 && p->upstream_status < 300) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens = p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
            const cfg_pricing_t *pr = &p->model->pricing;
            u.cost = ((double)(u.prompt_tokens - u.cached_tokens) * pr->prompt_per_1m +
                      (double)u.cached_tokens * pr->cached_input_per_1m +
                      (double)u.completion_tokens * pr->completion_per_1m) / 1e6;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    trace_done(p, p->upstream_status, "upstream");
    log_done(p, p->upstream_status);
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    hsrv_req_t *req = p->req;
    chat_end(p);
    hsrv_finish(req);
}

static int retryable(const cfg_reliability_t *rel, hup_error_t e)
{
    switch (e) {
    case HUP_ERR_CONNECT:
    case HUP_ERR_TLS: return (rel->retry_on & CFG_RETRY_CONNECT) != 0;
    case HUP_ERR_RESET:
    case HUP_ERR_PROTOCOL: return (rel->retry_on & CFG_RETRY_RESET) != 0;
    case HUP_ERR_TIMEOUT_CONNECT: return (rel->retry_on & (CFG_RETRY_CONNECT | CFG_RETRY_TIMEOUT)) != 0;
    case HUP_ERR_TIMEOUT_FIRST_BYTE:
    case HUP_ERR_TIMEOUT_IDLE: return (rel->retry_on & CFG_RETRY_TIMEOUT) != 0;
    }
    return 0;
}

static void up_error(void *ud, hup_error_t e, bool got_response)
{
    chat_proxy_t *p = ud;
    p->call = NULL;
    p->last_err = e;
    const char *bname = p->model->backend_refs[p->backend].name;
    tlog(TLOG_WARN, "upstream_error",
         "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"error\":\"%s\","
         "\"client_started\":%s",
         p->req->request_id, p->model->name, bname, hup_error_str(e), p->started ? "true" : "false");
    met_inc(tmet.upstream_requests_total, 1, p->model->name, bname, hup_error_str(e));
    if (!p->started) {
        if (retryable(&p->model->reliability, e) && p->attempts < p->max_attempts) {
            met_inc(tmet.retries_total, 1, p->model->name, hup_error_str(e));
            chat_attempt(p);
            return;
        }
        int timeout = e == HUP_ERR_TIMEOUT_CONNECT || e == HUP_ERR_TIMEOUT_FIRST_BYTE ||
                      e == HUP_ERR_TIMEOUT_IDLE;
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s for model %s (backend %s)", hup_error_str(e),
                 p->model->name, bname);
        if (timeout)
            chat_error(p, 504, "server_error", "upstream_timeout", msg);
        else
            chat_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        return;
    }
    /* bytes already reached the client: never retry; end the stream */
    trace_done(p, 502, "stream_aborted");
    log_done(p, 502);
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    hsrv_req_t *req = p->req;
    if (p->sse.cb) {
        buf_t ev = BUF_INIT, js = BUF_INIT;
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s after the stream started", hup_error_str(e));
        api_error_openai_json(&js, "upstream_error", "stream_aborted", NULL, msg);
        sse_write_event(&ev, NULL, js.data, js.len);
        chat_end(p);
        hsrv_write(req, ev.data, ev.len);
        buf_free(&ev);
        buf_free(&js);
        /* a chunked stream can end cleanly after the error event */
        hsrv_finish(req);
        return;
    }
    chat_end(p);
    hsrv_abort(req);
}

static void client_abort(hsrv_req_t *req)
{
    chat_proxy_t *p = req->user;
    if (p->awaiting_commit) { /* commit_done ends the request */
        p->client_gone = 1;
        return;
    }
    tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499", req->request_id);
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    chat_end(p);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    chat_proxy_t *p = arg;
    if (p->done) return;
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    if (!p->started) {
        chat_error(p, 504, "server_error", "upstream_timeout",
                   "request exceeded the listener timeout");
        return;
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    chat_end(p);
    hsrv_abort(req);
}

/* --------------------------------------------------------------- attempts */

static void build_head(chat_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h)
{
    const hsrv_req_t *req = p->req;
    const char *prefix = b->endpoint && !b->base_url ? "/v1" : (b->path_prefix ? b->path_prefix : "");
    const char *path = b->chat_path ? b->chat_path : "/chat/completions";
    buf_printf(h, "POST %s%s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
                  "content-length: %zu\r\n",
               prefix, path, b->host, b->port, p->body_len);
    int own_key = b->api_key != NULL;
    if (own_key) {
        buf_printf(h, "%s: %s%s\r\n", b->auth_header ? b->auth_header : "authorization",
                   b->auth_prefix ? b->auth_prefix : "", b->api_key);
    }
    for (size_t i = 0; i < b->n_extra_headers; i++)
        buf_printf(h, "%s: %s\r\n", b->extra_headers[i].name, b->extra_headers[i].value);
    buf_printf(h, "x-request-id: %s\r\n", req->request_id);
    static const char *const skip[] = {"host", "content-length", "content-type", "connection",
                                       "keep-alive", "proxy-connection", "proxy-authorization",
                                       "te", "trailer", "transfer-encoding", "upgrade", "expect",
                                       "accept-encoding", "x-request-id", NULL};
    for (size_t i = 0; i < req->n_headers; i++) {
        const hsrv_header_t *x = &req->headers[i];
        int drop = 0;
        for (int s = 0; skip[s]; s++)
            if (x->name_len == strlen(skip[s]) && memcmp(x->name, skip[s], x->name_len) == 0) drop = 1;
        if (x->name_len >= 9 && memcmp(x->name, "x-tether-", 9) == 0) drop = 1;
        if (own_key && ((x->name_len == 13 && memcmp(x->name, "authorization", 13) == 0) ||
                        (x->name_len == 9 && memcmp(x->name, "x-api-key", 9) == 0)))
            drop = 1;
        for (size_t e = 0; !drop && e < b->n_extra_headers; e++)
            if (strlen(b->extra_headers[e].name) == x->name_len &&
                strncasecmp(b->extra_headers[e].name, x->name, x->name_len) == 0)
                drop = 1;
        for (size_t o = 0; !drop && p->has_plg && o < p->plg.n_hdr_ops; o++) {
            const plg_hdr_op_t *op = &p->plg.hdr_ops[o];
            if (op->op != PLG_HDR_ADD && strlen(op->name) == x->name_len &&
                strncasecmp(op->name, x->name, x->name_len) == 0)
                drop = 1;
        }
        if (drop) continue;
        buf_append(h, x->name, x->name_len);
        buf_append(h, ": ", 2);
        buf_append(h, x->value, x->value_len);
        buf_append(h, "\r\n", 2);
    }
    for (size_t o = 0; p->has_plg && o < p->plg.n_hdr_ops; o++) {
        const plg_hdr_op_t *op = &p->plg.hdr_ops[o];
        if (op->op == PLG_HDR_DEL || !op->value) continue;
        buf_printf(h, "%s: %s\r\n", op->name, op->value);
    }
    buf_append(h, "\r\n", 2);
}

static void chat_attempt(chat_proxy_t *p)
{
    app_worker_t *w = p->w;
    const cfg_model_t *m = p->model;
    int bi = -1;
    for (;;) {
        bi = wrr_next(&w->models[p->model_index].wrr, p->tried);
        if (bi < 0) break;
        const cfg_backend_ref_t *b = &m->backend_refs[bi];
        if (b->api_key_env && !b->api_key) { /* credential missing: unavailable */
            p->tried |= 1ull << bi;
            continue;
        }
        break;
    }
    if (bi < 0) {
        if (p->attempts == 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "no available backend for model %s", m->name);
            chat_error(p, 503, "server_error", "no_backend_available", msg);
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "every backend of model %s failed (last: %s)", m->name,
                     p->upstream_status ? "upstream error status" : hup_error_str(p->last_err));
            int st = p->upstream_status >= 500 ? p->upstream_status : 502;
            if (p->last_err == HUP_ERR_TIMEOUT_FIRST_BYTE || p->last_err == HUP_ERR_TIMEOUT_CONNECT)
                chat_error(p, 504, "server_error", "upstream_timeout", msg);
            else
                chat_error(p, st == 503 ? 503 : 502, st == 503 ? "server_error" : "upstream_error",
                           st == 503 ? "no_backend_available" : "bad_upstream_response", msg);
        }
        return;
    }
    p->tried |= 1ull << bi;
    p->backend = bi;
    p->attempts++;
    const cfg_backend_ref_t *b = &m->backend_refs[bi];
    buf_t head = BUF_INIT;
    build_head(p, b, &head);
    hup_request_t r = {
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .head = head.data,
        .head_len = head.len,
        .body = p->iov,
        .n_body = p->n_iov,
        .connect_timeout_ms = m->reliability.connect_timeout_ms,
        .first_byte_timeout_ms = m->reliability.first_byte_timeout_ms,
        .idle_timeout_ms = m->reliability.stream_idle_timeout_ms,
    };
    static const hup_callbacks_t cbs = {up_headers, up_body, up_done, up_error};
    p->upstream_status = 0;
    p->attempt_started_us = clock_mono_us();
    p->call = hup_call_start(w->pools, &r, &cbs, p);
    buf_free(&head);
}

/* ---------------------------------------------------------------- entry */

void api_chat_completions(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    const cfg_t *cfg = ref->cfg;
    jreq_t jr;
    jscan_err_t err = {0};
    int rc = jscan_request(req->body, req->body_len, &req->arena, &jr, &err);
    if (rc == -1) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_json", NULL,
                                "malformed JSON at byte %zu: %s", err.offset, err.message);
    }
    if (rc != 0) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", NULL,
                                "the request body must be a JSON object");
    }
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
    p->rq = rq_from_chat(&req->arena, req->body, req->body_len, &p->jr, req->headers, req->n_headers);
    app_route_env(ref, &p->env);
    if (w->store) p->env.store = w->store; /* the worker's Redis store */
    p->rin.cfg = cfg;
    p->rin.rq = p->rq;
    p->rin.request_id = req->request_id;
    p->rin.now_ms = clock_wall_ms();
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
    const jreq_t jr = p->jr;
    if (plan->status != ROUTE_OK) {
        app_config_ref_t *ref = p->ref;
        if (plan->status == ROUTE_ERR_MODEL_NOT_FOUND) {
            buf_t names = BUF_INIT;
            route_valid_names(cfg, &names);
            api_error_openai(req, 400, "invalid_request_error", "model_not_found", "model",
                             "model '%.200s' is not served here; valid models: %s", plan->error_message,
                             names.data);
            buf_free(&names);
        } else {
            api_error_openai(req, 503, "server_error", plan->error_code, NULL, "%s", plan->error_message);
        }
        app_config_release(ref);
        return;
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
        if (o->has_handoff) met_inc(tmet.session_handoffs_total, 1, o->handoff.possible ? "converted" : "impossible");
        if (plan->id.found) met_inc(tmet.session_identity_total, 1, plan->id.source ? plan->id.source : "");
    }
    req->on_abort = client_abort;
    req->on_drain = client_drain;
    int retries = model->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    req->user = p;
    req->on_abort = client_abort;
    req->on_drain = client_drain;

    /* plugins of the effective decision (§8): fast_response and
     * request_params first, then the body and header changes */
    plg_ctx_t pc = {.cfg = cfg, .decision = plan->decision, .model = model, .proto = RQ_PROTO_CHAT,
                    .body = req->body, .body_len = req->body_len, .jr = &p->jr,
                    .stream = p->client_stream, .reply_model = model->name, .arena = &req->arena};
    for (size_t i = 0; plan->decision && i < plan->decision->n_model_refs; i++)
        if (!strcmp(plan->decision->model_refs[i].model, model->name)) pc.ref = &plan->decision->model_refs[i];
    plg_out_init(&p->plg);
    p->has_plg = 1;
    if (plan->decision && plg_run_pre(&pc, &p->plg)) {
        hsrv_header_t fh[44];
        int fn = add_h(fh, 0, "content-type",
                       p->plg.fast ? (p->plg.content_type ? p->plg.content_type : "application/json")
                                   : "application/json");
        fn = tether_headers(p, fh, fn, p->plg.fast ? "fast_response" : "error");
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
        trace_done(p, st, p->plg.fast ? "fast_response" : "error");
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
    if (plan->decision) plg_run_post(&pc, &p->plg);

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
    if (p->client_stream) {
        /* ask upstream for usage; hide the usage chunk unless the client asked */
        jspan_t iu;
        if (jr.stream_options.len == 0) {
            static const char inj[] = "\"stream_options\":{\"include_usage\":true},";
            /* first member; the object is non-empty (it has messages) */
            jsplice_add(&p->splice, jr.obj_open + 1, 0, inj, sizeof inj - 1);
            p->hide_usage = 1;
        } else if (jscan_type(req->body, jr.stream_options) == '{' &&
                   !jscan_obj_get(req->body, jr.stream_options, "include_usage", &iu)) {
            uint32_t cur = 0;
            jspan_t k, v;
            int empty = !jscan_obj_next(req->body, jr.stream_options, &cur, &k, &v);
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
    p->body_len = jsplice_len(&p->splice, req->body_len);
    p->n_iov = jsplice_iov(&p->splice, req->body, req->body_len, p->iov,
                           (int)(sizeof p->iov / sizeof p->iov[0]));
    if (p->n_iov < 0) {
        p->backend = -1;
        chat_error(p, 500, "server_error", "internal_error", "request rewrite failed");
        return;
    }
    uint64_t total = model->reliability.total_timeout_ms;
    if (!total && req->listener_index >= 0 && (size_t)req->listener_index < cfg->n_listeners)
        total = cfg->listeners[req->listener_index].timeout_ms;
    if (total) {
        p->deadline = evtimer_new(hsrv_req_base(req), deadline_cb, p);
        struct timeval tv = {(time_t)(total / 1000), (suseconds_t)((total % 1000) * 1000)};
        evtimer_add(p->deadline, &tv);
    }
    chat_attempt(p);
}
