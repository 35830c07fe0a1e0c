/* test_plugins.c - decision plugins through the real router: the response
 * cache (an identical request is answered from the cache, as JSON and as SSE
 * for a streaming client, without reaching the backend; no-store and errors
 * are never cached) and fast_response (a canned reply, no backend call). */
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
static char cfg[256];

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    snprintf(cfg, sizeof cfg, "/tmp/tether-plugins-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
    fprintf(
        f,
        "version: v0.3\n"
        "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
        "providers:\n  defaults: {default_model: m}\n  models:\n"
        "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
        "routing:\n  modelCards: [{name: m}]\n"
        "  signals:\n    keywords:\n"
        "      - {name: blocked, keywords: [forbidden topic]}\n"
        "      - {name: faq, keywords: [opening hours]}\n"
        "  decisions:\n"
        "    - name: block\n      priority: 100\n      rules: {type: keyword, name: blocked}\n"
        "      modelRefs: [{model: m}]\n"
        "      plugins: [{type: fast_response, configuration: {message: \"Blocked by policy.\"}}]\n"
        "    - name: faq\n      priority: 50\n      rules: {type: keyword, name: faq}\n"
        "      modelRefs: [{model: m}]\n"
        "      plugins: [{type: response_cache, configuration: {mode: exact, scope: global}}]\n"
        "    - {name: chat, modelRefs: [{model: m}]}\n"
        "global:\n  router: {debug_headers: true}\n"
        "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
        "    router_replay: {store: memory}\n",
        rport, mport, tsupport_free_port());
    fclose(f);
    return tstack_serve_n(&router, cfg, 1, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(cfg);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int backend_requests(void)
{
    return tstack_mock_requests(mport);
}

static void post(const char *body, const char *hdrs, thttp_resp_t *r)
{
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", hdrs, body,
                                   strlen(body), r),
                     0);
}

static void test_identical_request_is_served_from_the_cache(void **state)
{
    const char *b = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"what are "
                    "the opening hours?\"}]}";
    int before = backend_requests();
    thttp_resp_t r1, r2, r3;
    post(b, NULL, &r1);
    assert_int_equal(r1.status, 200);
    assert_string_equal(thttp_resp_header(&r1, "x-tether-decision"), "faq");
    assert_null(thttp_resp_header(&r1, "x-tether-cache-hit"));
    post(b, NULL, &r2);
    assert_int_equal(r2.status, 200);
    assert_string_equal(thttp_resp_header(&r2, "x-tether-cache-hit"), "exact");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-response-path"), "cache");
    /* the same answer, and the backend saw only the first request */
    cJSON *a = cJSON_Parse(r1.body), *c = cJSON_Parse(r2.body);
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0),
                                "message"),
            "content")
            ->valuestring,
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0),
                                "message"),
            "content")
            ->valuestring);
    cJSON_Delete(a);
    cJSON_Delete(c);
    assert_int_equal(backend_requests() - before, 1);
    /* a streaming client gets the hit as SSE */
    const char *bs = "{\"model\":\"auto\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"what are the opening hours?\"}]}";
    post(bs, NULL, &r3);
    assert_int_equal(r3.status, 200);
    assert_string_equal(thttp_resp_header(&r3, "x-tether-cache-hit"), "exact");
    assert_non_null(strstr(thttp_resp_header(&r3, "content-type"), "text/event-stream"));
    char **ev;
    size_t n = thttp_sse_data(r3.body, r3.body_len, &ev);
    assert_true(n >= 3);
    assert_string_equal(ev[n - 1], "[DONE]");
    thttp_sse_free(ev, n);
    assert_int_equal(backend_requests() - before, 1);
    thttp_resp_free(&r1);
    thttp_resp_free(&r2);
    thttp_resp_free(&r3);
}

static void test_no_store_and_other_decisions_are_not_cached(void **state)
{
    int before = backend_requests();
    const char *b = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"opening "
                    "hours on sunday?\"}]}";
    thttp_resp_t r;
    for (int i = 0; i < 2; i++) {
        post(b, "x-tether-cache-control: no-store\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
        thttp_resp_free(&r);
    }
    /* a decision without the plugin never caches */
    const char *c =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
    for (int i = 0; i < 2; i++) {
        post(c, NULL, &r);
        assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
        thttp_resp_free(&r);
    }
    assert_int_equal(backend_requests() - before, 4);
}

static void test_debug_headers_list_matched_signals(void **state)
{
    thttp_resp_t r;
    const char *b = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"opening "
                    "hours please\"}]}";
    post(b, "x-tether-debug: true\r\nx-tether-cache-control: no-store\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-matched-signals"), "keyword:faq");
    assert_non_null(thttp_resp_header(&r, "x-tether-context-tokens"));
    thttp_resp_free(&r);
    /* without the request header: nothing */
    post(b, "x-tether-cache-control: no-store\r\n", &r);
    assert_null(thttp_resp_header(&r, "x-tether-matched-signals"));
    thttp_resp_free(&r);
}

static void test_fast_response_answers_without_the_backend(void **state)
{
    int before = backend_requests();
    thttp_resp_t r;
    post("{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"tell me about the "
         "forbidden topic\"}]}",
         NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-decision"), "block");
    assert_string_equal(thttp_resp_header(&r, "x-tether-response-path"), "fast_response");
    assert_non_null(strstr(r.body, "Blocked by policy."));
    thttp_resp_free(&r);
    assert_int_equal(backend_requests() - before, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_request_is_served_from_the_cache),
        cmocka_unit_test(test_no_store_and_other_decisions_are_not_cached),
        cmocka_unit_test(test_debug_headers_list_matched_signals),
        cmocka_unit_test(test_fast_response_answers_without_the_backend),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
