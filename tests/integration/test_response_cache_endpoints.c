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
#include "proc.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport;
static char cfg[256];

static int setup(void **state)
{
    (void)state;
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&mock, ma, TPROC_QUIET) != 0) return -1;
    mport = tproc_wait_listening(&mock, 10000);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    snprintf(cfg, sizeof cfg, "/tmp/tether-rc-endpoints-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults: {default_model: gpt}\n  models:\n"
            "    - name: gpt\n      provider_model_id: up-gpt\n"
            "      backend_refs: [{name: o1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      provider_model_id: up-claude\n      api_format: anthropic\n"
            "      backend_refs: [{name: c1, base_url: \"http://127.0.0.1:%d/v1\", provider: "
            "anthropic}]\n"
            "routing:\n  modelCards: [{name: gpt}, {name: claude}]\n"
            "  signals:\n    keywords:\n"
            "      - {name: faq, keywords: [opening hours]}\n"
            "      - {name: deep, keywords: [tide tables]}\n"
            "  decisions:\n"
            "    - name: faq\n      priority: 50\n      rules: {type: keyword, name: faq}\n"
            "      modelRefs: [{model: gpt}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: exact, scope: global}}]\n"
            "    - name: deep\n      priority: 40\n      rules: {type: keyword, name: deep}\n"
            "      modelRefs: [{model: claude}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: exact, scope: global}}]\n"
            "    - {name: other, modelRefs: [{model: gpt}]}\n",
            rport, mport, mport);
    fclose(f);
    const char *rv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", "1", NULL};
    if (tproc_spawn(&router, rv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(cfg);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int backend_requests(void)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mport, "GET", "/mock/stats", NULL, NULL, 0, &r) != 0) return -1;
    cJSON *j = cJSON_Parse(r.body);
    int n = j ? cJSON_GetObjectItem(j, "requests")->valueint : -1;
    cJSON_Delete(j);
    thttp_resp_free(&r);
    return n;
}

static void post(const char *path, const char *body, thttp_resp_t *r)
{
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", path, NULL, body, strlen(body), r),
                     0);
    if (r->status != 200) fail_msg("%s: status %d body %s", path, r->status, r->body);
}

/* Two identical requests: the second is a hit with the same body, and the
 * backend saw one request. */
static void assert_second_is_a_hit(const char *path, const char *body, const char *want_model)
{
    int before = backend_requests();
    thttp_resp_t r1, r2;
    post(path, body, &r1);
    assert_null(thttp_resp_header(&r1, "x-tether-cache-hit"));
    assert_string_equal(thttp_resp_header(&r1, "x-tether-model"), want_model);
    post(path, body, &r2);
    assert_string_equal(thttp_resp_header(&r2, "x-tether-cache-hit"), "exact");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-response-path"), "cache");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-model"), want_model);
    assert_int_equal(r1.body_len, r2.body_len);
    assert_memory_equal(r1.body, r2.body, r1.body_len);
    assert_int_equal(backend_requests() - before, 1);
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
    int before = backend_requests();
    const char *first = "{\"model\":\"auto\",\"input\":\"hello there\"}";
    post("/v1/responses", first, &r);
    cJSON *j = cJSON_Parse(r.body);
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"previous_response_id\":\"%s\","
             "\"input\":\"opening hours on monday?\"}",
             cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    post("/v1/responses", body, &r);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    assert_int_equal(backend_requests() - before, 2);
    thttp_resp_free(&r);
}

static void test_key_includes_the_protocol(void **state)
{
    (void)state;
    const char *m = "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"opening hours in june?\"}]}";
    thttp_resp_t r;
    post("/v1/messages", m, &r);
    thttp_resp_free(&r);
    int before = backend_requests();
    /* the same conversation and parameters as chat: not the Messages reply */
    post("/v1/chat/completions", m, &r);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(cJSON_GetObjectItem(j, "choices"));
    cJSON_Delete(j);
    thttp_resp_free(&r);
    assert_int_equal(backend_requests() - before, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_reply_translated_from_chat_is_served_from_the_cache),
        cmocka_unit_test(test_messages_reply_relayed_from_anthropic_is_served_from_the_cache),
        cmocka_unit_test(test_responses_reply_is_served_from_the_cache),
        cmocka_unit_test(test_key_includes_the_protocol),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
