/* translate_stream.c - streamed replies across protocols (SPEC §4.4,
 * §4.5), event by event, never buffered whole: Anthropic events -> chat
 * chunks (A2C), chat chunks -> Anthropic events (C2A) and chat chunks ->
 * Responses events (C2R). Whole bodies are translate_resp.c. */
#include "api/translate_build.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tr_stream_init(tr_stream_t *s, tr_stream_kind_t kind, const char *model, tr_emit_fn emit,
                    void *ud, tr_warn_t *w)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->emit = emit;
    s->ud = ud;
    s->warn = w;
    s->model = strdup(model ? model : "");
    s->created = (int64_t)time(NULL);
    s->open_block = -1;
    s->text_index = -1;
    s->in_tok = s->out_tok = s->cache_read = s->cache_write = s->reasoning_tok = -1;
    snprintf(s->id, sizeof s->id, "chatcmpl-tether");
}

void tr_stream_deinit(tr_stream_t *s)
{
    free(s->model);
    s->model = NULL;
    for (int i = 0; i < 32; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        buf_free(&s->tools[i].args);
    }
    memset(s->tools, 0, sizeof s->tools);
    buf_free(&s->text);
    cJSON_Delete(s->output);
    s->output = NULL;
}

/* o's string member k, or def when it has none. */
static const char *str_or(const cJSON *o, const char *k, const char *def)
{
    const char *v = tr_str_of(o, k);
    return v ? v : def;
}

static void emit_json(tr_stream_t *s, const char *event, cJSON *o)
{
    char *d = cJSON_PrintUnformatted(o);
    if (d) {
        s->emit(s->ud, event, d, strlen(d));
        free(d);
    }
    cJSON_Delete(o);
}

/* ---- A2C */

static cJSON *chunk_new(tr_stream_t *s, cJSON **delta)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)s->created);
    cJSON_AddStringToObject(o, "model", s->model);
    cJSON *chs = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(chs, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    *delta = cJSON_AddObjectToObject(ch, "delta");
    cJSON_AddNullToObject(ch, "finish_reason");
    return o;
}

static void a2c_tool_delta(tr_stream_t *s, int tool, const char *id, const char *name,
                           const char *args)
{
    cJSON *d, *o = chunk_new(s, &d);
    cJSON *tcs = cJSON_AddArrayToObject(d, "tool_calls");
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddItemToArray(tcs, tc);
    cJSON_AddNumberToObject(tc, "index", tool);
    if (id) {
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
    }
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    if (name) cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", args ? args : "");
    emit_json(s, NULL, o);
}

static void a2c_text(tr_stream_t *s, const char *key, const char *text)
{
    cJSON *d, *o = chunk_new(s, &d);
    cJSON_AddStringToObject(d, key, text);
    emit_json(s, NULL, o);
}

static void a2c_finish_usage(tr_stream_t *s)
{
    if (s->include_usage) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(o, "created", (double)s->created);
        cJSON_AddStringToObject(o, "model", s->model);
        cJSON_AddArrayToObject(o, "choices");
        int64_t cr = tr_nz(s->cache_read), cc = tr_nz(s->cache_write);
        tr_chat_usage(o, tr_nz(s->in_tok) + cr + cc, s->out_tok, cr, cc);
        emit_json(s, NULL, o);
    }
    s->emit(s->ud, NULL, "[DONE]", 6);
    s->finished = true;
}

static void a2c_event(tr_stream_t *s, const char *data, size_t len)
{
    cJSON *e = cJSON_ParseWithLength(data, len);
    const char *t = tr_str_of(e, "type");
    if (!t) goto out;
    if (!strcmp(t, "message_start")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (tr_str_of(m, "id")) snprintf(s->id, sizeof s->id, "%s", tr_str_of(m, "id"));
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "usage");
        s->in_tok = tr_num_of(u, "input_tokens");
        s->cache_read = tr_num_of(u, "cache_read_input_tokens");
        s->cache_write = tr_num_of(u, "cache_creation_input_tokens");
        if (tr_num_of(u, "output_tokens") > 0) s->out_tok = tr_num_of(u, "output_tokens");
        s->started = true;
        cJSON *d, *o = chunk_new(s, &d);
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        emit_json(s, NULL, o);
    } else if (!strcmp(t, "content_block_start")) {
        int i = (int)tr_num_of(e, "index");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "content_block");
        const char *bt = tr_str_of(b, "type");
        if (i < 0 || i >= 64 || !bt) goto out;
        if (!strcmp(bt, "text")) {
            s->blk_kind[i] = 1;
            if (tr_str_of(b, "text") && *tr_str_of(b, "text"))
                a2c_text(s, "content", tr_str_of(b, "text"));
        } else if (!strcmp(bt, "tool_use")) {
            s->blk_kind[i] = 2;
            s->blk_tool[i] = s->n_tools++;
            a2c_tool_delta(s, s->blk_tool[i], tr_str_of(b, "id") ? tr_str_of(b, "id") : "",
                           tr_str_of(b, "name"), "");
        } else if (!strcmp(bt, "thinking")) {
            s->blk_kind[i] = 3;
        } else {
            s->blk_kind[i] = 4;
            char code[80];
            snprintf(code, sizeof code, "unknown_block:%.60s", bt);
            tr_warn_add(s->warn, code);
        }
    } else if (!strcmp(t, "content_block_delta")) {
        int i = (int)tr_num_of(e, "index");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "delta");
        const char *dt = tr_str_of(d, "type");
        if (i < 0 || i >= 64 || !dt) goto out;
        if (!strcmp(dt, "text_delta") && tr_str_of(d, "text"))
            a2c_text(s, "content", tr_str_of(d, "text"));
        else if (!strcmp(dt, "input_json_delta") && s->blk_kind[i] == 2)
            a2c_tool_delta(s, s->blk_tool[i], NULL, NULL, tr_str_of(d, "partial_json"));
        else if (!strcmp(dt, "thinking_delta") && tr_str_of(d, "thinking"))
            a2c_text(s, "reasoning_content", tr_str_of(d, "thinking"));
        else if (!strcmp(dt, "signature_delta"))
            tr_warn_add(s->warn, "thinking_signature_dropped");
    } else if (!strcmp(t, "message_delta")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "delta");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "usage");
        if (tr_num_of(u, "output_tokens") >= 0) s->out_tok = tr_num_of(u, "output_tokens");
        if (tr_num_of(u, "input_tokens") >= 0) s->in_tok = tr_num_of(u, "input_tokens");
        if (tr_num_of(u, "cache_read_input_tokens") >= 0)
            s->cache_read = tr_num_of(u, "cache_read_input_tokens");
        if (tr_num_of(u, "cache_creation_input_tokens") >= 0)
            s->cache_write = tr_num_of(u, "cache_creation_input_tokens");
        const char *fr = tr_stop_to_finish(tr_str_of(d, "stop_reason"));
        snprintf(s->finish, sizeof s->finish, "%s", fr);
        cJSON *dd, *o = chunk_new(s, &dd);
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
        cJSON_ReplaceItemInObject(ch, "finish_reason", cJSON_CreateString(fr));
        emit_json(s, NULL, o);
    } else if (!strcmp(t, "message_stop")) {
        if (!s->finished) a2c_finish_usage(s);
    } else if (!strcmp(t, "error")) {
        const cJSON *er = cJSON_GetObjectItemCaseSensitive(e, "error");
        cJSON *o = cJSON_CreateObject();
        cJSON *x = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(x, "message", str_or(er, "message", "upstream error"));
        cJSON_AddStringToObject(x, "type", "upstream_error");
        cJSON_AddNullToObject(x, "param");
        cJSON_AddStringToObject(x, "code", str_or(er, "type", "api_error"));
        emit_json(s, NULL, o);
    }
out:
    cJSON_Delete(e);
}

/* ---- C2A */

static void c2a_emit(tr_stream_t *s, const char *type, cJSON *o)
{
    cJSON_AddStringToObject(o, "type", type);
    /* "type" first reads better, but order is not significant */
    emit_json(s, type, o);
}

static void c2a_start(tr_stream_t *s)
{
    if (s->started) return;
    s->started = true;
    char mid[40];
    tr_msg_id_from(s->id, mid, sizeof mid);
    cJSON *o = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(o, "message");
    cJSON_AddStringToObject(m, "id", mid);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "model", s->model);
    cJSON_AddArrayToObject(m, "content");
    cJSON_AddNullToObject(m, "stop_reason");
    cJSON_AddNullToObject(m, "stop_sequence");
    cJSON *u = cJSON_AddObjectToObject(m, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", 0);
    cJSON_AddNumberToObject(u, "output_tokens", 0);
    c2a_emit(s, "message_start", o);
}

static void c2a_close(tr_stream_t *s)
{
    if (s->open_block < 0) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", s->open_block);
    c2a_emit(s, "content_block_stop", o);
    s->open_block = -1;
}

static void c2a_open(tr_stream_t *s, int kind, const char *id, const char *name)
{
    c2a_close(s);
    s->open_block = s->next_block++;
    s->open_kind = kind;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", s->open_block);
    cJSON *b = cJSON_AddObjectToObject(o, "content_block");
    if (kind == 1) {
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", "");
    } else {
        char idb[256];
        tr_tool_id_anthropic(id, idb, sizeof idb);
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", idb);
        cJSON_AddStringToObject(b, "name", name ? name : "");
        cJSON_AddObjectToObject(b, "input");
    }
    c2a_emit(s, "content_block_start", o);
}

static void c2a_delta(tr_stream_t *s, int block, const char *dtype, const char *key,
                      const char *val)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", block);
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    cJSON_AddStringToObject(d, "type", dtype);
    cJSON_AddStringToObject(d, key, val);
    c2a_emit(s, "content_block_delta", o);
}

static void c2a_end(tr_stream_t *s)
{
    c2a_start(s);
    c2a_close(s);
    cJSON *o = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    cJSON_AddStringToObject(d, "stop_reason", tr_finish_to_stop(s->finish[0] ? s->finish : NULL));
    cJSON_AddNullToObject(d, "stop_sequence");
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "input_tokens",
                            (double)tr_nz(tr_nz(s->in_tok) - tr_nz(s->cache_read)));
    cJSON_AddNumberToObject(u, "output_tokens", (double)tr_nz(s->out_tok));
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)tr_nz(s->cache_read));
    c2a_emit(s, "message_delta", o);
    c2a_emit(s, "message_stop", cJSON_CreateObject());
    s->finished = true;
}

/* Fields of a chat chunk common to C2A and C2R. */
static void chunk_common(tr_stream_t *s, const cJSON *e)
{
    if (tr_str_of(e, "id") && !s->started) snprintf(s->id, sizeof s->id, "%s", tr_str_of(e, "id"));
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "usage");
    if (cJSON_IsObject(u)) {
        tr_chat_usage_of(e, &s->in_tok, &s->out_tok, &s->cache_read, &s->reasoning_tok);
    }
}

/* A chunk's id and usage taken (chunk_common), then its first choice, with
 * its delta in *d and the delta's text in *ct (NULL when none); reasoning
 * text, which neither client protocol receives, is a warning. */
/* A chat chunk: the parsed object (NULL when data is not one) and its
 * error member. */
static cJSON *chunk_parse(const char *data, size_t len, const cJSON **er)
{
    cJSON *e = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(e)) {
        cJSON_Delete(e);
        return NULL;
    }
    *er = cJSON_GetObjectItemCaseSensitive(e, "error");
    return e;
}

static const cJSON *chunk_choice(tr_stream_t *s, const cJSON *e, const cJSON **d, const char **ct)
{
    chunk_common(s, e);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "choices"), 0);
    *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
    *ct = tr_str_of(*d, "content");
    if (tr_str_of(*d, "reasoning_content") && *tr_str_of(*d, "reasoning_content"))
        tr_warn_add(s->warn, "reasoning_dropped");
    return ch;
}

static void c2a_event(tr_stream_t *s, const char *data, size_t len)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        if (!s->finished) c2a_end(s);
        return;
    }
    const cJSON *er;
    cJSON *e = chunk_parse(data, len, &er);
    if (!e) return;
    if (er) {
        cJSON *o = cJSON_CreateObject();
        cJSON *x = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(x, "type", "api_error");
        cJSON_AddStringToObject(x, "message", str_or(er, "message", "upstream error"));
        c2a_emit(s, "error", o);
        goto out;
    }
    const cJSON *d;
    const char *ct;
    const cJSON *ch = chunk_choice(s, e, &d, &ct);
    c2a_start(s);
    if (ct && *ct) {
        if (s->open_block < 0 || s->open_kind != 1) c2a_open(s, 1, NULL, NULL);
        c2a_delta(s, s->open_block, "text_delta", "text", ct);
    }
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"))
    {
        int ix = (int)tr_num_of(tc, "index");
        if (ix < 0 || ix >= 32) continue;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        tr_tool_slot_t *sl = &s->tools[ix];
        if (tr_str_of(tc, "id") && !sl->id) {
            sl->id = strdup(tr_str_of(tc, "id"));
            c2a_open(s, 2, sl->id, tr_str_of(fn, "name"));
            sl->block = s->open_block;
        }
        const char *a = tr_str_of(fn, "arguments");
        if (a && *a && sl->id) {
            if (s->open_block != sl->block) {
                tr_warn_add(s->warn, "interleaved_tool_arguments");
                continue;
            }
            c2a_delta(s, sl->block, "input_json_delta", "partial_json", a);
        }
    }
    const char *fr = tr_str_of(ch, "finish_reason");
    if (fr) {
        snprintf(s->finish, sizeof s->finish, "%s", fr);
        c2a_close(s);
    }
out:
    cJSON_Delete(e);
}

/* ---- C2R */

static void c2r_emit(tr_stream_t *s, const char *type, cJSON *o)
{
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNumberToObject(o, "sequence_number", s->seq++);
    emit_json(s, type, o);
}

static void c2r_start(tr_stream_t *s)
{
    if (s->started) return;
    s->started = true;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response", tr_response_object(s->meta, "in_progress", NULL, NULL));
    c2r_emit(s, "response.created", o);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response", tr_response_object(s->meta, "in_progress", NULL, NULL));
    c2r_emit(s, "response.in_progress", o);
}

static cJSON *part_obj(const char *text)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddArrayToObject(p, "annotations");
    return p;
}

static void c2r_event(tr_stream_t *s, const char *data, size_t len)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) return; /* closed at the end */
    const cJSON *er;
    cJSON *e = chunk_parse(data, len, &er);
    if (!e) return;
    if (er) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", str_or(er, "code", "upstream_error"));
        cJSON_AddStringToObject(o, "message", str_or(er, "message", "upstream error"));
        cJSON_AddNullToObject(o, "param");
        c2r_emit(s, "error", o);
        goto out;
    }
    const cJSON *d;
    const char *ct;
    const cJSON *ch = chunk_choice(s, e, &d, &ct);
    c2r_start(s);
    if (ct && *ct) {
        if (s->text_index < 0) {
            s->text_index = s->next_block++;
            tr_item_id("msg", s->meta->id, 0, s->msg_id, sizeof s->msg_id);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", s->text_index);
            cJSON_AddItemToObject(o, "item", tr_msg_item(s->msg_id, NULL, "in_progress"));
            c2r_emit(s, "response.output_item.added", o);
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "item_id", s->msg_id);
            cJSON_AddNumberToObject(o, "output_index", s->text_index);
            cJSON_AddNumberToObject(o, "content_index", 0);
            cJSON_AddItemToObject(o, "part", part_obj(""));
            c2r_emit(s, "response.content_part.added", o);
        }
        buf_puts(&s->text, ct);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "item_id", s->msg_id);
        cJSON_AddNumberToObject(o, "output_index", s->text_index);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddStringToObject(o, "delta", ct);
        cJSON_AddArrayToObject(o, "logprobs");
        c2r_emit(s, "response.output_text.delta", o);
    }
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"))
    {
        int ix = (int)tr_num_of(tc, "index");
        if (ix < 0 || ix >= 32) continue;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        tr_tool_slot_t *sl = &s->tools[ix];
        char fid[48];
        if (tr_str_of(tc, "id") && !sl->id) {
            sl->id = strdup(tr_str_of(tc, "id"));
            sl->name = strdup(tr_str_of(fn, "name") ? tr_str_of(fn, "name") : "");
            sl->block = s->next_block++;
            tr_item_id("fc", s->meta->id, sl->block + 1, fid, sizeof fid);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", sl->block);
            cJSON_AddItemToObject(o, "item", tr_fc_item(fid, sl->id, sl->name, "", "in_progress"));
            c2r_emit(s, "response.output_item.added", o);
        }
        const char *a = tr_str_of(fn, "arguments");
        if (a && *a && sl->id) {
            buf_puts(&sl->args, a);
            tr_item_id("fc", s->meta->id, sl->block + 1, fid, sizeof fid);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "item_id", fid);
            cJSON_AddNumberToObject(o, "output_index", sl->block);
            cJSON_AddStringToObject(o, "delta", a);
            c2r_emit(s, "response.function_call_arguments.delta", o);
        }
    }
    if (tr_str_of(ch, "finish_reason"))
        snprintf(s->finish, sizeof s->finish, "%s", tr_str_of(ch, "finish_reason"));
out:
    cJSON_Delete(e);
}

static void c2r_end(tr_stream_t *s)
{
    c2r_start(s);
    cJSON *items = cJSON_CreateArray();
    for (int idx = 0; idx < s->next_block; idx++) {
        if (idx == s->text_index) {
            const char *text = s->text.data ? s->text.data : "";
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "item_id", s->msg_id);
            cJSON_AddNumberToObject(o, "output_index", idx);
            cJSON_AddNumberToObject(o, "content_index", 0);
            cJSON_AddStringToObject(o, "text", text);
            cJSON_AddArrayToObject(o, "logprobs");
            c2r_emit(s, "response.output_text.done", o);
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "item_id", s->msg_id);
            cJSON_AddNumberToObject(o, "output_index", idx);
            cJSON_AddNumberToObject(o, "content_index", 0);
            cJSON_AddItemToObject(o, "part", part_obj(text));
            c2r_emit(s, "response.content_part.done", o);
            cJSON *it = tr_msg_item(s->msg_id, text, "completed");
            cJSON_AddItemToArray(items, cJSON_Duplicate(it, 1));
            o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", idx);
            cJSON_AddItemToObject(o, "item", it);
            c2r_emit(s, "response.output_item.done", o);
            continue;
        }
        for (int k = 0; k < 32; k++) {
            tr_tool_slot_t *sl = &s->tools[k];
            if (!sl->id || sl->block != idx) continue;
            char fid[48];
            tr_item_id("fc", s->meta->id, idx + 1, fid, sizeof fid);
            const char *args = sl->args.data ? sl->args.data : "";
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "item_id", fid);
            cJSON_AddNumberToObject(o, "output_index", idx);
            cJSON_AddStringToObject(o, "arguments", args);
            c2r_emit(s, "response.function_call_arguments.done", o);
            cJSON *it = tr_fc_item(fid, sl->id, sl->name, args, "completed");
            cJSON_AddItemToArray(items, cJSON_Duplicate(it, 1));
            o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", idx);
            cJSON_AddItemToObject(o, "item", it);
            c2r_emit(s, "response.output_item.done", o);
        }
    }
    bool inc = !strcmp(s->finish, "length");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response",
                          tr_response_object(s->meta, inc ? "incomplete" : "completed",
                                             cJSON_Duplicate(items, 1),
                                             tr_responses_usage(s->in_tok, s->out_tok,
                                                                s->cache_read, s->reasoning_tok)));
    c2r_emit(s, inc ? "response.incomplete" : "response.completed", o);
    cJSON_Delete(s->output);
    s->output = items;
    s->finished = true;
}

void tr_stream_event(tr_stream_t *s, const char *event, const char *data, size_t len)
{
    (void)event;
    if (s->finished) return;
    switch (s->kind) {
    case TR_S_A2C: a2c_event(s, data, len); break;
    case TR_S_C2A: c2a_event(s, data, len); break;
    case TR_S_C2R: c2r_event(s, data, len); break;
    }
}

void tr_stream_end(tr_stream_t *s)
{
    if (s->finished) return;
    switch (s->kind) {
    case TR_S_A2C:
        if (!s->finish[0]) snprintf(s->finish, sizeof s->finish, "stop");
        a2c_finish_usage(s);
        break;
    case TR_S_C2A: c2a_end(s); break;
    case TR_S_C2R: c2r_end(s); break;
    }
}
