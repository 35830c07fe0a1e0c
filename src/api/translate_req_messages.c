/* translate_req_messages.c - an Anthropic Messages request -> the chat IR
 * (SPEC §4.4), written straight from the client's spans (translate_span.h):
 * no tree, so the IR costs about the body's size whatever the number of
 * messages. The shape is checked on the way, so a body Anthropic would
 * refuse is refused here too (400 in the Anthropic shape): every message is
 * an object with role "user" or "assistant" and content that is a string
 * or an array of blocks, each block an object with a string "type". */
#include "api/translate_span.h"

static const char *effort_of_budget(double b)
{
    return b <= 2048 ? "low" : b <= 8192 ? "medium" : "high";
}

/* Text of Anthropic content (a string, or text blocks joined) into a join. */
static void a_text(const char *b, jspan_t c, buf_t *j, tr_warn_t *w)
{
    if (jscan_type(b, c) == '"') {
        trs_join(j, b, c);
        return;
    }
    if (jscan_type(b, c) != '[') return;
    uint32_t cur = 0;
    jspan_t blk, t, s;
    while (jscan_arr_next(b, c, &cur, &blk)) {
        if (trs_has(b, blk, "cache_control")) tr_warn_add(w, "cache_control_dropped");
        if (!trs_str(b, blk, "type", &t)) continue;
        if (jscan_str_eq(b, t, "text")) {
            if (trs_str(b, blk, "text", &s)) trs_join(j, b, s);
        } else {
            trs_warn_named(w, "unknown_block:", b, t);
        }
    }
}

/* An image block as a chat image_url part; false (and a warning) when its
 * source cannot be carried. */
static bool image_part(buf_t *out, const char *b, jspan_t blk, tr_warn_t *w)
{
    jspan_t src, v;
    if (!trs_get(b, blk, "source", &src)) src = (jspan_t){0, 0};
    if (trs_str_is(b, src, "type", "base64")) {
        buf_puts(out, "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:");
        if (trs_str(b, src, "media_type", &v))
            buf_append(out, b + v.off + 1, v.len - 2);
        else
            buf_puts(out, "image/png");
        buf_puts(out, ";base64,");
        if (trs_str(b, src, "data", &v)) buf_append(out, b + v.off + 1, v.len - 2);
        buf_puts(out, "\"}}");
        return true;
    }
    if (trs_str_is(b, src, "type", "url") && trs_str(b, src, "url", &v)) {
        buf_puts(out, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
        trs_raw(out, b, v);
        buf_puts(out, "}}");
        return true;
    }
    tr_warn_add(w, "image_source_dropped");
    return false;
}

typedef struct msg_out {
    buf_t *out;
    bool first; /* no message written yet */
} msg_out_t;

static void msg_sep(msg_out_t *mo)
{
    if (!mo->first) buf_putc(mo->out, ',');
    mo->first = false;
}

/* One message whose content is an array of blocks: tool results become tool
 * messages first, then the turn's text (or parts, with images) and calls. */
static int blocks(msg_out_t *mo, const char *b, jspan_t c, bool asst, uint32_t mi, tr_warn_t *w,
                  char *err, size_t errlen)
{
    buf_t text = BUF_INIT, parts = BUF_INIT, calls = BUF_INIT;
    int n_parts = 0, n_img = 0, n_calls = 0, rc = 0;
    uint32_t cur = 0, k = 0;
    jspan_t blk, t, v;
    for (; jscan_arr_next(b, c, &cur, &blk); k++) {
        if (!trs_str(b, blk, "type", &t)) {
            rc =
                trs_fail(err, errlen,
                         "messages.%u.content.%u: must be an object with a string \"type\"", mi, k);
            break;
        }
        if (trs_has(b, blk, "cache_control")) tr_warn_add(w, "cache_control_dropped");
        if (jscan_str_eq(b, t, "text")) {
            if (n_parts++) buf_putc(&parts, ',');
            buf_puts(&parts, "{\"type\":\"text\",\"text\":");
            if (trs_str(b, blk, "text", &v)) {
                trs_raw(&parts, b, v);
                trs_join(&text, b, v);
            } else {
                buf_puts(&parts, "\"\"");
            }
            buf_putc(&parts, '}');
        } else if (jscan_str_eq(b, t, "image") && !asst) {
            size_t mark = parts.len;
            if (n_parts) buf_putc(&parts, ',');
            if (image_part(&parts, b, blk, w)) {
                n_parts++;
                n_img++;
            } else {
                parts.len = mark;
            }
        } else if (jscan_str_eq(b, t, "tool_use") && asst) {
            if (n_calls++) buf_putc(&calls, ',');
            buf_puts(&calls, "{\"id\":");
            trs_str_or(&calls, b, blk, "id", "");
            buf_puts(&calls, ",\"type\":\"function\",\"function\":{\"name\":");
            trs_str_or(&calls, b, blk, "name", "");
            buf_puts(&calls, ",\"arguments\":");
            if (trs_get(b, blk, "input", &v))
                buf_json_str(&calls, b + v.off, v.len);
            else
                buf_puts(&calls, "\"{}\"");
            buf_puts(&calls, "}}");
        } else if (jscan_str_eq(b, t, "tool_result") && !asst) {
            buf_t rt = BUF_INIT;
            if (trs_get(b, blk, "content", &v)) a_text(b, v, &rt, w);
            if (trs_is_true(b, blk, "is_error")) tr_warn_add(w, "tool_result_is_error_as_text");
            msg_sep(mo);
            buf_puts(mo->out, "{\"role\":\"tool\",\"tool_call_id\":");
            trs_str_or(mo->out, b, blk, "tool_use_id", "");
            buf_puts(mo->out, ",\"content\":");
            trs_put_join(mo->out, &rt);
            buf_putc(mo->out, '}');
            buf_free(&rt);
        } else if (jscan_str_eq(b, t, "thinking") || jscan_str_eq(b, t, "redacted_thinking")) {
            tr_warn_add(w, "thinking_dropped");
        } else {
            trs_warn_named(w, "unknown_block:", b, t);
        }
    }
    if (rc == 0 && asst && (n_parts || n_calls)) {
        msg_sep(mo);
        buf_puts(mo->out, "{\"role\":\"assistant\",\"content\":");
        if (n_parts)
            trs_put_join(mo->out, &text);
        else
            buf_puts(mo->out, "null");
        if (n_calls) {
            buf_puts(mo->out, ",\"tool_calls\":[");
            buf_append(mo->out, calls.data, calls.len);
            buf_putc(mo->out, ']');
        }
        buf_putc(mo->out, '}');
    } else if (rc == 0 && !asst && n_parts) {
        msg_sep(mo);
        buf_puts(mo->out, "{\"role\":\"user\",\"content\":");
        if (n_img) {
            buf_putc(mo->out, '[');
            buf_append(mo->out, parts.data, parts.len);
            buf_putc(mo->out, ']');
        } else {
            trs_put_join(mo->out, &text);
        }
        buf_putc(mo->out, '}');
    }
    buf_free(&text);
    buf_free(&parts);
    buf_free(&calls);
    return rc;
}

static int messages(buf_t *out, const char *b, jspan_t v, jspan_t msgs, tr_warn_t *w, char *err,
                    size_t errlen)
{
    msg_out_t mo = {out, true};
    jspan_t m, role, c;
    if (v.len && jscan_type(b, v) != 'n') {
        if (jscan_type(b, v) != '"' && jscan_type(b, v) != '[')
            return trs_fail(err, errlen, "system: must be a string or an array of text blocks");
        buf_t t = BUF_INIT;
        a_text(b, v, &t, w);
        msg_sep(&mo);
        buf_puts(out, "{\"role\":\"system\",\"content\":");
        trs_put_join(out, &t);
        buf_putc(out, '}');
        buf_free(&t);
    }
    uint32_t cur = 0, i = 0;
    for (; jscan_arr_next(b, msgs, &cur, &m); i++) {
        if (jscan_type(b, m) != '{')
            return trs_fail(err, errlen, "messages.%u: must be an object", i);
        if (!trs_str(b, m, "role", &role) ||
            !(jscan_str_eq(b, role, "user") || jscan_str_eq(b, role, "assistant")))
            return trs_fail(err, errlen, "messages.%u.role: must be \"user\" or \"assistant\"", i);
        bool asst = jscan_str_eq(b, role, "assistant");
        char ct = trs_get(b, m, "content", &c) ? jscan_type(b, c) : 0;
        if (ct == '"') {
            msg_sep(&mo);
            buf_puts(out, asst ? "{\"role\":\"assistant\",\"content\":"
                               : "{\"role\":\"user\",\"content\":");
            trs_raw(out, b, c);
            buf_putc(out, '}');
        } else if (ct == '[') {
            if (blocks(&mo, b, c, asst, i, w, err, errlen)) return -1;
        } else {
            return trs_fail(err, errlen,
                            "messages.%u.content: must be a string or an array of content blocks",
                            i);
        }
    }
    return 0;
}

static void tools(buf_t *out, const char *b, jspan_t tl, tr_warn_t *w)
{
    jspan_t t, ty, v;
    if (jscan_type(b, tl) != '[') return;
    uint32_t cur = 0;
    int n = 0;
    while (jscan_arr_next(b, tl, &cur, &t)) {
        if (trs_str(b, t, "type", &ty) && !jscan_str_eq(b, ty, "custom")) {
            trs_warn_named(w, "unknown_tool:", b, ty);
            continue;
        }
        if (trs_has(b, t, "cache_control")) tr_warn_add(w, "cache_control_dropped");
        trs_chat_tool_head(out, b, t, &n);
        buf_puts(out, ",\"parameters\":");
        if (trs_get(b, t, "input_schema", &v))
            trs_raw(out, b, v);
        else
            buf_puts(out, "{\"type\":\"object\"}");
        buf_puts(out, "}}");
    }
    if (n) buf_putc(out, ']');
}

static void tool_choice(buf_t *out, const char *b, jspan_t tc)
{
    if (jscan_type(b, tc) != '{') return;
    if (trs_str_is(b, tc, "type", "auto"))
        buf_puts(out, ",\"tool_choice\":\"auto\"");
    else if (trs_str_is(b, tc, "type", "any"))
        buf_puts(out, ",\"tool_choice\":\"required\"");
    else if (trs_str_is(b, tc, "type", "none"))
        buf_puts(out, ",\"tool_choice\":\"none\"");
    else if (trs_str_is(b, tc, "type", "tool")) {
        buf_puts(out, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":");
        trs_str_or(out, b, tc, "name", "");
        buf_puts(out, "}}");
    }
    if (trs_is_true(b, tc, "disable_parallel_tool_use"))
        buf_puts(out, ",\"parallel_tool_calls\":false");
}

int tr_req_anthropic_to_chat(const char *body, size_t len, const char *model, buf_t *out,
                             tr_warn_t *w, char *err, size_t errlen)
{
    static const char *const keys[] = {"model",       "messages",   "system",         "tools",
                                       "tool_choice", "max_tokens", "stop_sequences", "temperature",
                                       "top_p",       "top_k",      "thinking",       "metadata",
                                       "stream",      NULL};
    enum {
        MODEL,
        MESSAGES,
        SYSTEM,
        TOOLS,
        TOOL_CHOICE,
        MAX_TOKENS,
        STOP,
        TEMP,
        TOP_P,
        TOP_K,
        THINKING,
        METADATA,
        STREAM,
        N_KEYS
    };
    const char *b = body;
    jspan_t k[N_KEYS], v;
    if (trs_open(b, len, keys, k, err, errlen) != 0) return -1;
    if (jscan_type(b, k[MESSAGES]) != '[')
        return trs_fail(err, errlen, "messages: field required (an array)");
    size_t mark = out->len;
    trs_chat_head(out, b, model, k[MODEL]);
    if (messages(out, b, k[SYSTEM], k[MESSAGES], w, err, errlen) != 0)
        return trs_rollback(out, mark);
    buf_putc(out, ']');
    tools(out, b, k[TOOLS], w);
    tool_choice(out, b, k[TOOL_CHOICE]);
    trs_copy_v(out, b, k[MAX_TOKENS], "max_tokens");
    trs_copy_v(out, b, k[STOP], "stop");
    trs_copy_v(out, b, k[TEMP], "temperature");
    trs_copy_v(out, b, k[TOP_P], "top_p");
    if (k[TOP_K].len) tr_warn_add(w, "top_k_dropped");
    if (trs_str_is(b, k[THINKING], "type", "enabled")) {
        int64_t bt = 4096;
        if (trs_get(b, k[THINKING], "budget_tokens", &v) && !jscan_int(b, v, &bt)) bt = 4096;
        buf_printf(out, ",\"reasoning_effort\":\"%s\"", effort_of_budget((double)bt));
        tr_warn_add(w, "thinking_budget_as_reasoning_effort");
    }
    if (trs_str(b, k[METADATA], "user_id", &v)) {
        buf_puts(out, ",\"user\":");
        trs_raw(out, b, v);
    }
    trs_chat_tail(out, b, k[STREAM]);
    return 0;
}
