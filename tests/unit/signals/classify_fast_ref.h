/* classify_fast_ref.h - the reference of test_classify_parse.c's
 * differential test: src/signals/classify_fast.c as it was before its
 * one-pass reader (the span walkers over a validated reply), verbatim but
 * for this comment's first lines, ref_classify_fast's name and no batch
 * reader. Was: the fast path of a vLLM /classify reply (issue 18):
 * {"data":[{"label":...,"probs":[...],...},...],...} read with the json
 * layer's scanner (jscan_validate, then the span walkers) instead of a
 * cJSON tree (a node and a malloc per value: about 21,000 instructions per
 * reply on the worker).
 *
 * It accepts only a reply it understands fully and whose cJSON parse would
 * give the same tree: strict JSON (jscan_validate), no number of 64 or more
 * characters (cJSON 1.7's number buffer truncates those and then fails), no
 * escaped key (cJSON compares keys after unescaping, up to a \u0000), no
 * duplicate "data", "label" or "probs" (cJSON takes the first), "probs" an
 * array of numbers in [0, 1] when present, every data[] entry an object and
 * every entry one the cJSON path would accept. Anything else returns false
 * and sig_cls_parse_classify parses the reply with cJSON, which gives the
 * exact outcome and error. On acceptance the label, score and positive
 * probability are those of the cJSON path (classify_parse.c one_entry),
 * computed in the same order: numbers as strtod reads them (an exact
 * product or quotient of at most 2^53 by a power of ten up to 1e22, else
 * strtod itself). Pure; tested against the cJSON path on generated and
 * mutated replies (tests/unit/signals/test_classify_parse.c). */
#include "json/scan.h"
#include "signals/classify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CF_MAX_PROBS 256
#define CF_NUM_MAX   63 /* longest number cJSON reads whole */

static bool cf_in_list(const cfg_strlist_t *l, const char *s, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == n && !strncasecmp(l->v[i], s, n)) return true;
    return false;
}

/* A run of CF_NUM_MAX + 1 number characters anywhere (strings included, so
 * it may decline a reply cJSON reads: harmless). */
static const unsigned char cf_numch[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['.'] = 1, ['e'] = 1, ['E'] = 1, ['+'] = 1, ['-'] = 1};

static bool cf_long_number(const char *s, size_t n)
{
    /* a run ends at most CF_NUM_MAX bytes after it starts: look at every
     * (CF_NUM_MAX + 1)th byte and count the run through it only when that
     * byte is a number character (most bytes of a reply are not) */
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = CF_NUM_MAX; i < n; i += CF_NUM_MAX + 1) {
        if (!cf_numch[u[i]]) continue;
        size_t lo = i, hi = i;
        while (lo > 0 && cf_numch[u[lo - 1]])
            lo--;
        while (hi + 1 < n && cf_numch[u[hi + 1]])
            hi++;
        if (hi - lo + 1 > CF_NUM_MAX) return true;
        i = hi - CF_NUM_MAX; /* the next window starts after this run */
    }
    return false;
}

static const double cf_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number span (already validated as strict JSON, shorter than 64 bytes)
 * as strtod reads it. */
static double cf_number(const char *p, size_t n)
{
    const uint64_t max_m = (uint64_t)1 << 53;
    const char *q = p, *e = p + n;
    bool neg = *q == '-';
    if (neg) q++;
    uint64_t m = 0;
    int ex = 0;
    bool exact = true;
    for (; q < e && *q >= '0' && *q <= '9'; q++) {
        unsigned d = (unsigned)(*q - '0');
        if (m > (max_m - d) / 10)
            exact = false;
        else
            m = m * 10 + d;
    }
    if (q < e && *q == '.')
        for (q++; q < e && *q >= '0' && *q <= '9'; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (m > (max_m - d) / 10)
                exact = false;
            else
                m = m * 10 + d;
            ex--;
        }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        bool eneg = *q == '-';
        if (*q == '+' || *q == '-') q++;
        int x = 0;
        for (; q < e && *q >= '0' && *q <= '9'; q++)
            if (x < 100000) x = x * 10 + (*q - '0');
        ex += eneg ? -x : x;
    }
    if (exact && (m == 0 || (ex >= -22 && ex <= 22))) {
        double v = m == 0 ? 0.0 : ex >= 0 ? (double)m * cf_pow10[ex] : (double)m / cf_pow10[-ex];
        return neg ? -v : v;
    }
    char tmp[CF_NUM_MAX + 1];
    memcpy(tmp, p, n);
    tmp[n] = 0;
    return strtod(tmp, NULL);
}

/* A key span (quotes included) equal to want, written without escapes;
 * *esc set when the key has any (the caller declines). */
static bool cf_key(const char *body, jspan_t k, const char *want, bool *esc)
{
    const char *s = body + k.off + 1;
    size_t n = k.len - 2;
    if (memchr(s, '\\', n)) *esc = true;
    return n == strlen(want) && !memcmp(s, want, n);
}

typedef struct {
    const char *label;
    size_t label_len;
    double score, positive;
} cf_entry_t;

/* One data[] entry, as classify_parse.c one_entry reads it; with idx, also
 * its "index" value (len 0 when absent; a second one declines). */
static bool cf_entry(const cfg_classifier_t *k, const char *body, jspan_t obj, arena_t *a,
                     cf_entry_t *r, jspan_t *idx)
{
    if (jscan_type(body, obj) != '{') return false;
    jspan_t key, val, jl = {0, 0}, jp = {0, 0};
    uint32_t cur = 0;
    bool esc = false;
    while (jscan_obj_next(body, obj, &cur, &key, &val)) {
        if (cf_key(body, key, "label", &esc)) {
            if (jl.len) return false;
            jl = val;
        } else if (cf_key(body, key, "probs", &esc)) {
            if (jp.len) return false;
            jp = val;
        } else if (idx && cf_key(body, key, "index", &esc)) {
            if (idx->len) return false;
            *idx = val;
        }
        if (esc) return false;
    }
    double p[CF_MAX_PROBS];
    int np = 0, besti = -1;
    double best = -1;
    if (jp.len) {
        if (jscan_type(body, jp) != '[') return false;
        cur = 0;
        jspan_t x;
        while (jscan_arr_next(body, jp, &cur, &x)) {
            char c = jscan_type(body, x);
            if (np == CF_MAX_PROBS || !(c == '-' || (c >= '0' && c <= '9'))) return false;
            double d = cf_number(body + x.off, x.len);
            if (d < 0 || d > 1) return false;
            p[np] = d;
            if (d > best) {
                best = d;
                besti = np;
            }
            np++;
        }
    }
    bool lined_up = np > 0 && (size_t)np == k->labels.n;
    if (besti >= 0 && lined_up) {
        r->label = k->labels.v[besti];
        r->label_len = strlen(r->label);
    } else if (jscan_type(body, jl) == '"') {
        if (memchr(body + jl.off, '\\', jl.len)) {
            char *u = jscan_unescape(a, body, jl, NULL);
            if (!u) return false;
            r->label = u;
            r->label_len = strlen(u); /* cJSON's C string ends at a \u0000 */
        } else {
            r->label = body + jl.off + 1;
            r->label_len = jl.len - 2;
        }
    } else {
        return false;
    }
    r->score = best >= 0 ? best : 1.0;
    double pos = 0;
    if (lined_up && k->positive_labels.n) {
        for (int i = 0; i < np; i++)
            if (cf_in_list(&k->positive_labels, k->labels.v[i], strlen(k->labels.v[i])))
                pos += p[i];
    } else {
        bool is_pos = cf_in_list(&k->positive_labels, r->label, r->label_len);
        pos = is_pos ? r->score : 1.0 - r->score;
    }
    r->positive = pos < 0 ? 0 : pos > 1 ? 1 : pos;
    return true;
}

/* The reply's data[] array: strict JSON, no long number, a top-level
 * object with one unescaped "data" member that is an array. */
static bool cf_data(const char *body, size_t len, jspan_t *out)
{
    if (!body || len >= UINT32_MAX || jscan_validate(body, len, NULL) != 0 ||
        cf_long_number(body, len))
        return false;
    jspan_t root = {0, (uint32_t)len}, key, val, data = {0, 0};
    while (root.len && (body[root.off] == ' ' || body[root.off] == '\t' || body[root.off] == '\n' ||
                        body[root.off] == '\r')) {
        root.off++;
        root.len--;
    }
    while (root.len &&
           (body[root.off + root.len - 1] == ' ' || body[root.off + root.len - 1] == '\t' ||
            body[root.off + root.len - 1] == '\n' || body[root.off + root.len - 1] == '\r'))
        root.len--;
    if (jscan_type(body, root) != '{') return false;
    uint32_t cur = 0;
    bool esc = false;
    while (jscan_obj_next(body, root, &cur, &key, &val)) {
        if (cf_key(body, key, "data", &esc)) {
            if (data.len) return false;
            data = val;
        }
        if (esc) return false;
    }
    if (jscan_type(body, data) != '[') return false;
    *out = data;
    return true;
}

static bool ref_classify_fast(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                              sig_cls_out_t *out)
{
    jspan_t data;
    if (!cf_data(body, len, &data)) return false;
    /* several inputs (chunks): the most positive one speaks for the text */
    cf_entry_t best = {0}, e;
    double best_pos = -1;
    bool any = false;
    jspan_t d;
    uint32_t cur = 0;
    while (jscan_arr_next(body, data, &cur, &d)) {
        if (!cf_entry(k, body, d, a, &e, NULL)) return false;
        any = true;
        if (e.positive > best_pos) {
            best_pos = e.positive;
            best = e;
        }
    }
    if (!any) return false;
    out->label = arena_strndup(a, best.label, best.label_len);
    out->score = best.score;
    out->positive = best.positive;
    return true;
}
