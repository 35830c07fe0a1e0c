/* translate_build.c - reply objects both reply translators build
 * (translate_build.h): chat and Responses usage members, the Response
 * object, Responses output items, the derived message and item ids, the
 * Anthropic tool_use block and the parsed chat.completion. */
#include "api/translate_build.h"
#include "core/hash.h"
#include <stdio.h>
#include <string.h>

void tr_chat_usage(cJSON *o, int64_t prompt, int64_t completion, int64_t cached,
                   int64_t cache_write)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)tr_nz(prompt));
    cJSON_AddNumberToObject(u, "completion_tokens", (double)tr_nz(completion));
    cJSON_AddNumberToObject(u, "total_tokens", (double)(tr_nz(prompt) + tr_nz(completion)));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)tr_nz(cached));
    if (cache_write > 0)
        cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)cache_write);
}

void tr_chat_usage_of(const cJSON *root, int64_t *p, int64_t *c, int64_t *cached, int64_t *rt)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    *p = tr_num_of(u, "prompt_tokens");
    *c = tr_num_of(u, "completion_tokens");
    *cached =
        tr_num_of(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details"), "cached_tokens");
    if (rt)
        *rt = tr_num_of(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens_details"),
                        "reasoning_tokens");
}

void tr_msg_id_from(const char *chat_id, char *out, size_t n)
{
    char hex[17];
    hash_hex16(hash_xxh64(chat_id ? chat_id : "", chat_id ? strlen(chat_id) : 0, 7), hex);
    snprintf(out, n, "msg_%s", hex);
}

cJSON *tr_responses_usage(int64_t p, int64_t c, int64_t cached, int64_t rt)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)tr_nz(p));
    cJSON *d = cJSON_AddObjectToObject(u, "input_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)tr_nz(cached));
    cJSON_AddNumberToObject(u, "output_tokens", (double)tr_nz(c));
    cJSON *od = cJSON_AddObjectToObject(u, "output_tokens_details");
    cJSON_AddNumberToObject(od, "reasoning_tokens", (double)tr_nz(rt));
    cJSON_AddNumberToObject(u, "total_tokens", (double)(tr_nz(p) + tr_nz(c)));
    return u;
}

cJSON *tr_response_object(const tr_resp_meta_t *m, const char *status, cJSON *output, cJSON *usage)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "response");
    cJSON_AddNumberToObject(o, "created_at", (double)m->created_at);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddNullToObject(o, "error");
    if (!strcmp(status, "incomplete")) {
        cJSON *d = cJSON_AddObjectToObject(o, "incomplete_details");
        cJSON_AddStringToObject(d, "reason", "max_output_tokens");
    } else {
        cJSON_AddNullToObject(o, "incomplete_details");
    }
    if (m->instructions)
        cJSON_AddStringToObject(o, "instructions", m->instructions);
    else
        cJSON_AddNullToObject(o, "instructions");
    cJSON_AddStringToObject(o, "model", m->model ? m->model : "");
    cJSON_AddItemToObject(o, "output", output ? output : cJSON_CreateArray());
    cJSON_AddTrueToObject(o, "parallel_tool_calls");
    if (m->previous_response_id)
        cJSON_AddStringToObject(o, "previous_response_id", m->previous_response_id);
    else
        cJSON_AddNullToObject(o, "previous_response_id");
    cJSON_AddStringToObject(o, "tool_choice", "auto");
    cJSON_AddArrayToObject(o, "tools");
    cJSON *tx = cJSON_AddObjectToObject(o, "text");
    cJSON *f = cJSON_AddObjectToObject(tx, "format");
    cJSON_AddStringToObject(f, "type", "text");
    cJSON_AddObjectToObject(o, "metadata");
    if (usage)
        cJSON_AddItemToObject(o, "usage", usage);
    else
        cJSON_AddNullToObject(o, "usage");
    return o;
}

cJSON *tr_msg_item(const char *id, const char *text, const char *status)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "role", "assistant");
    cJSON *c = cJSON_AddArrayToObject(it, "content");
    if (text) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "output_text");
        cJSON_AddStringToObject(p, "text", text);
        cJSON_AddArrayToObject(p, "annotations");
        cJSON_AddItemToArray(c, p);
    }
    return it;
}

cJSON *tr_fc_item(const char *id, const char *call_id, const char *name, const char *args,
                  const char *status)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "type", "function_call");
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "call_id", call_id ? call_id : "");
    cJSON_AddStringToObject(it, "name", name ? name : "");
    cJSON_AddStringToObject(it, "arguments", args ? args : "");
    cJSON_AddStringToObject(it, "status", status);
    return it;
}

void tr_item_id(const char *prefix, const char *seed, int k, char *out, size_t n)
{
    char hex[17];
    hash_hex16(hash_xxh64(seed, strlen(seed), (uint64_t)k + 11), hex);
    snprintf(out, n, "%s_%s", prefix, hex);
}

cJSON *tr_tool_use_block(const char *id, const cJSON *fn, tr_warn_t *w)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_use");
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddStringToObject(b, "name", tr_str_of(fn, "name") ? tr_str_of(fn, "name") : "");
    const char *args = tr_str_of(fn, "arguments");
    cJSON *inp = args && *args ? cJSON_Parse(args) : cJSON_CreateObject();
    if (!cJSON_IsObject(inp)) {
        cJSON_Delete(inp);
        inp = cJSON_CreateObject();
        tr_warn_add(w, "tool_arguments_not_an_object");
    }
    cJSON_AddItemToObject(b, "input", inp);
    return b;
}

cJSON *tr_chat_parse(const char *body, size_t len, const cJSON **choice, const cJSON **msg)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return NULL;
    }
    *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(in, "choices"), 0);
    *msg = cJSON_GetObjectItemCaseSensitive(*choice, "message");
    return in;
}
