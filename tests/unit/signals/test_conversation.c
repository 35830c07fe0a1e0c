/* test_conversation.c - conversation and structure features with
 * predicates, and errors for unknown sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define CV CFG_SIG_CONVERSATION
#define ST CFG_SIG_STRUCTURE

static const char *AGENT =
    "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"sh\"}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"ls\"}}],\"messages\":["
    "{\"role\":\"system\",\"content\":\"agent\"},"
    "{\"role\":\"user\",\"content\":\"run the tests\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
    "\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}},{\"id\":\"c2\",\"type\":\"function\","
    "\"function\":{\"name\":\"ls\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"a b\"}]}";

static void test_conversation_features(void **state)
{
    sigt_t *t = sigt_load(
        "    conversation:\n"
        "      - {name: calls, feature: {type: count, source: {type: assistant_tool_call}}, "
        "predicate: {gte: 2}}\n"
        "      - {name: tools, feature: {type: count, source: {type: tool_definition}}, predicate: "
        "{eq: 2}}\n"
        "      - {name: loop, feature: {type: exists, source: {type: active_tool_loop}}}\n"
        "      - {name: cycles, feature: {type: count, source: {type: assistant_tool_cycle}}, "
        "predicate: {eq: 1}}\n"
        "      - {name: sys, feature: {type: count, source: {type: message, role: system}}, "
        "predicate: {eq: 1}}\n"
        "      - {name: turns, feature: {type: count, source: {type: session_turns}}, predicate: "
        "{gt: 3}}\n"
        "      - {name: img, feature: {type: exists, source: {type: image_content}}}\n",
        "[{type: conversation, name: calls}, {type: conversation, name: tools}, {type: "
        "conversation, name: loop},"
        " {type: conversation, name: cycles}, {type: conversation, name: sys}, {type: "
        "conversation, name: turns},"
        " {type: conversation, name: img}]");
    assert_non_null(t->e);
    sig_env_t env = {.has_session = true, .session_turns = 5};
    sigt_eval_body(t, AGENT, strlen(AGENT), &env, NULL, 0);
    assert_true(sigt_matched(t, CV, "calls"));
    assert_int_equal((int)sigt_get(t, CV, "calls")->value, 2);
    assert_true(sigt_matched(t, CV, "tools"));
    assert_true(sigt_matched(t, CV, "loop"));
    assert_true(sigt_matched(t, CV, "cycles"));
    assert_true(sigt_matched(t, CV, "sys"));
    assert_true(sigt_matched(t, CV, "turns"));
    assert_false(sigt_matched(t, CV, "img"));
    sigt_eval_prompt(t, "hello", NULL);
    assert_false(sigt_matched(t, CV, "calls"));
    assert_false(sigt_matched(t, CV, "loop"));
    assert_false(sigt_matched(t, CV, "turns")); /* no session memory: 0 */
    sigt_free(t);
}

static void test_conversation_bad_source(void **state)
{
    sigt_t *t = sigt_load("    conversation:\n"
                          "      - {name: x, feature: {type: count, source: {type: tool_call}}}\n",
                          "[{type: conversation, name: x}]");
    assert_null(t->e);
    assert_non_null(strstr(t->err, "feature.source.type \"tool_call\""));
    sigt_free(t);
}

static void test_structure_features(void **state)
{
    sigt_t *t = sigt_load("    structure:\n"
                          "      - {name: qs, feature: {type: count, source: {type: regex, "
                          "pattern: '\\?'}}, predicate: {gte: 3}}\n"
                          "      - {name: steps, feature: {type: sequence, source: {type: "
                          "sequence, sequence: [first, then, finally]}}}\n"
                          "      - {name: dens, feature: {type: density, source: {type: "
                          "keyword_set, keywords: [please]}}, predicate: {gt: 0.2}}\n"
                          "      - {name: long, feature: {type: count, source: {type: "
                          "text_bytes}}, predicate: {gt: 40}}\n"
                          "      - {name: code, feature: {type: exists, source: {type: regex, "
                          "patterns: ['^```']}}}\n",
                          "[{type: structure, name: qs}, {type: structure, name: steps}, {type: "
                          "structure, name: dens},"
                          " {type: structure, name: long}, {type: structure, name: code}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "Why? How? When? First do this, then that, finally rest.", NULL);
    assert_true(sigt_matched(t, ST, "qs"));
    assert_int_equal((int)sigt_get(t, ST, "qs")->value, 3);
    assert_true(sigt_matched(t, ST, "steps"));
    assert_true(sigt_matched(t, ST, "long"));
    assert_false(sigt_matched(t, ST, "code"));
    sigt_eval_prompt(t, "please please fix\n```c\nint x;\n```", NULL);
    assert_true(sigt_matched(t, ST, "dens")); /* 2 of 6 units */
    const sig_result_t *d = sigt_get(t, ST, "dens");
    assert_true(d->value > 0.33 && d->value < 0.34);
    assert_true(sigt_matched(t, ST, "code"));
    assert_false(sigt_matched(t, ST, "steps"));
    sigt_eval_prompt(t, "finally, then first", NULL); /* out of order */
    assert_false(sigt_matched(t, ST, "steps"));
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation_features),
        cmocka_unit_test(test_conversation_bad_source),
        cmocka_unit_test(test_structure_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
