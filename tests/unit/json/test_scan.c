/* test_scan.c - the request scanner: spans, unescaping, every malformed case
 * with its exact offset, nesting limits, big bodies, usage extraction and
 * the span helpers. */
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

/* span text as a NUL-terminated copy in a static ring (tests only) */
static const char *txt(const char *body, jspan_t s)
{
    static char ring[8][512];
    static int k;
    char *o = ring[k++ & 7];
    size_t n = s.len < 511 ? s.len : 511;
    memcpy(o, body + s.off, n);
    o[n] = 0;
    return o;
}

static int scan(const char *body, arena_t *a, jreq_t *r, jscan_err_t *e)
{
    return jscan_request(body, strlen(body), a, r, e);
}

static void test_chat_body_spans(void **state)
{
    const char *b =
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\"},{\"id\":\"c2\"}]}"
        ","
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"},"
        "{\"role\":\"developer\",\"content\":\"x\",\"name\":\"n\"},{\"role\":\"critic\"},7],"
        "\"tools\":[{\"type\":\"function\"}],\"metadata\":{\"model\":\"nested\"},"
        "\"prompt_cache_key\":\"pk\",\"previous_response_id\":\"resp_1\",\"input\":\"in\"}";
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    jscan_err_t e = {0};
    assert_int_equal(scan(b, &a, &r, &e), 0);
    assert_string_equal(txt(b, r.model), "\"gpt-4o\"");
    assert_true(r.model_is_string);
    assert_int_equal(r.n_model, 1);
    assert_int_equal(r.stream, 1);
    assert_string_equal(txt(b, r.stream_options), "{\"include_usage\":true}");
    assert_true(r.has_messages);
    assert_int_equal(r.n_msgs, 7);
    assert_int_equal(r.msgs[0].role, JROLE_SYSTEM);
    assert_string_equal(txt(b, r.msgs[0].content), "\"be brief\"");
    assert_int_equal(r.msgs[1].role, JROLE_USER);
    assert_string_equal(txt(b, r.msgs[1].content), "[{\"type\":\"text\",\"text\":\"hi\"}]");
    assert_int_equal(r.msgs[2].role, JROLE_ASSISTANT);
    assert_string_equal(txt(b, r.msgs[2].content), "null");
    assert_int_equal(r.msgs[2].n_tool_calls, 2);
    assert_string_equal(txt(b, r.msgs[2].tool_calls), "[{\"id\":\"c1\"},{\"id\":\"c2\"}]");
    assert_int_equal(r.msgs[3].role, JROLE_TOOL);
    assert_string_equal(txt(b, r.msgs[3].tool_call_id), "\"c1\"");
    assert_int_equal(r.msgs[3].n_tool_calls, 0);
    assert_int_equal(r.msgs[4].role, JROLE_DEVELOPER);
    assert_string_equal(txt(b, r.msgs[4].name), "\"n\"");
    assert_int_equal(r.msgs[5].role, JROLE_OTHER);
    assert_string_equal(txt(b, r.msgs[5].role_span), "\"critic\"");
    assert_int_equal(r.msgs[5].content.len, 0);
    assert_int_equal(r.msgs[6].role, JROLE_OTHER);
    assert_string_equal(txt(b, r.msgs[6].value), "7");
    assert_string_equal(txt(b, r.msgs[0].value), "{\"role\":\"system\",\"content\":\"be brief\"}");
    assert_string_equal(txt(b, r.tools), "[{\"type\":\"function\"}]");
    assert_string_equal(txt(b, r.metadata), "{\"model\":\"nested\"}");
    assert_string_equal(txt(b, r.prompt_cache_key), "\"pk\"");
    assert_string_equal(txt(b, r.previous_response_id), "\"resp_1\"");
    assert_string_equal(txt(b, r.input), "\"in\"");
    assert_int_equal(r.obj_open, 0);
    assert_int_equal(r.obj_close, strlen(b) - 1);
    assert_int_equal(r.n_top_keys, 9);
    arena_deinit(&a);
}

static void test_whitespace_and_pretty_print(void **state)
{
    const char *b =
        " \r\n\t{ \"stream\" :\tfalse ,\r\n  \"model\"\n:\n\"m\" ,\"messages\" : [ ] }\n\t ";
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_int_equal(r.obj_open, 4);
    assert_int_equal(b[r.obj_close], '}');
    assert_int_equal(r.obj_close, strlen(b) - 4);
    assert_int_equal(r.stream, 0);
    assert_string_equal(txt(b, r.model), "\"m\"");
    assert_true(r.has_messages);
    assert_int_equal(r.n_msgs, 0);
    assert_int_equal(r.n_top_keys, 3);
    arena_deinit(&a);
}

static void test_empty_object_and_absent_fields(void **state)
{
    jreq_t r;
    assert_int_equal(scan("{}", NULL, &r, NULL), 0);
    assert_int_equal(r.n_top_keys, 0);
    assert_int_equal(r.obj_open, 0);
    assert_int_equal(r.obj_close, 1);
    assert_int_equal(r.stream, -1);
    assert_int_equal(r.n_model, 0);
    assert_false(r.model_is_string);
    assert_false(r.has_messages);
    assert_int_equal(r.model.len, 0);
}

static void test_model_anywhere_and_duplicated(void **state)
{
    const char *b = "{\"messages\":[{\"role\":\"user\",\"model\":\"inner\",\"content\":\"x\"}],"
                    "\"model\":\"first\",\"metadata\":{\"model\":\"meta\",\"a\":[{\"model\":1}]},"
                    "\"stream\":false,\"model\":\"second\"}";
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_int_equal(r.n_model, 2);
    assert_string_equal(txt(b, r.model_all[0]), "\"first\"");
    assert_string_equal(txt(b, r.model_all[1]), "\"second\"");
    assert_string_equal(txt(b, r.model), "\"second\"");
    assert_true(r.model_is_string);
    assert_int_equal(r.n_msgs, 1);
    arena_deinit(&a);
}

static void test_model_last_occurrence_not_string(void **state)
{
    jreq_t r;
    const char *b = "{\"model\":\"a\",\"model\":42}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_int_equal(r.n_model, 2);
    assert_false(r.model_is_string);
    assert_string_equal(txt(b, r.model), "42");
    b = "{\"model\":null}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_false(r.model_is_string);
    assert_string_equal(txt(b, r.model), "null");
    b = "{\"model\":{\"name\":\"x\"}}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_false(r.model_is_string);
    assert_string_equal(txt(b, r.model), "{\"name\":\"x\"}");
}

static void test_escaped_keys_match_after_unescaping(void **state)
{
    const char *b = "{\"mod\\u0065l\":\"m1\",\"\\u006d\\u006F\\u0064\\u0065\\u006c\":\"m2\","
                    "\"str\\u0065am\":true,\"messages\":[{\"r\\u006fle\":\"\\u0075ser\"}],"
                    "\"models\":\"no\",\"mode\":\"no\",\"model\\u0000\":\"no\"}";
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_int_equal(r.n_model, 2);
    assert_string_equal(txt(b, r.model_all[0]), "\"m1\"");
    assert_string_equal(txt(b, r.model), "\"m2\"");
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.n_msgs, 1);
    assert_int_equal(r.msgs[0].role, JROLE_USER);
    arena_deinit(&a);
}

static void test_too_many_model_keys_is_an_error(void **state)
{
    buf_t b = BUF_INIT;
    buf_putc(&b, '{');
    for (int i = 0; i < JREQ_MAX_MODEL_KEYS; i++)
        buf_printf(&b, "\"model\":\"m%d\",", i);
    size_t off = b.len + 8;
    buf_puts(&b, "\"model\":\"last\"}");
    jreq_t r;
    jscan_err_t e = {0};
    assert_int_equal(jscan_request(b.data, b.len, NULL, &r, &e), -1);
    assert_int_equal(e.offset, off);
    assert_string_equal(e.message, "too many \"model\" keys");
    /* exactly the limit is fine */
    b.len = off - 8 - 1;
    buf_puts(&b, "}");
    assert_int_equal(jscan_request(b.data, b.len, NULL, &r, &e), 0);
    assert_int_equal(r.n_model, JREQ_MAX_MODEL_KEYS);
    buf_free(&b);
}

static void test_escapes_unescape(void **state)
{
    const char *b =
        "{\"model\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00z\"}";
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    size_t n;
    char *s = jscan_unescape(&a, b, r.model, &n);
    const char want[] = "a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(s, want, n);
    assert_int_equal(s[n], 0);
    assert_true(jscan_str_eq(b, r.model, want));
    assert_false(jscan_str_eq(b, r.model, "a\"b"));
    /* not a string */
    jspan_t num = {0, 1};
    assert_null(jscan_unescape(&a, "{", num, &n));
    assert_false(jscan_str_eq("{", num, "{"));
    arena_deinit(&a);
}

static void test_unicode_raw_utf8_and_u_escapes(void **state)
{
    /* 2-, 3- and 4-byte sequences at every edge of the valid ranges */
    const char *ok[] = {
        "\"\xC2\x80\xDF\xBF\"",
        "\"\xE0\xA0\x80\xEF\xBF\xBF\"",
        "\"\xED\x9F\xBF\xEE\x80\x80\"",
        "\"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"",
        "\"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\u0000\"",
        "\"\\uffff\"",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        jscan_err_t e = {0};
        if (jscan_validate(ok[i], strlen(ok[i]), &e) != 0) fail_msg("case %zu: %s", i, e.message);
    }
}

static void test_lone_surrogates_rejected_everywhere(void **state)
{
    static const struct {
        const char *body;
        size_t off;
    } bad[] = {
        {"{\"model\":\"x\\ud800y\"}", 11},             /* high, then a letter */
        {"{\"model\":\"x\\udc00\"}", 11},              /* low alone */
        {"{\"input\":[\"\\ud83d\\u0041\"]}", 11},      /* high, then not a low */
        {"{\"input\":\"\\ud83d\\ud83d\\ude00\"}", 10}, /* high, high */
        {"{\"a\":\"\\uD800\"}", 6},                    /* at the end of the string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jscan_err_t e = {0}, e2 = {0};
        jreq_t r;
        assert_int_equal(scan(bad[i].body, NULL, &r, &e), -1);
        assert_string_equal(e.message, "lone surrogate in \\u escape");
        assert_int_equal(e.offset, bad[i].off);
        assert_int_equal(jscan_validate(bad[i].body, strlen(bad[i].body), &e2), -1);
        assert_int_equal(e2.offset, e.offset);
    }
    /* pairs are fine, in any case of hex digits */
    const char *ok = "{\"model\":\"\\ud83d\\ude00 \\uD83D\\uDE00\"}";
    jreq_t r;
    assert_int_equal(scan(ok, NULL, &r, NULL), 0);
}

static void test_lone_surrogates_replaced_by_span_helpers(void **state)
{
    /* upstream replies are read leniently: jscan_unescape maps them to U+FFFD */
    const char *b = "{\"model\":\"x\\ud800y\\udc00z\\ud83d\\u0041\\ud83d\"}";
    arena_t a;
    arena_init(&a, 0);
    jspan_t doc = {0, (uint32_t)strlen(b)}, m;
    assert_true(jscan_obj_get(b, doc, "model", &m));
    jreq_t r;
    r.model = m;
    size_t n;
    char *s = jscan_unescape(&a, b, r.model, &n);
    const char want[] = "x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD"
                        "A\xEF\xBF\xBD";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(s, want, n);
    arena_deinit(&a);
}

static void test_duplicate_keys_recorded(void **state)
{
    jreq_t r;
    const char *b = "{\"model\":\"a\",\"x\":1,\"x\":2,\"stream\":true,\"model\":\"b\"}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_string_equal(r.dup_key, "model");
    assert_int_equal(r.dup_off, strstr(b, "\"b\"") - b);
    b = "{\"x\":1,\"x\":2,\"model\":\"m\"}"; /* keys tether does not read: no matter */
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_null(r.dup_key);
    b = "{\"stream\":false,\"str\\u0065am\":true}"; /* compared after unescaping */
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_string_equal(r.dup_key, "stream");
    b = "{\"input\":[1],\"input\":\"x\"}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_string_equal(r.dup_key, "input");
}

static void test_item_cap(void **state)
{
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    jscan_err_t e = {0};
    const char *b = "{\"messages\":[{},{},{}]}";
    assert_int_equal(jscan_request_max(b, strlen(b), &a, 3, &r, &e), 0);
    assert_int_equal(r.n_msgs, 3);
    assert_int_equal(jscan_request_max(b, strlen(b), &a, 2, &r, &e), JSCAN_ETOO_MANY);
    assert_int_equal(e.offset, 19); /* the third message */
    assert_int_equal(jscan_request_max(b, strlen(b), NULL, 2, &r, &e), JSCAN_ETOO_MANY);
    b = "{\"input\":[1,2,3]}";
    assert_int_equal(jscan_request_max(b, strlen(b), NULL, 3, &r, &e), 0);
    assert_int_equal(r.n_input, 3);
    assert_int_equal(jscan_request_max(b, strlen(b), NULL, 2, &r, &e), JSCAN_ETOO_MANY);
    assert_int_equal(e.offset, 9);
    arena_deinit(&a);
}

/* "tools" counted by the scan as jscan_arr_next counts it, the last one
 * winning (rq_from_chat reads the count instead of walking the array) */
static void test_tools_counted(void **state)
{
    static const struct {
        const char *body;
        uint32_t n;
    } cases[] = {
        {"{\"tools\":[]}", 0},
        {"{\"tools\":[ ]}", 0},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{},[1,[2]],\"x\"]}", 4},
        {"{\"tools\" : [ 1 , 2 ] }", 2},
        {"{\"tools\":[1,2,3],\"tools\":[4]}", 1},
        {"{\"tools\":[1,2,3],\"tools\":{\"a\":[1]}}", 0},
        {"{\"tools\":null}", 0},
        {"{\"tool\\u0073\":[1,2]}", 2},
        {"{\"messages\":[],\"x\":{\"tools\":[1]}}", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        jreq_t r;
        const char *b = cases[k].body;
        assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
        assert_int_equal(r.n_tools, cases[k].n);
        uint32_t cur = 0, cnt = 0;
        jspan_t el;
        while (r.tools.len && b[r.tools.off] == '[' && jscan_arr_next(b, r.tools, &cur, &el))
            cnt++;
        assert_int_equal(cnt, cases[k].n);
    }
    /* errors inside the array: the offsets and messages of jscan_validate */
    static const char *const bad[] = {"{\"tools\":[1,]}", "{\"tools\":[1 2]}", "{\"tools\":[",
                                      "{\"tools\":[,1]}", "{\"tools\":[1,",    "{\"tools\":[[}]}"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        jreq_t r;
        jscan_err_t e = {0}, v = {0};
        assert_int_equal(jscan_request(bad[k], strlen(bad[k]), NULL, &r, &e), -1);
        assert_int_equal(jscan_validate(bad[k], strlen(bad[k]), &v), -1);
        assert_int_equal(e.offset, v.offset);
        assert_string_equal(e.message, v.message);
    }
}

typedef struct bad {
    const char *body;
    size_t len; /* 0: strlen */
    size_t off;
    const char *msg;
} bad_t;

static void test_malformed_exact_offsets(void **state)
{
    static const bad_t cases[] = {
        {"", 0, 0, "unexpected end of input"},
        {"  \n", 0, 3, "unexpected end of input"},
        {"{", 0, 1, "unexpected end of input"},
        {"{\"a\":1,}", 0, 7, "trailing comma in object"},
        {"{\"a\":[1,2,]}", 0, 10, "trailing comma in array"},
        {"{\"a\":tru}", 0, 8, "invalid literal"},
        {"{\"a\":nul", 0, 8, "unexpected end of input"},
        {"{\"a\":fals", 0, 9, "unexpected end of input"},
        {"{\"a\":nulL}", 0, 8, "invalid literal"},
        {"{\"a\":True}", 0, 5, "unexpected character"},
        {"{\"a\":\"abc", 0, 5, "unterminated string"},
        {"{\"a\":\"abc\\", 0, 5, "unterminated string"},
        {"{\"a\":\"\\u12", 0, 5, "unterminated string"},
        {"{\"a\":\"ab\x01"
         "c\"}",
         0, 8, "control character in string"},
        {"{\"a\":\"ab\tc\"}", 0, 8, "control character in string"},
        {"{\"a\":\"ab\nc\"}", 0, 8, "control character in string"},
        {"{\"a\":\"a\0b\"}", 11, 7, "control character in string"},
        {"{\"a\":1} x", 0, 8, "unexpected data after the JSON value"},
        {"{\"a\":1}}", 0, 7, "unexpected data after the JSON value"},
        {"{\"a\":1}\0", 8, 7, "unexpected data after the JSON value"},
        {"{\"a\" 1}", 0, 5, "expected ':' after object key"},
        {"{\"a\":1 \"b\":2}", 0, 7, "expected ',' or '}' after object member"},
        {"{\"a\":\"x\"]", 0, 8, "expected ',' or '}' after object member"},
        {"{\"a\":[1 2]}", 0, 8, "expected ',' or ']' after array element"},
        {"{\"a\":[1}", 0, 7, "expected ',' or ']' after array element"},
        {"{\"a\":01}", 0, 6, "invalid number (leading zero)"},
        {"{\"a\":-01}", 0, 7, "invalid number (leading zero)"},
        {"{\"a\":-}", 0, 6, "invalid number"},
        {"{\"a\":-a}", 0, 6, "invalid number"},
        {"{\"a\":1.}", 0, 7, "invalid number"},
        {"{\"a\":1.e5}", 0, 7, "invalid number"},
        {"{\"a\":1e}", 0, 7, "invalid number"},
        {"{\"a\":1e+}", 0, 8, "invalid number"},
        {"{\"a\":.5}", 0, 5, "unexpected character"},
        {"{\"a\":+5}", 0, 5, "unexpected character"},
        {"{\"a\":1", 0, 6, "unexpected end of input"},
        {"{\"a\":1.", 0, 7, "unexpected end of input"},
        {"{\"a\":\"\\x\"}", 0, 7, "invalid escape in string"},
        {"{\"a\":\"\\U0041\"}", 0, 7, "invalid escape in string"},
        {"{\"a\":\"\\u12g4\"}", 0, 10, "invalid \\u escape in string"},
        {"{a:1}", 0, 1, "expected string key"},
        {"{1:1}", 0, 1, "expected string key"},
        {"{\"a\":1,", 0, 7, "unexpected end of input"},
        {"{\"a\":[1,2", 0, 9, "unexpected end of input"},
        {"{\"a\":'x'}", 0, 5, "unexpected character"},
        {"{\"a\":\"\xC0\x80\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xC1\xBF\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xE0\x9F\xBF\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"xy\xED\xA0\x80\"}", 0, 8, "invalid UTF-8 in string"},
        {"{\"a\":\"\xF0\x8F\xBF\xBF\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xF4\x90\x80\x80\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xF5\x80\x80\x80\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xFF\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\x80\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xE2\x82\"}", 0, 6, "invalid UTF-8 in string"},
        {"{\"a\":\"\xE2\x82", 0, 6, "invalid UTF-8 in string"},
        /* the same inside a long string, past the 32-byte fast path */
        {"{\"a\":\"0123456789012345678901234567890123456789\xC3(\"}", 0, 46,
         "invalid UTF-8 in string"},
        {"{\"a\":\"0123456789012345678901234567890123456789\x1f\"}", 0, 46,
         "control character in string"},
        {"{\"\xC3\":1}", 0, 2, "invalid UTF-8 in string"},
        {"{\"a\":1}\xEF\xBB\xBF", 0, 7, "unexpected data after the JSON value"},
        {"\xEF\xBB\xBF{}", 0, 0, "unexpected character"},
        {"{\"model\":\"x\"", 0, 12, "unexpected end of input"},
        {"{\"messages\":[{\"role\":\"user\",}]}", 0, 28, "trailing comma in object"},
        {"{\"messages\":[{\"role\":\"user\"},]}", 0, 29, "trailing comma in array"},
        {"{\"messages\":[{\"role\":\"user\"}", 0, 28, "unexpected end of input"},
        {"{\"messages\":[{\"role\":\"us\ter\"}]}", 0, 24, "control character in string"},
        {"{\"messages\":[{\"tool_calls\":[1,]}]}", 0, 30, "trailing comma in array"},
        {"{\"messages\":[{\"tool_calls\":[1 2]}]}", 0, 30,
         "expected ',' or ']' after array element"},
        {"{\"messages\":[{\"role\" \"user\"}]}", 0, 21, "expected ':' after object key"},
        {"{\"messages\":[1 2]}", 0, 15, "expected ',' or ']' after array element"},
        {"{\"messages\":[{\"a\":1}{}]}", 0, 20, "expected ',' or ']' after array element"},
        {"{\"messages\":[", 0, 13, "unexpected end of input"},
        {"{\"messages\":[{", 0, 14, "unexpected end of input"},
        {"{\"messages\":", 0, 12, "unexpected end of input"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->body);
        jscan_err_t e = {99, NULL};
        if (jscan_validate(c->body, len, &e) != -1) fail_msg("case %zu accepted by validate", i);
        if (e.offset != c->off || strcmp(e.message, c->msg) != 0)
            fail_msg("case %zu validate: got %zu '%s', want %zu '%s'", i, e.offset, e.message,
                     c->off, c->msg);
        jreq_t r;
        e.offset = 99;
        e.message = NULL;
        if (jscan_request(c->body, len, NULL, &r, &e) != -1)
            fail_msg("case %zu accepted by request", i);
        if (e.offset != c->off || strcmp(e.message, c->msg) != 0)
            fail_msg("case %zu request: got %zu '%s', want %zu '%s'", i, e.offset, e.message,
                     c->off, c->msg);
    }
}

static void test_valid_documents(void **state)
{
    static const char *ok[] = {
        "0",
        "-0",
        "1.5e10",
        "-1.25E-3",
        "0.0",
        "1E+2",
        "true",
        "false",
        "null",
        "\"\"",
        "[]",
        "{}",
        " [ 1 , [ ] , { } , \"x\" , null ] ",
        "{\"\":{\"\":[]}}",
        "123456789012345678901234567890",
        "\"\\/\\\\\\\"\"",
        "{\"a\":{\"b\":{\"c\":[true,false,null]}}}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        jscan_err_t e = {0};
        if (jscan_validate(ok[i], strlen(ok[i]), &e) != 0)
            fail_msg("case %zu '%s': %s at %zu", i, ok[i], e.message, e.offset);
    }
}

static void test_top_level_not_object(void **state)
{
    jreq_t r;
    jscan_err_t e = {0};
    assert_int_equal(scan("[1,2]", NULL, &r, &e), -2);
    assert_int_equal(scan(" \"model\" ", NULL, &r, &e), -2);
    assert_int_equal(scan("42", NULL, &r, &e), -2);
    assert_int_equal(scan("[1,2", NULL, &r, &e), -1);
    assert_int_equal(e.offset, 4);
    assert_int_equal(scan("[1,2] 3", NULL, &r, &e), -1);
    assert_int_equal(e.offset, 6);
}

static char *nested(int depth, char open, char close, const char *prefix, const char *suffix)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, prefix);
    for (int i = 0; i < depth; i++) {
        buf_putc(&b, open);
        if (open == '{') buf_puts(&b, "\"k\":");
    }
    buf_putc(&b, '1');
    for (int i = 0; i < depth; i++)
        buf_putc(&b, close);
    buf_puts(&b, suffix);
    return buf_steal(&b);
}

static void test_nesting_limit(void **state)
{
    jscan_err_t e;
    jreq_t r;
    /* arrays: 512 deep is fine, 513 is an error at the 513th '[' */
    char *s = nested(JSCAN_MAX_DEPTH, '[', ']', "", "");
    assert_int_equal(jscan_validate(s, strlen(s), &e), 0);
    free(s);
    s = nested(JSCAN_MAX_DEPTH + 1, '[', ']', "", "");
    assert_int_equal(jscan_validate(s, strlen(s), &e), -1);
    assert_int_equal(e.offset, JSCAN_MAX_DEPTH);
    assert_string_equal(e.message, "nesting too deep");
    free(s);
    /* inside the top-level object (depth 1) */
    s = nested(JSCAN_MAX_DEPTH - 1, '[', ']', "{\"x\":", "}");
    assert_int_equal(jscan_request(s, strlen(s), NULL, &r, &e), 0);
    free(s);
    s = nested(JSCAN_MAX_DEPTH, '{', '}', "{\"x\":", "}");
    assert_int_equal(jscan_request(s, strlen(s), NULL, &r, &e), -1);
    assert_string_equal(e.message, "nesting too deep");
    assert_int_equal(e.offset, 5 + (size_t)(JSCAN_MAX_DEPTH - 1) * 5);
    free(s);
    /* inside a message: top(1) messages(2) message(3) content... */
    s = nested(JSCAN_MAX_DEPTH - 3, '[', ']', "{\"messages\":[{\"content\":", "}]}");
    arena_t a;
    arena_init(&a, 0);
    assert_int_equal(jscan_request(s, strlen(s), &a, &r, &e), 0);
    assert_int_equal(r.n_msgs, 1);
    free(s);
    s = nested(JSCAN_MAX_DEPTH - 2, '[', ']', "{\"messages\":[{\"content\":", "}]}");
    assert_int_equal(jscan_request(s, strlen(s), &a, &r, &e), -1);
    assert_string_equal(e.message, "nesting too deep");
    assert_int_equal(e.offset, 24 + JSCAN_MAX_DEPTH - 3);
    free(s);
    /* far beyond the limit: an error, not a crash */
    s = nested(100000, '[', ']', "{\"tool_calls\":", "}");
    assert_int_equal(jscan_request(s, strlen(s), &a, &r, &e), -1);
    assert_string_equal(e.message, "nesting too deep");
    free(s);
    arena_deinit(&a);
}

/* An agent-like body of about `target` bytes; returns message count. */
static uint32_t big_body(buf_t *b, size_t target)
{
    uint32_t n = 0;
    buf_puts(b, "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
                "coding agent.\"}");
    n++;
    while (b->len < target) {
        buf_printf(b, ",{\"role\":\"user\",\"content\":\"fix bug %u in \\\"main.c\\\":\\n", n);
        for (int k = 0; k < 40; k++)
            buf_puts(b,
                     "\\tif (x \\u003c 0) { return \\\"caf\xC3\xA9\\\"; } // \xE2\x9C\x93 line\\n");
        buf_puts(b, "\"}");
        n++;
        buf_printf(b,
                   ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%u\","
                   "\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":"
                   "\"{\\\"path\\\":\\\"src/x.c\\\"}\"}}]}",
                   n);
        n++;
        buf_printf(b, ",{\"role\":\"tool\",\"tool_call_id\":\"call_%u\",\"content\":\"ok %u\"}",
                   n - 1, n);
        n++;
    }
    buf_puts(b, "],\"stream\":true}");
    return n;
}

static void test_big_body_8mib(void **state)
{
    buf_t b = BUF_INIT;
    uint32_t n = big_body(&b, 8u << 20);
    assert_true(b.len >= (8u << 20));
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    jscan_err_t e = {0};
    assert_int_equal(jscan_request(b.data, b.len, &a, &r, &e), 0);
    assert_int_equal(r.n_msgs, n);
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.obj_close, b.len - 1);
    const jmsg_t *last = &r.msgs[n - 1];
    assert_int_equal(last->role, JROLE_TOOL);
    char want[64];
    snprintf(want, sizeof(want), "\"ok %u\"", n - 1);
    assert_string_equal(txt(b.data, last->content), want);
    assert_int_equal(r.msgs[n - 2].n_tool_calls, 1);
    size_t ul;
    char *u = jscan_unescape(&a, b.data, r.msgs[1].content, &ul);
    assert_non_null(u);
    assert_non_null(strstr(u, "\tif (x < 0) { return \"caf\xC3\xA9\"; }"));
    /* a broken byte deep inside is found at its exact offset */
    size_t at = b.len / 2;
    while (b.data[at] != '\\')
        at++;
    char save = b.data[at + 1];
    b.data[at + 1] = 'q';
    assert_int_equal(jscan_request(b.data, b.len, &a, &r, &e), -1);
    assert_int_equal(e.offset, at + 1);
    assert_string_equal(e.message, "invalid escape in string");
    b.data[at + 1] = save;
    /* truncated at every kind of place: always an error, never a crash */
    for (size_t cut = b.len - 1; cut > b.len - 300; cut -= 7) {
        assert_int_equal(jscan_request(b.data, cut, &a, &r, &e), -1);
        assert_true(e.offset <= cut);
    }
    arena_deinit(&a);
    buf_free(&b);
}

static void test_messages_duplicate_and_not_array(void **state)
{
    arena_t a;
    arena_init(&a, 0);
    jreq_t r;
    const char *b = "{\"messages\":[{\"role\":\"user\"},{\"role\":\"user\"}],\"messages\":[{"
                    "\"role\":\"tool\"}]}";
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_int_equal(r.n_msgs, 1);
    assert_int_equal(r.msgs[0].role, JROLE_TOOL);
    assert_string_equal(r.dup_key, "messages"); /* recorded: endpoints reject it */
    b = "{\"messages\":[{\"role\":\"user\"}],\"messages\":\"nope\"}";
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_false(r.has_messages);
    assert_int_equal(r.n_msgs, 0);
    assert_string_equal(txt(b, r.messages), "\"nope\"");
    /* arena NULL: spans only */
    b = "{\"messages\":[{\"role\":\"user\"}]}";
    assert_int_equal(scan(b, NULL, &r, NULL), 0);
    assert_true(r.has_messages);
    assert_int_equal(r.n_msgs, 1); /* counted */
    assert_false(r.msgs_built);
    assert_null(r.msgs);
    /* role not a string, tool_calls not an array, duplicated keys in a message */
    b = "{\"messages\":[{\"role\":1,\"tool_calls\":[1,2,3],\"tool_calls\":null,"
        "\"content\":\"a\",\"content\":\"b\"}]}";
    assert_int_equal(scan(b, &a, &r, NULL), 0);
    assert_int_equal(r.msgs[0].role, JROLE_OTHER);
    assert_int_equal(r.msgs[0].n_tool_calls, 0);
    assert_string_equal(txt(b, r.msgs[0].tool_calls), "null");
    assert_string_equal(txt(b, r.msgs[0].content), "\"b\"");
    /* many messages: the array grows in the arena */
    buf_t bb = BUF_INIT;
    buf_puts(&bb, "{\"messages\":[");
    for (int i = 0; i < 1000; i++)
        buf_printf(&bb, "%s{\"role\":\"assistant\",\"content\":\"%d\"}", i ? "," : "", i);
    buf_puts(&bb, "]}");
    assert_int_equal(jscan_request(bb.data, bb.len, &a, &r, NULL), 0);
    assert_int_equal(r.n_msgs, 1000);
    assert_string_equal(txt(bb.data, r.msgs[999].content), "\"999\"");
    assert_string_equal(txt(bb.data, r.msgs[0].content), "\"0\"");
    buf_free(&bb);
    arena_deinit(&a);
}

static void test_stream_values(void **state)
{
    jreq_t r;
    assert_int_equal(scan("{\"stream\":true}", NULL, &r, NULL), 0);
    assert_int_equal(r.stream, 1);
    assert_int_equal(scan("{\"stream\":false}", NULL, &r, NULL), 0);
    assert_int_equal(r.stream, 0);
    assert_int_equal(scan("{\"stream\":null}", NULL, &r, NULL), 0);
    assert_int_equal(r.stream, -1);
    assert_string_equal(txt("{\"stream\":null}", r.stream_value), "null");
    assert_int_equal(scan("{\"stream\":true,\"stream\":\"yes\"}", NULL, &r, NULL), 0);
    assert_int_equal(r.stream, -1);
}

static void test_span_helpers(void **state)
{
    const char *b = "{ \"a\" : [1, {\"x\":2}, \"s\"] , \"b\\u0063\":-42, \"a\":{}, "
                    "\"big\":99999999999999999999,"
                    "\"f\":1.5 }";
    jspan_t top = {0, (uint32_t)strlen(b)}, v, k;
    assert_int_equal(jscan_type(b, top), '{');
    assert_true(jscan_obj_get(b, top, "bc", &v));
    int64_t x;
    assert_true(jscan_int(b, v, &x));
    assert_int_equal(x, -42);
    assert_true(jscan_obj_get(b, top, "a", &v));
    assert_string_equal(txt(b, v), "{}"); /* last wins */
    assert_false(jscan_obj_get(b, top, "zz", &v));
    assert_true(jscan_obj_get(b, top, "big", &v));
    assert_false(jscan_int(b, v, &x));
    assert_true(jscan_obj_get(b, top, "f", &v));
    assert_false(jscan_int(b, v, &x));
    uint32_t cur = 0;
    int n = 0;
    while (jscan_obj_next(b, top, &cur, &k, &v))
        n++;
    assert_int_equal(n, 5);
    cur = 0;
    assert_true(jscan_obj_next(b, top, &cur, &k, &v));
    assert_string_equal(txt(b, k), "\"a\"");
    const char *want[] = {"1", "{\"x\":2}", "\"s\""};
    uint32_t ac = 0;
    jspan_t el;
    for (int i = 0; i < 3; i++) {
        assert_true(jscan_arr_next(b, v, &ac, &el));
        assert_string_equal(txt(b, el), want[i]);
    }
    assert_false(jscan_arr_next(b, v, &ac, &el));
    /* empty containers and wrong types */
    jspan_t e1 = {0, 2};
    cur = 0;
    assert_false(jscan_arr_next("[]", e1, &cur, &el));
    cur = 0;
    assert_false(jscan_obj_next("[]", e1, &cur, &k, &v));
    /* malformed: no crash, just false */
    jspan_t bad = {0, 6};
    cur = 0;
    assert_true(jscan_arr_next("[1,,2]", bad, &cur, &el));
    assert_false(jscan_arr_next("[1,,2]", bad, &cur, &el));
    assert_int_equal(jscan_type("x", (jspan_t){0, 1}), 0);
    assert_int_equal(jscan_type("x", (jspan_t){0, 0}), 0);
    assert_true(jscan_int("-9223372036854775808", (jspan_t){0, 20}, &x));
    assert_true(x == INT64_MIN);
    assert_false(jscan_int("9223372036854775808", (jspan_t){0, 19}, &x));
}

static void test_usage_openai_chat_response(void **state)
{
    const char *b = "{\"id\":\"c\",\"choices\":[{\"message\":{\"content\":\"usage\"}}],\"usage\":"
                    "{\"prompt_tokens\":120,\"completion_tokens\":30,\"total_tokens\":150,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":100},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":7}}}";
    jusage_t u;
    jscan_usage(b, strlen(b), &u);
    assert_true(u.found);
    assert_int_equal(u.prompt_tokens, 120);
    assert_int_equal(u.completion_tokens, 30);
    assert_int_equal(u.cached_tokens, 100);
    assert_int_equal(u.reasoning_tokens, 7);
    assert_false(u.is_anthropic);
}

static void test_usage_openai_sse_chunks(void **state)
{
    jusage_t u;
    const char *c1 = "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":"
                     "{\"content\":\"\\\"usage\\\":{}\"}}],\"usage\":null}";
    jscan_usage(c1, strlen(c1), &u);
    assert_false(u.found);
    const char *c2 =
        "{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}";
    jscan_usage(c2, strlen(c2), &u);
    assert_true(u.found);
    assert_int_equal(u.prompt_tokens, 9);
    assert_int_equal(u.completion_tokens, 3);
    assert_int_equal(u.cached_tokens, -1);
    /* nested usage inside choices is not top-level */
    const char *c3 = "{\"choices\":[{\"usage\":{\"prompt_tokens\":1}}]}";
    jscan_usage(c3, strlen(c3), &u);
    assert_false(u.found);
    /* broken JSON, not an object, [DONE] */
    jscan_usage("[DONE]", 6, &u);
    assert_false(u.found);
    jscan_usage("{\"usage\":{\"prompt_tokens\":1}", 27, &u);
    assert_false(u.found);
    jscan_usage("", 0, &u);
    assert_false(u.found);
    assert_int_equal(u.prompt_tokens, -1);
}

static void test_usage_anthropic_and_responses(void **state)
{
    jusage_t u;
    const char *start =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":10,"
        "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":200,\"output_tokens\":1}}}";
    jscan_usage(start, strlen(start), &u);
    assert_true(u.found);
    assert_true(u.is_anthropic);
    assert_int_equal(u.prompt_tokens, 215);
    assert_int_equal(u.cached_tokens, 200);
    assert_int_equal(u.cache_creation_tokens, 5);
    assert_int_equal(u.completion_tokens, 1);
    const char *delta = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                        "\"usage\":{\"output_tokens\":57}}";
    jscan_usage(delta, strlen(delta), &u);
    assert_true(u.found);
    assert_int_equal(u.completion_tokens, 57);
    assert_int_equal(u.prompt_tokens, -1);
    const char *msg =
        "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":4,"
        "\"cache_read_input_tokens\":0}}";
    jscan_usage(msg, strlen(msg), &u);
    assert_int_equal(u.prompt_tokens, 3);
    assert_int_equal(u.completion_tokens, 4);
    assert_int_equal(u.cached_tokens, 0);
    const char *resp = "{\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{"
                       "\"input_tokens\":50,"
                       "\"input_tokens_details\":{\"cached_tokens\":20},\"output_tokens\":8,"
                       "\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":58}}}";
    jscan_usage(resp, strlen(resp), &u);
    assert_true(u.found);
    assert_false(u.is_anthropic);
    assert_int_equal(u.prompt_tokens, 50);
    assert_int_equal(u.cached_tokens, 20);
    assert_int_equal(u.completion_tokens, 8);
    assert_int_equal(u.reasoning_tokens, 2);
}

/* jscan_obj_pick gives, for several keys in one walk, what jscan_obj_get
 * gives key by key: the last occurrence, keys compared after unescaping,
 * absent keys as len 0, nothing from a value that is not an object. */
static void test_obj_pick_matches_obj_get(void **state)
{
    (void)state;
    const char *b = "{\"id\":\"a\",\"fn\":{\"name\":\"x\"},\"i\\u0064\":\"b\",\"n\":1,"
                    "\"fn\":[2],\"other\":null}";
    jspan_t doc = {0, (uint32_t)strlen(b)};
    const char *keys[] = {"id", "fn", "n", "missing", "other"};
    jspan_t got[5];
    jscan_obj_pick(b, doc, keys, 5, got);
    for (size_t i = 0; i < 5; i++) {
        jspan_t want = {0, 0};
        bool found = jscan_obj_get(b, doc, keys[i], &want);
        assert_int_equal(found, got[i].len != 0);
        if (found) {
            assert_int_equal(got[i].off, want.off);
            assert_int_equal(got[i].len, want.len);
        }
    }
    assert_string_equal(txt(b, got[0]), "\"b\"");
    assert_string_equal(txt(b, got[1]), "[2]");
    jspan_t arr = {0, 3};
    jscan_obj_pick("[1]", arr, keys, 2, got);
    assert_int_equal(got[0].len, 0);
    assert_int_equal(got[1].len, 0);
}

/* jscan_contains answers as memmem for every needle position and length,
 * at the edges of its 16-byte blocks and in the tail. */
static void test_contains_matches_memmem(void **state)
{
    (void)state;
    char hay[200];
    for (size_t i = 0; i < sizeof hay; i++)
        hay[i] = (char)('a' + (i * 7 + i / 13) % 5);
    const char *lits[] = {"hought", "\"encrypted_content\"", "x", "ab", "abc"};
    for (size_t n = 0; n <= sizeof hay; n += 1)
        for (size_t k = 0; k < sizeof lits / sizeof *lits; k++) {
            size_t m = strlen(lits[k]);
            for (size_t at = 0; at + m <= n; at += 5) {
                char h[200];
                memcpy(h, hay, n);
                memcpy(h + at, lits[k], m);
                assert_int_equal(jscan_contains(h, n, lits[k], m),
                                 memmem(h, n, lits[k], m) != NULL);
            }
            assert_int_equal(jscan_contains(hay, n, lits[k], m),
                             memmem(hay, n, lits[k], m) != NULL);
        }
    assert_true(jscan_contains("abc", 3, "", 0));
    assert_false(jscan_contains("", 0, "a", 1));
    assert_false(jscan_contains("thoughtx", 6, "hought", 6)); /* never past n */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_body_spans),
        cmocka_unit_test(test_whitespace_and_pretty_print),
        cmocka_unit_test(test_empty_object_and_absent_fields),
        cmocka_unit_test(test_model_anywhere_and_duplicated),
        cmocka_unit_test(test_model_last_occurrence_not_string),
        cmocka_unit_test(test_escaped_keys_match_after_unescaping),
        cmocka_unit_test(test_too_many_model_keys_is_an_error),
        cmocka_unit_test(test_escapes_unescape),
        cmocka_unit_test(test_unicode_raw_utf8_and_u_escapes),
        cmocka_unit_test(test_lone_surrogates_rejected_everywhere),
        cmocka_unit_test(test_lone_surrogates_replaced_by_span_helpers),
        cmocka_unit_test(test_duplicate_keys_recorded),
        cmocka_unit_test(test_item_cap),
        cmocka_unit_test(test_tools_counted),
        cmocka_unit_test(test_malformed_exact_offsets),
        cmocka_unit_test(test_valid_documents),
        cmocka_unit_test(test_top_level_not_object),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_big_body_8mib),
        cmocka_unit_test(test_messages_duplicate_and_not_array),
        cmocka_unit_test(test_stream_values),
        cmocka_unit_test(test_span_helpers),
        cmocka_unit_test(test_usage_openai_chat_response),
        cmocka_unit_test(test_usage_openai_sse_chunks),
        cmocka_unit_test(test_usage_anthropic_and_responses),
        cmocka_unit_test(test_obj_pick_matches_obj_get),
        cmocka_unit_test(test_contains_matches_memmem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
