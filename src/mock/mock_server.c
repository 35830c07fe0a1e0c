/* mock_server.c - HTTP side of `tether mock`: routes requests to handlers
 * (chat completions, embeddings, legacy completions, models, health, stats, reset), applies the
 * fault injection (fail rate, reset rate, latency, TTFT, script), and paces
 * streamed replies with libevent timers on the worker's event base.
 *
 * Per request: parse (cJSON; the mock is not the hot path) -> model check ->
 * script step / fault rolls -> strict continuity check (mock_strict.c) ->
 * reply (mock_reply.c) whose ids are registered -> prefix-cache accounting
 * (mock_session.c) -> counters (mock_stats.c) -> respond now, or later from
 * a timer when a delay applies. */
#include "json/num.h"
#include "mock/mock.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "http/server.h"
#include "mock/mock_agent.h"
#include "mock/mock_classify.h"
#include "mock/mock_reply.h"
#include "mock/mock_script.h"
#include "mock/mock_session.h"
#include "mock/mock_stats.h"
#include "mock/mock_strict.h"
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First element of an array/object (NULL for anything else or NULL). */
static const cJSON *cj_child(const cJSON *x)
{
    return x ? x->child : NULL;
}

struct mock {
    mock_config_t cfg;
    char **models; /* owned copies */
    hsrv_server_t *srv;
    mock_registry_t *reg;
    mock_cache_t *cache;
    mock_stats_t *stats;
    mock_script_t *script;
    pthread_mutex_t rng_mu;
    uint64_t rng;
};

static const hsrv_header_t JSON_HDR[] = {{"Content-Type", 12, "application/json", 16}};
static const hsrv_header_t SSE_HDR[] = {{"Content-Type", 12, "text/event-stream", 17},
                                        {"Cache-Control", 13, "no-cache", 8}};

/* ------------------------------------------------------------ helpers */

static double rng_next(mock_t *m)
{
    pthread_mutex_lock(&m->rng_mu);
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&m->rng_mu);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0; /* [0,1) */
}

static void respond_json(hsrv_req_t *req, int status, const buf_t *b)
{
    hsrv_respond(req, status, JSON_HDR, 1, b->data ? b->data : "", b->len);
}

static void respond_error(hsrv_req_t *req, int status, const char *type, const char *code,
                          const char *message)
{
    buf_t b = BUF_INIT;
    mock_render_error(&b, type, code, message);
    respond_json(req, status, &b);
    buf_free(&b);
}

static bool model_served(const mock_t *m, const char *model)
{
    if (m->cfg.n_models == 0) return true;
    for (size_t i = 0; i < m->cfg.n_models; i++)
        if (!strcmp(m->models[i], model)) return true;
    return false;
}

/* ------------------------------------------------------------ deferred responses */

typedef enum { PH_BEGIN, PH_CHUNKS, PH_RESET } phase_t;

typedef struct mreq {
    mock_t *m;
    hsrv_req_t *req;
    struct event *ev;
    phase_t phase;
    int status;
    bool streaming;
    buf_t body;    /* non-streaming body */
    buf_t *chunks; /* streaming chunks */
    size_t n_chunks, next;
    long long reset_after; /* bytes of body/stream to send before a reset; < 0: none */
    long long sent;        /* body/stream bytes sent so far */
    uint64_t ttft_ms, chunk_delay_ms;
    int reset_polls;
} mreq_t;

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

/* Take ownership of r and run it, after `delay_ms` when non-zero. */
static void mreq_run(mreq_t *r, uint64_t delay_ms)
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

static mreq_t *mreq_new(mock_t *m, hsrv_req_t *req, int status)
{
    mreq_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->m = m;
    r->req = req;
    r->status = status;
    r->reset_after = -1;
    return r;
}

/* ------------------------------------------------------------ chat completions */

/* Fault decision of one API request: the script step first, else the seeded
 * rolls (both always drawn, so a seed gives the same sequence). */
typedef struct faults {
    const mock_step_t *step;
    double reset_roll;
    uint64_t delay_ms;
} faults_t;

/* Returns true when a fault answered the request. */
static bool faults_apply(mock_t *m, hsrv_req_t *req, faults_t *f)
{
    const mock_config_t *cfg = &m->cfg;
    f->step = m->script ? mock_script_next(m->script) : NULL;
    double fail_roll = rng_next(m);
    f->reset_roll = rng_next(m);
    f->delay_ms = cfg->latency_ms + (f->step ? f->step->delay_ms : 0);
    const mock_step_t *step = f->step;
    if (step && (step->status || step->body)) {
        mreq_t *r = mreq_new(m, req, step->status ? step->status : 200);
        if (step->body)
            buf_puts(&r->body, step->body);
        else
            mock_render_error(&r->body, r->status >= 500 ? "server_error" : "invalid_request_error",
                              "mock_scripted_error", "scripted failure");
        if (r->status >= 500) mock_stats_failure(m->stats);
        r->reset_after = step->reset_after_bytes;
        if (r->reset_after >= 0) mock_stats_reset(m->stats);
        mreq_run(r, f->delay_ms);
        return true;
    }
    if (!step && cfg->fail_rate > 0 && fail_roll < cfg->fail_rate) {
        mock_stats_failure(m->stats);
        mreq_t *r = mreq_new(m, req, 503);
        mock_render_error(&r->body, "server_error", "service_unavailable",
                          "The server is overloaded (injected by tether mock)");
        mreq_run(r, f->delay_ms);
        return true;
    }
    return false;
}

/* Render the reply (body or SSE chunks) and send it, with the delays and the
 * reset decided by the faults. */
static void chat_deliver_shape(mock_t *m, hsrv_req_t *req, const faults_t *f,
                               const mock_reply_t *reply, const char *model, bool stream,
                               bool include_usage, uint64_t cached, mock_shape_t shape,
                               const char *resp_id, const char *prev);

static void chat_deliver(mock_t *m, hsrv_req_t *req, const faults_t *f, const mock_reply_t *reply,
                         const char *model, bool stream, bool include_usage, uint64_t cached)
{
    chat_deliver_shape(m, req, f, reply, model, stream, include_usage, cached, MOCK_SHAPE_CHAT,
                       NULL, NULL);
}

static void chat_deliver_shape(mock_t *m, hsrv_req_t *req, const faults_t *f,
                               const mock_reply_t *reply, const char *model, bool stream,
                               bool include_usage, uint64_t cached, mock_shape_t shape,
                               const char *resp_id, const char *prev)
{
    const mock_config_t *cfg = &m->cfg;
    uint64_t created = clock_wall_ms() / 1000, delay = f->delay_ms;
    mreq_t *r = mreq_new(m, req, 200);
    r->streaming = stream;
    r->chunk_delay_ms = cfg->chunk_delay_ms;
    if (stream) {
        if (shape == MOCK_SHAPE_ANTHROPIC)
            r->n_chunks = mock_render_anthropic_sse(reply, model, cached, &r->chunks);
        else if (shape == MOCK_SHAPE_RESPONSES)
            r->n_chunks =
                mock_render_responses_sse(reply, model, created, cached, resp_id, prev, &r->chunks);
        else
            r->n_chunks =
                mock_render_chat_sse(reply, model, created, cached, include_usage, &r->chunks);
        r->ttft_ms = cfg->ttft_ms;
    } else {
        if (shape == MOCK_SHAPE_ANTHROPIC)
            mock_render_anthropic_json(reply, model, cached, &r->body);
        else if (shape == MOCK_SHAPE_RESPONSES)
            mock_render_responses_json(reply, model, created, cached, resp_id, prev, &r->body);
        else
            mock_render_chat_json(reply, model, created, cached, &r->body);
        delay += cfg->ttft_ms;
    }
    if (f->step && f->step->reset_after_bytes >= 0) {
        r->reset_after = f->step->reset_after_bytes;
        mock_stats_reset(m->stats);
    } else if (!f->step && cfg->reset_rate > 0 && f->reset_roll < cfg->reset_rate) {
        /* streams: after the first chunk; bodies: half of it */
        r->reset_after = stream ? (long long)r->chunks[0].len : (long long)r->body.len / 2;
        mock_stats_reset(m->stats);
    }
    mreq_run(r, delay);
}

static void respond_bad_json(mock_t *m, hsrv_req_t *req, const char *at)
{
    mock_stats_request(m->stats, req->path, NULL);
    char msg[128];
    long off =
        at && at >= req->body && at <= req->body + req->body_len ? (long)(at - req->body) : 0;
    snprintf(msg, sizeof msg, "request body is not valid JSON (near byte %ld)", off);
    respond_error(req, 400, "invalid_request_error", "invalid_json", msg);
}

static void respond_unknown_model(hsrv_req_t *req, const char *model)
{
    char msg[256];
    snprintf(msg, sizeof msg, "The model '%.120s' does not exist", model);
    respond_error(req, 404, "invalid_request_error", "model_not_found", msg);
}

static void handle_api(mock_t *m, hsrv_req_t *req, mock_shape_t shape)
{
    const mock_config_t *cfg = &m->cfg;
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!root) {
        respond_bad_json(m, req, cJSON_GetErrorPtr());
        return;
    }
    mock_chat_t chat;
    char err[160];
    cJSON *croot = root;
    if (shape != MOCK_SHAPE_CHAT) {
        croot = mock_agent_to_chat(root, shape, err, sizeof err);
        if (!croot) {
            mock_stats_request(m->stats, req->path, NULL);
            respond_error(req, 400, "invalid_request_error", "invalid_request", err);
            cJSON_Delete(root);
            return;
        }
    }
    if (mock_chat_init(&chat, croot, err, sizeof err) < 0) {
        mock_stats_request(m->stats, req->path, NULL);
        respond_error(req, 400, "invalid_request_error", "invalid_request", err);
        if (croot != root) cJSON_Delete(croot);
        cJSON_Delete(root);
        return;
    }
    mock_stats_request(m->stats, req->path, chat.model);
    faults_t f;
    if (!chat.model) {
        respond_error(req, 400, "invalid_request_error", "missing_model",
                      "'model' is required and must be a string");
        goto out;
    }
    if (!model_served(m, chat.model)) {
        respond_unknown_model(req, chat.model);
        goto out;
    }
    if (faults_apply(m, req, &f)) goto out;

    char detail[200];
    mock_violation_t v = mock_strict_check(m->reg, root, detail, sizeof detail);
    if (v != MOCK_V_NONE) {
        mock_stats_violation(m->stats, v, cfg->strict);
        if (cfg->strict) {
            tlog(TLOG_INFO, "mock_violation", "\"code\":\"%s\"", mock_violation_code(v));
            respond_error(req, 400, "invalid_request_error", mock_violation_code(v), detail);
            goto out;
        }
    }

    mock_reply_t reply;
    mock_reply_build(&reply, &chat, cfg->seed, cfg->reply_bytes);
    if (cfg->guard_model && !strcmp(chat.model, cfg->guard_model) && !reply.is_tool_call) {
        free(reply.content); /* a guard verdict on the last message */
        reply.content = mock_classify_guard(cfg->classify, chat.last_text);
        reply.content_len = strlen(reply.content);
    }
    mock_registry_add(m->reg, MOCK_ID_RESPONSE, reply.id);
    char resp_id[40];
    snprintf(resp_id, sizeof resp_id, "resp_%016llx", (unsigned long long)reply.hash);
    if (shape == MOCK_SHAPE_RESPONSES) mock_registry_add(m->reg, MOCK_ID_RESPONSE, resp_id);
    const cJSON *jprev = cJSON_GetObjectItemCaseSensitive(root, "previous_response_id");
    if (reply.is_tool_call) mock_registry_add(m->reg, MOCK_ID_TOOL_CALL, reply.call_id);
    if (reply.has_reasoning) {
        mock_registry_add(m->reg, MOCK_ID_REASONING, reply.reasoning_enc);
        mock_registry_add(m->reg, MOCK_ID_SIGNATURE, reply.reasoning_sig);
    }
    const hsrv_header_t *sh = hsrv_req_header(req, "x-session-id");
    const char *skey = sh ? sh->value : chat.first_user;
    size_t skey_len = sh ? sh->value_len : strlen(chat.first_user);
    uint64_t cached =
        mock_cache_update(m->cache, chat.model, skey, skey_len, chat.canon.data, chat.canon.len);
    if (cached > reply.prompt_tokens) cached = reply.prompt_tokens;
    mock_stats_tokens(m->stats, reply.prompt_tokens, reply.completion_tokens, cached);
    bool stream = chat.stream || (f.step && f.step->force_stream);
    chat_deliver_shape(m, req, &f, &reply, chat.model, stream, chat.include_usage, cached, shape,
                       resp_id, cJSON_IsString(jprev) ? jprev->valuestring : NULL);
    mock_reply_deinit(&reply);
out:
    mock_chat_deinit(&chat);
    if (croot != root) cJSON_Delete(croot);
    cJSON_Delete(root);
}

static void handle_chat_full(mock_t *m, hsrv_req_t *req)
{
    handle_api(m, req, MOCK_SHAPE_CHAT);
}

/* Anthropic count_tokens: the prompt tokens the mock would bill. */
static void handle_count_tokens(mock_t *m, hsrv_req_t *req)
{
    mock_stats_request(m->stats, req->path, NULL);
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    char err[160] = "invalid request";
    if (cJSON_IsObject(root) && !cJSON_GetObjectItemCaseSensitive(root, "max_tokens"))
        cJSON_AddNumberToObject(root, "max_tokens", 1);
    cJSON *croot = root ? mock_agent_to_chat(root, MOCK_SHAPE_ANTHROPIC, err, sizeof err) : NULL;
    mock_chat_t chat;
    if (croot && mock_chat_init(&chat, croot, err, sizeof err) == 0) {
        buf_t b = BUF_INIT;
        buf_printf(&b, "{\"input_tokens\":%llu}", (unsigned long long)mock_tokens(chat.canon.len));
        respond_json(req, 200, &b);
        buf_free(&b);
        mock_chat_deinit(&chat);
    } else {
        respond_error(req, 400, "invalid_request_error", "invalid_request", err);
    }
    cJSON_Delete(croot);
    cJSON_Delete(root);
}

/* Benchmark mode (--reply-bytes without --strict): no tree, no strict check,
 * no tool calls; prompt tokens and the prefix cache work on the raw bytes of
 * the messages value, and the cache only applies with an x-session-id. */
static void handle_chat_fast(mock_t *m, hsrv_req_t *req)
{
    const mock_config_t *cfg = &m->cfg;
    mock_peek_t pk;
    if (mock_peek(req->body, req->body_len, &pk) < 0) {
        respond_bad_json(m, req, NULL);
        return;
    }
    if (!pk.model && pk.model_escaped) {
        handle_chat_full(m, req); /* an escaped model name: let the full parser decode it */
        return;
    }
    char *model = pk.model ? arena_strndup(&req->arena, pk.model, pk.model_len) : NULL;
    mock_stats_request(m->stats, req->path, model);
    if (!model) {
        respond_error(req, 400, "invalid_request_error", "missing_model",
                      "'model' is required and must be a string");
        return;
    }
    if (!pk.messages || pk.messages[0] != '[') {
        respond_error(req, 400, "invalid_request_error", "invalid_request",
                      "'messages' must be an array");
        return;
    }
    if (!model_served(m, model)) {
        respond_unknown_model(req, model);
        return;
    }
    faults_t f;
    if (faults_apply(m, req, &f)) return;
    mock_reply_t reply;
    mock_reply_fixed(&reply, hash_xxh64(pk.messages, pk.messages_len, cfg->seed),
                     mock_tokens(pk.messages_len), cfg->reply_bytes);
    uint64_t cached = 0;
    const hsrv_header_t *sh = hsrv_req_header(req, "x-session-id");
    if (sh)
        cached = mock_cache_update(m->cache, model, sh->value, sh->value_len, pk.messages,
                                   pk.messages_len);
    mock_stats_tokens(m->stats, reply.prompt_tokens, reply.completion_tokens, cached);
    chat_deliver(m, req, &f, &reply, model, pk.stream, pk.include_usage, cached);
    mock_reply_deinit(&reply);
}

static void handle_chat(mock_t *m, hsrv_req_t *req)
{
    if (m->cfg.reply_bytes > 0 && !m->cfg.strict)
        handle_chat_fast(m, req);
    else
        handle_chat_full(m, req);
}

/* ------------------------------------------------------------ classify */

typedef enum { CLS_CLASSIFY, CLS_POOLING, CLS_SCORE } cls_api_t;

static void handle_classify(mock_t *m, hsrv_req_t *req, cls_api_t api)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    faults_t f;
    if (!cJSON_IsObject(root)) {
        respond_error(req, 400, "invalid_request_error", "invalid_json",
                      "request body must be a JSON object");
    } else if (model && !model_served(m, model)) {
        respond_unknown_model(req, model);
    } else if (!faults_apply(m, req, &f)) {
        buf_t b = BUF_INIT;
        char err[160];
        int rc = api == CLS_SCORE     ? mock_classify_score(m->cfg.classify, model, req->body,
                                                            req->body_len, &b, err, sizeof err)
                 : api == CLS_POOLING ? mock_classify_pooling(m->cfg.classify, model, req->body,
                                                              req->body_len, &b, err, sizeof err)
                                      : mock_classify_render(m->cfg.classify, model, req->body,
                                                             req->body_len, &b, err, sizeof err);
        if (rc != 0) {
            respond_error(req, 400, "invalid_request_error", "invalid_input", err);
            buf_free(&b);
        } else {
            mreq_t *r = mreq_new(m, req, 200);
            r->body = b;
            mreq_run(r, f.delay_ms);
        }
    }
    cJSON_Delete(root);
}

/* /pooling asked for a classification ("task": "classify") while a keyword
 * table is set: the classifier answers, else the embedder. */
static bool pooling_classifies(const mock_t *m, const hsrv_req_t *req)
{
    if (!m->cfg.classify) return false;
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "task");
    bool yes = cJSON_IsString(t) && !strcmp(t->valuestring, "classify");
    cJSON_Delete(root);
    return yes;
}

/* ------------------------------------------------------------ embeddings */

/* Extra delay of an embeddings input from the --embed-delay table
 * ("kw=ms,..."): the largest ms whose kw the text holds. */
static uint64_t embed_delay_of(const char *table, const char *text)
{
    uint64_t best = 0;
    for (const char *p = table; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq && eq > p && text) {
            char kw[128];
            size_t kl = (size_t)(eq - p) < sizeof kw - 1 ? (size_t)(eq - p) : sizeof kw - 1;
            memcpy(kw, p, kl);
            kw[kl] = 0;
            uint64_t ms = strtoull(eq + 1, NULL, 10);
            if (strstr(text, kw) && ms > best) best = ms;
        }
        p = comma ? comma + 1 : p + n;
    }
    return best;
}

/* pooling: vLLM's /pooling shape ({"object":"pooling","data":[..]} per
 * input) around the same deterministic vectors. */
static void handle_embeddings(mock_t *m, hsrv_req_t *req, bool pooling)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(root)) {
        mock_stats_request(m->stats, req->path, NULL);
        respond_error(req, 400, "invalid_request_error", "invalid_json",
                      "request body must be a JSON object");
        cJSON_Delete(root);
        return;
    }
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    int dims =
        cJSON_IsNumber(jd) ? json_num_int(jd->valuedouble, m->cfg.embed_dims) : m->cfg.embed_dims;
    if (!model) {
        respond_error(req, 400, "invalid_request_error", "missing_model",
                      "'model' is required and must be a string");
    } else if (!model_served(m, model)) {
        respond_unknown_model(req, model);
    } else if (dims < 1 || dims > 8192) {
        respond_error(req, 400, "invalid_request_error", "invalid_dimensions",
                      "'dimensions' must be between 1 and 8192");
    } else if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
        respond_error(req, 400, "invalid_request_error", "invalid_input",
                      "'input' must be a string or an array of strings");
    } else {
        buf_t b = BUF_INIT;
        float *vec = malloc(sizeof(float) * (size_t)dims);
        if (!vec) abort();
        uint64_t tokens = 0, extra = 0;
        buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        int idx = 0;
        const cJSON *item = cJSON_IsString(input) ? input : input->child;
        for (; item; item = cJSON_IsString(input) ? NULL : item->next, idx++) {
            buf_t text = BUF_INIT;
            if (cJSON_IsString(item)) {
                buf_puts(&text, item->valuestring);
            } else if (cJSON_IsArray(item)) { /* token ids: embed their decimal text */
                const cJSON *t;
                for (t = cj_child(item); t; t = t->next)
                    buf_printf(&text, "%d ", json_num_int(t->valuedouble, 0));
            }
            tokens += mock_tokens(text.len);
            uint64_t dl = embed_delay_of(m->cfg.embed_delay, text.data);
            if (dl > extra) extra = dl;
            mock_embed(text.data ? text.data : "", text.len, m->cfg.seed, vec, dims);
            buf_free(&text);
            buf_printf(&b, "%s{\"object\":\"%s\",\"index\":%d,\"%s\":[", idx ? "," : "",
                       pooling ? "pooling" : "embedding", idx, pooling ? "data" : "embedding");
            for (int i = 0; i < dims; i++)
                buf_printf(&b, "%s%.6g", i ? "," : "", vec[i]);
            buf_puts(&b, "]}");
        }
        buf_puts(&b, "],\"model\":");
        buf_json_str(&b, model, strlen(model));
        buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}",
                   (unsigned long long)tokens, (unsigned long long)tokens);
        mock_stats_tokens(m->stats, tokens, 0, 0);
        free(vec);
        uint64_t delay = m->cfg.latency_ms + extra;
        mreq_t *r = mreq_new(m, req, 200);
        r->body = b;
        mreq_run(r, delay);
    }
    cJSON_Delete(root);
}

/* Legacy text completions: one deterministic text per prompt (not streamed). */
static void handle_completions(mock_t *m, hsrv_req_t *req)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    if (!model || !cJSON_IsString(pr)) {
        respond_error(req, 400, "invalid_request_error", "invalid_body",
                      "'model' and 'prompt' (a string) are required");
    } else if (!model_served(m, model)) {
        respond_unknown_model(req, model);
    } else {
        size_t pl = strlen(pr->valuestring);
        mock_reply_t r;
        mock_reply_fixed(&r, hash_xxh64(pr->valuestring, pl, m->cfg.seed), mock_tokens(pl),
                         m->cfg.reply_bytes ? m->cfg.reply_bytes : 24);
        buf_t b = BUF_INIT;
        buf_printf(&b,
                   "{\"id\":\"cmpl-%s\",\"object\":\"text_completion\",\"created\":1700000000,"
                   "\"model\":",
                   r.id + 9);
        buf_json_str(&b, model, strlen(model));
        buf_puts(&b, ",\"choices\":[{\"index\":0,\"text\":");
        buf_json_str(&b, r.content ? r.content : "", r.content_len);
        buf_printf(
            &b,
            ",\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%llu,"
            "\"completion_tokens\":%llu,\"total_tokens\":%llu}}",
            (unsigned long long)r.prompt_tokens, (unsigned long long)r.completion_tokens,
            (unsigned long long)(r.prompt_tokens + r.completion_tokens));
        mock_stats_tokens(m->stats, r.prompt_tokens, r.completion_tokens, 0);
        mock_reply_deinit(&r);
        mreq_t *q = mreq_new(m, req, 200);
        q->body = b;
        mreq_run(q, m->cfg.latency_ms);
    }
    cJSON_Delete(root);
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
    respond_json(req, 200, &b);
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
    respond_json(req, 200, &b);
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
        if (post) return handle_chat(m, req);
    } else if (!strcmp(p, "/v1/messages/count_tokens") || !strcmp(p, "/messages/count_tokens")) {
        if (post) return handle_count_tokens(m, req);
    } else if (!strcmp(p, "/v1/messages") || !strcmp(p, "/messages")) {
        if (post) return handle_api(m, req, MOCK_SHAPE_ANTHROPIC);
    } else if (!strcmp(p, "/v1/responses") || !strcmp(p, "/responses")) {
        if (post) return handle_api(m, req, MOCK_SHAPE_RESPONSES);
    } else if (!strcmp(p, "/classify") || !strcmp(p, "/v1/classify")) {
        if (post) return handle_classify(m, req, CLS_CLASSIFY);
    } else if (!strcmp(p, "/score") || !strcmp(p, "/v1/score")) {
        if (post) return handle_classify(m, req, CLS_SCORE);
    } else if (!strcmp(p, "/v1/embeddings") || !strcmp(p, "/embeddings")) {
        if (post) return handle_embeddings(m, req, false);
    } else if (!strcmp(p, "/pooling") || !strcmp(p, "/v1/pooling")) {
        if (post && pooling_classifies(m, req)) return handle_classify(m, req, CLS_POOLING);
        if (post) return handle_embeddings(m, req, true);
    } else if (!strcmp(p, "/v1/completions") || !strcmp(p, "/completions")) {
        if (post) return handle_completions(m, req);
    } else if (!strcmp(p, "/v1/models") || !strcmp(p, "/models")) {
        if (get) return handle_models(m, req);
    } else if (!strcmp(p, "/health")) {
        if (get) {
            buf_t b = BUF_INIT;
            buf_puts(&b, "{\"status\":\"ok\"}");
            respond_json(req, 200, &b);
            buf_free(&b);
            return;
        }
    } else if (!strcmp(p, "/mock/stats")) {
        if (get) {
            buf_t b = BUF_INIT;
            mock_stats_json(m->stats, &b);
            respond_json(req, 200, &b);
            buf_free(&b);
            return;
        }
    } else if (!strcmp(p, "/mock/reset")) {
        if (post) return handle_reset(m, req);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Unknown path '%.100s'", p);
        respond_error(req, 404, "invalid_request_error", "not_found", msg);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "Method %s not allowed on '%.100s'", req->method_str, p);
    respond_error(req, 405, "invalid_request_error", "method_not_allowed", msg);
}

static void on_error(hsrv_req_t *req, int status, const char *code, const char *message, void *ud)
{
    respond_error(req, status, "invalid_request_error", code, message);
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
