/* test_backend_health.c - the real tether binary with `tether mock`
 * backends and a dead port: passive outlier ejection (a backend that fails
 * consecutive_failures times in a row is ejected and skipped by the round
 * robin; the metric counts it; GET /backends on the management listener
 * shows it), active health checks (a backend whose health path fails is
 * taken out: its model, asked for by name, answers 503 without an attempt) and
 * lb_policy least_request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport, gport, dead;
static char cfg_path[256];

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    dead = tsupport_free_port(); /* nothing listens there */
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-health-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners: [{address: 127.0.0.1, port: %d}]\n"
            "providers:\n  defaults: {default_model: flaky}\n  models:\n"
            "    - name: flaky\n"
            "      reliability: {retry_count: 2, consecutive_failures: 2, ejection_time: 1h}\n"
            "      backend_refs:\n"
            "        - {name: dead, endpoint: \"127.0.0.1:%d\"}\n"
            "        - {name: alive, endpoint: \"127.0.0.1:%d\"}\n"
            "    - name: checked\n"
            "      reliability: {health_check: {path: /no-such-health, interval: 100ms, "
            "timeout: 1s}}\n"
            "      backend_refs: [{name: probed, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: healthy\n"
            "      reliability: {health_check: {path: /health, interval: 100ms}}\n"
            "      backend_refs: [{name: fine, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: lr\n"
            "      reliability: {lb_policy: least_request}\n"
            "      backend_refs: [{name: l1, endpoint: \"127.0.0.1:%d\"}, "
            "{name: l2, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: priced\n"
            "      pricing: {currency: EUR, prompt_per_1m: 1000000, cached_input_per_1m: 500000, "
            "completion_per_1m: 2000000}\n"
            "      backend_refs: [{name: pb, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: flaky}, {name: checked}, {name: healthy}, "
            "{name: lr}, {name: priced, context_window_size: 128K, param_size: 8B, "
            "modality: text, tags: [cheap], loras: [sql-lora]}]\n"
            "  decisions: [{name: all, modelRefs: [{model: priced, lora_name: sql-lora}]}]\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            rport, dead, mport, mport, mport, mport, mport, mport, gport);
    fclose(f);
    return tstack_serve_n(&router, cfg_path, 2, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 10000);
    unlink(cfg_path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int chat(const char *model)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                           strlen(body), &r);
    int st = rc == 0 ? r.status : -1;
    thttp_resp_free(&r);
    return st;
}

static char *get(int port, const char *path)
{
    thttp_resp_t r;
    char *out = NULL;
    if (thttp_request("127.0.0.1", port, "GET", path, NULL, NULL, 0, &r) == 0 && r.status == 200)
        out = strdup(r.body);
    thttp_resp_free(&r);
    return out;
}

/* The backend's entry in GET /backends, or NULL. */
static cJSON *backend(cJSON **root, const char *name)
{
    char *b = get(gport, "/backends");
    assert_non_null(b);
    *root = cJSON_Parse(b);
    free(b);
    assert_non_null(*root);
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(*root, "backends"))
    {
        if (!strcmp(cJSON_GetObjectItem(it, "backend")->valuestring, name)) return it;
    }
    return NULL;
}

/* Prometheus sample value of the line starting with prefix, or -1. */
static double metric(const char *prefix)
{
    char *m = get(gport, "/metrics");
    assert_non_null(m);
    double v = -1;
    for (char *ln = m; ln && *ln;) {
        char *nl = strchr(ln, '\n');
        if (nl) *nl = 0;
        if (!strncmp(ln, prefix, strlen(prefix))) v = strtod(strrchr(ln, ' ') + 1, NULL);
        ln = nl ? nl + 1 : NULL;
    }
    free(m);
    return v;
}

static void test_failing_backend_is_ejected_and_skipped(void **state)
{
    /* every request succeeds: the dead backend's failures are retried on alive */
    for (int i = 0; i < 8; i++)
        assert_int_equal(chat("flaky"), 200);
    /* two connect failures ejected it; after that the round robin skips it */
    assert_int_equal(
        (int)metric("tether_upstream_requests_total{model=\"flaky\",backend=\"dead\",status="), 2);
    assert_int_equal(
        (int)metric("tether_backend_ejections_total{model=\"flaky\",backend=\"dead\"}"), 1);
    assert_int_equal((int)metric("tether_backend_up{model=\"flaky\",backend=\"dead\"}"), 0);
    cJSON *root;
    cJSON *b = backend(&root, "dead");
    assert_non_null(b);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "ejected")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(b, "up")));
    assert_true(cJSON_GetObjectItem(b, "ejected_for_ms")->valuedouble > 60000);
    cJSON_Delete(root);
    b = backend(&root, "alive");
    assert_non_null(b);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "up")));
    cJSON_Delete(root);
}

static void test_failing_health_check_takes_the_backend_out(void **state)
{
    /* the checker probes every 100 ms; wait (bounded) for the first verdicts */
    bool out = false, in = false;
    for (int i = 0; i < 400 && !(out && in); i++) {
        cJSON *root;
        cJSON *b = backend(&root, "probed");
        out = b && cJSON_IsTrue(cJSON_GetObjectItem(b, "health_check_failing"));
        cJSON_Delete(root);
        b = backend(&root, "fine");
        in = b && cJSON_IsFalse(cJSON_GetObjectItem(b, "health_check_failing"));
        cJSON_Delete(root);
        if (!(out && in)) usleep(50 * 1000);
    }
    assert_true(out);
    assert_true(in);
    assert_int_equal(chat("healthy"), 200);
    /* the only backend of "checked" is out: the model asked for by name is
     * unavailable (503, no attempt) */
    assert_int_equal(chat("checked"), 503);
    assert_true(metric("tether_upstream_requests_total{model=\"checked\"") < 0);
}

/* Wait (bounded) until backend name has no request in flight: a reply
 * reaches the client a moment before the proxy lets go of its backend. */
static void wait_idle(const char *name)
{
    for (int i = 0; i < 2000; i++) {
        cJSON *root;
        cJSON *b = backend(&root, name);
        cJSON *n = b ? cJSON_GetObjectItem(b, "inflight") : NULL;
        bool idle = n && n->valuedouble == 0;
        cJSON_Delete(root);
        if (idle) return;
        usleep(10 * 1000);
    }
}

static void test_least_request_serves_every_backend(void **state)
{
    for (int i = 0; i < 4; i++) {
        assert_int_equal(chat("lr"), 200);
        wait_idle("l1");
        wait_idle("l2");
    }
    /* sequential requests: both backends idle each time, the first wins ties */
    assert_true(metric("tether_upstream_requests_total{model=\"lr\",backend=\"l1\"") >= 4);
}

/* tether_cost_total counts what the backend reported, at the model's prices
 * (1 EUR a prompt token, 0.5 a cached one, 2 a completion token here). */
static void test_cost_metric_counts_real_usage(void **state)
{
    /* chat replies name their protocol like every other endpoint (docs/api.md) */
    static const char body[] = "{\"model\":\"priced\",\"messages\":[{\"role\":\"user\","
                               "\"content\":\"hi\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body,
                                   strlen(body), &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(thttp_resp_header(&r, "x-tether-protocol"));
    assert_string_equal(thttp_resp_header(&r, "x-tether-protocol"), "openai->openai");
    thttp_resp_free(&r);
    assert_int_equal(chat("priced"), 200);
    assert_int_equal(chat("priced"), 200);
    /* the counters of a request are updated after its reply is sent: read
     * them until the three requests are all counted (or give up) */
    double pt = 0, ct = 0, comp = 0, want = -1, cost = -2;
    for (int i = 0; i < 1000 && cost != want; i++) {
        if (i) usleep(20000);
        pt = metric("tether_tokens_total{model=\"priced\",kind=\"prompt\"}");
        ct = metric("tether_tokens_total{model=\"priced\",kind=\"cached\"}");
        comp = metric("tether_tokens_total{model=\"priced\",kind=\"completion\"}");
        if (ct < 0) ct = 0;
        want = (pt - ct) * 1 + ct * 0.5 + comp * 2;
        cost = metric("tether_cost_total{model=\"priced\",currency=\"EUR\"}");
    }
    assert_true(pt > 0 && comp > 0);
    assert_true(cost == want);
}

static cJSON *mock_by_model(void)
{
    char *b = get(mport, "/mock/stats");
    assert_non_null(b);
    cJSON *j = cJSON_Parse(b);
    free(b);
    assert_non_null(j);
    return j;
}

/* A modelRef's lora_name is the model the backend is asked for; the card's
 * facts are listed by GET /v1/models. */
static void test_lora_name_and_model_card_facts(void **state)
{
    cJSON *j = mock_by_model();
    cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_model"), "sql-lora");
    int before = n ? n->valueint : 0;
    cJSON_Delete(j);
    assert_int_equal(chat("auto"), 200);
    j = mock_by_model();
    n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_model"), "sql-lora");
    assert_non_null(n);
    assert_int_equal(n->valueint, before + 1);
    cJSON_Delete(j);

    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/v1/models", NULL, NULL, 0, &r), 0);
    j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    assert_non_null(j);
    cJSON *it, *card = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "data"))
    {
        if (!strcmp(cJSON_GetObjectItem(it, "id")->valuestring, "priced"))
            card = cJSON_GetObjectItem(it, "tether");
    }
    assert_non_null(card);
    assert_int_equal(cJSON_GetObjectItem(card, "context_window_size")->valueint, 128000);
    assert_string_equal(cJSON_GetObjectItem(card, "param_size")->valuestring, "8B");
    assert_string_equal(cJSON_GetObjectItem(card, "modality")->valuestring, "text");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(card, "tags"), 0)->valuestring,
                        "cheap");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(card, "loras"), 0)->valuestring,
                        "sql-lora");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_failing_backend_is_ejected_and_skipped),
        cmocka_unit_test(test_failing_health_check_takes_the_backend_out),
        cmocka_unit_test(test_least_request_serves_every_backend),
        cmocka_unit_test(test_cost_metric_counts_real_usage),
        cmocka_unit_test(test_lora_name_and_model_card_facts),
    };
    return cmocka_run_group_tests(t, setup, teardown);
}
