/* translate_assemble.c - a streamed chat reply (chat.completion.chunk
 * events) assembled into one chat.completion, for a client that did not ask
 * for a stream when the upstream streams anyway (issue 20 item 11): the
 * agent proxy then answers the whole reply in the client's shape
 * (translate_resp.c), as for a non-streamed upstream. Chunks are small, so
 * each is parsed with cJSON; the assembled reply holds the text, the tool
 * calls by index, the finish reason and the last usage seen. */
#include "json/num.h"
#include "api/translate_build.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_asm_init(tr_asm_t *a)
{
    memset(a, 0, sizeof *a);
}

void tr_asm_deinit(tr_asm_t *a)
{
    buf_free(&a->text);
    for (int i = 0; i < a->n_tools; i++) {
        free(a->tools[i].id);
        free(a->tools[i].name);
        buf_free(&a->tools[i].args);
    }
    cJSON_Delete(a->usage);
    free(a->id);
    free(a->model);
    memset(a, 0, sizeof *a);
}

static void set_once(char **dst, const char *s)
{
    if (!*dst && s) *dst = strdup(s);
}

static void add_tool_delta(tr_asm_t *a, const cJSON *tc)
{
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
    /* valueint: cJSON saturates it; (int) of 1e12 would be undefined */
    int index = cJSON_IsNumber(ix) ? ix->valueint : 0;
    tr_tool_slot_t *t = NULL;
    for (int i = 0; i < a->n_tools && !t; i++)
        if (a->tools[i].block == index) t = &a->tools[i];
    if (!t) {
        if (a->n_tools >= (int)(sizeof a->tools / sizeof a->tools[0])) return;
        t = &a->tools[a->n_tools++];
        t->block = index;
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    set_once(&t->id, tr_str_of(tc, "id"));
    set_once(&t->name, tr_str_of(fn, "name"));
    const char *args = tr_str_of(fn, "arguments");
    if (args) buf_puts(&t->args, args);
}

void tr_asm_chunk(tr_asm_t *a, const char *data, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(o)) { /* "[DONE]" and the like */
        cJSON_Delete(o);
        return;
    }
    a->chunks++;
    set_once(&a->id, tr_str_of(o, "id"));
    set_once(&a->model, tr_str_of(o, "model"));
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(o, "created");
    if (!a->created && cJSON_IsNumber(cr)) a->created = json_num_i64(cr->valuedouble, 0);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
    const char *t = tr_str_of(d, "content");
    if (t) {
        buf_puts(&a->text, t);
        a->has_text = true;
    }
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls")) add_tool_delta(a, tc);
    const char *fr = tr_str_of(ch, "finish_reason");
    if (fr) snprintf(a->finish, sizeof a->finish, "%s", fr);
    cJSON *u = cJSON_DetachItemFromObjectCaseSensitive(o, "usage");
    if (cJSON_IsObject(u)) {
        cJSON_Delete(a->usage);
        a->usage = u;
    } else {
        cJSON_Delete(u);
    }
    cJSON_Delete(o);
}

void tr_asm_finish(tr_asm_t *a, buf_t *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id ? a->id : "chatcmpl-tether");
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)a->created);
    cJSON_AddStringToObject(o, "model", a->model ? a->model : "");
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON *m = cJSON_AddObjectToObject(c0, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    if (a->has_text || !a->n_tools)
        cJSON_AddStringToObject(m, "content", a->text.data ? a->text.data : "");
    else
        cJSON_AddNullToObject(m, "content");
    if (a->n_tools) {
        cJSON *calls = cJSON_AddArrayToObject(m, "tool_calls");
        for (int i = 0; i < a->n_tools; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", a->tools[i].id ? a->tools[i].id : "");
            cJSON_AddStringToObject(x, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(x, "function");
            cJSON_AddStringToObject(fn, "name", a->tools[i].name ? a->tools[i].name : "");
            cJSON_AddStringToObject(fn, "arguments",
                                    a->tools[i].args.data ? a->tools[i].args.data : "{}");
            cJSON_AddItemToArray(calls, x);
        }
    }
    cJSON_AddStringToObject(c0, "finish_reason",
                            a->finish[0] ? a->finish
                            : a->n_tools ? "tool_calls"
                                         : "stop");
    cJSON_AddItemToArray(ch, c0);
    if (a->usage) cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(a->usage, 1));
    char *s = cJSON_PrintUnformatted(o);
    if (s) buf_puts(out, s);
    free(s);
    cJSON_Delete(o);
}
