/* test_scan_calls.c - the tool calls the request scanner records while it
 * counts them (scan.h jcall_t): each element's last "id" and the "name" of
 * its last "function" object, exactly what a walk of the spans with
 * jscan_arr_next / jscan_obj_pick / jscan_obj_get finds (the request view
 * used to walk them again; it now reads these), on hand-written shapes and
 * on generated ones; and each message's enc_marker, which must be what
 * jscan_contains finds for the raw "encrypted_content" in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "json/scan.h"

static bool span_eq(jspan_t a, jspan_t b)
{
    return a.len == b.len && (a.len == 0 || a.off == b.off);
}

/* Every message's recorded calls equal the walk of its tool_calls span. */
static void check_calls_match_walk(const char *body, const jreq_t *r)
{
    static const char *const keys[] = {"id", "function"};
    for (uint32_t i = 0; i < r->n_msgs; i++) {
        const jmsg_t *m = &r->msgs[i];
        if (!m->tool_calls.len || body[m->tool_calls.off] != '[') {
            assert_false(m->calls_built);
            continue;
        }
        assert_true(m->calls_built);
        uint32_t cur = 0, c = 0;
        jspan_t el;
        while (jscan_arr_next(body, m->tool_calls, &cur, &el)) {
            assert_true(c < m->n_tool_calls);
            jspan_t kv[2], name = {0, 0};
            jscan_obj_pick(body, el, keys, 2, kv);
            if (kv[1].len && !jscan_obj_get(body, kv[1], "name", &name)) name = (jspan_t){0, 0};
            assert_true(span_eq(m->calls[c].id, kv[0]));
            assert_true(span_eq(m->calls[c].name, name));
            c++;
        }
        assert_int_equal(c, m->n_tool_calls);
    }
}

static void check_enc_matches_contains(const char *body, const jreq_t *r)
{
    static const char mark[] = "\"encrypted_content\"";
    for (uint32_t i = 0; i < r->n_msgs; i++) {
        const jmsg_t *m = &r->msgs[i];
        bool want = jscan_contains(body + m->value.off, m->value.len, mark, sizeof mark - 1);
        if (m->enc_marker != want)
            fail_msg("message %u: enc_marker %d, contains %d", i, m->enc_marker, want);
    }
}

static const char *txt(const char *body, jspan_t s)
{
    static char ring[4][256];
    static int k;
    char *o = ring[k++ & 3];
    size_t n = s.len < 255 ? s.len : 255;
    memcpy(o, body + s.off, n);
    o[n] = 0;
    return o;
}

static void test_calls_recorded(void **state)
{
    (void)state;
    const char *b =
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"{}\"}"
        "},"
        "{\"function\":{\"arguments\":\"{\\\"a\\\":1}\",\"name\":\"w\\u0072ite\"},\"id\":\"c2\"},"
        "7, \"x\", [1,{\"id\":\"no\"}], {},"
        "{\"id\":\"first\",\"\\u0069d\":\"second\",\"function\":{\"name\":\"a\"},\"function\":null}"
        ","
        "{\"id\":5,\"function\":{\"name\":{\"deep\":[1]},\"name\":\"last\"}} ]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[]},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"gone\"}],\"tool_calls\":null}]}";
    arena_t a;
    arena_init(&a, 1024);
    jreq_t r;
    jscan_err_t e;
    assert_int_equal(jscan_request(b, strlen(b), &a, &r, &e), 0);
    assert_int_equal(r.n_msgs, 4);
    const jmsg_t *m = &r.msgs[0];
    assert_true(m->calls_built);
    assert_int_equal(m->n_tool_calls, 8);
    assert_string_equal(txt(b, m->calls[0].id), "\"c1\"");
    assert_string_equal(txt(b, m->calls[0].name), "\"read\"");
    assert_string_equal(txt(b, m->calls[1].id), "\"c2\"");
    assert_string_equal(txt(b, m->calls[1].name), "\"w\\u0072ite\"");
    for (int k = 2; k < 6; k++) { /* 7, "x", [..], {} */
        assert_int_equal(m->calls[k].id.len, 0);
        assert_int_equal(m->calls[k].name.len, 0);
    }
    /* the last "id" (escaped key) wins; the last "function" is null */
    assert_string_equal(txt(b, m->calls[6].id), "\"second\"");
    assert_int_equal(m->calls[6].name.len, 0);
    assert_string_equal(txt(b, m->calls[7].id), "5");
    assert_string_equal(txt(b, m->calls[7].name), "\"last\"");
    assert_false(r.msgs[1].calls_built);
    assert_true(r.msgs[2].calls_built);
    assert_int_equal(r.msgs[2].n_tool_calls, 0);
    /* a later non-array "tool_calls" replaces the array */
    assert_false(r.msgs[3].calls_built);
    assert_int_equal(r.msgs[3].n_tool_calls, 0);
    check_calls_match_walk(b, &r);

    /* without an arena nothing is recorded (msgs is not built at all) */
    assert_int_equal(jscan_request(b, strlen(b), NULL, &r, &e), 0);
    assert_false(r.msgs_built);
    arena_deinit(&a);
}

/* Errors inside tool calls: the same offset and message as jscan_validate
 * (the recording walker must reject exactly what the skipper rejects). */
static void test_calls_errors_match_validate(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"messages\":[{\"tool_calls\":[{\"id\":\"a\",}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"id\" \"a\"}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"id\":\"a\"},]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\":\"a\",}}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\":\"\x01\"}}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\":\"\xc3\"}}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\":\"\\ud800\"}}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\"",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{}",
        "{\"messages\":[{\"tool_calls\":[{\"id\":tru}]}]}",
        "{\"messages\":[{\"tool_calls\":[{",
        "{\"messages\":[{\"tool_calls\":[",
        "{\"messages\":[{\"tool_calls\":[1 2]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"id\":\"a\"}}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"name\":\"a\"]}]}]}",
        "{\"messages\":[{\"tool_calls\":[{1:2}]}]}",
        "{\"messages\":[{\"tool_calls\":[{\"function\":{\"x\":[}}]}]}",
    };
    arena_t a;
    arena_init(&a, 1024);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jreq_t r;
        jscan_err_t e = {0}, ev = {0};
        size_t n = strlen(bad[i]);
        assert_int_equal(jscan_request(bad[i], n, &a, &r, &e), -1);
        assert_int_equal(jscan_validate(bad[i], n, &ev), -1);
        if (e.offset != ev.offset || strcmp(e.message, ev.message) != 0)
            fail_msg("case %zu: scan %zu %s, validate %zu %s", i, e.offset, e.message, ev.offset,
                     ev.message);
    }
    arena_deinit(&a);
}

/* Generated tool-call lists: shapes drawn from a fixed table. */
static void test_calls_generated_match_walk(void **state)
{
    (void)state;
    static const char *const parts[] = {
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}"
        "\"}}",
        "{\"function\":{\"name\":\"g\"}}",
        "{\"id\":\"x\"}",
        "{\"id\":\"\\u00e9t\\u00e9\",\"function\":\"notobj\"}",
        "{\"function\":{\"n\\u0061me\":\"h\",\"name\":\"i\"},\"id\":\"y\",\"id\":\"z\"}",
        "null",
        "[]",
        "{}",
        "{\"function\":{},\"id\":null}",
        "{\"extra\":{\"id\":\"inner\",\"function\":{\"name\":\"inner\"}},\"id\":\"outer\"}",
    };
    const size_t np = sizeof parts / sizeof parts[0];
    arena_t a;
    arena_init(&a, 4096);
    uint32_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "{\"messages\":[");
        int nm = 1 + round % 4;
        for (int m = 0; m < nm; m++) {
            if (m) buf_putc(&b, ',');
            buf_puts(&b, "{\"role\":\"assistant\",\"tool_calls\":[");
            int nc = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 7;
            for (int c = 0; c < nc; c++) {
                if (c) buf_puts(&b, c % 2 ? " , " : ",");
                seed = seed * 1103515245u + 12345u;
                buf_puts(&b, parts[(seed >> 16) % np]);
            }
            buf_puts(&b, "]}");
        }
        buf_puts(&b, "]}");
        jreq_t r;
        jscan_err_t e;
        assert_int_equal(jscan_request(b.data, b.len, &a, &r, &e), 0);
        check_calls_match_walk(b.data, &r);
        check_enc_matches_contains(b.data, &r);
        buf_free(&b);
        arena_reset(&a);
    }
    arena_deinit(&a);
}

/* More calls than the scanner keeps on its stack (CALLS_STACK, 128), with
 * messages whose "tool_calls" occurs twice (the last one counts), so the
 * records move to the arena mid-list and each message still points at its
 * own run. */
static void test_calls_many_and_replaced(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 4096);
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"messages\":[");
    for (int m = 0; m < 90; m++) {
        if (m) buf_putc(&b, ',');
        buf_puts(&b, "{\"role\":\"assistant\",");
        if (m % 7 == 3) buf_printf(&b, "\"tool_calls\":[{\"id\":\"old%d\"},{\"id\":\"old\"}],", m);
        buf_puts(&b, "\"tool_calls\":[");
        for (int c = 0; c < 1 + m % 5; c++)
            buf_printf(&b, "%s{\"id\":\"m%dc%d\",\"function\":{\"name\":\"f%d\"}}", c ? "," : "", m,
                       c, c);
        buf_puts(&b, "]");
        if (m % 11 == 5) buf_puts(&b, ",\"tool_calls\":\"none\"");
        buf_puts(&b, "}");
    }
    buf_puts(&b, "]}");
    jreq_t r;
    jscan_err_t e;
    assert_int_equal(jscan_request(b.data, b.len, &a, &r, &e), 0);
    assert_int_equal(r.n_msgs, 90);
    uint32_t total = 0;
    for (int m = 0; m < 90; m++) {
        const jmsg_t *jm = &r.msgs[m];
        if (m % 11 == 5) {
            assert_false(jm->calls_built);
            assert_int_equal(jm->n_tool_calls, 0);
            continue;
        }
        assert_true(jm->calls_built);
        assert_int_equal(jm->n_tool_calls, 1 + m % 5);
        for (uint32_t c = 0; c < jm->n_tool_calls; c++) {
            char want[32];
            snprintf(want, sizeof want, "\"m%dc%u\"", m, c);
            assert_string_equal(txt(b.data, jm->calls[c].id), want);
        }
        total += jm->n_tool_calls;
    }
    assert_true(total > 128);
    check_calls_match_walk(b.data, &r);
    buf_free(&b);
    arena_deinit(&a);
}

/* The raw "encrypted_content" (quotes included) as a key, as a value, at
 * the end of a text after an escaped quote (a match), and inside a text
 * between escaped quotes, split or longer (no match), in objects and in
 * elements that are not objects; and short strings (the inline path) and
 * long ones (scan_string). */
static void test_enc_marker(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "{\"type\":\"reasoning\",\"encrypted_content\":\"gAAAA\"}",
        "{\"role\":\"user\",\"content\":\"encrypted_content\"}",
        "{\"role\":\"user\",\"content\":\"the key is \\\"encrypted_content\"}",
        "{\"role\":\"user\",\"content\":\"a \\\"encrypted_content\\\" b\"}",
        "{\"role\":\"user\",\"content\":\"xencrypted_content\"}",
        "{\"role\":\"user\",\"content\":\"encrypted_contents\"}",
        "\"encrypted_content\"",
        "[\"x\",{\"encrypted_content\":1}]",
        "{\"role\":\"assistant\",\"content\":\"a long text of more than thirty-two bytes, "
        "then \\\"encrypted_content\"}",
        "{\"role\":\"assistant\",\"content\":\"a long text of more than thirty-two bytes, "
        "then \\\"encrypted_content\\\"\"}",
        "{\"role\":\"assistant\",\"content\":\"\\u0065ncrypted_content\"}",
        "{\"role\":\"assistant\",\"content\":null}",
    };
    static const bool want[] = {true, true, true, false, false, false,
                                true, true, true, false, false, false};
    const size_t n = sizeof msgs / sizeof msgs[0];
    arena_t a;
    arena_init(&a, 4096);
    for (size_t rot = 0; rot < n; rot++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "{\"model\":\"encrypted_content\",\"messages\":[");
        for (size_t k = 0; k < n; k++) {
            if (k) buf_puts(&b, " ,");
            buf_puts(&b, msgs[(k + rot) % n]);
        }
        buf_puts(&b, "]}");
        jreq_t r;
        jscan_err_t e;
        assert_int_equal(jscan_request(b.data, b.len, &a, &r, &e), 0);
        assert_int_equal(r.n_msgs, n);
        for (size_t k = 0; k < n; k++)
            if (r.msgs[k].enc_marker != want[(k + rot) % n])
                fail_msg("message %zu (%s): enc_marker %d", k, msgs[(k + rot) % n],
                         r.msgs[k].enc_marker);
        check_enc_matches_contains(b.data, &r);
        buf_free(&b);
        arena_reset(&a);
    }
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_recorded),
        cmocka_unit_test(test_calls_errors_match_validate),
        cmocka_unit_test(test_calls_generated_match_walk),
        cmocka_unit_test(test_calls_many_and_replaced),
        cmocka_unit_test(test_enc_marker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
