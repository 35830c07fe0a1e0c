/* test_embed_flush.c - when the remote embedder's texts go upstream with
 * the default batch_window_ms: 0 (route/fetch_embed.c): while fewer than
 * FETCH_EMB_INFLIGHT_MAX calls are in flight on the worker, a request's
 * texts go at once in a call of their own (none waits for other requests);
 * while that many are in flight, the texts that arrive wait and go together
 * in one call when a call ends. Counted at the mock (its /v1/embeddings
 * calls, answered after 800 ms) and in the replay records (batch_texts),
 * not timed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "replay_record.h"
#include "route/fetch.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { M_LLM, M_EMB, M_COUNT };

static tproc_t mocks[M_COUNT];
static int mport[M_COUNT];
static tproc_t router;
static int rport, gport;
static char cfg_path[256];

static int setup(void **state)
{
    (void)state;
    const char *emb[] = {"--latency-ms", "800", NULL};
    mport[M_LLM] = tstack_mock(&mocks[M_LLM], NULL);
    mport[M_EMB] = tstack_mock(&mocks[M_EMB], emb);
    if (mport[M_LLM] <= 0 || mport[M_EMB] <= 0) return -1;
    int lport;
    tstack_two_ports(&gport, &lport);
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-emb-flush-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    tstack_yaml_ab_head(f, lport, mport[M_LLM]);
    fprintf(f, "  signals:\n"
               "    embeddings:\n"
               "      - {name: cooking, candidates: [\"how do I cook pasta\"], threshold: 0.99}\n"
               "  decisions:\n"
               "    - {name: cook, priority: 10, rules: {type: embedding, name: cooking}, "
               "modelRefs: [{model: model-b}]}\n"
               "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n");
    tstack_yaml_signal_global(f, "10s", gport);
    fprintf(f,
            "    embeddings:\n      backend: openai_compatible\n"
            "      openai_compatible: {base_url: \"http://127.0.0.1:%d/v1\", model: emb, "
            "dimensions: 32, timeout_ms: 8000}\n",
            mport[M_EMB]);
    fclose(f);
    rport = tstack_serve_n(&router, cfg_path, 1, 30000);
    return rport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int bad = tstack_stop_clean(&router, "router", 10000) != 0;
    for (int i = 0; i < M_COUNT; i++)
        if (mport[i] > 0) tproc_stop(&mocks[i], 5000);
    unlink(cfg_path);
    return bad ? -1 : 0;
}

/* The /v1/embeddings calls the mock has received so far. */
static int embed_calls(void)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mport[M_EMB], "GET", "/mock/stats", NULL, NULL, 0, &r) != 0)
        return -1;
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_path"), "/v1/embeddings");
    int v = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(j);
    return v;
}

typedef struct {
    int i, status;
    const char *tag;
    char id[128];
    pthread_t th;
} req_t;

static void *req_main(void *p)
{
    req_t *r = p;
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
             "\"%s question number %d\"}]}",
             r->tag, r->i);
    thttp_resp_t h;
    r->status = -1;
    if (thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body, strlen(body),
                      &h) != 0)
        return NULL;
    const char *id = thttp_resp_header(&h, "x-tether-replay-id");
    snprintf(r->id, sizeof r->id, "%s", id ? id : "");
    r->status = h.status;
    thttp_resp_free(&h);
    return NULL;
}

static void start(req_t *r, int i, const char *tag)
{
    *r = (req_t){.i = i, .tag = tag};
    assert_int_equal(pthread_create(&r->th, NULL, req_main, r), 0);
}

/* The texts of the call this request waited on (its replay record). */
static int batch_texts(const req_t *r)
{
    assert_int_equal(r->status, 200);
    cJSON *rec = trec_fetch(gport, r->id);
    const cJSON *em = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "signal_fetch"), "embeddings");
    assert_string_equal(trec_str(em, "outcome"), "ok");
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(em, "batch_texts"));
    cJSON_Delete(rec);
    return n;
}

/* An idle embedder: as many concurrent requests as may be in flight, each
 * with a new text; every one goes at once in a call of its own. */
static void test_below_the_bound_each_request_goes_at_once(void **state)
{
    (void)state;
    int before = embed_calls();
    req_t r[FETCH_EMB_INFLIGHT_MAX];
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        start(&r[i], i, "idle");
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        pthread_join(r[i].th, NULL);
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        assert_int_equal(batch_texts(&r[i]), 1);
    assert_int_equal(embed_calls() - before, FETCH_EMB_INFLIGHT_MAX);
}

#define N_LATE 4

/* The bound reached (FETCH_EMB_INFLIGHT_MAX calls held 800 ms at the
 * mock): the texts of N_LATE more requests wait and go together, in one
 * call, when a call ends. */
static void test_at_the_bound_texts_are_gathered_into_one_call(void **state)
{
    (void)state;
    int before = embed_calls();
    req_t first[FETCH_EMB_INFLIGHT_MAX], late[N_LATE];
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        start(&first[i], i, "busy");
    /* every slot's call reached the mock (and is held there 800 ms) */
    assert_true(TPOLL_UNTIL(embed_calls() - before == FETCH_EMB_INFLIGHT_MAX, TPOLL_MS));
    for (int i = 0; i < N_LATE; i++)
        start(&late[i], i, "late");
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        pthread_join(first[i].th, NULL);
    for (int i = 0; i < N_LATE; i++)
        pthread_join(late[i].th, NULL);
    for (int i = 0; i < FETCH_EMB_INFLIGHT_MAX; i++)
        assert_int_equal(batch_texts(&first[i]), 1);
    for (int i = 0; i < N_LATE; i++)
        assert_int_equal(batch_texts(&late[i]), N_LATE);
    assert_int_equal(embed_calls() - before, FETCH_EMB_INFLIGHT_MAX + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_below_the_bound_each_request_goes_at_once),
        cmocka_unit_test(test_at_the_bound_texts_are_gathered_into_one_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
