/* test_embed_selectors.c - router_dc and the semantic response cache on a
 * worker with a remote (openai_compatible) embedder, on loopback: their
 * query (and router_dc's card) vectors are fetched asynchronously with the
 * signals' before the decision, and neither calls the embedder itself.
 * router_dc picks the model whose card matches, as the blocking path of
 * `tether eval` does for the same config and prompt; the semantic cache
 * hits on a paraphrase through the fetched vector. When the fetch misses
 * its deadline (a stalled embedder), router_dc falls back to static and the
 * cache misses, and the mock sees no call but the fetch's: nothing blocked
 * the worker on the embedder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "replay_record.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    const char *argv[24];
    int n = 0;
    argv[n++] = tproc_tether_bin();
    argv[n++] = "mock";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (int k = 0; extra && extra[k]; k++)
        argv[n++] = extra[k];
    argv[n] = NULL;
    if (tproc_spawn(&mocks[i], argv, TPROC_QUIET) != 0) return -1;
    mport[i] = tproc_wait_listening(&mocks[i], 10000);
    return mport[i] > 0 ? 0 : -1;
}

static int setup(void **state)
{
    const char *emb[] = {"--embed-delay", "stall=6000", NULL};
    if (spawn_mock(M_LLM, NULL) || spawn_mock(M_EMB, emb)) {
        fprintf(stderr, "test_embed_selectors: a mock did not start\n");
        return -1;
    }
    gport = tsupport_free_port();
    int lport = tsupport_free_port();
    for (int i = 0; i < 20 && lport == gport; i++)
        lport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-embsel-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults: {default_model: model-a}\n  models:\n"
            "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n"
            "  modelCards:\n"
            "    - {name: model-a, description: \"cooking recipes bread pasta baking kitchen\"}\n"
            "    - {name: model-b, description: \"astronomy telescopes planets stars galaxies\"}\n"
            "  signals:\n"
            "    keywords:\n"
            "      - {name: cacheme, operator: OR, keywords: [cacheme]}\n"
            "  decisions:\n"
            "    - name: cached\n      priority: 20\n"
            "      rules: {type: keyword, name: cacheme}\n"
            "      modelRefs: [{model: model-a}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: semantic, scope: "
            "global, semantic: {similarity_threshold: 0.8}}}]\n"
            "    - name: pick\n      priority: 1\n"
            "      modelRefs: [{model: model-a}, {model: model-b}]\n"
            "      algorithm: {type: router_dc, router_dc: {min_similarity: 0.05}}\n"
            "global:\n"
            "  router:\n    limits: {signal_timeout: 1500ms}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  model_catalog:\n    embeddings:\n      backend: openai_compatible\n"
            "      openai_compatible: {base_url: \"http://127.0.0.1:%d/v1\", model: emb, "
            "dimensions: 256, timeout_ms: 8000}\n",
            lport, mport[M_LLM], mport[M_LLM], gport, mport[M_EMB]);
    fclose(f);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg_path,
                          "--workers",        "1",     NULL};
    if (tproc_spawn(&router, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    rport = tproc_wait_listening(&router, 30000);
    if (rport <= 0) fprintf(stderr, "test_embed_selectors: the router did not start\n");
    return rport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int bad = 0;
    int st = tproc_stop(&router, 10000);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "router exit status %d\n", st);
        bad = 1;
    }
    for (int i = 0; i < M_COUNT; i++)
        tproc_stop(&mocks[i], 5000);
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

static cJSON *replay(const char *id)
{
    return trec_fetch(gport, id);
}

static cJSON *route(const char *text)
{
    char id[128];
    assert_int_equal(post("auto", text, id, sizeof id), 200);
    assert_true(id[0]);
    return replay(id);
}

static const char *str(const cJSON *s, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(s, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The model `tether eval` (blocking embedder, off the workers) selects. */
static void eval_model(const char *text, char *out, size_t ol)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' eval --config '%s' --prompt '%s' --format json 2>/dev/null",
             tproc_tether_bin(), cfg_path, text);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    pclose(p);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    const cJSON *m = cJSON_GetObjectItem(j, "model");
    if (cJSON_IsObject(m)) m = cJSON_GetObjectItem(m, "name");
    snprintf(out, ol, "%s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(j);
}

/* router_dc reads the query and card vectors the request fetched: the
 * card that matches the query wins, as in `tether eval` (blocking path). */
static void test_router_dc_selects_from_fetched_vectors(void **state)
{
    static const struct {
        const char *text, *model;
    } cases[] = {{"which telescope shows planets and stars and galaxies best", "model-b"},
                 {"how long should I bake bread in my kitchen oven", "model-a"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *rec = route(cases[i].text);
        assert_string_equal(str(rec, "decision"), "pick");
        assert_string_equal(str(rec, "algorithm"), "router_dc");
        assert_string_equal(str(rec, "model"), cases[i].model);
        cJSON_Delete(rec);
        char em[64];
        eval_model(cases[i].text, em, sizeof em);
        assert_string_equal(em, cases[i].model);
    }
}

/* A stalled embedder: the fetch ends at the deadline without the query's
 * vector; router_dc falls back to static instead of calling the embedder,
 * so the mock saw one call (the fetch's), not two. */
static void test_router_dc_never_calls_the_embedder_on_the_worker(void **state)
{
    int before = embed_calls();
    cJSON *rec = route("stall which telescope shows planets and stars");
    assert_string_equal(str(rec, "decision"), "pick");
    assert_string_equal(str(rec, "algorithm"), "static");
    cJSON_Delete(rec);
    assert_int_equal(embed_calls() - before, 1);
}

/* POST text; the x-tether-cache-hit header ("" when absent). */
static void post_cached(const char *text, char *hit, size_t hl)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *h = thttp_resp_header(&r, "x-tether-cache-hit");
    snprintf(hit, hl, "%s", h ? h : "");
    thttp_resp_free(&r);
}

/* The semantic cache looks up with the vector the request fetched: a
 * paraphrase hits; with a stalled embedder it misses rather than calling
 * the embedder on the worker (one call: the fetch's). */
static void test_semantic_cache_uses_fetched_vector(void **state)
{
    char hit[32];
    post_cached("cacheme what is the boiling point of water at sea level", hit, sizeof hit);
    assert_string_equal(hit, "");
    post_cached("cacheme what is the boiling point of water at sea level please", hit, sizeof hit);
    assert_string_equal(hit, "semantic");
    int before = embed_calls();
    post_cached("cacheme stall what is the boiling point of water at sea level", hit, sizeof hit);
    assert_string_equal(hit, "");
    assert_int_equal(embed_calls() - before, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_dc_selects_from_fetched_vectors),
        cmocka_unit_test(test_router_dc_never_calls_the_embedder_on_the_worker),
        cmocka_unit_test(test_semantic_cache_uses_fetched_vector),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
