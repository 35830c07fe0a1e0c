/* classify_fast.c - the fast path of a vLLM /classify reply (issue 18):
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

/* An entry's score and positive share once its label is set (both readers):
 * best is the highest of the np probabilities p (-1 when there are none),
 * lined_up says they follow the configured labels one for one. */
static void cf_score(const cfg_classifier_t *k, cf_entry_t *r, const double *p, int np, double best,
                     bool lined_up)
{
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
}

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
    cf_score(k, r, p, np, best, lined_up);
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

/* ---- one pass (sig_cls_classify_fast) ----
 * The same acceptance and results as cf_data + cf_entry (which the batch
 * reader keeps), read in a single pass over the reply with no validation
 * pass and no span walks: strict JSON (the four whitespace bytes, strict
 * numbers and literals, strings without control bytes and with valid
 * escapes, nesting at most CF_DEPTH), no number of 64 or more characters,
 * no escaped key at the top level or in an entry, no duplicate "data",
 * "label" or "probs". A label with escapes and a byte above 0x7f is
 * declined (the tree path decides). */

#define CF_DEPTH 64

typedef struct {
    const char *p, *e;
} cs_t;

static inline void cs_ws(cs_t *s)
{
    while (s->p < s->e && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static inline bool cs_lit(cs_t *s, char c)
{
    cs_ws(s);
    if (s->p < s->e && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static int cs_hex4(const char *p)
{
    int u = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0) return -1;
        u = u * 16 + v;
    }
    return u;
}

/* A string at s->p (after whitespace): *v at its opening quote, *n its
 * length with both quotes; *esc when it has escapes, *high when it has a
 * byte above 0x7f. */
static bool cs_str(cs_t *s, const char **v, size_t *n, bool *esc, bool *high)
{
    cs_ws(s);
    if (s->p >= s->e || *s->p != '"') return false;
    const char *a = s->p++;
    *esc = *high = false;
    while (s->p < s->e) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            *v = a;
            *n = (size_t)(s->p - a);
            return true;
        }
        if (c < 0x20) return false;
        if (c >= 0x80) *high = true;
        if (c == '\\') {
            *esc = true;
            if (++s->p >= s->e) return false;
            char x = *s->p;
            if (x == 'u') { /* as cJSON: a high surrogate needs its low one */
                if (s->e - s->p < 5) return false;
                int u = cs_hex4(s->p + 1);
                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return false;
                s->p += 4;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (s->e - s->p < 7 || s->p[1] != '\\' || s->p[2] != 'u') return false;
                    int l = cs_hex4(s->p + 3);
                    if (l < 0xDC00 || l > 0xDFFF) return false;
                    s->p += 6;
                }
            } else if (!(x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' ||
                         x == 'r' || x == 't')) {
                return false;
            }
        }
        s->p++;
    }
    return false;
}

/* A strict JSON number at s->p (after whitespace) shorter than 64 bytes:
 * its span. */
static bool cs_num(cs_t *s, const char **v, size_t *n)
{
    cs_ws(s);
    const char *a = s->p, *p = s->p, *e = s->e;
    if (p < e && *p == '-') p++;
    if (p >= e || *p < '0' || *p > '9') return false;
    if (*p == '0')
        p++;
    else
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    if (p < e && *p == '.') {
        if (++p >= e || *p < '0' || *p > '9') return false;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return false;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p - a > CF_NUM_MAX) return false; /* cJSON's buffer */
    s->p = p;
    *v = a;
    *n = (size_t)(p - a);
    return true;
}

/* Any value, validated. */
static bool cs_skip(cs_t *s, int depth)
{
    if (depth > CF_DEPTH) return false;
    cs_ws(s);
    if (s->p >= s->e) return false;
    char c = *s->p;
    const char *v;
    size_t n;
    bool esc, high;
    if (c == '"') return cs_str(s, &v, &n, &esc, &high);
    if (c == '{') {
        s->p++;
        if (cs_lit(s, '}')) return true;
        do {
            if (!cs_str(s, &v, &n, &esc, &high) || !cs_lit(s, ':') || !cs_skip(s, depth + 1))
                return false;
        } while (cs_lit(s, ','));
        return cs_lit(s, '}');
    }
    if (c == '[') {
        s->p++;
        if (cs_lit(s, ']')) return true;
        do {
            if (!cs_skip(s, depth + 1)) return false;
        } while (cs_lit(s, ','));
        return cs_lit(s, ']');
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t)(s->e - s->p) >= wl && !memcmp(s->p, words[i], wl)) {
            s->p += wl;
            return true;
        }
    }
    return cs_num(s, &v, &n);
}

/* An object key, unescaped (else false: the caller declines), then ':'. */
static bool cs_key(cs_t *s, const char **k, size_t *kl)
{
    bool esc, high;
    if (!cs_str(s, k, kl, &esc, &high) || esc || !cs_lit(s, ':')) return false;
    *k += 1;
    *kl -= 2;
    return true;
}

static bool cs_key_is(const char *k, size_t n, const char *want, size_t wn)
{
    return n == wn && !memcmp(k, want, n);
}

/* "probs": [x, ...] of numbers in [0, 1] into p (at most CF_MAX_PROBS). */
static bool cs_probs(cs_t *s, double *p, int *np, int *besti, double *best)
{
    if (!cs_lit(s, '[')) return false;
    if (cs_lit(s, ']')) return true;
    do {
        const char *v;
        size_t vn;
        if (*np == CF_MAX_PROBS || !cs_num(s, &v, &vn)) return false;
        double d = cf_number(v, vn);
        if (d < 0 || d > 1) return false;
        p[*np] = d;
        if (d > *best) {
            *best = d;
            *besti = *np;
        }
        (*np)++;
    } while (cs_lit(s, ','));
    return cs_lit(s, ']');
}

/* One data[] entry, as cf_entry reads it. */
static bool cs_entry(const cfg_classifier_t *k, cs_t *s, arena_t *a, cf_entry_t *r)
{
    if (!cs_lit(s, '{')) return false;
    const char *jl = NULL;
    size_t jl_len = 0;
    bool have_label = false, have_probs = false, label_esc = false, label_high = false;
    double p[CF_MAX_PROBS];
    int np = 0, besti = -1;
    double best = -1;
    if (!cs_lit(s, '}')) {
        do {
            const char *key;
            size_t kl;
            if (!cs_key(s, &key, &kl)) return false;
            if (cs_key_is(key, kl, "label", 5)) {
                if (have_label) return false;
                have_label = true;
                cs_ws(s);
                if (s->p < s->e && *s->p == '"') {
                    if (!cs_str(s, &jl, &jl_len, &label_esc, &label_high)) return false;
                } else if (!cs_skip(s, 1)) {
                    return false;
                }
            } else if (cs_key_is(key, kl, "probs", 5)) {
                if (have_probs || !cs_probs(s, p, &np, &besti, &best)) return false;
                have_probs = true;
            } else if (!cs_skip(s, 1)) {
                return false;
            }
        } while (cs_lit(s, ','));
        if (!cs_lit(s, '}')) return false;
    }
    bool lined_up = np > 0 && (size_t)np == k->labels.n;
    if (besti >= 0 && lined_up) {
        r->label = k->labels.v[besti];
        r->label_len = strlen(r->label);
    } else if (jl) {
        if (label_esc) {
            if (label_high) return false;
            jspan_t sp = {0, (uint32_t)jl_len};
            char *u = jscan_unescape(a, jl, sp, NULL);
            if (!u) return false;
            r->label = u;
            r->label_len = strlen(u); /* cJSON's C string ends at a \u0000 */
        } else {
            r->label = jl + 1;
            r->label_len = jl_len - 2;
        }
    } else {
        return false;
    }
    cf_score(k, r, p, np, best, lined_up);
    return true;
}

bool sig_cls_classify_fast(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                           sig_cls_out_t *out)
{
    if (!body || len >= UINT32_MAX) return false;
    cs_t s = {body, body + len};
    /* several inputs (chunks): the most positive one speaks for the text */
    cf_entry_t best = {0}, e;
    double best_pos = -1;
    bool any = false, have_data = false;
    if (!cs_lit(&s, '{') || cs_lit(&s, '}')) return false; /* no "data" */
    do {
        const char *key;
        size_t kl;
        if (!cs_key(&s, &key, &kl)) return false;
        if (!cs_key_is(key, kl, "data", 4)) {
            if (!cs_skip(&s, 1)) return false;
            continue;
        }
        if (have_data || !cs_lit(&s, '[')) return false;
        have_data = true;
        if (cs_lit(&s, ']')) continue;
        do {
            if (!cs_entry(k, &s, a, &e)) return false;
            any = true;
            if (e.positive > best_pos) {
                best_pos = e.positive;
                best = e;
            }
        } while (cs_lit(&s, ','));
        if (!cs_lit(&s, ']')) return false;
    } while (cs_lit(&s, ','));
    if (!cs_lit(&s, '}')) return false;
    cs_ws(&s);
    if (s.p != s.e || !any) return false;
    out->label = arena_strndup(a, best.label, best.label_len);
    out->score = best.score;
    out->positive = best.positive;
    return true;
}

/* The part holding input i (parts back to back, in order), or -1. */
static long cf_part_of(const sig_cls_part_t *parts, size_t n, int64_t i)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (i < (int64_t)parts[m].first)
            hi = m;
        else if (i >= (int64_t)parts[m].first + (int64_t)parts[m].count)
            lo = m + 1;
        else
            return (long)m;
    }
    return -1;
}

typedef struct {
    cf_entry_t best;
    double best_pos;
    bool any;
} cf_part_best_t;

bool sig_cls_batch_fast(const cfg_classifier_t *k, const char *body, size_t len,
                        sig_cls_part_t *parts, size_t n)
{
    jspan_t data;
    if (!n || !cf_data(body, len, &data)) return false;
    cf_part_best_t stack[64], *pb = n <= 64 ? stack : malloc(n * sizeof *pb);
    if (!pb) return false;
    for (size_t i = 0; i < n; i++)
        pb[i] = (cf_part_best_t){.best_pos = -1};
    jspan_t d;
    uint32_t cur = 0;
    int64_t pos = 0;
    bool ok = true;
    while (ok && jscan_arr_next(body, data, &cur, &d)) {
        cf_entry_t e;
        jspan_t idx = {0, 0};
        int64_t at = pos++;
        /* labels are copied into their request's arena below; the first
         * request's holds what unescaping needs meanwhile */
        if (!cf_entry(k, body, d, parts[0].a, &e, &idx) ||
            (idx.len && !jscan_int(body, idx, &at))) {
            ok = false; /* the cJSON path decides */
            break;
        }
        long p = cf_part_of(parts, n, at);
        if (p < 0) continue; /* no request's input */
        pb[p].any = true;
        if (e.positive > pb[p].best_pos) { /* as one request's reply: the most positive */
            pb[p].best_pos = e.positive;
            pb[p].best = e;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        sig_cls_part_t *q = &parts[i];
        q->rc = pb[i].any ? 0 : -1;
        if (!pb[i].any) continue;
        q->out->label = arena_strndup(q->a, pb[i].best.label, pb[i].best.label_len);
        q->out->score = pb[i].best.score;
        q->out->positive = pb[i].best.positive;
    }
    if (pb != stack) free(pb);
    return ok;
}
