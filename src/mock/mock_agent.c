/* mock_agent.c - Anthropic Messages and Responses shapes for `tether mock`:
 * request reading into a chat tree, reply rendering (JSON and SSE). */
#include "mock/mock_agent.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sget(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void text_of(const cJSON *c, buf_t *b)
{
    if (cJSON_IsString(c)) {
        buf_puts(b, c->valuestring);
        return;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, c)
    {
        const char *t = sget(x, "text");
        if (t) buf_puts(b, t);
    }
}

static cJSON *msg(const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content ? content : "");
    return m;
}

static void add_call(cJSON *asst, const char *id, const char *name, const char *args)
{
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(asst, "tool_calls");
    if (!calls) calls = cJSON_AddArrayToObject(asst, "tool_calls");
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddStringToObject(tc, "id", id ? id : "");
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    cJSON_AddStringToObject(fn, "name", name ? name : "");
    cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
    cJSON_AddItemToArray(calls, tc);
}

/* The request's tools (Anthropic and Responses both name them at the top
 * level) as chat function tools, names only: the mock never calls them. */
static void tools_to_chat(const cJSON *root, cJSON *out)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools)) {
        cJSON *ot = cJSON_AddArrayToObject(out, "tools");
        const cJSON *x;
        cJSON_ArrayForEach(x, tools)
        {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(f, "function");
            cJSON_AddStringToObject(fn, "name", sget(x, "name") ? sget(x, "name") : "tool");
            cJSON_AddItemToArray(ot, f);
        }
    }
}

static cJSON *anthropic_to_chat(const cJSON *root, cJSON *out, char *err, size_t errlen)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs)) {
        snprintf(err, errlen, "messages: field required");
        return NULL;
    }
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_tokens"))) {
        snprintf(err, errlen, "max_tokens: field required");
        return NULL;
    }
    cJSON *om = cJSON_AddArrayToObject(out, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "system");
    if (sys) {
        buf_t b = BUF_INIT;
        text_of(sys, &b);
        cJSON_AddItemToArray(om, msg("system", b.data));
        buf_free(&b);
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = sget(m, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
            snprintf(err, errlen, "messages: role must be user or assistant");
            return NULL;
        }
        if (cJSON_IsString(c)) {
            cJSON_AddItemToArray(om, msg(role, c->valuestring));
            continue;
        }
        buf_t t = BUF_INIT;
        cJSON *asst = !strcmp(role, "assistant") ? msg("assistant", "") : NULL;
        const cJSON *b;
        cJSON_ArrayForEach(b, c)
        {
            const char *ty = sget(b, "type");
            if (!ty) continue;
            if (!strcmp(ty, "text") && sget(b, "text")) {
                buf_puts(&t, sget(b, "text"));
            } else if (!strcmp(ty, "tool_use") && asst) {
                char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, "input"));
                add_call(asst, sget(b, "id"), sget(b, "name"), args);
                free(args);
            } else if (!strcmp(ty, "tool_result")) {
                cJSON *x = msg("tool", NULL);
                buf_t rt = BUF_INIT;
                text_of(cJSON_GetObjectItemCaseSensitive(b, "content"), &rt);
                cJSON_ReplaceItemInObject(x, "content", cJSON_CreateString(rt.data ? rt.data : ""));
                buf_free(&rt);
                cJSON_AddStringToObject(x, "tool_call_id",
                                        sget(b, "tool_use_id") ? sget(b, "tool_use_id") : "");
                cJSON_AddItemToArray(om, x);
            } else if (!strcmp(ty, "image")) {
                buf_puts(&t, "[image]");
            }
        }
        if (asst) {
            cJSON_ReplaceItemInObject(asst, "content", cJSON_CreateString(t.data ? t.data : ""));
            cJSON_AddItemToArray(om, asst);
        } else if (t.len) {
            cJSON_AddItemToArray(om, msg("user", t.data));
        }
        buf_free(&t);
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "thinking");
    if (sget(th, "type") && !strcmp(sget(th, "type"), "enabled"))
        cJSON_AddStringToObject(out, "reasoning_effort", "medium");
    tools_to_chat(root, out);
    return out;
}

static cJSON *responses_to_chat(const cJSON *root, cJSON *out, char *err, size_t errlen)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    cJSON *om = cJSON_AddArrayToObject(out, "messages");
    if (sget(root, "instructions"))
        cJSON_AddItemToArray(om, msg("system", sget(root, "instructions")));
    if (cJSON_IsString(input)) {
        cJSON_AddItemToArray(om, msg("user", input->valuestring));
    } else if (cJSON_IsArray(input)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, input)
        {
            const char *ty = sget(it, "type");
            if (!ty || !strcmp(ty, "message")) {
                buf_t t = BUF_INIT;
                text_of(cJSON_GetObjectItemCaseSensitive(it, "content"), &t);
                const char *role = sget(it, "role") ? sget(it, "role") : "user";
                cJSON_AddItemToArray(om, msg(!strcmp(role, "developer") ? "system" : role, t.data));
                buf_free(&t);
            } else if (!strcmp(ty, "function_call")) {
                cJSON *last = cJSON_GetArrayItem(om, cJSON_GetArraySize(om) - 1);
                if (!last || strcmp(sget(last, "role") ? sget(last, "role") : "", "assistant")) {
                    last = msg("assistant", "");
                    cJSON_AddItemToArray(om, last);
                }
                add_call(last, sget(it, "call_id"), sget(it, "name"), sget(it, "arguments"));
            } else if (!strcmp(ty, "function_call_output")) {
                cJSON *x = msg("tool", sget(it, "output"));
                cJSON_AddStringToObject(x, "tool_call_id",
                                        sget(it, "call_id") ? sget(it, "call_id") : "");
                cJSON_AddItemToArray(om, x);
            }
        }
    } else if (!cJSON_GetObjectItemCaseSensitive(root, "previous_response_id")) {
        snprintf(err, errlen, "input: field required");
        return NULL;
    }
    if (!cJSON_GetArraySize(om)) cJSON_AddItemToArray(om, msg("user", ""));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
    if (cJSON_IsObject(rs)) cJSON_AddStringToObject(out, "reasoning_effort", "medium");
    tools_to_chat(root, out);
    return out;
}

cJSON *mock_agent_to_chat(const cJSON *root, mock_shape_t shape, char *err, size_t errlen)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model) cJSON_AddItemToObject(out, "model", cJSON_Duplicate(model, 1));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")))
        cJSON_AddTrueToObject(out, "stream");
    cJSON *ok = shape == MOCK_SHAPE_ANTHROPIC ? anthropic_to_chat(root, out, err, errlen)
                                              : responses_to_chat(root, out, err, errlen);
    if (!ok) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------ Anthropic */

static void a_usage(buf_t *b, const mock_reply_t *r, uint64_t cached, bool with_output)
{
    uint64_t in = r->prompt_tokens > cached ? r->prompt_tokens - cached : 0;
    buf_printf(b,
               "{\"input_tokens\":%llu,\"cache_creation_input_tokens\":0,"
               "\"cache_read_input_tokens\":%llu,\"output_tokens\":%llu}",
               (unsigned long long)in, (unsigned long long)cached,
               (unsigned long long)(with_output ? r->completion_tokens : 1));
}

static void a_msg_id(const mock_reply_t *r, char *out, size_t n)
{
    snprintf(out, n, "msg_%016llx", (unsigned long long)r->hash);
}

void mock_render_anthropic_json(const mock_reply_t *r, const char *model, uint64_t cached,
                                buf_t *out)
{
    char id[40];
    a_msg_id(r, id, sizeof id);
    buf_printf(out, "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":", id);
    buf_json_str(out, model, strlen(model));
    buf_puts(out, ",\"content\":[");
    bool first = true;
    if (r->has_reasoning) {
        buf_puts(out, "{\"type\":\"thinking\",\"thinking\":");
        buf_json_str(out, r->reasoning_text, strlen(r->reasoning_text));
        buf_printf(out, ",\"signature\":\"%s\"}", r->reasoning_sig);
        first = false;
    }
    if (r->is_tool_call) {
        buf_printf(out, "%s{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":", first ? "" : ",",
                   r->call_id);
        buf_json_str(out, r->tool_name, strlen(r->tool_name));
        buf_printf(out, ",\"input\":%s}", r->tool_args);
    } else {
        buf_printf(out, "%s{\"type\":\"text\",\"text\":", first ? "" : ",");
        buf_json_str(out, r->content, r->content_len);
        buf_putc(out, '}');
    }
    buf_printf(out, "],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":",
               r->is_tool_call ? "tool_use" : "end_turn");
    a_usage(out, r, cached, true);
    buf_putc(out, '}');
}

static buf_t *ev(buf_t *c, size_t *n, const char *event)
{
    buf_t *b = &c[(*n)++];
    buf_printf(b, "event: %s\ndata: ", event);
    return b;
}

static void ev_end(buf_t *b)
{
    buf_puts(b, "\n\n");
}

/* The end of the text delta starting at pos: about a 48th of the content
 * (16 bytes at least), never inside a UTF-8 sequence. */
static size_t delta_end(const mock_reply_t *r, size_t pos)
{
    size_t len = r->content_len, piece = len / 48 + 1;
    if (piece < 16) piece = 16;
    size_t end = pos + piece >= len ? len : pos + piece;
    while (end < len && ((unsigned char)r->content[end] & 0xC0) == 0x80)
        end++;
    return end;
}

size_t mock_render_anthropic_sse(const mock_reply_t *r, const char *model, uint64_t cached,
                                 buf_t **chunks)
{
    size_t cap = 96, n = 0;
    buf_t *c = calloc(cap, sizeof *c);
    if (!c) abort();
    char id[40];
    a_msg_id(r, id, sizeof id);
    buf_t *b = ev(c, &n, "message_start");
    buf_printf(b,
               "{\"type\":\"message_start\",\"message\":{\"id\":\"%s\",\"type\":\"message\","
               "\"role\":\"assistant\",\"model\":",
               id);
    buf_json_str(b, model, strlen(model));
    buf_puts(b, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    a_usage(b, r, cached, false);
    buf_puts(b, "}}");
    ev_end(b);
    b = ev(c, &n, "ping");
    buf_puts(b, "{\"type\":\"ping\"}");
    ev_end(b);
    int idx = 0;
    if (r->has_reasoning) {
        b = ev(c, &n, "content_block_start");
        buf_printf(b,
                   "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                   "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}",
                   idx);
        ev_end(b);
        b = ev(c, &n, "content_block_delta");
        buf_printf(b,
                   "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"thinking_"
                   "delta\",\"thinking\":",
                   idx);
        buf_json_str(b, r->reasoning_text, strlen(r->reasoning_text));
        buf_puts(b, "}}");
        ev_end(b);
        b = ev(c, &n, "content_block_delta");
        buf_printf(b,
                   "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"signature_"
                   "delta\",\"signature\":\"%s\"}}",
                   idx, r->reasoning_sig);
        ev_end(b);
        b = ev(c, &n, "content_block_stop");
        buf_printf(b, "{\"type\":\"content_block_stop\",\"index\":%d}", idx);
        ev_end(b);
        idx++;
    }
    if (r->is_tool_call) {
        b = ev(c, &n, "content_block_start");
        buf_printf(b,
                   "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                   "{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":",
                   idx, r->call_id);
        buf_json_str(b, r->tool_name, strlen(r->tool_name));
        buf_puts(b, ",\"input\":{}}}");
        ev_end(b);
        size_t alen = strlen(r->tool_args), half = alen / 2;
        size_t cuts[3] = {0, half, alen};
        for (int i = 0; i < 2; i++) {
            if (cuts[i + 1] == cuts[i]) continue;
            b = ev(c, &n, "content_block_delta");
            buf_printf(b,
                       "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"input_"
                       "json_delta\",\"partial_json\":",
                       idx);
            buf_json_str(b, r->tool_args + cuts[i], cuts[i + 1] - cuts[i]);
            buf_puts(b, "}}");
            ev_end(b);
        }
    } else {
        b = ev(c, &n, "content_block_start");
        buf_printf(b,
                   "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":{\"type\":"
                   "\"text\",\"text\":\"\"}}",
                   idx);
        ev_end(b);
        for (size_t pos = 0, end; pos < r->content_len; pos = end) {
            end = delta_end(r, pos);
            b = ev(c, &n, "content_block_delta");
            buf_printf(b,
                       "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":\"text_"
                       "delta\",\"text\":",
                       idx);
            buf_json_str(b, r->content + pos, end - pos);
            buf_puts(b, "}}");
            ev_end(b);
        }
    }
    b = ev(c, &n, "content_block_stop");
    buf_printf(b, "{\"type\":\"content_block_stop\",\"index\":%d}", idx);
    ev_end(b);
    b = ev(c, &n, "message_delta");
    buf_printf(
        b,
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
        "\"usage\":{\"output_tokens\":%llu}}",
        r->is_tool_call ? "tool_use" : "end_turn", (unsigned long long)r->completion_tokens);
    ev_end(b);
    b = ev(c, &n, "message_stop");
    buf_puts(b, "{\"type\":\"message_stop\"}");
    ev_end(b);
    *chunks = c;
    return n;
}

void mock_render_anthropic_error(buf_t *out, const char *type, const char *message)
{
    buf_puts(out, "{\"type\":\"error\",\"error\":{\"type\":");
    buf_json_str(out, type, strlen(type));
    buf_puts(out, ",\"message\":");
    buf_json_str(out, message, strlen(message));
    buf_puts(out, "}}");
}

/* ------------------------------------------------------------ Responses */

static void r_output(buf_t *b, const mock_reply_t *r, const char *resp_id)
{
    buf_putc(b, '[');
    bool first = true;
    if (r->has_reasoning) {
        buf_printf(
            b,
            "{\"type\":\"reasoning\",\"id\":\"rs_%s\",\"summary\":[],\"encrypted_content\":\"%s\"}",
            resp_id + 5, r->reasoning_enc);
        first = false;
    }
    if (r->is_tool_call) {
        buf_printf(b, "%s{\"type\":\"function_call\",\"id\":\"fc_%s\",\"call_id\":\"%s\",\"name\":",
                   first ? "" : ",", resp_id + 5, r->call_id);
        buf_json_str(b, r->tool_name, strlen(r->tool_name));
        buf_puts(b, ",\"arguments\":");
        buf_json_str(b, r->tool_args, strlen(r->tool_args));
        buf_puts(b, ",\"status\":\"completed\"}");
    } else {
        buf_printf(b,
                   "%s{\"type\":\"message\",\"id\":\"msg_%s\",\"status\":\"completed\",\"role\":"
                   "\"assistant\","
                   "\"content\":[{\"type\":\"output_text\",\"text\":",
                   first ? "" : ",", resp_id + 5);
        buf_json_str(b, r->content, r->content_len);
        buf_puts(b, ",\"annotations\":[]}]}");
    }
    buf_putc(b, ']');
}

static void r_object(buf_t *b, const mock_reply_t *r, const char *model, uint64_t created,
                     uint64_t cached, const char *resp_id, const char *prev, bool done)
{
    buf_printf(b,
               "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":%llu,\"status\":\"%s\","
               "\"error\":null,\"incomplete_details\":null,\"model\":",
               resp_id, (unsigned long long)created, done ? "completed" : "in_progress");
    buf_json_str(b, model, strlen(model));
    buf_puts(b, ",\"output\":");
    if (done)
        r_output(b, r, resp_id);
    else
        buf_puts(b, "[]");
    buf_puts(b, ",\"previous_response_id\":");
    buf_json_cstr(b, prev);
    buf_puts(b, ",\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":");
    if (done)
        buf_printf(b,
                   "{\"input_tokens\":%llu,\"input_tokens_details\":{\"cached_tokens\":%llu},"
                   "\"output_tokens\":%llu,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                   "\"total_tokens\":%llu}",
                   (unsigned long long)r->prompt_tokens, (unsigned long long)cached,
                   (unsigned long long)r->completion_tokens,
                   (unsigned long long)(r->prompt_tokens + r->completion_tokens));
    else
        buf_puts(b, "null");
    buf_putc(b, '}');
}

void mock_render_responses_json(const mock_reply_t *r, const char *model, uint64_t created,
                                uint64_t cached, const char *resp_id, const char *prev, buf_t *out)
{
    r_object(out, r, model, created, cached, resp_id, prev, true);
}

/* One response.function_call_arguments.<delta|done> event: the tool
 * arguments under `field` (delta or arguments). */
static void args_event(buf_t *c, size_t *n, const char *type, const char *field, int seq,
                       const char *resp_id, int oi, const char *args)
{
    buf_t *b = ev(c, n, type);
    buf_printf(b,
               "{\"type\":\"%s\",\"sequence_number\":%d,\"item_id\":\"fc_%s\",\"output_index\":%d,"
               "\"%s\":",
               type, seq, resp_id + 5, oi, field);
    buf_json_str(b, args, strlen(args));
    buf_putc(b, '}');
    ev_end(b);
}

size_t mock_render_responses_sse(const mock_reply_t *r, const char *model, uint64_t created,
                                 uint64_t cached, const char *resp_id, const char *prev,
                                 buf_t **chunks)
{
    size_t cap = 96, n = 0;
    int seq = 0;
    buf_t *c = calloc(cap, sizeof *c);
    if (!c) abort();
    buf_t *b = ev(c, &n, "response.created");
    buf_printf(b, "{\"type\":\"response.created\",\"sequence_number\":%d,\"response\":", seq++);
    r_object(b, r, model, created, cached, resp_id, prev, false);
    buf_putc(b, '}');
    ev_end(b);
    int oi = 0;
    if (r->has_reasoning) {
        b = ev(c, &n, "response.output_item.done");
        buf_printf(
            b,
            "{\"type\":\"response.output_item.done\",\"sequence_number\":%d,\"output_index\":0,"
            "\"item\":{\"type\":\"reasoning\",\"id\":\"rs_%s\",\"summary\":[],\"encrypted_"
            "content\":\"%s\"}}",
            seq++, resp_id + 5, r->reasoning_enc);
        ev_end(b);
        oi = 1;
    }
    if (r->is_tool_call) {
        b = ev(c, &n, "response.output_item.added");
        buf_printf(
            b,
            "{\"type\":\"response.output_item.added\",\"sequence_number\":%d,\"output_index\":%d,"
            "\"item\":{\"type\":\"function_call\",\"id\":\"fc_%s\",\"call_id\":\"%s\",\"name\":",
            seq++, oi, resp_id + 5, r->call_id);
        buf_json_str(b, r->tool_name, strlen(r->tool_name));
        buf_puts(b, ",\"arguments\":\"\",\"status\":\"in_progress\"}}");
        ev_end(b);
        args_event(c, &n, "response.function_call_arguments.delta", "delta", seq++, resp_id, oi,
                   r->tool_args);
        args_event(c, &n, "response.function_call_arguments.done", "arguments", seq++, resp_id, oi,
                   r->tool_args);
    } else {
        b = ev(c, &n, "response.output_item.added");
        buf_printf(
            b,
            "{\"type\":\"response.output_item.added\",\"sequence_number\":%d,\"output_index\":%d,"
            "\"item\":{\"type\":\"message\",\"id\":\"msg_%s\",\"status\":\"in_progress\",\"role\":"
            "\"assistant\",\"content\":[]}}",
            seq++, oi, resp_id + 5);
        ev_end(b);
        b = ev(c, &n, "response.content_part.added");
        buf_printf(b,
                   "{\"type\":\"response.content_part.added\",\"sequence_number\":%d,\"item_id\":"
                   "\"msg_%s\","
                   "\"output_index\":%d,\"content_index\":0,\"part\":{\"type\":\"output_text\","
                   "\"text\":\"\",\"annotations\":[]}}",
                   seq++, resp_id + 5, oi);
        ev_end(b);
        for (size_t pos = 0, end; pos < r->content_len; pos = end) {
            end = delta_end(r, pos);
            b = ev(c, &n, "response.output_text.delta");
            buf_printf(b,
                       "{\"type\":\"response.output_text.delta\",\"sequence_number\":%d,\"item_"
                       "id\":\"msg_%s\","
                       "\"output_index\":%d,\"content_index\":0,\"delta\":",
                       seq++, resp_id + 5, oi);
            buf_json_str(b, r->content + pos, end - pos);
            buf_puts(b, ",\"logprobs\":[]}");
            ev_end(b);
        }
        b = ev(c, &n, "response.output_text.done");
        buf_printf(
            b,
            "{\"type\":\"response.output_text.done\",\"sequence_number\":%d,\"item_id\":\"msg_%s\","
            "\"output_index\":%d,\"content_index\":0,\"text\":",
            seq++, resp_id + 5, oi);
        buf_json_str(b, r->content, r->content_len);
        buf_puts(b, ",\"logprobs\":[]}");
        ev_end(b);
    }
    b = ev(c, &n, "response.completed");
    buf_printf(b, "{\"type\":\"response.completed\",\"sequence_number\":%d,\"response\":", seq++);
    r_object(b, r, model, created, cached, resp_id, prev, true);
    buf_putc(b, '}');
    ev_end(b);
    *chunks = c;
    return n;
}
