/* agent.c - the agent endpoints: Anthropic Messages and the Responses API,
 * and chat completions routed to an Anthropic backend. One proxy object per
 * request: validate, build the chat IR and the request facts, route through
 * the shared pipeline, build the upstream body for the chosen backend's
 * protocol (spliced when it matches the client's, translated otherwise),
 * retry before the first byte, then relay: raw bytes when the protocols
 * match, translated event by event when they differ. Responses turns are
 * written to the response store at the end. */
#include "api/agent.h"
#include "api/errors.h"
#include "api/response_store.h"
#include "api/translate.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/sse.h"
#include "json/scan.h"
#include "json/splice.h"
#include "metrics/catalog.h"
#include "route/request_agent.h"
#include "route/resolve.h"
#include "session/handoff_rewrite.h"
#include "signals/signal.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_MAX_ACC    (16u << 20)
#define AG_HIGH_WATER (256 * 1024)

typedef enum { AG_UP_CHAT = 0, AG_UP_ANTHROPIC, AG_UP_RESPONSES } ag_up_t;

typedef struct ag_proxy {
    hsrv_req_t *req;
    app_worker_t *w;
    app_config_ref_t *ref;
    rq_proto_t client;
    const cfg_model_t *model;
    size_t model_index;
    ag_up_t up;
    bool count_tokens; /* forward to /messages/count_tokens, no routing */
    buf_t ir;          /* chat IR (Anthropic / Responses clients) */
    jreq_t jr_ir;
    buf_t upbody;
    struct iovec iov[1];
    hup_call_t *call;
    uint64_t tried;
    int attempts, max_attempts, backend;
    bool client_stream, client_usage, started, done, committed, raw, err_buffer;
    bool handoff_redone;         /* re-decided once after the locked model's backends failed */
    const char *tried_models[8]; /* models given up on for this turn (fallback) */
    int n_tried_models;
    int upstream_status;
    bool upstream_sse;
    sse_parser_t sse;
    buf_t acc;
    tr_stream_t ts[2];
    int n_ts;
    tr_warn_t warn;
    jusage_t usage;
    struct event *deadline;
    hup_error_t last_err;
    uint64_t attempt_started_us;
    rq_t *rq;
    route_env_t env;
    route_in_t rin;
    route_plan_t plan;
    bool routed;
    char conf[16];
    buf_t reply;
    /* Responses */
    cJSON *rreq; /* the client's Responses request */
    char resp_id[32];
    char *instructions; /* effective (own or inherited), malloc'd */
    char *prev_id;      /* malloc'd */
    bool store;
    bool chain_native;
    tr_resp_meta_t meta;
    cJSON *output;        /* output items (emulate) */
    buf_t final_response; /* the Response object (for the store) */
    char native_id[64];
} ag_proxy_t;

static rstore_t *g_store;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const cfg_t *g_store_cfg;
static met_family_t *g_warn_met;

static void store_init(void)
{
    int64_t ttl = 0, max = 0;
    const char *backend = NULL;
    const cfg_redis_t *rc = NULL;
    if (g_store_cfg && g_store_cfg->global_ext) {
        ttl = g_store_cfg->global_ext->stores.responses.ttl_seconds;
        max = g_store_cfg->global_ext->stores.responses.max_responses;
        backend = g_store_cfg->global_ext->stores.responses.backend;
        rc = &g_store_cfg->global_ext->stores.responses.redis;
    }
    uint64_t ttl_ms = ttl > 0 ? (uint64_t)ttl * 1000 : 0;
    size_t cap = max > 0 ? (size_t)max : 100000;
    if (backend && !strcmp(backend, "redis") && rc) {
        rstore_redis_opts_t o = {.address = rc->address,
                                 .password = rc->password,
                                 .db = (int)rc->db,
                                 .key_prefix = rc->key_prefix,
                                 .timeout_ms = rc->timeout_ms > 0 ? (uint64_t)rc->timeout_ms : 0};
        char err[256] = "";
        g_store = rstore_new_redis(ttl_ms, cap, &o, err, sizeof err);
        if (!g_store)
            tlog(TLOG_ERROR, "response_store_redis_config",
                 "\"error\":\"%s\",\"fallback\":\"memory\"", err);
    }
    if (!g_store) g_store = rstore_new(ttl_ms, cap);
    static const char *const labels[] = {"code", NULL};
    g_warn_met = met_counter("tether_translation_warnings_total",
                             "Items that could not be translated between protocols", labels);
}

rstore_t *api_response_store(const cfg_t *cfg)
{
    if (!g_store_cfg) g_store_cfg = cfg;
    pthread_once(&g_once, store_init);
    return g_store;
}

/* ------------------------------------------------------------ errors */

static const char *ep_name(rq_proto_t c)
{
    return c == RQ_PROTO_ANTHROPIC ? "messages" : c == RQ_PROTO_RESPONSES ? "responses" : "chat";
}

static void anthropic_error_json(buf_t *b, const char *type, const char *msg)
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
    anthropic_error_json(&b, type, msg);
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
static void early_error(hsrv_req_t *req, rq_proto_t client, int status, const char *type,
                        const char *code, const char *param, const char *msg)
{
    if (client == RQ_PROTO_ANTHROPIC)
        api_error_anthropic(req, status, "%s", msg);
    else
        api_error_openai(req, status, type, code, param, "%s", msg);
}

/* ------------------------------------------------------------ lifecycle */

static void ag_end(ag_proxy_t *p)
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
    cJSON_Delete(p->rreq);
    p->rreq = NULL;
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

static int add_h(hsrv_header_t *h, int n, const char *name, const char *value)
{
    h[n].name = name;
    h[n].name_len = strlen(name);
    h[n].value = value;
    h[n].value_len = strlen(value);
    return n + 1;
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

static int tether_headers(ag_proxy_t *p, hsrv_header_t *h, int n, const char *path)
{
    const route_plan_t *pl = &p->plan;
    if (p->model) n = add_h(h, n, "x-tether-model", p->model->name);
    if (p->model && p->backend >= 0)
        n = add_h(h, n, "x-tether-backend", p->model->backend_refs[p->backend].name);
    n = add_h(h, n, "x-tether-request-id", p->req->request_id);
    n = add_h(h, n, "x-tether-response-path", path);
    if (p->routed) {
        n = add_h(h, n, "x-tether-decision", pl->decision_name ? pl->decision_name : "");
        n = add_h(h, n, "x-tether-algorithm", pl->algorithm ? pl->algorithm : "static");
        n = add_h(h, n, "x-tether-confidence", p->conf);
        if (!pl->passthrough && pl->recipe_name)
            n = add_h(h, n, "x-tether-recipe", pl->recipe_name);
        const char *phase = pl->ran_policy ? sess_phase_name(pl->pol.phase) : "none";
        n = add_h(h, n, "x-tether-session-phase", phase);
        if (pl->ran_policy)
            n = add_h(h, n, "x-tether-session-reason", sess_reason_name(pl->pol.reason));
        if (pl->id.found) {
            const char *k = strchr(pl->id.key, SESS_KEY_SEP);
            k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
            n = add_h(h, n, "x-tether-session", k ? k + 1 : pl->id.key);
            n = add_h(h, n, "x-tether-session-source", pl->id.source ? pl->id.source : "");
        }
        if (p->ref->cfg->router.compat_headers && p->model) {
            n = add_h(h, n, "x-vsr-selected-model", p->model->name);
            n = add_h(h, n, "x-vsr-selected-decision", pl->decision_name ? pl->decision_name : "");
            n = add_h(h, n, "x-vsr-selected-confidence", p->conf);
            n = add_h(h, n, "x-vsr-session-phase", phase);
        }
    }
    n = add_h(h, n, "x-tether-protocol", proto_label(p));
    if (p->warn.len) n = add_h(h, n, "x-tether-warnings", p->warn.list);
    return n;
}

static void count_warnings(ag_proxy_t *p)
{
    if (!p->warn.len || !g_warn_met) return;
    char tmp[sizeof p->warn.list];
    memcpy(tmp, p->warn.list, sizeof tmp);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        met_inc(g_warn_met, 1, t);
}

static void log_done(ag_proxy_t *p, int status)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *ep = ep_name(p->client);
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
static void ag_error(ag_proxy_t *p, int status, const char *type, const char *code, const char *msg)
{
    buf_t b = BUF_INIT;
    if (p->client == RQ_PROTO_ANTHROPIC)
        anthropic_error_json(&b, tr_anthropic_error_type(status), msg);
    else
        api_error_openai_json(&b, type, code, NULL, msg);
    hsrv_header_t h[40];
    int n = add_h(h, 0, "content-type", "application/json");
    n = tether_headers(p, h, n, "error");
    met_inc(tmet.request_errors_total, 1, ep_name(p->client), code);
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"model\":\"%s\"", p->req->request_id,
         status, code, p->model ? p->model->name : "");
    log_done(p, status);
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

/* ---------------------------------------------------------- the store */

static void items_of_input(const cJSON *input, cJSON *out)
{
    if (cJSON_IsString(input)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "role", "user");
        cJSON *c = cJSON_AddArrayToObject(m, "content");
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "input_text");
        cJSON_AddStringToObject(t, "text", input->valuestring);
        cJSON_AddItemToArray(c, t);
        cJSON_AddItemToArray(out, m);
        return;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, input) cJSON_AddItemToArray(out, cJSON_Duplicate(x, 1));
}

static void store_turn(ag_proxy_t *p, const char *id, bool native, const char *response_json)
{
    if (!p->store || !id || !*id) return;
    rstore_t *s = api_response_store(p->ref->cfg);
    rstore_entry_t e = {0};
    snprintf(e.id, sizeof e.id, "%s", id);
    e.session_key = p->plan.id.found ? p->plan.id.key : NULL;
    e.model = p->model->name;
    e.native = native;
    cJSON *in = cJSON_CreateArray();
    items_of_input(cJSON_GetObjectItemCaseSensitive(p->rreq, "input"), in);
    e.input = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    e.output = p->output ? cJSON_PrintUnformatted(p->output) : strdup("[]");
    e.instructions = p->instructions;
    e.previous_response_id = p->prev_id;
    e.response = (char *)response_json;
    e.created_at = p->meta.created_at;
    rstore_put(s, &e, clock_wall_ms());
    free(e.input);
    free(e.output);
}

/* ------------------------------------------------------------ relay */

static void client_write_event(ag_proxy_t *p, const char *event, const char *data, size_t len)
{
    buf_t out = BUF_INIT;
    sse_write_event(&out, event && *event ? event : NULL, data, len);
    hsrv_write(p->req, out.data, out.len);
    buf_free(&out);
}

/* Last stage of a translated stream: to the client (and the reply text). */
static void emit_client(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    if (p->client == RQ_PROTO_RESPONSES && event && !strcmp(event, "response.completed")) {
        /* keep the final Response object for the store */
        cJSON *e = cJSON_ParseWithLength(data, len);
        char *r = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "response"));
        buf_reset(&p->final_response);
        if (r) buf_puts(&p->final_response, r);
        free(r);
        cJSON_Delete(e);
    }
    client_write_event(p, event, data, len);
}

/* Middle stage (A2C feeding C2R). */
static void emit_next(void *ud, const char *event, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    tr_stream_event(&p->ts[1], event, data, len);
}

static void capture_reply_text(ag_proxy_t *p, const char *data, size_t len)
{
    /* chat chunk delta text, for the prefix chain of the next turn */
    if (p->reply.len >= 65536 || len < 10 || !memmem(data, len, "\"content\"", 9)) return;
    jspan_t doc = {0, (uint32_t)len}, ch, c0, delta, ct;
    uint32_t cur = 0;
    if (jscan_obj_get(data, doc, "choices", &ch) && jscan_arr_next(data, ch, &cur, &c0) &&
        jscan_obj_get(data, c0, "delta", &delta) && jscan_obj_get(data, delta, "content", &ct) &&
        jscan_type(data, ct) == '"') {
        size_t n = 0;
        char *t = jscan_unescape(&p->req->arena, data, ct, &n);
        if (t) buf_append(&p->reply, t, n);
    }
}

static void merge_usage(ag_proxy_t *p, const char *data, size_t len)
{
    if (len < 8 || !memmem(data, len, "usage", 5)) return;
    jusage_t u;
    jscan_usage(data, len, &u);
    if (!u.found) return;
    if (!p->usage.found) {
        p->usage = u;
        return;
    }
    if (u.prompt_tokens >= 0) p->usage.prompt_tokens = u.prompt_tokens;
    if (u.completion_tokens >= 0) p->usage.completion_tokens = u.completion_tokens;
    if (u.cached_tokens >= 0) p->usage.cached_tokens = u.cached_tokens;
}

static void sse_event_cb(void *ud, const char *event, size_t event_len, const char *data,
                         size_t data_len)
{
    ag_proxy_t *p = ud;
    if (p->raw) {
        merge_usage(p, data, data_len);
        if (p->up == AG_UP_RESPONSES && !p->native_id[0] && event_len &&
            !strcmp(event, "response.created")) {
            jspan_t doc = {0, (uint32_t)data_len}, r, id;
            if (jscan_obj_get(data, doc, "response", &r) && jscan_obj_get(data, r, "id", &id) &&
                jscan_type(data, id) == '"') {
                char *s = jscan_unescape(&p->req->arena, data, id, NULL);
                if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
            }
        }
        if (p->up == AG_UP_RESPONSES && event_len && !strcmp(event, "response.completed")) {
            jspan_t doc = {0, (uint32_t)data_len}, r;
            if (jscan_obj_get(data, doc, "response", &r)) {
                buf_reset(&p->final_response);
                buf_append(&p->final_response, data + r.off, r.len);
            }
        }
        return; /* bytes relayed in up_body */
    }
    if (p->up == AG_UP_CHAT) capture_reply_text(p, data, data_len);
    tr_stream_event(&p->ts[0], event_len ? event : NULL, data, data_len);
}

static void stream_usage_from_translator(ag_proxy_t *p)
{
    tr_stream_t *s = &p->ts[0];
    if (s->out_tok < 0 && s->in_tok < 0) return;
    p->usage.found = true;
    if (p->up == AG_UP_ANTHROPIC) {
        int64_t cr = s->cache_read > 0 ? s->cache_read : 0,
                cc = s->cache_write > 0 ? s->cache_write : 0;
        p->usage.prompt_tokens = (s->in_tok > 0 ? s->in_tok : 0) + cr + cc;
        p->usage.cached_tokens = cr;
    } else {
        p->usage.prompt_tokens = s->in_tok;
        p->usage.cached_tokens = s->cache_read;
    }
    p->usage.completion_tokens = s->out_tok;
}

static void ag_attempt(ag_proxy_t *p);
static int ag_handoff_after_failures(ag_proxy_t *p);
static int ag_fallback(ag_proxy_t *p);

static void up_headers(void *ud, int status, const hsrv_header_t *hdrs, size_t n, int64_t clen)
{
    ag_proxy_t *p = ud;
    const cfg_reliability_t *rel = &p->model->reliability;
    unsigned bit = status == 502   ? CFG_RETRY_502
                   : status == 503 ? CFG_RETRY_503
                   : status == 504 ? CFG_RETRY_504
                   : status == 429 ? CFG_RETRY_429
                   : status == 500 ? CFG_RETRY_500
                   : status == 529 ? CFG_RETRY_529
                                   : 0;
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.upstream_requests_total, 1, p->model->name,
            p->model->backend_refs[p->backend].name, st);
    if (bit && (rel->retry_on & bit) && p->attempts < p->max_attempts) {
        met_inc(tmet.retries_total, 1, p->model->name, st);
        hup_call_cancel(p->call);
        p->call = NULL;
        p->upstream_status = status;
        ag_attempt(p);
        return;
    }
    p->upstream_status = status;
    const char *ctype = "application/json";
    size_t ctype_len = 16;
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name_len == 12 && !memcmp(hdrs[i].name, "content-type", 12)) {
            ctype = hdrs[i].value;
            ctype_len = hdrs[i].value_len;
            p->upstream_sse = memmem(ctype, ctype_len, "event-stream", 12) != NULL;
        }
    bool ok = status >= 200 && status < 300;
    if (!p->raw && !ok) {
        p->err_buffer = true; /* translated into the client's shape at the end */
        return;
    }
    if (!p->raw && !p->upstream_sse) return; /* whole body translated at the end */
    hsrv_header_t h[48];
    int k = 0;
    if (p->raw) {
        h[k].name = "content-type";
        h[k].name_len = 12;
        h[k].value = ctype;
        h[k].value_len = ctype_len;
        k++;
    } else {
        k = add_h(h, k, "content-type", "text/event-stream");
    }
    if (p->upstream_sse) k = add_h(h, k, "cache-control", "no-cache");
    k = tether_headers(p, h, k, "upstream");
    hsrv_start(p->req, status, h, (size_t)k, p->raw ? clen : -1);
    p->started = true;
    if (ok && !p->committed && p->routed) {
        p->committed = true;
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     NULL, NULL);
    }
    if (p->upstream_sse) sse_parser_init(&p->sse, sse_event_cb, p);
}

static void up_body(void *ud, const char *data, size_t len)
{
    ag_proxy_t *p = ud;
    if (p->sse.cb) {
        sse_parser_feed(&p->sse, data, len);
        if (p->raw) hsrv_write(p->req, data, len);
    } else if (p->started) {
        hsrv_write(p->req, data, len);
        if (p->acc.len + len <= AG_MAX_ACC) buf_append(&p->acc, data, len);
    } else if (p->acc.len + len <= AG_MAX_ACC) {
        buf_append(&p->acc, data, len);
    }
    if (p->started && hsrv_pending(p->req) > AG_HIGH_WATER) hup_call_pause(p->call, true);
}

static void client_drain(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    if (p->call) hup_call_pause(p->call, false);
}

/* A buffered non-2xx upstream body, in the client's error shape. */
static void finish_error(ag_proxy_t *p)
{
    char msg[600];
    tr_error_message(p->acc.data, p->acc.len, msg, sizeof msg);
    int st = p->upstream_status;
    const char *type = st == 429   ? "rate_limit_error"
                       : st >= 500 ? "upstream_error"
                                   : "invalid_request_error";
    const char *code = st >= 500 ? "bad_upstream_response" : "upstream_error";
    ag_error(p, st, type, code, msg);
}

/* Non-streamed 2xx body (or a non-SSE reply to a stream request): translate
 * and answer in one go. */
static void finish_translated_json(ag_proxy_t *p)
{
    buf_t chat = BUF_INIT, out = BUF_INIT;
    const char *src = p->acc.data ? p->acc.data : "";
    size_t srclen = p->acc.len;
    int rc = 0;
    if (p->up == AG_UP_ANTHROPIC) {
        rc = tr_resp_anthropic_to_chat(src, srclen, &chat, &p->warn);
        src = chat.data;
        srclen = chat.len;
    }
    if (rc == 0) jscan_usage(src, srclen, &p->usage);
    if (rc == 0) {
        jspan_t doc = {0, (uint32_t)srclen}, ch, c0, msg, ct;
        uint32_t cur = 0;
        if (jscan_obj_get(src, doc, "choices", &ch) && jscan_arr_next(src, ch, &cur, &c0) &&
            jscan_obj_get(src, c0, "message", &msg) && jscan_obj_get(src, msg, "content", &ct) &&
            jscan_type(src, ct) == '"') {
            size_t n = 0;
            char *t = jscan_unescape(&p->req->arena, src, ct, &n);
            if (t) buf_append(&p->reply, t, n);
        }
    }
    if (rc == 0) {
        if (p->client == RQ_PROTO_CHAT)
            buf_append(&out, src, srclen);
        else if (p->client == RQ_PROTO_ANTHROPIC)
            rc = tr_resp_chat_to_anthropic(src, srclen, p->model->name, &out, &p->warn);
        else
            rc = tr_resp_chat_to_responses(src, srclen, &p->meta, &out, &p->output, &p->warn);
    }
    buf_free(&chat);
    if (rc != 0) {
        buf_free(&out);
        ag_error(p, 502, "upstream_error", "bad_upstream_response",
                 "the upstream reply could not be translated");
        return;
    }
    if (p->client == RQ_PROTO_RESPONSES) store_turn(p, p->resp_id, false, out.data);
    hsrv_header_t h[48];
    int k = add_h(h, 0, "content-type", "application/json");
    k = tether_headers(p, h, k, "upstream");
    if (!p->committed && p->routed) {
        p->committed = true;
        route_commit(&p->env, &p->rin, &p->plan, p->model->backend_refs[p->backend].name, NULL,
                     NULL, NULL);
    }
    buf_t body = out;
    out = (buf_t)BUF_INIT;
    p->acc.len = 0; /* consumed */
    p->started = true;
    int status = p->upstream_status;
    log_done(p, status);
    /* route_finish needs the plan; then release and answer */
    if (p->committed) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens =
                p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    app_config_ref_t *ref = p->ref;
    p->ref = NULL;
    ag_end(p);
    hsrv_respond(req, status, h, (size_t)k, body.data, body.len);
    app_config_release(ref);
    buf_free(&body);
}

static void up_done(void *ud)
{
    ag_proxy_t *p = ud;
    p->call = NULL;
    met_observe(tmet.upstream_latency_seconds,
                (double)(clock_mono_us() - p->attempt_started_us) / 1e6, p->model->name,
                p->model->backend_refs[p->backend].name);
    if (p->err_buffer) return finish_error(p);
    if (!p->started) return finish_translated_json(p);
    if (p->raw && !p->sse.cb && p->acc.len) {
        jscan_usage(p->acc.data, p->acc.len, &p->usage);
        if (p->up == AG_UP_RESPONSES) {
            jspan_t doc = {0, (uint32_t)p->acc.len}, id;
            if (jscan_obj_get(p->acc.data, doc, "id", &id) && jscan_type(p->acc.data, id) == '"') {
                char *s = jscan_unescape(&p->req->arena, p->acc.data, id, NULL);
                if (s) snprintf(p->native_id, sizeof p->native_id, "%s", s);
            }
            buf_reset(&p->final_response);
            buf_append(&p->final_response, p->acc.data, p->acc.len);
        }
    }
    if (!p->raw && p->n_ts) {
        for (int i = 0; i < p->n_ts; i++)
            tr_stream_end(&p->ts[i]);
        stream_usage_from_translator(p);
        if (p->client == RQ_PROTO_RESPONSES && p->upstream_status < 300) {
            tr_stream_t *last = &p->ts[p->n_ts - 1];
            p->output = last->output;
            last->output = NULL;
            store_turn(p, p->resp_id, false, p->final_response.data);
        }
    }
    if (p->raw && p->up == AG_UP_RESPONSES && p->upstream_status < 300 && p->native_id[0]) {
        p->output = NULL;
        store_turn(p, p->native_id, true, p->final_response.data);
    }
    if (p->committed && p->upstream_status >= 200 && p->upstream_status < 300) {
        sess_usage_t u = {0};
        if (p->usage.found) {
            u.has_usage = true;
            u.prompt_tokens = p->usage.prompt_tokens > 0 ? (uint64_t)p->usage.prompt_tokens : 0;
            u.cached_tokens = p->usage.cached_tokens > 0 ? (uint64_t)p->usage.cached_tokens : 0;
            u.completion_tokens =
                p->usage.completion_tokens > 0 ? (uint64_t)p->usage.completion_tokens : 0;
        }
        route_finish(&p->env, &p->plan, &u, p->reply.data ? p->reply.data : "", p->reply.len);
    }
    log_done(p, p->upstream_status);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    ag_end(p);
    hsrv_finish(req);
}

static int retryable(const cfg_reliability_t *rel, hup_error_t e)
{
    switch (e) {
    case HUP_ERR_CONNECT:
    case HUP_ERR_TLS: return (rel->retry_on & CFG_RETRY_CONNECT) != 0;
    case HUP_ERR_RESET:
    case HUP_ERR_PROTOCOL: return (rel->retry_on & CFG_RETRY_RESET) != 0;
    case HUP_ERR_TIMEOUT_CONNECT:
        return (rel->retry_on & (CFG_RETRY_CONNECT | CFG_RETRY_TIMEOUT)) != 0;
    case HUP_ERR_TIMEOUT_FIRST_BYTE:
    case HUP_ERR_TIMEOUT_IDLE: return (rel->retry_on & CFG_RETRY_TIMEOUT) != 0;
    }
    return 0;
}

/* In-band stream error in the client's protocol. */
static void stream_error_event(ag_proxy_t *p, const char *msg)
{
    buf_t js = BUF_INIT;
    if (p->client == RQ_PROTO_ANTHROPIC) {
        anthropic_error_json(&js, "api_error", msg);
        client_write_event(p, "error", js.data, js.len);
    } else if (p->client == RQ_PROTO_RESPONSES) {
        buf_puts(&js, "{\"type\":\"error\",\"code\":\"stream_aborted\",\"message\":");
        buf_json_str(&js, msg, strlen(msg));
        buf_puts(&js, ",\"param\":null}");
        client_write_event(p, "error", js.data, js.len);
    } else {
        api_error_openai_json(&js, "upstream_error", "stream_aborted", NULL, msg);
        client_write_event(p, NULL, js.data, js.len);
    }
    buf_free(&js);
}

static void up_error(void *ud, hup_error_t e, bool got_response)
{
    ag_proxy_t *p = ud;
    (void)got_response;
    p->call = NULL;
    p->last_err = e;
    const char *bname = p->model->backend_refs[p->backend].name;
    tlog(TLOG_WARN, "upstream_error",
         "\"request_id\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"error\":\"%s\"",
         p->req->request_id, p->model->name, bname, hup_error_str(e));
    met_inc(tmet.upstream_requests_total, 1, p->model->name, bname, hup_error_str(e));
    if (!p->started) {
        if (retryable(&p->model->reliability, e) && p->attempts < p->max_attempts) {
            met_inc(tmet.retries_total, 1, p->model->name, hup_error_str(e));
            p->err_buffer = false;
            p->acc.len = 0;
            ag_attempt(p);
            return;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s for model %s (backend %s)", hup_error_str(e),
                 p->model->name, bname);
        if (e == HUP_ERR_TIMEOUT_CONNECT || e == HUP_ERR_TIMEOUT_FIRST_BYTE ||
            e == HUP_ERR_TIMEOUT_IDLE)
            ag_error(p, 504, "server_error", "upstream_timeout", msg);
        else
            ag_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        return;
    }
    log_done(p, 502);
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    if (p->sse.cb) {
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s after the stream started", hup_error_str(e));
        stream_error_event(p, msg);
        ag_end(p);
        hsrv_finish(req);
        return;
    }
    ag_end(p);
    hsrv_abort(req);
}

static void client_abort(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499", req->request_id);
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    ag_end(p);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ag_proxy_t *p = arg;
    if (p->done) return;
    if (p->call) hup_call_cancel(p->call);
    p->call = NULL;
    if (!p->started) {
        ag_error(p, 504, "server_error", "upstream_timeout",
                 "request exceeded the listener timeout");
        return;
    }
    hsrv_req_t *req = p->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    ag_end(p);
    hsrv_abort(req);
}

/* ------------------------------------------------------------ attempts */

static bool hname_is(const hsrv_header_t *x, const char *n)
{
    return x->name_len == strlen(n) && !strncasecmp(x->name, n, x->name_len);
}

static void build_head(ag_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h)
{
    const hsrv_req_t *req = p->req;
    const char *prefix =
        b->endpoint && !b->base_url ? "/v1" : (b->path_prefix ? b->path_prefix : "");
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
    buf_printf(h,
               "POST %s%s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
               "content-length: %zu\r\n",
               prefix, path, b->host, b->port, p->upbody.len);
    bool own_key = b->api_key != NULL;
    const char *auth = b->auth_header ? b->auth_header : "authorization";
    if (own_key)
        buf_printf(h, "%s: %s%s\r\n", auth, b->auth_prefix ? b->auth_prefix : "", b->api_key);
    bool has_version = false;
    for (size_t i = 0; i < b->n_extra_headers; i++) {
        buf_printf(h, "%s: %s\r\n", b->extra_headers[i].name, b->extra_headers[i].value);
        if (!strcasecmp(b->extra_headers[i].name, "anthropic-version")) has_version = true;
    }
    buf_printf(h, "x-request-id: %s\r\n", req->request_id);
    static const char *const skip[] = {"host",
                                       "content-length",
                                       "content-type",
                                       "connection",
                                       "keep-alive",
                                       "proxy-connection",
                                       "proxy-authorization",
                                       "te",
                                       "trailer",
                                       "transfer-encoding",
                                       "upgrade",
                                       "expect",
                                       "accept-encoding",
                                       "x-request-id",
                                       NULL};
    for (size_t i = 0; i < req->n_headers; i++) {
        const hsrv_header_t *x = &req->headers[i];
        bool drop = false;
        for (int s = 0; skip[s] && !drop; s++)
            drop = hname_is(x, skip[s]);
        if (x->name_len >= 9 && !strncasecmp(x->name, "x-tether-", 9)) drop = true;
        if (own_key && (hname_is(x, "authorization") || hname_is(x, "x-api-key"))) drop = true;
        bool anth = x->name_len >= 10 && !strncasecmp(x->name, "anthropic-", 10);
        if (anth && p->up != AG_UP_ANTHROPIC) drop = true;
        /* a client key for one protocol means nothing to the other */
        if (!own_key && p->up != AG_UP_ANTHROPIC && hname_is(x, "x-api-key")) drop = true;
        for (size_t e = 0; !drop && e < b->n_extra_headers; e++)
            drop = hname_is(x, b->extra_headers[e].name);
        if (drop) continue;
        if (hname_is(x, "anthropic-version")) has_version = true;
        buf_append(h, x->name, x->name_len);
        buf_append(h, ": ", 2);
        buf_append(h, x->value, x->value_len);
        buf_append(h, "\r\n", 2);
    }
    if (p->up == AG_UP_ANTHROPIC && !has_version) buf_puts(h, "anthropic-version: 2023-06-01\r\n");
    buf_append(h, "\r\n", 2);
}

static void ag_attempt(ag_proxy_t *p)
{
    app_worker_t *w = p->w;
    const cfg_model_t *m = p->model;
    int bi = -1;
    for (;;) {
        bi = wrr_next(&w->models[p->model_index].wrr, p->tried);
        if (bi < 0) break;
        const cfg_backend_ref_t *b = &m->backend_refs[bi];
        if (b->api_key_env && !b->api_key) {
            p->tried |= 1ull << bi;
            continue;
        }
        break;
    }
    if (bi < 0 && p->attempts > 0 && !p->started && !p->handoff_redone && p->plan.ran_policy &&
        sess_handoff_after_failures(&p->plan.pol, m->n_backend_refs, (size_t)p->attempts, false)) {
        if (ag_handoff_after_failures(p) == 0) return; /* re-dispatched, or answered */
    }
    if (bi < 0 && p->attempts > 0 && !p->started && p->plan.ran_policy &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_TOOL_LOOP &&
        p->plan.pol.hard_lock != SESS_HARD_LOCK_PROVIDER_STATE && !p->plan.passthrough) {
        if (ag_fallback(p) == 0) return;
    }
    if (bi < 0) {
        char msg[256];
        if (p->attempts == 0) {
            snprintf(msg, sizeof msg, "no available backend for model %s", m->name);
            ag_error(p, 503, "server_error", "no_backend_available", msg);
        } else {
            snprintf(msg, sizeof msg, "every backend of model %s failed (last: %s)", m->name,
                     p->upstream_status ? "upstream error status" : hup_error_str(p->last_err));
            if (p->last_err == HUP_ERR_TIMEOUT_FIRST_BYTE || p->last_err == HUP_ERR_TIMEOUT_CONNECT)
                ag_error(p, 504, "server_error", "upstream_timeout", msg);
            else if (p->upstream_status == 503)
                ag_error(p, 503, "server_error", "no_backend_available", msg);
            else
                ag_error(p, 502, "upstream_error", "bad_upstream_response", msg);
        }
        return;
    }
    p->tried |= 1ull << bi;
    p->backend = bi;
    p->attempts++;
    const cfg_backend_ref_t *b = &m->backend_refs[bi];
    buf_t head = BUF_INIT;
    build_head(p, b, &head);
    p->iov[0].iov_base = p->upbody.data;
    p->iov[0].iov_len = p->upbody.len;
    hup_request_t r = {
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .head = head.data,
        .head_len = head.len,
        .body = p->iov,
        .n_body = 1,
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

/* ------------------------------------------------------ upstream bodies */

/* The client's body with every top-level "model" replaced. */
static void splice_model(ag_proxy_t *p, const char *body, size_t len, const jreq_t *jr)
{
    jsplice_t sp;
    jsplice_init(&sp);
    buf_t mv = BUF_INIT;
    buf_json_str(&mv, p->model->provider_model_id, strlen(p->model->provider_model_id));
    for (uint32_t i = 0; i < jr->n_model && i < JREQ_MAX_MODEL_KEYS; i++)
        jsplice_add(&sp, jr->model_all[i].off, jr->model_all[i].len, mv.data, (uint32_t)mv.len);
    jsplice_sort(&sp);
    jsplice_to_buf(&sp, body, len, &p->upbody);
    jsplice_free(&sp);
    buf_free(&mv);
}

static bool build_upstream(ag_proxy_t *p, char *err, size_t errlen)
{
    hsrv_req_t *req = p->req;
    const char *pm = p->model->provider_model_id;
    buf_reset(&p->upbody);
    if (p->client == RQ_PROTO_ANTHROPIC && p->up == AG_UP_ANTHROPIC) {
        jreq_t jr;
        if (jscan_request(req->body, req->body_len, NULL, &jr, NULL) != 0) return false;
        splice_model(p, req->body, req->body_len, &jr);
        p->raw = true;
        return true;
    }
    if (p->client == RQ_PROTO_RESPONSES && p->up == AG_UP_RESPONSES) {
        const char *prev = p->prev_id;
        if (prev && !p->chain_native) {
            /* an emulated chain reaching a native backend: send it explicitly */
            cJSON *r = cJSON_Duplicate(p->rreq, 1);
            cJSON *items = cJSON_CreateArray();
            rstore_chain(api_response_store(p->ref->cfg), prev, clock_wall_ms(), NULL, items, NULL,
                         NULL, NULL, &p->warn);
            items_of_input(cJSON_GetObjectItemCaseSensitive(r, "input"), items);
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
            splice_model(p, req->body, req->body_len, &jr);
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
        splice_model(p, ir, irlen, &jr);
    }
    /* stream translators, set before any byte arrives */
    const char *cm = p->model->name;
    if (p->client_stream) {
        if (p->up == AG_UP_ANTHROPIC) {
            bool last = p->client == RQ_PROTO_CHAT;
            tr_stream_init(&p->ts[0], TR_S_A2C, cm, last ? emit_client : emit_next, p, &p->warn);
            p->ts[0].include_usage = p->client_usage || !last;
            p->n_ts = 1;
            if (!last) {
                tr_stream_init(&p->ts[1], p->client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R, cm,
                               emit_client, p, &p->warn);
                p->ts[1].meta = &p->meta;
                p->n_ts = 2;
            }
        } else {
            tr_stream_init(&p->ts[0], p->client == RQ_PROTO_ANTHROPIC ? TR_S_C2A : TR_S_C2R, cm,
                           emit_client, p, &p->warn);
            p->ts[0].meta = &p->meta;
            p->n_ts = 1;
        }
    }
    return true;
}

static ag_up_t up_kind(const ag_proxy_t *p, const cfg_model_t *m)
{
    if (m->api_format == CFG_API_ANTHROPIC) return AG_UP_ANTHROPIC;
    if (p->client == RQ_PROTO_RESPONSES && m->responses_native) return AG_UP_RESPONSES;
    return AG_UP_CHAT;
}

/* Send this turn to another model: reset the attempts, rebuild the
 * upstream body for it and attempt again (answers an error itself when the
 * body cannot be built). Mirrors chat_relay.c chat_redispatch. */
static void ag_redispatch(ag_proxy_t *p, const cfg_model_t *nm)
{
    route_plan_t *pl = &p->plan;
    if (p->n_tried_models < 8) p->tried_models[p->n_tried_models++] = p->model->name;
    pl->model = nm;
    pl->model_index = (size_t)(nm - p->ref->cfg->providers.models);
    p->model = nm;
    p->model_index = pl->model_index;
    p->meta.model = nm->name;
    p->up = up_kind(p, nm);
    p->tried = 0;
    p->attempts = 0;
    p->backend = -1;
    p->upstream_status = 0;
    p->err_buffer = false;
    p->acc.len = 0;
    p->raw = false;
    for (int i = 0; i < p->n_ts; i++)
        tr_stream_deinit(&p->ts[i]);
    p->n_ts = 0;
    int retries = nm->reliability.retry_count;
    p->max_attempts = 1 + (retries < 0 ? 0 : retries);
    char err[256] = "";
    if (!build_upstream(p, err, sizeof err)) {
        ag_error(p, 400, "invalid_request_error", "invalid_body",
                 err[0] ? err : "the request could not be translated");
        return;
    }
    ag_attempt(p);
}

static bool model_tried(const ag_proxy_t *p, const char *name)
{
    for (int i = 0; i < p->n_tried_models; i++)
        if (!strcmp(p->tried_models[i], name)) return true;
    return !strcmp(p->model->name, name);
}

/* §4.6 / §9.6 step 9 (copied from chat_relay.c chat_fallback): the model
 * failed for this request and nothing locks the session: the next candidate
 * by session score, then the default model. A native Responses chain never
 * falls back (it is provider state). Returns 0 when re-dispatched. */
static int ag_fallback(ag_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    const cfg_t *cfg = p->ref->cfg;
    if (p->chain_native) return -1;
    const cfg_model_t *best = NULL;
    double best_s = -1e9;
    for (size_t i = 0; i < pl->n_cands; i++) {
        const sess_candidate_t *c = &pl->cands[i];
        if (!c->admissible || model_tried(p, c->model)) continue;
        const cfg_model_t *m = cfg_find_model(cfg, c->model, strlen(c->model));
        if (!m || !route_model_available(m)) continue;
        double sc = pl->terms && pl->terms[i].scored ? pl->terms[i].final : c->base;
        if (!best || sc > best_s) {
            best = m;
            best_s = sc;
        }
    }
    if (!best && cfg->providers.default_model && !model_tried(p, cfg->providers.default_model)) {
        const cfg_model_t *d =
            cfg_find_model(cfg, cfg->providers.default_model, strlen(cfg->providers.default_model));
        if (d && route_model_available(d)) best = d;
    }
    if (!best) return -1;
    tlog(TLOG_WARN, "fallback", "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
         p->req->request_id, p->model->name, best->name);
    met_inc(tmet.fallbacks_total, 1, "model");
    pl->pol.fallback = true;
    ag_redispatch(p, best);
    return 0;
}

/* SPEC §9.4/§9.7 after failures: the policy held the session on a model
 * (tool loop or provider state, e.g. a stored Responses chain) whose every
 * backend failed before the first byte; re-decide without it. The pattern
 * (and the policy input it rebuilds) is copied from chat_relay.c
 * chat_handoff_after_failures. For a Responses client the stored chain is
 * already expanded: into the chat IR (p->ir) for a chat or Anthropic
 * upstream, and by build_upstream for a native Responses upstream (an
 * emulated chain is sent as explicit input items). The other conversions of
 * the handoff (dropping signed thinking, encrypted reasoning, ...) apply to
 * the IR. Returns 0 when re-dispatched or answered, -1 to fall through to
 * the plain error. */
static int ag_handoff_after_failures(ag_proxy_t *p)
{
    route_plan_t *pl = &p->plan;
    hsrv_req_t *req = p->req;
    p->handoff_redone = true;
    if (!pl->knobs || !pl->pol.model) return -1;
    sess_facts_t facts = pl->facts;
    /* a chain in tether's store can be expanded for any model */
    if (p->prev_id && !p->chain_native) facts.previous_response_stored = true;
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
        ag_error(p, 503, "server_error", "session_model_unavailable",
                 out.error_message
                     ? out.error_message
                     : "the session's model is unavailable and its state cannot move");
        return 0;
    }
    const cfg_model_t *nm = cfg_find_model(p->ref->cfg, out.model, strlen(out.model));
    if (!nm) return -1;
    if (p->chain_native && up_kind(p, nm) != AG_UP_RESPONSES) {
        ag_error(p, 503, "server_error", "session_model_unavailable",
                 "previous_response_id is provider-bound state (native chain) that no "
                 "available model can read");
        return 0;
    }
    if (out.has_handoff && out.handoff.possible && p->client != RQ_PROTO_CHAT) {
        sess_handoff_result_t hr;
        memset(&hr, 0, sizeof hr);
        const char *nb;
        size_t nl;
        if (sess_handoff_apply(p->rq, &out.handoff, NULL, &req->arena, &nb, &nl, &hr) != 0) {
            ag_error(p, 503, "server_error", "session_model_unavailable",
                     hr.error ? hr.error : "the session's state cannot be converted");
            return 0;
        }
        if (nb != p->ir.data) {
            buf_t nir = BUF_INIT;
            buf_append(&nir, nb, nl);
            buf_free(&p->ir);
            p->ir = nir;
        }
    }
    tlog(TLOG_INFO, "forced_handoff",
         "\"request_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"after\":\"backend_failures\","
         "\"endpoint\":\"%s\"",
         req->request_id, current, nm->name, ep_name(p->client));
    met_inc(tmet.session_handoffs_total, 1, "converted");
    pl->pol = out;
    ag_redispatch(p, nm);
    return 0;
}

/* ------------------------------------------------------- after routing */

static void ag_routed(void *ud, route_plan_t *plan)
{
    ag_proxy_t *p = ud;
    hsrv_req_t *req = p->req;
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
            early_error(req, client, 400, "invalid_request_error", "model_not_found", "model", msg);
            buf_free(&names);
        } else {
            early_error(req, client, 503, "server_error", plan->error_code, NULL,
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
    p->up = up_kind(p, m);
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
    req->on_abort = client_abort;
    req->on_drain = client_drain;
    char err[256] = "";
    if (!build_upstream(p, err, sizeof err)) {
        ag_error(p, 400, "invalid_request_error", "invalid_body",
                 err[0] ? err : "the request could not be translated");
        return;
    }
    uint64_t total = m->reliability.total_timeout_ms;
    if (!total && req->listener_index >= 0 && (size_t)req->listener_index < cfg->n_listeners)
        total = cfg->listeners[req->listener_index].timeout_ms;
    if (total) {
        p->deadline = evtimer_new(hsrv_req_base(req), deadline_cb, p);
        struct timeval tv = {(time_t)(total / 1000), (suseconds_t)((total % 1000) * 1000)};
        evtimer_add(p->deadline, &tv);
    }
    ag_attempt(p);
}

static ag_proxy_t *ag_new(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, rq_proto_t c)
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

static void ag_route(ag_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    app_route_env(p->ref, &p->env);
    p->rin.cfg = p->ref->cfg;
    p->rin.rq = p->rq;
    p->rin.request_id = req->request_id;
    p->rin.now_ms = clock_wall_ms();
    req->user = p;
    route_decide(&p->env, &p->rin, &req->arena, &p->plan, ag_routed, p);
}

/* ------------------------------------------------------------ entries */

static bool scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, jreq_t *jr)
{
    jscan_err_t err = {0};
    int rc = jscan_request(req->body, req->body_len, NULL, jr, &err);
    char msg[256];
    if (rc == -1) {
        snprintf(msg, sizeof msg, "malformed JSON at byte %zu: %s", err.offset, err.message);
        app_config_release(ref);
        early_error(req, c, 400, "invalid_request_error", "invalid_json", NULL, msg);
        return false;
    }
    if (rc != 0) {
        app_config_release(ref);
        early_error(req, c, 400, "invalid_request_error", "invalid_body", NULL,
                    "the request body must be a JSON object");
        return false;
    }
    if (jr->n_model == 0 || !jr->model_is_string) {
        app_config_release(ref);
        early_error(req, c, 400, "invalid_request_error", "invalid_body", "model",
                    jr->n_model ? "model: must be a string" : "model: field required");
        return false;
    }
    return true;
}

/* Build the chat IR facts; false after answering an error. */
static bool ir_facts(ag_proxy_t *p)
{
    hsrv_req_t *req = p->req;
    if (jscan_request(p->ir.data, p->ir.len, &req->arena, &p->jr_ir, NULL) != 0) {
        app_config_ref_t *ref = p->ref;
        p->ref = NULL;
        rq_proto_t c = p->client;
        ag_end(p);
        app_config_release(ref);
        early_error(req, c, 500, "server_error", "internal_error", NULL,
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

void api_messages(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!scan_client(req, ref, RQ_PROTO_ANTHROPIC, &jr)) return;
    if (!jr.has_messages) {
        app_config_release(ref);
        return api_error_anthropic(req, 400, "messages: field required (an array)");
    }
    if (!jr.max_tokens.len) {
        app_config_release(ref);
        return api_error_anthropic(req, 400, "max_tokens: field required");
    }
    ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_ANTHROPIC);
    p->client_stream = jr.stream == 1;
    char err[256];
    if (tr_req_anthropic_to_chat(req->body, req->body_len, NULL, &p->ir, &p->warn, err,
                                 sizeof err) != 0) {
        p->ref = NULL;
        ag_end(p);
        app_config_release(ref);
        return api_error_anthropic(req, 400, "%s", err);
    }
    if (!ir_facts(p)) return;
    ag_route(p);
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

/* ------------------------------------------------------------ Responses */

void api_responses(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!scan_client(req, ref, RQ_PROTO_RESPONSES, &jr)) return;
    if (!jr.input.len && !jr.previous_response_id.len) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "input",
                                "missing required field 'input' (or 'previous_response_id')");
    }
    ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_RESPONSES);
    p->client_stream = jr.stream == 1;
    p->rreq = cJSON_ParseWithLength(req->body, req->body_len);
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p->rreq, "store"))) p->store = false;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(p->rreq, "previous_response_id");
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(p->rreq, "instructions");
    cJSON *history = cJSON_CreateArray();
    if (cJSON_IsString(pr)) {
        p->prev_id = strdup(pr->valuestring);
        char *inh = NULL;
        int n = rstore_chain(api_response_store(ref->cfg), pr->valuestring, clock_wall_ms(),
                             history, NULL, &inh, &p->chain_native, NULL, &p->warn);
        if (n < 0) {
            char idc[128];
            snprintf(idc, sizeof idc, "%s", pr->valuestring);
            cJSON_Delete(history);
            free(inh);
            p->ref = NULL;
            ag_end(p);
            app_config_release(ref);
            return api_error_openai(req, 400, "invalid_request_error",
                                    "previous_response_not_found", "previous_response_id",
                                    "Previous response with id '%.100s' not found.", idc);
        }
        p->instructions = inh;
    }
    if (cJSON_IsString(ins)) {
        free(p->instructions);
        p->instructions = strdup(ins->valuestring);
    }
    char err[256];
    int rc = tr_req_responses_to_chat(p->rreq, history, p->instructions, NULL, &p->ir, &p->warn,
                                      err, sizeof err);
    cJSON_Delete(history);
    if (rc != 0) {
        p->ref = NULL;
        ag_end(p);
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "input", "%s",
                                err);
    }
    rstore_new_id(p->resp_id);
    p->meta.id = p->resp_id;
    p->meta.created_at = (int64_t)(clock_wall_ms() / 1000);
    p->meta.previous_response_id = p->prev_id;
    p->meta.instructions = p->instructions;
    if (!ir_facts(p)) return;
    if (p->chain_native) p->rq->bindings |= RQ_BIND_PREVIOUS_RESPONSE_ID;
    /* SPEC §9.4: an emulated chain is in tether's store (portable when
     * treat_stored_chains_as_portable); a native one is provider state */
    if (p->prev_id) p->rq->previous_response_stored = !p->chain_native;
    ag_route(p);
}

static void respond_json(hsrv_req_t *req, int status, const char *body, size_t len)
{
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, status, h, 2, body, len);
}

void api_responses_item(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    (void)w;
    const char *rest = req->path + strlen("/v1/responses/");
    char id[64];
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    bool items = slash && !strcmp(slash, "/input_items");
    if (idlen == 0 || idlen >= sizeof id || (slash && !items)) {
        app_config_release(ref);
        return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                "unknown path %s", req->path);
    }
    memcpy(id, rest, idlen);
    id[idlen] = 0;
    rstore_t *s = api_response_store(ref->cfg);
    app_config_release(ref);
    if (req->method == HSRV_DELETE && !items) {
        if (!rstore_delete(s, id))
            return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                    "Response with id '%s' not found.", id);
        buf_t b = BUF_INIT;
        buf_puts(&b, "{\"id\":");
        buf_json_str(&b, id, strlen(id));
        buf_puts(&b, ",\"object\":\"response\",\"deleted\":true}");
        respond_json(req, 200, b.data, b.len);
        buf_free(&b);
        return;
    }
    if (req->method != HSRV_GET && req->method != HSRV_HEAD)
        return api_error_openai(req, 405, "invalid_request_error", "method_not_allowed", NULL,
                                "method %s is not allowed on %s", req->method_str, req->path);
    rstore_entry_t *e = rstore_get(s, id, clock_wall_ms());
    if (!e)
        return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                "Response with id '%s' not found.", id);
    if (!items) {
        const char *r = e->response ? e->response : "{}";
        respond_json(req, 200, r, strlen(r));
    } else {
        cJSON *in = e->input ? cJSON_Parse(e->input) : cJSON_CreateArray();
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        int k = 0;
        cJSON *x;
        cJSON_ArrayForEach(x, in)
        {
            if (!cJSON_GetObjectItemCaseSensitive(x, "id")) {
                char iid[64];
                snprintf(iid, sizeof iid, "in_%s_%d", e->id + 5, k);
                cJSON_AddStringToObject(x, "id", iid);
            }
            k++;
        }
        int n = cJSON_GetArraySize(in);
        const char *first = n ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetArrayItem(in, 0), "id"))
                              : NULL;
        const char *last = n ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetArrayItem(in, n - 1), "id"))
                             : NULL;
        cJSON_AddItemToObject(o, "data", in);
        if (first)
            cJSON_AddStringToObject(o, "first_id", first);
        else
            cJSON_AddNullToObject(o, "first_id");
        if (last)
            cJSON_AddStringToObject(o, "last_id", last);
        else
            cJSON_AddNullToObject(o, "last_id");
        cJSON_AddFalseToObject(o, "has_more");
        char *t = cJSON_PrintUnformatted(o);
        respond_json(req, 200, t, strlen(t));
        free(t);
        cJSON_Delete(o);
    }
    rstore_entry_free(e);
}

/* ---------------------------------------------------------- count_tokens */

void api_messages_count_tokens(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!scan_client(req, ref, RQ_PROTO_ANTHROPIC, &jr)) return;
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
        p->model = m;
        for (size_t i = 0; i < cfg->providers.n_models; i++)
            if (&cfg->providers.models[i] == m) p->model_index = i;
        p->up = AG_UP_ANTHROPIC;
        p->raw = true;
        p->max_attempts = 1 + (m->reliability.retry_count < 0 ? 0 : m->reliability.retry_count);
        splice_model(p, req->body, req->body_len, &jr);
        req->user = p;
        req->on_abort = client_abort;
        req->on_drain = client_drain;
        ag_attempt(p);
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
    respond_json(req, 200, body, (size_t)n);
}
