/* scan_str.c - the string lexers of the request scanner (scan_lex.h
 * scan_string): the portable one, byte at a time, and two that read 64
 * bytes at a time, AVX2 and SSE2, chosen on the first string by what the
 * CPU runs (jscan_lexer_force sets one for tests and fuzzing).
 *
 * The fast ones take a mask of the bytes that can stop a string (quote,
 * backslash, control bytes, non-ASCII bytes) of the next 64 bytes and walk
 * its set bits: each special byte goes to str_special_at, the step the
 * portable lexer takes too, and the bits it stepped over are cleared, so an
 * escape or a UTF-8 character costs its own step and never a new load. With
 * fewer than 64 bytes left they end byte at a time (str_scalar_from). So
 * every lexer gives the same answer, end, escape flag, error offset and
 * message; tests/unit/json/test_scan_string.c and tests/fuzz/fuzz_scan.c
 * compare them. AVX-512 is not used: a 64-byte mask is one AVX2 pair, and
 * valgrind (the instruction counts of scripts/profile_routed.sh) does not
 * run it. */
#include "json/scan_lex.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SCAN_X86 1
#endif

static int str_portable(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    return str_scalar_from(s, i, i + 1, false, end, esc);
}

/* The special bytes the walk steps over inline: a quote and the two-byte
 * escapes (str_special_at's answer for them); every other one goes to
 * str_special_at, out of line (str_step). */
static const uint8_t esc_short[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1};

/* str_special_at for a byte other than a quote: the position after its
 * step, or SIZE_MAX on an error (by value, so the walk keeps its state in
 * registers; the walk sets the escape flag itself at a backslash). */
static __attribute__((noinline)) size_t str_step(scanner_t *s, size_t start, size_t at)
{
    bool e = false;
    return str_special_at(s, start, &at, &e) < 0 ? SIZE_MAX : at;
}

/* The run of UTF-8 characters at p[at] (p[at] >= 0x80 or a control byte),
 * as far as it holds only the common well-formed ones: two-byte, and
 * three-byte with a lead other than E0 and ED (whose second byte has a
 * narrower range). Returns the offset of the first byte that is not one of
 * them (at itself when the first is not). The walk steps over these inline
 * and hands anything else to str_step, which checks a run from any
 * character on, so the run ends where str_special_at ends it, with the same
 * error. */
static inline size_t utf8_common(const uint8_t *p, size_t n, size_t at)
{
    while (at < n) {
        uint8_t c = p[at];
        if (c >= 0xc2 && c <= 0xdf) {
            if (n - at < 2 || (p[at + 1] & 0xc0) != 0x80) break;
            at += 2;
        } else if (c >= 0xe1 && c <= 0xef && c != 0xed) {
            if (n - at < 3 || (p[at + 1] & 0xc0) != 0x80 || (p[at + 2] & 0xc0) != 0x80) break;
            at += 3;
        } else
            break;
    }
    return at;
}

/* A \u escape at p[at] of four hex digits outside the surrogates (what
 * str_special_at steps over without more checks), with its last digit
 * before n. */
static inline bool u_plain(const uint8_t *p, size_t n, size_t at)
{
    if (p[at + 1] != 'u' || n - at < 6) return false;
    int a = hexval(p[at + 2]), b = hexval(p[at + 3]), c = hexval(p[at + 4]), d = hexval(p[at + 5]);
    if ((a | b | c | d) < 0) return false;
    return a != 0xd || b < 8;
}

/* The 64-byte walk, with MASK64(p) the special bytes of p[0..64) (bit k
 * for p[k]). A block is read while more than 64 bytes remain, so the byte
 * after any special one in it exists. A macro so that each lexer inlines
 * its own mask under its own target (a function of another target cannot
 * be inlined). */
#define STR_WALK(MASK64)                                                                           \
    const uint8_t *p = s->p;                                                                       \
    const size_t n = s->n, start = i;                                                              \
    bool e = false;                                                                                \
    i++;                                                                                           \
    while (n - i > 64) {                                                                           \
        uint64_t m = MASK64(p + i);                                                                \
        size_t next = i + 64;                                                                      \
        while (m) {                                                                                \
            size_t at = i + (size_t)__builtin_ctzll(m);                                            \
            uint8_t c = p[at];                                                                     \
            if (c == '"') {                                                                        \
                *end = at + 1;                                                                     \
                *esc = e;                                                                          \
                note_str_end(s, at + 1);                                                           \
                return 0;                                                                          \
            }                                                                                      \
            if (c == '\\') {                                                                       \
                e = true;                                                                          \
                if (esc_short[p[at + 1]])                                                          \
                    at += 2;                                                                       \
                else if (u_plain(p, n, at))                                                        \
                    at += 6;                                                                       \
                else if ((at = str_step(s, start, at)) == SIZE_MAX)                                \
                    return -1;                                                                     \
            } else {                                                                               \
                size_t run = utf8_common(p, n, at);                                                \
                if ((run == at || (run < n && p[run] >= 0x80)) &&                                  \
                    (run = str_step(s, start, run)) == SIZE_MAX)                                   \
                    return -1;                                                                     \
                at = run;                                                                          \
            }                                                                                      \
            if (at - i >= 64) { /* the step left this block */                                     \
                next = at;                                                                         \
                break;                                                                             \
            }                                                                                      \
            m &= ~0ull << (at - i);                                                                \
        }                                                                                          \
        i = next;                                                                                  \
    }                                                                                              \
    return str_scalar_from(s, start, i, e, end, esc)

#if defined(SCAN_X86)
/* signed compares: below 0x20 takes every byte >= 0x80 too */
static inline uint64_t mask64_sse2(const uint8_t *p)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    uint64_t m = 0;
    for (int k = 0; k < 4; k++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, q), _mm_cmpeq_epi8(a, bs)),
                                 _mm_cmplt_epi8(a, sp));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << (16 * k);
    }
    return m;
}

static int str_sse2(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    STR_WALK(mask64_sse2);
}

__attribute__((target("avx2"))) static inline uint64_t mask64_avx2(const uint8_t *p)
{
    const __m256i q = _mm256_set1_epi8('"'), bs = _mm256_set1_epi8('\\'),
                  sp = _mm256_set1_epi8(0x20);
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    __m256i ma = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(a, q), _mm256_cmpeq_epi8(a, bs)),
                                 _mm256_cmpgt_epi8(sp, a));
    __m256i mb = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(b, q), _mm256_cmpeq_epi8(b, bs)),
                                 _mm256_cmpgt_epi8(sp, b));
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(ma) |
           (uint64_t)(uint32_t)_mm256_movemask_epi8(mb) << 32;
}

__attribute__((target("avx2"))) static int str_avx2(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    STR_WALK(mask64_avx2);
}
#endif

static jscan_str_fn best(void)
{
#if defined(SCAN_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return str_avx2;
    return str_sse2;
#else
    return str_portable;
#endif
}

static int str_first(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    jscan_str_fn f = best();
    __atomic_store_n(&jscan_str_long, f, __ATOMIC_RELAXED);
    return f(s, i, end, esc);
}

jscan_str_fn jscan_str_long = str_first;
bool jscan_str_inline = true;

int jscan_lexer_force(jscan_lexer_t which)
{
    jscan_str_fn f = NULL;
    switch (which) {
    case JSCAN_LEX_AUTO: f = best(); break;
    case JSCAN_LEX_PORTABLE: f = str_portable; break;
#if defined(SCAN_X86)
    case JSCAN_LEX_SSE2: f = str_sse2; break;
    case JSCAN_LEX_AVX2:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) f = str_avx2;
        break;
#else
    default: break;
#endif
    }
    if (!f) return -1;
    __atomic_store_n(&jscan_str_long, f, __ATOMIC_RELAXED);
    __atomic_store_n(&jscan_str_inline, f != str_portable, __ATOMIC_RELAXED);
    return 0;
}

jscan_lexer_t jscan_lexer_current(void)
{
    jscan_str_fn f = __atomic_load_n(&jscan_str_long, __ATOMIC_RELAXED);
    if (f == str_first) f = best();
#if defined(SCAN_X86)
    if (f == str_avx2) return JSCAN_LEX_AVX2;
    if (f == str_sse2) return JSCAN_LEX_SSE2;
#endif
    return JSCAN_LEX_PORTABLE;
}
