/* test_api_hardening.c - the real tether binary against a scripted `tether
 * mock` (issue 20 items 6, 9, 11): a non-streamed chat (or native Messages)
 * reply reset mid-body is a clean 502; a stream answered to a non-stream Responses, Messages or
 * chat-to-Anthropic request is assembled into one whole reply; a lone
 * surrogate escape, duplicated top-level keys and badly shaped messages or
 * input items are 400 in each endpoint's own shape; more messages than
 * global.router.limits.max_messages is 413.
 *
 * The scripted tests come first and in this order: each consumes the next
 * line of the mock's script (one line per upstream request). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int rport;
static char cfg_path[256], script_path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(script_path, sizeof script_path, "/tmp/tether-test-hard-%d.jsonl", (int)getpid());
    FILE *f = fopen(script_path, "w");
    if (!f) return -1;
    fputs("{\"reset_after_bytes\": 40}\n"  /* chat, non-stream: reset mid-body */
          "{\"stream\": true}\n"           /* Responses -> chat backend */
          "{\"stream\": true}\n"           /* Messages -> chat backend */
          "{\"stream\": true}\n"           /* chat -> Anthropic backend */
          "{\"reset_after_bytes\": 40}\n", /* Messages -> Anthropic, relayed as is */
          f);
    fclose(f);
    const char *script[] = {"--script", script_path, NULL};
    int mport = tstack_mock(&mock, script);
    if (mport <= 0) return -1;
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-hard-%d.yaml", (int)getpid());
    f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "global:\n  router:\n    limits: {max_messages: 5}\n"
            "providers:\n  defaults:\n    default_model: gpt\n  models:\n"
            "    - name: gpt\n      provider_model_id: up-gpt\n"
            "      reliability: {retry_count: 0}\n"
            "      backend_refs: [{name: o1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      provider_model_id: up-claude\n      api_format: anthropic\n"
            "      reliability: {retry_count: 0}\n"
            "      backend_refs: [{name: c1, base_url: \"http://127.0.0.1:%d/v1\", provider: "
            "anthropic}]\n"
            "routing:\n  modelCards:\n    - {name: gpt}\n    - {name: claude}\n",
            tsupport_free_port(), mport, mport);
    fclose(f);
    rport = tstack_serve_n(&router, cfg_path, 1, 10000);
    return rport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int bad = tstack_stop_clean(&router, "router", 10000) != 0;
    tproc_stop(&mock, 5000);
    unlink(cfg_path);
    unlink(script_path);
    return bad ? -1 : 0;
}

/* POST and expect a complete response with want_status; returns the JSON. */
static cJSON *post(const char *path, const char *body, int want_status)
{
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", rport, "POST", path, NULL, body, strlen(body), &r);
    if (rc != 0 || r.status != want_status)
        fail_msg("%s: rc %d status %d (want %d) complete %d body %.300s", path, rc, r.status,
                 want_status, r.complete, r.body ? r.body : "");
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    if (!j) fail_msg("%s: the body is not JSON: %.300s", path, r.body);
    thttp_resp_free(&r);
    return j;
}

static const char *S(const cJSON *o, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(tmp, ".", &save); t && cur;
         t = strtok_r(NULL, ".", &save))
        cur = (t[0] >= '0' && t[0] <= '9') ? cJSON_GetArrayItem(cur, atoi(t))
                                           : cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

/* The error's code (OpenAI shape) or type (Anthropic shape). */
static void expect_error(const char *path, const char *body, int status, const char *code,
                         const char *msg_part)
{
    cJSON *j = post(path, body, status);
    bool anthropic = strstr(path, "/v1/messages") != NULL;
    if (anthropic) {
        assert_string_equal(S(j, "type"), "error");
        assert_string_equal(S(j, "error.type"), code);
    } else {
        assert_string_equal(S(j, "error.code"), code);
    }
    if (msg_part && !strstr(S(j, "error.message"), msg_part))
        fail_msg("%s: message '%s' lacks '%s'", path, S(j, "error.message"), msg_part);
    cJSON_Delete(j);
}

/* ---- scripted (in order) */

static void test_chat_reset_mid_body_is_502(void **st)
{
    (void)st;
    expect_error("/v1/chat/completions",
                 "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
                 502, "bad_upstream_response", "reset");
}

static void test_responses_stream_answer_assembled(void **st)
{
    (void)st;
    cJSON *j = post("/v1/responses", "{\"model\":\"gpt\",\"input\":\"say something\"}", 200);
    assert_string_equal(S(j, "object"), "response");
    assert_string_equal(S(j, "status"), "completed");
    assert_string_equal(S(j, "output.0.type"), "message");
    const char *t = S(j, "output.0.content.0.text");
    assert_non_null(t);
    assert_true(strlen(t) > 0);
    cJSON_Delete(j);
}

static void test_messages_stream_answer_assembled(void **st)
{
    (void)st;
    cJSON *j = post("/v1/messages",
                    "{\"model\":\"gpt\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"say something\"}]}",
                    200);
    assert_string_equal(S(j, "type"), "message");
    assert_string_equal(S(j, "content.0.type"), "text");
    assert_true(strlen(S(j, "content.0.text")) > 0);
    assert_string_equal(S(j, "stop_reason"), "end_turn");
    cJSON_Delete(j);
}

static void test_chat_to_anthropic_stream_answer_assembled(void **st)
{
    (void)st;
    cJSON *j =
        post("/v1/chat/completions",
             "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 200);
    assert_string_equal(S(j, "object"), "chat.completion");
    assert_true(strlen(S(j, "choices.0.message.content")) > 0);
    assert_string_equal(S(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
}

static void test_messages_native_reset_mid_body_is_502(void **st)
{
    (void)st;
    expect_error("/v1/messages",
                 "{\"model\":\"claude\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hello\"}]}",
                 502, "api_error", "reset");
}

/* ---- rejected before any upstream */

static void test_lone_surrogate_is_invalid_json_everywhere(void **st)
{
    (void)st;
    expect_error("/v1/responses", "{\"model\":\"gpt\",\"input\":\"a\\ud800b\"}", 400,
                 "invalid_json", "lone surrogate");
    expect_error("/v1/chat/completions",
                 "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
                 400, "invalid_json", "lone surrogate");
    expect_error("/v1/messages",
                 "{\"model\":\"gpt\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"\\udc00\"}]}",
                 400, "invalid_request_error", "lone surrogate");
}

static void test_duplicate_model_rejected_everywhere(void **st)
{
    (void)st;
    expect_error("/v1/chat/completions",
                 "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"model\":\"claude\"}",
                 400, "duplicate_key", "\"model\"");
    expect_error("/v1/responses", "{\"model\":\"gpt\",\"input\":\"x\",\"model\":\"claude\"}", 400,
                 "duplicate_key", "\"model\"");
    expect_error("/v1/messages",
                 "{\"model\":\"gpt\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}],\"model\":\"claude\"}",
                 400, "invalid_request_error", "duplicate key \"model\"");
    expect_error("/v1/responses",
                 "{\"model\":\"gpt\",\"stream\":false,\"input\":\"x\",\"stream\":true}", 400,
                 "duplicate_key", "\"stream\"");
}

static void test_bad_message_shapes_rejected(void **st)
{
    (void)st;
    expect_error("/v1/messages", "{\"model\":\"gpt\",\"max_tokens\":5,\"messages\":[1,2]}", 400,
                 "invalid_request_error", "messages.0: must be an object");
    expect_error("/v1/messages",
                 "{\"model\":\"gpt\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                 "\"content\":[{\"text\":\"no type\"}]}]}",
                 400, "invalid_request_error", "messages.0.content.0");
    expect_error("/v1/responses", "{\"model\":\"gpt\",\"input\":[1,2]}", 400, "invalid_body",
                 "input.0: must be an object");
}

static void test_too_many_messages_is_413(void **st)
{
    (void)st;
    const char *m = "{\"role\":\"user\",\"content\":\"x\"}";
    char body[1024];
    snprintf(body, sizeof body, "{\"model\":\"gpt\",\"messages\":[%s,%s,%s,%s,%s,%s]}", m, m, m, m,
             m, m);
    expect_error("/v1/chat/completions", body, 413, "too_many_messages", "more than 5");
    snprintf(body, sizeof body,
             "{\"model\":\"gpt\",\"max_tokens\":5,\"messages\":[%s,%s,%s,%s,%s,%s]}", m, m, m, m, m,
             m);
    expect_error("/v1/messages", body, 413, "request_too_large", "more than 5");
    snprintf(body, sizeof body, "{\"model\":\"gpt\",\"input\":[%s,%s,%s,%s,%s,%s]}", m, m, m, m, m,
             m);
    expect_error("/v1/responses", body, 413, "too_many_messages", "input items");
    /* at the limit: served */
    snprintf(body, sizeof body, "{\"model\":\"gpt\",\"messages\":[%s,%s,%s,%s,%s]}", m, m, m, m, m);
    cJSON_Delete(post("/v1/chat/completions", body, 200));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_reset_mid_body_is_502),
        cmocka_unit_test(test_responses_stream_answer_assembled),
        cmocka_unit_test(test_messages_stream_answer_assembled),
        cmocka_unit_test(test_chat_to_anthropic_stream_answer_assembled),
        cmocka_unit_test(test_messages_native_reset_mid_body_is_502),
        cmocka_unit_test(test_lone_surrogate_is_invalid_json_everywhere),
        cmocka_unit_test(test_duplicate_model_rejected_everywhere),
        cmocka_unit_test(test_bad_message_shapes_rejected),
        cmocka_unit_test(test_too_many_messages_is_413),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
