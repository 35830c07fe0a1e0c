/* test_embed_probe_worker.c - an openai_compatible embedder without `dimensions`
 * whose dimension probe failed at load: a worker never waits for the next
 * probe (it runs on the embedder's own thread, signals/embedder.h), keeps
 * answering while the probe hangs at the embedder, and the rules work once
 * the probe answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "replay_record.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t llm, emb, router;
static int llm_port, emb_port, rport, gport;
static char cfg_path[256];

static int spawn_mock(tproc_t *p, const char *listen, const char *delay)
{
    const char *argv[] = {tproc_tether_bin(),       "mock", "--listen", listen, "--embed-delay",
                          delay ? delay : "none=0", NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

/* A loopback port nothing listens on (connections are refused). */
static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t sl = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &sl) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int setup(void **state)
{
    llm_port = spawn_mock(&llm, "127.0.0.1:0", NULL);
    emb_port = unused_port();
    if (llm_port <= 0 || emb_port <= 0) return -1;
    gport = tsupport_free_port();
    int lport = tsupport_free_port();
    for (int i = 0; i < 20 && lport == gport; i++)
        lport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-embprobe-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults: {default_model: model-a}\n  models:\n"
            "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: model-a}, {name: model-b}]\n"
            "  signals:\n"
            "    embeddings:\n"
            "      - {name: cooking, candidates: [\"how do I cook pasta\"], threshold: 0.99}\n"
            "  decisions:\n"
            "    - {name: cook, priority: 10, rules: {type: embedding, name: cooking}, "
            "modelRefs: [{model: model-b}]}\n"
            "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n"
            "global:\n"
            "  router:\n    limits: {signal_timeout: 2s}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  model_catalog:\n    embeddings:\n      backend: openai_compatible\n"
            "      openai_compatible: {base_url: \"http://127.0.0.1:%d/v1\", model: emb, "
            "timeout_ms: 20000, max_retries: 0}\n",
            lport, llm_port, llm_port, gport, emb_port);
    fclose(f);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg_path,
                          "--workers",        "1",     NULL};
    if (tproc_spawn(&router, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    rport = tproc_wait_listening(&router, 30000);
    if (rport <= 0) fprintf(stderr, "test_embed_probe_worker: the router did not start\n");
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
    tproc_stop(&llm, 5000);
    tproc_stop(&emb, 5000);
    unlink(cfg_path);
    return bad ? -1 : 0;
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

static const cJSON *signal_of(const cJSON *rec, const char *name)
{
    const cJSON *s, *sigs = cJSON_GetObjectItem(rec, "signals");
    cJSON_ArrayForEach(s, sigs)
    {
        const cJSON *n = cJSON_GetObjectItem(s, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return s;
    }
    fail_msg("no signal %s in the record", name);
    return NULL;
}

static const char *str(const cJSON *s, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(s, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The dimension probe at load failed (nothing listened). The embedder
 * comes up holding every probe for 3 s. A request's fetch starts a new
 * probe on the embedder's thread and the worker answers at once, while the
 * probe hangs (the rule reports embedding_unavailable, the request is
 * routed); once the probe answered, the dimensions are known and the rule
 * matches. Before, a worker's fetch never probed again and the bank's
 * rebuild probed inline every 30 s, holding the worker for the probe. */
static void test_worker_answers_while_the_probe_hangs(void **state)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", emb_port);
    assert_int_equal(spawn_mock(&emb, listen, "dimension probe=3000"), emb_port);
    cJSON *rec = route("how do I cook pasta"); /* starts the probe */
    assert_string_equal(str(signal_of(rec, "cooking"), "error"), "embedding_unavailable");
    assert_string_equal(str(rec, "decision"), "rest");
    cJSON_Delete(rec);
    for (int i = 0; i < 3; i++) { /* the probe still hangs: answered all the same */
        rec = route("another question while the probe hangs");
        assert_string_equal(str(rec, "decision"), "rest");
        cJSON_Delete(rec);
    }
    /* bounded: the probe answers after 3 s; then the fetch gets vectors of
     * the learned length and the bank builds from them */
    bool matched = false;
    for (int i = 0; i < 100 && !matched; i++) {
        rec = route("how do I cook pasta");
        matched = !strcmp(str(rec, "decision"), "cook");
        cJSON_Delete(rec);
        if (!matched) usleep(200 * 1000);
    }
    assert_true(matched);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_answers_while_the_probe_hangs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
