/* test_scan_string.c - the string lexers of the scanner (json/scan_str.c:
 * portable, SSE2 and AVX2, forced in turn with jscan_lexer_force, and
 * scan_lex.h scan_str, the inline path for short plain strings) against a
 * plain byte-at-a-time reference written here from the rules of
 * docs/json-scanner.md: the same accept/reject answer, end offset, escape
 * flag, error offset and message, for every special token (escapes, \u
 * escapes and surrogate pairs, control bytes, quotes, valid and invalid
 * UTF-8, truncated input) at every position of strings of every length up
 * to 300 bytes (so across the 16, 32 and 64-byte steps of the fast lexers),
 * with the input ending right after the string or later (the fast paths
 * only run while 32 or 64 bytes remain), for pairs of tokens around the
 * 32 and 64-byte boundaries, on random strings of every density of
 * special bytes, and on runs of UTF-8 characters and \u escapes across the
 * blocks with one odd character at every place. */
/* before cmocka.h, whose fail() macro would rename the lexers' fail() */
#include "json/scan_lex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct res {
    int rc;
    size_t end;
    bool esc;
    size_t off;
    const char *msg;
} res_t;

static int ref_fail(res_t *r, size_t off, const char *msg)
{
    r->rc = -1;
    r->off = off;
    r->msg = msg;
    return -1;
}

static int ref_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence at p[i] (p[i] >= 0x80), else 0. */
static size_t ref_utf8(const uint8_t *p, size_t i, size_t n)
{
    uint8_t c = p[i];
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0xc2 || c > 0xf4) return 0;
    k = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    if (i + k > n) return 0;
    if (p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (size_t j = 2; j < k; j++)
        if (p[i + j] < 0x80 || p[i + j] > 0xbf) return 0;
    return k;
}

/* The reference: p[start] is the opening quote. */
static int ref_string(const uint8_t *p, size_t n, size_t start, bool strict, res_t *r)
{
    memset(r, 0, sizeof *r);
    size_t i = start + 1;
    bool esc = false;
    for (;;) {
        if (i >= n) return ref_fail(r, start, "unterminated string");
        uint8_t c = p[i];
        if (c == '"') {
            r->end = i + 1;
            r->esc = esc;
            return 0;
        }
        if (c == '\\') {
            esc = true;
            i++;
            if (i >= n) return ref_fail(r, start, "unterminated string");
            c = p[i];
            if (strchr("\"\\/bfnrt", c) && c) {
                i++;
                continue;
            }
            if (c != 'u') return ref_fail(r, i, "invalid escape in string");
            uint32_t cp = 0;
            for (size_t k = 1; k <= 4; k++) {
                if (i + k >= n) return ref_fail(r, start, "unterminated string");
                int h = ref_hex(p[i + k]);
                if (h < 0) return ref_fail(r, i + k, "invalid \\u escape in string");
                cp = cp * 16 + (uint32_t)h;
            }
            if (strict && cp >= 0xd800 && cp <= 0xdfff) {
                /* needs \uDC00-\uDFFF right after a high one (and a byte
                 * after that pair) */
                bool ok = cp <= 0xdbff && i + 10 < n && p[i + 5] == '\\' && p[i + 6] == 'u';
                uint32_t lo = 0;
                for (size_t k = 7; ok && k <= 10; k++) {
                    int h = ref_hex(p[i + k]);
                    if (h < 0) ok = false;
                    lo = lo * 16 + (uint32_t)(h < 0 ? 0 : h);
                }
                if (!ok || lo < 0xdc00 || lo > 0xdfff)
                    return ref_fail(r, i - 1, "lone surrogate in \\u escape");
                i += 6;
            }
            i += 5;
            continue;
        }
        if (c < 0x20) return ref_fail(r, i, "control character in string");
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = ref_utf8(p, i, n);
        if (!k) return ref_fail(r, i, "invalid UTF-8 in string");
        i += k;
    }
}

static unsigned long n_checked;

/* The lexers this CPU runs (AVX2 only where the CPU has it). */
static jscan_lexer_t lexers[3];
static int n_lexers;

static int setup(void **state)
{
    (void)state;
    static const jscan_lexer_t all[] = {JSCAN_LEX_PORTABLE, JSCAN_LEX_SSE2, JSCAN_LEX_AVX2};
    n_lexers = 0;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (jscan_lexer_force(all[k]) == 0) lexers[n_lexers++] = all[k];
    return jscan_lexer_force(JSCAN_LEX_AUTO);
}

static const char *lexer_name(jscan_lexer_t l)
{
    return l == JSCAN_LEX_PORTABLE ? "portable" : l == JSCAN_LEX_SSE2 ? "sse2" : "avx2";
}

/* Every lexer over p[0..n) from the quote at start; they must agree with
 * the reference. */
static void check(const uint8_t *p, size_t n, size_t start, const char *what, size_t pos)
{
    res_t want[2];
    ref_string(p, n, start, false, &want[0]);
    ref_string(p, n, start, true, &want[1]);
    for (int l = 0; l < n_lexers; l++) {
        jscan_lexer_force(lexers[l]);
        for (int k = 0; k < 4; k++) {
            int strict = k & 1, inl = k >> 1; /* inl: the inline short path, scan_str */
            if (inl && lexers[l] == JSCAN_LEX_PORTABLE) continue; /* it is scan_string then */
            res_t got = {0};
            jscan_err_t err = {0, NULL};
            scanner_t s = {p, n, &err, strict != 0, false, 0};
            size_t end = 0;
            bool esc = false;
            got.rc = inl ? scan_str(&s, start, &end, &esc) : scan_string(&s, start, &end, &esc);
            if (got.rc == 0) {
                got.end = end;
                got.esc = esc;
            } else {
                got.off = err.offset;
                got.msg = err.message;
            }
            const res_t *w = &want[strict];
            bool same = got.rc == w->rc &&
                        (w->rc == 0 ? got.end == w->end && got.esc == w->esc
                                    : got.off == w->off && got.msg && !strcmp(got.msg, w->msg));
            if (!same)
                fail_msg("%s at %zu (n %zu, strict %d): %s/%s rc %d end %zu esc %d off %zu "
                         "'%s'; reference rc %d end %zu esc %d off %zu '%s'",
                         what, pos, n, strict, lexer_name(lexers[l]),
                         inl ? "scan_str" : "scan_string", got.rc, got.end, got.esc, got.off,
                         got.msg ? got.msg : "", w->rc, w->end, w->esc, w->off,
                         w->msg ? w->msg : "");
            n_checked++;
        }
    }
    jscan_lexer_force(JSCAN_LEX_AUTO);
}

/* Special tokens put into plain text. */
static const struct {
    const char *name;
    const char *b;
    size_t len;
} toks[] = {
#define T(name, s)                                                                                 \
    {                                                                                              \
        name, s, sizeof(s) - 1                                                                     \
    }
    T("quote", "\""),
    T("esc-quote", "\\\""),
    T("esc-backslash", "\\\\"),
    T("esc-slash", "\\/"),
    T("esc-n", "\\n"),
    T("esc-t", "\\t"),
    T("esc-bad", "\\q"),
    T("esc-x", "\\x41"),
    T("backslash-last", "\\"),
    T("u-ascii", "\\u0041"),
    T("u-e9", "\\u00e9"),
    T("u-upper", "\\u00E9"),
    T("u-bad-hex", "\\u00g9"),
    T("u-short", "\\u12"),
    T("u-pair", "\\ud83d\\ude00"),
    T("u-high-alone", "\\ud83d"),
    T("u-high-then-text", "\\ud83dxx"),
    T("u-high-high", "\\ud83d\\ud83d"),
    T("u-low-alone", "\\ude00"),
    T("u-high-bad-low", "\\ud83d\\u00zz"),
    T("ctrl-01", "\x01"),
    T("ctrl-1f", "\x1f"),
    T("ctrl-nul", "\x00"),
    T("tab-raw", "\t"),
    T("del", "\x7f"),
    T("utf8-2", "\xc3\xa9"),
    T("utf8-3", "\xe6\x97\xa5"),
    T("utf8-3-e0", "\xe0\xa0\x80"),
    T("utf8-4", "\xf0\x9f\x98\x80"),
    T("utf8-4-f4", "\xf4\x8f\xbf\xbf"),
    T("utf8-run", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xc3\xa9t\xc3\xa9"),
    T("cont-alone", "\x80"),
    T("lead-c0", "\xc0\x80"),
    T("lead-c1", "\xc1\xbf"),
    T("overlong-e0", "\xe0\x80\x80"),
    T("surrogate-ed", "\xed\xa0\x80"),
    T("above-f4", "\xf4\x90\x80\x80"),
    T("lead-f5", "\xf5\x80\x80\x80"),
    T("lead-ff", "\xff"),
    T("trunc-2", "\xc3"),
    T("trunc-3", "\xe6\x97"),
    T("trunc-4", "\xf0\x9f\x98"),
    T("bad-cont-3", "\xe6\x41\xa5"),
    T("bad-cont-4", "\xf0\x9f\x41\x80"),
#undef T
};

/* '"' + pre plain bytes + tok + post plain bytes + '"' + pad plain bytes;
 * cut: the input ends after the token instead (no closing quote). */
static size_t build(uint8_t *buf, size_t pre, size_t t, size_t post, size_t pad, bool cut)
{
    size_t w = 0;
    buf[w++] = '"';
    for (size_t k = 0; k < pre; k++)
        buf[w++] = (uint8_t)('a' + k % 26);
    memcpy(buf + w, toks[t].b, toks[t].len);
    w += toks[t].len;
    if (cut) return w;
    for (size_t k = 0; k < post; k++)
        buf[w++] = (uint8_t)(k % 10 == 9 ? ' ' : 'A' + k % 26);
    buf[w++] = '"';
    for (size_t k = 0; k < pad; k++)
        buf[w++] = 'z';
    return w;
}

static void test_every_token_at_every_position(void **state)
{
    (void)state;
    static uint8_t buf[1024];
    static const size_t pads[] = {0, 33};
    for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
        for (size_t len = 0; len <= 300; len++)
            for (size_t pre = 0; pre <= len; pre++) {
                size_t post = len - pre;
                for (size_t pi = 0; pi < sizeof pads / sizeof pads[0]; pi++) {
                    size_t n = build(buf, pre, t, post, pads[pi], false);
                    check(buf, n, 0, toks[t].name, pre);
                }
                if (post == 0) {
                    size_t n = build(buf, pre, t, 0, 0, true);
                    check(buf, n, 0, toks[t].name, pre);
                }
            }
    /* plain strings, and no closing quote at all */
    for (size_t len = 0; len <= 300; len++) {
        size_t w = 0;
        buf[w++] = '"';
        for (size_t k = 0; k < len; k++)
            buf[w++] = (uint8_t)('a' + k % 26);
        check(buf, w, 0, "unterminated", len);
        buf[w++] = '"';
        check(buf, w, 0, "plain", len);
    }
    assert_true(n_checked > 1000000);
}

/* Two tokens: the fast path's mask must be right after each step. */
static void test_token_pairs(void **state)
{
    (void)state;
    static uint8_t buf[512];
    const size_t nt = sizeof toks / sizeof toks[0];
    for (size_t a = 0; a < nt; a++)
        for (size_t b = 0; b < nt; b++)
            for (size_t gap = 0; gap <= 40; gap++)
                for (size_t pre = 25; pre <= 66; pre++) {
                    if (pre > 34 && (pre < 58 || gap > 12)) continue; /* near 32, or near 64 */
                    size_t w = 0;
                    buf[w++] = '"';
                    for (size_t k = 0; k < pre; k++)
                        buf[w++] = 'p';
                    memcpy(buf + w, toks[a].b, toks[a].len);
                    w += toks[a].len;
                    for (size_t k = 0; k < gap; k++)
                        buf[w++] = 'g';
                    memcpy(buf + w, toks[b].b, toks[b].len);
                    w += toks[b].len;
                    for (size_t k = 0; k < 20; k++)
                        buf[w++] = 'q';
                    buf[w++] = '"';
                    for (size_t k = 0; k < 35; k++)
                        buf[w++] = 'z';
                    check(buf, w, 0, toks[a].name, pre * 100 + gap);
                }
}

/* Random strings over an alphabet heavy in special bytes. */
static void test_random_strings(void **state)
{
    (void)state;
    static const uint8_t alpha[] = {'a',  'b',  ' ',  '"',  '\\', 'u',  'n',  'd',  '8',  '0',
                                    'c',  'e',  'f',  0x01, 0x1f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf,
                                    0xc2, 0xc3, 0xe0, 0xe6, 0xed, 0xf0, 0xf4, 0xf5, 0xff, 'D'};
    static uint8_t buf[400];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 1 + (size_t)(x % 330);
        buf[0] = '"';
        for (size_t k = 1; k < n; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly plain letters, so strings get long before they end */
            buf[k] = (x & 7) ? (uint8_t)('a' + (x >> 8) % 26) : alpha[(x >> 8) % sizeof alpha];
        }
        check(buf, n, 0, "random", (size_t)round);
    }
}

/* Long strings (several 64-byte blocks) with special bytes from none to
 * every other byte, and runs of UTF-8 and escapes that cross the blocks;
 * the input ends at random too (mid-escape, mid-character). */
static void test_random_long_strings(void **state)
{
    (void)state;
    static const char *const runs[] = {"\\n",
                                       "\\\"",
                                       "\\\\",
                                       "\\u00e9",
                                       "\\ud83d\\ude00",
                                       "\xc3\xa9",
                                       "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                       "\xf0\x9f\x98\x80",
                                       "\xe6\x97",
                                       "\x01",
                                       "\\q",
                                       "\xed\xa0\x80",
                                       "\\ud83d",
                                       "\""};
    static uint8_t buf[800];
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t want = 65 + (size_t)(x % 700), w = 0;
        unsigned density = 1 + (unsigned)((x >> 12) % 64); /* one run per ~density bytes */
        /* the last round of a few leaves out the bad runs: long valid strings */
        size_t nruns = round % 4 == 0 ? 8 : sizeof runs / sizeof runs[0];
        buf[w++] = '"';
        while (w < want) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x % density == 0) {
                const char *r = runs[(x >> 20) % nruns];
                size_t L = strlen(r);
                if (w + L >= sizeof buf - 1) break;
                memcpy(buf + w, r, L);
                w += L;
            } else
                buf[w++] = (uint8_t)('a' + (x >> 24) % 26);
        }
        buf[w++] = '"';
        check(buf, w, 0, "long", (size_t)round);
        check(buf, 1 + (size_t)(x >> 40) % (w - 1), 0, "long-cut", (size_t)round);
    }
}

/* Runs of UTF-8 characters (the fast lexers step over two-byte and common
 * three-byte ones inline and hand the rest of a run to the shared step) and
 * \u escapes (plain ones inline) that cross the 64-byte blocks, with one
 * character replaced by a broken or an uncommon one at every place of the
 * run: the same answer, end and error offset as the reference. */
static void test_utf8_runs_and_u_escapes(void **state)
{
    (void)state;
    static const char *const chars[] = {"\xc3\xa9",     "\xe6\x97\xa5", "\xdf\xbf",
                                        "\xe1\x80\x80", "\xef\xbf\xbf", "\xee\x80\x80",
                                        "\xec\x9f\xbf"};
    static const char *const odd[] = {"\xe0\xa0\x80",
                                      "\xed\x9f\xbf",
                                      "\xf0\x9f\x98\x80",
                                      "\xf4\x8f\xbf\xbf",
                                      "\xed\xa0\x80",
                                      "\xe0\x80\x80",
                                      "\xc3",
                                      "\xe6\x97",
                                      "\xe6\x41\xa5",
                                      "\xc3\xc3",
                                      "\x80",
                                      "\xc1\xbf",
                                      "\xff",
                                      "\x01",
                                      "\xe6\x97\xe6",
                                      "\\u00e9",
                                      "\\ud7ff",
                                      "\\ud800",
                                      "\\udbff\\udfff",
                                      "\\ue000",
                                      "\\uD83D\\uDE00",
                                      "\\u00g9",
                                      "\\u12",
                                      "\\uFFFF"};
    static uint8_t buf[512];
    for (size_t pre = 0; pre <= 70; pre += 1)
        for (size_t run = 1; run <= 40; run += (pre % 7) + 1)
            for (size_t o = 0; o < sizeof odd / sizeof odd[0]; o++)
                for (size_t at = 0; at <= run; at += 1 + run / 9) {
                    size_t w = 0;
                    buf[w++] = '"';
                    for (size_t k = 0; k < pre; k++)
                        buf[w++] = (uint8_t)('a' + k % 26);
                    for (size_t k = 0; k < run; k++) {
                        const char *c = k == at ? odd[o] : chars[(k + pre) % 7];
                        memcpy(buf + w, c, strlen(c));
                        w += strlen(c);
                    }
                    size_t tail = (pre + run) % 3 == 0 ? 0 : 5;
                    for (size_t k = 0; k < tail; k++)
                        buf[w++] = 'x';
                    buf[w++] = '"';
                    for (size_t k = 0; k < 70; k++)
                        buf[w++] = 'z';
                    check(buf, w, 0, odd[o], pre * 1000 + at);
                    /* the input cut inside the run */
                    check(buf, 1 + pre + (run * 2 + at) % (w - pre - 71), 0, "cut", pre);
                }
}

/* The scanner uses the fastest lexer the CPU runs: the one the tests above
 * compare with the reference is the one that serves requests. */
static void test_auto_lexer_is_the_fastest(void **state)
{
    (void)state;
    jscan_lexer_force(JSCAN_LEX_AUTO);
#if defined(__x86_64__)
    __builtin_cpu_init();
    assert_int_equal(jscan_lexer_current(),
                     __builtin_cpu_supports("avx2") ? JSCAN_LEX_AVX2 : JSCAN_LEX_SSE2);
#else
    assert_int_equal(jscan_lexer_current(), JSCAN_LEX_PORTABLE);
#endif
    assert_true(n_lexers >= 1 && lexers[0] == JSCAN_LEX_PORTABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_token_at_every_position),
        cmocka_unit_test(test_token_pairs),
        cmocka_unit_test(test_random_strings),
        cmocka_unit_test(test_random_long_strings),
        cmocka_unit_test(test_utf8_runs_and_u_escapes),
        cmocka_unit_test(test_auto_lexer_is_the_fastest),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
