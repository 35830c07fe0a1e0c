/* test_apply_escalation.c - an operator cannot use POST /api/v1/config/apply
 * to read the router's environment or to make itself admin (issue 17,
 * docs/security.md; admin/apply_guard.h). An applied config is loaded with
 * the router's environment: before the guard, an operator could add a
 * management token whose token_env names a variable with a known value
 * (here TETHER_T_KNOWN) and call the admin-only endpoints with it, or put
 * ${VAR} in a model name and read the value back from GET /v1/models.
 * Asserted: both applies are refused with 403 admin_required, the file and
 * the running config do not change, the audit records "forbidden"; an
 * ordinary edit by the operator still applies, and the admin may apply a
 * new reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t router, mock;
static int rport, gport, mport;
static char path[256];

#define KNOWN   "known-value-4471"
#define SECRETV "s3cret-admin-token-7d1f"

static void config_text(char *out, size_t n, const char *model, const char *card,
                        const char *extra_token)
{
    snprintf(out, n,
             "version: v0.3\n"
             "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
             "providers:\n  defaults: {default_model: m}\n  models:\n"
             "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
             "%s"
             "routing:\n  modelCards: [{name: m}%s]\n"
             "global:\n  services:\n    router_replay: {store: memory}\n"
             "    management_api:\n      listen: \"127.0.0.1:%d\"\n"
             "      tokens:\n        - {name: op, token_env: TETHER_T_OP, role: operator}\n"
             "        - {name: root, token_env: TETHER_T_ADMIN, role: admin}\n%s",
             rport, mport, model, card, gport, extra_token);
}

static char *file_text(void)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char b[8192];
    size_t n = fread(b, 1, sizeof b - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

static int setup(void **state)
{
    (void)state;
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&mock, ma, TPROC_QUIET) != 0) return -1;
    mport = tproc_wait_listening(&mock, 10000);
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(path, sizeof path, "/tmp/tether-apply-esc-%d.yaml", (int)getpid());
    char text[4096];
    config_text(text, sizeof text, "", "", "");
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    setenv("TETHER_T_OP", "operator-token", 1);
    setenv("TETHER_T_ADMIN", SECRETV, 1);
    setenv("TETHER_T_KNOWN", KNOWN, 1);
    const char *rv[] = {tproc_tether_bin(), "serve", "--config", path, "--workers", "1", NULL};
    if (tproc_spawn(&router, rv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int call(int port, const char *method, const char *p, const char *token, const char *body,
                thttp_resp_t *r)
{
    char h[128] = "";
    if (token) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
    return thttp_request("127.0.0.1", port, method, p, h, body, body ? strlen(body) : 0, r);
}

static void refused(const char *text)
{
    char before[8192];
    snprintf(before, sizeof before, "%s", file_text());
    thttp_resp_t r;
    assert_int_equal(call(gport, "POST", "/api/v1/config/apply", "operator-token", text, &r), 0);
    if (r.status != 403 || !strstr(r.body, "admin_required")) fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_string_equal(file_text(), before);
}

static void test_operator_cannot_escalate_through_apply(void **state)
{
    (void)state;
    char text[4096];
    thttp_resp_t r;
    /* a token from a variable with a known value */
    config_text(text, sizeof text, "", "",
                "        - {name: me, token_env: TETHER_T_KNOWN, role: admin}\n");
    refused(text);
    assert_int_equal(call(gport, "GET", "/api/v1/config/source", KNOWN, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
    /* the admin token read back through a model name */
    config_text(text, sizeof text,
                "    - name: \"${TETHER_T_ADMIN}\"\n      backend_refs: [{name: b2, endpoint: "
                "\"127.0.0.1:1\"}]\n",
                ", {name: \"${TETHER_T_ADMIN}\"}", "");
    refused(text);
    assert_int_equal(call(rport, "GET", "/v1/models", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, SECRETV));
    thttp_resp_free(&r);
    assert_int_equal(call(gport, "GET", "/api/v1/config/audit", "operator-token", NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"by\":\"op\",\"role\":\"operator\",\"result\":\"forbidden\""));
    thttp_resp_free(&r);
    /* an ordinary edit by the operator applies */
    config_text(text, sizeof text,
                "    - name: m2\n      backend_refs: [{name: b2, endpoint: \"127.0.0.1:1\"}]\n",
                ", {name: m2}", "");
    assert_int_equal(call(gport, "POST", "/api/v1/config/apply", "operator-token", text, &r), 0);
    if (r.status != 200 || !strstr(r.body, "\"result\":\"applied\""))
        fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    /* the admin may add a reference */
    config_text(text, sizeof text, "", "",
                "        - {name: me, token_env: TETHER_T_KNOWN, role: viewer}\n");
    assert_int_equal(call(gport, "POST", "/api/v1/config/apply", SECRETV, text, &r), 0);
    if (r.status != 200 || !strstr(r.body, "\"result\":\"applied\""))
        fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_int_equal(call(gport, "GET", "/config", KNOWN, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operator_cannot_escalate_through_apply),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
