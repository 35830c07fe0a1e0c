/* response_cache_sse.c - the response_cache plugin's wire formats for chat:
 * assembly of a streamed (SSE) chat response into the final JSON the cache
 * stores, and rendering of a hit as that JSON or replayed as SSE chunks.
 * Pure functions over one response; thread-safe. The store is
 * response_cache.c. */
#include "plugins/response_cache.h"
#include "http/sse.h"
#include "plugins/response_cache_internal.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ streamed chat assembly */

typedef struct asm_choice {
    int index;
    char *role;
    buf_t content;
    bool has_content;
    char *finish;
    cJSON *calls; /* array of {id, type, function{name, arguments}} */
    buf_t *args;  /* arguments per call, parallel to calls */
    size_t n_args;
} asm_choice_t;

typedef struct asm_state {
    cJSON *first; /* id, created, model, system_fingerprint from the first chunk */
    cJSON *usage;
    asm_choice_t ch[16];
    size_t n;
    bool bad, finished;
} asm_state_t;

static asm_choice_t *asm_choice(asm_state_t *a, int index)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->ch[i].index == index) return &a->ch[i];
    if (a->n == sizeof a->ch / sizeof a->ch[0] || index < 0) return NULL;
    asm_choice_t *c = &a->ch[a->n++];
    memset(c, 0, sizeof *c);
    c->index = index;
    c->calls = cJSON_CreateArray();
    return c;
}

static void asm_call(asm_choice_t *c, const cJSON *tc)
{
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
    int i = cJSON_IsNumber(ix) ? ix->valueint : cJSON_GetArraySize(c->calls);
    if (i < 0 || i > 255) return;
    while (cJSON_GetArraySize(c->calls) <= i) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", "");
        cJSON_AddStringToObject(o, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(o, "function");
        cJSON_AddStringToObject(f, "name", "");
        cJSON_AddItemToArray(c->calls, o);
        c->args = realloc(c->args, (c->n_args + 1) * sizeof *c->args);
        c->args[c->n_args++] = (buf_t)BUF_INIT;
    }
    cJSON *o = cJSON_GetArrayItem(c->calls, i);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
    if (cJSON_IsString(id) && id->valuestring[0])
        cJSON_ReplaceItemInObjectCaseSensitive(o, "id", cJSON_CreateString(id->valuestring));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (cJSON_IsString(nm) && nm->valuestring[0])
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "function"),
                                               "name", cJSON_CreateString(nm->valuestring));
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(f, "arguments");
    if (cJSON_IsString(ar)) buf_puts(&c->args[i], ar->valuestring);
}

static void asm_event(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    asm_state_t *a = ud;
    if (a->bad) return;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return;
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j || !cJSON_IsObject(j)) {
        a->bad = true;
        cJSON_Delete(j);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "error")) a->bad = true;
    if (!a->first) {
        a->first = cJSON_Duplicate(j, true);
        cJSON_DeleteItemFromObjectCaseSensitive(a->first, "choices");
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        cJSON_Delete(a->usage);
        a->usage = cJSON_Duplicate(u, true);
    }
    const cJSON *chs = cJSON_GetObjectItemCaseSensitive(j, "choices"), *ch;
    cJSON_ArrayForEach(ch, chs)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(ch, "index");
        asm_choice_t *c = asm_choice(a, cJSON_IsNumber(ix) ? ix->valueint : 0);
        if (!c) {
            a->bad = true;
            break;
        }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(d, "role");
        if (cJSON_IsString(role) && !c->role) c->role = strdup(role->valuestring);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(d, "content");
        if (cJSON_IsString(ct)) {
            buf_puts(&c->content, ct->valuestring);
            c->has_content = true;
        }
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(d, "tool_calls"), *tc;
        cJSON_ArrayForEach(tc, tcs) asm_call(c, tc);
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        if (cJSON_IsString(fr)) {
            free(c->finish);
            c->finish = strdup(fr->valuestring);
            a->finished = true;
        }
    }
    cJSON_Delete(j);
}

/* The chat.completion JSON of a streamed chat response (heap), NULL when the
 * stream is unusable or never finished. */
char *rc_assemble_chat(const char *sse, size_t len)
{
    asm_state_t a = {0};
    sse_parse_all(sse, len, asm_event, &a);
    char *out = NULL;
    if (!a.bad && a.finished && a.first) {
        cJSON *o = cJSON_CreateObject();
        static const char *const keep[] = {"id", "created", "model", "system_fingerprint",
                                           "service_tier"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(a.first, keep[i]);
            if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, true));
        }
        cJSON_AddStringToObject(o, "object", "chat.completion");
        cJSON *chs = cJSON_AddArrayToObject(o, "choices");
        for (size_t i = 0; i < a.n; i++) {
            asm_choice_t *c = &a.ch[i];
            cJSON *ch = cJSON_CreateObject();
            cJSON_AddNumberToObject(ch, "index", c->index);
            cJSON *m = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(m, "role", c->role ? c->role : "assistant");
            if (c->has_content)
                cJSON_AddStringToObject(m, "content", c->content.data ? c->content.data : "");
            else
                cJSON_AddNullToObject(m, "content");
            if (cJSON_GetArraySize(c->calls)) {
                for (size_t k = 0; k < c->n_args; k++)
                    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(
                                                cJSON_GetArrayItem(c->calls, (int)k), "function"),
                                            "arguments", c->args[k].data ? c->args[k].data : "");
                cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(c->calls, true));
            }
            if (c->finish)
                cJSON_AddStringToObject(ch, "finish_reason", c->finish);
            else
                cJSON_AddNullToObject(ch, "finish_reason");
            cJSON_AddItemToArray(chs, ch);
        }
        if (a.usage) cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(a.usage, true));
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    for (size_t i = 0; i < a.n; i++) {
        free(a.ch[i].role);
        free(a.ch[i].finish);
        buf_free(&a.ch[i].content);
        cJSON_Delete(a.ch[i].calls);
        for (size_t k = 0; k < a.ch[i].n_args; k++)
            buf_free(&a.ch[i].args[k]);
        free(a.ch[i].args);
    }
    cJSON_Delete(a.first);
    cJSON_Delete(a.usage);
    return out;
}

/* ------------------------------------------------------------ replay */

static void chunk(buf_t *out, const cJSON *base, cJSON *choices, const cJSON *usage)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const keep[] = {"id", "created", "model", "system_fingerprint",
                                       "service_tier"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(base, keep[i]);
        if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, true));
    }
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddItemToObject(o, "choices", choices);
    if (usage) cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(usage, true));
    char *s = cJSON_PrintUnformatted(o);
    sse_write_event(out, NULL, s, strlen(s));
    free(s);
    cJSON_Delete(o);
}

static cJSON *one_choice(int index, cJSON *delta, const char *finish)
{
    cJSON *arr = cJSON_CreateArray(), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    cJSON_AddItemToObject(ch, "delta", delta);
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(arr, ch);
    return arr;
}

int rc_render_hit(const rc_hit_t *h, bool stream, bool include_usage, buf_t *out,
                  const char **content_type)
{
    if (!stream) {
        buf_append(out, h->body, h->len);
        *content_type = "application/json";
        return 0;
    }
    if (h->proto != RQ_PROTO_CHAT) {
        if (rc_render_stream(h, out) != 0) return -1;
        *content_type = "text/event-stream";
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(h->body, h->len);
    const cJSON *chs = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(chs)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, chs)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(ch, "index");
        int index = cJSON_IsNumber(ix) ? ix->valueint : 0;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ch, "message");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", cJSON_IsString(role) ? role->valuestring : "assistant");
        cJSON_AddStringToObject(d, "content", "");
        chunk(out, j, one_choice(index, d, NULL), NULL);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (cJSON_IsString(ct) && ct->valuestring[0]) {
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "content", ct->valuestring);
            chunk(out, j, one_choice(index, d, NULL), NULL);
        }
        if (cJSON_IsArray(tcs) && cJSON_GetArraySize(tcs)) {
            cJSON *calls = cJSON_Duplicate(tcs, true), *tc;
            int i = 0;
            cJSON_ArrayForEach(tc, calls)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(tc, "index");
                cJSON_AddNumberToObject(tc, "index", i++);
            }
            d = cJSON_CreateObject();
            cJSON_AddItemToObject(d, "tool_calls", calls);
            chunk(out, j, one_choice(index, d, NULL), NULL);
        }
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        chunk(
            out, j,
            one_choice(index, cJSON_CreateObject(), cJSON_IsString(fr) ? fr->valuestring : "stop"),
            NULL);
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (include_usage && cJSON_IsObject(u)) chunk(out, j, cJSON_CreateArray(), u);
    buf_puts(out, "data: [DONE]\n\n");
    cJSON_Delete(j);
    *content_type = "text/event-stream";
    return 0;
}
