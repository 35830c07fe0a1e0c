/* test_mgmt.c - the management listener: anonymous health, role-checked
 * metrics / config / reload with bearer tokens, redacted config, and a
 * Prometheus exposition that `promtool check metrics` accepts, carrying the
 * counters of the traffic just sent. Config validation by an operator
 * discloses no environment value (the admin token), and a denied request
 * cannot forge log fields. The router's stderr is captured to check both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport, gport;
static char path[256], errpath[300];

#define MARKER     "zq-mgmt-marker-5e1"
#define NUM_MARKER "8765432"

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(path, sizeof path, "/tmp/tether-mgmt-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: \"${MGMT_TEST_HOST}\", port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\", "
            "api_key_env: MGMT_TEST_BACKEND_KEY}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n  services:\n    management_api:\n      listen: \"127.0.0.1:%d\"\n"
            "      tokens:\n        - {name: ro, token_env: MGMT_TEST_VIEWER, role: viewer}\n"
            "        - {name: op, token_env: MGMT_TEST_OPERATOR, role: operator}\n"
            "        - {name: root, token_env: MGMT_TEST_ADMIN, role: admin}\n",
            rport, mport, gport);
    fclose(f);
    setenv("MGMT_TEST_VIEWER", "viewer-token", 1);
    setenv("MGMT_TEST_OPERATOR", "operator-token", 1);
    setenv("MGMT_TEST_ADMIN", "admin-token", 1);
    setenv("MGMT_TEST_BACKEND_KEY", "sk-very-secret-backend-key", 1);
    setenv("MGMT_TEST_HOST", "127.0.0.1", 1);
    setenv("MGMT_TEST_MARKER", MARKER, 1);
    setenv("MGMT_TEST_NUM", NUM_MARKER, 1);
    /* the router's stderr (its log) goes to a file the tests read */
    snprintf(errpath, sizeof errpath, "%s.stderr", path);
    if (tstack_serve_logged(&router, path, 1, errpath) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

/* The router's log so far (malloc'd). */
static char *router_log(void)
{
    FILE *f = fopen(errpath, "rb");
    assert_non_null(f);
    buf_t b = BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return buf_steal(&b);
}

/* No secret of the environment anywhere in s. */
static void assert_no_secret(const char *what, const char *s)
{
    static const char *const secrets[] = {"admin-token", "operator-token",
                                          "sk-very-secret-backend-key", MARKER, NUM_MARKER};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        if (strstr(s, secrets[i])) fail_msg("%s shows \"%s\":\n%s", what, secrets[i], s);
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    char *log = router_log();
    /* the log replaces the inherited stderr: show what a sanitizer said */
    bool sanitizer = strstr(log, "Sanitizer") || strstr(log, "runtime error:");
    if (sanitizer || getenv("TETHER_TEST_VERBOSE")) fputs(log, stderr);
    free(log);
    unlink(path);
    unlink(errpath);
    if (sanitizer) return -1;
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
    /* a value from the environment is shown as written, not expanded */
    assert_non_null(strstr(r.body, "\"address\": \"${MGMT_TEST_HOST}\""));
    thttp_resp_free(&r);
}

/* An operator posts a config that puts environment variables (the admin
 * token among them) where a check reports the value: an integer, a port out
 * of range, an enum, a list item, a reference, an endpoint, a listener name
 * (in the path), a *_env. The response and the router's log show none. */
static void test_validate_never_discloses_the_environment(void **state)
{
    const char *y =
        "version: v0.3\n"
        "listeners:\n"
        "  - {name: \"${MGMT_TEST_ADMIN}\", port: \"${MGMT_TEST_ADMIN}\"}\n"
        "  - {name: b, port: \"${MGMT_TEST_NUM}\"}\n"
        "providers:\n"
        "  defaults: {default_model: \"${MGMT_TEST_ADMIN}\"}\n"
        "  models:\n"
        "    - name: m\n"
        "      reliability: {retry_on: [reset, \"${MGMT_TEST_MARKER}\"]}\n"
        "      backend_refs: [{name: b1, endpoint: \"${MGMT_TEST_MARKER}\", api_key_env: "
        "MGMT_TEST_ADMIN}]\n"
        "routing:\n  modelCards: [{name: m}]\n"
        "global:\n"
        "  services:\n    logging: {level: \"${MGMT_TEST_ADMIN}\"}\n"
        "    management_api: {tokens: [{name: t, token_env: MGMT_TEST_ADMIN, role: "
        "\"${MGMT_TEST_ADMIN}\"}]}\n";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/config/validate",
                                   "Authorization: Bearer operator-token\r\n", y, strlen(y), &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_no_secret("the validate response", r.body);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "valid")));
    /* the values were not checked against the environment, and it says so */
    const cJSON *w = cJSON_GetObjectItem(j, "warnings");
    assert_true(cJSON_GetArraySize(w) >= 5);
    assert_non_null(strstr(r.body, "got \\\"${MGMT_TEST_ADMIN}\\\" (not checked: the value comes "
                                   "from the environment"));
    cJSON_Delete(j);
    thttp_resp_free(&r);
    /* the same with a literal error beside them: still reported as one */
    char bad[2048];
    snprintf(bad, sizeof bad, "%s  router: {session: {enabled: maybe}}\n", y);
    assert_int_equal(thttp_request("127.0.0.1", gport, "POST", "/config/validate",
                                   "Authorization: Bearer operator-token\r\n", bad, strlen(bad),
                                   &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_no_secret("the validate response", r.body);
    assert_non_null(strstr(r.body, "\"valid\":false"));
    assert_non_null(strstr(r.body, "expected a boolean (true or false), got \\\"maybe\\\""));
    thttp_resp_free(&r);
    char *log = router_log();
    assert_no_secret("the router's log", log);
    free(log);
}

/* The last line of the router's log that holds needle, parsed (or NULL). */
static cJSON *log_line_with(const char *needle, int *count)
{
    char *log = router_log();
    cJSON *found = NULL;
    *count = 0;
    for (char *line = log, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        if (!strstr(line, needle)) continue;
        (*count)++;
        cJSON_Delete(found);
        found = cJSON_Parse(line);
        if (!found) fail_msg("not a JSON line: %s", line);
    }
    free(log);
    return found;
}

/* A request without a token whose path tries to close the JSON string and
 * add fields: the denial is logged as one valid line whose path field holds
 * the raw text, and no forged field appears. */
static void test_denied_path_cannot_forge_log_fields(void **state)
{
    static const char *const paths[] = {
        "/v1/router_replay/\",\"level\":\"error\",\"x\":\"\t\f\\\xff-forge-1",
        /* without control bytes, in case the HTTP parser refuses them */
        "/v1/router_replay/\",\"level\":\"error\",\"x\":\"\\-forge-2",
    };
    static const char *const want[] = {
        "/v1/router_replay/\",\"level\":\"error\",\"x\":\"\t\f\\\xef\xbf\xbd-forge-1",
        "/v1/router_replay/\",\"level\":\"error\",\"x\":\"\\-forge-2",
    };
    int logged = 0;
    for (int i = 0; i < 2; i++) {
        thttp_resp_t r;
        assert_int_equal(thttp_request("127.0.0.1", gport, "GET", paths[i], NULL, NULL, 0, &r), 0);
        int status = r.status;
        thttp_resp_free(&r);
        if (i == 0 && status == 400) continue; /* refused before routing: nothing logged */
        assert_int_equal(status, 401);
        int count;
        cJSON *j = log_line_with(i ? "forge-2" : "forge-1", &count);
        assert_non_null(j);
        assert_int_equal(count, 1);
        assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "mgmt_denied");
        assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
        assert_string_equal(cJSON_GetObjectItem(j, "path")->valuestring, want[i]);
        assert_null(cJSON_GetObjectItem(j, "x"));
        assert_int_equal(cJSON_GetArraySize(j), 6); /* ts level event path needs has */
        cJSON_Delete(j);
        logged++;
    }
    assert_true(logged >= 1);
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
        cmocka_unit_test(test_validate_never_discloses_the_environment),
        cmocka_unit_test(test_denied_path_cannot_forge_log_fields),
        cmocka_unit_test(test_reload_needs_admin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
