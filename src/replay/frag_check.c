/* frag_check.c - one-pass checks of a replay record's pre-rendered JSON
 * fragments for the writer thread: a strict validator that lets record.c
 * skip the reference check for the usual ASCII fragment, and the test that
 * lets redact.c skip the credential scan of a fragment that cannot hold a
 * credential (frag_check.h says what each answer guarantees). */
#include "replay/frag_check.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- validation -------------------------------------------------------- */

#define MAX_DEPTH  64
#define MAX_NUMBER 32 /* cJSON copies a number into 64 bytes: stay far below */

static inline size_t skip_ws(const char *s, size_t n, size_t i)
{
    /* one compare for the usual compact text: every JSON space is <= ' ' */
    while (i < n && (unsigned char)s[i] <= ' ' &&
           (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i;
}

/* s[*i] == '"': past the closing quote. False on anything but printable
 * ASCII and the short escapes (\u and UTF-8 go to the reference). */
static inline bool str_ok(const char *s, size_t n, size_t *i)
{
    size_t k = *i + 1;
    for (;;) {
#ifdef __SSE2__
        /* 16 bytes at a time: stop at '"', '\\', a control byte or a byte
         * >= 0x80 (both below 0x20 as signed bytes) */
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
        while (k + 16 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                     _mm_cmplt_epi8(x, sp));
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits) {
                k += (unsigned)__builtin_ctz(bits);
                break;
            }
            k += 16;
        }
#endif
        while (k < n) {
            unsigned char c = (unsigned char)s[k];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            k++;
        }
        if (k >= n) return false;
        if (s[k] == '"') {
            *i = k + 1;
            return true;
        }
        if (s[k] != '\\' || k + 1 >= n || !memchr("\"\\/bfnrt", s[k + 1], 8)) return false;
        k += 2;
    }
}

static bool digits(const char *s, size_t n, size_t *i)
{
    size_t k = *i;
    while (k < n && s[k] >= '0' && s[k] <= '9')
        k++;
    if (k == *i) return false;
    *i = k;
    return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool num_ok(const char *s, size_t n, size_t *i)
{
    size_t k = *i, a = k;
    if (s[k] == '-') k++;
    if (k >= n) return false;
    if (s[k] == '0')
        k++;
    else if (!digits(s, n, &k))
        return false;
    if (k < n && s[k] == '.') {
        k++;
        if (!digits(s, n, &k)) return false;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (!digits(s, n, &k)) return false;
    }
    if (k - a > MAX_NUMBER) return false;
    *i = k;
    return true;
}

static bool lit_ok(const char *s, size_t n, size_t *i, const char *w, size_t len)
{
    if (n - *i < len || memcmp(s + *i, w, len)) return false;
    *i += len;
    return true;
}

bool replay_frag_json_ok(const char *s, size_t n)
{
    char stack[MAX_DEPTH];
    int sp = 0;
    size_t i = 0;
value:
    i = skip_ws(s, n, i);
    if (i >= n) return false;
    switch (s[i]) {
    case '{':
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == '}') {
            i++;
            goto after;
        }
        if (sp == MAX_DEPTH) return false;
        stack[sp++] = '{';
        goto member;
    case '[':
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == ']') {
            i++;
            goto after;
        }
        if (sp == MAX_DEPTH) return false;
        stack[sp++] = '[';
        goto value;
    case '"':
        if (!str_ok(s, n, &i)) return false;
        goto after;
    case 't':
        if (!lit_ok(s, n, &i, "true", 4)) return false;
        goto after;
    case 'f':
        if (!lit_ok(s, n, &i, "false", 5)) return false;
        goto after;
    case 'n':
        if (!lit_ok(s, n, &i, "null", 4)) return false;
        goto after;
    default:
        if (s[i] != '-' && (s[i] < '0' || s[i] > '9')) return false;
        if (!num_ok(s, n, &i)) return false;
        goto after;
    }
member:
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != '"' || !str_ok(s, n, &i)) return false;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ':') return false;
    i++;
    goto value;
after:
    i = skip_ws(s, n, i);
    if (!sp) return i == n;
    if (i >= n) return false;
    if (s[i] == ',') {
        i++;
        if (stack[sp - 1] == '{') goto member;
        goto value;
    }
    if (s[i] != (stack[sp - 1] == '{' ? '}' : ']')) return false;
    i++;
    sp--;
    goto after;
}

/* ---- the credential pre-check ----------------------------------------- */

enum {
    F_TOK = 1,   /* secret-token byte: alnum _ - + / = (pii_recognizers' C_TOK) */
    F_END = 2,   /* '"' or ':': may close a secret member name or header name */
    F_START = 4, /* may start a bearer scheme or a key prefix */
    F_LAST = 8,  /* ends a secret name: y n d t e in either case */
};
#define TOKEN_RUN 32 /* the entropy recognizer's shortest token */

static uint8_t F[256];
static pthread_once_t f_once = PTHREAD_ONCE_INIT;

static void f_init(void)
{
    for (int c = 0; c < 256; c++)
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            F[c] |= F_TOK;
    for (const char *p = "_-+/="; *p; p++)
        F[(unsigned char)*p] |= F_TOK;
    F['"'] |= F_END;
    F[':'] |= F_END;
    for (const char *p = "bBsgxAe-"; *p; p++)
        F[(unsigned char)*p] |= F_START;
    for (const char *p = "yndteYNDTE"; *p; p++)
        F[(unsigned char)*p] |= F_LAST;
}

/* s[i-k..i) is suf (lower-case letters) in any case: c | 0x20 maps only
 * 'K' and 'k' to 'k', and so on. */
static inline bool ends_ci(const char *s, size_t i, const char *suf, size_t k)
{
    if (i < k) return false;
    for (size_t j = 0; j < k; j++)
        if ((s[i - k + j] | 0x20) != suf[j]) return false;
    return true;
}

/* The bytes before s[i] end with a secret or header name's last word. */
static inline bool name_before(const char *s, size_t i)
{
    if (!i || !(F[(unsigned char)s[i - 1]] & F_LAST)) return false;
    switch (s[i - 1] | 0x20) {
    case 'y': return ends_ci(s, i, "key", 3);
    case 'n': return ends_ci(s, i, "token", 5) || ends_ci(s, i, "authorization", 13);
    case 'd': return ends_ci(s, i, "password", 8);
    case 't': return ends_ci(s, i, "secret", 6);
    default: return ends_ci(s, i, "cookie", 6);
    }
}

static bool has(const char *s, size_t n, const char *p, size_t k)
{
    return n >= k && !memcmp(s, p, k);
}

/* A bearer scheme or a key prefix starts at s. */
static bool prefix_at(const char *s, size_t n)
{
    switch (s[0]) {
    case 'b':
    case 'B': return n >= 6 && !strncasecmp(s, "bearer", 6);
    case 's': return n >= 3 && s[1] == 'k' && (s[2] == '-' || s[2] == '_');
    case 'g':
        return (n >= 4 && s[1] == 'h' && s[2] && memchr("pousr", s[2], 5) && s[3] == '_') ||
               has(s, n, "github_pat_", 11);
    case 'x': return has(s, n, "xox", 3);
    case 'A': return has(s, n, "AKIA", 4) || has(s, n, "AIza", 4);
    case 'e': return has(s, n, "eyJ", 3);
    case '-': return has(s, n, "-----BEGIN ", 11);
    default: return false;
    }
}

/* The byte-at-a-time answer (the reference for the fast one below, and
 * its fallback without SSE2). */
bool replay_frag_may_hold_secret_bytes(const char *s, size_t n)
{
    pthread_once(&f_once, f_init);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t f = F[(unsigned char)s[i]];
        run = (f & F_TOK) ? run + 1 : 0;
        if (run >= TOKEN_RUN) return true;
        if (!(f & (F_END | F_START))) continue;
        if ((f & F_END) && name_before(s, i)) return true;
        if ((f & F_START) && prefix_at(s + i, n - i)) return true;
    }
    return false;
}

/* A run of TOKEN_RUN token bytes in s[a..b). A '"' is not a token byte, so
 * only a gap between two quotes this long needs the look. */
static bool run_in(const char *s, size_t a, size_t b)
{
    if (b - a < TOKEN_RUN) return false;
    size_t run = 0;
    for (size_t i = a; i < b; i++) {
        run = (F[(unsigned char)s[i]] & F_TOK) ? run + 1 : 0;
        if (run >= TOKEN_RUN) return true;
    }
    return false;
}

/* s[p] is '"', ':' or may start a prefix; *gap is where the bytes since
 * the last '"' start. */
static bool hit_at(const char *s, size_t n, size_t p, size_t *gap)
{
    if (s[p] == '"') {
        if (run_in(s, *gap, p)) return true;
        *gap = p + 1;
        return name_before(s, p);
    }
    if (s[p] == ':') return name_before(s, p);
    return prefix_at(s + p, n - p);
}

bool replay_frag_may_hold_secret(const char *s, size_t n)
{
    pthread_once(&f_once, f_init);
    size_t k = 0, gap = 0; /* gap: where the bytes since the last '"' start */
    if (n && (F[(unsigned char)s[0]] & (F_END | F_START)) && hit_at(s, n, 0, &gap)) return true;
    k = 1;
#ifdef __SSE2__
    /* 16 positions at a time, each with the byte before it and after it:
     * a '"' or ':' after a byte that ends a secret name (y n d t e in either
     * case), and the first byte of every pair a prefix starts with (sk gh gi
     * xo AK AI ey -- and be in any case). The few positions found get the
     * exact look; the quotes only move the start of the token-run stretch
     * (a run of 32 cannot hold a '"', and two quotes of one block are less
     * than 32 apart). */
#define EQ(v, c)   _mm_cmpeq_epi8((v), _mm_set1_epi8(c))
#define PAIR(a, b) _mm_and_si128(EQ(x, a), EQ(y, b))
    const __m128i low = _mm_set1_epi8(0x20);
    while (k + 17 <= n) {
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(s + k - 1));
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(s + k + 1));
        __m128i wl = _mm_or_si128(w, low), xl = _mm_or_si128(x, low), yl = _mm_or_si128(y, low);
        __m128i q = EQ(x, '"');
        __m128i last =
            _mm_or_si128(_mm_or_si128(EQ(wl, 'y'), EQ(wl, 'n')),
                         _mm_or_si128(_mm_or_si128(EQ(wl, 'd'), EQ(wl, 't')), EQ(wl, 'e')));
        __m128i m = _mm_and_si128(_mm_or_si128(q, EQ(x, ':')), last);
        m = _mm_or_si128(m, _mm_and_si128(EQ(xl, 'b'), EQ(yl, 'e')));
        m = _mm_or_si128(m, _mm_or_si128(PAIR('s', 'k'), PAIR('g', 'h')));
        m = _mm_or_si128(m, _mm_or_si128(PAIR('x', 'o'), PAIR('e', 'y')));
        m = _mm_or_si128(m, _mm_or_si128(PAIR('A', 'K'), PAIR('A', 'I')));
        m = _mm_or_si128(m, _mm_or_si128(PAIR('-', '-'), PAIR('g', 'i')));
        unsigned qb = (unsigned)_mm_movemask_epi8(q), bits = (unsigned)_mm_movemask_epi8(m);
        if (qb) {
            size_t first = k + (unsigned)__builtin_ctz(qb);
            if (run_in(s, gap, first)) return true;
            gap = k + (31u - (unsigned)__builtin_clz(qb)) + 1;
        }
        while (bits) {
            size_t p = k + (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            if (s[p] == '"' || s[p] == ':' ? name_before(s, p) : prefix_at(s + p, n - p))
                return true;
        }
        k += 16;
    }
#undef PAIR
#undef EQ
#endif
    for (; k < n; k++) {
        uint8_t f = F[(unsigned char)s[k]];
        if ((f & (F_END | F_START)) && hit_at(s, n, k, &gap)) return true;
    }
    return run_in(s, gap, n);
}
