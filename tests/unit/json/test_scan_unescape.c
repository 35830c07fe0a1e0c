/* test_scan_unescape.c - jscan_unescape (json/scan_span.c), both ways it
 * runs: the SSE2 copy (16 bytes at a time, the two-byte escapes decoded
 * inline, the last bytes through one mask of the 16 bytes before the
 * closing quote) and the portable one (a memchr per escape; selected with
 * jscan_lexer_force(JSCAN_LEX_PORTABLE)), against a byte-at-a-time
 * reference written here: the same NULL or the same bytes and length, a
 * NUL after them, and nothing written past the block asked of the arena.
 * Inputs: every escape kind (the eight two-byte ones, \u of 1, 2 and 3
 * UTF-8 bytes, surrogate pairs, lone high and low surrogates, a high one
 * before a non-surrogate, before an invalid or a cut \u), invalid escapes,
 * a backslash or a cut \u at the very end, raw UTF-8 and raw quotes, at
 * every position of strings of every length up to 80 bytes (across the
 * 16-byte blocks and the short end), with the string at the start of the
 * body (no 16 bytes before its end) or after a run of backslashes (which
 * the last mask reads and must ignore), and 300,000 random strings of
 * every density of escapes. */
#include "json/scan.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_hex4(const uint8_t *p, size_t i, size_t end, uint32_t *v)
{
    if (end < i || end - i < 4) return -1;
    uint32_t x = 0;
    for (size_t k = 0; k < 4; k++) {
        uint8_t c = p[i + k];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0) return -1;
        x = x << 4 | (uint32_t)h;
    }
    *v = x;
    return 0;
}

static size_t ref_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* The content p[i..end) decoded one byte at a time into o; -1 when an
 * escape is invalid (the rules of docs/json-scanner.md: lone surrogates
 * become U+FFFD). */
static long ref_unescape(const uint8_t *p, size_t i, size_t end, uint8_t *o)
{
    size_t w = 0;
    while (i < end) {
        if (p[i] != '\\') {
            o[w++] = p[i++];
            continue;
        }
        if (i + 1 >= end) return -1;
        uint8_t c = p[i + 1];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *f = c ? strchr(from, c) : NULL;
        if (f) {
            o[w++] = (uint8_t)to[f - from];
            i += 2;
            continue;
        }
        uint32_t cp, lo;
        if (c != 'u' || ref_hex4(p, i + 2, end, &cp)) return -1;
        i += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (i + 6 <= end && p[i] == '\\' && p[i + 1] == 'u' && !ref_hex4(p, i + 2, end, &lo) &&
                lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            } else {
                cp = 0xfffd;
            }
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0xfffd;
        }
        w += ref_put(o + w, cp);
    }
    return (long)w;
}

enum { GUARD = 64 };

/* body[off..off+len) is the string, quotes included: both ways against the
 * reference, and the bytes after the arena block untouched. */
static void check_one(const char *body, size_t off, size_t len)
{
    static uint8_t want[4096];
    jspan_t s = {(uint32_t)off, (uint32_t)len};
    const uint8_t *p = (const uint8_t *)body;
    long wn = ref_unescape(p, off + 1, off + len - 1, want);
    for (int way = 0; way < 2; way++) {
        assert_int_equal(jscan_lexer_force(way ? JSCAN_LEX_PORTABLE : JSCAN_LEX_SSE2), 0);
        arena_t a;
        arena_init(&a, 8192);
        /* the first chunk filled with a mark, then handed out again */
        memset(arena_alloc(&a, 8000), 0xa5, 8000);
        arena_reset(&a);
        size_t n = 12345;
        char *u = jscan_unescape(&a, body, s, &n);
        if (wn < 0) {
            if (u) fprintf(stderr, "way %d: accepted %.*s\n", way, (int)len, body + off);
            assert_null(u);
        } else {
            if (!u || n != (size_t)wn || memcmp(u, want, n) != 0)
                fprintf(stderr, "way %d: wrong for %.*s\n", way, (int)len, body + off);
            assert_non_null(u);
            assert_int_equal(n, (size_t)wn);
            assert_memory_equal(u, want, n);
            assert_int_equal(u[n], 0);
        }
        /* nothing written past the len - 1 bytes asked of the arena: the
         * block starts the chunk (the next block follows it; handing it
         * out writes nothing) */
        size_t cap = len - 1, r16 = (cap + 15) & ~(size_t)15;
        uint8_t *blk = (uint8_t *)arena_alloc(&a, 16) - r16;
        if (u) assert_ptr_equal(blk, u);
        for (size_t k = cap; k < r16 + GUARD; k++)
            if (blk[k] != 0xa5) fail_msg("byte %zu of a %zu-byte block written", k, cap);
        arena_deinit(&a);
    }
    jscan_lexer_force(JSCAN_LEX_AUTO);
}

/* The string "<text>" placed at body offset off, the bytes before it
 * backslashes (read by the last mask, never part of the string). */
static void check_text(const char *text, size_t tn, size_t off)
{
    static char body[4096 + 256];
    assert_true(off + tn + 2 < sizeof body);
    memset(body, '\\', off);
    body[off] = '"';
    memcpy(body + off + 1, text, tn);
    body[off + 1 + tn] = '"';
    body[off + 2 + tn] = 'x'; /* after the string: not read */
    check_one(body, off, tn + 2);
}

static const char *const tokens[] = {
    "\\\"",
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u0041",
    "\\u00e9",
    "\\u00E9",
    "\\u20aC",
    "\\u0000",
    "\\uffff",
    "\\ud83d\\ude00",
    "\\uD800\\uDC00",
    "\\udbff\\udfff",
    "\\ud800",
    "\\udc00",
    "\\ud800\\u0041",
    "\\ud800\\n",
    "\\ud800\\ud800",
    "\\ud800\\uzzzz",
    "\\ud800\\u12",
    "\\x",
    "\\u12g4",
    "\\u",
    "\\u1",
    "\\u12",
    "\\u123",
    "\\'",
    "\\0",
    "\\U0041",
    "\xc3\xa9",
    "\xe6\x97\xa5",
    "\xf0\x9f\x98\x80",
    "\"",
    "\x01",
    "\xff",
    "a",
};
#define N_TOKENS (sizeof tokens / sizeof tokens[0])

/* Every token at every position of a plain string of every length up to
 * 80, alone and at the end (a cut escape there), at body offsets 0 and 40. */
static void test_tokens_everywhere(void **state)
{
    (void)state;
    char text[256];
    for (size_t t = 0; t < N_TOKENS; t++) {
        size_t tl = strlen(tokens[t]);
        for (size_t len = 0; len <= 80; len++)
            for (size_t at = 0; at <= len; at++) {
                for (size_t k = 0; k < len; k++)
                    text[k] = (char)('a' + k % 26);
                memcpy(text + at, tokens[t], tl);
                size_t tn = at + tl > len ? at + tl : len;
                check_text(text, tn, 0);
                check_text(text, tn, 40);
                /* cut short inside the token */
                if (tl > 1) check_text(text, at + tl - 1, 23);
            }
    }
}

/* Two tokens around every position of the 16-byte blocks. */
static void test_token_pairs(void **state)
{
    (void)state;
    char text[256];
    for (size_t t = 0; t < N_TOKENS; t++)
        for (size_t u = 0; u < N_TOKENS; u += 3)
            for (size_t at = 10; at <= 36; at++) {
                size_t tl = strlen(tokens[t]), ul = strlen(tokens[u]), n = 0;
                memset(text, 'q', at);
                n = at;
                memcpy(text + n, tokens[t], tl);
                n += tl;
                memcpy(text + n, tokens[u], ul);
                n += ul;
                memset(text + n, 'z', 20);
                for (size_t cut = n - ul; cut <= n + 20; cut += 3)
                    check_text(text, cut, 17);
            }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random strings: plain runs, tokens and backslash runs at every density,
 * whole and cut short, at random body offsets. */
static void test_random(void **state)
{
    (void)state;
    static char text[2048];
    for (int iter = 0; iter < 300000; iter++) {
        size_t cap = 1 + rnd() % (iter % 10 == 0 ? 1500 : 120);
        unsigned density = 1 + rnd() % 40;
        size_t n = 0;
        while (n + 16 < cap) {
            if (rnd() % density == 0) {
                const char *t = tokens[rnd() % N_TOKENS];
                size_t tl = strlen(t);
                memcpy(text + n, t, tl);
                n += tl;
            } else {
                text[n++] = (char)(rnd() % 3 ? 'a' + rnd() % 26 : ' ' + rnd() % 95);
            }
        }
        if (rnd() % 4 == 0 && n) n = rnd() % n;
        check_text(text, n, rnd() % 48);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_everywhere),
        cmocka_unit_test(test_token_pairs),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
