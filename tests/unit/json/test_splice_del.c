/* test_splice_del.c - comma-correct deletion of array elements and object
 * members: every subset of entries deleted from containers of 0..6 entries,
 * in compact, spaced and multi-line layouts, nested containers, and strings
 * holding commas and brackets. Each output must validate (jscan_validate)
 * and equal, whitespace aside, the container of the kept entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "json/scan.h"
#include "json/splice_del.h"

/* Entries with awkward insides: commas and brackets in strings, nesting. */
static const char *ELEMS[] = {"1",    "\"a,b]\"",   "{\"x\":[1,2]}", "[3,{\"y\":\",\"}]",
                              "null", "\"}\\\",{\""};

/* whitespace outside strings removed */
static void squeeze(const char *s, size_t n, buf_t *out)
{
    bool in = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in) {
            buf_putc(out, c);
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in = false;
            continue;
        }
        if (c == '"') in = true;
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
        buf_putc(out, c);
    }
}

static void build(buf_t *b, bool obj, size_t n, int layout, unsigned mask, buf_t *expect)
{
    const char *sep = layout == 0 ? "," : layout == 1 ? " , " : ",\n  ";
    const char *pad = layout == 0 ? "" : layout == 1 ? " " : "\n  ";
    buf_puts(b, "{\"outer\":");
    buf_puts(b, obj ? "{" : "[");
    buf_puts(b, pad);
    buf_puts(expect, "{\"outer\":");
    buf_puts(expect, obj ? "{" : "[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (i) buf_puts(b, sep);
        buf_t e = BUF_INIT;
        if (obj) buf_printf(&e, "\"k%zu\"%s:%s", i, layout == 1 ? " " : "", layout == 1 ? " " : "");
        buf_puts(&e, ELEMS[i % 6]);
        buf_append(b, e.data, e.len);
        if (!(mask & (1u << i))) {
            if (!first) buf_putc(expect, ',');
            squeeze(e.data, e.len, expect);
            first = false;
        }
        buf_free(&e);
    }
    buf_puts(b, pad);
    buf_puts(b, obj ? "}" : "]");
    buf_puts(b, ",\"after\":true}");
    buf_puts(expect, obj ? "}" : "]");
    buf_puts(expect, ",\"after\":true}");
}

static void exhaustive(bool obj)
{
    int checked = 0;
    for (size_t n = 0; n <= 6; n++)
        for (int layout = 0; layout < 3; layout++)
            for (unsigned mask = 0; mask < (1u << n); mask++) {
                buf_t body = BUF_INIT, expect = BUF_INIT, out = BUF_INIT, sq = BUF_INIT;
                build(&body, obj, n, layout, mask, &expect);
                assert_int_equal(jscan_validate(body.data, body.len, NULL), 0);
                jspan_t top = {0, (uint32_t)body.len}, c;
                assert_true(jscan_obj_get(body.data, top, "outer", &c));
                assert_int_equal(jsplice_count_entries(body.data, c), n);
                bool del[8] = {0};
                int want = 0;
                for (size_t i = 0; i < n; i++)
                    want += (del[i] = (mask >> i) & 1u);
                jsplice_t s;
                jsplice_init(&s);
                assert_int_equal(jsplice_delete_entries(&s, body.data, c, del, n), want);
                jsplice_sort(&s);
                jsplice_to_buf(&s, body.data, body.len, &out);
                jscan_err_t err;
                if (jscan_validate(out.data, out.len, &err) != 0)
                    fail_msg("invalid output for n=%zu layout=%d mask=%x: %s (%s)", n, layout, mask,
                             out.data, err.message);
                squeeze(out.data, out.len, &sq);
                if (strcmp(sq.data, expect.data))
                    fail_msg("n=%zu layout=%d mask=%x: got %s want %s", n, layout, mask, sq.data,
                             expect.data);
                /* no edit touches a byte of a kept entry (callers edit inside them) */
                uint32_t cur = 0;
                jspan_t e, k, v;
                for (size_t i = 0; i < n; i++) {
                    if (obj) {
                        assert_true(jscan_obj_next(body.data, c, &cur, &k, &v));
                        e = (jspan_t){k.off, v.off + v.len - k.off};
                    } else {
                        assert_true(jscan_arr_next(body.data, c, &cur, &e));
                    }
                    for (size_t x = 0; !del[i] && x < s.n; x++)
                        assert_true(s.edits[x].off + s.edits[x].len <= e.off ||
                                    s.edits[x].off >= e.off + e.len);
                }
                checked++;
                jsplice_free(&s);
                buf_free(&body);
                buf_free(&expect);
                buf_free(&out);
                buf_free(&sq);
            }
    assert_int_equal(checked, 3 * (1 + 2 + 4 + 8 + 16 + 32 + 64));
}

static void test_array_every_subset(void **st)
{
    (void)st;
    exhaustive(false);
}

static void test_object_every_subset(void **st)
{
    (void)st;
    exhaustive(true);
}

/* first / middle / last / only, spelled out */
static void one(const char *in, const bool *del, size_t n, const char *want)
{
    jspan_t c = {0, (uint32_t)strlen(in)};
    jsplice_t s;
    jsplice_init(&s);
    assert_true(jsplice_delete_entries(&s, in, c, del, n) >= 0);
    jsplice_sort(&s);
    buf_t out = BUF_INIT;
    jsplice_to_buf(&s, in, strlen(in), &out);
    assert_int_equal(jscan_validate(out.data, out.len, NULL), 0);
    assert_string_equal(out.data, want);
    buf_free(&out);
    jsplice_free(&s);
}

static void test_positions(void **st)
{
    (void)st;
    one("[1, 2, 3]", (bool[]){1, 0, 0}, 3, "[2, 3]");
    one("[1, 2, 3]", (bool[]){0, 1, 0}, 3, "[1, 3]");
    one("[1, 2, 3]", (bool[]){0, 0, 1}, 3, "[1, 2]");
    one("[1, 2, 3]", (bool[]){1, 0, 1}, 3, "[2]");
    one("[1, 2, 3]", (bool[]){0, 1, 1}, 3, "[1]");
    one("[ 1 ]", (bool[]){1}, 1, "[  ]");
    one("{\"a\":1,\"b\":2}", (bool[]){0, 1}, 2, "{\"a\":1}");
    one("{\"a\":1,\"b\":2}", (bool[]){1, 0}, 2, "{\"b\":2}");
    one("{\"a\" : 1}", (bool[]){1}, 1, "{}");
}

static void test_refuses_mismatch(void **st)
{
    (void)st;
    const char *in = "[1,2]";
    jsplice_t s;
    jsplice_init(&s);
    assert_int_equal(jsplice_delete_entries(&s, in, (jspan_t){0, 5}, (bool[]){1, 1, 1}, 3), -1);
    assert_int_equal(jsplice_delete_entries(&s, "\"x\"", (jspan_t){0, 3}, (bool[]){1}, 1), -1);
    assert_int_equal(s.n, 0);
    jsplice_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_every_subset),
        cmocka_unit_test(test_object_every_subset),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_refuses_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
