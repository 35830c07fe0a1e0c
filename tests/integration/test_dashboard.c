/* test_dashboard.c - the dashboard on the management listener: / and
 * /dashboard redirect to /dashboard/, the embedded files are served with
 * their types and a strict CSP, unknown files and path tricks answer 404,
 * whoami reports the role of the presented token, the status endpoint and
 * the APIs the pages call keep their roles (a viewer cannot evaluate,
 * validate, apply or reload), applying a config edit (validated, reloaded
 * atomically, restored when the reload rejects it, audited), and
 * `dashboard: false` (applied by a reload) turns
 * every dashboard path into 404 while the API keeps answering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, rport, gport;
static char path[256];

/* The config text; extra goes under routing (decisions). */
static void config_text(char *out, size_t n, const char *dashboard_line, const char *extra,
                        const char *port)
{
    snprintf(out, n,
             "version: v0.3\n"
             "listeners:\n  - {name: main, address: 127.0.0.1, port: %s}\n"
             "providers:\n  defaults: {default_model: m}\n  models:\n"
             "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
             "routing:\n  modelCards: [{name: m}]\n%s"
             "global:\n  services:\n    router_replay: {store: memory}\n"
             "    management_api:\n      listen: \"127.0.0.1:%d\"\n%s"
             "      tokens:\n        - {name: ro, token_env: DASH_T_VIEWER, role: viewer}\n"
             "        - {name: op, token_env: DASH_T_OPERATOR, role: operator}\n"
             "        - {name: root, token_env: DASH_T_ADMIN, role: admin}\n",
             port, mport, extra, gport, dashboard_line);
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

/* The routing the router starts with: a fast_response decision for
 * prompts with "zq-block", and a catch-all. */
#define BASE_ROUTING                                                                               \
    "  signals:\n    keywords: [{name: blockme, keywords: [zq-block]}]\n"                          \
    "  decisions:\n    - name: blocked\n      priority: 100\n"                                     \
    "      rules: {type: keyword, name: blockme}\n      modelRefs: [{model: m}]\n"                 \
    "      plugins: [{type: fast_response, configuration: {message: \"Blocked here.\"}}]\n"        \
    "    - {name: rest, priority: 1, modelRefs: [{model: m}]}\n"

static void write_config(const char *dashboard_line)
{
    char port[16], text[4096];
    snprintf(port, sizeof port, "%d", rport);
    config_text(text, sizeof text, dashboard_line, BASE_ROUTING, port);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(path, sizeof path, "/tmp/tether-dashboard-%d.yaml", (int)getpid());
    write_config(""); /* dashboard is on by default */
    setenv("DASH_T_VIEWER", "viewer-token", 1);
    setenv("DASH_T_OPERATOR", "operator-token", 1);
    setenv("DASH_T_ADMIN", "admin-token", 1);
    return tstack_serve_n(&router, path, 1, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int req(const char *method, const char *p, const char *token, const char *body,
               thttp_resp_t *r)
{
    char h[128] = "";
    if (token) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
    return thttp_request("127.0.0.1", gport, method, p, h, body, body ? strlen(body) : 0, r);
}

static int get_status(const char *p, const char *token)
{
    thttp_resp_t r;
    assert_int_equal(req("GET", p, token, NULL, &r), 0);
    int s = r.status;
    thttp_resp_free(&r);
    return s;
}

static void test_root_and_dashboard_redirect(void **state)
{
    static const char *paths[] = {"/", "/dashboard"};
    for (int i = 0; i < 2; i++) {
        thttp_resp_t r;
        assert_int_equal(req("GET", paths[i], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 302);
        assert_string_equal(thttp_resp_header(&r, "location"), "/dashboard/");
        thttp_resp_free(&r);
    }
}

static void test_assets_are_served_with_types_and_csp(void **state)
{
    thttp_resp_t r;
    assert_int_equal(req("GET", "/dashboard/", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "content-type"), "text/html; charset=utf-8");
    const char *csp = thttp_resp_header(&r, "content-security-policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'self'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_string_equal(thttp_resp_header(&r, "x-content-type-options"), "nosniff");
    assert_non_null(strstr(r.body, "<script type=\"module\" src=\"app.js\">"));
    thttp_resp_free(&r);
    /* the bundle (make dashboard): every page and library in app.js */
    static const char *files[][2] = {{"/dashboard/app.js", "text/javascript; charset=utf-8"},
                                     {"/dashboard/app.css", "text/css; charset=utf-8"},
                                     {"/dashboard/index.html", "text/html; charset=utf-8"}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        assert_int_equal(req("GET", files[i][0], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(thttp_resp_header(&r, "content-type"), files[i][1]);
        assert_true(r.body_len > 100);
        thttp_resp_free(&r);
    }
    /* HEAD answers like GET, without a body */
    assert_int_equal(req("HEAD", "/dashboard/app.js", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_unknown_files_and_path_tricks_are_404(void **state)
{
    static const char *paths[] = {"/dashboard/nope.js",           "/dashboard/../mgmt.c",
                                  "/dashboard/%2e%2e/etc/passwd", "/dashboard//app.js",
                                  "/dashboard/app.js/",           "/dashboardx"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int s = get_status(paths[i], "admin-token");
        if (s != 404) fail_msg("%s answered %d", paths[i], s);
    }
    /* only GET: nothing under /dashboard/ is writable */
    thttp_resp_t r;
    assert_int_equal(req("POST", "/dashboard/app.js", "admin-token", "{}", &r), 0);
    assert_int_equal(r.status, 405);
    thttp_resp_free(&r);
}

static void test_whoami_reports_the_role(void **state)
{
    static const char *cases[][2] = {{NULL, "anonymous"},
                                     {"wrong-token", "anonymous"},
                                     {"viewer-token", "viewer"},
                                     {"operator-token", "operator"},
                                     {"admin-token", "admin"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        thttp_resp_t r;
        assert_int_equal(req("GET", "/api/v1/whoami", cases[i][0], NULL, &r), 0);
        assert_int_equal(r.status, 200);
        char want[64];
        snprintf(want, sizeof want, "\"role\":\"%s\"", cases[i][1]);
        if (!strstr(r.body, want)) fail_msg("%s: %s", cases[i][0] ? cases[i][0] : "-", r.body);
        assert_non_null(strstr(r.body, "\"open\":false"));
        assert_non_null(strstr(r.body, "\"dashboard\":true"));
        /* no token value ever comes back */
        assert_null(strstr(r.body, "-token"));
        thttp_resp_free(&r);
    }
}

static void test_status_and_page_apis_keep_their_roles(void **state)
{
    assert_int_equal(get_status("/api/v1/status", NULL), 401);
    thttp_resp_t r;
    assert_int_equal(req("GET", "/api/v1/status", "viewer-token", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"generation\":1"));
    assert_non_null(strstr(r.body, "\"replay\":{\"enabled\":true"));
    assert_non_null(strstr(r.body, "\"session_store\":{\"shared\":false"));
    thttp_resp_free(&r);
    /* the Overview's history: a first sample is taken at start */
    assert_int_equal(get_status("/api/v1/history", NULL), 401);
    assert_int_equal(req("GET", "/api/v1/history", "viewer-token", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"interval_ms\":10000,\"samples\":[{\"t\":"));
    thttp_resp_free(&r);
    /* what the pages read: viewer */
    assert_int_equal(get_status("/config", "viewer-token"), 200);
    assert_int_equal(get_status("/metrics", "viewer-token"), 200);
    assert_int_equal(get_status("/backends", "viewer-token"), 200);
    assert_int_equal(get_status("/v1/router_replay?limit=5", "viewer-token"), 200);
    assert_int_equal(get_status("/config", NULL), 401);
    /* the DSL view of the running config (registered by serve, from dsl/) */
    assert_int_equal(get_status("/api/v1/config/dsl", NULL), 401);
    assert_int_equal(req("GET", "/api/v1/config/dsl", "viewer-token", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "MODEL m"));
    thttp_resp_free(&r);
    /* what the playground, topology box and editor do: operator */
    const char *ev = "{\"request\":{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}}";
    assert_int_equal(req("POST", "/api/v1/eval", "viewer-token", ev, &r), 0);
    assert_int_equal(r.status, 403);
    thttp_resp_free(&r);
    assert_int_equal(req("POST", "/api/v1/eval", "operator-token", ev, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"model\":\"m\""));
    /* the request as it would go upstream: "auto" rewritten to the model */
    assert_non_null(strstr(r.body, "\"rewritten\":{\"upstream_model\":\"m\",\"ends_here\":false,"
                                   "\"body\":{\"model\":\"m\",\"messages\""));
    thttp_resp_free(&r);
    assert_int_equal(req("POST", "/config/validate", "viewer-token", "version: v0.3\n", &r), 0);
    assert_int_equal(r.status, 403);
    thttp_resp_free(&r);
    assert_int_equal(req("POST", "/config/reload", "operator-token", "", &r), 0);
    assert_int_equal(r.status, 403);
    thttp_resp_free(&r);
}

/* The playground's Messages and Responses modes: eval turns those bodies
 * into the chat IR first; an unknown endpoint or a bad body is a 400. */
static void test_eval_takes_messages_and_responses_bodies(void **state)
{
    static const char *ok[] = {
        "{\"endpoint\":\"messages\",\"request\":{\"model\":\"auto\",\"max_tokens\":9,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}",
        "{\"endpoint\":\"responses\",\"request\":{\"model\":\"auto\",\"input\":\"hi\"}}",
        "{\"endpoint\":\"chat\",\"request\":{\"model\":\"auto\",\"messages\":[{\"role\":"
        "\"user\",\"content\":\"hi\"}]}}"};
    thttp_resp_t r;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(req("POST", "/api/v1/eval", "operator-token", ok[i], &r), 0);
        if (r.status != 200 || !strstr(r.body, "\"model\":\"m\""))
            fail_msg("%s: %d %s", ok[i], r.status, r.body);
        thttp_resp_free(&r);
    }
    static const char *bad[] = {"{\"endpoint\":\"nope\",\"request\":{}}",
                                "{\"endpoint\":\"messages\",\"request\":{\"messages\":5}}",
                                "{\"endpoint\":\"responses\",\"request\":{\"input\":[7]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(req("POST", "/api/v1/eval", "operator-token", bad[i], &r), 0);
        if (r.status != 400 || !strstr(r.body, "invalid_request"))
            fail_msg("%s: %d %s", bad[i], r.status, r.body);
        thttp_resp_free(&r);
    }
}

/* Apply: operator only; an invalid text, one with redacted values, and one
 * the real reload rejects (an unset environment variable, which validation
 * does not read) change nothing, the file included; a valid one runs at
 * once and lands in the audit with the token's name. */
static void test_config_apply_validates_reloads_and_audits(void **state)
{
    char port[16], good[4096], bad[4096], t[8192];
    snprintf(port, sizeof port, "%d", rport);
    const char *dec =
        "  decisions:\n    - {name: applied_here, priority: 5, modelRefs: [{model: m}]}\n";
    config_text(good, sizeof good, "", dec, port);
    char before[8192];
    snprintf(before, sizeof before, "%s", file_text());
    thttp_resp_t r;
    assert_int_equal(req("POST", "/api/v1/config/apply", "viewer-token", good, &r), 0);
    assert_int_equal(r.status, 403);
    thttp_resp_free(&r);
    /* a typo: 422 with the diagnostic's line, nothing changes */
    config_text(bad, sizeof bad, "", "  decisions:\n    - {name: x, priority: high}\n", port);
    assert_int_equal(req("POST", "/api/v1/config/apply", "operator-token", bad, &r), 0);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "\"result\":\"invalid\""));
    assert_non_null(strstr(r.body, "request:12:"));
    thttp_resp_free(&r);
    assert_string_equal(file_text(), before);
    /* redacted values from GET /config are refused */
    snprintf(t, sizeof t, "%s# key: <redacted>\n", good);
    assert_int_equal(req("POST", "/api/v1/config/apply", "operator-token", t, &r), 0);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "redacted_values"));
    thttp_resp_free(&r);
    /* valid for the validator, rejected by the real reload: file restored
     * (a new environment reference needs the admin role: apply_guard.h) */
    config_text(t, sizeof t, "", dec, "\"${DASH_T_UNSET_PORT}\"");
    unsetenv("DASH_T_UNSET_PORT");
    assert_int_equal(req("POST", "/api/v1/config/apply", "operator-token", t, &r), 0);
    if (r.status != 403 || !strstr(r.body, "admin_required")) fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_string_equal(file_text(), before);
    assert_int_equal(req("POST", "/api/v1/config/apply", "admin-token", t, &r), 0);
    if (r.status != 422 || !strstr(r.body, "\"result\":\"rejected\""))
        fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_string_equal(file_text(), before);
    assert_int_equal(req("GET", "/config", "viewer-token", NULL, &r), 0);
    assert_null(strstr(r.body, "applied_here"));
    thttp_resp_free(&r);
    /* valid: applied now, the file holds it, the audit names the token */
    assert_int_equal(req("POST", "/api/v1/config/apply", "operator-token", good, &r), 0);
    if (r.status != 200 || !strstr(r.body, "\"result\":\"applied\""))
        fail_msg("%d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_string_equal(file_text(), good);
    assert_int_equal(req("GET", "/config", "viewer-token", NULL, &r), 0);
    assert_non_null(strstr(r.body, "applied_here"));
    thttp_resp_free(&r);
    assert_int_equal(req("GET", "/api/v1/config/audit", "viewer-token", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"by\":\"op\",\"role\":\"operator\",\"result\":\"applied\""));
    assert_non_null(strstr(r.body, "\"result\":\"invalid\""));
    assert_non_null(strstr(r.body, "\"result\":\"rejected\""));
    assert_null(strstr(r.body, "-token"));
    thttp_resp_free(&r);
    /* the file's source: admin only */
    assert_int_equal(get_status("/api/v1/config/source", "operator-token"), 403);
    assert_int_equal(req("GET", "/api/v1/config/source", "admin-token", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, good);
    thttp_resp_free(&r);
}

/* Runs last: turns the dashboard off through the reload path. */
static void test_dashboard_false_answers_404(void **state)
{
    write_config("      dashboard: false\n");
    thttp_resp_t r;
    assert_int_equal(req("POST", "/config/reload", "admin-token", "", &r), 0);
    if (r.status != 200) fail_msg("reload: %d %s", r.status, r.body);
    thttp_resp_free(&r);
    static const char *paths[] = {"/", "/dashboard", "/dashboard/", "/dashboard/app.js"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int s = get_status(paths[i], "admin-token");
        if (s != 404) fail_msg("%s answered %d with the dashboard off", paths[i], s);
    }
    assert_int_equal(req("GET", "/api/v1/whoami", "viewer-token", NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"dashboard\":false"));
    thttp_resp_free(&r);
    assert_int_equal(get_status("/config", "viewer-token"), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_dashboard_redirect),
        cmocka_unit_test(test_assets_are_served_with_types_and_csp),
        cmocka_unit_test(test_unknown_files_and_path_tricks_are_404),
        cmocka_unit_test(test_whoami_reports_the_role),
        cmocka_unit_test(test_status_and_page_apis_keep_their_roles),
        cmocka_unit_test(test_eval_takes_messages_and_responses_bodies),
        cmocka_unit_test(test_config_apply_validates_reloads_and_audits),
        cmocka_unit_test(test_dashboard_false_answers_404),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
