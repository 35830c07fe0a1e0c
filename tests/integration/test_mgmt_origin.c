/* test_mgmt_origin.c - the management listener refuses what a browser sends
 * on behalf of another site (issue 17, docs/security.md;
 * admin/mgmt_origin.h). In the open mode (no tokens, loopback), before the
 * check, any web page open in a browser on the machine could rewrite the
 * config with a cross-origin text/plain POST to /api/v1/config/apply (no
 * CORS preflight for that), and a DNS-rebinding page could read /config and
 * replay bodies. Asserted: a POST whose Origin is another site gets 403
 * cross_origin and the file does not change; a request whose Host is a name
 * other than localhost gets 403 host_not_allowed; the same requests from
 * the listener's own origin, with Host localhost or an address, and without
 * Origin (curl, probes) are served. */
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
static char path[256], text[4096], text2[4096];

static void config_text(char *out, size_t n, const char *decision)
{
    snprintf(out, n,
             "version: v0.3\n"
             "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
             "providers:\n  defaults: {default_model: m}\n  models:\n"
             "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
             "routing:\n  modelCards: [{name: m}]\n"
             "  decisions:\n    - {name: %s, modelRefs: [{model: m}]}\n"
             "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
             rport, mport, decision, gport);
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
    snprintf(path, sizeof path, "/tmp/tether-mgmt-origin-%d.yaml", (int)getpid());
    config_text(text, sizeof text, "first");
    config_text(text2, sizeof text2, "rewritten_by_a_web_page");
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
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

/* A raw request with its own Host and extra header lines; the status, the
 * body in r. */
static int raw(const char *method, const char *p, const char *host, const char *extra,
               const char *body, thttp_resp_t *r)
{
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", gport, 5000), 0);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     method, p, host, extra, body ? strlen(body) : 0);
    assert_int_equal(thttp_send(&c, head, (size_t)n), 0);
    if (body) assert_int_equal(thttp_send(&c, body, strlen(body)), 0);
    assert_int_equal(thttp_read_response(&c, r), 0);
    thttp_close(&c);
    return r->status;
}

static void test_cross_site_requests_are_refused(void **state)
{
    (void)state;
    char self[64], h[64];
    snprintf(h, sizeof h, "127.0.0.1:%d", gport);
    snprintf(self, sizeof self, "Origin: http://127.0.0.1:%d\r\n", gport);
    thttp_resp_t r;
    /* a page elsewhere posting a config (a "simple" request: no preflight) */
    assert_int_equal(
        raw("POST", "/api/v1/config/apply", h, "Origin: http://evil.example\r\n", text2, &r), 403);
    assert_non_null(strstr(r.body, "cross_origin"));
    thttp_resp_free(&r);
    assert_int_equal(raw("POST", "/api/v1/config/apply", h, "Origin: null\r\n", text2, &r), 403);
    thttp_resp_free(&r);
    assert_string_equal(file_text(), text);
    /* DNS rebinding: the page's own name, resolved to 127.0.0.1 */
    char rebind[64];
    snprintf(rebind, sizeof rebind, "rebind.example:%d", gport);
    assert_int_equal(raw("GET", "/config", rebind, "", NULL, &r), 403);
    assert_non_null(strstr(r.body, "host_not_allowed"));
    thttp_resp_free(&r);
    /* the listener's own origin, localhost, an address, no Origin: served */
    assert_int_equal(raw("GET", "/config", h, self, NULL, &r), 200);
    thttp_resp_free(&r);
    char lh[64];
    snprintf(lh, sizeof lh, "localhost:%d", gport);
    assert_int_equal(raw("GET", "/config", lh, "", NULL, &r), 200);
    thttp_resp_free(&r);
    assert_int_equal(raw("GET", "/health", "[::1]", "", NULL, &r), 200);
    thttp_resp_free(&r);
    assert_int_equal(raw("POST", "/api/v1/config/apply", h, self, text2, &r), 200);
    assert_non_null(strstr(r.body, "\"result\":\"applied\""));
    thttp_resp_free(&r);
    assert_string_equal(file_text(), text2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_site_requests_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
