/* test_router.c - the real tether binary against `tether mock` backends on
 * loopback: auto routing, passthrough, unknown model, streaming relayed
 * chunk by chunk, every bad input with its status and error code, retry on
 * a failing backend_ref, no retry once bytes were sent, upstream timeout and
 * unreachable upstream, and graceful stop with a request in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { M_A, M_B, M_SLOW_STREAM, M_FAIL, M_RESET, M_LATE, M_COUNT };

static tproc_t mocks[M_COUNT];
static int mport[M_COUNT];
static tproc_t router;
static int rport;
static int closed_port;
static char cfg_path[256];

static int spawn_mock(int i, const char *const extra[])
{
    mport[i] = tstack_mock(&mocks[i], extra);
    return mport[i] > 0 ? 0 : -1;
}

/* A port that stays closed for the whole run (tstack_closed_port). */
static int closed_fd = -1;

static int free_port(void)
{
    /* a port nobody listens on: start a mock, note its port, stop it */
    tproc_t p;
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&p, argv, TPROC_QUIET) != 0) return -1;
    int port = tproc_wait_listening(&p, 10000);
    tproc_stop(&p, 5000);
    return port;
}

static int start_router(void)
{
    rport = tstack_serve_n(&router, cfg_path, 1, 10000);
    return rport > 0 ? 0 : -1;
}

static int setup(void **state)
{
    const char *slow[] = {"--chunk-delay-ms", "100", NULL};
    const char *fail[] = {"--fail-rate", "1.0", NULL};
    const char *reset[] = {"--reset-rate", "1.0", NULL};
    const char *late[] = {"--latency-ms", "3000", NULL};
    if (spawn_mock(M_A, NULL) || spawn_mock(M_B, NULL) || spawn_mock(M_SLOW_STREAM, slow) ||
        spawn_mock(M_FAIL, fail) || spawn_mock(M_RESET, reset) || spawn_mock(M_LATE, late))
        return -1;
    closed_port = tstack_closed_port(&closed_fd);
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-router-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults:\n    default_model: model-a\n  models:\n"
            "    - name: model-a\n      provider_model_id: upstream-a\n"
            "      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      provider_model_id: upstream-b\n"
            "      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: slow-stream\n"
            "      backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: flaky\n"
            "      backend_refs:\n"
            "        - {name: failing, endpoint: \"127.0.0.1:%d\", weight: 1000}\n"
            "        - {name: healthy, endpoint: \"127.0.0.1:%d\", weight: 1}\n"
            "    - name: resetting\n"
            "      backend_refs:\n"
            "        - {name: resets, endpoint: \"127.0.0.1:%d\", weight: 1000}\n"
            "        - {name: spare, endpoint: \"127.0.0.1:%d\", weight: 1}\n"
            "    - name: late\n"
            "      reliability: {retry_count: 0, timeouts: {first_byte: 500ms}}\n"
            "      backend_refs: [{name: l1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: gone\n"
            "      backend_refs: [{name: g1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards:\n"
            "    - {name: model-a}\n    - {name: model-b}\n    - {name: slow-stream}\n"
            "    - {name: flaky}\n    - {name: resetting}\n    - {name: late}\n    - {name: gone}\n"
            "global:\n  router:\n    limits: {max_body_bytes: 64KiB, max_header_bytes: 4KiB}\n",
            free_port(), mport[M_A], mport[M_B], mport[M_SLOW_STREAM], mport[M_FAIL], mport[M_B],
            mport[M_RESET], mport[M_B], mport[M_LATE], closed_port);
    fclose(f);
    return start_router();
}

/* Every process must exit 0 on SIGTERM: under the sanitizers a leak or an
 * error report turns into a non-zero exit, which fails the group here. */
static int teardown(void **state)
{
    int bad = tstack_stop_clean(&router, "router", 10000) != 0;
    for (int i = 0; i < M_COUNT; i++) {
        int st = tproc_stop(&mocks[i], 10000);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            fprintf(stderr, "mock %d exit status %d\n", i, st);
            bad = 1;
        }
    }
    unlink(cfg_path);
    if (closed_fd >= 0) close(closed_fd);
    return bad ? -1 : 0;
}

static int post(const char *body, const char *headers, thttp_resp_t *r)
{
    return thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", headers, body,
                         strlen(body), r);
}

static int mock_requests(int i)
{
    return tstack_mock_requests(mport[i]);
}

static void assert_error_code(const thttp_resp_t *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, code);
    assert_non_null(cJSON_GetObjectItem(e, "message")->valuestring);
    assert_non_null(cJSON_GetObjectItem(e, "type")->valuestring);
    cJSON_Delete(j);
}

static const char *SIMPLE =
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void test_auto_model_goes_to_default_with_provider_model_id(void **state)
{
    thttp_resp_t r;
    assert_int_equal(post(SIMPLE, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-model"), "model-a");
    assert_string_equal(thttp_resp_header(&r, "x-tether-backend"), "a1");
    assert_string_equal(thttp_resp_header(&r, "x-vsr-selected-model"), "model-a");
    assert_int_equal(strlen(thttp_resp_header(&r, "x-tether-request-id")), 24);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    /* the mock echoes the model it was asked for: the provider model id */
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "upstream-a");
    assert_non_null(cJSON_GetObjectItem(j, "usage"));
    cJSON_Delete(j);
    thttp_resp_free(&r);
}

static void test_configured_model_passes_through(void **state)
{
    thttp_resp_t r;
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"model-b\"}";
    assert_int_equal(post(b, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-model"), "model-b");
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "upstream-b");
    cJSON_Delete(j);
    thttp_resp_free(&r);
}

static void test_unknown_model_gets_404_listing_valid_names(void **state)
{
    thttp_resp_t r;
    assert_int_equal(post("{\"model\":\"gpt-9\",\"messages\":[]}", NULL, &r), 0);
    assert_error_code(&r, 404, "model_not_found"); /* as OpenAI answers */
    assert_non_null(strstr(r.body, "gpt-9"));
    assert_non_null(strstr(r.body, "auto, MoM, tether/auto, model-a, model-b"));
    thttp_resp_free(&r);
}

static void test_stream_first_chunk_arrives_before_upstream_finishes(void **state)
{
    thttp_conn_t c;
    thttp_resp_t r;
    assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 10000), 0);
    const char *b = "{\"model\":\"slow-stream\",\"stream\":true,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story\"}]}";
    assert_int_equal(thttp_send_request(&c, "POST", "/v1/chat/completions", NULL, b, strlen(b)), 0);
    assert_int_equal(thttp_read_head(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(thttp_resp_header(&r, "content-type"), "text/event-stream"));
    buf_t piece = BUF_INIT;
    uint64_t t_first = 0, t_last = 0, t;
    int pieces = 0, rc;
    while ((rc = thttp_read_piece(&c, &r, &piece, &t)) > 0) {
        if (!pieces) {
            t_first = t;
            /* when the first piece is here, the body is not complete yet */
            assert_false(r.complete);
        }
        t_last = t;
        pieces++;
        buf_reset(&piece);
    }
    assert_int_equal(rc, 0);
    /* the mock waits 100 ms between chunks: a relay that buffered the whole
     * stream would deliver everything at once */
    assert_true(pieces >= 5);
    assert_true(t_last - t_first >= 300000);
    char **ev;
    size_t n = thttp_sse_data(r.body, r.body_len, &ev);
    assert_true(n >= 3);
    assert_string_equal(ev[n - 1], "[DONE]");
    /* the usage chunk tether asked for is hidden from this client */
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(ev[i], "\"usage\""));
    thttp_sse_free(ev, n);
    buf_free(&piece);
    thttp_resp_free(&r);
    thttp_close(&c);
}

static void test_stream_with_include_usage_keeps_usage_chunk(void **state)
{
    thttp_resp_t r;
    const char *b =
        "{\"model\":\"model-a\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(post(b, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"usage\""));
    thttp_resp_free(&r);
}

static void test_bad_inputs_get_openai_shaped_errors(void **state)
{
    thttp_resp_t r;
    /* malformed JSON, with the byte offset */
    assert_int_equal(post("{\"model\":\"auto\",\"messages\":[}", NULL, &r), 0);
    assert_error_code(&r, 400, "invalid_json");
    assert_non_null(strstr(r.body, "byte 28"));
    thttp_resp_free(&r);
    /* not an object */
    assert_int_equal(post("[1,2]", NULL, &r), 0);
    assert_error_code(&r, 400, "invalid_body");
    thttp_resp_free(&r);
    /* missing messages */
    assert_int_equal(post("{\"model\":\"auto\"}", NULL, &r), 0);
    assert_error_code(&r, 400, "invalid_body");
    assert_non_null(strstr(r.body, "messages"));
    thttp_resp_free(&r);
    /* messages of the wrong type: says so, not "missing" */
    assert_int_equal(post("{\"model\":\"auto\",\"messages\":\"hi\"}", NULL, &r), 0);
    assert_error_code(&r, 400, "invalid_body");
    assert_non_null(strstr(r.body, "messages: must be an array"));
    assert_non_null(strstr(r.body, "\"param\":\"messages\""));
    thttp_resp_free(&r);
    /* body over max_body_bytes (64 KiB here) */
    size_t big = 70 * 1024;
    char *body = malloc(big + 100);
    int n =
        snprintf(body, 100, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    memset(body + n, 'a', big);
    strcpy(body + n + big, "\"}]}");
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r) == 0 ||
                         r.status == 413,
                     1);
    assert_error_code(&r, 413, "body_too_large");
    thttp_resp_free(&r);
    free(body);
    /* headers over max_header_bytes (4 KiB here) */
    char *hdr = malloc(6000);
    strcpy(hdr, "x-pad: ");
    memset(hdr + 7, 'b', 5000);
    strcpy(hdr + 5007, "\r\n");
    thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", hdr, SIMPLE, strlen(SIMPLE),
                  &r);
    assert_int_equal(r.status, 431);
    thttp_resp_free(&r);
    free(hdr);
    /* unknown path, wrong method */
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/v2/whatever", NULL, NULL, 0, &r),
                     0);
    assert_error_code(&r, 404, "not_found");
    thttp_resp_free(&r);
    assert_int_equal(
        thttp_request("127.0.0.1", rport, "GET", "/v1/chat/completions", NULL, NULL, 0, &r), 0);
    assert_error_code(&r, 405, "method_not_allowed");
    thttp_resp_free(&r);
    /* the router is still fine afterwards */
    assert_int_equal(post(SIMPLE, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_unreachable_upstream_gets_502(void **state)
{
    thttp_resp_t r;
    assert_int_equal(
        post("{\"model\":\"gone\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL, &r),
        0);
    assert_error_code(&r, 502, "bad_upstream_response");
    assert_string_equal(thttp_resp_header(&r, "x-tether-model"), "gone");
    thttp_resp_free(&r);
}

static void test_upstream_timeout_gets_504(void **state)
{
    thttp_resp_t r;
    assert_int_equal(
        post("{\"model\":\"late\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL, &r),
        0);
    assert_error_code(&r, 504, "upstream_timeout");
    thttp_resp_free(&r);
}

static void test_failing_backend_ref_is_retried_on_the_next(void **state)
{
    int fail_before = mock_requests(M_FAIL);
    int b_before = mock_requests(M_B);
    thttp_resp_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            post("{\"model\":\"flaky\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL,
                 &r),
            0);
        assert_int_equal(r.status, 200);
        assert_string_equal(thttp_resp_header(&r, "x-tether-backend"), "healthy");
        thttp_resp_free(&r);
    }
    /* the failing backend was tried first each time (weight 1000 vs 1) */
    assert_int_equal(mock_requests(M_FAIL) - fail_before, 3);
    assert_int_equal(mock_requests(M_B) - b_before, 3);
}

static void test_no_retry_after_bytes_were_sent(void **state)
{
    int reset_before = mock_requests(M_RESET);
    int spare_before = mock_requests(M_B);
    thttp_resp_t r;
    const char *b = "{\"model\":\"resetting\",\"stream\":true,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    post(b, NULL, &r);
    assert_int_equal(r.status, 200); /* headers went out before the reset */
    /* the stream ends with an in-band error event, not a second model's answer */
    assert_non_null(strstr(r.body, "stream_aborted"));
    assert_null(strstr(r.body, "[DONE]"));
    thttp_resp_free(&r);
    assert_int_equal(mock_requests(M_RESET) - reset_before, 1);
    assert_int_equal(mock_requests(M_B) - spare_before, 0);
}

static void test_models_health_ready(void **state)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/v1/models", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *d = cJSON_GetObjectItem(j, "data");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "id")->valuestring, "auto");
    assert_int_equal(cJSON_GetArraySize(d), 3 + 7);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/ready", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_keep_alive_and_pipelining_through_the_proxy(void **state)
{
    thttp_conn_t c;
    thttp_resp_t r;
    assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 10000), 0);
    /* three requests in one write; answers in order on one connection */
    buf_t all = BUF_INIT;
    const char *models[] = {"model-a", "model-b", "model-a"};
    for (int i = 0; i < 3; i++) {
        char body[128];
        int n =
            snprintf(body, sizeof body,
                     "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"q%d\"}]}",
                     models[i], i);
        buf_printf(&all,
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s",
                   n, body);
    }
    assert_int_equal(thttp_send(&c, all.data, all.len), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(thttp_read_response(&c, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(thttp_resp_header(&r, "x-tether-model"), models[i]);
        thttp_resp_free(&r);
    }
    buf_free(&all);
    thttp_close(&c);
}

static void test_graceful_stop_finishes_in_flight_request(void **state)
{
    /* a streamed request to the slow mock (about a second), then SIGTERM */
    thttp_conn_t c;
    thttp_resp_t r;
    assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 10000), 0);
    const char *b = "{\"model\":\"slow-stream\",\"stream\":true,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story\"}]}";
    assert_int_equal(thttp_send_request(&c, "POST", "/v1/chat/completions", NULL, b, strlen(b)), 0);
    assert_int_equal(thttp_read_head(&c, &r), 0);
    assert_int_equal(tproc_signal(&router, SIGTERM), 0);
    buf_t piece = BUF_INIT;
    uint64_t t;
    int rc;
    while ((rc = thttp_read_piece(&c, &r, &piece, &t)) > 0)
        buf_reset(&piece);
    assert_int_equal(rc, 0);
    assert_true(r.complete);
    assert_non_null(strstr(r.body, "[DONE]"));
    int st = tproc_wait(&router, 10000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    buf_free(&piece);
    thttp_resp_free(&r);
    thttp_close(&c);
    /* restart so later tests (if any) still have a router */
    assert_int_equal(start_router(), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_model_goes_to_default_with_provider_model_id),
        cmocka_unit_test(test_configured_model_passes_through),
        cmocka_unit_test(test_unknown_model_gets_404_listing_valid_names),
        cmocka_unit_test(test_stream_first_chunk_arrives_before_upstream_finishes),
        cmocka_unit_test(test_stream_with_include_usage_keeps_usage_chunk),
        cmocka_unit_test(test_bad_inputs_get_openai_shaped_errors),
        cmocka_unit_test(test_unreachable_upstream_gets_502),
        cmocka_unit_test(test_upstream_timeout_gets_504),
        cmocka_unit_test(test_failing_backend_ref_is_retried_on_the_next),
        cmocka_unit_test(test_no_retry_after_bytes_were_sent),
        cmocka_unit_test(test_models_health_ready),
        cmocka_unit_test(test_keep_alive_and_pipelining_through_the_proxy),
        cmocka_unit_test(test_graceful_stop_finishes_in_flight_request),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
