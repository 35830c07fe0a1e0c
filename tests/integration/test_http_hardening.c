/* test_http_hardening.c - `tether serve` against hostile clients, end to end:
 * a header name with whitespace before the colon gets a 400 in the
 * endpoint's error shape and is counted in request_errors_total; the
 * connection limits set in global.router.limits (max_connections,
 * keepalive_timeout) close idle sockets and make room for real clients,
 * counted in connections_closed_total. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CONNS = 6 };

static tproc_t router;
static int rport, gport;
static char path[256];

static int setup(void **state)
{
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    int bport = tsupport_free_port(); /* never contacted */
    snprintf(path, sizeof path, "/tmp/tether-http-hardening-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n"
            "  router:\n    limits: {max_connections: %d, keepalive_timeout: 300ms}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            rport, bport, MAX_CONNS, gport);
    fclose(f);
    return tstack_serve_n(&router, path, 1, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void raw_exchange(const char *raw, thttp_resp_t *r)
{
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 5000), 0);
    assert_int_equal(thttp_send(&c, raw, strlen(raw)), 0);
    thttp_read_response(&c, r);
    thttp_close(&c);
}

static void metrics(thttp_resp_t *r)
{
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/metrics", NULL, NULL, 0, r), 0);
    assert_int_equal(r->status, 200);
}

/* The server closed c: EOF or reset, no bytes (a bound, not a timing
 * check: 20 s for a loaded machine under the sanitizers). */
static int closed_by_server(thttp_conn_t *c)
{
    char b[64];
    struct pollfd pf = {c->fd, POLLIN, 0};
    if (poll(&pf, 1, 20000) <= 0) return 0;
    ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void test_header_name_with_space_gets_400_in_the_endpoint_shape(void **state)
{
    thttp_resp_t r = {0};
    raw_exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n"
                 "Content-Type: application/json\r\n\r\n{}",
                 &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":\"invalid_header_name\""));
    assert_non_null(strstr(r.body, "\"type\":\"invalid_request_error\""));
    thttp_resp_free(&r);
    raw_exchange("POST /v1/messages HTTP/1.1\r\nHost: x\r\nauthorization : Bearer k\r\n"
                 "Content-Length: 2\r\n\r\n{}",
                 &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"type\":\"error\""));
    assert_non_null(strstr(r.body, "RFC 7230"));
    thttp_resp_free(&r);
    metrics(&r);
    assert_non_null(strstr(
        r.body, "tether_request_errors_total{endpoint=\"chat\",code=\"invalid_header_name\"} 1"));
    thttp_resp_free(&r);
}

static void test_idle_sockets_make_room_and_keep_alive_is_capped(void **state)
{
    thttp_conn_t idle[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++)
        assert_int_equal(thttp_open(&idle[i], "127.0.0.1", rport, 5000), 0);
    /* at the limit, a real client still gets through */
    thttp_resp_t r = {0};
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(closed_by_server(&idle[0]));
    for (int i = 0; i < MAX_CONNS; i++)
        thttp_close(&idle[i]);
    /* a kept-alive connection is closed after keepalive_timeout */
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 5000), 0);
    assert_int_equal(thttp_send_request(&c, "GET", "/health", NULL, NULL, 0), 0);
    assert_int_equal(thttp_read_response(&c, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(closed_by_server(&c));
    thttp_close(&c);
    metrics(&r);
    assert_non_null(strstr(r.body, "tether_connections_closed_total{reason=\"idle_evicted\"}"));
    assert_non_null(
        strstr(r.body, "tether_connections_closed_total{reason=\"keepalive_timeout\"}"));
    thttp_resp_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_name_with_space_gets_400_in_the_endpoint_shape),
        cmocka_unit_test(test_idle_sockets_make_room_and_keep_alive_is_capped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
