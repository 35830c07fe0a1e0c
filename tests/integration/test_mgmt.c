/* test_mgmt.c - the management listener: anonymous health, role-checked
 * metrics / config / reload with bearer tokens, redacted config, and a
 * Prometheus exposition that `promtool check metrics` accepts, carrying the
 * counters of the traffic just sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport, gport;
static char path[256];

static int setup(void **state)
{
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&mock, ma, TPROC_QUIET) != 0) return -1;
    mport = tproc_wait_listening(&mock, 10000);
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(path, sizeof path, "/tmp/tether-mgmt-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\", "
            "api_key_env: MGMT_TEST_BACKEND_KEY}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n  services:\n    management_api:\n      listen: \"127.0.0.1:%d\"\n"
            "      tokens:\n        - {name: ro, token_env: MGMT_TEST_VIEWER, role: viewer}\n"
            "        - {name: root, token_env: MGMT_TEST_ADMIN, role: admin}\n",
            rport, mport, gport);
    fclose(f);
    setenv("MGMT_TEST_VIEWER", "viewer-token", 1);
    setenv("MGMT_TEST_ADMIN", "admin-token", 1);
    setenv("MGMT_TEST_BACKEND_KEY", "sk-very-secret-backend-key", 1);
    const char *rv[] = {tproc_tether_bin(), "serve", "--config", path, "--workers", "1", NULL};
    if (tproc_spawn(&router, rv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int get(const char *p, const char *token, thttp_resp_t *r)
{
    char h[128] = "";
    if (token) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
    return thttp_request("127.0.0.1", gport, "GET", p, h, NULL, 0, r);
}

static void test_health_is_anonymous_and_metrics_need_a_token(void **state)
{
    thttp_resp_t r;
    assert_int_equal(get("/health", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_int_equal(get("/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
    assert_int_equal(get("/metrics", "wrong-token", &r), 0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
    assert_int_equal(get("/nope", "viewer-token", &r), 0);
    assert_int_equal(r.status, 404);
    thttp_resp_free(&r);
}

static void test_metrics_count_traffic_and_pass_promtool(void **state)
{
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL,
                                       body, strlen(body), &r),
                         0);
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
    }
    assert_int_equal(
        thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, "{bad", 4, &r), 0);
    assert_int_equal(r.status, 400);
    thttp_resp_free(&r);
    assert_int_equal(get("/metrics", "viewer-token", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(
        r.body,
        "tether_requests_total{endpoint=\"chat\",status=\"200\",client_protocol=\"openai\"} 3"));
    assert_non_null(
        strstr(r.body, "tether_request_errors_total{endpoint=\"chat\",code=\"invalid_json\"} 1"));
    assert_non_null(strstr(
        r.body, "tether_upstream_requests_total{model=\"m\",backend=\"b1\",status=\"200\"} 3"));
    assert_non_null(strstr(r.body, "tether_request_duration_seconds_count{endpoint=\"chat\"} 3"));
    assert_non_null(strstr(r.body, "tether_build_info{version="));
    char mpath[300];
    snprintf(mpath, sizeof mpath, "%s.metrics", path);
    FILE *f = fopen(mpath, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    thttp_resp_free(&r);
    if (access("/usr/bin/promtool", X_OK) != 0) {
        unlink(mpath);
        fail_msg("promtool is not installed (scripts/deps.sh installs the prometheus package)");
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s > /dev/null 2>&1", mpath);
    int rc = system(cmd);
    unlink(mpath);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

static void test_config_is_redacted(void **state)
{
    thttp_resp_t r;
    assert_int_equal(get("/config", "viewer-token", &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "sk-very-secret-backend-key"));
    assert_null(strstr(r.body, "admin-token"));
    assert_non_null(strstr(r.body, "\"generation\":1"));
    thttp_resp_free(&r);
}

static void test_reload_needs_admin(void **state)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/config/reload",
                                   "Authorization: Bearer viewer-token\r\n", "", 0, &r),
                     0);
    assert_int_equal(r.status, 403);
    thttp_resp_free(&r);
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/config/reload",
                                   "Authorization: Bearer admin-token\r\n", "", 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"result\":\"applied\""));
    thttp_resp_free(&r);
    /* validate: operator role (admin includes it) */
    const char *bad = "version: v0.2\n";
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/config/validate",
                                   "Authorization: Bearer admin-token\r\n", bad, strlen(bad), &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"valid\":false"));
    assert_non_null(strstr(r.body, "migrate"));
    thttp_resp_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_is_anonymous_and_metrics_need_a_token),
        cmocka_unit_test(test_metrics_count_traffic_and_pass_promtool),
        cmocka_unit_test(test_config_is_redacted),
        cmocka_unit_test(test_reload_needs_admin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
