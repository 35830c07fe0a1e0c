/* test_tool_ids.c - the tool call ids of api/response_id.h: a reply's tool
 * call ids (chat tool_calls, Messages tool_use, Responses function_call
 * call_id; whole replies and stream events) are wrapped with the serving
 * model's binding and nothing else changes; every occurrence in a request
 * (calls and results, in each protocol) is unwrapped before it goes
 * upstream; the open calls' binding binds a tool loop to its issuer, a
 * forged or disagreeing one does not. No configuration: the per-process
 * key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/response_id.h"
#include "metrics/metrics.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double counted(const char *result)
{
    buf_t b = BUF_INIT;
    met_expose(&b);
    char pat[96];
    snprintf(pat, sizeof pat, "tether_session_tool_bindings_total{result=\"%s\"} ", result);
    const char *m = b.data ? strstr(b.data, pat) : NULL;
    double v = m ? atof(m + strlen(pat)) : 0;
    buf_free(&b);
    return v;
}

/* id wrapped for model (tool form, per-process key) into out. */
static void wrap(const char *id, const char *model, char *out)
{
    size_t n =
        sess_binding_wrap_tool(NULL, 0, id, strlen(id), model, "b1", out, SESS_BINDING_ID_MAX + 1);
    assert_true(n > strlen(id));
}

/* doc wrapped; the result with every wrapped id replaced by its original
 * must equal doc, and each id in ids must have been wrapped. */
static void check_wrapped(rq_proto_t proto, const char *doc, const char *const *ids, size_t n_ids)
{
    rid_wrapper_t w;
    rid_wrapper_init(&w, NULL, SESS_BINDING_TOOL, "small", "s1");
    buf_t out = BUF_INIT;
    assert_true(rid_wrap_tool_ids(&w, proto, doc, strlen(doc), &out));
    buf_putc(&out, 0);
    for (size_t i = 0; i < n_ids; i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "\"%s_tb1_", ids[i]);
        const char *at = strstr(out.data, pat);
        assert_non_null(at);
        const char *end = strchr(at + 1, '"');
        sess_binding_t b;
        sess_binding_parse_tool(NULL, 0, at + 1, (size_t)(end - at - 1), &b);
        assert_true(b.valid);
        assert_string_equal(b.model, "small");
        assert_string_equal(b.backend, "s1");
    }
    /* unwrapping the reply as a request would not apply (other shape), so
     * strip the suffixes by hand: the rest of the document is unchanged */
    buf_t plain = BUF_INIT;
    for (const char *p = out.data; *p;) {
        const char *m = strstr(p, "_tb1_");
        if (!m) {
            buf_puts(&plain, p);
            break;
        }
        buf_append(&plain, p, (size_t)(m - p));
        p = strchr(m, '"');
    }
    assert_string_equal(plain.data, doc);
    buf_free(&plain);
    buf_free(&out);
}

static void test_reply_tool_ids_are_wrapped(void **st)
{
    (void)st;
    const char *chat_ids[] = {"call_1", "call_2"};
    check_wrapped(RQ_PROTO_CHAT,
                  "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                  "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
                  "\"function\",\"function\":{\"name\":\"sh\",\"arguments\":\"{\\\"id\\\":1}\"}},"
                  "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"sh\","
                  "\"arguments\":\"{}\"}}]}}]}",
                  chat_ids, 2);
    check_wrapped(RQ_PROTO_CHAT,
                  "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
                  "\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"sh\"}}]}}]}",
                  chat_ids, 1);
    const char *tu[] = {"toolu_01"};
    check_wrapped(RQ_PROTO_ANTHROPIC,
                  "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
                  "\"run\"},{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"sh\",\"input\":{"
                  "\"id\":\"x\",\"type\":\"tool_use\"}}]}",
                  tu, 1);
    check_wrapped(RQ_PROTO_ANTHROPIC,
                  "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
                  "\"tool_use\",\"id\":\"toolu_01\",\"name\":\"sh\",\"input\":{}}}",
                  tu, 1);
    const char *fc[] = {"call_9"};
    check_wrapped(RQ_PROTO_RESPONSES,
                  "{\"id\":\"resp_1\",\"output\":[{\"type\":\"message\",\"id\":\"msg_1\"},{"
                  "\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\",\"name\":"
                  "\"sh\",\"arguments\":\"{}\"}]}",
                  fc, 1);
    check_wrapped(RQ_PROTO_RESPONSES,
                  "{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":"
                  "\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\",\"name\":\"sh\"}}",
                  fc, 1);
    check_wrapped(RQ_PROTO_RESPONSES,
                  "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"output\":[{"
                  "\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\"}]}}",
                  fc, 1);
    /* nothing to wrap: false, out untouched */
    rid_wrapper_t w;
    rid_wrapper_init(&w, NULL, SESS_BINDING_TOOL, "small", "s1");
    buf_t out = BUF_INIT;
    const char text[] = "{\"choices\":[{\"delta\":{\"content\":\"tool_calls\"}}]}";
    assert_false(rid_wrap_tool_ids(&w, RQ_PROTO_CHAT, text, sizeof text - 1, &out));
    const char esc[] = "{\"content\":[{\"type\":\"tool_use\",\"id\":\"a\\u0041\"}]}";
    assert_false(rid_wrap_tool_ids(&w, RQ_PROTO_ANTHROPIC, esc, sizeof esc - 1, &out));
    assert_int_equal(out.len, 0);
}

static void check_unwrapped(rq_proto_t proto, const char *fmt, const char *a, const char *b)
{
    char w1[SESS_BINDING_ID_MAX + 1], w2[SESS_BINDING_ID_MAX + 1];
    wrap(a, "small", w1);
    wrap(b, "big", w2);
    char in[4096], want[4096];
    snprintf(in, sizeof in, fmt, w1, w2, w1, w2);
    snprintf(want, sizeof want, fmt, a, b, a, b);
    buf_t body = BUF_INIT;
    buf_puts(&body, in);
    assert_true(rid_unwrap_tool_ids_buf(proto, &body));
    buf_putc(&body, 0);
    assert_string_equal(body.data, want);
    buf_free(&body);
    /* plain ids: nothing to do */
    buf_puts(&body, want);
    assert_false(rid_unwrap_tool_ids_buf(proto, &body));
    buf_free(&body);
}

static void test_request_tool_ids_are_unwrapped(void **st)
{
    (void)st;
    check_unwrapped(
        RQ_PROTO_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
        "\"%s\",\"type\":\"function\"},{\"id\":\"%s\"}]},{\"role\":\"tool\","
        "\"tool_call_id\":\"%s\",\"content\":\"ok\"},{\"role\":\"tool\","
        "\"tool_call_id\":\"%s\",\"content\":\"ok\"}]}",
        "call_1", "call_2");
    check_unwrapped(RQ_PROTO_ANTHROPIC,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                    "\"tool_use\",\"id\":\"%s\",\"input\":{}},{\"type\":\"tool_use\",\"id\":\"%s\"}"
                    "]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
                    "\"%s\"},{\"type\":\"tool_result\",\"tool_use_id\":\"%s\"},{\"type\":\"text\","
                    "\"text\":\"go\"}]}]}",
                    "toolu_01", "toolu_02");
    check_unwrapped(RQ_PROTO_RESPONSES,
                    "{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"%s\"},{"
                    "\"type\":\"function_call\",\"call_id\":\"%s\"},{\"type\":"
                    "\"function_call_output\",\"call_id\":\"%s\",\"output\":\"1\"},{\"type\":"
                    "\"function_call_output\",\"call_id\":\"%s\",\"output\":\"2\"}]}",
                    "call_1", "call_2");
    /* an edit that would overlap one already made is left out */
    char w1[SESS_BINDING_ID_MAX + 1];
    wrap("call_1", "small", w1);
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"%s\"}]}", w1);
    jsplice_t sp;
    jsplice_init(&sp);
    const char *at = strstr(body, w1);
    jsplice_add(&sp, (uint32_t)(at - body + 3), 4, "", 0);
    assert_int_equal(rid_unwrap_tool_ids(RQ_PROTO_CHAT, body, (size_t)n, &sp), 0);
    assert_int_equal(sp.n, 1);
    jsplice_free(&sp);
}

/* A chat request whose last assistant called with call ids c1/c2 and whose
 * trailing results answer them; the request view, bound. */
static rq_t *bound_rq(arena_t *a, const char *c1, const char *c2, const char *tail)
{
    char *body = arena_sprintf(
        a,
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"run the tests\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"%s\",\"type\":"
        "\"function\",\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}},{\"id\":\"%s\","
        "\"type\":\"function\",\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"3 passed\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"1 failed\"}%s]}",
        c1, c2, c1, c2, tail);
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    assert_int_equal(jscan_request(body, strlen(body), a, jr, NULL), 0);
    rq_t *rq = rq_from_chat(a, body, strlen(body), jr, NULL, 0);
    assert_non_null(rq);
    rid_bind_tool_calls(NULL, rq, a, "req-1");
    return rq;
}

static void test_open_calls_bind_the_tool_loop(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 1 << 16);
    char s1[SESS_BINDING_ID_MAX + 1], s2[SESS_BINDING_ID_MAX + 1], b1[SESS_BINDING_ID_MAX + 1];
    wrap("call_1", "small", s1);
    wrap("call_2", "small", s2);
    wrap("call_2", "big", b1);
    double v0 = counted("valid"), i0 = counted("invalid");
    rq_t *rq = bound_rq(&a, s1, s2, "");
    assert_true(rq->active_tool_loop);
    assert_true(rq->tool_calls_bound);
    assert_string_equal(rq->bound_model, "small");
    assert_string_equal(rq->bound_backend, "b1");
    assert_true(counted("valid") == v0 + 1);
    /* results followed by the user's next words: still the open loop */
    rq = bound_rq(&a, s1, s2, ",{\"role\":\"user\",\"content\":\"and now?\"}");
    assert_true(rq->tool_calls_bound);
    assert_string_equal(rq->bound_model, "small");
    /* calls issued by two models: not bound */
    rq = bound_rq(&a, s1, b1, "");
    assert_false(rq->tool_calls_bound);
    assert_null(rq->bound_model);
    assert_true(counted("invalid") == i0 + 1);
    /* a forged id: not bound */
    char forged[SESS_BINDING_ID_MAX + 1];
    snprintf(forged, sizeof forged, "%s", s1);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'A' ? 'B' : 'A';
    rq = bound_rq(&a, forged, s2, "");
    assert_false(rq->tool_calls_bound);
    assert_true(counted("invalid") == i0 + 2);
    /* plain ids: nothing (and not counted) */
    rq = bound_rq(&a, "call_1", "call_2", "");
    assert_false(rq->tool_calls_bound);
    assert_true(counted("valid") == v0 + 2 && counted("invalid") == i0 + 2);
    /* the loop is closed (the assistant answered): no binding */
    rq = bound_rq(&a, s1, s2,
                  ",{\"role\":\"assistant\",\"content\":\"done\"},{\"role\":\"user\",\"content\":"
                  "\"thanks\"}");
    assert_false(rq->active_tool_loop);
    assert_false(rq->tool_calls_bound);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_tool_ids_are_wrapped),
        cmocka_unit_test(test_request_tool_ids_are_unwrapped),
        cmocka_unit_test(test_open_calls_bind_the_tool_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
