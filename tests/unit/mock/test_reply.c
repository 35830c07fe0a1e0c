/* test_reply.c - mock reply generation: canonical text and token counting,
 * determinism under a seed, tool-call issuing, reasoning state, the chat
 * JSON body and SSE chunk shapes, embeddings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_reply.h"

typedef struct {
    cJSON *root;
    mock_chat_t chat;
} parsed_t;

static void parse(parsed_t *p, const char *body)
{
    char err[128];
    p->root = cJSON_Parse(body);
    assert_non_null(p->root);
    assert_int_equal(mock_chat_init(&p->chat, p->root, err, sizeof err), 0);
}

static void unparse(parsed_t *p)
{
    mock_chat_deinit(&p->chat);
    cJSON_Delete(p->root);
}

#define SIMPLE                                                                                     \
    "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"              \
    "{\"role\":\"user\",\"content\":\"hello there\"}]}"

static void test_canonical_text_and_tokens(void **state)
{
    parsed_t p;
    parse(&p, SIMPLE);
    assert_string_equal(p.chat.canon.data, "system\nbe brief\nuser\nhello there\n");
    assert_string_equal(p.chat.model, "m1");
    assert_string_equal(p.chat.first_user, "hello there");
    assert_true(p.chat.last_is_user);
    assert_false(p.chat.stream);
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 0);
    /* 33 bytes -> ceil(33/4) = 9 */
    assert_int_equal(p.chat.canon.len, 33);
    assert_int_equal(r.prompt_tokens, 9);
    assert_int_equal(r.completion_tokens, mock_tokens(r.content_len));
    mock_reply_deinit(&r);
    unparse(&p);
}

static void test_canonical_includes_parts_tool_calls_and_results(void **state)
{
    parsed_t p;
    parse(&p, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
              "\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{}}]},"
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
              "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"42\"}]}");
    assert_string_equal(p.chat.canon.data,
                        "user\na\n[image]\nassistant\n\n[tool_call call_1 f {}]\n"
                        "tool\n42\n[tool_result call_1]\n");
    assert_string_equal(p.chat.first_user, "a");
    assert_false(p.chat.last_is_user);
    unparse(&p);
}

static void test_invalid_requests_rejected(void **state)
{
    char err[128];
    mock_chat_t c;
    cJSON *root = cJSON_Parse("{\"model\":\"m\"}");
    assert_int_equal(mock_chat_init(&c, root, err, sizeof err), -1);
    assert_non_null(strstr(err, "messages"));
    cJSON_Delete(root);
    root = cJSON_Parse("{\"model\":\"m\",\"messages\":[1]}");
    assert_int_equal(mock_chat_init(&c, root, err, sizeof err), -1);
    cJSON_Delete(root);
    root = cJSON_Parse("[1]");
    assert_int_equal(mock_chat_init(&c, root, err, sizeof err), -1);
    cJSON_Delete(root);
}

static void test_reply_is_deterministic_per_request_and_seed(void **state)
{
    parsed_t a, b, c;
    parse(&a, SIMPLE);
    parse(&b, SIMPLE);
    parse(&c, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"other\"}]}");
    mock_reply_t ra, rb, rc, rs;
    mock_reply_build(&ra, &a.chat, 7, 0);
    mock_reply_build(&rb, &b.chat, 7, 0);
    mock_reply_build(&rc, &c.chat, 7, 0);
    mock_reply_build(&rs, &a.chat, 8, 0);
    assert_string_equal(ra.content, rb.content);
    assert_string_equal(ra.id, rb.id);
    assert_memory_equal(ra.id, "chatcmpl-", 9);
    assert_int_equal(strlen(ra.id), 9 + 16);
    assert_string_not_equal(ra.id, rc.id);
    assert_string_not_equal(ra.id, rs.id);
    assert_string_equal(ra.finish_reason, "stop");
    assert_false(ra.is_tool_call);
    mock_reply_deinit(&ra);
    mock_reply_deinit(&rb);
    mock_reply_deinit(&rc);
    mock_reply_deinit(&rs);
    unparse(&a);
    unparse(&b);
    unparse(&c);
}

static void test_fixed_reply_bytes(void **state)
{
    parsed_t p;
    parse(&p, SIMPLE);
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 100);
    assert_int_equal(r.content_len, 100);
    assert_int_equal(strlen(r.content), 100);
    assert_int_equal(r.completion_tokens, 25);
    mock_reply_deinit(&r);
    unparse(&p);
}

static void test_asks_for_tool(void **state)
{
    assert_true(mock_asks_for_tool("please use the tool now"));
    assert_true(mock_asks_for_tool("Call The Tool"));
    assert_true(mock_asks_for_tool("run ls"));
    assert_true(mock_asks_for_tool("please run tests"));
    assert_false(mock_asks_for_tool("brunch at noon"));
    assert_false(mock_asks_for_tool("running late"));
    assert_false(mock_asks_for_tool("hello"));
    assert_false(mock_asks_for_tool(NULL));
}

#define TOOLS                                                                                      \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"     \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":"      \
    "\"integer\"}}}}}]"

static void test_tool_call_issued_when_asked(void **state)
{
    parsed_t p;
    parse(&p, "{\"model\":\"m\"," TOOLS ",\"messages\":[{\"role\":\"user\",\"content\":"
              "\"use the tool for Paris\"}]}");
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 0);
    assert_true(r.is_tool_call);
    assert_string_equal(r.finish_reason, "tool_calls");
    assert_memory_equal(r.call_id, "call_", 5);
    assert_string_equal(r.tool_name, "get_weather");
    cJSON *args = cJSON_Parse(r.tool_args);
    assert_non_null(args);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(args, "city")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(args, "days")));
    cJSON_Delete(args);
    assert_null(r.content);

    buf_t b = BUF_INIT;
    mock_render_chat_json(&r, "m", 1, 0, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "tool_calls"), 0);
    assert_string_equal(cJSON_GetObjectItem(tc, "id")->valuestring, r.call_id);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(msg, "content")));
    cJSON_Delete(j);
    buf_free(&b);
    mock_reply_deinit(&r);
    unparse(&p);
}

static void test_no_tool_call_without_tools_or_after_result(void **state)
{
    parsed_t p, q;
    parse(&p, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"use the tool\"}]}");
    parse(&q, "{\"model\":\"m\"," TOOLS ",\"messages\":[{\"role\":\"user\",\"content\":"
              "\"use the tool\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
              "\"call_1\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]}");
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 0);
    assert_false(r.is_tool_call);
    mock_reply_deinit(&r);
    mock_reply_build(&r, &q.chat, 0, 0);
    assert_false(r.is_tool_call);
    assert_non_null(r.content);
    mock_reply_deinit(&r);
    unparse(&p);
    unparse(&q);
}

static void test_reasoning_state_in_json(void **state)
{
    parsed_t p;
    parse(&p, "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"think\"}]}");
    assert_true(p.chat.wants_reasoning);
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 0);
    assert_true(r.has_reasoning);
    assert_memory_equal(r.reasoning_enc, "enc_", 4);
    assert_memory_equal(r.reasoning_sig, "sig_", 4);
    buf_t b = BUF_INIT;
    mock_render_chat_json(&r, "m", 1, 3, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *rd = cJSON_GetObjectItem(msg, "reasoning_details");
    assert_int_equal(cJSON_GetArraySize(rd), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rd, 0), "signature")->valuestring,
                        r.reasoning_sig);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rd, 1), "type")->valuestring,
                        "reasoning.encrypted");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rd, 1), "data")->valuestring,
                        r.reasoning_enc);
    cJSON *usage = cJSON_GetObjectItem(j, "usage");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(usage, "prompt_tokens_details"), "cached_tokens")
            ->valueint,
        3);
    assert_int_equal(cJSON_GetObjectItem(usage, "prompt_tokens")->valueint, r.prompt_tokens);
    cJSON_Delete(j);
    buf_free(&b);
    mock_reply_deinit(&r);
    unparse(&p);
}

/* Reassemble content and tool-call arguments from the SSE chunks. */
static void test_sse_chunks_shape(void **state)
{
    parsed_t p;
    parse(&p, SIMPLE);
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 300);
    buf_t *ch;
    size_t n = mock_render_chat_sse(&r, "m1", 5, 2, true, &ch);
    assert_true(n >= 5);
    assert_string_equal(ch[n - 1].data, "data: [DONE]\n\n");
    buf_t content = BUF_INIT;
    int finish = 0, usage = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        assert_memory_equal(ch[i].data, "data: ", 6);
        assert_memory_equal(ch[i].data + ch[i].len - 2, "\n\n", 2);
        cJSON *j = cJSON_Parse(ch[i].data + 6);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, r.id);
        assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion.chunk");
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        if (i == 0)
            assert_string_equal(
                cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"), "role")->valuestring,
                "assistant");
        if (c0) {
            cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"), "content");
            if (cJSON_IsString(d)) buf_puts(&content, d->valuestring);
            if (cJSON_IsString(cJSON_GetObjectItem(c0, "finish_reason"))) finish++;
        } else {
            cJSON *u = cJSON_GetObjectItem(j, "usage");
            assert_non_null(u);
            assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(u, "prompt_tokens_details"),
                                                 "cached_tokens")
                                 ->valueint,
                             2);
            usage++;
            assert_int_equal(i, n - 2); /* usage is the last data chunk */
        }
        cJSON_Delete(j);
    }
    assert_int_equal(finish, 1);
    assert_int_equal(usage, 1);
    assert_int_equal(content.len, 300);
    assert_string_equal(content.data, r.content);
    buf_free(&content);
    mock_chunks_free(ch, n);
    /* without include_usage: no usage chunk */
    n = mock_render_chat_sse(&r, "m1", 5, 2, false, &ch);
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(ch[i].data, "\"usage\""));
    mock_chunks_free(ch, n);
    mock_reply_deinit(&r);
    unparse(&p);
}

static void test_sse_tool_call_deltas(void **state)
{
    parsed_t p;
    parse(&p, "{\"model\":\"m\",\"stream\":true," TOOLS ",\"messages\":[{\"role\":\"user\","
              "\"content\":\"run it\"}]}");
    mock_reply_t r;
    mock_reply_build(&r, &p.chat, 0, 0);
    assert_true(r.is_tool_call);
    buf_t *ch;
    size_t n = mock_render_chat_sse(&r, "m", 5, 0, false, &ch);
    buf_t args = BUF_INIT;
    int ids = 0;
    const char *finish = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        cJSON *j = cJSON_Parse(ch[i].data + 6);
        assert_non_null(j);
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        cJSON *tc = cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"), "tool_calls"), 0);
        if (tc) {
            cJSON *id = cJSON_GetObjectItem(tc, "id");
            if (id) {
                assert_string_equal(id->valuestring, r.call_id);
                ids++;
            }
            cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "function"), "arguments");
            if (cJSON_IsString(a)) buf_puts(&args, a->valuestring);
        }
        cJSON *fr = cJSON_GetObjectItem(c0, "finish_reason");
        if (cJSON_IsString(fr)) finish = strcmp(fr->valuestring, "tool_calls") ? "bad" : "ok";
        cJSON_Delete(j);
    }
    assert_int_equal(ids, 1);
    assert_string_equal(finish, "ok");
    assert_string_equal(args.data, r.tool_args);
    buf_free(&args);
    mock_chunks_free(ch, n);
    mock_reply_deinit(&r);
    unparse(&p);
}

static void test_error_body(void **state)
{
    buf_t b = BUF_INIT;
    mock_render_error(&b, "invalid_request_error", "model_not_found", "no \"x\"");
    cJSON *j = cJSON_Parse(b.data);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "model_not_found");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "no \"x\"");
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "invalid_request_error");
    cJSON_Delete(j);
    buf_free(&b);
}

static double cosine(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void test_embeddings_deterministic_normalised_similar(void **state)
{
    float a[64], a2[64], b[64], c[64];
    const char *ta = "How do I sort a list in Python?";
    const char *tb = "how do i sort a python list";
    const char *tc = "Recipe for chocolate cake with berries";
    mock_embed(ta, strlen(ta), 0, a, 64);
    mock_embed(ta, strlen(ta), 0, a2, 64);
    mock_embed(tb, strlen(tb), 0, b, 64);
    mock_embed(tc, strlen(tc), 0, c, 64);
    assert_memory_equal(a, a2, sizeof a);
    assert_true(fabs(cosine(a, a, 64) - 1.0) < 1e-4);
    assert_true(cosine(a, b, 64) > cosine(a, c, 64));
    float e[8];
    mock_embed("", 0, 0, e, 8);
    assert_true(fabs(cosine(e, e, 8) - 1.0) < 1e-4);
}

static void test_peek_top_level(void **state)
{
    mock_peek_t pk;
    const char *b = "{ \"messages\" : [{\"role\":\"user\",\"content\":\"a \\\"q\\\" ]}\"}],"
                    "\"nested\":{\"model\":\"inner\",\"x\":[1,{\"y\":\"}\"}]},"
                    "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                    "\"model\":\"gpt-x\",\"n\":1.5e3,\"z\":null}";
    assert_int_equal(mock_peek(b, strlen(b), &pk), 0);
    assert_non_null(pk.model);
    assert_int_equal(pk.model_len, 5);
    assert_memory_equal(pk.model, "gpt-x", 5);
    assert_true(pk.stream);
    assert_true(pk.include_usage);
    assert_non_null(pk.messages);
    assert_int_equal(pk.messages[0], '[');
    assert_int_equal(pk.messages[pk.messages_len - 1], ']');
    /* the span is exactly the array */
    cJSON *arr = cJSON_ParseWithLength(pk.messages, pk.messages_len);
    assert_true(cJSON_IsArray(arr));
    cJSON_Delete(arr);

    const char *esc = "{\"model\":\"a\\u0062\",\"messages\":[]}";
    assert_int_equal(mock_peek(esc, strlen(esc), &pk), 0);
    assert_null(pk.model);
    assert_true(pk.model_escaped);
    const char *nostream = "{\"model\":\"m\",\"stream\":false,\"messages\":[]}";
    assert_int_equal(mock_peek(nostream, strlen(nostream), &pk), 0);
    assert_false(pk.stream);
    assert_false(pk.include_usage);

    const char *bad[] = {"",
                         "[]",
                         "{",
                         "{\"model\":\"x\"",
                         "{\"model\" \"x\"}",
                         "{\"a\":\"unterminated}",
                         "{\"a\":[1,2}",
                         "{\"a\":1} trailing",
                         "{\"a\":}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mock_peek(bad[i], strlen(bad[i]), &pk), -1);
}

static void test_fixed_reply_for_fast_path(void **state)
{
    mock_reply_t r, r2;
    mock_reply_fixed(&r, 42, 10, 20);
    mock_reply_fixed(&r2, 42, 10, 20);
    assert_string_equal(r.id, r2.id);
    assert_int_equal(r.content_len, 20);
    assert_int_equal(r.prompt_tokens, 10);
    assert_int_equal(r.completion_tokens, 5);
    mock_reply_deinit(&r);
    mock_reply_deinit(&r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_text_and_tokens),
        cmocka_unit_test(test_canonical_includes_parts_tool_calls_and_results),
        cmocka_unit_test(test_invalid_requests_rejected),
        cmocka_unit_test(test_reply_is_deterministic_per_request_and_seed),
        cmocka_unit_test(test_fixed_reply_bytes),
        cmocka_unit_test(test_asks_for_tool),
        cmocka_unit_test(test_tool_call_issued_when_asked),
        cmocka_unit_test(test_no_tool_call_without_tools_or_after_result),
        cmocka_unit_test(test_reasoning_state_in_json),
        cmocka_unit_test(test_sse_chunks_shape),
        cmocka_unit_test(test_sse_tool_call_deltas),
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_embeddings_deterministic_normalised_similar),
        cmocka_unit_test(test_peek_top_level),
        cmocka_unit_test(test_fixed_reply_for_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
