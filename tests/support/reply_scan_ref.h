/* reply_scan_ref.h - the former jreply_scan (json/reply_scan.c before the
 * one-pass walk): the top-level members validated with jscan_obj_next, then
 * the nested objects (usage and its details, message.usage,
 * response.usage, choices[0] and its message or delta) picked by a second,
 * unchecked walk of each. Kept as the reference the one-pass walk is
 * compared with, field by field (valid, usage, id, text, escaped_key), by
 * test_reply_scan and fuzz_reply. */
#ifndef TETHER_TESTS_REPLY_SCAN_REF_H
#define TETHER_TESTS_REPLY_SCAN_REF_H
#include "json/num.h"
#include "json/reply_scan.h"
#include <string.h>

static jspan_t ref_span_of(size_t a, size_t b)
{
    jspan_t s = {(uint32_t)a, (uint32_t)(b - a)};
    return s;
}

static size_t ref_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* ---- a walker for valid JSON (no checks: the scanner made them) ------- */

/* p[i] opens a string: the offset after its closing quote, the first quote
 * not preceded by an odd run of backslashes. */
static size_t ref_str_end(const char *p, size_t i, size_t n)
{
    size_t j = i + 1;
    for (;;) {
        const char *q = j < n ? memchr(p + j, '"', n - j) : NULL;
        if (!q) return n;
        size_t k = (size_t)(q - p), b = k;
        while (p[b - 1] == '\\') /* p[i] is a quote: the run ends there */
            b--;
        if (!((k - b) & 1)) return k + 1;
        j = k + 1;
    }
}

/* The offset after the value starting at p[i]. */
static size_t ref_val_end(const char *p, size_t i, size_t n)
{
    if (p[i] == '"') return ref_str_end(p, i, n);
    if (p[i] != '{' && p[i] != '[') { /* a number or a literal */
        while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\n' &&
               p[i] != '\r' && p[i] != '\t')
            i++;
        return i;
    }
    int depth = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '"')
            i = ref_str_end(p, i, n) - 1;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
    }
    return n;
}

/* The next member of a valid object; *i starts just after its '{'. */
static bool ref_member_next(const char *p, size_t n, size_t *i, jspan_t *k, jspan_t *v)
{
    size_t j = ref_ws(p, *i, n);
    if (j < n && p[j] == ',') j = ref_ws(p, j + 1, n);
    if (j >= n || p[j] != '"') return false;
    size_t ke = ref_str_end(p, j, n);
    *k = ref_span_of(j, ke);
    j = ref_ws(p, ref_ws(p, ke, n) + 1, n); /* past the ':' */
    size_t ve = ref_val_end(p, j, n);
    *v = ref_span_of(j, ve);
    *i = ve;
    return true;
}

/* Is key k (quotes included) the text lit? Compared raw, else after
 * unescaping as jscan_str_eq (then *esc is set). */
static bool ref_key_is(const char *p, jspan_t k, bool has_bs, const char *lit, size_t L, bool *esc)
{
    if (!has_bs) return k.len == L + 2 && p[k.off + 1] == lit[0] && !memcmp(p + k.off + 1, lit, L);
    if (!jscan_str_eq(p, k, lit)) return false;
    *esc = true;
    return true;
}

/* Does key k hold a backslash? (Keys are short: no memchr call.) */
static bool ref_has_backslash(const char *p, jspan_t k)
{
    for (const char *c = p + k.off + 1, *e = p + k.off + k.len - 1; c < e; c++)
        if (*c == '\\') return true;
    return false;
}

/* out[j]: the value of the last member named keys[j] (len 0 when none) of
 * the valid object opening at obj.off, as jscan_obj_pick; obj may run past
 * the object's '}', where the walk stops. */
static void ref_pick(const char *p, jspan_t obj, const char *const *keys, const uint8_t *lens,
                     size_t nk, jspan_t *out, bool *esc)
{
    size_t n = (size_t)obj.off + obj.len, i = obj.off + 1u;
    jspan_t k, v;
    memset(out, 0, nk * sizeof *out);
    while (ref_member_next(p, n, &i, &k, &v)) {
        bool bs = ref_has_backslash(p, k);
        for (size_t j = 0; j < nk; j++)
            if (ref_key_is(p, k, bs, keys[j], lens[j], esc)) {
                out[j] = v;
                break;
            }
    }
}

/* ---- usage (jscan_usage's rules) -------------------------------------- */

static int64_t ref_int_of(const char *doc, jspan_t v)
{
    int64_t x;
    return v.len && jscan_int(doc, v, &x) ? x : -1;
}

/* details.k2 when details is an object, else -1. */
static int64_t ref_detail(const char *doc, jspan_t details, const char *k2, uint8_t l2, bool *esc)
{
    jspan_t v;
    if (!details.len || doc[details.off] != '{') return -1;
    ref_pick(doc, details, &k2, &l2, 1, &v, esc);
    return ref_int_of(doc, v);
}

enum { RU_PT, RU_CT, RU_IT, RU_OT, RU_CR, RU_CC, RU_PTD, RU_CTD, RU_ITD, RU_OTD, RU_N };
static const char *const ref_usage_keys[RU_N] = {
    "prompt_tokens",         "completion_tokens",         "input_tokens",
    "output_tokens",         "cache_read_input_tokens",   "cache_creation_input_tokens",
    "prompt_tokens_details", "completion_tokens_details", "input_tokens_details",
    "output_tokens_details"};
static const uint8_t ref_usage_lens[RU_N] = {13, 17, 12, 13, 23, 27, 21, 25, 20, 21};

static void ref_usage_read(const char *doc, jspan_t us, jusage_t *u, bool *esc)
{
    jspan_t v[RU_N];
    ref_pick(doc, us, ref_usage_keys, ref_usage_lens, RU_N, v, esc);
    u->found = true;
    int64_t pt = ref_int_of(doc, v[RU_PT]), ct = ref_int_of(doc, v[RU_CT]);
    int64_t it = ref_int_of(doc, v[RU_IT]), ot = ref_int_of(doc, v[RU_OT]);
    int64_t cr = ref_int_of(doc, v[RU_CR]), cc = ref_int_of(doc, v[RU_CC]);
    u->is_anthropic = v[RU_CR].len || v[RU_CC].len;
    u->completion_tokens = ct >= 0 ? ct : ot;
    if (pt >= 0) {
        u->prompt_tokens = pt;
        u->cached_tokens = ref_detail(doc, v[RU_PTD], "cached_tokens", 13, esc);
        u->reasoning_tokens = ref_detail(doc, v[RU_CTD], "reasoning_tokens", 16, esc);
    } else if (u->is_anthropic) {
        u->prompt_tokens =
            it >= 0 ? json_count_add(json_count_add(it, cr > 0 ? cr : 0), cc > 0 ? cc : 0) : -1;
        u->cached_tokens = cr;
        u->cache_creation_tokens = cc;
    } else {
        u->prompt_tokens = it;
        u->cached_tokens = ref_detail(doc, v[RU_ITD], "cached_tokens", 13, esc);
        u->reasoning_tokens = ref_detail(doc, v[RU_OTD], "reasoning_tokens", 16, esc);
    }
}

/* obj.usage when obj is an object whose last "usage" is one. */
static bool ref_usage_in(const char *doc, jspan_t obj, jspan_t *us, bool *esc)
{
    static const char *const k[1] = {"usage"};
    static const uint8_t l[1] = {5};
    if (!obj.len || doc[obj.off] != '{') return false;
    ref_pick(doc, obj, k, l, 1, us, esc);
    return us->len && doc[us->off] == '{';
}

/* ---- the reply -------------------------------------------------------- */

enum { RT_ID, RT_USAGE, RT_MESSAGE, RT_RESPONSE, RT_CHOICES, RT_N };
static const char *const ref_top_keys[RT_N] = {"id", "usage", "message", "response", "choices"};
static const uint8_t ref_top_lens[RT_N] = {2, 5, 7, 8, 7};

/* choices[0].<which>.content when a string (choices a valid value). */
static jspan_t ref_chat_text(const char *doc, jspan_t choices, bool delta, bool *esc)
{
    static const char *const mk[2] = {"message", "delta"};
    static const uint8_t ml[2] = {7, 5};
    static const char *const ck[1] = {"content"};
    static const uint8_t cl[1] = {7};
    jspan_t none = {0, 0}, m[2], ct;
    size_t n = (size_t)choices.off + choices.len;
    if (!choices.len || doc[choices.off] != '[') return none;
    size_t i = ref_ws(doc, choices.off + 1u, n);
    if (i >= n || doc[i] != '{') return none; /* empty, or not an object */
    /* c0's members end at its '}': no need to find its end first */
    ref_pick(doc, ref_span_of(i, n), mk, ml, 2, m, esc);
    jspan_t msg = m[delta ? 1 : 0];
    if (!msg.len || doc[msg.off] != '{') return none;
    ref_pick(doc, msg, ck, cl, 1, &ct, esc);
    return ct.len && doc[ct.off] == '"' ? ct : none;
}

static void jreply_scan_ref(const char *doc, size_t len, bool delta, jreply_t *out)
{
    memset(out, 0, sizeof *out);
    jusage_t *u = &out->usage;
    u->prompt_tokens = u->completion_tokens = u->cached_tokens = -1;
    u->cache_creation_tokens = u->reasoning_tokens = -1;
    if (len >= UINT32_MAX) return;
    size_t i = ref_ws(doc, 0, len);
    if (i >= len || doc[i] != '{') return;
    /* the members, each value validated as the scanner skips it */
    jspan_t top = ref_span_of(i, len), k, v, t[RT_N] = {{0, 0}};
    uint32_t cur = 0, last = 0;
    bool esc = false;
    while (jscan_obj_next(doc, top, &cur, &k, &v)) {
        last = cur;
        bool bs = ref_has_backslash(doc, k);
        for (size_t j = 0; j < RT_N; j++)
            if (ref_key_is(doc, k, bs, ref_top_keys[j], ref_top_lens[j], &esc)) {
                t[j] = v;
                break;
            }
    }
    /* valid when the walk stopped at the object's '}' and nothing but
     * whitespace follows it */
    size_t e = ref_ws(doc, last ? last : i + 1, len);
    if (e >= len || doc[e] != '}' || ref_ws(doc, e + 1, len) != len) return;
    out->valid = true;
    out->id = t[RT_ID];
    jspan_t us;
    if (t[RT_USAGE].len && doc[t[RT_USAGE].off] == '{')
        ref_usage_read(doc, t[RT_USAGE], u, &esc);
    else if (ref_usage_in(doc, t[RT_MESSAGE], &us, &esc) ||
             ref_usage_in(doc, t[RT_RESPONSE], &us, &esc))
        ref_usage_read(doc, us, u, &esc);
    if (i == 0) out->text = ref_chat_text(doc, t[RT_CHOICES], delta, &esc);
    out->escaped_key = esc;
}
#endif
