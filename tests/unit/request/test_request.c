/* test_request.c - request facts from chat bodies: roles and counts, the
 * query window, tool-loop detection (each of the three §9.3 conditions),
 * provider-bound state, identity fields, text of array content, texts of
 * repeated contents decoded once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "request/request.h"
#include <stdio.h>
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

/* Messages with the same raw content share one decoded text (rq_msg_text's
 * memo): every text, decoded in any order, is the text a request view with
 * only that message decoded gives (no memo to use); contents of the same
 * length that differ, string and array contents, escapes, short ones. */
static const char *const contents[] = {
    "\"the file src/main.c holds 120 lines of C: int main(void) { return 0; } and more text\"",
    "\"the file src/main.c holds 120 lines of C: int main(void) { return 1; } and more text\"",
    "\"caf\\u00e9 \\\"quoted\\\" line\\nnext line\\ttab \\ud83d\\ude00 and the rest of a long "
    "text\"",
    "[{\"type\":\"text\",\"text\":\"part one of the text, long enough to be kept\"},{\"type\":"
    "\"text\",\"text\":\"part two\"}]",
    "[{\"type\":\"text\",\"text\":\"part one of the text, long enough to be kept\"},{\"type\":"
    "\"text\",\"text\":\"part 2!!\"}]",
    "\"short\"",
    "\"\"",
    "null",
};
#define N_CONTENTS (sizeof contents / sizeof contents[0])

static void test_same_content_same_text(void **state)
{
    (void)state;
    static char body[65536];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 300; round++) {
        size_t w = 0, nm = 2 + (size_t)(round % 40);
        unsigned pick[64];
        w += (size_t)sprintf(body + w, "{\"model\":\"m\",\"messages\":[");
        for (size_t k = 0; k < nm; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pick[k] = (unsigned)(x % N_CONTENTS);
            static const char *const roles[] = {"user", "tool", "assistant", "system"};
            w += (size_t)sprintf(body + w, "%s{\"role\":\"%s\",\"content\":%s}", k ? "," : "",
                                 roles[(x >> 20) % 4], contents[pick[k]]);
        }
        w += (size_t)sprintf(body + w, "]}");
        arena_t a, b;
        arena_init(&a, 4096);
        arena_init(&b, 4096);
        rq_t *r = facts(&a, body);
        assert_non_null(r);
        assert_int_equal(r->n_msgs, nm);
        /* decode in a shuffled order, each twice */
        for (size_t t = 0; t < 2 * nm; t++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t i = (size_t)(x % nm), n1 = 0, n2 = 0;
            const char *got = rq_msg_text(r, i, &n1);
            rq_t *q = facts(&b, body); /* fresh: only message i decoded */
            const char *want = rq_msg_text(q, i, &n2);
            assert_int_equal(n1, n2);
            assert_memory_equal(got, want, n1);
            assert_int_equal(got[n1], 0);
            arena_reset(&b);
        }
        /* equal raw contents: one text; different ones: never shared */
        for (size_t i = 0; i < nm; i++)
            for (size_t j = 0; j < nm; j++)
                if (r->msgs[i].text && r->msgs[j].text && r->msgs[i].text == r->msgs[j].text &&
                    r->msgs[i].text_len)
                    assert_int_equal(pick[i], pick[j]);
        arena_deinit(&a);
        arena_deinit(&b);
    }
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
        cmocka_unit_test(test_same_content_same_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
