/* test_classify_parse.c - the fast /classify reply reader (signals/
 * classify_fast.c) against the cJSON path (sig_cls_parse_classify_tree):
 * on generated replies (labels with escapes and Unicode, probabilities in
 * many number formats, members missing, extra, of the wrong type or
 * duplicated, truncated bodies) and thousands of random mutations of them,
 * under four classifier tables: whatever the fast path accepts, the cJSON
 * path accepts with the same label, score and positive probability (bit for
 * bit), and sig_cls_parse_classify always gives the cJSON path's outcome.
 * The common shapes must be accepted (else the fast path does nothing).
 * And the one-pass reader against the span reader it replaced
 * (classify_fast_ref.h): where both accept, the same bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "signals/classify.h"
#include "cls_tables.h"
#include "classify_fast_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long n_fast, n_tree_ok, n_total, n_both;

/* One body under one table: the fast path agrees with the cJSON path. */
static void check(const cfg_classifier_t *k, const char *body, size_t len)
{
    arena_t a;
    arena_init(&a, 1024);
    sig_cls_out_t f = {0}, t = {0}, c = {0};
    bool fast = sig_cls_classify_fast(k, body, len, &a, &f);
    sig_cls_out_t r = {0};
    if (ref_classify_fast(k, body, len, &a, &r) && fast) {
        n_both++;
        if (strcmp(f.label, r.label) || memcmp(&f.score, &r.score, sizeof f.score) ||
            memcmp(&f.positive, &r.positive, sizeof f.positive))
            fail_msg("one pass and span reader differ on %.*s", (int)len, body);
    }
    int rt = sig_cls_parse_classify_tree(k, body, len, &a, &t);
    int rc = sig_cls_parse_classify(k, body, len, &a, &c);
    n_total++;
    n_fast += fast;
    n_tree_ok += rt == 0;
    if (fast) {
        if (rt != 0 || !f.label || !t.label || strcmp(f.label, t.label) ||
            memcmp(&f.score, &t.score, sizeof f.score) ||
            memcmp(&f.positive, &t.positive, sizeof f.positive))
            fail_msg("fast path differs on %.*s: fast %s %.17g %.17g, cJSON rc %d %s %.17g %.17g",
                     (int)len, body, f.label ? f.label : "(null)", f.score, f.positive, rt,
                     t.label ? t.label : "(null)", t.score, t.positive);
    } else {
        assert_null(f.label); /* declined: *out untouched */
    }
    assert_int_equal(rc, rt);
    if (rc == 0) {
        assert_string_equal(c.label, t.label);
        assert_memory_equal(&c.score, &t.score, sizeof c.score);
        assert_memory_equal(&c.positive, &t.positive, sizeof c.positive);
    }
    arena_deinit(&a);
}

static void check_all(const char *body, size_t len)
{
    for (int w = 0; w < 4; w++) {
        cfg_classifier_t k = table(w);
        check(&k, body, len);
    }
}

static const char *const labels_json[] = {
    "\"benign\"",         "\"jailbreak\"",      "\"toxic\"",     "\"caf\\u00e9\"",
    "\"caf\xc3\xa9\"",    "\"x\\\"y\"",         "\"a\\nb\"",     "\"\"",
    "\"\\ud83d\\ude00\"", "\"LABEL_1\"",        "\"Jailbreak\"", "\"to\\u0000xic\"",
    "\"t\\u006fxic\"",    "\"\\/\\b\\f\\r\\t\""};

static void num(buf_t *b, unsigned r)
{
    double v = (double)(r % 100001) / 100000.0;
    static const char *const fmts[] = {"%.17g", "%.6g",  "%g",   "%.3e", "%.20f",
                                       "%.1f",  "%.12E", "%.4g", "%.16g"};
    switch (r / 100001 % 14) {
    case 9: buf_puts(b, "1"); return;
    case 10: buf_puts(b, "0"); return;
    case 11: buf_puts(b, r & 1 ? "-0" : "5E-1"); return;
    case 12: buf_puts(b, r & 1 ? "1e-30" : "0.000000000000000000000000123456789"); return;
    case 13: buf_puts(b, r & 1 ? "123456789012345678e-18" : "0.99999999999999999999"); return;
    default: buf_printf(b, fmts[r / 100001 % 9], v); return;
    }
}

/* A reply: mostly the usual shape, sometimes odd. */
static void gen(buf_t *b, unsigned seed)
{
    srand(seed);
    buf_reset(b);
    int odd = rand() % 4 == 0;
    buf_puts(b, rand() % 5 ? "{" : " \n{ ");
    if (rand() % 2) buf_puts(b, "\"id\":\"classify-1\",\"object\":\"list\",");
    if (odd && rand() % 4 == 0) buf_puts(b, "\"data\":[],");
    buf_puts(b, "\"data\":[");
    int n = 1 + rand() % 3;
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, rand() % 4 ? "," : " , ");
        if (odd && rand() % 10 == 0) {
            buf_puts(b, rand() % 2 ? "null" : "[1]");
            continue;
        }
        buf_printf(b, "{\"index\":%d", i);
        int np = rand() % 5 ? 2 + rand() % 2 : rand() % 5;
        bool label_first = rand() % 2;
        const char *lj = labels_json[rand() % (sizeof labels_json / sizeof *labels_json)];
        if (odd && rand() % 5 == 0) lj = rand() % 2 ? "7" : "null";
        bool no_label = odd && rand() % 6 == 0;
        if (label_first && !no_label) buf_printf(b, ",\"label\":%s", lj);
        if (!(odd && rand() % 6 == 0)) {
            buf_puts(b, ",\"probs\":");
            if (odd && rand() % 6 == 0) {
                buf_puts(b, rand() % 2 ? "\"0.5\"" : "{\"a\":0.5}");
            } else {
                buf_puts(b, "[");
                for (int j = 0; j < np; j++) {
                    if (j) buf_puts(b, rand() % 3 ? "," : ", ");
                    if (odd && rand() % 12 == 0)
                        buf_puts(b, rand() % 2 ? "1.5" : "\"x\"");
                    else
                        num(b, (unsigned)rand());
                }
                buf_puts(b, "]");
            }
        }
        if (!label_first && !no_label) buf_printf(b, ",\"label\":%s", lj);
        if (odd && rand() % 5 == 0) buf_printf(b, ",\"label\":%s", labels_json[rand() % 3]);
        if (odd && rand() % 5 == 0) buf_puts(b, ",\"probs\":[0.25,0.75]");
        if (odd && rand() % 5 == 0) buf_puts(b, ",\"l\\u0061bel\":\"toxic\"");
        if (rand() % 2) buf_printf(b, ",\"num_classes\":%d", np);
        if (odd && rand() % 4 == 0) buf_puts(b, ",\"extra\":{\"a\":[1,{\"b\":null}],\"c\":true}");
        buf_puts(b, "}");
    }
    buf_puts(b, "]");
    if (rand() % 2)
        buf_puts(b, ",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3,\"completion_tokens\":0}");
    if (odd && rand() % 5 == 0) buf_puts(b, ",\"data\":[{\"label\":\"toxic\"}]");
    if (odd && rand() % 8 == 0)
        buf_puts(b, ",\"n\":1234567890123456789012345678901234567890123456789012345678901234567");
    buf_puts(b, "}");
    if (odd && rand() % 5 == 0) buf_puts(b, rand() % 2 ? "  \n" : " x");
}

static void test_generated_replies_agree(void **st)
{
    (void)st;
    buf_t b = BUF_INIT;
    n_fast = n_tree_ok = n_total = 0;
    for (unsigned s = 1; s <= 3000; s++) {
        gen(&b, s);
        check_all(b.data, b.len);
        /* truncated: every fast acceptance must still agree */
        if (s % 10 == 0)
            for (size_t cut = 0; cut < b.len; cut += 1 + b.len / 40)
                check_all(b.data, cut);
    }
    /* the common shapes are read by the fast path */
    assert_true(n_fast * 2 > n_tree_ok);
    buf_free(&b);
}

static void test_mutated_replies_agree(void **st)
{
    (void)st;
    static const char alphabet[] = "{}[]\",:.-+eE0123456789 \\u\x01\xc3\xa9nulltruefalse";
    buf_t b = BUF_INIT;
    char *m = NULL;
    srand(4242);
    long accepted = 0;
    for (int it = 0; it < 4000; it++) {
        gen(&b, 100000u + (unsigned)it);
        size_t n = b.len;
        m = realloc(m, n + 8);
        memcpy(m, b.data, n);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits && n; e++) {
            size_t at = (size_t)rand() % n;
            char c = alphabet[rand() % (int)(sizeof alphabet - 1)];
            switch (rand() % 3) {
            case 0: m[at] = c; break;
            case 1:
                memmove(m + at, m + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(m + at + 1, m + at, n - at);
                m[at] = c;
                n++;
                break;
            }
        }
        long before = n_fast;
        check_all(m, n);
        accepted += n_fast > before;
    }
    assert_true(accepted > 100); /* mutations the fast path still reads */
    free(m);
    buf_free(&b);
}

static void test_known_replies(void **st)
{
    (void)st;
    cfg_classifier_t k = table(1);
    arena_t a;
    arena_init(&a, 1024);
    sig_cls_out_t o = {0};
    const char *mock =
        "{\"id\":\"c\",\"object\":\"list\",\"created\":1,\"model\":\"m\",\"data\":[{"
        "\"index\":0,\"label\":\"jailbreak\",\"probs\":[0.1,0.9],\"num_classes\":2}],"
        "\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1,\"completion_tokens\":0}}";
    assert_true(sig_cls_classify_fast(&k, mock, strlen(mock), &a, &o));
    assert_string_equal(o.label, "jailbreak");
    assert_true(o.score == 0.9 && o.positive == 0.9);
    /* declined: duplicate label, escaped key, long number, trailing data */
    const char *no[] = {
        "{\"data\":[{\"label\":\"a\",\"label\":\"b\"}]}",
        "{\"d\\u0061ta\":[{\"label\":\"a\"}]}",
        "{\"data\":[{\"label\":\"a\",\"x\":"
        "0.1234567890123456789012345678901234567890123456789012345678901234567}]}",
        "{\"data\":[{\"label\":\"a\"}]} x",
        "{\"data\":[{\"label\":\"a\",\"probs\":null}]}",
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        memset(&o, 0, sizeof o);
        assert_false(sig_cls_classify_fast(&k, no[i], strlen(no[i]), &a, &o));
        check_all(no[i], strlen(no[i]));
    }
    arena_deinit(&a);
}

/* Probabilities of every odd form (huge exponents, denormals, negative
 * zero, many digits, bad forms) in replies of both field orders, escaped
 * labels, whole and truncated: the one pass agrees with the cJSON path
 * and, where both read it, with the span reader. */
static void test_odd_numbers_agree(void **st)
{
    (void)st;
    static const char *const nums[] = {
        "-0",
        "-0.0",
        "0e99999",
        "-0.0e-400",
        "4.9e-324",
        "2.2250738585072011e-308",
        "1e-310",
        "1e400",
        "1e-400",
        "12345678901234567890e-20",
        "0.1234567890123456789",
        "9007199254740993e-16",
        "1e0000000",
        "1E-0001",
        "0.5",
        "0.25",
        "1",
        "1.0",
        "0.9",
        "1e-23",
        "00",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "-",
        "0x1",
        "NaN",
        "1e5.5",
        "0.5e",
        "5E-1",
        "0.1e1",
        "0.12345678901234567890123456789012345678901234567890123456789012",
        "0.123456789012345678901234567890123456789012345678901234567890123"};
    static const char *const labs[] = {"\"benign\"", "\"jail\\u0062reak\"", "\"t\\\"x\"",
                                       "\"caf\\u00e9\"", "\"\\ud83d\\ude00\""};
    size_t nn = sizeof nums / sizeof *nums;
    buf_t b = BUF_INIT;
    long before = n_both;
    for (size_t i = 0; i < nn * nn; i++) {
        const char *x = nums[i % nn], *y = nums[i / nn];
        const char *l = labs[i % 5];
        buf_reset(&b);
        if (i % 2)
            buf_printf(&b,
                       "{\"data\":[{\"index\":0,\"label\":%s,\"probs\":[%s,%s]}],\"model\":\"m\"}",
                       l, x, y);
        else
            buf_printf(&b, "{\"object\":\"list\",\"data\":[{\"probs\":[%s, %s],\"label\":%s}]}", x,
                       y, l);
        check_all(b.data, b.len);
        if (i % 7 == 0)
            for (size_t cut = 0; cut < b.len; cut += 3)
                check_all(b.data, cut);
    }
    assert_true(n_both > before); /* both readers read many */
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_replies),
        cmocka_unit_test(test_generated_replies_agree),
        cmocka_unit_test(test_mutated_replies_agree),
        cmocka_unit_test(test_odd_numbers_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
