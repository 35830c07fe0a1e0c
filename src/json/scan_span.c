/* scan_span.c - helpers over spans of a body that the scanner (scan.c) or
 * jscan_validate has already accepted (scan.h): unescaping and comparing
 * strings, walking objects and arrays, reading integers, and the token
 * usage of an upstream reply (jscan_usage). Built on the lexers in
 * scan_lex.h, bounded to the span they are given. */
#include "json/scan_lex.h"

/* ---- strings -------------------------------------------------------- */

char *jscan_unescape(arena_t *a, const char *body, jspan_t s, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)body;
    if (s.len < 2 || p[s.off] != '"' || p[s.off + s.len - 1] != '"') return NULL;
    size_t i = s.off + 1, end = (size_t)s.off + s.len - 1;
    /* unescaped text is never longer than its escaped form */
    uint8_t *o = arena_alloc(a, end - i + 1), *w = o;
    while (i < end) {
        const uint8_t *bsl = memchr(p + i, '\\', end - i);
        size_t run = bsl ? (size_t)(bsl - (p + i)) : end - i;
        memcpy(w, p + i, run);
        w += run;
        i += run;
        if (i >= end) break;
        int k = dec_escape(p, &i, end, w);
        if (k < 0) return NULL;
        w += k;
    }
    *w = 0;
    if (out_len) *out_len = (size_t)(w - o);
    return (char *)o;
}

bool jscan_str_eq(const char *body, jspan_t s, const char *lit)
{
    const uint8_t *p = (const uint8_t *)body;
    if (s.len < 2 || p[s.off] != '"' || p[s.off + s.len - 1] != '"') return false;
    size_t i = s.off + 1, end = (size_t)s.off + s.len - 1;
    bool esc = memchr(p + i, '\\', end - i) != NULL;
    return str_eq_raw(p, i, end, esc, lit, strlen(lit));
}

/* ---- span helpers ---------------------------------------------------- */

char jscan_type(const char *body, jspan_t v)
{
    if (v.len == 0) return 0;
    char c = body[v.off];
    if (c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || c == '-' ||
        (c >= '0' && c <= '9'))
        return c;
    return 0;
}

/* Shared walker for obj_next/arr_next: a scanner bounded to the span. */
static bool container_next(const char *body, jspan_t c, uint8_t open, uint32_t *cursor,
                           jspan_t *key, jspan_t *val)
{
    scanner_t s = {(const uint8_t *)body, (size_t)c.off + c.len, NULL, false};
    const uint8_t *p = s.p;
    size_t i;
    if (c.len < 2 || p[c.off] != open) return false;
    if (*cursor == 0) {
        i = skip_ws(p, c.off + 1u, s.n);
    } else {
        if (*cursor <= c.off || *cursor >= s.n) return false;
        i = *cursor;
        int r = scan_sep(&s, &i, open == '{' ? '}' : ']');
        if (r <= 0) return false;
    }
    if (i >= s.n || p[i] == (open == '{' ? '}' : ']')) return false;
    if (open == '{') {
        size_t ke;
        bool esc;
        if (p[i] != '"' || scan_string(&s, i, &ke, &esc)) return false;
        *key = span(i, ke);
        i = skip_ws(p, ke, s.n);
        if (i >= s.n || p[i] != ':') return false;
        i = skip_ws(p, i + 1, s.n);
    }
    size_t vs = i;
    if (skip_value(&s, i, 1, &i)) return false;
    *val = span(vs, i);
    *cursor = (uint32_t)i;
    return true;
}

bool jscan_obj_next(const char *body, jspan_t obj, uint32_t *cursor, jspan_t *key, jspan_t *val)
{
    return container_next(body, obj, '{', cursor, key, val);
}

bool jscan_arr_next(const char *body, jspan_t arr, uint32_t *cursor, jspan_t *elem)
{
    jspan_t k;
    return container_next(body, arr, '[', cursor, &k, elem);
}

bool jscan_obj_get(const char *body, jspan_t obj, const char *key, jspan_t *val)
{
    uint32_t cur = 0;
    jspan_t k, v;
    bool found = false;
    while (jscan_obj_next(body, obj, &cur, &k, &v)) {
        if (jscan_str_eq(body, k, key)) {
            *val = v;
            found = true;
        }
    }
    return found;
}

bool jscan_int(const char *body, jspan_t v, int64_t *out)
{
    const uint8_t *p = (const uint8_t *)body + v.off;
    size_t n = v.len, i = 0;
    bool neg = false;
    if (n && p[0] == '-') {
        neg = true;
        i++;
    }
    if (i >= n) return false;
    uint64_t x = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(p[i])) return false;
        uint64_t d = p[i] - '0';
        if (x > (lim - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

/* ---- usage ------------------------------------------------------------ */

static int64_t get_int(const char *doc, jspan_t obj, const char *key)
{
    jspan_t v;
    int64_t x;
    if (jscan_obj_get(doc, obj, key, &v) && jscan_int(doc, v, &x)) return x;
    return -1;
}

static int64_t get_int2(const char *doc, jspan_t obj, const char *k1, const char *k2)
{
    jspan_t v;
    if (!jscan_obj_get(doc, obj, k1, &v) || jscan_type(doc, v) != '{') return -1;
    return get_int(doc, v, k2);
}

static bool usage_of(const char *doc, jspan_t obj, jspan_t *u)
{
    return jscan_obj_get(doc, obj, "usage", u) && jscan_type(doc, *u) == '{';
}

void jscan_usage(const char *doc, size_t len, jusage_t *u)
{
    memset(u, 0, sizeof(*u));
    u->prompt_tokens = u->completion_tokens = u->cached_tokens = -1;
    u->cache_creation_tokens = u->reasoning_tokens = -1;
    if (len >= UINT32_MAX) return;
    scanner_t s = {(const uint8_t *)doc, len, NULL, false};
    size_t i = skip_ws(s.p, 0, len), end;
    if (i >= len || s.p[i] != '{' || skip_value(&s, i, 0, &end)) return;
    if (skip_ws(s.p, end, len) != len) return;
    jspan_t top = span(i, end), us, inner;
    if (!usage_of(doc, top, &us)) {
        if (jscan_obj_get(doc, top, "message", &inner) && jscan_type(doc, inner) == '{' &&
            usage_of(doc, inner, &us))
            ;
        else if (jscan_obj_get(doc, top, "response", &inner) && jscan_type(doc, inner) == '{' &&
                 usage_of(doc, inner, &us))
            ;
        else
            return;
    }
    u->found = true;
    int64_t pt = get_int(doc, us, "prompt_tokens");
    int64_t ct = get_int(doc, us, "completion_tokens");
    int64_t it = get_int(doc, us, "input_tokens");
    int64_t ot = get_int(doc, us, "output_tokens");
    int64_t cr = get_int(doc, us, "cache_read_input_tokens");
    int64_t cc = get_int(doc, us, "cache_creation_input_tokens");
    jspan_t tmp;
    u->is_anthropic = jscan_obj_get(doc, us, "cache_read_input_tokens", &tmp) ||
                      jscan_obj_get(doc, us, "cache_creation_input_tokens", &tmp);
    u->completion_tokens = ct >= 0 ? ct : ot;
    if (pt >= 0) {
        u->prompt_tokens = pt;
        u->cached_tokens = get_int2(doc, us, "prompt_tokens_details", "cached_tokens");
        u->reasoning_tokens = get_int2(doc, us, "completion_tokens_details", "reasoning_tokens");
    } else if (u->is_anthropic) {
        u->prompt_tokens = it >= 0 ? it + (cr > 0 ? cr : 0) + (cc > 0 ? cc : 0) : -1;
        u->cached_tokens = cr;
        u->cache_creation_tokens = cc;
    } else {
        u->prompt_tokens = it;
        u->cached_tokens = get_int2(doc, us, "input_tokens_details", "cached_tokens");
        u->reasoning_tokens = get_int2(doc, us, "output_tokens_details", "reasoning_tokens");
    }
}
