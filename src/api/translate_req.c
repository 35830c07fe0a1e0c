/* translate_req.c - request bodies across protocols (SPEC §4.4): Anthropic
 * Messages -> chat IR, chat -> Anthropic Messages, Responses -> chat IR, plus
 * the shared helpers (warnings, tool-call id rewrite, stop reasons). */
#include "api/translate.h"
#include "core/hash.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_warn_add(tr_warn_t *w, const char *code)
{
    if (!w || !code || tr_warn_has(w, code)) return;
    size_t n = strlen(code);
    if (w->len + n + 2 >= sizeof w->list) return;
    if (w->len) w->list[w->len++] = ',';
    memcpy(w->list + w->len, code, n);
    w->len += n;
    w->list[w->len] = 0;
    w->n++;
}

bool tr_warn_has(const tr_warn_t *w, const char *code)
{
    size_t n = strlen(code);
    const char *p = w->list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, code, n) == 0) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static bool id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

bool tr_tool_id_ok_anthropic(const char *id)
{
    if (!id || !*id) return false;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (!id_char_ok(*p)) return false;
    return true;
}

void tr_tool_id_anthropic(const char *id, char *out, size_t outlen)
{
    if (!outlen) return;
    if (!id) id = "";
    if (tr_tool_id_ok_anthropic(id)) {
        snprintf(out, outlen, "%s", id);
        return;
    }
    char hex[17];
    hash_hex16(hash_xxh64(id, strlen(id), 0), hex);
    size_t n = strlen(id), k = 0;
    if (n > outlen - 11) n = outlen > 11 ? outlen - 11 : 0;
    for (size_t i = 0; i < n; i++)
        out[k++] = id_char_ok((unsigned char)id[i]) ? id[i] : '_';
    snprintf(out + k, outlen - k, "_%.8s", hex);
}

const char *tr_stop_to_finish(const char *s)
{
    if (!s) return "stop";
    if (!strcmp(s, "max_tokens") || !strcmp(s, "model_context_window_exceeded")) return "length";
    if (!strcmp(s, "tool_use")) return "tool_calls";
    if (!strcmp(s, "refusal")) return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

const char *tr_finish_to_stop(const char *f)
{
    if (!f) return "end_turn";
    if (!strcmp(f, "length")) return "max_tokens";
    if (!strcmp(f, "tool_calls") || !strcmp(f, "function_call")) return "tool_use";
    if (!strcmp(f, "content_filter")) return "refusal";
    return "end_turn";
}

static void set_err(char *err, size_t n, const char *msg)
{
    if (err && n) snprintf(err, n, "%s", msg);
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void add_dup(cJSON *dst, const char *k, const cJSON *src)
{
    if (src) cJSON_AddItemToObject(dst, k, cJSON_Duplicate(src, 1));
}

static void print_to(cJSON *root, buf_t *out)
{
    char *s = cJSON_PrintUnformatted(root);
    if (s) {
        buf_puts(out, s);
        free(s);
    }
}

/* Text of Anthropic content (string or blocks), text blocks joined. */
static void a_text(const cJSON *c, buf_t *b, tr_warn_t *w)
{
    if (cJSON_IsString(c)) {
        buf_puts(b, c->valuestring);
        return;
    }
    const cJSON *blk;
    cJSON_ArrayForEach(blk, c)
    {
        const char *t = str_of(blk, "type");
        if (cJSON_GetObjectItemCaseSensitive(blk, "cache_control"))
            tr_warn_add(w, "cache_control_dropped");
        if (t && !strcmp(t, "text") && str_of(blk, "text")) {
            if (b->len) buf_putc(b, '\n');
            buf_puts(b, str_of(blk, "text"));
        } else if (t && strcmp(t, "text")) {
            char code[80];
            snprintf(code, sizeof code, "unknown_block:%.60s", t);
            tr_warn_add(w, code);
        }
    }
}

static cJSON *image_part_from_anthropic(const cJSON *blk, tr_warn_t *w)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk, "source");
    const char *st = str_of(src, "type");
    buf_t url = BUF_INIT;
    if (st && !strcmp(st, "base64")) {
        buf_printf(&url, "data:%s;base64,%s",
                   str_of(src, "media_type") ? str_of(src, "media_type") : "image/png",
                   str_of(src, "data") ? str_of(src, "data") : "");
    } else if (st && !strcmp(st, "url") && str_of(src, "url")) {
        buf_puts(&url, str_of(src, "url"));
    } else {
        tr_warn_add(w, "image_source_dropped");
        return NULL;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
    cJSON_AddStringToObject(iu, "url", url.data);
    buf_free(&url);
    return p;
}

static const char *effort_of_budget(double b)
{
    return b <= 2048 ? "low" : b <= 8192 ? "medium" : "high";
}

int tr_req_anthropic_to_chat(const char *body, size_t len, const char *model, buf_t *out,
                             tr_warn_t *w, char *err, size_t errlen)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        set_err(err, errlen, "the request body must be a JSON object");
        return -1;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(in);
        set_err(err, errlen, "messages: field required (an array)");
        return -1;
    }
    cJSON *o = cJSON_CreateObject();
    const char *m = model ? model : str_of(in, "model");
    cJSON_AddStringToObject(o, "model", m ? m : "");
    cJSON *om = cJSON_AddArrayToObject(o, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(in, "system");
    if (sys) {
        buf_t t = BUF_INIT;
        a_text(sys, &t, w);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "role", "system");
        cJSON_AddStringToObject(s, "content", t.data ? t.data : "");
        cJSON_AddItemToArray(om, s);
        buf_free(&t);
    }
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs)
    {
        const char *role = str_of(msg, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!role) continue;
        bool asst = !strcmp(role, "assistant");
        if (cJSON_IsString(c)) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", asst ? "assistant" : "user");
            cJSON_AddStringToObject(x, "content", c->valuestring);
            cJSON_AddItemToArray(om, x);
            continue;
        }
        if (!cJSON_IsArray(c)) continue;
        cJSON *parts = cJSON_CreateArray();
        cJSON *calls = NULL;
        buf_t text = BUF_INIT;
        int n_img = 0;
        const cJSON *blk;
        cJSON_ArrayForEach(blk, c)
        {
            const char *t = str_of(blk, "type");
            if (!t) continue;
            if (cJSON_GetObjectItemCaseSensitive(blk, "cache_control"))
                tr_warn_add(w, "cache_control_dropped");
            if (!strcmp(t, "text")) {
                const char *s = str_of(blk, "text");
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "type", "text");
                cJSON_AddStringToObject(p, "text", s ? s : "");
                cJSON_AddItemToArray(parts, p);
                if (text.len) buf_putc(&text, '\n');
                buf_puts(&text, s ? s : "");
            } else if (!strcmp(t, "image") && !asst) {
                cJSON *p = image_part_from_anthropic(blk, w);
                if (p) {
                    cJSON_AddItemToArray(parts, p);
                    n_img++;
                }
            } else if (!strcmp(t, "tool_use") && asst) {
                if (!calls) calls = cJSON_CreateArray();
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddStringToObject(tc, "id", str_of(blk, "id") ? str_of(blk, "id") : "");
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(tc, "function");
                cJSON_AddStringToObject(fn, "name", str_of(blk, "name") ? str_of(blk, "name") : "");
                const cJSON *inp = cJSON_GetObjectItemCaseSensitive(blk, "input");
                char *args = inp ? cJSON_PrintUnformatted(inp) : NULL;
                cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
                free(args);
                cJSON_AddItemToArray(calls, tc);
            } else if (!strcmp(t, "tool_result") && !asst) {
                /* each result becomes a tool message, before the turn's text */
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "role", "tool");
                const char *id = str_of(blk, "tool_use_id");
                cJSON_AddStringToObject(x, "tool_call_id", id ? id : "");
                buf_t rt = BUF_INIT;
                const cJSON *rc = cJSON_GetObjectItemCaseSensitive(blk, "content");
                if (rc) a_text(rc, &rt, w);
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(blk, "is_error")))
                    tr_warn_add(w, "tool_result_is_error_as_text");
                cJSON_AddStringToObject(x, "content", rt.data ? rt.data : "");
                buf_free(&rt);
                cJSON_AddItemToArray(om, x);
            } else if (!strcmp(t, "thinking") || !strcmp(t, "redacted_thinking")) {
                tr_warn_add(w, "thinking_dropped");
            } else {
                char code[80];
                snprintf(code, sizeof code, "unknown_block:%.60s", t);
                tr_warn_add(w, code);
            }
        }
        int n_parts = cJSON_GetArraySize(parts);
        if (asst) {
            if (n_parts || calls) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "role", "assistant");
                if (n_parts)
                    cJSON_AddStringToObject(x, "content", text.data ? text.data : "");
                else
                    cJSON_AddNullToObject(x, "content");
                if (calls) cJSON_AddItemToObject(x, "tool_calls", calls);
                cJSON_AddItemToArray(om, x);
            }
            cJSON_Delete(parts);
        } else if (n_parts) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", "user");
            if (!n_img) {
                cJSON_AddStringToObject(x, "content", text.data ? text.data : "");
                cJSON_Delete(parts);
            } else {
                cJSON_AddItemToObject(x, "content", parts);
            }
            cJSON_AddItemToArray(om, x);
        } else {
            cJSON_Delete(parts);
        }
        buf_free(&text);
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(in, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools)) {
        cJSON *ot = cJSON_AddArrayToObject(o, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            const char *ty = str_of(t, "type");
            if (ty && strcmp(ty, "custom")) {
                char code[80];
                snprintf(code, sizeof code, "unknown_tool:%.60s", ty);
                tr_warn_add(w, code);
                continue;
            }
            if (cJSON_GetObjectItemCaseSensitive(t, "cache_control"))
                tr_warn_add(w, "cache_control_dropped");
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(x, "function");
            cJSON_AddStringToObject(fn, "name", str_of(t, "name") ? str_of(t, "name") : "");
            if (str_of(t, "description"))
                cJSON_AddStringToObject(fn, "description", str_of(t, "description"));
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
            if (sc)
                add_dup(fn, "parameters", sc);
            else
                cJSON_AddItemToObject(fn, "parameters", cJSON_Parse("{\"type\":\"object\"}"));
            cJSON_AddItemToArray(ot, x);
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(in, "tool_choice");
    if (cJSON_IsObject(tc)) {
        const char *ty = str_of(tc, "type");
        if (ty && !strcmp(ty, "auto"))
            cJSON_AddStringToObject(o, "tool_choice", "auto");
        else if (ty && !strcmp(ty, "any"))
            cJSON_AddStringToObject(o, "tool_choice", "required");
        else if (ty && !strcmp(ty, "none"))
            cJSON_AddStringToObject(o, "tool_choice", "none");
        else if (ty && !strcmp(ty, "tool")) {
            cJSON *x = cJSON_AddObjectToObject(o, "tool_choice");
            cJSON_AddStringToObject(x, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(x, "function");
            cJSON_AddStringToObject(fn, "name", str_of(tc, "name") ? str_of(tc, "name") : "");
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use")))
            cJSON_AddFalseToObject(o, "parallel_tool_calls");
    }
    add_dup(o, "max_tokens", cJSON_GetObjectItemCaseSensitive(in, "max_tokens"));
    add_dup(o, "stop", cJSON_GetObjectItemCaseSensitive(in, "stop_sequences"));
    add_dup(o, "temperature", cJSON_GetObjectItemCaseSensitive(in, "temperature"));
    add_dup(o, "top_p", cJSON_GetObjectItemCaseSensitive(in, "top_p"));
    if (cJSON_GetObjectItemCaseSensitive(in, "top_k")) tr_warn_add(w, "top_k_dropped");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(in, "thinking");
    if (cJSON_IsObject(th) && str_of(th, "type") && !strcmp(str_of(th, "type"), "enabled")) {
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(th, "budget_tokens");
        cJSON_AddStringToObject(o, "reasoning_effort",
                                effort_of_budget(cJSON_IsNumber(bt) ? bt->valuedouble : 4096));
        tr_warn_add(w, "thinking_budget_as_reasoning_effort");
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(in, "metadata");
    if (str_of(md, "user_id")) cJSON_AddStringToObject(o, "user", str_of(md, "user_id"));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "stream"))) {
        cJSON_AddTrueToObject(o, "stream");
        cJSON *so = cJSON_AddObjectToObject(o, "stream_options");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    print_to(o, out);
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

/* ------------------------------------------------------ chat -> anthropic */

static void chat_text(const cJSON *c, buf_t *b)
{
    if (cJSON_IsString(c)) {
        buf_puts(b, c->valuestring);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, c)
    {
        const char *s = str_of(p, "text");
        if (s) {
            if (b->len) buf_putc(b, '\n');
            buf_puts(b, s);
        }
    }
}

static cJSON *a_text_block(const char *s)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", s);
    return b;
}

static cJSON *a_image_block(const char *url, tr_warn_t *w)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "image");
    cJSON *src = cJSON_AddObjectToObject(b, "source");
    if (!strncmp(url, "data:", 5)) {
        const char *semi = strchr(url, ';'), *comma = strchr(url, ',');
        if (!semi || !comma || comma < semi) {
            cJSON_Delete(b);
            tr_warn_add(w, "image_dropped");
            return NULL;
        }
        char mt[64];
        snprintf(mt, sizeof mt, "%.*s", (int)(semi - url - 5), url + 5);
        cJSON_AddStringToObject(src, "type", "base64");
        cJSON_AddStringToObject(src, "media_type", mt);
        cJSON_AddStringToObject(src, "data", comma + 1);
    } else {
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    }
    return b;
}

/* Append blocks to the last message if it has role, else start a turn. */
static cJSON *turn(cJSON *msgs, const char *role)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    if (last && str_of(last, "role") && !strcmp(str_of(last, "role"), role))
        return cJSON_GetObjectItemCaseSensitive(last, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON *c = cJSON_AddArrayToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return c;
}

int tr_req_chat_to_anthropic(const char *body, size_t len, const char *model, buf_t *out,
                             tr_warn_t *w, char *err, size_t errlen)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(in);
        set_err(err, errlen, "messages: field required (an array)");
        return -1;
    }
    cJSON *o = cJSON_CreateObject();
    const char *m = model ? model : str_of(in, "model");
    cJSON_AddStringToObject(o, "model", m ? m : "");
    buf_t sys = BUF_INIT;
    cJSON *om = cJSON_CreateArray();
    const cJSON *msg;
    char idb[256];
    cJSON_ArrayForEach(msg, msgs)
    {
        const char *role = str_of(msg, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!role) continue;
        if (!strcmp(role, "system") || !strcmp(role, "developer")) {
            if (sys.len) buf_puts(&sys, "\n\n");
            chat_text(c, &sys);
        } else if (!strcmp(role, "user")) {
            cJSON *tc = turn(om, "user");
            if (cJSON_IsString(c)) {
                cJSON_AddItemToArray(tc, a_text_block(c->valuestring));
            } else if (cJSON_IsArray(c)) {
                const cJSON *p;
                cJSON_ArrayForEach(p, c)
                {
                    const char *t = str_of(p, "type");
                    if (t && !strcmp(t, "text")) {
                        cJSON_AddItemToArray(
                            tc, a_text_block(str_of(p, "text") ? str_of(p, "text") : ""));
                    } else if (t && !strcmp(t, "image_url")) {
                        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(p, "image_url");
                        const char *url = cJSON_IsString(iu) ? iu->valuestring : str_of(iu, "url");
                        cJSON *b = url ? a_image_block(url, w) : NULL;
                        if (b) cJSON_AddItemToArray(tc, b);
                    } else {
                        char code[80];
                        snprintf(code, sizeof code, "unknown_part:%.60s", t ? t : "?");
                        tr_warn_add(w, code);
                    }
                }
            }
        } else if (!strcmp(role, "assistant")) {
            cJSON *ac = turn(om, "assistant");
            buf_t t = BUF_INIT;
            if (c) chat_text(c, &t);
            if (t.len) cJSON_AddItemToArray(ac, a_text_block(t.data));
            buf_free(&t);
            if (cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content") ||
                cJSON_GetObjectItemCaseSensitive(msg, "reasoning_details"))
                tr_warn_add(w, "reasoning_dropped");
            const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), *tcall;
            cJSON_ArrayForEach(tcall, calls)
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tcall, "function");
                const char *id = str_of(tcall, "id");
                tr_tool_id_anthropic(id, idb, sizeof idb);
                if (id && strcmp(id, idb)) tr_warn_add(w, "tool_call_id_rewritten");
                cJSON *b = cJSON_CreateObject();
                cJSON_AddStringToObject(b, "type", "tool_use");
                cJSON_AddStringToObject(b, "id", idb);
                cJSON_AddStringToObject(b, "name", str_of(fn, "name") ? str_of(fn, "name") : "");
                const char *args = str_of(fn, "arguments");
                cJSON *inp = args && *args ? cJSON_Parse(args) : cJSON_CreateObject();
                if (!cJSON_IsObject(inp)) {
                    cJSON_Delete(inp);
                    inp = cJSON_CreateObject();
                    tr_warn_add(w, "tool_arguments_not_an_object");
                }
                cJSON_AddItemToObject(b, "input", inp);
                cJSON_AddItemToArray(ac, b);
            }
            if (!cJSON_GetArraySize(ac)) { /* empty turn: Anthropic rejects it */
                cJSON_DeleteItemFromArray(om, cJSON_GetArraySize(om) - 1);
            }
        } else if (!strcmp(role, "tool") || !strcmp(role, "function")) {
            cJSON *tc = turn(om, "user");
            const char *id = str_of(msg, "tool_call_id");
            tr_tool_id_anthropic(id, idb, sizeof idb);
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "tool_result");
            cJSON_AddStringToObject(b, "tool_use_id", idb);
            buf_t t = BUF_INIT;
            chat_text(c, &t);
            cJSON_AddStringToObject(b, "content", t.data ? t.data : "");
            buf_free(&t);
            /* tool results must lead the user turn */
            int k = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, tc)
            {
                const char *xt = str_of(x, "type");
                if (!xt || strcmp(xt, "tool_result")) break;
                k++;
            }
            cJSON_InsertItemInArray(tc, k, b);
        } else {
            char code[80];
            snprintf(code, sizeof code, "unknown_role:%.60s", role);
            tr_warn_add(w, code);
        }
    }
    if (sys.len) cJSON_AddStringToObject(o, "system", sys.data);
    buf_free(&sys);
    cJSON_AddItemToObject(o, "messages", om);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(in, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = cJSON_GetObjectItemCaseSensitive(in, "max_tokens");
    cJSON_AddNumberToObject(o, "max_tokens", cJSON_IsNumber(mt) ? mt->valuedouble : 4096);
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(in, "stop");
    if (cJSON_IsString(stop)) {
        cJSON *a = cJSON_AddArrayToObject(o, "stop_sequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop)) {
        add_dup(o, "stop_sequences", stop);
    }
    const cJSON *temp = cJSON_GetObjectItemCaseSensitive(in, "temperature");
    if (cJSON_IsNumber(temp)) {
        double t = temp->valuedouble;
        if (t > 1) {
            t = 1;
            tr_warn_add(w, "temperature_clamped");
        }
        cJSON_AddNumberToObject(o, "temperature", t);
    }
    add_dup(o, "top_p", cJSON_GetObjectItemCaseSensitive(in, "top_p"));
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(in, "tools"), *t;
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools)) {
        cJSON *ot = cJSON_AddArrayToObject(o, "tools");
        cJSON_ArrayForEach(t, tools)
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            if (!fn) {
                tr_warn_add(w, "unknown_tool");
                continue;
            }
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", str_of(fn, "name") ? str_of(fn, "name") : "");
            if (str_of(fn, "description"))
                cJSON_AddStringToObject(x, "description", str_of(fn, "description"));
            const cJSON *pa = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
            if (pa)
                add_dup(x, "input_schema", pa);
            else
                cJSON_AddItemToObject(x, "input_schema", cJSON_Parse("{\"type\":\"object\"}"));
            cJSON_AddItemToArray(ot, x);
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(in, "tool_choice");
    cJSON *otc = NULL;
    if (cJSON_IsString(tc)) {
        otc = cJSON_CreateObject();
        const char *s = tc->valuestring;
        cJSON_AddStringToObject(otc, "type",
                                !strcmp(s, "required") ? "any"
                                : !strcmp(s, "none")   ? "none"
                                                       : "auto");
    } else if (cJSON_IsObject(tc)) {
        otc = cJSON_CreateObject();
        cJSON_AddStringToObject(otc, "type", "tool");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        cJSON_AddStringToObject(otc, "name", str_of(fn, "name") ? str_of(fn, "name") : "");
    }
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(in, "parallel_tool_calls"))) {
        if (!otc) {
            otc = cJSON_CreateObject();
            cJSON_AddStringToObject(otc, "type", "auto");
        }
        cJSON_AddTrueToObject(otc, "disable_parallel_tool_use");
    }
    if (otc) {
        if (cJSON_GetObjectItemCaseSensitive(o, "tools"))
            cJSON_AddItemToObject(o, "tool_choice", otc);
        else
            cJSON_Delete(otc);
    }
    if (str_of(in, "user")) {
        cJSON *md = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(md, "user_id", str_of(in, "user"));
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "stream")))
        cJSON_AddTrueToObject(o, "stream");
    static const char *const lossy[] = {
        "response_format",  "logprobs",   "top_logprobs",     "seed", "frequency_penalty",
        "presence_penalty", "logit_bias", "reasoning_effort", "n",    "audio",
        "modalities",       NULL};
    for (int i = 0; lossy[i]; i++)
        if (cJSON_GetObjectItemCaseSensitive(in, lossy[i])) {
            char code[80];
            snprintf(code, sizeof code, "%s_dropped", lossy[i]);
            tr_warn_add(w, code);
        }
    print_to(o, out);
    cJSON_Delete(o);
    cJSON_Delete(in);
    return 0;
}

/* ---------------------------------------------------- responses -> chat */

static cJSON *last_assistant(cJSON *msgs)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    if (last && str_of(last, "role") && !strcmp(str_of(last, "role"), "assistant")) return last;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddNullToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return m;
}

static void r_message(const cJSON *it, cJSON *msgs, tr_warn_t *w)
{
    const char *role = str_of(it, "role");
    if (!role) role = "user";
    if (!strcmp(role, "developer")) role = "system";
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    if (cJSON_IsString(c)) {
        cJSON_AddStringToObject(m, "content", c->valuestring);
    } else {
        cJSON *parts = cJSON_CreateArray();
        buf_t text = BUF_INIT;
        int n_img = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, c)
        {
            const char *t = str_of(p, "type");
            if (!t) continue;
            if (!strcmp(t, "input_text") || !strcmp(t, "output_text") || !strcmp(t, "text") ||
                !strcmp(t, "refusal")) {
                const char *s = str_of(p, "text") ? str_of(p, "text") : str_of(p, "refusal");
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "type", "text");
                cJSON_AddStringToObject(x, "text", s ? s : "");
                cJSON_AddItemToArray(parts, x);
                if (text.len) buf_putc(&text, '\n');
                buf_puts(&text, s ? s : "");
            } else if (!strcmp(t, "input_image") && str_of(p, "image_url")) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "type", "image_url");
                cJSON *iu = cJSON_AddObjectToObject(x, "image_url");
                cJSON_AddStringToObject(iu, "url", str_of(p, "image_url"));
                cJSON_AddItemToArray(parts, x);
                n_img++;
            } else {
                char code[80];
                snprintf(code, sizeof code, "unknown_part:%.60s", t);
                tr_warn_add(w, code);
            }
        }
        if (n_img && strcmp(role, "assistant")) {
            cJSON_AddItemToObject(m, "content", parts);
        } else {
            cJSON_AddStringToObject(m, "content", text.data ? text.data : "");
            cJSON_Delete(parts);
        }
        buf_free(&text);
    }
    cJSON_AddItemToArray(msgs, m);
}

void tr_items_to_messages(const cJSON *items, cJSON *msgs, tr_warn_t *w)
{
    if (cJSON_IsString(items)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", items->valuestring);
        cJSON_AddItemToArray(msgs, m);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *t = str_of(it, "type");
        if (!t || !strcmp(t, "message")) {
            r_message(it, msgs, w);
        } else if (!strcmp(t, "function_call")) {
            cJSON *a = last_assistant(msgs);
            cJSON *calls = cJSON_GetObjectItemCaseSensitive(a, "tool_calls");
            if (!calls) calls = cJSON_AddArrayToObject(a, "tool_calls");
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", str_of(it, "call_id") ? str_of(it, "call_id") : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(fn, "name", str_of(it, "name") ? str_of(it, "name") : "");
            cJSON_AddStringToObject(fn, "arguments",
                                    str_of(it, "arguments") ? str_of(it, "arguments") : "{}");
            cJSON_AddItemToArray(calls, tc);
        } else if (!strcmp(t, "function_call_output")) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "tool");
            cJSON_AddStringToObject(m, "tool_call_id",
                                    str_of(it, "call_id") ? str_of(it, "call_id") : "");
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, "output");
            if (cJSON_IsString(o)) {
                cJSON_AddStringToObject(m, "content", o->valuestring);
            } else {
                buf_t tx = BUF_INIT;
                chat_text(o, &tx);
                cJSON_AddStringToObject(m, "content", tx.data ? tx.data : "");
                buf_free(&tx);
            }
            cJSON_AddItemToArray(msgs, m);
        } else if (!strcmp(t, "reasoning")) {
            tr_warn_add(w, "reasoning_dropped");
        } else {
            char code[80];
            snprintf(code, sizeof code, "unknown_item:%.60s", t);
            tr_warn_add(w, code);
        }
    }
}

int tr_req_responses_to_chat(const cJSON *req, const cJSON *history, const char *instructions,
                             const char *model, buf_t *out, tr_warn_t *w, char *err, size_t errlen)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    if (input && !cJSON_IsString(input) && !cJSON_IsArray(input)) {
        set_err(err, errlen, "input must be a string or an array of items");
        return -1;
    }
    cJSON *o = cJSON_CreateObject();
    const char *m = model ? model : str_of(req, "model");
    cJSON_AddStringToObject(o, "model", m ? m : "");
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    if (instructions && *instructions) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "role", "system");
        cJSON_AddStringToObject(s, "content", instructions);
        cJSON_AddItemToArray(msgs, s);
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, history) cJSON_AddItemToArray(msgs, cJSON_Duplicate(h, 1));
    if (input) tr_items_to_messages(input, msgs, w);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools"), *t;
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools)) {
        cJSON *ot = cJSON_CreateArray();
        cJSON_ArrayForEach(t, tools)
        {
            const char *ty = str_of(t, "type");
            if (!ty || strcmp(ty, "function")) {
                char code[80];
                snprintf(code, sizeof code, "unknown_tool:%.60s", ty ? ty : "?");
                tr_warn_add(w, code);
                continue;
            }
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(x, "function");
            cJSON_AddStringToObject(fn, "name", str_of(t, "name") ? str_of(t, "name") : "");
            if (str_of(t, "description"))
                cJSON_AddStringToObject(fn, "description", str_of(t, "description"));
            add_dup(fn, "parameters", cJSON_GetObjectItemCaseSensitive(t, "parameters"));
            add_dup(fn, "strict", cJSON_GetObjectItemCaseSensitive(t, "strict"));
            cJSON_AddItemToArray(ot, x);
        }
        if (cJSON_GetArraySize(ot))
            cJSON_AddItemToObject(o, "tools", ot);
        else
            cJSON_Delete(ot);
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    if (cJSON_IsString(tc)) {
        add_dup(o, "tool_choice", tc);
    } else if (cJSON_IsObject(tc) && str_of(tc, "name")) {
        cJSON *x = cJSON_AddObjectToObject(o, "tool_choice");
        cJSON_AddStringToObject(x, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(x, "function");
        cJSON_AddStringToObject(fn, "name", str_of(tc, "name"));
    }
    add_dup(o, "max_tokens", cJSON_GetObjectItemCaseSensitive(req, "max_output_tokens"));
    add_dup(o, "temperature", cJSON_GetObjectItemCaseSensitive(req, "temperature"));
    add_dup(o, "top_p", cJSON_GetObjectItemCaseSensitive(req, "top_p"));
    add_dup(o, "parallel_tool_calls", cJSON_GetObjectItemCaseSensitive(req, "parallel_tool_calls"));
    add_dup(o, "user", cJSON_GetObjectItemCaseSensitive(req, "user"));
    add_dup(o, "prompt_cache_key", cJSON_GetObjectItemCaseSensitive(req, "prompt_cache_key"));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(req, "reasoning");
    if (str_of(rs, "effort")) cJSON_AddStringToObject(o, "reasoning_effort", str_of(rs, "effort"));
    const cJSON *tx = cJSON_GetObjectItemCaseSensitive(req, "text");
    if (cJSON_GetObjectItemCaseSensitive(tx, "format")) tr_warn_add(w, "text_format_dropped");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"))) {
        cJSON_AddTrueToObject(o, "stream");
        cJSON *so = cJSON_AddObjectToObject(o, "stream_options");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    print_to(o, out);
    cJSON_Delete(o);
    return 0;
}
