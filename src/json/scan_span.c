/* scan_span.c - helpers over spans of a body that the scanner (scan.c) or
 * jscan_validate has already accepted (scan.h): unescaping and comparing
 * strings, walking objects and arrays (several members in one walk:
 * jscan_obj_pick), reading integers, finding a literal in a text
 * (jscan_contains), and the token usage of an upstream reply (jscan_usage). Built on the lexers in
 * scan_lex.h, bounded to the span they are given. */
#include "json/num.h"
#include "json/scan_lex.h"

/* ---- strings -------------------------------------------------------- */

/* The portable unescape: a memchr for each backslash and a copy of the run
 * before it. The reference the SSE2 one is compared with (jscan_lexer_force
 * JSCAN_LEX_PORTABLE selects it; test_scan_unescape, fuzz_scan). */
static size_t unescape_portable(const uint8_t *p, size_t i, size_t end, uint8_t *o)
{
    uint8_t *w = o;
    while (i < end) {
        const uint8_t *bsl = memchr(p + i, '\\', end - i);
        size_t run = bsl ? (size_t)(bsl - (p + i)) : end - i;
        memcpy(w, p + i, run);
        w += run;
        i += run;
        if (i >= end) break;
        int k = dec_escape(p, &i, end, w);
        if (k < 0) return SIZE_MAX;
        w += k;
    }
    return (size_t)(w - o);
}

#if defined(__SSE2__)
/* dst[0..n) = src[0..n) for n < 16, without a call: two overlapping loads
 * and stores of the widest size that fits. */
static inline void copy_short(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* 16 bytes at a time: each block is stored as it is read and the output
 * moves up to the first backslash in it. The output never runs ahead of
 * the input (an escape is never shorter decoded), so a block read from
 * p[i..i+16) with i + 16 <= end also fits at w. Fewer than 16 bytes left:
 * the mask of the last 16 bytes before end (bytes before the string
 * belong to the body) finds the backslash, and copy_short copies the run.
 * The two-byte escapes and the \u ones outside the surrogates are decoded
 * here, the rest (surrogates, invalid escapes) by dec_escape. Same
 * output as unescape_portable for every input. */
static size_t unescape_sse2(const uint8_t *p, size_t i, size_t end, uint8_t *o)
{
    const __m128i bs = _mm_set1_epi8('\\');
    uint8_t *w = o;
    while (i < end) {
        size_t left = end - i, k;
        if (left >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            _mm_storeu_si128((__m128i *)(void *)w, v);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs));
            if (!m) {
                i += 16;
                w += 16;
                continue;
            }
            k = (unsigned)__builtin_ctz(m);
        } else {
            if (end >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + end - 16));
                unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs)) >> (16 - left);
                k = m ? (unsigned)__builtin_ctz(m) : left;
            } else {
                k = 0;
                while (k < left && p[i + k] != '\\')
                    k++;
            }
            copy_short(w, p + i, k);
            if (k == left) {
                w += k;
                break;
            }
        }
        i += k;
        w += k;
        /* p[i] is a backslash */
        uint8_t c = i + 1 < end ? esc_decoded[p[i + 1]] : 0;
        if (c) {
            *w++ = c;
            i += 2;
            continue;
        }
        if (end - i > 5 && p[i + 1] == 'u') { /* a \u escape outside the surrogates */
            int h0 = hexval(p[i + 2]), h1 = hexval(p[i + 3]), h2 = hexval(p[i + 4]),
                h3 = hexval(p[i + 5]);
            uint32_t cp = (uint32_t)h0 << 12 | (uint32_t)h1 << 8 | (uint32_t)h2 << 4 | (uint32_t)h3;
            if ((h0 | h1 | h2 | h3) >= 0 && (cp < 0xd800 || cp > 0xdfff)) {
                w += put_utf8(w, cp);
                i += 6;
                continue;
            }
        }
        int d = dec_escape(p, &i, end, w);
        if (d < 0) return SIZE_MAX;
        w += d;
    }
    return (size_t)(w - o);
}
#endif

char *jscan_unescape(arena_t *a, const char *body, jspan_t s, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)body;
    if (s.len < 2 || p[s.off] != '"' || p[s.off + s.len - 1] != '"') return NULL;
    size_t i = s.off + 1, end = (size_t)s.off + s.len - 1;
    /* unescaped text is never longer than its escaped form */
    uint8_t *o = arena_alloc(a, end - i + 1);
    size_t n;
#if defined(__SSE2__)
    if (__atomic_load_n(&jscan_str_inline, __ATOMIC_RELAXED))
        n = unescape_sse2(p, i, end, o);
    else
#endif
        n = unescape_portable(p, i, end, o);
    if (n == SIZE_MAX) return NULL;
    o[n] = 0;
    if (out_len) *out_len = n;
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
    scanner_t s = {(const uint8_t *)body, (size_t)c.off + c.len, NULL, false, false, 0};
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
        if (p[i] != '"' || scan_str(&s, i, &ke, &esc)) return false;
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

void jscan_obj_pick(const char *body, jspan_t obj, const char *const *keys, size_t n, jspan_t *out)
{
    const uint8_t *p = (const uint8_t *)body;
    size_t lens[JSCAN_PICK_MAX];
    uint32_t cur = 0;
    jspan_t k, v;
    if (n > JSCAN_PICK_MAX) n = JSCAN_PICK_MAX;
    for (size_t j = 0; j < n; j++)
        lens[j] = strlen(keys[j]);
    memset(out, 0, n * sizeof *out);
    while (jscan_obj_next(body, obj, &cur, &k, &v)) {
        size_t i = k.off + 1u, end = (size_t)k.off + k.len - 1u;
        bool esc = memchr(p + i, '\\', end - i) != NULL;
        for (size_t j = 0; j < n; j++)
            if (str_eq_raw(p, i, end, esc, keys[j], lens[j])) {
                out[j] = v;
                break;
            }
    }
}

bool jscan_contains(const char *s, size_t n, const char *lit, size_t m)
{
    if (m <= 1) return m == 0 || (n && memchr(s, lit[0], n) != NULL);
    if (n < m) return false;
    size_t i = 0;
#if defined(__SSE2__)
    /* candidates where the first, the middle and the last byte of lit all
     * match, 16 positions at a time (two anchors alone, such as the quotes
     * around a JSON key, match too often); only those are compared */
    const size_t mid = m / 2;
    const __m128i f = _mm_set1_epi8(lit[0]), c2 = _mm_set1_epi8(lit[mid]),
                  l = _mm_set1_epi8(lit[m - 1]);
    for (; i + (m - 1) + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i + mid));
        __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + i + m - 1));
        unsigned c = (unsigned)_mm_movemask_epi8(_mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, c2)), _mm_cmpeq_epi8(e, l)));
        while (c) {
            unsigned k = (unsigned)__builtin_ctz(c);
            if (memcmp(s + i + k + 1, lit + 1, m - 2) == 0) return true;
            c &= c - 1;
        }
    }
#endif
    for (; i + m <= n; i++)
        if (s[i] == lit[0] && memcmp(s + i, lit, m) == 0) return true;
    return false;
}

static int64_t int_of(const char *doc, jspan_t v)
{
    int64_t x;
    return v.len && jscan_int(doc, v, &x) ? x : -1;
}

static int64_t get_int(const char *doc, jspan_t obj, const char *key)
{
    jspan_t v;
    return jscan_obj_get(doc, obj, key, &v) ? int_of(doc, v) : -1;
}

/* details: the value of a *_details member (len 0 when absent). */
static int64_t get_int2(const char *doc, jspan_t details, const char *k2)
{
    if (!details.len || jscan_type(doc, details) != '{') return -1;
    return get_int(doc, details, k2);
}

const char *const jusage_keys[JU_N] = {
    "prompt_tokens",         "completion_tokens",         "input_tokens",
    "output_tokens",         "cache_read_input_tokens",   "cache_creation_input_tokens",
    "prompt_tokens_details", "completion_tokens_details", "input_tokens_details",
    "output_tokens_details"};

enum { T_USAGE, T_MESSAGE, T_RESPONSE, T_N };
static const char *const top_keys[T_N] = {"usage", "message", "response"};

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
    scanner_t s = {(const uint8_t *)doc, len, NULL, false, false, 0};
    size_t i = skip_ws(s.p, 0, len), end;
    if (i >= len || s.p[i] != '{' || skip_value(&s, i, 0, &end)) return;
    if (skip_ws(s.p, end, len) != len) return;
    jspan_t top = span(i, end), us, t[T_N];
    jscan_obj_pick(doc, top, top_keys, T_N, t);
    if (t[T_USAGE].len && jscan_type(doc, t[T_USAGE]) == '{')
        us = t[T_USAGE];
    else if (t[T_MESSAGE].len && jscan_type(doc, t[T_MESSAGE]) == '{' &&
             usage_of(doc, t[T_MESSAGE], &us))
        ;
    else if (t[T_RESPONSE].len && jscan_type(doc, t[T_RESPONSE]) == '{' &&
             usage_of(doc, t[T_RESPONSE], &us))
        ;
    else
        return;
    jspan_t v[JU_N];
    jscan_obj_pick(doc, us, jusage_keys, JU_N, v);
    int64_t n[JU_CC + 1];
    for (int k = 0; k <= JU_CC; k++)
        n[k] = int_of(doc, v[k]);
    int d = jusage_from_counts(u, n, v[JU_CR].len || v[JU_CC].len);
    if (d >= 0) {
        u->cached_tokens = get_int2(doc, v[JU_PTD + d], "cached_tokens");
        u->reasoning_tokens = get_int2(doc, v[JU_PTD + d + 1], "reasoning_tokens");
    }
}

int jusage_from_counts(jusage_t *u, const int64_t *n, bool anthropic)
{
    int64_t it = n[JU_IT], cr = n[JU_CR], cc = n[JU_CC];
    u->found = true;
    u->is_anthropic = anthropic;
    u->completion_tokens = n[JU_CT] >= 0 ? n[JU_CT] : n[JU_OT];
    if (n[JU_PT] >= 0) {
        u->prompt_tokens = n[JU_PT];
        return 0;
    }
    if (anthropic) {
        u->prompt_tokens =
            it >= 0 ? json_count_add(json_count_add(it, cr > 0 ? cr : 0), cc > 0 ? cc : 0) : -1;
        u->cached_tokens = cr;
        u->cache_creation_tokens = cc;
        return -1;
    }
    u->prompt_tokens = it;
    return 2;
}
