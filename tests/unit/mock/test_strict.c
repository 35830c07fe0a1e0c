/* test_strict.c - the mock's registry of issued state and the continuity
 * check: every violation code, in chat, Responses and Anthropic shapes, and
 * that issued state passes. Also the counters that record violations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mock/mock_stats.h"
#include "mock/mock_strict.h"

static mock_violation_t check(mock_registry_t *r, const char *body, char *detail)
{
    cJSON *root = cJSON_Parse(body);
    assert_non_null(root);
    mock_violation_t v = mock_strict_check(r, root, detail, 200);
    cJSON_Delete(root);
    return v;
}

static void test_registry_add_has_clear_grow(void **state)
{
    mock_registry_t *r = mock_registry_new();
    assert_false(mock_registry_has(r, MOCK_ID_TOOL_CALL, "call_1"));
    mock_registry_add(r, MOCK_ID_TOOL_CALL, "call_1");
    assert_true(mock_registry_has(r, MOCK_ID_TOOL_CALL, "call_1"));
    /* kinds are separate */
    assert_false(mock_registry_has(r, MOCK_ID_RESPONSE, "call_1"));
    mock_registry_add(r, MOCK_ID_TOOL_CALL, "call_1");
    assert_int_equal(mock_registry_count(r), 1);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "id%d", i);
        mock_registry_add(r, MOCK_ID_RESPONSE, id);
    }
    assert_int_equal(mock_registry_count(r), 5001);
    assert_true(mock_registry_has(r, MOCK_ID_RESPONSE, "id4999"));
    assert_true(mock_registry_has(r, MOCK_ID_TOOL_CALL, "call_1"));
    mock_registry_clear(r);
    assert_false(mock_registry_has(r, MOCK_ID_TOOL_CALL, "call_1"));
    mock_registry_free(r);
}

static void test_clean_request_passes(void **state)
{
    mock_registry_t *r = mock_registry_new();
    char d[200];
    assert_int_equal(
        check(r, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", d),
        MOCK_V_NONE);
    assert_int_equal(check(r, "[1,2]", d), MOCK_V_NONE);
    mock_registry_free(r);
}

static void test_tool_call_ids(void **state)
{
    mock_registry_t *r = mock_registry_new();
    char d[200];
    const char *tool_msg = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
                           "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"1\"}]}";
    const char *asst = "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\"},"
                       "{\"id\":\"call_b\"}]}]}";
    assert_int_equal(check(r, tool_msg, d), MOCK_V_TOOL_CALL);
    assert_non_null(strstr(d, "call_a"));
    assert_string_equal(mock_violation_code(MOCK_V_TOOL_CALL), "unknown_tool_call_id");
    mock_registry_add(r, MOCK_ID_TOOL_CALL, "call_a");
    assert_int_equal(check(r, tool_msg, d), MOCK_V_NONE);
    assert_int_equal(check(r, asst, d), MOCK_V_TOOL_CALL); /* call_b unknown */
    assert_non_null(strstr(d, "call_b"));
    mock_registry_add(r, MOCK_ID_TOOL_CALL, "call_b");
    assert_int_equal(check(r, asst, d), MOCK_V_NONE);
    /* Responses input items and Anthropic content parts */
    assert_int_equal(
        check(r, "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"x1\"}]}", d),
        MOCK_V_TOOL_CALL);
    assert_int_equal(check(r,
                           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                           "\"tool_result\",\"tool_use_id\":\"toolu_9\"}]}]}",
                           d),
                     MOCK_V_TOOL_CALL);
    assert_int_equal(check(r,
                           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                           "\"tool_result\",\"tool_use_id\":\"call_a\"}]}]}",
                           d),
                     MOCK_V_NONE);
    mock_registry_free(r);
}

/* A tool exchange the model already answered in plain text is history any
 * backend may read; only the open loop is provider-bound. Reasoning items
 * stay provider-bound everywhere. */
static void test_settled_tool_history_is_portable(void **state)
{
    mock_registry_t *r = mock_registry_new();
    char d[200];
    const char *settled = "{\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
                          "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_other\"}]},"
                          "{\"role\":\"tool\",\"tool_call_id\":\"call_other\",\"content\":\"1\"},"
                          "{\"role\":\"assistant\",\"content\":\"done\"},"
                          "{\"role\":\"user\",\"content\":\"next\"}]}";
    assert_int_equal(check(r, settled, d), MOCK_V_NONE);
    const char *open_loop = "{\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
                            "{\"role\":\"assistant\",\"content\":\"ok\"},"
                            "{\"role\":\"user\",\"content\":\"again\"},"
                            "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_other\"}]},"
                            "{\"role\":\"tool\",\"tool_call_id\":\"call_other\",\"content\":\"1\"},"
                            "{\"role\":\"user\",\"content\":\"and?\"}]}";
    assert_int_equal(check(r, open_loop, d), MOCK_V_TOOL_CALL);
    const char *old_reasoning =
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\",\"reasoning_details\":"
        "[{\"type\":\"reasoning.encrypted\",\"data\":\"enc_x\"}]},"
        "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"q\"}]}";
    assert_int_equal(check(r, old_reasoning, d), MOCK_V_REASONING);
    mock_registry_free(r);
}

static void test_previous_response_id(void **state)
{
    mock_registry_t *r = mock_registry_new();
    char d[200];
    const char *b = "{\"previous_response_id\":\"chatcmpl-1\",\"messages\":[]}";
    assert_int_equal(check(r, b, d), MOCK_V_PREVIOUS_RESPONSE);
    assert_string_equal(mock_violation_code(MOCK_V_PREVIOUS_RESPONSE),
                        "unknown_previous_response_id");
    mock_registry_add(r, MOCK_ID_RESPONSE, "chatcmpl-1");
    assert_int_equal(check(r, b, d), MOCK_V_NONE);
    mock_registry_free(r);
}

static void test_reasoning_items_and_signatures(void **state)
{
    mock_registry_t *r = mock_registry_new();
    char d[200];
    const char *rd =
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"reasoning_details\":"
        "[{\"type\":\"reasoning.text\",\"text\":\"t\",\"signature\":\"sig_1\"},"
        "{\"type\":\"reasoning.encrypted\",\"data\":\"enc_1\"}]}]}";
    assert_int_equal(check(r, rd, d), MOCK_V_SIGNATURE);
    mock_registry_add(r, MOCK_ID_SIGNATURE, "sig_1");
    assert_int_equal(check(r, rd, d), MOCK_V_REASONING);
    assert_string_equal(mock_violation_code(MOCK_V_REASONING), "unknown_reasoning_item");
    mock_registry_add(r, MOCK_ID_REASONING, "enc_1");
    assert_int_equal(check(r, rd, d), MOCK_V_NONE);
    /* Responses reasoning item, Anthropic thinking block */
    assert_int_equal(
        check(r, "{\"input\":[{\"type\":\"reasoning\",\"encrypted_content\":\"zz\"}]}", d),
        MOCK_V_REASONING);
    assert_int_equal(
        check(r, "{\"input\":[{\"type\":\"reasoning\",\"encrypted_content\":\"enc_1\"}]}", d),
        MOCK_V_NONE);
    assert_int_equal(check(r,
                           "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                           "\"thinking\",\"thinking\":\"t\",\"signature\":\"other\"}]}]}",
                           d),
                     MOCK_V_SIGNATURE);
    assert_string_equal(mock_violation_code(MOCK_V_SIGNATURE), "unknown_thinking_signature");
    mock_registry_free(r);
}

static void test_stats_count_violations(void **state)
{
    mock_stats_t *s = mock_stats_new();
    mock_stats_request(s, "/v1/chat/completions", "a");
    mock_stats_request(s, "/v1/chat/completions", "a");
    mock_stats_request(s, "/v1/embeddings", "e");
    mock_stats_violation(s, MOCK_V_TOOL_CALL, true);
    mock_stats_violation(s, MOCK_V_REASONING, false);
    mock_stats_violation(s, MOCK_V_NONE, true);
    mock_stats_failure(s);
    mock_stats_reset(s);
    mock_stats_tokens(s, 10, 5, 4);
    buf_t b = BUF_INIT;
    mock_stats_json(s, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "requests")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_model"), "a")->valueint, 2);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_path"), "/v1/embeddings")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "violations")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(j, "rejected")->valueint, 1);
    cJSON *bc = cJSON_GetObjectItem(j, "violations_by_code");
    assert_int_equal(cJSON_GetObjectItem(bc, "unknown_tool_call_id")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(bc, "unknown_reasoning_item")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(bc, "unknown_thinking_signature")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(j, "failures_injected")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "resets_injected")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "cached_tokens_total")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(j, "prompt_tokens_total")->valueint, 10);
    cJSON_Delete(j);
    mock_stats_clear(s);
    buf_reset(&b);
    mock_stats_json(s, &b);
    j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetObjectItem(j, "requests")->valueint, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "by_model")), 0);
    cJSON_Delete(j);
    buf_free(&b);
    mock_stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_add_has_clear_grow),
        cmocka_unit_test(test_clean_request_passes),
        cmocka_unit_test(test_tool_call_ids),
        cmocka_unit_test(test_settled_tool_history_is_portable),
        cmocka_unit_test(test_previous_response_id),
        cmocka_unit_test(test_reasoning_items_and_signatures),
        cmocka_unit_test(test_stats_count_violations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
