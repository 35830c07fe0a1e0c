/* scan_lex.h - the byte-level lexers behind json/scan.h, private to
 * src/json/: strings (scan_str.c's lexers, 64 bytes at a time with AVX2 or
 * SSE2, chosen at run time; scan_str ends short plain ones inline, and the
 * request scan notes the "encrypted_content" marker as strings end), numbers, literals, the
 * iterative value skipper with its explicit container stack, separators and
 * escape decoding. Shared by the request scanner (scan.c) and the span
 * helpers (scan_span.c); static inline so that the scanner's hot loops
 * inline them exactly as when they lived in one file. Every error goes
 * through fail(), so both users report the same offsets and messages. */
#ifndef TETHER_JSON_SCAN_LEX_H
#define TETHER_JSON_SCAN_LEX_H
#include "json/scan.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct scanner {
    const uint8_t *p;
    size_t n;
    jscan_err_t *err;
    /* reject lone \uD800-\uDFFF escapes (client requests, jscan_validate);
     * the span helpers over upstream replies leave it false */
    bool strict_surrogates;
    /* the request scan: count the strings whose last 19 raw bytes, closing
     * quote included, are "encrypted_content" with its quotes (in valid
     * JSON every raw occurrence of that text ends a string so; jmsg_t
     * enc_marker) */
    bool count_enc;
    uint32_t enc_hits;
} scanner_t;

static const char E_EOF[] = "unexpected end of input";
static const char E_CHAR[] = "unexpected character";
static const char E_TRAIL[] = "unexpected data after the JSON value";
static const char E_UNTERM[] = "unterminated string";
static const char E_CTRL[] = "control character in string";
static const char E_ESC[] = "invalid escape in string";
static const char E_UESC[] = "invalid \\u escape in string";
static const char E_SURR[] = "lone surrogate in \\u escape";
static const char E_UTF8[] = "invalid UTF-8 in string";
static const char E_NUM[] = "invalid number";
static const char E_ZERO[] = "invalid number (leading zero)";
static const char E_LIT[] = "invalid literal";
static const char E_DEEP[] = "nesting too deep";
static const char E_KEY[] = "expected string key";
static const char E_OCOMMA[] = "trailing comma in object";
static const char E_ACOMMA[] = "trailing comma in array";
static const char E_COLON[] = "expected ':' after object key";
static const char E_OSEP[] = "expected ',' or '}' after object member";
static const char E_ASEP[] = "expected ',' or ']' after array element";
static const char E_MODELS[] = "too many \"model\" keys";
static const char E_BIG[] = "body too large (4 GiB or more)";
static const char E_MANY[] = "too many messages or input items";

static const char ENC_MARK[] = "\"encrypted_content\"";

/* A string ended just before p[end] (its closing quote is p[end - 1]). */
static inline void note_str_end(scanner_t *s, size_t end)
{
    const size_t L = sizeof ENC_MARK - 1;
    if (s->count_enc && end >= L && s->p[end - 2] == 't' && !memcmp(s->p + end - L, ENC_MARK, L))
        s->enc_hits++;
}

static inline int fail(scanner_t *s, size_t off, const char *msg)
{
    if (s->err) {
        s->err->offset = off;
        s->err->message = msg;
    }
    return -1;
}

/* 1 for bytes that end the fast path inside a string. */
static const uint8_t str_special[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};
static const uint8_t is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
    if (i < n && p[i] > ' ') return i; /* compact JSON: no whitespace at all */
    while (i < n && is_ws[p[i]])
        i++;
    return i;
}

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Length of the well-formed UTF-8 sequence at p[i] (lead byte >= 0x80), or 0. */
static inline size_t utf8_seq(const uint8_t *p, size_t i, size_t n)
{
    uint8_t c = p[i];
    uint8_t lo = 0x80, hi = 0xbf;
    size_t k;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no encoded surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n - i < k) return 0;
    if (p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (size_t j = 2; j < k; j++)
        if ((p[i + j] & 0xc0) != 0x80) return 0;
    return k;
}

/* The byte p[*pi] of the string opened at p[start] stopped a lexer's fast
 * loop: a quote, a backslash, a control byte or a non-ASCII byte. Returns 1
 * when it closes the string (*pi moves past the quote), 0 when the string
 * goes on (*pi moves past the escape or the run of UTF-8 characters, *e is
 * set at an escape), -1 on an error. Shared by every string lexer
 * (scan_str.c), so they all give the same answers, offsets and messages. */
static inline int str_special_at(scanner_t *s, size_t start, size_t *pi, bool *e)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    size_t i = *pi;
    uint8_t c = p[i];
    if (c == '"') {
        *pi = i + 1;
        note_str_end(s, i + 1);
        return 1;
    }
    if (c == '\\') {
        *e = true;
        if (++i >= n) return fail(s, start, E_UNTERM);
        switch (p[i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': i++; break;
        case 'u': {
            uint32_t cp = 0;
            for (size_t k = 1; k <= 4; k++) {
                if (i + k >= n) return fail(s, start, E_UNTERM);
                int h = hexval(p[i + k]);
                if (h < 0) return fail(s, i + k, E_UESC);
                cp = cp << 4 | (uint32_t)h;
            }
            if (s->strict_surrogates && cp >= 0xd800 && cp <= 0xdfff) {
                /* a high surrogate must be followed by a low one */
                uint32_t lo = 0;
                bool ok = cp <= 0xdbff && i + 10 < n && p[i + 5] == '\\' && p[i + 6] == 'u';
                for (size_t k = 7; ok && k <= 10; k++) {
                    int h = hexval(p[i + k]);
                    ok = h >= 0;
                    lo = lo << 4 | (uint32_t)(h < 0 ? 0 : h);
                }
                if (!ok || lo < 0xdc00 || lo > 0xdfff) return fail(s, i - 1, E_SURR);
                i += 6;
            }
            i += 5;
            break;
        }
        default: return fail(s, i, E_ESC);
        }
        *pi = i;
        return 0;
    }
    if (c < 0x20) return fail(s, i, E_CTRL);
    /* a run of characters (text in most languages but English): one step */
    do {
        size_t k = utf8_seq(p, i, n);
        if (!k) return fail(s, i, E_UTF8);
        i += k;
    } while (i < n && p[i] >= 0x80);
    *pi = i;
    return 0;
}

/* The byte-at-a-time loop from p[i] of the string opened at p[start] (e:
 * an escape was met before i): the portable lexer, and the others' end
 * when fewer bytes remain than they read at once. */
static inline int str_scalar_from(scanner_t *s, size_t start, size_t i, bool e, size_t *end,
                                  bool *esc)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    for (;;) {
        while (i < n && !str_special[p[i]])
            i++;
        if (i >= n) return fail(s, start, E_UNTERM);
        int r = str_special_at(s, start, &i, &e);
        if (r < 0) return -1;
        if (r > 0) {
            *end = i;
            *esc = e;
            return 0;
        }
    }
}

/* The string lexers (scan_str.c), all with the same answers: portable
 * (byte at a time), SSE2 and AVX2 (a mask of the special bytes of 64 bytes
 * at a time). jscan_str_long is the one in use: the best this CPU runs,
 * chosen on the first string, or the one jscan_lexer_force chose. */
typedef int (*jscan_str_fn)(scanner_t *s, size_t i, size_t *end, bool *esc);
extern jscan_str_fn jscan_str_long;
/* scan_str's inline SSE2 path is on (off when the portable lexer is forced) */
extern bool jscan_str_inline;

/* p[i] is the opening quote. On success *end is the offset after the closing
 * quote and *esc tells whether any backslash escape occurred. */
static inline int scan_string(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    return __atomic_load_n(&jscan_str_long, __ATOMIC_RELAXED)(s, i, end, esc);
}

#if defined(__SSE2__)
/* The special bytes of p[0..16) (bit k for p[k]); signed compare: below
 * 0x20 takes every byte >= 0x80 too. */
static inline uint32_t str_mask16(const uint8_t *p)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(a, q), _mm_cmpeq_epi8(a, bs)), _mm_cmplt_epi8(a, sp)));
}
#endif

/* scan_string with the common short case inline: a string whose closing
 * quote comes within 32 bytes with nothing special before it (keys, roles,
 * ids) ends here with one or two 16-byte masks, without the call. Every
 * other string goes to scan_string, so the answer is always
 * scan_string's. */
static inline __attribute__((always_inline)) int scan_str(scanner_t *s, size_t i, size_t *end,
                                                          bool *esc)
{
#if defined(__SSE2__)
    if (i + 33 <= s->n && __atomic_load_n(&jscan_str_inline, __ATOMIC_RELAXED)) {
        const uint8_t *p = s->p + i + 1;
        uint32_t m = str_mask16(p);
        if (!m) m = str_mask16(p + 16) << 16;
        if (m) {
            size_t k = (size_t)__builtin_ctz(m);
            if (p[k] == '"') {
                *end = i + 2 + k;
                *esc = false;
                /* plain text of k bytes: its last 19 raw bytes with the
                 * quotes are "encrypted_content" only when k is 17 (any
                 * other k puts a quote where a letter is wanted) */
                if (k == sizeof ENC_MARK - 3) note_str_end(s, i + 2 + k);
                return 0;
            }
        }
    }
#endif
    return scan_string(s, i, end, esc);
}

static inline bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline int scan_number(scanner_t *s, size_t i, size_t *end)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    if (p[i] == '-') i++;
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] == '0') {
        i++;
        if (i < n && is_digit(p[i])) return fail(s, i, E_ZERO);
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && is_digit(p[i]))
            i++;
    } else
        return fail(s, i, E_NUM);
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n) return fail(s, n, E_EOF);
        if (!is_digit(p[i])) return fail(s, i, E_NUM);
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= n) return fail(s, n, E_EOF);
        if (!is_digit(p[i])) return fail(s, i, E_NUM);
        while (i < n && is_digit(p[i]))
            i++;
    }
    *end = i;
    return 0;
}

static inline int scan_literal(scanner_t *s, size_t i, size_t *end)
{
    const char *lit = s->p[i] == 't' ? "true" : s->p[i] == 'f' ? "false" : "null";
    size_t L = strlen(lit);
    for (size_t k = 0; k < L; k++) {
        if (i + k >= s->n) return fail(s, s->n, E_EOF);
        if (s->p[i + k] != (uint8_t)lit[k]) return fail(s, i + k, E_LIT);
    }
    *end = i + L;
    return 0;
}

/* Skip one value starting at p[i] (whitespace already skipped). depth is the
 * number of containers enclosing it. Iterative, with its own stack. */
static inline int skip_value(scanner_t *s, size_t i, int depth, size_t *end)
{
    uint8_t stack[JSCAN_MAX_DEPTH];
    int sp = 0;
    const uint8_t *p = s->p;
    const size_t n = s->n;
    bool esc;

value:
    if (i >= n) return fail(s, n, E_EOF);
    switch (p[i]) {
    case '"':
        if (scan_str(s, i, &i, &esc)) return -1;
        break;
    case '{':
        if (depth + sp >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
        stack[sp++] = '{';
        i = skip_ws(p, i + 1, n);
        if (i < n && p[i] == '}') {
            i++;
            sp--;
            break;
        }
        goto key;
    case '[':
        if (depth + sp >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
        stack[sp++] = '[';
        i = skip_ws(p, i + 1, n);
        if (i < n && p[i] == ']') {
            i++;
            sp--;
            break;
        }
        goto value;
    case 't':
    case 'f':
    case 'n':
        if (scan_literal(s, i, &i)) return -1;
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (scan_number(s, i, &i)) return -1;
        break;
    default: return fail(s, i, E_CHAR);
    }
after: /* a value ended just before p[i] */
    if (sp == 0) {
        *end = i;
        return 0;
    }
    i = skip_ws(p, i, n);
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] == ',') {
        i = skip_ws(p, i + 1, n);
        if (stack[sp - 1] == '{') goto key;
        if (i < n && p[i] == ']') return fail(s, i, E_ACOMMA);
        goto value;
    }
    if (stack[sp - 1] == '{') {
        if (p[i] != '}') return fail(s, i, E_OSEP);
    } else if (p[i] != ']')
        return fail(s, i, E_ASEP);
    i++;
    sp--;
    goto after;
key:
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] != '"') return fail(s, i, p[i] == '}' ? E_OCOMMA : E_KEY);
    if (scan_str(s, i, &i, &esc)) return -1;
    i = skip_ws(p, i, n);
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] != ':') return fail(s, i, E_COLON);
    i = skip_ws(p, i + 1, n);
    goto value;
}

static inline size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

static inline int hex4(const uint8_t *p, size_t i, size_t end, uint32_t *v)
{
    if (end - i < 4) return -1;
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[i + k]);
        if (h < 0) return -1;
        x = x << 4 | (uint32_t)h;
    }
    *v = x;
    return 0;
}

/* The byte a two-byte escape stands for, by its letter (0: not one). */
static const uint8_t esc_decoded[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                         ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};

/* Decode the escape whose backslash is at p[*i] (end = offset of the closing
 * quote). Writes up to 4 bytes; returns their count or -1. */
static inline int dec_escape(const uint8_t *p, size_t *i, size_t end, uint8_t out[4])
{
    size_t j = *i + 1;
    if (j >= end) return -1;
    uint8_t c = p[j];
    if (esc_decoded[c]) {
        out[0] = esc_decoded[c];
        *i = j + 1;
        return 1;
    }
    if (c != 'u') return -1;
    uint32_t cp;
    if (hex4(p, j + 1, end, &cp)) return -1;
    j += 5;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (end - j >= 6 && p[j] == '\\' && p[j + 1] == 'u' && !hex4(p, j + 2, end, &lo) &&
            lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j += 6;
        } else
            cp = 0xfffd;
    } else if (cp >= 0xdc00 && cp <= 0xdfff)
        cp = 0xfffd;
    *i = j;
    return (int)put_utf8(out, cp);
}

/* a[0..L) == b[0..L), for the short texts of keys and roles: word loads
 * that never leave either range (the last one overlaps), no call. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t L)
{
    uint64_t x, y;
    uint32_t u, v;
    if (L >= 8) {
        for (size_t o = 0; o + 8 < L; o += 8) {
            memcpy(&x, a + o, 8);
            memcpy(&y, b + o, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + L - 8, 8);
        /* L bytes of b exist (cppcheck assumes a shorter literal) */
        // cppcheck-suppress pointerOutOfBoundsCond
        memcpy(&y, b + L - 8, 8);
        return x == y;
    }
    if (L >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v) return false;
        memcpy(&u, a + L - 4, 4);
        memcpy(&v, b + L - 4, 4);
        return u == v;
    }
    return L == 0 || (a[0] == b[0] && a[L - 1] == b[L - 1] && a[L / 2] == b[L / 2]);
}

/* Compare the string content p[i..end) (escapes allowed) with lit[0..L). */
static inline bool str_eq_raw(const uint8_t *p, size_t i, size_t end, bool esc, const char *lit,
                              size_t L)
{
    if (!esc) return end - i == L && bytes_eq(p + i, (const uint8_t *)lit, L);
    size_t k = 0;
    while (i < end) {
        if (p[i] != '\\') {
            if (k >= L || (uint8_t)lit[k] != p[i]) return false;
            k++;
            i++;
            continue;
        }
        uint8_t tmp[4];
        int m = dec_escape(p, &i, end, tmp);
        if (m < 0 || k + (size_t)m > L || memcmp(lit + k, tmp, (size_t)m) != 0) return false;
        k += (size_t)m;
    }
    return k == L;
}

static inline jspan_t span(size_t a, size_t b)
{
    jspan_t s = {(uint32_t)a, (uint32_t)(b - a)};
    return s;
}

/* After a member or element: p[*i] must be ',' (then *i moves past it and
 * its whitespace, returns 1) or close (then *i moves past it, returns 0). */
static inline __attribute__((always_inline)) int scan_sep(scanner_t *s, size_t *i, uint8_t close)
{
    const uint8_t *p = s->p;
    size_t j = *i;
    if (s->n - j > 1 && p[j] == ',' && p[j + 1] > ' ') { /* compact: the next one follows */
        if (close == ']' && p[j + 1] == ']') return fail(s, j + 1, E_ACOMMA);
        *i = j + 1;
        return 1;
    }
    j = skip_ws(p, j, s->n);
    if (j >= s->n) return fail(s, s->n, E_EOF);
    if (p[j] == ',') {
        j = skip_ws(p, j + 1, s->n);
        if (close == ']' && j < s->n && p[j] == ']') return fail(s, j, E_ACOMMA);
        *i = j;
        return 1;
    }
    if (p[j] != close) return fail(s, j, close == '}' ? E_OSEP : E_ASEP);
    *i = j + 1;
    return 0;
}

#endif
