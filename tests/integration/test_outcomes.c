/* test_outcomes.c - POST /v1/router/outcomes on the real binary (issue 19):
 * bad bodies get 400/422 in the management API's error shape, a viewer is
 * refused; failures of a model give it a negative learned quality (action
 * "rescue", x-tether-learning-* headers), successes a positive one
 * ("hold"), always within outcome_quality_bound; the routing trace of
 * POST /api/v1/eval shows the learned term on the candidate; and the
 * learned state is written to learned_state_file and restored by a new
 * process; a session's outcome (session_id) lands on the model and decision
 * it last ran on; the elo selector's ratings moved by POST
 * /v1/router/feedback are in the file too and a new process selects with
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport, gport;
static char dir[128], cfg_path[256], learned_path[256];

static int start_router(void)
{
    return tstack_serve_n(&router, cfg_path, 1, 10000) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(dir, sizeof dir, "/tmp/tether-outcomes-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) return -1;
    snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", dir);
    snprintf(learned_path, sizeof learned_path, "%s/learned.tsv", dir);
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: cheap}\n  models:\n"
            "    - name: cheap\n      pricing: {prompt_per_1m: 0.1, completion_per_1m: 0.2}\n"
            "      backend_refs: [{name: c1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: big\n      pricing: {prompt_per_1m: 5, completion_per_1m: 15}\n"
            "      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: cheap, quality_score: 0.6}, "
            "{name: big, quality_score: 0.9}]\n"
            "  signals:\n    keywords: [{name: code_terms, keywords: [code]}, "
            "{name: review_terms, keywords: [review]}]\n"
            "  decisions:\n    - name: coding\n"
            "      rules: {operator: OR, conditions: [{type: keyword, name: code_terms}]}\n"
            "      modelRefs: [{model: cheap}, {model: big}]\n"
            "    - name: review\n"
            "      rules: {operator: OR, conditions: [{type: keyword, name: review_terms}]}\n"
            "      modelRefs: [{model: cheap}, {model: big}]\n"
            "      algorithm: {type: elo}\n"
            "global:\n  router:\n    session: {learned_state_file: \"%s\", "
            "outcome_quality_bound: 0.05, outcome_prior_weight: 10}\n"
            "  services:\n    router_replay: {store: memory}\n    management_api:\n      listen: "
            "\"127.0.0.1:%d\"\n"
            "      tokens:\n        - {name: ro, token_env: OUT_TEST_VIEWER, role: viewer}\n"
            "        - {name: op, token_env: OUT_TEST_OPERATOR, role: operator}\n",
            rport, mport, mport, learned_path, gport);
    fclose(f);
    setenv("OUT_TEST_VIEWER", "viewer-token", 1);
    setenv("OUT_TEST_OPERATOR", "operator-token", 1);
    return start_router();
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(learned_path);
    unlink(cfg_path);
    rmdir(dir);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static cJSON *post(const char *path, const char *token, const char *body, int want,
                   thttp_resp_t *keep)
{
    char h[128] = "";
    if (token) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", path, h, body, strlen(body), &r), 0);
    if (r.status != want) fail_msg("%s %s: %d %s", path, body, r.status, r.body);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    if (keep)
        *keep = r;
    else
        thttp_resp_free(&r);
    return j;
}

static const char *str(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(j, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(j, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_bad_bodies_and_roles(void **state)
{
    (void)state;
    const char *op = "operator-token";
    cJSON *j = post("/v1/router/outcomes", op, "{nope", 400, NULL);
    assert_non_null(cJSON_GetObjectItem(j, "error"));
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", op, "{\"model\":\"big\",\"outcome\":\"maybe\"}", 400, NULL);
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", op, "{\"model\":\"big\",\"task_result\":1.5}", 400, NULL);
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", op, "{\"outcome\":\"success\"}", 400, NULL);
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", op, "{\"model\":\"nosuch\",\"outcome\":\"success\"}", 422,
             NULL);
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", "viewer-token", "{\"model\":\"big\",\"outcome\":\"success\"}",
             403, NULL);
    cJSON_Delete(j);
}

/* failures: negative, bounded, "rescue"; then the eval trace shows it */
static void test_failures_rescue_and_trace(void **state)
{
    (void)state;
    double last = 0;
    for (int i = 0; i < 30; i++) {
        thttp_resp_t r;
        cJSON *j =
            post("/v1/router/outcomes", "operator-token",
                 "{\"model\":\"big\",\"decision\":\"coding\",\"outcome\":\"failure\"}", 202, &r);
        assert_string_equal(str(j, "action"), "rescue");
        assert_string_equal(str(j, "scope"), "decision");
        double adj = num(j, "learned_quality");
        assert_true(adj < 0 && adj >= -0.05);
        assert_true(adj <= last); /* more evidence, larger in size */
        last = adj;
        assert_string_equal(thttp_resp_header(&r, "x-tether-learning-action"), "rescue");
        assert_true(fabs(atof(thttp_resp_header(&r, "x-tether-learning-adjustment")) - adj) < 1e-5);
        thttp_resp_free(&r);
        cJSON_Delete(j);
    }
    /* 30 failures against a prior weight of 10: -0.05 * 30 / (30 + 10) */
    assert_true(fabs(last + 0.05 * 30 / 40) < 1e-5);
    /* the eval trace carries the learned term on big, none on cheap */
    thttp_resp_t r;
    const char *body = "{\"request\":{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"fix my code\"}]}}";
    cJSON *j = post("/api/v1/eval", "operator-token", body, 200, &r);
    thttp_resp_free(&r);
    bool saw_big = false;
    char *s = cJSON_PrintUnformatted(j);
    /* the candidates array, wherever the trace keeps it */
    const char *at = strstr(s, "\"candidates\":[");
    assert_non_null(at);
    cJSON *arr = cJSON_ParseWithOpts(at + strlen("\"candidates\":"), NULL, false);
    assert_non_null(arr);
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const cJSON *lq = cJSON_GetObjectItem(c, "learned_quality");
        assert_true(cJSON_IsNumber(lq));
        if (!strcmp(str(c, "model"), "big")) {
            saw_big = true;
            assert_true(fabs(lq->valuedouble - last) < 1e-4);
        } else {
            assert_true(fabs(lq->valuedouble) < 1e-12);
        }
    }
    assert_true(saw_big);
    cJSON_Delete(arr);
    free(s);
    cJSON_Delete(j);
}

/* successes of cheap: positive, "hold"; task_result and feedback count */
static void test_successes_hold(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"model\":\"cheap\",\"outcome\":\"success\"}",
                            "{\"model\":\"cheap\",\"feedback\":\"thumbs_up\"}",
                            "{\"model\":\"cheap\",\"task_result\":0.9}"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *j = post("/v1/router/outcomes", "operator-token", bodies[i], 202, NULL);
        assert_string_equal(str(j, "action"), "hold");
        assert_string_equal(str(j, "scope"), "model");
        assert_true(num(j, "learned_quality") > 0 && num(j, "learned_quality") <= 0.05);
        cJSON_Delete(j);
    }
}

/* a session's outcome: the model and decision it last ran on */
static void test_session_outcome(void **state)
{
    (void)state;
    const char *chat = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"fix my code\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                                   "x-session-id: sess-outcome-1\r\n", chat, strlen(chat), &r),
                     0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    cJSON *j = post("/v1/router/outcomes", "operator-token",
                    "{\"session_id\":\"sess-outcome-1\",\"task_result\":true}", 202, NULL);
    assert_string_equal(str(j, "decision"), "coding");
    assert_true(!strcmp(str(j, "model"), "cheap") || !strcmp(str(j, "model"), "big"));
    cJSON_Delete(j);
    j = post("/v1/router/outcomes", "operator-token",
             "{\"session_id\":\"no-such-session\",\"outcome\":\"success\"}", 404, NULL);
    cJSON_Delete(j);
}

/* the snapshot file holds it; a new process starts from it */
static void test_persisted_across_restart(void **state)
{
    (void)state;
    FILE *f = fopen(learned_path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "tether-learned v1\n"));
    assert_non_null(strstr(buf, "outcome\tcoding\tbig\t"));
    assert_non_null(strstr(buf, "outcome\t*\tcheap\t"));
    int st = tproc_stop(&router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(start_router(), 0);
    cJSON *j =
        post("/v1/router/outcomes", "operator-token",
             "{\"model\":\"big\",\"decision\":\"coding\",\"outcome\":\"failure\"}", 202, NULL);
    /* 30 failures restored, plus this one */
    assert_true(fabs(num(j, "bad") - 31) < 1e-9);
    cJSON_Delete(j);
}

/* big's elo selection score in the routing trace (the review decision) */
static double elo_big(void)
{
    cJSON *j = post("/api/v1/eval", "operator-token",
                    "{\"request\":{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                    "\"content\":\"review this\"}]}}",
                    200, NULL);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    const char *at = strstr(s, "\"selection\":");
    assert_non_null(at);
    at = strstr(at, "\"big\":");
    assert_non_null(at);
    double v = atof(at + strlen("\"big\":"));
    free(s);
    return v;
}

/* elo feedback rewrites the file; a new process selects with the ratings */
static void test_elo_ratings_persisted_across_restart(void **state)
{
    (void)state;
    const double r0 = 1.0 / (1.0 + pow(10.0, (1600.0 - 1900.0) / 400.0)); /* from the cards */
    assert_true(fabs(elo_big() - r0) < 1e-5);
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"review this\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *id = thttp_resp_header(&r, "x-tether-replay-id");
    assert_non_null(id);
    char fb[256];
    snprintf(fb, sizeof fb, "{\"replay_id\":\"%s\",\"outcome\":\"bad\"}", id);
    thttp_resp_free(&r);
    int status = 0;
    for (int i = 0; i < 200 && status != 202; i++) { /* the replay queue writes the record */
        thttp_resp_t f;
        assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/v1/router/feedback",
                                       "Authorization: Bearer operator-token\r\n", fb, strlen(fb),
                                       &f),
                         0);
        status = f.status;
        thttp_resp_free(&f);
        if (status != 202) usleep(50000);
    }
    assert_int_equal(status, 202);
    const double moved = elo_big();
    assert_true(fabs(moved - r0) > 1e-3);
    FILE *f = fopen(learned_path, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "\nelo\treview\t"));
    int st = tproc_stop(&router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(start_router(), 0);
    assert_true(fabs(elo_big() - moved) < 1e-5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_bodies_and_roles),
        cmocka_unit_test(test_failures_rescue_and_trace),
        cmocka_unit_test(test_successes_hold),
        cmocka_unit_test(test_session_outcome),
        cmocka_unit_test(test_persisted_across_restart),
        cmocka_unit_test(test_elo_ratings_persisted_across_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
