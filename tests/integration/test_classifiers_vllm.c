/* test_classifiers_vllm.c - the vLLM pooling and score APIs as classifier
 * backends, and the modality family on a classifier, through the serving
 * path on loopback: `tether serve` calls `tether mock` as /pooling (a
 * classification model, "task": "classify") and /score (the query against
 * each label's text). A jailbreak rule fires from the pooled probabilities,
 * a classifier rule from the score reply, a modality rule from a classifier
 * label the keywords do not see; a stalled score classifier reports its
 * timeout and a stalled modality classifier falls back to the keywords. */
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

enum { M_LLM, M_CLS, M_SLOW, M_COUNT };

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

#define TABLE "secret sauce=jailbreak,sunset vibes=DIFFUSION"

static int setup(void **state)
{
    const char *cls[] = {"--classify", TABLE, NULL};
    const char *slow[] = {"--classify", TABLE, "--latency-ms", "5000", NULL};
    if (spawn_mock(M_LLM, NULL) || spawn_mock(M_CLS, cls) || spawn_mock(M_SLOW, slow)) {
        fprintf(stderr, "test_classifiers_vllm: a mock did not start\n");
        return -1;
    }
    gport = tsupport_free_port();
    int lport = tsupport_free_port();
    for (int i = 0; i < 20 && lport == gport; i++)
        lport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-clsv-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(
        f,
        "version: v0.3\n"
        "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
        "providers:\n  defaults: {default_model: model-a}\n  models:\n"
        "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
        "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
        "routing:\n  modelCards: [{name: model-a}, {name: model-b}]\n"
        "  signals:\n"
        "    jailbreak:\n"
        "      - {name: jb_pool, method: classifier, classifier: pool_cls, threshold: 0.5}\n"
        "    classifiers:\n"
        "      - {name: zero_shot, classifier: score_cls, labels: [jailbreak]}\n"
        "      - {name: slow_score, classifier: score_slow}\n"
        "    modality:\n"
        "      - {name: DIFFUSION, classifier: mod_cls}\n"
        "      - {name: image_slow, classifier: mod_slow}\n"
        "  decisions:\n"
        "    - {name: blocked, priority: 100, rules: {type: jailbreak, name: jb_pool}, "
        "modelRefs: [{model: model-b}]}\n"
        "    - {name: picture, priority: 90, rules: {type: modality, name: DIFFUSION}, "
        "modelRefs: [{model: model-b}]}\n"
        "    - name: others\n      priority: 80\n      rules:\n        operator: OR\n"
        "        conditions:\n"
        "          - {type: classifier, name: zero_shot}\n"
        "          - {type: classifier, name: slow_score, on_error: no_match}\n"
        "          - {type: modality, name: image_slow}\n"
        "      modelRefs: [{model: model-b}]\n"
        "    - {name: rest, priority: 1, modelRefs: [{model: model-a}]}\n"
        "global:\n"
        "  router:\n    limits: {signal_timeout: 2s}\n" /* an ASan mock answers; 5 s stalls */
        "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
        "    router_replay: {store: memory}\n"
        "  model_catalog:\n    classifiers:\n"
        "      - {name: pool_cls, type: http_pooling, endpoint: \"http://127.0.0.1:%d/pooling\", "
        "model: jb, labels: [benign, jailbreak, DIFFUSION], positive_labels: [jailbreak]}\n"
        "      - {name: mod_cls, type: http_pooling, endpoint: \"http://127.0.0.1:%d/pooling\", "
        "model: modality, labels: [AR, x, DIFFUSION]}\n"
        "      - {name: score_cls, type: http_score, endpoint: \"http://127.0.0.1:%d/score\", "
        "model: rerank, labels: [benign, jailbreak], label_texts: [\"a benign request\", "
        "\"a jailbreak attempt\"], positive_labels: [jailbreak]}\n"
        "      - {name: score_slow, type: http_score, endpoint: \"http://127.0.0.1:%d/v1/score\", "
        "labels: [benign, jailbreak], positive_labels: [jailbreak]}\n"
        "      - {name: mod_slow, type: http_pooling, endpoint: \"http://127.0.0.1:%d/pooling\", "
        "model: modality, labels: [AR, x, DIFFUSION]}\n",
        lport, mport[M_LLM], mport[M_LLM], gport, mport[M_CLS], mport[M_CLS], mport[M_CLS],
        mport[M_SLOW], mport[M_SLOW]);
    fclose(f);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg_path,
                          "--workers",        "1",     NULL};
    if (tproc_spawn(&router, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    rport = tproc_wait_listening(&router, 30000);
    if (rport <= 0) fprintf(stderr, "test_classifiers_vllm: the router did not start\n");
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

/* Route one chat message; returns the replay record (caller frees) and the
 * decision header in dec. */
static cJSON *route(const char *text, char *dec, size_t dl)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *d = thttp_resp_header(&r, "x-tether-decision");
    snprintf(dec, dl, "%s", d ? d : "");
    const char *id = thttp_resp_header(&r, "x-tether-replay-id");
    assert_non_null(id);
    char rid[128];
    snprintf(rid, sizeof rid, "%s", id);
    thttp_resp_free(&r);
    return trec_fetch(gport, rid);
}

/* The signal `name` of a replay record. */
static const cJSON *signal_of(const cJSON *rec, const char *name)
{
    return trec_signal(rec, name);
}

static bool matched(const cJSON *s)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(s, "matched"));
}

static const char *str(const cJSON *s, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(s, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The patterns see nothing in "the secret sauce"; the pooled probabilities
 * of the classification model say jailbreak, so jb_pool fires, and the
 * score classifier ranks the "jailbreak attempt" text first. */
static void test_pooling_and_score_classifiers_catch_what_patterns_miss(void **state)
{
    char dec[64];
    cJSON *rec = route("please tell me the secret sauce", dec, sizeof dec);
    assert_string_equal(dec, "blocked");
    const cJSON *jb = signal_of(rec, "jb_pool");
    assert_true(matched(jb));
    assert_string_equal(str(jb, "label"), "jailbreak");
    assert_string_equal(str(jb, "fallback"), "");
    const cJSON *zs = signal_of(rec, "zero_shot");
    assert_true(matched(zs));
    assert_string_equal(str(zs, "label"), "jailbreak");
    cJSON_Delete(rec);
    rec = route("what is the capital of France", dec, sizeof dec);
    assert_false(matched(signal_of(rec, "jb_pool")));
    assert_string_equal(str(signal_of(rec, "jb_pool"), "label"), "benign");
    assert_false(matched(signal_of(rec, "zero_shot")));
    assert_string_equal(str(signal_of(rec, "zero_shot"), "label"), "benign");
    cJSON_Delete(rec);
}

/* The modality keywords see no image request in "sunset vibes"; the
 * classifier labels it DIFFUSION and the rule named DIFFUSION matches. */
static void test_modality_rule_takes_classifier_label(void **state)
{
    char dec[64];
    cJSON *rec = route("something with sunset vibes for my wall", dec, sizeof dec);
    assert_string_equal(dec, "picture");
    const cJSON *m = signal_of(rec, "DIFFUSION");
    assert_true(matched(m));
    assert_string_equal(str(m, "label"), "DIFFUSION");
    assert_string_equal(str(m, "fallback"), "");
    cJSON_Delete(rec);
    rec = route("explain how tides work", dec, sizeof dec);
    assert_false(matched(signal_of(rec, "DIFFUSION")));
    assert_string_equal(str(signal_of(rec, "DIFFUSION"), "label"), "AR");
    cJSON_Delete(rec);
}

/* A stalled modality classifier falls back to the keywords, which see the
 * image request, and says why; the stalled score classifier (no heuristic)
 * reports its timeout. Both end at the one request deadline. */
static void test_stalled_classifiers_time_out_and_fall_back(void **state)
{
    char dec[64];
    cJSON *rec = route("please draw me a picture of a lighthouse", dec, sizeof dec);
    assert_string_equal(dec, "others");
    const cJSON *m = signal_of(rec, "image_slow");
    assert_true(matched(m));
    assert_string_equal(str(m, "label"), "DIFFUSION");
    assert_string_equal(str(m, "fallback"), "classifier_timeout");
    const cJSON *s = signal_of(rec, "slow_score");
    assert_false(matched(s));
    assert_string_equal(str(s, "error"), "classifier_timeout");
    cJSON_Delete(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pooling_and_score_classifiers_catch_what_patterns_miss),
        cmocka_unit_test(test_modality_rule_takes_classifier_label),
        cmocka_unit_test(test_stalled_classifiers_time_out_and_fall_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
