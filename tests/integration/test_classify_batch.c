/* test_classify_batch.c - concurrent requests' /classify calls sharing one
 * upstream call (route/fetch_classify_batch.c), through the serving path on
 * loopback. Router A asks two classifiers of the same keyword table for
 * every request: `batched` (batch_inflight: 2, window: chunks, so requests
 * send one to three inputs) and `solo` (batch_max: 1: every request its own
 * call, as before batching). With two calls held at the mock, eight more
 * requests gather and go in one call; every request's result is the one
 * its own call gives. Router B's shared calls fail: 503 (http_error), a
 * call timeout (timeout_ms) and the request deadline; each request of the
 * call falls back with the reason. Calls are counted at the mocks
 * (/mock/stats), never timed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "replay_record.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE "secret sauce=jailbreak,bomb=S1"

enum { M_LLM, M_BATCH, M_SOLO, M_FAIL, M_SLOW, M_COUNT };

static tproc_t mocks[M_COUNT];
static int mport[M_COUNT];
static tproc_t router_a, router_b;
static int aport, bport, agport, bgport;
static char cfg_a[256], cfg_b[256];

static int write_a(void)
{
    int lport;
    tstack_two_ports(&agport, &lport);
    snprintf(cfg_a, sizeof cfg_a, "/tmp/tether-test-cls-batch-a-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_a, "w");
    if (!f) return -1;
    tstack_yaml_ab_head(f, lport, mport[M_LLM]);
    fprintf(f, "  signals:\n"
               "    classifiers:\n"
               "      - {name: c_batched, classifier: batched, threshold: 0.5}\n"
               "      - {name: c_solo, classifier: solo, threshold: 0.5}\n"
               "  decisions:\n"
               "    - name: flagged\n      priority: 10\n      rules:\n        operator: OR\n"
               "        conditions:\n"
               "          - {type: classifier, name: c_batched}\n"
               "          - {type: classifier, name: c_solo}\n"
               "      modelRefs: [{model: model-b}]\n"
               "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n");
    tstack_yaml_signal_global(f, "20s", agport);
    fprintf(f,
            "    classifiers:\n"
            "      - {name: batched, type: http_classify, endpoint: "
            "\"http://127.0.0.1:%d/classify\", model: m, positive_labels: [jailbreak, S1], "
            "window: chunks, max_input_chars: 64, batch_inflight: 2, timeout_ms: 15000}\n"
            "      - {name: solo, type: http_classify, endpoint: "
            "\"http://127.0.0.1:%d/classify\", model: m, positive_labels: [jailbreak, S1], "
            "window: chunks, max_input_chars: 64, batch_max: 1, timeout_ms: 15000}\n",
            mport[M_BATCH], mport[M_SOLO]);
    fclose(f);
    return 0;
}

/* Router B: fail (503 after 1 s), to (a 1.5 s call timeout against a mock
 * holding calls 8 s) and slow (the same mock; the 5 s request deadline
 * ends its calls: the shared call's requests leave it one by one). One call in flight each, so
 * later requests share the next call. */
static int write_b(void)
{
    int lport;
    tstack_two_ports(&bgport, &lport);
    snprintf(cfg_b, sizeof cfg_b, "/tmp/tether-test-cls-batch-b-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_b, "w");
    if (!f) return -1;
    tstack_yaml_ab_head(f, lport, mport[M_LLM]);
    fprintf(f, "  signals:\n"
               "    jailbreak:\n"
               "      - {name: jb_fail, method: classifier, classifier: fail}\n"
               "      - {name: jb_to, method: classifier, classifier: to}\n"
               "      - {name: jb_slow, method: classifier, classifier: slow}\n"
               "  decisions:\n"
               "    - name: blocked\n      priority: 10\n      rules:\n        operator: OR\n"
               "        conditions:\n"
               "          - {type: jailbreak, name: jb_fail}\n"
               "          - {type: jailbreak, name: jb_to}\n"
               "          - {type: jailbreak, name: jb_slow}\n"
               "      modelRefs: [{model: model-b}]\n"
               "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n");
    tstack_yaml_signal_global(f, "5s", bgport);
    fprintf(f,
            "    classifiers:\n"
            "      - {name: fail, type: http_classify, endpoint: \"http://127.0.0.1:%d/classify\", "
            "positive_labels: [jailbreak], batch_inflight: 1, timeout_ms: 4000}\n"
            "      - {name: to, type: http_classify, endpoint: "
            "\"http://127.0.0.1:%d/v1/classify\", positive_labels: [jailbreak], "
            "batch_inflight: 1, timeout_ms: 1500}\n"
            "      - {name: slow, type: http_classify, endpoint: "
            "\"http://127.0.0.1:%d/classify\", positive_labels: [jailbreak], "
            "batch_inflight: 1, timeout_ms: 10000}\n",
            mport[M_FAIL], mport[M_SLOW], mport[M_SLOW]);
    fclose(f);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *held[] = {"--classify", TABLE, "--latency-ms", "2000", NULL};
    const char *fail[] = {"--fail-rate", "1.0", "--latency-ms", "1000", NULL};
    const char *slow[] = {"--classify", TABLE, "--latency-ms", "8000", NULL};
    mport[M_LLM] = tstack_mock(&mocks[M_LLM], NULL);
    mport[M_BATCH] = tstack_mock(&mocks[M_BATCH], held);
    mport[M_SOLO] = tstack_mock(&mocks[M_SOLO], held);
    mport[M_FAIL] = tstack_mock(&mocks[M_FAIL], fail);
    mport[M_SLOW] = tstack_mock(&mocks[M_SLOW], slow);
    for (int i = 0; i < M_COUNT; i++)
        if (mport[i] <= 0) return -1;
    if (write_a() || write_b()) return -1;
    aport = tstack_serve_n(&router_a, cfg_a, 1, 30000);
    bport = tstack_serve_n(&router_b, cfg_b, 1, 30000);
    return aport > 0 && bport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int bad = tstack_stop_clean(&router_a, "router a", 10000) != 0;
    bad |= tstack_stop_clean(&router_b, "router b", 10000) != 0;
    for (int i = 0; i < M_COUNT; i++)
        if (mport[i] > 0) tproc_stop(&mocks[i], 5000);
    unlink(cfg_a);
    unlink(cfg_b);
    return bad ? -1 : 0;
}

/* The calls on path the mock has received so far. */
static int calls(int m, const char *path)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mport[m], "GET", "/mock/stats", NULL, NULL, 0, &r) != 0)
        return -1;
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_path"), path);
    int v = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(j);
    return v;
}

typedef struct {
    int port, status;
    char text[256];
    char id[128];
    pthread_t th;
} req_t;

static void *req_main(void *p)
{
    req_t *r = p;
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", r->text);
    thttp_resp_t h;
    r->status = -1;
    if (thttp_request("127.0.0.1", r->port, "POST", "/v1/chat/completions", NULL, body,
                      strlen(body), &h) != 0)
        return NULL;
    const char *id = thttp_resp_header(&h, "x-tether-replay-id");
    snprintf(r->id, sizeof r->id, "%s", id ? id : "");
    r->status = h.status;
    thttp_resp_free(&h);
    return NULL;
}

/* Request i's text: a keyword (or none), in short texts (one input) and in
 * texts of 100-190 bytes (two or three 64-byte chunks; the keyword in the
 * last one). */
static void start(req_t *r, int port, int i, const char *tag)
{
    static const char *const kw[] = {"the secret sauce", "a bomb", "a cake"};
    *r = (req_t){.port = port};
    if (i % 2)
        snprintf(r->text, sizeof r->text, "%s question %d about %s", tag, i, kw[i % 3]);
    else
        snprintf(r->text, sizeof r->text, "%s question %d %.*s then tell me about %s", tag, i,
                 40 + 30 * (i % 4),
                 "padding padding padding padding padding padding padding padding padding "
                 "padding padding padding padding padding",
                 kw[i % 3]);
    assert_int_equal(pthread_create(&r->th, NULL, req_main, r), 0);
}

/* A classifier's timing entry in a record's signal_fetch. */
static const cJSON *fetch_entry(const cJSON *rec, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(
        c, cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "signal_fetch"),
                               "classifiers")) if (!strcmp(trec_str(c, "name"), name)) return c;
    return NULL;
}

static int batch_requests(const cJSON *rec, const char *name)
{
    const cJSON *e = fetch_entry(rec, name);
    assert_non_null(e);
    const cJSON *n = cJSON_GetObjectItem(e, "batch_requests");
    return cJSON_IsNumber(n) ? n->valueint : 0;
}

#define N_FIRST 2
#define N_LATE  8

/* Two requests' calls held at the mock (batch_inflight: 2); eight more
 * gather and go in one call when a call ends: 3 calls for 10 requests
 * (10 unbatched), and each request's result - matched, label, score - is
 * its own call's. */
static void test_concurrent_requests_share_a_call_with_their_own_results(void **state)
{
    (void)state;
    int b0 = calls(M_BATCH, "/classify"), s0 = calls(M_SOLO, "/classify");
    req_t r[N_FIRST + N_LATE];
    for (int i = 0; i < N_FIRST; i++)
        start(&r[i], aport, i, "first");
    assert_true(TPOLL_UNTIL(calls(M_BATCH, "/classify") - b0 == N_FIRST, TPOLL_MS));
    for (int i = N_FIRST; i < N_FIRST + N_LATE; i++)
        start(&r[i], aport, i, "late");
    for (int i = 0; i < N_FIRST + N_LATE; i++)
        pthread_join(r[i].th, NULL);
    int matched = 0;
    for (int i = 0; i < N_FIRST + N_LATE; i++) {
        assert_int_equal(r[i].status, 200);
        cJSON *rec = trec_fetch(agport, r[i].id);
        const cJSON *b = trec_signal(rec, "c_batched"), *s = trec_signal(rec, "c_solo");
        assert_non_null(b);
        assert_non_null(s);
        assert_string_equal(trec_str(b, "fallback"), "");
        assert_string_equal(trec_str(b, "error"), "");
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(b, "matched")),
                         cJSON_IsTrue(cJSON_GetObjectItem(s, "matched")));
        assert_string_equal(trec_str(b, "label"), trec_str(s, "label"));
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(b, "score")) ==
                    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "score")));
        matched += cJSON_IsTrue(cJSON_GetObjectItem(b, "matched"));
        assert_int_equal(batch_requests(rec, "batched"), i < N_FIRST ? 0 : N_LATE);
        assert_int_equal(batch_requests(rec, "solo"), 0);
        cJSON_Delete(rec);
    }
    /* the texts mix detections and benign ones */
    assert_true(matched > 0 && matched < N_FIRST + N_LATE);
    assert_int_equal(calls(M_BATCH, "/classify") - b0, N_FIRST + 1);
    assert_int_equal(calls(M_SOLO, "/classify") - s0, N_FIRST + N_LATE);
}

#define N_FAIL_LATE 4

/* One call in flight per classifier; four more requests share the next
 * call of each. Every request falls back with its call's reason: 503
 * (classifier_http_error), the call timeout (classifier_timeout) and the
 * deadline, which each request of the shared call leaves on its own
 * (classifier_timeout). */
static void test_failed_shared_calls_fall_back_for_each_request(void **state)
{
    (void)state;
    int f0 = calls(M_FAIL, "/classify"), t0 = calls(M_SLOW, "/v1/classify"),
        s0 = calls(M_SLOW, "/classify");
    req_t r[1 + N_FAIL_LATE];
    start(&r[0], bport, 0, "lead");
    assert_true(TPOLL_UNTIL(calls(M_FAIL, "/classify") - f0 == 1 &&
                                calls(M_SLOW, "/v1/classify") - t0 == 1 &&
                                calls(M_SLOW, "/classify") - s0 == 1,
                            TPOLL_MS));
    for (int i = 1; i <= N_FAIL_LATE; i++)
        start(&r[i], bport, i, "late");
    for (int i = 0; i <= N_FAIL_LATE; i++)
        pthread_join(r[i].th, NULL);
    for (int i = 0; i <= N_FAIL_LATE; i++) {
        assert_int_equal(r[i].status, 200);
        cJSON *rec = trec_fetch(bgport, r[i].id);
        assert_string_equal(trec_str(trec_signal(rec, "jb_fail"), "fallback"),
                            "classifier_http_error");
        assert_string_equal(trec_str(trec_signal(rec, "jb_to"), "fallback"), "classifier_timeout");
        assert_string_equal(trec_str(trec_signal(rec, "jb_slow"), "fallback"),
                            "classifier_timeout");
        assert_string_equal(trec_str(fetch_entry(rec, "fail"), "outcome"), "http_error");
        assert_string_equal(trec_str(fetch_entry(rec, "to"), "outcome"), "timeout");
        assert_string_equal(trec_str(fetch_entry(rec, "slow"), "outcome"), "timeout");
        int want = i ? N_FAIL_LATE : 0;
        assert_int_equal(batch_requests(rec, "fail"), want);
        assert_int_equal(batch_requests(rec, "to"), want);
        cJSON_Delete(rec);
    }
    assert_int_equal(calls(M_FAIL, "/classify") - f0, 2);
    assert_int_equal(calls(M_SLOW, "/v1/classify") - t0, 2);
    /* slow: the lead's call, then the late requests' shared one, which goes
     * when the lead's ends at its deadline and is cancelled at theirs, a
     * few ms later: a mock starved of CPU may not have read it by then (it
     * counted 1 call once in a test-plain run at load 20) */
    int slow_calls = calls(M_SLOW, "/classify") - s0;
    assert_true(slow_calls == 1 || slow_calls == 2);
    /* every request counted once per classifier in the metric */
    thttp_resp_t m;
    assert_int_equal(thttp_request("127.0.0.1", bgport, "GET", "/metrics", NULL, NULL, 0, &m), 0);
    assert_non_null(
        strstr(m.body, "tether_signal_backend_total{backend=\"fail\",outcome=\"http_error\"} 5"));
    assert_non_null(
        strstr(m.body, "tether_signal_backend_total{backend=\"to\",outcome=\"timeout\"} 5"));
    thttp_resp_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_requests_share_a_call_with_their_own_results),
        cmocka_unit_test(test_failed_shared_calls_fall_back_for_each_request),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
