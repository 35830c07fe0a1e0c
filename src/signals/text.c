/* text.c - text windows and text helpers shared by the signal families
 * (family.h): the query / history windows of SPEC §5.1 cached per
 * evaluation, simple case folding with utf8proc, word tokens, word
 * boundaries (CJK-aware), density units and {gt|gte|lt|lte|eq} predicates. */
#include "signals/family.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- context windows ---- */

sig_text_t sig_ctx_query(sig_ctx_t *cx)
{
    if (!cx->has_query) {
        size_t n = 0;
        const char *q = cx->rq ? rq_query(cx->rq, &n) : "";
        cx->query = (sig_text_t){q, n};
        cx->has_query = true;
    }
    return cx->query;
}

sig_text_t sig_ctx_folded(sig_ctx_t *cx)
{
    if (!cx->has_folded) {
        sig_text_t q = sig_ctx_query(cx);
        cx->folded = sig_fold(cx->a, q.s, q.n);
        cx->has_folded = true;
    }
    return cx->folded;
}

const sig_tokens_t *sig_ctx_tokens(sig_ctx_t *cx)
{
    if (!cx->has_tokens) {
        sig_tokenize(cx->a, sig_ctx_folded(cx), &cx->tokens);
        cx->has_tokens = true;
    }
    return &cx->tokens;
}

size_t sig_ctx_history(sig_ctx_t *cx, const size_t **idx)
{
    rq_t *r = cx->rq;
    *idx = NULL;
    if (!r || r->query_msg < 0) return 0;
    size_t *v = arena_alloc(cx->a, ((size_t)r->query_msg + 1) * sizeof *v);
    size_t n = 0;
    for (int i = 0; i < r->query_msg; i++)
        if (r->msgs[i].role == JROLE_USER) v[n++] = (size_t)i;
    *idx = v;
    return n;
}

sig_text_t sig_ctx_msg(sig_ctx_t *cx, size_t i)
{
    size_t n = 0;
    const char *s = rq_msg_text(cx->rq, i, &n);
    return (sig_text_t){s, n};
}

/* ---- UTF-8 ---- */

size_t sig_utf8_next(const char *s, size_t n, size_t i, int32_t *cp)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    utf8proc_int32_t v;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &v);
    if (k <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return (size_t)k;
}

size_t sig_utf8_prev(const char *s, size_t i, int32_t *cp)
{
    size_t j = i - 1;
    size_t lim = i >= 4 ? i - 4 : 0;
    while (j > lim && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    size_t k = sig_utf8_next(s, i, j, cp);
    if (j + k != i) { /* not a clean code point: treat the last byte alone */
        *cp = -1;
        return i - 1;
    }
    return j;
}

bool sig_is_cjk_cp(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2FA1F) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x3130 && cp <= 0x318F);
}

bool sig_is_word_cp(int32_t cp)
{
    if (cp < 0) return false;
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

bool sig_at_word_boundary(const char *s, size_t n, size_t start, size_t end)
{
    int32_t cp;
    if (start > 0) {
        sig_utf8_prev(s, start, &cp);
        if (sig_is_word_cp(cp) && !sig_is_cjk_cp(cp)) {
            /* only a boundary when the keyword itself starts with a non-word char */
            int32_t k0;
            sig_utf8_next(s, n, start, &k0);
            if (sig_is_word_cp(k0)) return false;
        }
    }
    if (end < n) {
        sig_utf8_next(s, n, end, &cp);
        if (sig_is_word_cp(cp) && !sig_is_cjk_cp(cp)) {
            int32_t k1;
            sig_utf8_prev(s, end, &k1);
            if (sig_is_word_cp(k1)) return false;
        }
    }
    return true;
}

bool sig_has_cjk(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int32_t cp;
        i += sig_utf8_next(s, n, i, &cp);
        if (sig_is_cjk_cp(cp)) return true;
    }
    return false;
}

/* ---- folding ---- */

/* 8 ASCII bytes at once: 'A'..'Z' gain 0x20; w has no byte >= 0x80. */
static inline uint64_t fold_ascii8(uint64_t w)
{
    const uint64_t hi = 0x8080808080808080ull, ones = 0x0101010101010101ull;
    uint64_t ge_a = w + ones * (0x80 - 'A'); /* high bit: byte >= 'A' */
    uint64_t gt_z = w + ones * (0x7f - 'Z'); /* high bit: byte > 'Z' */
    return w | ((ge_a & ~gt_z & hi) >> 2);
}

static size_t fold_into(char *o, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (i + 8 <= n) { /* ASCII fast path, 8 bytes per step */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                w = fold_ascii8(w);
                memcpy(o + j, &w, 8);
                i += 8, j += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            o[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        int32_t cp;
        size_t k = sig_utf8_next(s, n, i, &cp);
        if (cp < 0) {
            o[j++] = (char)c;
            i++;
            continue;
        }
        utf8proc_int32_t lc = utf8proc_tolower(cp);
        utf8proc_uint8_t tmp[4];
        utf8proc_ssize_t w = utf8proc_encode_char(lc, tmp);
        if (w <= 0 || (size_t)w > k + 1) { /* keep the budget: copy as is */
            memcpy(o + j, s + i, k);
            j += k;
        } else {
            memcpy(o + j, tmp, (size_t)w);
            j += (size_t)w;
        }
        i += k;
    }
    o[j] = 0;
    return j;
}

/* A lower-case form grows by at most one byte per code point of >= 2 bytes. */
sig_text_t sig_fold(arena_t *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + n / 2 + 1);
    size_t m = fold_into(o, s, n);
    return (sig_text_t){o, m};
}

char *sig_fold_dup(const char *s, size_t n, size_t *out_len)
{
    char *o = malloc(n + n / 2 + 1);
    if (!o) abort();
    size_t m = fold_into(o, s, n);
    if (out_len) *out_len = m;
    return o;
}

/* ---- tokens and units ---- */

/* 1 for the ASCII word characters [A-Za-z0-9_]; bytes >= 0x80 are 2 (they
 * stop the ASCII loop, which then decodes the code point). */
static const uint8_t WORD_ASCII[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['_'] = 1, [0x80 ... 0xff] = 2,
};

void sig_tokenize(arena_t *a, sig_text_t t, sig_tokens_t *out)
{
    size_t cap = t.n / 2 + 2;
    out->off = arena_alloc(a, cap * sizeof(uint32_t));
    out->len = arena_alloc(a, cap * sizeof(uint32_t));
    out->n = 0;
    const char *s = t.s;
    size_t i = 0, n = t.n;
    while (i < n) {
        unsigned char c0 = (unsigned char)s[i];
        if (c0 < 0x80) { /* ASCII fast path: same tokens as the code point path */
            if (!WORD_ASCII[c0]) {
                i++;
                continue;
            }
            size_t st = i++;
            while (i < n && WORD_ASCII[(unsigned char)s[i]] == 1)
                i++;
            if (i < n && (unsigned char)s[i] >= 0x80) { /* a non-ASCII code point follows */
                int32_t cp;
                while (i < n) {
                    if ((unsigned char)s[i] < 0x80) {
                        if (WORD_ASCII[(unsigned char)s[i]] != 1) break;
                        i++;
                        continue;
                    }
                    size_t k2 = sig_utf8_next(s, n, i, &cp);
                    if (!sig_is_word_cp(cp) || sig_is_cjk_cp(cp)) break;
                    i += k2;
                }
            }
            if (out->n < cap) {
                out->off[out->n] = (uint32_t)st;
                out->len[out->n] = (uint32_t)(i - st);
                out->n++;
            }
            continue;
        }
        int32_t cp;
        size_t k = sig_utf8_next(s, n, i, &cp);
        if (!sig_is_word_cp(cp)) {
            i += k;
            continue;
        }
        size_t st = i;
        if (sig_is_cjk_cp(cp)) {
            i += k;
        } else {
            i += k;
            while (i < n) {
                if ((unsigned char)s[i] < 0x80) {
                    char c = s[i];
                    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        (c >= 'A' && c <= 'Z') || c == '_') {
                        i++;
                        continue;
                    }
                    break;
                }
                size_t k2 = sig_utf8_next(s, n, i, &cp);
                if (!sig_is_word_cp(cp) || sig_is_cjk_cp(cp)) break;
                i += k2;
            }
        }
        if (out->n < cap) {
            out->off[out->n] = (uint32_t)st;
            out->len[out->n] = (uint32_t)(i - st);
            out->n++;
        }
    }
}

size_t sig_text_units(const char *s, size_t n)
{
    size_t units = 0;
    bool in_run = false;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t k = sig_utf8_next(s, n, i, &cp);
        i += k;
        if (sig_is_cjk_cp(cp)) {
            units++;
            in_run = false;
        } else if (sig_is_word_cp(cp)) {
            if (!in_run) units++;
            in_run = true;
        } else {
            in_run = false;
        }
    }
    return units;
}

/* ---- predicates ---- */

static int num(const cfg_node_t *v, double *out)
{
    if (!v || v->kind != CFG_NODE_SCALAR || !v->str) return -1;
    char *end;
    double d = strtod(v->str, &end);
    if (end == v->str || *end || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

int sig_pred_parse(const cfg_node_t *node, sig_pred_t *p, const char **why)
{
    memset(p, 0, sizeof *p);
    if (!node || cfg_node_is_null(node)) return 0;
    if (node->kind != CFG_NODE_MAP) {
        *why = "predicate must be a mapping {gt|gte|lt|lte|eq: number}";
        return -1;
    }
    for (size_t i = 0; i < node->n; i++) {
        const char *k = node->keys[i]->str;
        double d;
        if (num(node->items[i], &d) != 0) {
            *why = "predicate values must be numbers";
            return -1;
        }
        if (!strcmp(k, "gt"))
            p->has_gt = true, p->gt = d;
        else if (!strcmp(k, "gte"))
            p->has_gte = true, p->gte = d;
        else if (!strcmp(k, "lt"))
            p->has_lt = true, p->lt = d;
        else if (!strcmp(k, "lte"))
            p->has_lte = true, p->lte = d;
        else if (!strcmp(k, "eq"))
            p->has_eq = true, p->eq = d;
        else {
            *why = "unknown predicate key (use gt, gte, lt, lte or eq)";
            return -1;
        }
    }
    return 0;
}

bool sig_pred_empty(const sig_pred_t *p)
{
    return !(p->has_gt || p->has_gte || p->has_lt || p->has_lte || p->has_eq);
}

bool sig_pred_eval(const sig_pred_t *p, double v)
{
    if (p->has_gt && !(v > p->gt)) return false;
    if (p->has_gte && !(v >= p->gte)) return false;
    if (p->has_lt && !(v < p->lt)) return false;
    if (p->has_lte && !(v <= p->lte)) return false;
    if (p->has_eq && !(fabs(v - p->eq) < 1e-9)) return false;
    return true;
}

void sig_pred_result(const sig_pred_t *p, double v, sig_result_t *res)
{
    res->value = v;
    res->has_value = true;
    res->matched = sig_pred_empty(p) ? v > 0 : sig_pred_eval(p, v);
    res->score = res->matched ? 1.0 : 0.0;
}
