/* test_saar_checker.c - the independent continuity checker judges switches
 * on hand-written request bodies: open tool loops, tool results as latest
 * messages, provider-bound state of several kinds, and what stays safe. */
#include "bench/saar_checker.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static saar_verdict_t judge(const char *body, const char *prev, const char *chosen, saar_check_t *c)
{
    assert_int_equal(saar_check_turn(body, strlen(body), prev, chosen, c), 0);
    return c->verdict;
}

#define CALL                                                                                       \
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"            \
    "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"c2\",\"type\":"    \
    "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}"

static void test_tool_results_latest_is_unsafe_only_on_switch(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"fix it\"}," CALL
                    ",{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"ok\"}]}";
    assert_int_equal(judge(b, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_TOOL_LOOP);
    assert_true(c.tool_results_latest);
    assert_false(c.tool_call_unanswered);
    assert_true(c.is_switch);
    assert_int_equal(judge(b, "qwen3-8b", "qwen3-8b", &c), SAAR_SAFE);
    assert_false(c.is_switch);
}

static void test_unanswered_call_is_unsafe(void **st)
{
    (void)st;
    saar_check_t c;
    /* c2 has no result, and a user message came after: still an open loop */
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}," CALL
                    ",{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
                    "{\"role\":\"user\",\"content\":\"go on\"}]}";
    assert_int_equal(judge(b, "frontier-reasoner", "qwen3-8b", &c), SAAR_UNSAFE_TOOL_LOOP);
    assert_true(c.tool_call_unanswered);
    assert_false(c.tool_results_latest);
}

static void test_closed_tool_loop_is_safe(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}," CALL
                    ",{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"ok\"},"
                    "{\"role\":\"assistant\",\"content\":\"done\"},"
                    "{\"role\":\"user\",\"content\":\"now write docs\"}]}";
    assert_int_equal(judge(b, "qwen3-8b", "frontier-reasoner", &c), SAAR_SAFE);
    assert_false(c.tool_call_unanswered || c.tool_results_latest || c.has_provider_state);
}

static void test_anthropic_tool_blocks(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
                    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"tu1\","
                    "\"name\":\"f\",\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":"
                    "\"tool_result\",\"tool_use_id\":\"tu1\",\"content\":\"ok\"}]}]}";
    assert_int_equal(judge(b, "qwen3-32b", "qwen3-8b", &c), SAAR_UNSAFE_TOOL_LOOP);
    assert_true(c.tool_results_latest);
}

static void test_previous_response_id_names_its_issuer(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"previous_response_id\":\"resp_tb1:qwen3-32b:sess-001:4\","
                    "\"messages\":[{\"role\":\"user\",\"content\":\"and then?\"}]}";
    assert_int_equal(judge(b, "qwen3-32b", "frontier-reasoner", &c), SAAR_UNSAFE_PROVIDER_STATE);
    assert_string_equal(c.state_owner, "qwen3-32b");
    assert_int_equal(judge(b, "qwen3-32b", "qwen3-32b", &c), SAAR_SAFE);
    /* an opaque id of unknown origin binds the session to the previous model */
    const char *opaque = "{\"previous_response_id\":\"resp_abc\",\"messages\":[]}";
    assert_int_equal(judge(opaque, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
    assert_string_equal(c.state_owner, "");
}

static void test_encrypted_reasoning_and_signatures(void **st)
{
    (void)st;
    saar_check_t c;
    const char *enc = "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\","
                      "\"reasoning_details\":[{\"type\":\"reasoning.encrypted\",\"data\":"
                      "\"tb1:qwen3-8b:sess-000:2\"}]},{\"role\":\"user\",\"content\":\"b\"}]}";
    assert_int_equal(judge(enc, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
    assert_string_equal(c.state_owner, "qwen3-8b");
    const char *summary_only = "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\","
                               "\"reasoning_details\":[{\"type\":\"reasoning.summary\","
                               "\"summary\":\"s\"}]},{\"role\":\"user\",\"content\":\"b\"}]}";
    assert_int_equal(judge(summary_only, "qwen3-8b", "qwen3-32b", &c), SAAR_SAFE);
    const char *thinking = "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                           "\"thinking\",\"thinking\":\"hm\",\"signature\":\"sig\"},{\"type\":"
                           "\"text\",\"text\":\"a\"}]},{\"role\":\"user\",\"content\":\"b\"}]}";
    assert_int_equal(judge(thinking, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
    const char *redacted = "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                           "\"redacted_thinking\",\"data\":\"xx\"}]}]}";
    assert_int_equal(judge(redacted, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
    const char *gemini = "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\",\"extra\":"
                         "{\"google\":{\"thought_signature\":\"ts\"}}},{\"role\":\"user\","
                         "\"content\":\"b\"}]}";
    assert_int_equal(judge(gemini, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
    const char *responses = "{\"input\":[{\"type\":\"reasoning\",\"encrypted_content\":\"e\"},"
                            "{\"role\":\"user\",\"content\":\"b\"}]}";
    assert_int_equal(judge(responses, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_PROVIDER_STATE);
}

static void test_tool_loop_wins_over_state(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"previous_response_id\":\"resp_x\",\"messages\":[" CALL "]}";
    assert_int_equal(judge(b, "qwen3-8b", "qwen3-32b", &c), SAAR_UNSAFE_TOOL_LOOP);
    assert_true(c.has_provider_state);
}

static void test_plain_switch_is_safe_and_garbage_is_an_error(void **st)
{
    (void)st;
    saar_check_t c;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(judge(b, "qwen3-8b", "frontier-reasoner", &c), SAAR_SAFE);
    assert_true(c.is_switch);
    assert_int_equal(saar_check_turn("[1,2", 4, "a", "b", &c), -1);
    assert_int_equal(c.verdict, SAAR_SAFE);
    assert_int_equal(saar_check_turn("[]", 2, "a", "b", &c), -1);
    assert_string_equal(saar_verdict_name(SAAR_UNSAFE_PROVIDER_STATE), "unsafe_provider_state");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_results_latest_is_unsafe_only_on_switch),
        cmocka_unit_test(test_unanswered_call_is_unsafe),
        cmocka_unit_test(test_closed_tool_loop_is_safe),
        cmocka_unit_test(test_anthropic_tool_blocks),
        cmocka_unit_test(test_previous_response_id_names_its_issuer),
        cmocka_unit_test(test_encrypted_reasoning_and_signatures),
        cmocka_unit_test(test_tool_loop_wins_over_state),
        cmocka_unit_test(test_plain_switch_is_safe_and_garbage_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
