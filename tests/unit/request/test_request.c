/* test_request.c - request facts from chat bodies: roles and counts, the
 * query window, tool-loop detection (each of the three §9.3 conditions),
 * provider-bound state, identity fields, text of array content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "request/request.h"
#include <string.h>

static rq_t *facts(arena_t *a, const char *body)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    jscan_err_t e;
    assert_int_equal(jscan_request(body, strlen(body), a, jr, &e), 0);
    return rq_from_chat(a, body, strlen(body), jr, NULL, 0);
}

static void test_counts_roles_and_query(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(&a, "{\"model\":\"auto\",\"messages\":["
                        "{\"role\":\"system\",\"content\":\"be brief\"},"
                        "{\"role\":\"user\",\"content\":\"first \\u00e9\"},"
                        "{\"role\":\"assistant\",\"content\":\"ok\"},"
                        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
                        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\","
                        "\"text\":\"here\"}]}]}");
    assert_non_null(r);
    assert_string_equal(r->model, "auto");
    assert_int_equal(r->n_msgs, 4);
    assert_int_equal(r->n_user, 2);
    assert_int_equal(r->n_assistant, 1);
    assert_int_equal(r->n_system, 1);
    assert_int_equal(r->n_images, 1);
    size_t n;
    assert_string_equal(rq_query(r, &n), "look\nhere");
    assert_string_equal(rq_msg_text(r, 1, &n), "first \xc3\xa9");
    assert_false(r->active_tool_loop);
    assert_int_equal(r->bindings, 0);
    arena_deinit(&a);
}

static void test_tool_loop_when_results_are_latest(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r =
        facts(&a, "{\"model\":\"auto\",\"messages\":["
                  "{\"role\":\"user\",\"content\":\"run the tests\"},"
                  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                  "\"type\":\"function\",\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}}]},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"2 failed\"}]}");
    assert_true(r->active_tool_loop);
    assert_true(r->ends_with_tool_results);
    assert_int_equal(r->n_tool_calls, 1);
    assert_string_equal(r->msgs[1].calls[0].id, "call_1");
    assert_string_equal(r->msgs[1].calls[0].name, "sh");
    assert_string_equal(r->msgs[2].tool_call_id, "call_1");
    size_t n;
    /* inside the loop the query stays the last user text */
    assert_string_equal(rq_query(r, &n), "run the tests");
    arena_deinit(&a);
}

static void test_tool_loop_when_call_is_unanswered(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(&a, "{\"model\":\"auto\",\"messages\":["
                        "{\"role\":\"user\",\"content\":\"go\"},"
                        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"function\":{"
                        "\"name\":\"f\"}},{\"id\":\"b\",\"function\":{\"name\":\"g\"}}]},"
                        "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"x\"},"
                        "{\"role\":\"assistant\",\"content\":\"half done\"}]}");
    assert_true(r->active_tool_loop);
    assert_false(r->ends_with_tool_results);
    arena_deinit(&a);
}

static void test_tool_loop_when_user_follows_results(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(
        &a,
        "{\"model\":\"auto\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"x\"},"
        "{\"role\":\"user\",\"content\":\"now fix it\"}]}");
    assert_true(r->active_tool_loop);
    size_t n;
    assert_string_equal(rq_query(r, &n), "now fix it");
    arena_deinit(&a);
}

static void test_no_tool_loop_after_a_completed_exchange(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(
        &a,
        "{\"model\":\"auto\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"x\"},"
        "{\"role\":\"assistant\",\"content\":\"done\"},"
        "{\"role\":\"user\",\"content\":\"thanks, now something else\"}]}");
    assert_false(r->active_tool_loop);
    arena_deinit(&a);
}

static void test_provider_state_bindings(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(&a, "{\"model\":\"auto\",\"previous_response_id\":\"resp_1\",\"messages\":["
                        "{\"role\":\"user\",\"content\":\"q\"}]}");
    assert_int_equal(r->bindings, RQ_BIND_PREVIOUS_RESPONSE_ID);
    assert_string_equal(r->previous_response_id, "resp_1");
    r = facts(&a, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                  "{\"role\":\"assistant\",\"content\":\"a\",\"reasoning_details\":[{\"type\":"
                  "\"reasoning.encrypted\",\"data\":\"enc_1\"}]},"
                  "{\"role\":\"user\",\"content\":\"q2\"}]}");
    assert_int_equal(r->bindings, RQ_BIND_ENCRYPTED_REASONING);
    r = facts(&a, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                  "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\","
                  "\"signature\":\"sig\"},{\"type\":\"text\",\"text\":\"a\"}]},"
                  "{\"role\":\"user\",\"content\":\"q2\"}]}");
    assert_int_equal(r->bindings, RQ_BIND_SIGNED_THINKING);
    r = facts(&a, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                  "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":"
                  "\"f\"},\"extra_content\":{\"google\":{\"thought_signature\":\"x\"}}}]},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"}]}");
    assert_int_equal(r->bindings, RQ_BIND_THOUGHT_SIGNATURE);
    /* a thinking block without a signature is portable */
    r = facts(&a, "{\"model\":\"auto\",\"messages\":[{\"role\":\"assistant\",\"content\":[{"
                  "\"type\":\"thinking\",\"thinking\":\"hm\"}]},"
                  "{\"role\":\"user\",\"content\":\"q2\"}]}");
    assert_int_equal(r->bindings, 0);
    arena_deinit(&a);
}

static void test_identity_fields(void **state)
{
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r = facts(&a, "{\"model\":\"auto\",\"prompt_cache_key\":\"pck\",\"metadata\":{\"session_"
                        "id\":\"s1\",\"user_id\":\"u1\"},"
                        "\"conversation\":{\"id\":\"conv_9\"},\"max_tokens\":77,\"messages\":[{"
                        "\"role\":\"user\",\"content\":\"q\"}]}");
    assert_string_equal(r->prompt_cache_key, "pck");
    assert_string_equal(r->metadata_session_id, "s1");
    assert_string_equal(r->metadata_user_id, "u1");
    assert_string_equal(r->conversation, "conv_9");
    assert_int_equal(r->max_tokens, 77);
    arena_deinit(&a);
}

/* A raw "encrypted_content" (quotes included) marks its message only,
 * wherever the scan met it: a key, a value, a text ending in an escaped
 * quote and the word; a text quoting it between escaped quotes does not. */
static void test_encrypted_content_marks_its_message(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 4096);
    rq_t *r =
        facts(&a, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"say \\\"encrypted_content\\\" twice\"},"
                  "{\"role\":\"assistant\",\"content\":\"a\",\"extra\":{\"encrypted_content\":"
                  "\"gAAA\"}},{\"role\":\"user\",\"content\":\"is \\\"encrypted_content\"}]}");
    assert_non_null(r);
    assert_int_equal(r->msgs[0].bindings, 0);
    assert_int_equal(r->msgs[1].bindings, RQ_BIND_ENCRYPTED_REASONING);
    assert_int_equal(r->msgs[2].bindings, RQ_BIND_ENCRYPTED_REASONING);
    assert_int_equal(r->bindings, RQ_BIND_ENCRYPTED_REASONING);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_roles_and_query),
        cmocka_unit_test(test_tool_loop_when_results_are_latest),
        cmocka_unit_test(test_tool_loop_when_call_is_unanswered),
        cmocka_unit_test(test_tool_loop_when_user_follows_results),
        cmocka_unit_test(test_no_tool_loop_after_a_completed_exchange),
        cmocka_unit_test(test_provider_state_bindings),
        cmocka_unit_test(test_encrypted_content_marks_its_message),
        cmocka_unit_test(test_identity_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
