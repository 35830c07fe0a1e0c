/* test_agent_apis.c - the real tether binary with /v1/messages and
 * /v1/responses against strict `tether mock` backends (one serving the
 * OpenAI shapes, one reached as an api_format: anthropic backend): native
 * and translated Anthropic conversations with tool use (strict checks pass
 * only if tool ids stay paired), chat clients on an Anthropic backend
 * (streamed chunks, usage, [DONE]), a Responses conversation over several
 * turns through previous_response_id across both backend kinds, the store
 * endpoints, count_tokens, and the Anthropic error shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport;
static char cfg_path[256];

static int setup(void **state)
{
    (void)state;
    static const char *const strict[] = {"--strict", NULL};
    mport = tstack_mock(&mock, strict);
    if (mport <= 0) return -1;
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-agent-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults:\n    default_model: gpt\n  models:\n"
            "    - name: gpt\n      provider_model_id: up-gpt\n"
            "      backend_refs: [{name: o1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      provider_model_id: up-claude\n      api_format: anthropic\n"
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
    return bad ? -1 : 0;
}

static cJSON *post(const char *path, const char *body, int want_status, thttp_resp_t *keep)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", path, NULL, body, strlen(body), &r),
                     0);
    if (r.status != want_status) fail_msg("%s: status %d body %s", path, r.status, r.body);
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    if (keep)
        *keep = r;
    else
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

/* Anthropic client, both backend kinds: a tool_use turn, then the
 * tool_result turn the strict mock accepts only with its own id. */
static void run_anthropic_tool_loop(const char *model, const char *proto)
{
    char body[2048];
    snprintf(
        body, sizeof body,
        "{\"model\":\"%s\",\"max_tokens\":200,\"system\":\"sys\",\"tools\":[{\"name\":\"bash\","
        "\"input_schema\":{\"type\":\"object\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
        "\"please use the tool now %s\"}]}",
        model, model);
    thttp_resp_t r;
    cJSON *j = post("/v1/messages", body, 200, &r);
    assert_string_equal(thttp_resp_header(&r, "x-tether-protocol"), proto);
    thttp_resp_free(&r);
    assert_string_equal(S(j, "type"), "message");
    assert_string_equal(S(j, "stop_reason"), "tool_use");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
    const cJSON *tu = NULL, *b;
    cJSON_ArrayForEach(b, content) if (S(b, "type") && !strcmp(S(b, "type"), "tool_use")) tu = b;
    assert_non_null(tu);
    char id[128];
    snprintf(id, sizeof id, "%s", S(tu, "id"));
    char *asst = cJSON_PrintUnformatted(content);
    char body2[4096];
    snprintf(
        body2, sizeof body2,
        "{\"model\":\"%s\",\"max_tokens\":200,\"stream\":true,\"tools\":[{\"name\":\"bash\","
        "\"input_schema\":{\"type\":\"object\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
        "\"please use the tool now "
        "%s\"},{\"role\":\"assistant\",\"content\":%s},{\"role\":\"user\","
        "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"%s\",\"content\":\"ok\"}]}]}",
        model, model, asst, id);
    free(asst);
    cJSON_Delete(j);
    assert_int_equal(
        thttp_request("127.0.0.1", rport, "POST", "/v1/messages", NULL, body2, strlen(body2), &r),
        0);
    if (r.status != 200) fail_msg("turn 2: %d %s", r.status, r.body);
    char **ev;
    size_t n = thttp_sse_data(r.body, r.body_len, &ev);
    assert_true(n >= 5);
    const char *first = ev[0], *last = ev[n - 1];
    assert_non_null(strstr(first, "\"message_start\""));
    assert_non_null(strstr(last, "\"message_stop\""));
    int deltas = 0;
    for (size_t i = 0; i < n; i++)
        deltas += strstr(ev[i], "text_delta") != NULL;
    assert_true(deltas >= 1);
    thttp_sse_free(ev, n);
    thttp_resp_free(&r);
}

static void test_messages_native(void **st)
{
    (void)st;
    run_anthropic_tool_loop("claude", "anthropic->anthropic");
}

static void test_messages_translated(void **st)
{
    (void)st;
    run_anthropic_tool_loop("gpt", "anthropic->openai");
}

static void test_chat_to_anthropic_stream(void **st)
{
    (void)st;
    const char *body =
        "{\"model\":\"claude\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"hi "
        "there\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-protocol"), "openai->anthropic");
    char **ev;
    size_t n = thttp_sse_data(r.body, r.body_len, &ev);
    assert_true(n >= 4);
    assert_string_equal(ev[n - 1], "[DONE]");
    assert_non_null(strstr(ev[n - 2], "\"prompt_tokens\""));
    assert_non_null(strstr(ev[0], "chat.completion.chunk"));
    int finish = 0;
    for (size_t i = 0; i < n; i++)
        finish += strstr(ev[i], "\"finish_reason\":\"stop\"") != NULL;
    assert_int_equal(finish, 1);
    thttp_sse_free(ev, n);
    thttp_resp_free(&r);
}

static void test_responses_conversation(void **st)
{
    (void)st;
    cJSON *j =
        post("/v1/responses",
             "{\"model\":\"gpt\",\"instructions\":\"be brief\",\"input\":\"turn one\"}", 200, NULL);
    assert_string_equal(S(j, "object"), "response");
    assert_string_equal(S(j, "status"), "completed");
    char id1[600];
    snprintf(id1, sizeof id1, "%s", S(j, "id"));
    assert_int_equal(strncmp(id1, "resp_", 5), 0);
    /* tether's minted id with its model binding (response_id.h) */
    assert_int_equal(strncmp(id1 + 29, ".tb1.", 5), 0);
    cJSON_Delete(j);
    /* turn 2 on the Anthropic backend, streamed, inheriting instructions */
    char body[1400];
    snprintf(body, sizeof body,
             "{\"model\":\"claude\",\"previous_response_id\":\"%s\",\"input\":\"please use the "
             "tool\",\"stream\":true,"
             "\"tools\":[{\"type\":\"function\",\"name\":\"bash\",\"parameters\":{\"type\":"
             "\"object\"}}]}",
             id1);
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", rport, "POST", "/v1/responses", NULL, body, strlen(body), &r),
        0);
    assert_int_equal(r.status, 200);
    char **ev;
    size_t n = thttp_sse_data(r.body, r.body_len, &ev);
    assert_true(n >= 4);
    assert_non_null(strstr(ev[0], "response.created"));
    cJSON *done = cJSON_Parse(ev[n - 1]);
    assert_string_equal(S(done, "type"), "response.completed");
    assert_string_equal(S(done, "response.instructions"), "be brief");
    assert_string_equal(S(done, "response.previous_response_id"), id1);
    assert_string_equal(S(done, "response.output.0.type"), "function_call");
    char id2[600], call[256];
    snprintf(id2, sizeof id2, "%s", S(done, "response.id"));
    snprintf(call, sizeof call, "%s", S(done, "response.output.0.call_id"));
    cJSON_Delete(done);
    thttp_sse_free(ev, n);
    thttp_resp_free(&r);
    /* turn 3: the tool output, back on the chat backend (strict: call id known) */
    snprintf(body, sizeof body,
             "{\"model\":\"gpt\",\"previous_response_id\":\"%s\",\"input\":[{\"type\":\"function_"
             "call_output\","
             "\"call_id\":\"%s\",\"output\":\"done\"}]}",
             id2, call);
    j = post("/v1/responses", body, 200, NULL);
    assert_string_equal(S(j, "output.0.type"), "message");
    char id3[600];
    snprintf(id3, sizeof id3, "%s", S(j, "id"));
    cJSON_Delete(j);
    /* store endpoints */
    char path[700];
    snprintf(path, sizeof path, "/v1/responses/%s", id3);
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    j = cJSON_Parse(r.body);
    assert_string_equal(S(j, "id"), id3);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", id3);
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    j = cJSON_Parse(r.body);
    assert_string_equal(S(j, "data.0.type"), "function_call_output");
    cJSON_Delete(j);
    thttp_resp_free(&r);
    snprintf(path, sizeof path, "/v1/responses/%s", id1);
    assert_int_equal(thttp_request("127.0.0.1", rport, "DELETE", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* the chain is now broken: previous_response_not_found */
    snprintf(body, sizeof body,
             "{\"model\":\"gpt\",\"previous_response_id\":\"%s\",\"input\":\"x\"}", id3);
    j = post("/v1/responses", body, 400, NULL);
    assert_string_equal(S(j, "error.code"), "previous_response_not_found");
    cJSON_Delete(j);
}

static void test_errors_and_count_tokens(void **st)
{
    (void)st;
    cJSON *j = post("/v1/messages", "{\"model\":\"claude\",\"messages\":[]}", 400, NULL);
    assert_string_equal(S(j, "type"), "error");
    assert_string_equal(S(j, "error.type"), "invalid_request_error");
    cJSON_Delete(j);
    j = post("/v1/messages", "{\"model\":\"claude\",\"max_tokens\":1,\"messages\":\"hi\"}", 400,
             NULL);
    assert_string_equal(S(j, "error.type"), "invalid_request_error");
    assert_string_equal(S(j, "error.message"), "messages: must be an array");
    cJSON_Delete(j);
    j = post("/v1/messages", "{\"model\":\"nope\",\"max_tokens\":1,\"messages\":[]}", 404, NULL);
    assert_string_equal(S(j, "type"), "error");
    cJSON_Delete(j);
    j = post("/v1/messages", "{bad", 400, NULL);
    assert_string_equal(S(j, "type"), "error");
    cJSON_Delete(j);
    const char *ct = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"count these "
                     "words please\"}]}";
    char body[256];
    snprintf(body, sizeof body, ct, "claude"); /* forwarded to the Anthropic backend */
    j = post("/v1/messages/count_tokens", body, 200, NULL);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "input_tokens")));
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "input_tokens")->valueint > 0);
    cJSON_Delete(j);
    snprintf(body, sizeof body, ct, "gpt"); /* estimated */
    j = post("/v1/messages/count_tokens", body, 200, NULL);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "input_tokens")->valueint > 0);
    cJSON_Delete(j);
    j = post("/v1/responses", "{\"model\":\"gpt\"}", 400, NULL);
    assert_string_equal(S(j, "error.code"), "invalid_body");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_native),
        cmocka_unit_test(test_messages_translated),
        cmocka_unit_test(test_chat_to_anthropic_stream),
        cmocka_unit_test(test_responses_conversation),
        cmocka_unit_test(test_errors_and_count_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
