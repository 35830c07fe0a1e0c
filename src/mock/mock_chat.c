/* mock_chat.c - the chat-shaped APIs of `tether mock`: OpenAI chat
 * completions (full parse, or the benchmark fast path with --reply-bytes),
 * Anthropic messages and count_tokens, the Responses API (through
 * mock_agent.c's conversion), and legacy text completions: the strict
 * continuity check, the deterministic reply, prefix-cache accounting and
 * delivery as one body or paced SSE chunks (mock_server.c's deferred
 * responses). */
#include "mock/mock_internal.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "mock/mock_agent.h"
#include "mock/mock_classify.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    mreq_t *r = mock_mreq_new(m, req, 200);
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
    mock_mreq_run(r, delay);
}

void mock_handle_api(mock_t *m, hsrv_req_t *req, mock_shape_t shape)
{
    const mock_config_t *cfg = &m->cfg;
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!root) {
        mock_respond_bad_json(m, req, cJSON_GetErrorPtr());
        return;
    }
    mock_chat_t chat;
    char err[160];
    cJSON *croot = root;
    if (shape != MOCK_SHAPE_CHAT) {
        croot = mock_agent_to_chat(root, shape, err, sizeof err);
        if (!croot) {
            mock_stats_request(m->stats, req->path, NULL);
            mock_respond_error(req, 400, "invalid_request_error", "invalid_request", err);
            cJSON_Delete(root);
            return;
        }
    }
    if (mock_chat_init(&chat, croot, err, sizeof err) < 0) {
        mock_stats_request(m->stats, req->path, NULL);
        mock_respond_error(req, 400, "invalid_request_error", "invalid_request", err);
        if (croot != root) cJSON_Delete(croot);
        cJSON_Delete(root);
        return;
    }
    mock_stats_request(m->stats, req->path, chat.model);
    faults_t f;
    if (!chat.model) {
        mock_respond_error(req, 400, "invalid_request_error", "missing_model",
                           "'model' is required and must be a string");
        goto out;
    }
    if (!mock_model_served(m, chat.model)) {
        mock_respond_unknown_model(req, chat.model);
        goto out;
    }
    if (mock_faults_apply(m, req, &f)) goto out;

    char detail[200];
    mock_violation_t v = mock_strict_check(m->reg, root, detail, sizeof detail);
    if (v != MOCK_V_NONE) {
        mock_stats_violation(m->stats, v, cfg->strict);
        if (cfg->strict) {
            tlog(TLOG_INFO, "mock_violation", "\"code\":\"%s\"", mock_violation_code(v));
            mock_respond_error(req, 400, "invalid_request_error", mock_violation_code(v), detail);
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
    mock_handle_api(m, req, MOCK_SHAPE_CHAT);
}

/* Anthropic count_tokens: the prompt tokens the mock would bill. */
void mock_handle_count_tokens(mock_t *m, hsrv_req_t *req)
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
        mock_respond_json(req, 200, &b);
        buf_free(&b);
        mock_chat_deinit(&chat);
    } else {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_request", err);
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
        mock_respond_bad_json(m, req, NULL);
        return;
    }
    if (!pk.model && pk.model_escaped) {
        handle_chat_full(m, req); /* an escaped model name: let the full parser decode it */
        return;
    }
    char *model = pk.model ? arena_strndup(&req->arena, pk.model, pk.model_len) : NULL;
    mock_stats_request(m->stats, req->path, model);
    if (!model) {
        mock_respond_error(req, 400, "invalid_request_error", "missing_model",
                           "'model' is required and must be a string");
        return;
    }
    if (!pk.messages || pk.messages[0] != '[') {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_request",
                           "'messages' must be an array");
        return;
    }
    if (!mock_model_served(m, model)) {
        mock_respond_unknown_model(req, model);
        return;
    }
    faults_t f;
    if (mock_faults_apply(m, req, &f)) return;
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

void mock_handle_chat(mock_t *m, hsrv_req_t *req)
{
    if (m->cfg.reply_bytes > 0 && !m->cfg.strict)
        handle_chat_fast(m, req);
    else
        handle_chat_full(m, req);
}

/* Legacy text completions: one deterministic text per prompt (not streamed). */
void mock_handle_completions(mock_t *m, hsrv_req_t *req)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    if (!model || !cJSON_IsString(pr)) {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_body",
                           "'model' and 'prompt' (a string) are required");
    } else if (!mock_model_served(m, model)) {
        mock_respond_unknown_model(req, model);
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
        mreq_t *q = mock_mreq_new(m, req, 200);
        q->body = b;
        mock_mreq_run(q, m->cfg.latency_ms);
    }
    cJSON_Delete(root);
}
