/* translate_span.h - the span toolkit of the request translators
 * (translate_req_messages.c, translate_req_responses.c); private to
 * src/api/. They read the client's body through the scanner's span helpers
 * and write the chat IR straight into a buffer: no tree, so a request costs
 * about its own size again, whatever the number of messages. Strings are
 * copied in their escaped form (they are valid JSON already), and joined
 * texts are joined escaped, with "\n" between the pieces. */
#ifndef TETHER_API_TRANSLATE_SPAN_H
#define TETHER_API_TRANSLATE_SPAN_H
#include "api/translate.h"
#include "json/scan.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static inline void trs_raw(buf_t *out, const char *b, jspan_t v)
{
    buf_append(out, b + v.off, v.len);
}

/* The members keys[] (NULL-terminated) of object o in one walk: vals[i] is
 * the value of keys[i] (the last occurrence wins), len 0 when absent. For
 * the top level of a body, where a lookup per key would walk the whole
 * messages array again each time. */
static inline void trs_collect(const char *b, jspan_t o, const char *const *keys, jspan_t *vals)
{
    size_t n = 0;
    while (keys[n])
        n++;
    memset(vals, 0, n * sizeof *vals);
    if (jscan_type(b, o) != '{') return;
    uint32_t cur = 0;
    jspan_t k, v;
    while (jscan_obj_next(b, o, &cur, &k, &v))
        for (size_t i = 0; i < n; i++)
            if (jscan_str_eq(b, k, keys[i])) {
                vals[i] = v;
                break;
            }
}

/* ,"dst_k":<raw value v> when v is present. */
static inline void trs_copy_v(buf_t *out, const char *b, jspan_t v, const char *dst_k)
{
    if (!v.len) return;
    buf_printf(out, ",\"%s\":", dst_k);
    trs_raw(out, b, v);
}

/* Member k of object o (the last one wins, as everywhere in tether). */
static inline bool trs_get(const char *b, jspan_t o, const char *k, jspan_t *v)
{
    return jscan_type(b, o) == '{' && jscan_obj_get(b, o, k, v);
}

/* Member k of o when it is a string. */
static inline bool trs_str(const char *b, jspan_t o, const char *k, jspan_t *v)
{
    return trs_get(b, o, k, v) && jscan_type(b, *v) == '"';
}

static inline bool trs_has(const char *b, jspan_t o, const char *k)
{
    jspan_t v;
    return trs_get(b, o, k, &v);
}

static inline bool trs_is_true(const char *b, jspan_t o, const char *k)
{
    jspan_t v;
    return trs_get(b, o, k, &v) && jscan_type(b, v) == 't';
}

/* Member k is the string lit. */
static inline bool trs_str_is(const char *b, jspan_t o, const char *k, const char *lit)
{
    jspan_t v;
    return trs_str(b, o, k, &v) && jscan_str_eq(b, v, lit);
}

/* ,"k":<raw value of member k> when o has it. */
static inline void trs_copy(buf_t *out, const char *b, jspan_t o, const char *src_k,
                            const char *dst_k)
{
    jspan_t v;
    if (!trs_get(b, o, src_k, &v)) return;
    buf_printf(out, ",\"%s\":", dst_k);
    trs_raw(out, b, v);
}

/* The string member k (escaped, quotes included), or "" / def. */
static inline void trs_str_or(buf_t *out, const char *b, jspan_t o, const char *k, const char *def)
{
    jspan_t v;
    if (trs_str(b, o, k, &v))
        trs_raw(out, b, v);
    else
        buf_json_str(out, def, strlen(def));
}

/* Append the escaped content of string s to a join (a separator first when
 * the join is not empty): the join is later written between quotes. */
static inline void trs_join(buf_t *j, const char *b, jspan_t s)
{
    if (j->len) buf_append(j, "\\n", 2);
    buf_append(j, b + s.off + 1, s.len - 2);
}

static inline void trs_put_join(buf_t *out, const buf_t *j)
{
    buf_putc(out, '"');
    if (j->len) buf_append(out, j->data, j->len);
    buf_putc(out, '"');
}

/* A warning code "<prefix><the string value, made header-safe>". */
static inline void trs_warn_named(tr_warn_t *w, const char *prefix, const char *b, jspan_t s)
{
    char code[80];
    size_t n = strlen(prefix);
    memcpy(code, prefix, n);
    for (uint32_t i = 1; s.len >= 2 && i + 1 < s.len && n < 60 + strlen(prefix); i++) {
        char c = b[s.off + i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        code[n++] = ok ? c : '_';
    }
    if (s.len < 2) code[n++] = '?';
    code[n] = 0;
    tr_warn_add(w, code);
}

/* The top-level object of a body, validated. */
static inline bool trs_doc(const char *b, size_t len, jspan_t *doc)
{
    if (len >= UINT32_MAX || jscan_validate(b, len, NULL) != 0) return false;
    size_t i = 0, e = len;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    while (e > i && (b[e - 1] == ' ' || b[e - 1] == '\t' || b[e - 1] == '\n' || b[e - 1] == '\r'))
        e--;
    if (i >= e || b[i] != '{') return false;
    doc->off = (uint32_t)i;
    doc->len = (uint32_t)(e - i);
    return true;
}

/* The start of one chat tool, from a client tool t that carries "name" and
 * maybe "description"; *n counts the tools written (the first opens the
 * "tools" array). The caller writes the rest and closes it with "}}". */
static inline void trs_chat_tool_head(buf_t *out, const char *b, jspan_t t, int *n)
{
    jspan_t v;
    buf_puts(out, (*n)++ ? "," : ",\"tools\":[");
    buf_puts(out, "{\"type\":\"function\",\"function\":{\"name\":");
    trs_str_or(out, b, t, "name", "");
    if (trs_str(b, t, "description", &v)) {
        buf_puts(out, ",\"description\":");
        trs_raw(out, b, v);
    }
}

/* Open a client body: the top-level object validated, the values of keys
 * (NULL-terminated) into vals. -1 with a message in err when it is not an
 * object. */
static inline int trs_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int trs_open(const char *b, size_t len, const char *const *keys, jspan_t *vals,
                           char *err, size_t errlen)
{
    jspan_t doc;
    if (!trs_doc(b, len, &doc))
        return trs_fail(err, errlen, "the request body must be a JSON object");
    trs_collect(b, doc, keys, vals);
    return 0;
}

/* The head of the chat IR: {"model":<model, else the body's "model" string,
 * else "">,"messages":[ . */
static inline void trs_chat_head(buf_t *out, const char *b, const char *model, jspan_t body_model)
{
    buf_puts(out, "{\"model\":");
    if (model)
        buf_json_str(out, model, strlen(model));
    else if (jscan_type(b, body_model) == '"')
        trs_raw(out, b, body_model);
    else
        buf_puts(out, "\"\"");
    buf_puts(out, ",\"messages\":[");
}

/* The tail of the chat IR: a stream asks for the usage chunk; closes the object. */
static inline void trs_chat_tail(buf_t *out, const char *b, jspan_t stream)
{
    if (jscan_type(b, stream) == 't')
        buf_puts(out, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    buf_putc(out, '}');
}

/* Undo what a failed translation wrote after mark; returns -1. */
static inline int trs_rollback(buf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data) out->data[mark] = 0;
    return -1;
}

static inline int trs_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int trs_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
#endif
