/* mock_server.c - HTTP side of `tether mock`: the route table (paths to the
 * handlers of mock_chat.c and mock_signals.c, plus models, health, stats
 * and reset), the deferred responses that apply the fault injection
 * (latency, TTFT, resets; paced SSE with libevent timers on the worker's
 * event base), the fault decision (fail rate, script) and the lifecycle.
 *
 * Per request: parse (cJSON; the mock is not the hot path) -> model check ->
 * script step / fault rolls -> strict continuity check (mock_strict.c) ->
 * reply (mock_reply.c) whose ids are registered -> prefix-cache accounting
 * (mock_session.c) -> counters (mock_stats.c) -> respond now, or later from
 * a timer when a delay applies. */
#include "mock/mock_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hsrv_header_t JSON_HDR[] = {{"Content-Type", 12, "application/json", 16}};
static const hsrv_header_t SSE_HDR[] = {{"Content-Type", 12, "text/event-stream", 17},
                                        {"Cache-Control", 13, "no-cache", 8}};

/* ------------------------------------------------------------ helpers */

double mock_rng_next(mock_t *m)
{
    pthread_mutex_lock(&m->rng_mu);
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&m->rng_mu);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0; /* [0,1) */
}

void mock_respond_json(hsrv_req_t *req, int status, const buf_t *b)
{
    hsrv_respond(req, status, JSON_HDR, 1, b->data ? b->data : "", b->len);
}

void mock_respond_error(hsrv_req_t *req, int status, const char *type, const char *code,
                        const char *message)
{
    buf_t b = BUF_INIT;
    mock_render_error(&b, type, code, message);
    mock_respond_json(req, status, &b);
    buf_free(&b);
}

bool mock_model_served(const mock_t *m, const char *model)
{
    if (m->cfg.n_models == 0) return true;
    for (size_t i = 0; i < m->cfg.n_models; i++)
        if (!strcmp(m->models[i], model)) return true;
    return false;
}

void mock_respond_bad_json(mock_t *m, hsrv_req_t *req, const char *at)
{
    mock_stats_request(m->stats, req->path, NULL);
    char msg[128];
    long off =
        at && at >= req->body && at <= req->body + req->body_len ? (long)(at - req->body) : 0;
    snprintf(msg, sizeof msg, "request body is not valid JSON (near byte %ld)", off);
    mock_respond_error(req, 400, "invalid_request_error", "invalid_json", msg);
}

void mock_respond_unknown_model(hsrv_req_t *req, const char *model)
{
    char msg[256];
    snprintf(msg, sizeof msg, "The model '%.120s' does not exist", model);
    mock_respond_error(req, 404, "invalid_request_error", "model_not_found", msg);
}

/* ------------------------------------------------------------ deferred responses */

static void mreq_free(mreq_t *r)
{
    if (r->ev) event_free(r->ev);
    buf_free(&r->body);
    if (r->chunks) mock_chunks_free(r->chunks, r->n_chunks);
    free(r);
}

static void mreq_on_abort(hsrv_req_t *req)
{
    mreq_t *r = req->user;
    req->user = NULL;
    if (r) mreq_free(r);
}

static void mreq_arm(mreq_t *r, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(r->ev, &tv);
}

/* Detach from the request and free the state (the request is then done). */
static void mreq_done(mreq_t *r)
{
    r->req->user = NULL;
    r->req->on_abort = NULL;
    mreq_free(r);
}

/* Ask for a reset once what was written has left the socket, so the client
 * sees the partial response before the RST. */
static void mreq_reset_soon(mreq_t *r)
{
    r->phase = PH_RESET;
    mreq_arm(r, 2);
}

static void stream_chunks(mreq_t *r)
{
    while (r->next < r->n_chunks) {
        buf_t *c = &r->chunks[r->next];
        size_t len = c->len;
        bool cut = false;
        if (r->reset_after >= 0 && r->sent + (long long)len > r->reset_after) {
            len = (size_t)(r->reset_after - r->sent);
            cut = true;
        }
        hsrv_write(r->req, c->data, len);
        r->sent += (long long)len;
        r->next++;
        if (cut || (r->reset_after >= 0 && r->sent >= r->reset_after)) {
            mreq_reset_soon(r);
            return;
        }
        if (r->next < r->n_chunks && r->chunk_delay_ms > 0) {
            mreq_arm(r, r->chunk_delay_ms);
            return;
        }
    }
    hsrv_req_t *req = r->req;
    mreq_done(r);
    hsrv_finish(req);
}

static void mreq_begin(mreq_t *r)
{
    if (!r->streaming) {
        if (r->reset_after < 0) {
            hsrv_req_t *req = r->req;
            req->user = NULL; /* detach first: req is gone after hsrv_respond */
            req->on_abort = NULL;
            hsrv_respond(req, r->status, JSON_HDR, 1, r->body.data ? r->body.data : "",
                         r->body.len);
            mreq_free(r);
            return;
        }
        hsrv_start(r->req, r->status, JSON_HDR, 1, (int64_t)r->body.len);
        size_t n = (size_t)r->reset_after < r->body.len ? (size_t)r->reset_after : r->body.len;
        hsrv_write(r->req, r->body.data, n);
        mreq_reset_soon(r);
        return;
    }
    hsrv_start(r->req, r->status, SSE_HDR, 2, -1);
    r->phase = PH_CHUNKS;
    if (r->ttft_ms > 0) {
        mreq_arm(r, r->ttft_ms);
        return;
    }
    stream_chunks(r);
}

static void mreq_step(evutil_socket_t fd, short what, void *arg)
{
    mreq_t *r = arg;
    switch (r->phase) {
    case PH_BEGIN: mreq_begin(r); break;
    case PH_CHUNKS: stream_chunks(r); break;
    case PH_RESET:
        if (hsrv_pending(r->req) > 0 && r->reset_polls++ < 500) {
            mreq_arm(r, 2);
            return;
        }
        {
            hsrv_req_t *req = r->req;
            mreq_done(r);
            hsrv_abort(req);
        }
        break;
    }
}

void mock_mreq_run(mreq_t *r, uint64_t delay_ms)
{
    r->phase = PH_BEGIN;
    bool needs_timer = delay_ms > 0 || r->reset_after >= 0 ||
                       (r->streaming && (r->ttft_ms > 0 || r->chunk_delay_ms > 0));
    if (!needs_timer) {
        mreq_begin(r);
        return;
    }
    r->ev = evtimer_new(hsrv_req_base(r->req), mreq_step, r);
    r->req->user = r;
    r->req->on_abort = mreq_on_abort;
    if (delay_ms > 0)
        mreq_arm(r, delay_ms);
    else
        mreq_begin(r);
}

mreq_t *mock_mreq_new(mock_t *m, hsrv_req_t *req, int status)
{
    mreq_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->m = m;
    r->req = req;
    r->status = status;
    r->reset_after = -1;
    return r;
}

/* ------------------------------------------------------------ faults */

bool mock_faults_apply(mock_t *m, hsrv_req_t *req, faults_t *f)
{
    const mock_config_t *cfg = &m->cfg;
    f->step = m->script ? mock_script_next(m->script) : NULL;
    double fail_roll = mock_rng_next(m);
    f->reset_roll = mock_rng_next(m);
    f->delay_ms = cfg->latency_ms + (f->step ? f->step->delay_ms : 0);
    const mock_step_t *step = f->step;
    if (step && (step->status || step->body)) {
        mreq_t *r = mock_mreq_new(m, req, step->status ? step->status : 200);
        if (step->body)
            buf_puts(&r->body, step->body);
        else
            mock_render_error(&r->body, r->status >= 500 ? "server_error" : "invalid_request_error",
                              "mock_scripted_error", "scripted failure");
        if (r->status >= 500) mock_stats_failure(m->stats);
        r->reset_after = step->reset_after_bytes;
        if (r->reset_after >= 0) mock_stats_reset(m->stats);
        mock_mreq_run(r, f->delay_ms);
        return true;
    }
    if (!step && cfg->fail_rate > 0 && fail_roll < cfg->fail_rate) {
        mock_stats_failure(m->stats);
        mreq_t *r = mock_mreq_new(m, req, 503);
        mock_render_error(&r->body, "server_error", "service_unavailable",
                          "The server is overloaded (injected by tether mock)");
        mock_mreq_run(r, f->delay_ms);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ small endpoints */

static void handle_models(mock_t *m, hsrv_req_t *req)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < m->cfg.n_models; i++) {
        buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        buf_json_str(&b, m->models[i], strlen(m->models[i]));
        buf_puts(&b, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"tether-mock\"}");
    }
    buf_puts(&b, "]}");
    mock_respond_json(req, 200, &b);
    buf_free(&b);
}

static void handle_reset(mock_t *m, hsrv_req_t *req)
{
    mock_cache_clear(m->cache);
    mock_registry_clear(m->reg);
    mock_stats_clear(m->stats);
    if (m->script) mock_script_rewind(m->script);
    pthread_mutex_lock(&m->rng_mu);
    m->rng = m->cfg.seed;
    pthread_mutex_unlock(&m->rng_mu);
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"reset\":true}");
    mock_respond_json(req, 200, &b);
    buf_free(&b);
}

static void handler(hsrv_req_t *req, void *ud)
{
    mock_t *m = ud;
    const char *p = req->path;
    bool get = req->method == HSRV_GET || req->method == HSRV_HEAD;
    bool post = req->method == HSRV_POST;
    if (post && strncmp(p, "/mock/", 6) != 0)
        mock_stats_headers(m->stats, req->headers, req->n_headers);
    if (!strcmp(p, "/v1/chat/completions") || !strcmp(p, "/chat/completions")) {
        if (post) return mock_handle_chat(m, req);
    } else if (!strcmp(p, "/v1/messages/count_tokens") || !strcmp(p, "/messages/count_tokens")) {
        if (post) return mock_handle_count_tokens(m, req);
    } else if (!strcmp(p, "/v1/messages") || !strcmp(p, "/messages")) {
        if (post) return mock_handle_api(m, req, MOCK_SHAPE_ANTHROPIC);
    } else if (!strcmp(p, "/v1/responses") || !strcmp(p, "/responses")) {
        if (post) return mock_handle_api(m, req, MOCK_SHAPE_RESPONSES);
    } else if (!strcmp(p, "/classify") || !strcmp(p, "/v1/classify")) {
        if (post) return mock_handle_classify(m, req, CLS_CLASSIFY);
    } else if (!strcmp(p, "/score") || !strcmp(p, "/v1/score")) {
        if (post) return mock_handle_classify(m, req, CLS_SCORE);
    } else if (!strcmp(p, "/v1/embeddings") || !strcmp(p, "/embeddings")) {
        if (post) return mock_handle_embeddings(m, req, false);
    } else if (!strcmp(p, "/pooling") || !strcmp(p, "/v1/pooling")) {
        if (post && mock_pooling_classifies(m, req))
            return mock_handle_classify(m, req, CLS_POOLING);
        if (post) return mock_handle_embeddings(m, req, true);
    } else if (!strcmp(p, "/v1/completions") || !strcmp(p, "/completions")) {
        if (post) return mock_handle_completions(m, req);
    } else if (!strcmp(p, "/v1/models") || !strcmp(p, "/models")) {
        if (get) return handle_models(m, req);
    } else if (!strcmp(p, "/health")) {
        if (get) {
            buf_t b = BUF_INIT;
            buf_puts(&b, "{\"status\":\"ok\"}");
            mock_respond_json(req, 200, &b);
            buf_free(&b);
            return;
        }
    } else if (!strcmp(p, "/mock/stats")) {
        if (get) {
            buf_t b = BUF_INIT;
            mock_stats_json(m->stats, &b);
            mock_respond_json(req, 200, &b);
            buf_free(&b);
            return;
        }
    } else if (!strcmp(p, "/mock/reset")) {
        if (post) return handle_reset(m, req);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Unknown path '%.100s'", p);
        mock_respond_error(req, 404, "invalid_request_error", "not_found", msg);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "Method %s not allowed on '%.100s'", req->method_str, p);
    mock_respond_error(req, 405, "invalid_request_error", "method_not_allowed", msg);
}

static void on_error(hsrv_req_t *req, int status, const char *code, const char *message, void *ud)
{
    mock_respond_error(req, status, "invalid_request_error", code, message);
}

/* ------------------------------------------------------------ lifecycle */

static void mock_free_parts(mock_t *m)
{
    for (size_t i = 0; i < m->cfg.n_models; i++)
        free(m->models[i]);
    free(m->models);
    mock_registry_free(m->reg);
    mock_cache_free(m->cache);
    mock_stats_free(m->stats);
    mock_script_free(m->script);
    pthread_mutex_destroy(&m->rng_mu);
    free(m);
}

mock_t *mock_start(const mock_config_t *cfg, char *err, size_t errlen)
{
    mock_t *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->cfg = *cfg;
    if (!m->cfg.address) m->cfg.address = "127.0.0.1";
    if (m->cfg.workers <= 0) m->cfg.workers = 1;
    if (m->cfg.embed_dims <= 0) m->cfg.embed_dims = 64;
    if (!m->cfg.max_sessions) m->cfg.max_sessions = 100000;
    m->models = calloc(cfg->n_models + 1, sizeof *m->models);
    if (!m->models) abort();
    for (size_t i = 0; i < cfg->n_models; i++) {
        m->models[i] = strdup(cfg->models[i]);
        if (!m->models[i]) abort();
    }
    m->cfg.models = (const char *const *)m->models;
    m->cfg.script_path = NULL; /* not kept: the caller owns the string */
    pthread_mutex_init(&m->rng_mu, NULL);
    m->rng = cfg->seed;
    m->reg = mock_registry_new();
    m->cache = mock_cache_new(m->cfg.max_sessions);
    m->stats = mock_stats_new();
    if (cfg->script_path) {
        m->script = mock_script_load(cfg->script_path, err, errlen);
        if (!m->script) {
            mock_free_parts(m);
            return NULL;
        }
    }
    hsrv_listen_t l = {.address = m->cfg.address, .port = cfg->port, .idle_timeout_ms = 60000};
    hsrv_config_t hc = {
        .listeners = &l,
        .n_listeners = 1,
        .workers = m->cfg.workers,
        .limits = {.max_header_bytes = 64 * 1024,
                   .max_body_bytes = 64 * 1024 * 1024,
                   .header_timeout_ms = 30000,
                   .body_timeout_ms = 60000,
                   .max_connections = 100000},
        .handler = handler,
        .on_error = on_error,
        .ud = m,
        .thread_name = "mock",
    };
    m->srv = hsrv_server_start(&hc, err, errlen);
    if (!m->srv) {
        mock_free_parts(m);
        return NULL;
    }
    return m;
}

int mock_port(const mock_t *m)
{
    return hsrv_server_port(m->srv, 0);
}

void mock_stop(mock_t *m, uint64_t grace_ms)
{
    if (!m) return;
    hsrv_server_stop(m->srv, grace_ms);
    hsrv_server_free(m->srv);
    mock_free_parts(m);
}
