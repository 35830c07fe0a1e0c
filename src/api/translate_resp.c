/* translate_resp.c - whole replies across protocols (SPEC §4.4, §4.5):
 * Anthropic message <-> chat.completion and chat.completion -> Response,
 * plus the error helpers. Streams are translated event by event in
 * translate_stream.c; objects both build are in translate_build.c. */
#include "api/translate_build.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void print_to(cJSON *root, buf_t *out)
{
    char *s = cJSON_PrintUnformatted(root);
    if (s) {
        buf_puts(out, s);
        free(s);
    }
}

const char *tr_anthropic_error_type(int status)
{
    switch (status) {
    case 400:
    case 408:
    case 404:
    case 405: return "invalid_request_error";
    case 413: return "request_too_large";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return "api_error";
    }
}

void tr_error_message(const char *body, size_t len, char *msg, size_t msglen)
{
    cJSON *r = cJSON_ParseWithLength(body, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    const char *m = cJSON_IsString(e) ? e->valuestring : tr_str_of(e, "message");
    if (!m) m = tr_str_of(r, "message");
    if (m)
        snprintf(msg, msglen, "%s", m);
    else
        snprintf(msg, msglen, "upstream error: %.*s", (int)(len > 200 ? 200 : len),
                 body ? body : "");
    cJSON_Delete(r);
}

/* ------------------------------------------------------- whole bodies */

int tr_resp_anthropic_to_chat(const char *body, size_t len, buf_t *out, tr_warn_t *w)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return -1;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", tr_str_of(in, "id") ? tr_str_of(in, "id") : "msg");
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", tr_str_of(in, "model") ? tr_str_of(in, "model") : "");
    cJSON *chs = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(chs, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    buf_t text = BUF_INIT, think = BUF_INIT;
    cJSON *calls = NULL;
    const cJSON *blk, *content = cJSON_GetObjectItemCaseSensitive(in, "content");
    cJSON_ArrayForEach(blk, content)
    {
        const char *t = tr_str_of(blk, "type");
        if (!t) continue;
        if (!strcmp(t, "text")) {
            buf_puts(&text, tr_str_of(blk, "text") ? tr_str_of(blk, "text") : "");
        } else if (!strcmp(t, "tool_use")) {
            if (!calls) calls = cJSON_CreateArray();
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", tr_str_of(blk, "id") ? tr_str_of(blk, "id") : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(fn, "name",
                                    tr_str_of(blk, "name") ? tr_str_of(blk, "name") : "");
            char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(blk, "input"));
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            free(args);
            cJSON_AddItemToArray(calls, tc);
        } else if (!strcmp(t, "thinking")) {
            buf_puts(&think, tr_str_of(blk, "thinking") ? tr_str_of(blk, "thinking") : "");
            tr_warn_add(w, "thinking_signature_dropped");
        } else if (!strcmp(t, "redacted_thinking")) {
            tr_warn_add(w, "thinking_dropped");
        } else {
            char code[80];
            snprintf(code, sizeof code, "unknown_block:%.60s", t);
            tr_warn_add(w, code);
        }
    }
    if (text.len || !calls)
        cJSON_AddStringToObject(msg, "content", text.data ? text.data : "");
    else
        cJSON_AddNullToObject(msg, "content");
    if (think.len) cJSON_AddStringToObject(msg, "reasoning_content", think.data);
    if (calls) cJSON_AddItemToObject(msg, "tool_calls", calls);
    cJSON_AddStringToObject(ch, "finish_reason", tr_stop_to_finish(tr_str_of(in, "stop_reason")));
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(in, "usage");
    int64_t it = tr_nz(tr_num_of(u, "input_tokens")),
            cr = tr_nz(tr_num_of(u, "cache_read_input_tokens")),
            cc = tr_nz(tr_num_of(u, "cache_creation_input_tokens"));
    tr_chat_usage(o, it + cr + cc, tr_num_of(u, "output_tokens"), cr, cc);
    print_to(o, out);
    buf_free(&text);
    buf_free(&think);
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

static void anthropic_usage(cJSON *o, int64_t prompt, int64_t completion, int64_t cached)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", (double)tr_nz(tr_nz(prompt) - tr_nz(cached)));
    cJSON_AddNumberToObject(u, "output_tokens", (double)tr_nz(completion));
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)tr_nz(cached));
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
}

int tr_resp_chat_to_anthropic(const char *body, size_t len, const char *model, buf_t *out,
                              tr_warn_t *w)
{
    const cJSON *ch, *msg;
    cJSON *in = tr_chat_parse(body, len, &ch, &msg);
    if (!in) return -1;
    cJSON *o = cJSON_CreateObject();
    char mid[40];
    tr_msg_id_from(tr_str_of(in, "id"), mid, sizeof mid);
    cJSON_AddStringToObject(o, "id", mid);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model",
                            model                    ? model
                            : tr_str_of(in, "model") ? tr_str_of(in, "model")
                                                     : "");
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    if (tr_str_of(msg, "reasoning_content") ||
        cJSON_GetObjectItemCaseSensitive(msg, "reasoning_details"))
        tr_warn_add(w, "reasoning_dropped");
    const char *text = tr_str_of(msg, "content");
    if (text && *text) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", text);
        cJSON_AddItemToArray(content, b);
    }
    const cJSON *tc;
    char idb[256];
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
    {
        tr_tool_id_anthropic(tr_str_of(tc, "id"), idb, sizeof idb);
        cJSON_AddItemToArray(
            content, tr_tool_use_block(idb, cJSON_GetObjectItemCaseSensitive(tc, "function"), w));
    }
    cJSON_AddStringToObject(o, "stop_reason", tr_finish_to_stop(tr_str_of(ch, "finish_reason")));
    cJSON_AddNullToObject(o, "stop_sequence");
    int64_t p, c, cached;
    tr_chat_usage_of(in, &p, &c, &cached, NULL);
    anthropic_usage(o, p, c, cached);
    print_to(o, out);
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

int tr_resp_chat_to_responses(const char *body, size_t len, const tr_resp_meta_t *m, buf_t *out,
                              cJSON **output, tr_warn_t *w)
{
    const cJSON *ch, *msg;
    cJSON *in = tr_chat_parse(body, len, &ch, &msg);
    if (!in) return -1;
    cJSON *items = cJSON_CreateArray();
    char id[48];
    if (tr_str_of(msg, "reasoning_content")) tr_warn_add(w, "reasoning_dropped");
    const char *text = tr_str_of(msg, "content");
    if (text && *text) {
        tr_item_id("msg", m->id, 0, id, sizeof id);
        cJSON_AddItemToArray(items, tr_msg_item(id, text, "completed"));
    }
    const cJSON *tc;
    int k = 1;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        tr_item_id("fc", m->id, k++, id, sizeof id);
        cJSON_AddItemToArray(items, tr_fc_item(id, tr_str_of(tc, "id"), tr_str_of(fn, "name"),
                                               tr_str_of(fn, "arguments"), "completed"));
    }
    int64_t p, c, cached, rt;
    tr_chat_usage_of(in, &p, &c, &cached, &rt);
    const char *fr = tr_str_of(ch, "finish_reason");
    const char *status = fr && !strcmp(fr, "length") ? "incomplete" : "completed";
    cJSON *o = tr_response_object(m, status, cJSON_Duplicate(items, 1),
                                  tr_responses_usage(p, c, cached, rt));
    print_to(o, out);
    cJSON_Delete(o);
    cJSON_Delete(in);
    if (output)
        *output = items;
    else
        cJSON_Delete(items);
    return 0;
}
