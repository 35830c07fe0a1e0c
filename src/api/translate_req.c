/* translate_req.c - a chat request (the IR, or a chat client's body) ->
 * an Anthropic Messages request (SPEC §4.4), plus the helpers every
 * translator shares (warnings, tool-call id rewrite, stop reasons). The
 * other directions, Anthropic Messages -> chat IR and Responses -> chat IR,
 * are translate_req_messages.c and translate_req_responses.c. */
#include "api/translate_build.h"
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
        const char *s = tr_str_of(p, "text");
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
    /* cJSON keeps the last element as child->prev: O(1), not a walk */
    cJSON *last = msgs->child ? msgs->child->prev : NULL;
    if (last && tr_str_of(last, "role") && !strcmp(tr_str_of(last, "role"), role))
        return cJSON_GetObjectItemCaseSensitive(last, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON *c = cJSON_AddArrayToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return c;
}

/* Add a tool_result block behind the tool_results that lead the user turn
 * tc (Anthropic wants them first): append it, then move the blocks that
 * were after those results behind it. Not cJSON_InsertItemInArray: the
 * distribution's cJSON 1.7.15 (with its security fixes) refuses an insert
 * after an earlier insert at 0, which lost the block and leaked it. */
static void lead_with_result(cJSON *tc, cJSON *b)
{
    cJSON *x = tc->child;
    while (x) {
        const char *xt = tr_str_of(x, "type");
        if (!xt || strcmp(xt, "tool_result")) break;
        x = x->next;
    }
    cJSON_AddItemToArray(tc, b);
    while (x && x != b) {
        cJSON *next = x->next;
        cJSON_AddItemToArray(tc, cJSON_DetachItemViaPointer(tc, x));
        x = next;
    }
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
    const char *m = model ? model : tr_str_of(in, "model");
    cJSON_AddStringToObject(o, "model", m ? m : "");
    buf_t sys = BUF_INIT;
    cJSON *om = cJSON_CreateArray();
    const cJSON *msg;
    char idb[256];
    cJSON_ArrayForEach(msg, msgs)
    {
        const char *role = tr_str_of(msg, "role");
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
                    const char *t = tr_str_of(p, "type");
                    if (t && !strcmp(t, "text")) {
                        cJSON_AddItemToArray(
                            tc, a_text_block(tr_str_of(p, "text") ? tr_str_of(p, "text") : ""));
                    } else if (t && !strcmp(t, "image_url")) {
                        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(p, "image_url");
                        const char *url =
                            cJSON_IsString(iu) ? iu->valuestring : tr_str_of(iu, "url");
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
                const char *id = tr_str_of(tcall, "id");
                tr_tool_id_anthropic(id, idb, sizeof idb);
                if (id && strcmp(id, idb)) tr_warn_add(w, "tool_call_id_rewritten");
                cJSON_AddItemToArray(ac, tr_tool_use_block(idb, fn, w));
            }
            if (!ac->child) { /* empty turn: Anthropic rejects it */
                cJSON_Delete(cJSON_DetachItemViaPointer(om, om->child->prev));
            }
        } else if (!strcmp(role, "tool") || !strcmp(role, "function")) {
            cJSON *tc = turn(om, "user");
            const char *id = tr_str_of(msg, "tool_call_id");
            tr_tool_id_anthropic(id, idb, sizeof idb);
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "tool_result");
            cJSON_AddStringToObject(b, "tool_use_id", idb);
            buf_t t = BUF_INIT;
            chat_text(c, &t);
            cJSON_AddStringToObject(b, "content", t.data ? t.data : "");
            buf_free(&t);
            lead_with_result(tc, b);
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
            cJSON_AddStringToObject(x, "name", tr_str_of(fn, "name") ? tr_str_of(fn, "name") : "");
            if (tr_str_of(fn, "description"))
                cJSON_AddStringToObject(x, "description", tr_str_of(fn, "description"));
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
        cJSON_AddStringToObject(otc, "name", tr_str_of(fn, "name") ? tr_str_of(fn, "name") : "");
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
    if (tr_str_of(in, "user")) {
        cJSON *md = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(md, "user_id", tr_str_of(in, "user"));
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
