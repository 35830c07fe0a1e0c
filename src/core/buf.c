/* buf.c - growable byte buffer. */
#include "core/buf.h"
#include "core/arena.h"
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->len + extra + 1)
        nc *= 2;
    if (b->arena) {
        b->data = arena_grow(b->arena, b->data, b->cap, nc);
        b->cap = nc;
        return;
    }
    char *p = realloc(b->data, nc);
    if (!p) abort();
    b->data = p;
    b->cap = nc;
}

void buf_append_grow(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    /* format into the spare capacity first; measure and retry only when it
     * does not fit (one vsnprintf in the common case instead of two) */
    buf_reserve(b, 64);
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->data[b->len] = 0;
        return;
    }
    if ((size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
}

/* "00".."99": two digits per division when writing a number. */
static const char DIGITS2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

/* The decimal digits of v, right-aligned ending at end; returns the first. */
static inline __attribute__((always_inline)) char *put_u32_rev(char *end, uint32_t v)
{
    while (v >= 100) {
        end -= 2;
        memcpy(end, DIGITS2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        end -= 2;
        memcpy(end, DIGITS2 + 2 * v, 2);
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

void buf_uint(buf_t *b, unsigned long long v)
{
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    while (v > UINT32_MAX) {
        /* nine digits at a time until the rest fits 32 bits */
        uint32_t low = (uint32_t)(v % 1000000000u);
        v /= 1000000000u;
        char *q = put_u32_rev(p, low);
        while (q > p - 9)
            *--q = '0';
        p = q;
    }
    p = put_u32_rev(p, (uint32_t)v);
    buf_append(b, p, (size_t)(end - p));
}

void buf_int(buf_t *b, long long v)
{
    if (v < 0) {
        buf_putc(b, '-');
        buf_uint(b, 0ull - (unsigned long long)v);
        return;
    }
    buf_uint(b, (unsigned long long)v);
}

void buf_fixed(buf_t *b, double v, int decimals)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    static const uint32_t ipow10[] = {1,      10,      100,      1000,      10000,
                                      100000, 1000000, 10000000, 100000000, 1000000000};
    if (v == 0 && !signbit(v) && decimals >= 0 && decimals <= 9) {
        /* +0, the most common score and term: "0", "0.0", "0.00", ... */
        buf_append(b, "0.000000000", decimals ? (size_t)decimals + 2 : 1);
        return;
    }
    double a = fabs(v);
    if (decimals < 0 || decimals > 9 || !(a * pow10[decimals] < 2147483648.0)) {
        buf_printf(b, "%.*f", decimals, v); /* NaN, infinities, large values */
        return;
    }
    /* y is within half an ulp (< 2.4e-7 here) of the exact |v| * 10^d, so
     * rounding y gives printf's answer unless y is that close to a tie,
     * where only the exact expansion can decide: ask printf. y is in
     * [0, 2^31): the conversion truncates to floor(y) exactly, and y minus
     * it is exact. */
    double y = a * pow10[decimals];
    uint32_t fl = (uint32_t)y;
    double frac = y - (double)fl;
    if (fabs(frac - 0.5) < 1e-6) {
        buf_printf(b, "%.*f", decimals, v);
        return;
    }
    uint32_t r = fl + (frac > 0.5); /* <= 2^31 */
    uint32_t scale = ipow10[decimals], ip = r / scale, fp = r % scale;
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    if (decimals) {
        /* the fraction with its leading zeros: scale + fp has decimals + 1
         * digits, the first a '1' that the point replaces */
        p = put_u32_rev(end, scale + fp);
        *p = '.';
    }
    p = put_u32_rev(p, ip);
    if (signbit(v)) *--p = '-';
    buf_append(b, p, (size_t)(end - p));
}

void buf_g6(buf_t *b, double v)
{
    /* %.6g is %.{5-X}f with trailing zeros (and a bare point) dropped, X the
     * decimal exponent after rounding to six digits. X is taken before the
     * rounding here: when the rounding carries into the next power of ten
     * the fixed form still holds exactly that power, and dropping zeros
     * makes both spellings equal. */
    static const double p10[] = {1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5};
    if (v == 0 && !signbit(v)) {
        buf_putc(b, '0');
        return;
    }
    double a = fabs(v);
    if (!(a >= p10[0] && a < p10[9])) {
        buf_printf(b, "%.6g", v); /* -0, NaN, infinities, exponent forms */
        return;
    }
    int x = -4;
    while (x < 4 && a >= p10[x + 5])
        x++;
    size_t start = b->len;
    buf_fixed(b, v, 5 - x);
    while (b->len > start && b->data[b->len - 1] == '0')
        b->len--;
    if (b->len > start && b->data[b->len - 1] == '.') b->len--;
    b->data[b->len] = 0;
}

void buf_num(buf_t *b, double v)
{
    if (v != v || v > 1e300 || v < -1e300) {
        buf_puts(b, "null");
        return;
    }
    double a = v < 0 ? -v : v;
    if (a >= 1e12 || (a != 0 && a < 1e-6)) {
        buf_printf(b, "%.17g", v);
        return;
    }
    /* fixed point with 6 decimals, trailing zeros trimmed: exact enough for
     * scores, costs and latencies, and far cheaper than %g */
    long long scaled = (long long)(a * 1e6 + 0.5);
    long long ip = scaled / 1000000, fp = scaled % 1000000;
    char tmp[48];
    int k = 0;
    if (v < 0 && scaled) tmp[k++] = '-';
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    while (nd)
        tmp[k++] = digits[--nd];
    if (fp) {
        tmp[k++] = '.';
        char f[6];
        for (int i = 5; i >= 0; i--) {
            f[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        int last = 5;
        while (last > 0 && f[last] == '0')
            last--;
        for (int i = 0; i <= last; i++)
            tmp[k++] = f[i];
    }
    buf_append(b, tmp, (size_t)k);
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* The length of the prefix of s[0..n) that a JSON string holds as it is
 * (no quote, backslash or control byte). */
static size_t json_clean_prefix(const char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* x <= 0x1f (unsigned): max(x, 0x1f) == 0x1f */
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m) return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') break;
    }
    return i;
}

void buf_json_str(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, n + 2);
    size_t start = json_clean_prefix(s, n);
    /* the usual string needs no escape: one copy between the quotes */
    char *d = b->data + b->len;
    d[0] = '"';
    if (start) memcpy(d + 1, s, start);
    b->len += 1 + start;
    if (start == n) {
        b->data[b->len++] = '"';
        b->data[b->len] = 0;
        return;
    }
    for (size_t i = start; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
        }
        }
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void buf_json_cstr(buf_t *b, const char *s)
{
    if (s)
        buf_json_str(b, s, strlen(s));
    else
        buf_puts(b, "null");
}

void buf_json_opt(buf_t *b, const char *key, const char *s)
{
    if (!s) return;
    buf_puts(b, ",\"");
    buf_puts(b, key);
    buf_puts(b, "\":");
    buf_json_str(b, s, strlen(s));
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void buf_free(buf_t *b)
{
    if (!b->arena) free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *buf_steal(buf_t *b)
{
    if (b->arena) { /* the caller frees what it gets: a heap copy */
        char *h = malloc(b->len + 1);
        if (!h) abort();
        if (b->len) memcpy(h, b->data, b->len);
        h[b->len] = 0;
        b->data = NULL;
        b->len = b->cap = 0;
        return h;
    }
    if (!b->data) buf_reserve(b, 0), b->data[0] = 0;
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

bool buf_read_stream(buf_t *b, FILE *f)
{
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(b, tmp, n);
    return !ferror(f);
}

#define SCRATCH_KEEP (64 * 1024)
static __thread buf_t scratch[BUF_SCRATCH_SLOTS];
static __thread bool scratch_registered;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    buf_t *s = p;
    for (unsigned i = 0; i < BUF_SCRATCH_SLOTS; i++)
        buf_free(&s[i]);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

buf_t *buf_scratch(unsigned slot)
{
    assert(slot < BUF_SCRATCH_SLOTS);
    if (!scratch_registered) {
        pthread_once(&scratch_once, scratch_key_init);
        pthread_setspecific(scratch_key, scratch); /* non-NULL: freed at exit */
        scratch_registered = true;
    }
    buf_t *b = &scratch[slot];
    if (b->cap > SCRATCH_KEEP) buf_free(b);
    buf_reset(b);
    return b;
}
