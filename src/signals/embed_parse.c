/* embed_parse.c - the fast path of an /embeddings reply (issue 18): one
 * pass over {"data":[{"index":i,"embedding":[x,...]},...],...} straight
 * into the caller's float rows, without a cJSON tree (a node and a malloc
 * per number, then strtod: about 100,000 instructions for one 64-float
 * vector, a third of a routed request's worker time).
 *
 * It validates the JSON it reads (strings, numbers, literals, nesting) and
 * accepts only a reply it understands fully: every row 0..n-1 exactly once,
 * each with exactly dims numbers, no duplicate "data"/"index"/"embedding"
 * keys. Anything else returns false and the caller parses the reply with
 * cJSON (embed_openai.c), which gives the exact outcome and error; so a
 * reply accepted here yields what the cJSON parse would have given. Numbers:
 * up to 19 significant digits times an exact power of ten in double (the
 * float result equals strtod's but in a midpoint case of ~1e-9 odds), else
 * strtod on a copy. Pure; tested against the cJSON parse on random and
 * mutated replies (tests/unit/signals/test_embed_parse.c). */
#include "signals/embedder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EP_MAX_DEPTH 64

typedef struct {
    const char *p, *end;
} ep_t;

static void ws(ep_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool lit(ep_t *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A string at s->p (after ws): its raw bytes between the quotes (escapes
 * left as they are; *esc set when there were any). */
static bool str(ep_t *s, const char **v, size_t *n, bool *esc)
{
    ws(s);
    if (s->p >= s->end || *s->p != '"') return false;
    const char *a = ++s->p;
    *esc = false;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *v = a;
            *n = (size_t)(s->p - a);
            s->p++;
            return true;
        }
        if (c < 0x20) return false;
        if (c == '\\') {
            *esc = true;
            if (++s->p >= s->end) return false;
            char e = *s->p;
            if (e == 'u') { /* as cJSON: a high surrogate needs its low one */
                unsigned u = 0;
                if (s->end - s->p < 5) return false;
                for (int i = 1; i <= 4; i++) {
                    if (hexv(s->p[i]) < 0) return false;
                    u = u * 16 + (unsigned)hexv(s->p[i]);
                }
                s->p += 4;
                if (u >= 0xDC00 && u <= 0xDFFF) return false;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    unsigned l = 0;
                    if (s->end - s->p < 7 || s->p[1] != '\\' || s->p[2] != 'u') return false;
                    for (int i = 3; i <= 6; i++) {
                        if (hexv(s->p[i]) < 0) return false;
                        l = l * 16 + (unsigned)hexv(s->p[i]);
                    }
                    if (l < 0xDC00 || l > 0xDFFF) return false;
                    s->p += 6;
                }
            } else if (!e || !strchr("\"\\/bfnrt", e)) {
                return false;
            }
        }
        s->p++;
    }
    return false;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A JSON number (strict grammar) into *out: the general reader (num's
 * fallback, and skip's). */
static bool num_general(ep_t *s, double *out)
{
    ws(s);
    const char *a = s->p, *p = s->p, *e = s->end;
    bool neg = p < e && *p == '-';
    if (neg) p++;
    if (p >= e || *p < '0' || *p > '9') return false;
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    if (*p == '0') {
        p++;
    } else {
        for (; p < e && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                if (m) digits++;
            } else {
                exp10++;
            }
        }
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return false;
        for (; p < e && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                if (m) digits++;
                exp10--;
            }
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= e || *p < '0' || *p > '9') return false;
        int x = 0;
        for (; p < e && *p >= '0' && *p <= '9'; p++)
            if (x < 100000) x = x * 10 + (*p - '0');
        exp10 += eneg ? -x : x;
    }
    s->p = p;
    double v;
    if (m == 0) {
        v = 0;
    } else if (exp10 >= -22 && exp10 <= 22) { /* exact when m < 2^53, else within an ulp */
        v = exp10 >= 0 ? (double)m * pow10_exact[exp10] : (double)m / pow10_exact[-exp10];
    } else { /* rare: strtod on a copy (the body is not NUL-terminated) */
        char tmp[64];
        size_t n = (size_t)(p - a);
        if (n >= sizeof tmp) return false;
        memcpy(tmp, a, n);
        tmp[n] = 0;
        *out = strtod(tmp, NULL);
        return true;
    }
    *out = neg ? -v : v;
    return true;
}

/* A JSON number into *out, as num_general reads it: the common form (at
 * most 19 digits in all, an exponent of at most 4 digits, the product or
 * quotient within 1e22) in one tight pass, giving num_general's m and exp10
 * and so its very expression; anything else (more digits, a bad form, a
 * large exponent) is read again by num_general from the start. */
static inline bool num(ep_t *s, double *out)
{
    const char *p = s->p, *e = s->end;
    if (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        ws(s);
        p = s->p;
    }
    bool neg = p < e && *p == '-';
    p += neg;
    if (p >= e) return num_general(s, out);
    const char *d0 = p;
    uint64_t m = 0;
    unsigned d;
    if (*p == '0') {
        p++;
    } else {
        while (p < e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
            m = m * 10 + d;
            p++;
        }
    }
    long nd = p - d0, fd = 0;
    if (!nd) return num_general(s, out);
    if (p < e && *p == '.') {
        const char *f0 = ++p;
        while (p < e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
            m = m * 10 + d;
            p++;
        }
        fd = p - f0;
        if (!fd) return num_general(s, out);
    }
    if (nd + fd > 19) return num_general(s, out);
    int exp10 = -(int)fd;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        const char *x0 = p;
        int x = 0;
        while (p < e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
            if (p - x0 < 4) x = x * 10 + (int)d; /* longer: num_general's */
            p++;
        }
        if (p == x0 || p - x0 > 4) return num_general(s, out);
        exp10 += eneg ? -x : x;
    }
    double v;
    if (m == 0)
        v = 0;
    else if (exp10 >= -22 && exp10 <= 22)
        v = exp10 >= 0 ? (double)m * pow10_exact[exp10] : (double)m / pow10_exact[-exp10];
    else
        return num_general(s, out);
    s->p = p;
    *out = neg ? -v : v;
    return true;
}

/* Skip any JSON value, validating it. */
static bool skip(ep_t *s, int depth)
{
    if (depth > EP_MAX_DEPTH) return false;
    ws(s);
    if (s->p >= s->end) return false;
    char c = *s->p;
    const char *v;
    size_t n;
    bool esc;
    double d;
    if (c == '"') return str(s, &v, &n, &esc);
    if (c == '{') {
        s->p++;
        if (lit(s, '}')) return true;
        do {
            if (!str(s, &v, &n, &esc) || !lit(s, ':') || !skip(s, depth + 1)) return false;
        } while (lit(s, ','));
        return lit(s, '}');
    }
    if (c == '[') {
        s->p++;
        if (lit(s, ']')) return true;
        do {
            if (!skip(s, depth + 1)) return false;
        } while (lit(s, ','));
        return lit(s, ']');
    }
    if (c == '-' || (c >= '0' && c <= '9')) return num(s, &d);
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= wl && !memcmp(s->p, words[i], wl)) {
            s->p += wl;
            return true;
        }
    }
    return num(s, &d);
}

static bool key_is(const char *k, size_t n, const char *want)
{
    return n == strlen(want) && !memcmp(k, want, n);
}

/* [x, ...] of exactly dims numbers into row. */
static bool vector(ep_t *s, float *row, int dims)
{
    if (!lit(s, '[')) return false;
    int i = 0;
    if (lit(s, ']')) return dims == 0;
    for (;;) {
        double d;
        if (i >= dims || !num(s, &d)) return false;
        row[i++] = (float)d;
        if (s->p < s->end && *s->p == ',') { /* the usual separator, no space */
            s->p++;
            continue;
        }
        if (!lit(s, ',')) break;
    }
    return lit(s, ']') && i == dims;
}

/* One data[] entry at position pos. */
static bool entry(ep_t *s, size_t pos, size_t n, int dims, float *out, unsigned char *seen)
{
    if (!lit(s, '{')) return false;
    const char *vec_at = NULL;
    bool have_index = false, have_vec = false;
    size_t idx = pos;
    if (!lit(s, '}')) {
        do {
            const char *k;
            size_t kl;
            bool esc;
            if (!str(s, &k, &kl, &esc) || esc || !lit(s, ':')) return false; /* keys as written */
            if (key_is(k, kl, "index")) {
                double d;
                ws(s);
                if (have_index || !num(s, &d) || d < 0 || d >= 0x1p64 || d != (double)(size_t)d)
                    return false; /* (size_t) of 2^64 or more: undefined */
                have_index = true;
                idx = (size_t)d;
            } else if (key_is(k, kl, "embedding")) {
                if (have_vec) return false;
                have_vec = true;
                ws(s);
                if (have_index) { /* the usual order: straight into its row */
                    if (idx >= n || seen[idx]) return false;
                    if (!vector(s, out + idx * (size_t)dims, dims)) return false;
                    seen[idx] = 2;
                    continue;
                }
                vec_at = s->p; /* read once the index is known */
                if (!skip(s, 1)) return false;
            } else if (!skip(s, 1)) {
                return false;
            }
        } while (lit(s, ','));
        if (!lit(s, '}')) return false;
    }
    if (!have_vec || idx >= n || seen[idx] == 1) return false;
    if (!vec_at) { /* read above, into the row of the index before it */
        if (seen[idx] != 2) return false;
        seen[idx] = 1;
        return true;
    }
    if (seen[idx]) return false;
    seen[idx] = 1;
    ep_t v = {vec_at, s->end};
    return vector(&v, out + idx * (size_t)dims, dims);
}

bool emb_parse_fast(const char *body, size_t len, size_t n, int dims, float *out)
{
    if (!body || !out || dims <= 0 || !n) return false;
    unsigned char seen_small[64];
    unsigned char *seen = n <= sizeof seen_small ? seen_small : calloc(n, 1);
    if (!seen) return false;
    memset(seen, 0, n <= sizeof seen_small ? n : 0);
    ep_t s = {body, body + len};
    bool ok = lit(&s, '{'), have_data = false;
    size_t rows = 0;
    if (ok && !lit(&s, '}')) {
        do {
            const char *k;
            size_t kl;
            bool esc;
            if (!str(&s, &k, &kl, &esc) || esc || !lit(&s, ':')) {
                ok = false;
                break;
            }
            if (key_is(k, kl, "data")) {
                if (have_data || !lit(&s, '[')) {
                    ok = false;
                    break;
                }
                have_data = true;
                if (!lit(&s, ']')) {
                    do {
                        if (!entry(&s, rows, n, dims, out, seen)) {
                            ok = false;
                            break;
                        }
                        rows++;
                    } while (lit(&s, ','));
                    if (ok && !lit(&s, ']')) ok = false;
                }
            } else if (!skip(&s, 1)) {
                ok = false;
            }
        } while (ok && lit(&s, ','));
        if (ok && !lit(&s, '}')) ok = false;
    }
    ws(&s);
    ok = ok && have_data && rows == n && s.p == s.end;
    if (seen != seen_small) free(seen);
    return ok;
}
