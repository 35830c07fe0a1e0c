/* test_text.c - the shared text helpers of signals/text.c against simple
 * reference versions (one code point at a time, as before their ASCII fast
 * paths): case folding and word tokens must come out byte-identical on
 * many random texts mixing ASCII, Latin-1, Greek, CJK, Hangul, emoji,
 * invalid UTF-8 and lengths around the 8-byte steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "signals/family.h"

/* ---- reference: the per-code-point versions ---- */

static size_t ref_fold(char *o, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n;) {
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
        if (w <= 0 || (size_t)w > k + 1) {
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

static size_t ref_tokenize(const char *s, size_t n, uint32_t *off, uint32_t *len, size_t cap)
{
    size_t i = 0, cnt = 0;
    while (i < n) {
        int32_t cp;
        size_t k = sig_utf8_next(s, n, i, &cp);
        if (!sig_is_word_cp(cp)) {
            i += k;
            continue;
        }
        size_t st = i;
        i += k;
        if (!sig_is_cjk_cp(cp))
            while (i < n) {
                size_t k2 = sig_utf8_next(s, n, i, &cp);
                if (!sig_is_word_cp(cp) || sig_is_cjk_cp(cp)) break;
                i += k2;
            }
        if (cnt < cap) {
            off[cnt] = (uint32_t)st;
            len[cnt] = (uint32_t)(i - st);
            cnt++;
        }
    }
    return cnt;
}

/* ---- random texts ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const PIECES[] = {
    "Hello",    "WORLD",  "mIxEd", "snake_case", "x1",   "42",       " ",        "  ",    "\n",
    "\t",       ",",      ".",     "-",          "_",    "@",        "[",        "`",     "{",
    "Z",        "A",      "z",     "a",          "\x7f", "é",        "É",        "ÀÉÎÕÜ", "straße",
    "ΣΊΣΥΦΟΣ",  "İ",      "ǅ",     "K",          "Å",    "ﬃ",        "代码",     "错误",  "日本語",
    "カタカナ", "한국어", "😀",     "\xff",       "\xc3", "\xe4\xb8", "\xf0\x9f", "\x80",  "ÿ",
    "ǈ",        "Ω",      "ⅷ",     "①",          "٣",    "\xcc\x81"};
#define NPIECES (sizeof PIECES / sizeof *PIECES)

static size_t random_text(char *b, size_t cap)
{
    size_t want = rnd() % 5 == 0 ? rnd() % 2000 : rnd() % 40, n = 0;
    while (n < want) {
        const char *p = PIECES[rnd() % NPIECES];
        size_t l = strlen(p);
        if (rnd() % 7 == 0) { /* a random byte */
            char c = (char)(rnd() % 256);
            if (n + 1 >= cap) break;
            b[n++] = c ? c : ' ';
            continue;
        }
        if (n + l >= cap) break;
        memcpy(b + n, p, l);
        n += l;
    }
    b[n] = 0;
    return n;
}

static void test_fold_and_tokens_match_reference(void **state)
{
    (void)state;
    enum { CAP = 4096 };
    char *txt = malloc(CAP), *ref = malloc(CAP * 2);
    uint32_t *roff = malloc(CAP * sizeof *roff), *rlen = malloc(CAP * sizeof *rlen);
    arena_t a;
    arena_init(&a, 1 << 16);
    for (int it = 0; it < 20000; it++) {
        size_t n = random_text(txt, CAP);
        arena_reset(&a);
        /* fold: also at every start offset mod 8, so the 8-byte steps meet
         * non-ASCII bytes at every position */
        size_t sh = (size_t)it % 8 < n ? (size_t)it % 8 : 0;
        sig_text_t f = sig_fold(&a, txt + sh, n - sh);
        size_t rn = ref_fold(ref, txt + sh, n - sh);
        assert_int_equal(f.n, rn);
        assert_memory_equal(f.s, ref, rn + 1);
        /* tokens of the raw and of the folded text */
        sig_text_t in[2] = {{txt, n}, f};
        for (int w = 0; w < 2; w++) {
            sig_tokens_t t;
            sig_tokenize(&a, in[w], &t);
            size_t cap = in[w].n / 2 + 2;
            size_t rc = ref_tokenize(in[w].s, in[w].n, roff, rlen, cap);
            assert_int_equal(t.n, rc);
            for (size_t i = 0; i < rc; i++) {
                assert_int_equal(t.off[i], roff[i]);
                assert_int_equal(t.len[i], rlen[i]);
            }
        }
    }
    arena_deinit(&a);
    free(txt);
    free(ref);
    free(roff);
    free(rlen);
}

static void test_fold_ascii_steps(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 4096);
    /* every ASCII byte, in and out of 8-byte steps */
    char all[128];
    for (int c = 1; c < 128; c++)
        all[c - 1] = (char)c;
    all[127] = 0;
    sig_text_t f = sig_fold(&a, all, 127);
    assert_int_equal(f.n, 127);
    for (int c = 1; c < 128; c++)
        assert_int_equal((unsigned char)f.s[c - 1], c >= 'A' && c <= 'Z' ? c + 32 : c);
    f = sig_fold(&a, "HELLO WORLD, ÉTÉ À PARIS @[`{", strlen("HELLO WORLD, ÉTÉ À PARIS @[`{"));
    assert_string_equal(f.s, "hello world, été à paris @[`{");
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_and_tokens_match_reference),
        cmocka_unit_test(test_fold_ascii_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
