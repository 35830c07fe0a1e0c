/* test_embedders.c - the remote (openai_compatible) embedder on the
 * worker's event loop, on loopback: `tether serve` with one worker asks
 * `tether mock` for embeddings before its signals run. An embedding rule
 * matches through the asynchronous path (with `dimensions` sent for
 * Matryoshka truncation: the mock answers 64 components unless asked
 * otherwise, and the embedder expects 32); a repeated text is served from
 * the shared cache; concurrent requests share upstream calls; a stalled
 * embedder makes the rule report embedding_timeout at the deadline while
 * the same worker serves another request; an unreachable one opens the
 * worker's circuit. */
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
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { M_LLM, M_EMB, M_COUNT };

static tproc_t mocks[M_COUNT];
static int mport[M_COUNT];
static tproc_t router;
static int rport, gport;
static char cfg_path[256];

static int spawn_mock(int i, const char *const extra[])
{
    mport[i] = tstack_mock(&mocks[i], extra);
    return mport[i] > 0 ? 0 : -1;
}

static int closed_fd = -1;

/* The router, its embedder at emb_port. */
static int start_router(int emb_port)
{
    int lport;
    tstack_two_ports(&gport, &lport);
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-emb-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    tstack_yaml_ab_head(f, lport, mport[M_LLM]);
    fprintf(f, "  signals:\n"
               "    embeddings:\n"
               "      - {name: cooking, candidates: [\"how do I cook pasta\"], threshold: 0.99}\n"
               "    reasks:\n"
               "      - {name: again, threshold: 0.0, lookback_turns: 1}\n"
               "  decisions:\n"
               "    - {name: reasked, priority: 20, rules: {type: reask, name: again}, "
               "modelRefs: [{model: model-b}]}\n"
               "    - {name: cook, priority: 10, rules: {type: embedding, name: cooking}, "
               "modelRefs: [{model: model-b}]}\n"
               "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n");
    tstack_yaml_signal_global(f, "2s", gport);
    fprintf(f,
            "    embeddings:\n      backend: openai_compatible\n"
            "      openai_compatible: {base_url: \"http://127.0.0.1:%d/v1\", model: emb, "
            "dimensions: 32, timeout_ms: 4000, batch_max: 4, batch_window_ms: 200}\n",
            emb_port);
    fclose(f);
    rport = tstack_serve_n(&router, cfg_path, 1, 30000);
    if (rport <= 0) fprintf(stderr, "test_embedders: the router did not start\n");
    return rport > 0 ? 0 : -1;
}

static int setup(void **state)
{
    const char *emb[] = {"--embed-delay", "stall=6000", NULL};
    if (spawn_mock(M_LLM, NULL) || spawn_mock(M_EMB, emb)) {
        fprintf(stderr, "test_embedders: a mock did not start\n");
        return -1;
    }
    return start_router(mport[M_EMB]);
}

/* The embedder's port refuses connections. */
static int setup_unreachable(void **state)
{
    if (spawn_mock(M_LLM, NULL)) return -1;
    mport[M_EMB] = 0;
    int p = tstack_closed_port(&closed_fd);
    return p > 0 ? start_router(p) : -1;
}

static int teardown(void **state)
{
    int bad = tstack_stop_clean(&router, "router", 10000) != 0;
    for (int i = 0; i < M_COUNT; i++)
        if (mport[i] > 0) tproc_stop(&mocks[i], 5000);
    if (closed_fd >= 0) close(closed_fd);
    closed_fd = -1;
    unlink(cfg_path);
    return bad ? -1 : 0;
}

/* Upstream /v1/embeddings calls the embedding mock has answered so far. */
static int embed_calls(void)
{
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", mport[M_EMB], "GET", "/mock/stats", NULL, NULL, 0, &r), 0);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_path"), "/v1/embeddings");
    int v = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(j);
    return v;
}

/* POST one chat message; the status and the replay id (when routed). */
static int post(const char *model, const char *text, char *id, size_t il)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", model,
             text);
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body, strlen(body),
                      &r) != 0)
        return -1;
    const char *h = thttp_resp_header(&r, "x-tether-replay-id");
    if (id) snprintf(id, il, "%s", h ? h : "");
    int st = r.status;
    thttp_resp_free(&r);
    return st;
}

static cJSON *route(const char *text)
{
    char id[128];
    assert_int_equal(post("auto", text, id, sizeof id), 200);
    assert_true(id[0]);
    return trec_fetch(gport, id);
}

static const char *decision_of(const cJSON *rec)
{
    return trec_str(rec, "decision");
}

/* The query's vector comes from the remote (32 components: the mock honours
 * `dimensions`, else its 64 would fail as embedding_dimensions) and the
 * rule whose candidate is the same text matches. */
static void test_embedding_rule_matches_through_async_path(void **state)
{
    cJSON *rec = route("how do I cook pasta");
    const cJSON *s = trec_signal(rec, "cooking");
    assert_string_equal(trec_str(s, "error"), "");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "matched")));
    assert_string_equal(decision_of(rec), "cook");
    cJSON_Delete(rec);
    rec = route("what is the tallest mountain on earth");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(trec_signal(rec, "cooking"), "matched")));
    assert_string_equal(decision_of(rec), "rest");
    /* a new text: the record times the embedder's call (signal_fetch) */
    const cJSON *sf = cJSON_GetObjectItem(rec, "signal_fetch");
    const cJSON *em = cJSON_GetObjectItem(sf, "embeddings");
    assert_string_equal(trec_str(em, "outcome"), "ok");
    double call = cJSON_GetNumberValue(cJSON_GetObjectItem(em, "call_us"));
    assert_true(call > 0);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(em, "batch_texts")) >= 1);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(em, "latency_us")) >= call);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(sf, "slowest_call_us")) == call);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sf, "classifiers")), 0);
    cJSON_Delete(rec);
}

/* reask compares the query with the earlier user turn: both vectors come
 * from the one asynchronous fetch (the earlier turn is in the batch too,
 * else the rule would report embedding_not_fetched); threshold 0 makes any
 * cosine a match, so the rule matches exactly when both vectors arrived. */
static void test_reask_reads_history_vectors_fetched_async(void **state)
{
    const char *body = "{\"model\":\"auto\",\"messages\":["
                       "{\"role\":\"user\",\"content\":\"why is my bread so dense\"},"
                       "{\"role\":\"assistant\",\"content\":\"Try more kneading.\"},"
                       "{\"role\":\"user\",\"content\":\"my loaf came out heavy again\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *h = thttp_resp_header(&r, "x-tether-replay-id");
    assert_non_null(h);
    char id[128];
    snprintf(id, sizeof id, "%s", h);
    thttp_resp_free(&r);
    cJSON *rec = trec_fetch(gport, id);
    const cJSON *s = trec_signal(rec, "again");
    assert_string_equal(trec_str(s, "error"), "");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "matched")));
    assert_string_equal(decision_of(rec), "reasked");
    cJSON_Delete(rec);
}

/* A text embedded once is served from the shared LRU: no upstream call. */
static void test_repeated_text_hits_the_cache(void **state)
{
    cJSON *rec = route("a text to remember for the cache");
    cJSON_Delete(rec);
    int before = embed_calls();
    rec = route("a text to remember for the cache");
    assert_string_equal(trec_str(trec_signal(rec, "cooking"), "error"), "");
    /* every text from the LRU: no call timed */
    const cJSON *em = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "signal_fetch"), "embeddings");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(em, "cached")) ==
                cJSON_GetNumberValue(cJSON_GetObjectItem(em, "texts")));
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(em, "call_us")) == 0);
    cJSON_Delete(rec);
    assert_int_equal(embed_calls(), before);
}

#define N_CONC 8

typedef struct {
    int i, status;
    char id[128];
} conc_t;

static void *conc_main(void *p)
{
    conc_t *c = p;
    char text[64];
    snprintf(text, sizeof text, "concurrent question number %d", c->i);
    c->status = post("auto", text, c->id, sizeof c->id);
    return NULL;
}

/* Eight requests at once on one worker: their texts are gathered (window
 * 200 ms, at most 4 per call), so the mock sees fewer calls than texts. */
static void test_concurrent_texts_share_upstream_calls(void **state)
{
    int before = embed_calls();
    pthread_t th[N_CONC];
    conc_t c[N_CONC];
    for (int i = 0; i < N_CONC; i++) {
        c[i] = (conc_t){.i = i};
        pthread_create(&th[i], NULL, conc_main, &c[i]);
    }
    for (int i = 0; i < N_CONC; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_CONC; i++) {
        assert_int_equal(c[i].status, 200);
        cJSON *rec = trec_fetch(gport, c[i].id);
        assert_string_equal(trec_str(trec_signal(rec, "cooking"), "error"), "");
        cJSON_Delete(rec);
    }
    int calls = embed_calls() - before;
    assert_true(calls >= 1);
    assert_true(calls < N_CONC);
}

static atomic_int stalled_done;
static conc_t stalled;

static void *stalled_main(void *p)
{
    (void)p;
    stalled.status =
        post("auto", "stall: how do I cook pasta slowly", stalled.id, sizeof stalled.id);
    atomic_store(&stalled_done, 1);
    return NULL;
}

/* The embedder stalls (6 s) on one request: at the 2 s deadline its rule
 * reports embedding_timeout (on_error: no match, so the default decision),
 * and while it waits the same worker serves another request. */
static void test_stalled_embedder_falls_back_without_blocking(void **state)
{
    int before = embed_calls();
    pthread_t th;
    pthread_create(&th, NULL, stalled_main, NULL);
    /* the stalled call reached the mock (bounded: a call that never came
     * would otherwise hang the suite) */
    assert_true(TPOLL_UNTIL(embed_calls() != before, TPOLL_MS));
    assert_int_equal(post("model-a", "hello while the embedder stalls", NULL, 0), 200);
    assert_int_equal(atomic_load(&stalled_done), 0);
    pthread_join(th, NULL);
    assert_int_equal(stalled.status, 200);
    cJSON *rec = trec_fetch(gport, stalled.id);
    const cJSON *s = trec_signal(rec, "cooking");
    assert_string_equal(trec_str(s, "error"), "embedding_timeout");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(s, "matched")));
    assert_string_equal(decision_of(rec), "rest");
    char *dt = cJSON_PrintUnformatted(cJSON_GetObjectItem(rec, "decision_trace"));
    assert_non_null(strstr(dt, "embedding_timeout"));
    free(dt);
    cJSON_Delete(rec);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_non_null(
        strstr(r.body, "tether_signal_backend_total{backend=\"embeddings\",outcome=\"timeout\"}"));
    assert_non_null(
        strstr(r.body, "tether_signal_backend_total{backend=\"embeddings\",outcome=\"ok\"}"));
    thttp_resp_free(&r);
}

/* An unreachable embedder: each request's rule reports
 * embedding_unreachable; five failures in a row open the worker's circuit,
 * and later requests say embedding_circuit_open without a call. */
static void test_unreachable_embedder_opens_the_circuit(void **state)
{
    bool opened = false;
    for (int i = 0; i < 8 && !opened; i++) {
        cJSON *rec = route("how do I cook pasta");
        const char *why = trec_str(trec_signal(rec, "cooking"), "error");
        if (i == 0) assert_string_equal(why, "embedding_unreachable");
        assert_true(!strcmp(why, "embedding_unreachable") ||
                    !strcmp(why, "embedding_circuit_open"));
        opened = !strcmp(why, "embedding_circuit_open");
        assert_string_equal(decision_of(rec), "rest");
        cJSON_Delete(rec);
    }
    assert_true(opened);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(
        r.body, "tether_signal_backend_total{backend=\"embeddings\",outcome=\"circuit_open\"}"));
    assert_non_null(strstr(
        r.body, "tether_signal_backend_total{backend=\"embeddings\",outcome=\"unreachable\"}"));
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_rule_matches_through_async_path),
        cmocka_unit_test(test_reask_reads_history_vectors_fetched_async),
        cmocka_unit_test(test_repeated_text_hits_the_cache),
        cmocka_unit_test(test_concurrent_texts_share_upstream_calls),
        cmocka_unit_test(test_stalled_embedder_falls_back_without_blocking),
    };
    const struct CMUnitTest gone[] = {
        cmocka_unit_test(test_unreachable_embedder_opens_the_circuit),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    return rc | cmocka_run_group_tests(gone, setup_unreachable, teardown);
}
