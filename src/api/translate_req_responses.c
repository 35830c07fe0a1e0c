/* translate_req_responses.c - a Responses API request -> the chat IR (SPEC
 * §4.4, §4.5): instructions, the expanded stored chain, then the request's
 * input items, written straight from the client's spans (translate_span.h),
 * so the IR costs about the body's size whatever the number of items. Also
 * tr_items_to_messages, the same item translation for the stored turns of a
 * chain (response_store.c). The shape is checked on the way: every input
 * item is an object, a message's role is user, assistant, system or
 * developer and its content a string or an array of parts (objects). */
#include "api/translate_span.h"
#include <stdlib.h>

typedef struct r_out {
    buf_t *out;
    bool first; /* no message written yet */
    /* the last message when it is an assistant one: function_call items
     * join it as tool calls until another message is written */
    bool open;
    buf_t head;  /* "role":"assistant","content":... */
    buf_t calls; /* tool call objects, comma-separated */
    int n_calls;
} r_out_t;

static void r_flush(r_out_t *o)
{
    if (!o->open) return;
    if (!o->first) buf_putc(o->out, ',');
    o->first = false;
    buf_putc(o->out, '{');
    buf_append(o->out, o->head.data, o->head.len);
    if (o->n_calls) {
        buf_puts(o->out, ",\"tool_calls\":[");
        buf_append(o->out, o->calls.data, o->calls.len);
        buf_putc(o->out, ']');
    }
    buf_putc(o->out, '}');
    o->open = false;
    o->head.len = o->calls.len = 0;
    o->n_calls = 0;
}

/* Start a message that is not an open assistant one. */
static void r_begin(r_out_t *o)
{
    r_flush(o);
    if (!o->first) buf_putc(o->out, ',');
    o->first = false;
}

/* Texts of content (a string, or the "text" of each part) into a join. */
static void chat_text(const char *b, jspan_t c, buf_t *j)
{
    if (jscan_type(b, c) == '"') {
        trs_join(j, b, c);
        return;
    }
    if (jscan_type(b, c) != '[') return;
    uint32_t cur = 0;
    jspan_t p, s;
    while (jscan_arr_next(b, c, &cur, &p))
        if (trs_str(b, p, "text", &s)) trs_join(j, b, s);
}

static int r_message(r_out_t *o, const char *b, jspan_t it, uint32_t ii, tr_warn_t *w, char *err,
                     size_t errlen)
{
    static const char *const roles[] = {"user", "assistant", "system", "developer"};
    const char *role = "user";
    jspan_t rv, c;
    if (trs_get(b, it, "role", &rv)) {
        role = NULL;
        for (size_t k = 0; k < 4 && !role; k++)
            if (jscan_str_eq(b, rv, roles[k])) role = roles[k];
        if (!role)
            return trs_fail(err, errlen,
                            "input.%u.role: must be \"user\", \"assistant\", \"system\" or "
                            "\"developer\"",
                            ii);
    }
    if (!strcmp(role, "developer")) role = "system";
    bool asst = !strcmp(role, "assistant");
    char ct = trs_get(b, it, "content", &c) ? jscan_type(b, c) : 0;
    if (ct != '"' && ct != '[')
        return trs_fail(err, errlen, "input.%u.content: must be a string or an array of parts", ii);
    buf_t text = BUF_INIT, parts = BUF_INIT;
    int n_parts = 0, n_img = 0;
    if (ct == '[') {
        uint32_t cur = 0, k = 0;
        jspan_t p, t, s;
        for (; jscan_arr_next(b, c, &cur, &p); k++) {
            if (jscan_type(b, p) != '{') {
                buf_free(&text);
                buf_free(&parts);
                return trs_fail(err, errlen, "input.%u.content.%u: must be an object", ii, k);
            }
            if (!trs_str(b, p, "type", &t)) continue;
            if (jscan_str_eq(b, t, "input_text") || jscan_str_eq(b, t, "output_text") ||
                jscan_str_eq(b, t, "text") || jscan_str_eq(b, t, "refusal")) {
                bool has = trs_str(b, p, "text", &s) || trs_str(b, p, "refusal", &s);
                if (n_parts++) buf_putc(&parts, ',');
                buf_puts(&parts, "{\"type\":\"text\",\"text\":");
                if (has) {
                    trs_raw(&parts, b, s);
                    trs_join(&text, b, s);
                } else {
                    buf_puts(&parts, "\"\"");
                }
                buf_putc(&parts, '}');
            } else if (jscan_str_eq(b, t, "input_image") && trs_str(b, p, "image_url", &s)) {
                if (n_parts++) buf_putc(&parts, ',');
                buf_puts(&parts, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
                trs_raw(&parts, b, s);
                buf_puts(&parts, "}}");
                n_img++;
            } else {
                trs_warn_named(w, "unknown_part:", b, t);
            }
        }
    }
    buf_t *dst;
    if (asst) {
        r_flush(o);
        o->open = true;
        dst = &o->head;
        buf_puts(dst, "\"role\":\"assistant\",\"content\":");
    } else {
        r_begin(o);
        dst = o->out;
        buf_printf(dst, "{\"role\":\"%s\",\"content\":", role);
    }
    if (ct == '"')
        trs_raw(dst, b, c);
    else if (n_img && !asst) {
        buf_putc(dst, '[');
        buf_append(dst, parts.data, parts.len);
        buf_putc(dst, ']');
    } else
        trs_put_join(dst, &text);
    if (!asst) buf_putc(dst, '}');
    buf_free(&text);
    buf_free(&parts);
    return 0;
}

/* Write the chat messages of Responses input (a string or an items array),
 * comma-separated, into o. */
static int r_items(r_out_t *o, const char *b, jspan_t input, tr_warn_t *w, char *err, size_t errlen)
{
    if (jscan_type(b, input) == '"') {
        r_begin(o);
        buf_puts(o->out, "{\"role\":\"user\",\"content\":");
        trs_raw(o->out, b, input);
        buf_putc(o->out, '}');
        return 0;
    }
    uint32_t cur = 0, i = 0;
    jspan_t it, t, v;
    for (; jscan_arr_next(b, input, &cur, &it); i++) {
        if (jscan_type(b, it) != '{')
            return trs_fail(err, errlen, "input.%u: must be an object", i);
        bool typed = trs_get(b, it, "type", &t);
        if (typed && jscan_type(b, t) != '"')
            return trs_fail(err, errlen, "input.%u.type: must be a string", i);
        if (!typed || jscan_str_eq(b, t, "message")) {
            if (r_message(o, b, it, i, w, err, errlen)) return -1;
        } else if (jscan_str_eq(b, t, "function_call")) {
            if (!o->open) {
                r_flush(o);
                o->open = true;
                buf_puts(&o->head, "\"role\":\"assistant\",\"content\":null");
            }
            if (o->n_calls++) buf_putc(&o->calls, ',');
            buf_puts(&o->calls, "{\"id\":");
            trs_str_or(&o->calls, b, it, "call_id", "");
            buf_puts(&o->calls, ",\"type\":\"function\",\"function\":{\"name\":");
            trs_str_or(&o->calls, b, it, "name", "");
            buf_puts(&o->calls, ",\"arguments\":");
            trs_str_or(&o->calls, b, it, "arguments", "{}");
            buf_puts(&o->calls, "}}");
        } else if (jscan_str_eq(b, t, "function_call_output")) {
            r_begin(o);
            buf_puts(o->out, "{\"role\":\"tool\",\"tool_call_id\":");
            trs_str_or(o->out, b, it, "call_id", "");
            buf_puts(o->out, ",\"content\":");
            if (trs_str(b, it, "output", &v)) {
                trs_raw(o->out, b, v);
            } else {
                buf_t j = BUF_INIT;
                if (trs_get(b, it, "output", &v)) chat_text(b, v, &j);
                trs_put_join(o->out, &j);
                buf_free(&j);
            }
            buf_putc(o->out, '}');
        } else if (jscan_str_eq(b, t, "reasoning")) {
            tr_warn_add(w, "reasoning_dropped");
        } else {
            trs_warn_named(w, "unknown_item:", b, t);
        }
    }
    return 0;
}

static void r_out_free(r_out_t *o)
{
    buf_free(&o->head);
    buf_free(&o->calls);
}

void tr_items_to_messages(const cJSON *items, cJSON *msgs, tr_warn_t *w)
{
    char *txt = cJSON_PrintUnformatted(items);
    if (!txt) return;
    size_t n = strlen(txt);
    jspan_t in = {0, (uint32_t)n};
    buf_t out = BUF_INIT;
    r_out_t o = {.out = &out, .first = true};
    buf_putc(&out, '[');
    char err[64];
    if (r_items(&o, txt, in, w, err, sizeof err) == 0) {
        r_flush(&o);
        buf_putc(&out, ']');
        cJSON *arr = cJSON_ParseWithLength(out.data, out.len);
        cJSON *m;
        while (arr && (m = cJSON_DetachItemFromArray(arr, 0)))
            cJSON_AddItemToArray(msgs, m);
        cJSON_Delete(arr);
    }
    r_out_free(&o);
    buf_free(&out);
    free(txt);
}

static void r_tools(buf_t *out, const char *b, jspan_t tl, tr_warn_t *w)
{
    jspan_t t, ty;
    if (jscan_type(b, tl) != '[') return;
    uint32_t cur = 0;
    int n = 0;
    while (jscan_arr_next(b, tl, &cur, &t)) {
        if (!trs_str(b, t, "type", &ty) || !jscan_str_eq(b, ty, "function")) {
            if (trs_str(b, t, "type", &ty))
                trs_warn_named(w, "unknown_tool:", b, ty);
            else
                tr_warn_add(w, "unknown_tool:?");
            continue;
        }
        trs_chat_tool_head(out, b, t, &n);
        trs_copy(out, b, t, "parameters", "parameters");
        trs_copy(out, b, t, "strict", "strict");
        buf_puts(out, "}}");
    }
    if (n) buf_putc(out, ']');
}

int tr_req_responses_to_chat(const char *body, size_t len, const cJSON *history,
                             const char *instructions, const char *model, buf_t *out, tr_warn_t *w,
                             char *err, size_t errlen)
{
    static const char *const keys[] = {"model",
                                       "input",
                                       "tools",
                                       "tool_choice",
                                       "max_output_tokens",
                                       "temperature",
                                       "top_p",
                                       "parallel_tool_calls",
                                       "user",
                                       "prompt_cache_key",
                                       "reasoning",
                                       "text",
                                       "stream",
                                       NULL};
    enum {
        MODEL,
        INPUT,
        TOOLS,
        TOOL_CHOICE,
        MAX_OUT,
        TEMP,
        TOP_P,
        PARALLEL,
        USER,
        PCK,
        REASONING,
        TEXT,
        STREAM,
        N_KEYS
    };
    const char *b = body;
    jspan_t k[N_KEYS], v;
    if (trs_open(b, len, keys, k, err, errlen) != 0) return -1;
    jspan_t input = k[INPUT];
    if (input.len && jscan_type(b, input) != '"' && jscan_type(b, input) != '[')
        return trs_fail(err, errlen, "input must be a string or an array of items");
    size_t mark = out->len;
    trs_chat_head(out, b, model, k[MODEL]);
    r_out_t o = {.out = out, .first = true};
    if (instructions && *instructions) {
        r_begin(&o);
        buf_puts(out, "{\"role\":\"system\",\"content\":");
        buf_json_str(out, instructions, strlen(instructions));
        buf_putc(out, '}');
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, history)
    {
        char *s = cJSON_PrintUnformatted(h);
        if (!s) continue;
        r_begin(&o);
        buf_puts(out, s);
        free(s);
    }
    if (input.len && r_items(&o, b, input, w, err, errlen) != 0) {
        r_out_free(&o);
        return trs_rollback(out, mark);
    }
    r_flush(&o);
    r_out_free(&o);
    buf_putc(out, ']');
    r_tools(out, b, k[TOOLS], w);
    v = k[TOOL_CHOICE];
    if (v.len) {
        jspan_t name;
        if (jscan_type(b, v) == '"') {
            buf_puts(out, ",\"tool_choice\":");
            trs_raw(out, b, v);
        } else if (trs_str(b, v, "name", &name)) {
            buf_puts(out, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":");
            trs_raw(out, b, name);
            buf_puts(out, "}}");
        }
    }
    trs_copy_v(out, b, k[MAX_OUT], "max_tokens");
    trs_copy_v(out, b, k[TEMP], "temperature");
    trs_copy_v(out, b, k[TOP_P], "top_p");
    trs_copy_v(out, b, k[PARALLEL], "parallel_tool_calls");
    trs_copy_v(out, b, k[USER], "user");
    trs_copy_v(out, b, k[PCK], "prompt_cache_key");
    if (trs_str(b, k[REASONING], "effort", &v)) {
        buf_puts(out, ",\"reasoning_effort\":");
        trs_raw(out, b, v);
    }
    if (trs_has(b, k[TEXT], "format")) tr_warn_add(w, "text_format_dropped");
    trs_chat_tail(out, b, k[STREAM]);
    return 0;
}
