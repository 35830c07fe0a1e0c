/* response_cache_stream.c - the response_cache plugin's wire formats for
 * Anthropic Messages and the Responses API (response_cache_sse.c does
 * chat): a streamed reply assembled into the JSON object the cache stores
 * (a Message; the Response of response.completed), and a hit replayed to a
 * streaming client as that protocol's SSE events. Pure functions over one
 * response; thread-safe. The store is response_cache.c. */
#include "http/sse.h"
#include "plugins/response_cache_internal.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define RC_MAX_BLOCKS 64 /* content blocks of one assembled Message */

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------------ Messages assembly */

typedef struct msg_block {
    cJSON *block; /* the content_block_start's block */
    buf_t text;   /* text / thinking */
    buf_t json;   /* tool_use input */
    buf_t sig;    /* thinking signature */
} msg_block_t;

typedef struct msg_asm {
    cJSON *msg; /* message_start's message */
    msg_block_t b[RC_MAX_BLOCKS];
    int n;
    bool bad, stopped;
} msg_asm_t;

/* Set o[k] = v (owned), in place when o has k: the key order stays. */
static void put(cJSON *o, const char *k, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, k))
        cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
    else
        cJSON_AddItemToObject(o, k, v);
}

static msg_block_t *block_at(msg_asm_t *a, const cJSON *e)
{
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
    if (!cJSON_IsNumber(ix) || ix->valueint < 0 || ix->valueint >= a->n) return NULL;
    return &a->b[ix->valueint];
}

static void msg_event(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    msg_asm_t *a = ud;
    if (a->bad || !len) return;
    cJSON *e = cJSON_ParseWithLength(data, len);
    const char *t = str_of(e, "type");
    if (!t) {
        cJSON_Delete(e);
        return;
    }
    if (!strcmp(t, "message_start")) {
        cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(e, "message");
        if (a->msg || !cJSON_IsObject(m)) a->bad = true;
        cJSON_Delete(a->msg);
        a->msg = m;
    } else if (!strcmp(t, "content_block_start")) {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
        cJSON *cb = cJSON_DetachItemFromObjectCaseSensitive(e, "content_block");
        /* blocks arrive in order, one at a time */
        if (!cJSON_IsNumber(ix) || ix->valueint != a->n || a->n >= RC_MAX_BLOCKS ||
            !cJSON_IsObject(cb)) {
            cJSON_Delete(cb);
            a->bad = true;
        } else {
            memset(&a->b[a->n], 0, sizeof a->b[a->n]);
            a->b[a->n++].block = cb;
        }
    } else if (!strcmp(t, "content_block_delta")) {
        msg_block_t *b = block_at(a, e);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "delta");
        const char *dt = str_of(d, "type");
        if (!b || !dt) {
            a->bad = true;
        } else if (!strcmp(dt, "text_delta") && str_of(d, "text")) {
            buf_puts(&b->text, str_of(d, "text"));
        } else if (!strcmp(dt, "input_json_delta") && str_of(d, "partial_json")) {
            buf_puts(&b->json, str_of(d, "partial_json"));
        } else if (!strcmp(dt, "thinking_delta") && str_of(d, "thinking")) {
            buf_puts(&b->text, str_of(d, "thinking"));
        } else if (!strcmp(dt, "signature_delta") && str_of(d, "signature")) {
            buf_puts(&b->sig, str_of(d, "signature"));
        } else {
            a->bad = true; /* a delta this assembly does not know: not stored */
        }
    } else if (!strcmp(t, "message_delta")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "delta");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "usage");
        if (!a->msg) {
            a->bad = true;
        } else {
            const cJSON *v;
            cJSON_ArrayForEach(v, d) put(a->msg, v->string, cJSON_Duplicate(v, true));
            cJSON *mu = cJSON_GetObjectItemCaseSensitive(a->msg, "usage");
            if (!cJSON_IsObject(mu)) {
                put(a->msg, "usage", cJSON_CreateObject());
                mu = cJSON_GetObjectItemCaseSensitive(a->msg, "usage");
            }
            cJSON_ArrayForEach(v, u)
            {
                if (!cJSON_IsNull(v)) put(mu, v->string, cJSON_Duplicate(v, true));
            }
        }
    } else if (!strcmp(t, "message_stop")) {
        a->stopped = true;
    } else if (!strcmp(t, "error")) {
        a->bad = true;
    }
    cJSON_Delete(e);
}

/* The block as a Message holds it, its streamed parts put back. */
static cJSON *block_done(msg_block_t *b, bool *bad)
{
    cJSON *o = cJSON_Duplicate(b->block, true);
    const char *t = str_of(o, "type");
    if (t && !strcmp(t, "text")) {
        put(o, "text", cJSON_CreateString(b->text.data ? b->text.data : ""));
    } else if (t && (!strcmp(t, "tool_use") || !strcmp(t, "server_tool_use"))) {
        if (b->json.len) {
            cJSON *in = cJSON_ParseWithLength(b->json.data, b->json.len);
            if (!cJSON_IsObject(in)) *bad = true;
            put(o, "input", in ? in : cJSON_CreateObject());
        }
    } else if (t && !strcmp(t, "thinking")) {
        put(o, "thinking", cJSON_CreateString(b->text.data ? b->text.data : ""));
        if (b->sig.len) put(o, "signature", cJSON_CreateString(b->sig.data));
    }
    return o;
}

char *rc_assemble_messages(const char *sse, size_t len)
{
    msg_asm_t *a = calloc(1, sizeof *a);
    if (!a) abort();
    sse_parse_all(sse, len, msg_event, a);
    char *out = NULL;
    if (!a->bad && a->stopped && a->msg) {
        cJSON *content = cJSON_CreateArray();
        bool bad = false;
        for (int i = 0; i < a->n; i++)
            cJSON_AddItemToArray(content, block_done(&a->b[i], &bad));
        put(a->msg, "content", content);
        if (!bad) out = cJSON_PrintUnformatted(a->msg);
    }
    for (int i = 0; i < a->n; i++) {
        cJSON_Delete(a->b[i].block);
        buf_free(&a->b[i].text);
        buf_free(&a->b[i].json);
        buf_free(&a->b[i].sig);
    }
    cJSON_Delete(a->msg);
    free(a);
    return out;
}

/* ------------------------------------------------------------ Responses assembly */

typedef struct resp_asm {
    cJSON *done; /* response.completed's response */
    bool bad;
} resp_asm_t;

static void resp_event(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    resp_asm_t *a = ud;
    if (a->bad || !len) return;
    if (!memmem(data, len, "response.", 9) && !memmem(data, len, "\"error\"", 7)) return;
    cJSON *e = cJSON_ParseWithLength(data, len);
    const char *t = str_of(e, "type");
    if (t && !strcmp(t, "response.completed")) {
        cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(e, "response");
        if (a->done || !cJSON_IsObject(r)) a->bad = true;
        cJSON_Delete(a->done);
        a->done = r;
    } else if (t && (!strcmp(t, "response.failed") || !strcmp(t, "response.incomplete") ||
                     !strcmp(t, "error"))) {
        a->bad = true;
    }
    cJSON_Delete(e);
}

char *rc_assemble_responses(const char *sse, size_t len)
{
    resp_asm_t a = {0};
    sse_parse_all(sse, len, resp_event, &a);
    char *out = NULL;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(a.done, "error");
    if (!a.bad && a.done && (!err || cJSON_IsNull(err))) out = cJSON_PrintUnformatted(a.done);
    cJSON_Delete(a.done);
    return out;
}

/* ------------------------------------------------------------ Messages replay */

static void emit(buf_t *out, const char *type, cJSON *o)
{
    cJSON_AddStringToObject(o, "type", type);
    char *s = cJSON_PrintUnformatted(o);
    sse_write_event(out, type, s, strlen(s));
    free(s);
    cJSON_Delete(o);
}

static cJSON *with_index(int i)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", i);
    return o;
}

static void block_delta(buf_t *out, int i, const char *type, const char *key, const char *v)
{
    if (!v || !*v) return;
    cJSON *o = with_index(i), *d = cJSON_AddObjectToObject(o, "delta");
    cJSON_AddStringToObject(d, "type", type);
    cJSON_AddStringToObject(d, key, v);
    emit(out, "content_block_delta", o);
}

/* message_start (no content, usage without output), per block its start, the
 * whole content as one delta and its stop, message_delta (stop reason,
 * output usage), message_stop. */
static int render_messages(const cJSON *m, buf_t *out)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsObject(m) || !cJSON_IsArray(content)) return -1;
    cJSON *start = cJSON_Duplicate(m, true);
    put(start, "content", cJSON_CreateArray());
    static const char *const later[] = {"stop_reason", "stop_sequence"};
    for (size_t i = 0; i < 2; i++) {
        put(start, later[i], cJSON_CreateNull());
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(m, "usage");
    cJSON *su = cJSON_GetObjectItemCaseSensitive(start, "usage");
    if (cJSON_IsObject(su)) {
        put(su, "output_tokens", cJSON_CreateNumber(0));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "message", start);
    emit(out, "message_start", o);
    int i = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const char *t = str_of(b, "type");
        cJSON *first = cJSON_Duplicate(b, true);
        if (t && !strcmp(t, "text")) {
            put(first, "text", cJSON_CreateString(""));
        } else if (t && (!strcmp(t, "tool_use") || !strcmp(t, "server_tool_use"))) {
            put(first, "input", cJSON_CreateObject());
        } else if (t && !strcmp(t, "thinking")) {
            cJSON_DeleteItemFromObjectCaseSensitive(first, "thinking");
            cJSON_DeleteItemFromObjectCaseSensitive(first, "signature");
            cJSON_AddStringToObject(first, "thinking", "");
            cJSON_AddStringToObject(first, "signature", "");
        }
        o = with_index(i);
        cJSON_AddItemToObject(o, "content_block", first);
        emit(out, "content_block_start", o);
        if (t && !strcmp(t, "text")) {
            block_delta(out, i, "text_delta", "text", str_of(b, "text"));
        } else if (t && (!strcmp(t, "tool_use") || !strcmp(t, "server_tool_use"))) {
            char *in = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, "input"));
            block_delta(out, i, "input_json_delta", "partial_json", in);
            free(in);
        } else if (t && !strcmp(t, "thinking")) {
            block_delta(out, i, "thinking_delta", "thinking", str_of(b, "thinking"));
            block_delta(out, i, "signature_delta", "signature", str_of(b, "signature"));
        }
        emit(out, "content_block_stop", with_index(i));
        i++;
    }
    o = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    for (size_t k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, later[k]);
        cJSON_AddItemToObject(d, later[k], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
    }
    const cJSON *ot = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens");
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "output_tokens", cJSON_IsNumber(ot) ? ot->valuedouble : 0);
    emit(out, "message_delta", o);
    emit(out, "message_stop", cJSON_CreateObject());
    return 0;
}

/* ------------------------------------------------------------ Responses replay */

typedef struct resp_out {
    buf_t *out;
    int seq;
} resp_out_t;

static void remit(resp_out_t *r, const char *type, cJSON *o)
{
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNumberToObject(o, "sequence_number", r->seq++);
    char *s = cJSON_PrintUnformatted(o);
    sse_write_event(r->out, type, s, strlen(s));
    free(s);
    cJSON_Delete(o);
}

static cJSON *at_item(const char *item_id, int oi)
{
    cJSON *o = cJSON_CreateObject();
    if (item_id) cJSON_AddStringToObject(o, "item_id", item_id);
    cJSON_AddNumberToObject(o, "output_index", oi);
    return o;
}

/* A message item: its parts added, their text as one delta, done. */
static void render_message_item(resp_out_t *r, const cJSON *it, const char *id, int oi)
{
    int ci = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(it, "content"))
    {
        const char *pt = str_of(part, "type");
        bool text = pt && !strcmp(pt, "output_text");
        cJSON *empty = cJSON_Duplicate(part, true);
        if (text) {
            put(empty, "text", cJSON_CreateString(""));
        }
        cJSON *o = at_item(id, oi);
        cJSON_AddNumberToObject(o, "content_index", ci);
        cJSON_AddItemToObject(o, "part", empty);
        remit(r, "response.content_part.added", o);
        if (text) {
            const char *s = str_of(part, "text");
            o = at_item(id, oi);
            cJSON_AddNumberToObject(o, "content_index", ci);
            cJSON_AddStringToObject(o, "delta", s ? s : "");
            cJSON_AddArrayToObject(o, "logprobs");
            remit(r, "response.output_text.delta", o);
            o = at_item(id, oi);
            cJSON_AddNumberToObject(o, "content_index", ci);
            cJSON_AddStringToObject(o, "text", s ? s : "");
            cJSON_AddArrayToObject(o, "logprobs");
            remit(r, "response.output_text.done", o);
        }
        o = at_item(id, oi);
        cJSON_AddNumberToObject(o, "content_index", ci);
        cJSON_AddItemToObject(o, "part", cJSON_Duplicate(part, true));
        remit(r, "response.content_part.done", o);
        ci++;
    }
}

/* response.created and .in_progress (the Response in progress, no output),
 * per output item its added event, its content (message text, function
 * call arguments) and its done event, then response.completed with the
 * stored Response. */
static int render_responses(const cJSON *resp, buf_t *out)
{
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(resp, "output");
    if (!cJSON_IsObject(resp) || !cJSON_IsArray(output)) return -1;
    resp_out_t r = {.out = out};
    static const char *const open_events[] = {"response.created", "response.in_progress"};
    for (size_t k = 0; k < 2; k++) {
        cJSON *ip = cJSON_Duplicate(resp, true);
        put(ip, "status", cJSON_CreateString("in_progress"));
        put(ip, "output", cJSON_CreateArray());
        put(ip, "usage", cJSON_CreateNull());
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "response", ip);
        remit(&r, open_events[k], o);
    }
    int oi = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, output)
    {
        const char *t = str_of(it, "type"), *id = str_of(it, "id");
        bool msg = t && !strcmp(t, "message"), fc = t && !strcmp(t, "function_call");
        cJSON *first = cJSON_Duplicate(it, true);
        if (msg || fc) {
            put(first, "status", cJSON_CreateString("in_progress"));
        }
        if (msg) {
            put(first, "content", cJSON_CreateArray());
        }
        if (fc) {
            put(first, "arguments", cJSON_CreateString(""));
        }
        cJSON *o = at_item(NULL, oi);
        cJSON_AddItemToObject(o, "item", first);
        remit(&r, "response.output_item.added", o);
        if (msg) render_message_item(&r, it, id, oi);
        if (fc) {
            const char *a = str_of(it, "arguments");
            o = at_item(id, oi);
            cJSON_AddStringToObject(o, "delta", a ? a : "");
            remit(&r, "response.function_call_arguments.delta", o);
            o = at_item(id, oi);
            cJSON_AddStringToObject(o, "arguments", a ? a : "");
            remit(&r, "response.function_call_arguments.done", o);
        }
        o = at_item(NULL, oi);
        cJSON_AddItemToObject(o, "item", cJSON_Duplicate(it, true));
        remit(&r, "response.output_item.done", o);
        oi++;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response", cJSON_Duplicate(resp, true));
    remit(&r, "response.completed", o);
    return 0;
}

int rc_render_stream(const rc_hit_t *h, buf_t *out)
{
    cJSON *j = cJSON_ParseWithLength(h->body, h->len);
    int rc = -1;
    if (h->proto == RQ_PROTO_ANTHROPIC)
        rc = render_messages(j, out);
    else if (h->proto == RQ_PROTO_RESPONSES)
        rc = render_responses(j, out);
    cJSON_Delete(j);
    return rc;
}
