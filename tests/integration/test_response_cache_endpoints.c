/* test_response_cache_endpoints.c - the response cache on every endpoint
 * (the one upstream proxy, src/upstream/cache.c): an identical Messages or
 * Responses request is answered from the cache without reaching the
 * backend, whether the reply was translated (an OpenAI-format model) or
 * relayed as is (an Anthropic-format model for a Messages client); the key
 * includes the client's protocol, so a chat request with the same
 * conversation is not served a Messages reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "cache_stack.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two identical requests: the second is a hit with the same body, and the
 * backend saw one request. */
static void assert_second_is_a_hit(const char *path, const char *body, const char *want_model)
{
    int before = tstack_mock_requests(tcache.mport);
    thttp_resp_t r1, r2;
    tcache_stack_post(&tcache, path, body, &r1);
    assert_null(thttp_resp_header(&r1, "x-tether-cache-hit"));
    assert_string_equal(thttp_resp_header(&r1, "x-tether-model"), want_model);
    tcache_stack_post(&tcache, path, body, &r2);
    assert_string_equal(thttp_resp_header(&r2, "x-tether-cache-hit"), "exact");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-response-path"), "cache");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-model"), want_model);
    assert_int_equal(r1.body_len, r2.body_len);
    assert_memory_equal(r1.body, r2.body, r1.body_len);
    assert_int_equal(tstack_mock_requests(tcache.mport) - before, 1);
    thttp_resp_free(&r1);
    thttp_resp_free(&r2);
}

static void test_messages_reply_translated_from_chat_is_served_from_the_cache(void **state)
{
    (void)state;
    const char *b = "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"what are the opening hours?\"}]}";
    assert_second_is_a_hit("/v1/messages", b, "gpt");
}

static void test_messages_reply_relayed_from_anthropic_is_served_from_the_cache(void **state)
{
    (void)state;
    const char *b = "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"where are the tide tables?\"}]}";
    assert_second_is_a_hit("/v1/messages", b, "claude");
}

static void test_responses_reply_is_served_from_the_cache(void **state)
{
    (void)state;
    const char *b = "{\"model\":\"auto\",\"input\":\"opening hours on monday?\"}";
    assert_second_is_a_hit("/v1/responses", b, "gpt");
    /* a continuation of another response is another key */
    thttp_resp_t r;
    int before = tstack_mock_requests(tcache.mport);
    const char *first = "{\"model\":\"auto\",\"input\":\"hello there\"}";
    tcache_stack_post(&tcache, "/v1/responses", first, &r);
    cJSON *j = cJSON_Parse(r.body);
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"previous_response_id\":\"%s\","
             "\"input\":\"opening hours on monday?\"}",
             cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    tcache_stack_post(&tcache, "/v1/responses", body, &r);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    assert_int_equal(tstack_mock_requests(tcache.mport) - before, 2);
    thttp_resp_free(&r);
}

static void test_key_includes_the_protocol(void **state)
{
    (void)state;
    const char *m = "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"opening hours in june?\"}]}";
    thttp_resp_t r;
    tcache_stack_post(&tcache, "/v1/messages", m, &r);
    thttp_resp_free(&r);
    int before = tstack_mock_requests(tcache.mport);
    /* the same conversation and parameters as chat: not the Messages reply */
    tcache_stack_post(&tcache, "/v1/chat/completions", m, &r);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(cJSON_GetObjectItem(j, "choices"));
    cJSON_Delete(j);
    thttp_resp_free(&r);
    assert_int_equal(tstack_mock_requests(tcache.mport) - before, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_reply_translated_from_chat_is_served_from_the_cache),
        cmocka_unit_test(test_messages_reply_relayed_from_anthropic_is_served_from_the_cache),
        cmocka_unit_test(test_responses_reply_is_served_from_the_cache),
        cmocka_unit_test(test_key_includes_the_protocol),
    };
    return cmocka_run_group_tests(tests, tcache_setup, tcache_teardown);
}
