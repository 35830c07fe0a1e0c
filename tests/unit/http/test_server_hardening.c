/* test_server_hardening.c - the HTTP server against hostile clients (issue
 * 20 items 3 and 5): header names that are not tokens (whitespace before the
 * colon), obs-fold, conflicting body lengths, case-insensitive header
 * lookup; silent sockets, CRLF trickles and floods, idle keep-alive, and a
 * flood of idle sockets at max_connections (the oldest idle one makes room,
 * requests in progress are never evicted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "http/server.h"
#include "http_client.h"
#include "metrics/metrics.h"
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int g_handled;
static atomic_int g_release; /* /hold answers once this is set */

typedef struct hold {
    hsrv_req_t *req;
    struct event *ev;
} hold_t;

static void hold_abort(hsrv_req_t *req)
{
    hold_t *h = req->user;
    event_free(h->ev);
    free(h);
}

static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
    hold_t *h = arg;
    if (!atomic_load(&g_release)) {
        struct timeval tv = {0, 10000};
        evtimer_add(h->ev, &tv);
        return;
    }
    hsrv_req_t *req = h->req;
    req->on_abort = NULL;
    event_free(h->ev);
    free(h);
    hsrv_write(req, "held", 4);
    hsrv_finish(req);
}

/* /echo: the body; /hdr: header "X-Test" looked up in mixed case;
 * /names: the header names as stored; /hold: headers now, body once
 * g_release is set; anything else: "ok". */
static void handler(hsrv_req_t *req, void *ud)
{
    atomic_fetch_add(&g_handled, 1);
    if (!strcmp(req->path, "/echo")) {
        hsrv_respond(req, 200, NULL, 0, req->body, req->body_len);
    } else if (!strcmp(req->path, "/hdr")) {
        const hsrv_header_t *h = hsrv_req_header(req, "X-Test");
        hsrv_respond(req, 200, NULL, 0, h ? h->value : "none", h ? h->value_len : 4);
    } else if (!strcmp(req->path, "/names")) {
        char b[512];
        size_t n = 0;
        for (size_t i = 0; i < req->n_headers && n + req->headers[i].name_len + 2 < sizeof b; i++) {
            memcpy(b + n, req->headers[i].name, req->headers[i].name_len);
            n += req->headers[i].name_len;
            b[n++] = ';';
        }
        hsrv_respond(req, 200, NULL, 0, b, n);
    } else if (!strcmp(req->path, "/hold")) {
        hold_t *h = calloc(1, sizeof *h);
        h->req = req;
        h->ev = evtimer_new(hsrv_req_base(req), hold_cb, h);
        req->user = h;
        req->on_abort = hold_abort;
        hsrv_start(req, 200, NULL, 0, -1);
        struct timeval tv = {0, 10000};
        evtimer_add(h->ev, &tv);
    } else {
        hsrv_respond(req, 200, NULL, 0, "ok", 2);
    }
}

/* One worker; the listener's idle timeout is long (as the 300 s default),
 * so only the limits under test close anything. Zero limits: defaults. */
static hsrv_server_t *start(int *port, hsrv_limits_t lim)
{
    hsrv_listen_t l = {"127.0.0.1", 0, 300000};
    if (!lim.header_timeout_ms) lim.header_timeout_ms = 30000;
    if (!lim.body_timeout_ms) lim.body_timeout_ms = 30000;
    if (!lim.max_connections) lim.max_connections = 64;
    hsrv_config_t c = {
        .listeners = &l, .n_listeners = 1, .workers = 1, .limits = lim, .handler = handler};
    char err[256];
    hsrv_server_t *s = hsrv_server_start(&c, err, sizeof err);
    assert_non_null(s);
    *port = hsrv_server_port(s, 0);
    atomic_store(&g_handled, 0);
    atomic_store(&g_release, 0);
    return s;
}

static void stop(hsrv_server_t *s)
{
    hsrv_server_stop(s, 2000);
    hsrv_server_free(s);
}

static void open_conn(thttp_conn_t *c, int port)
{
    assert_int_equal(thttp_open(c, "127.0.0.1", port, 5000), 0);
}

static void send_str(thttp_conn_t *c, const char *s)
{
    assert_int_equal(thttp_send(c, s, strlen(s)), 0);
}

/* Send raw bytes on a new connection, read one response. */
static void exchange(int port, const char *raw, thttp_resp_t *r)
{
    thttp_conn_t c;
    open_conn(&c, port);
    send_str(&c, raw);
    thttp_read_response(&c, r);
    thttp_close(&c);
}

static void assert_rejected(int port, const char *raw, const char *code)
{
    thttp_resp_t r = {0};
    exchange(port, raw, &r);
    if (r.status != 400 || !strstr(r.body, code))
        fail_msg("%s: got %d %s, want 400 %s", raw, r.status, r.body ? r.body : "", code);
    const char *conn = thttp_resp_header(&r, "connection");
    assert_non_null(conn);
    assert_string_equal(conn, "close");
    thttp_resp_free(&r);
}

/* True when the server closed the connection: EOF (or reset) with no bytes. */
static int closed_by_server(thttp_conn_t *c)
{
    char b[256];
    struct pollfd pf = {c->fd, POLLIN, 0};
    if (poll(&pf, 1, 5000) <= 0) return 0;
    ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* True when the connection is still open and silent right now. */
static int still_open(thttp_conn_t *c)
{
    char b[16];
    ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static double closed_total(const char *reason)
{
    met_family_t *f =
        met_counter("connections_closed_total", "", (const char *const[]){"reason", NULL});
    return met_value(f, reason);
}

/* ------------------------------------------------------------ item 3 */

static void test_header_name_with_whitespace_before_colon_gets_400(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    assert_rejected(port, "POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length : 5\r\n\r\nhello",
                    "invalid_header_name");
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                    "invalid_header_name");
    assert_rejected(port, "GET / HTTP/1.1\r\nhost : x\r\n\r\n", "invalid_header_name");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nauthorization : Bearer k\r\n\r\n",
                    "invalid_header_name");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX-A b: 1\r\n\r\n", "invalid_header_name");
    assert_int_equal(atomic_load(&g_handled), 0);
    stop(s);
}

static void test_header_name_that_is_not_a_token_gets_400(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX(y): 1\r\n\r\n", "invalid_header");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX\ty: 1\r\n\r\n", "invalid_header");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX\x80y: 1\r\n\r\n", "invalid_header");
    /* whitespace between the request line and the first header */
    assert_rejected(port, "GET / HTTP/1.1\r\n Host: x\r\n\r\n", "obs_fold");
    assert_int_equal(atomic_load(&g_handled), 0);
    stop(s);
}

static void test_obs_fold_gets_400(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "obs_fold");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\nX-B: c\r\n\r\n",
                    "obs_fold");
    assert_rejected(port, "GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n", "obs_fold");
    assert_rejected(port, "GET / HTTP/1.1\nHost: x\nX-A: a\n b\n\n", "obs_fold");
    assert_int_equal(atomic_load(&g_handled), 0);
    stop(s);
}

static void test_conflicting_body_lengths_get_400(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    "conflicting_body_length");
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 5\r\n\r\n0\r\n\r\n",
                    "conflicting_body_length");
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Content-Length: 6\r\n\r\nhello!",
                    "conflicting_body_length");
    /* identical duplicates too: one length, said once */
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Content-Length: 5\r\n\r\nhello",
                    "conflicting_body_length");
    assert_rejected(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
                    "invalid_content_length");
    assert_rejected(port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                    "invalid_transfer_encoding");
    assert_int_equal(atomic_load(&g_handled), 0);
    stop(s);
}

/* http-parser ends a CONNECT at its head and leaves the rest as tunnel
 * bytes: a Content-Length body would have been parsed as a second request
 * (found by fuzz_http). */
static void test_connect_gets_400_and_its_body_is_no_request(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    const char *smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    char raw[256];
    snprintf(raw, sizeof raw,
             "CONNECT backend:443 HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(smuggled), smuggled);
    assert_rejected(port, raw, "connect_not_supported");
    assert_rejected(port, "CONNECT backend:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                    "connect_not_supported");
    assert_int_equal(atomic_load(&g_handled), 0);
    stop(s);
}

static void test_header_names_are_lowercased_and_looked_up_case_insensitively(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    thttp_resp_t r = {0};
    exchange(port, "GET /hdr HTTP/1.1\r\nHost: x\r\nx-TEST: a b\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "a b");
    thttp_resp_free(&r);
    exchange(port, "GET /names HTTP/1.1\r\nHOST: x\r\nX-Api-Key: k\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "host;x-api-key;");
    thttp_resp_free(&r);
    stop(s);
}

static void test_head_split_into_single_bytes_parses(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    const char *raw = "\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nX-Test:  a  b \r\n"
                      "Content-Length: 5\r\n\r\nhello";
    thttp_conn_t c;
    open_conn(&c, port);
    for (const char *p = raw; *p; p++) {
        assert_int_equal(thttp_send(&c, p, 1), 0);
        if ((p - raw) % 7 == 0) usleep(1000);
    }
    thttp_resp_t r = {0};
    assert_int_equal(thttp_read_response(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    thttp_resp_free(&r);
    thttp_close(&c);
    stop(s);
}

/* ------------------------------------------------------------ item 5 */

static void test_silent_socket_is_closed_after_header_timeout(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){.header_timeout_ms = 200});
    double before = closed_total("header_timeout");
    thttp_conn_t c;
    open_conn(&c, port);
    assert_true(closed_by_server(&c));
    thttp_close(&c);
    assert_true(closed_total("header_timeout") >= before + 1);
    stop(s);
}

static void test_crlf_trickle_does_not_keep_a_socket_open(void **state)
{
    int port;
    hsrv_server_t *s =
        start(&port, (hsrv_limits_t){.header_timeout_ms = 200, .max_empty_lines = 1000});
    thttp_conn_t c;
    open_conn(&c, port);
    int closed = 0;
    /* one empty line every 50 ms for up to 5 s: the header timer, started at
     * accept, is not restarted by them */
    for (int i = 0; i < 100 && !closed; i++) {
        if (send(c.fd, "\r\n", 2, MSG_NOSIGNAL) != 2) {
            closed = 1;
            break;
        }
        struct pollfd pf = {c.fd, POLLIN, 0};
        if (poll(&pf, 1, 50) > 0) closed = closed_by_server(&c);
    }
    assert_true(closed);
    thttp_close(&c);
    stop(s);
}

static void test_flood_of_empty_lines_gets_400_and_close(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){0});
    char raw[128] = "";
    for (int i = 0; i < 20; i++)
        strcat(raw, "\r\n");
    assert_rejected(port, raw, "too_many_empty_lines");
    /* a few empty lines before a request line are fine (RFC 7230 3.5) */
    thttp_resp_t r = {0};
    exchange(port, "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    stop(s);
}

static void test_idle_keep_alive_connection_is_closed(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){.keepalive_timeout_ms = 200});
    double before = closed_total("keepalive_timeout");
    thttp_conn_t c;
    open_conn(&c, port);
    send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    thttp_resp_t r = {0};
    assert_int_equal(thttp_read_response(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(thttp_resp_header(&r, "connection"));
    thttp_resp_free(&r);
    assert_true(closed_by_server(&c));
    thttp_close(&c);
    assert_true(closed_total("keepalive_timeout") >= before + 1);
    stop(s);
}

/* The connection's clock is kept lazily (the timer is moved only to an
 * earlier time): a header clock shorter than the keep-alive one, set at a
 * request's first byte, must neither close the idle connection early nor
 * leave a second request's slow head unbounded. */
static void test_keep_alive_clock_outlasts_the_header_clock_and_back(void **state)
{
    int port;
    hsrv_server_t *s =
        start(&port, (hsrv_limits_t){.header_timeout_ms = 100, .keepalive_timeout_ms = 700});
    double before = closed_total("keepalive_timeout");
    thttp_conn_t c;
    open_conn(&c, port);
    for (int i = 0; i < 2; i++) {
        send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        thttp_resp_t r = {0};
        assert_int_equal(thttp_read_response(&c, &r), 0);
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        usleep(300 * 1000); /* past the header clock, within the keep-alive one */
        assert_true(still_open(&c));
    }
    /* a slow head on the kept-alive connection: the header clock again */
    send_str(&c, "GET / HTTP/1.1\r\nHost:");
    thttp_resp_t r = {0};
    thttp_read_response(&c, &r);
    assert_int_equal(r.status, 408);
    assert_non_null(strstr(r.body, "header_timeout"));
    thttp_resp_free(&r);
    thttp_close(&c);
    /* and an idle one closes on the keep-alive clock */
    open_conn(&c, port);
    send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(thttp_read_response(&c, &r), 0);
    thttp_resp_free(&r);
    assert_true(closed_by_server(&c));
    thttp_close(&c);
    assert_true(closed_total("keepalive_timeout") >= before + 1);
    stop(s);
}

static void test_partial_head_on_kept_alive_connection_gets_408(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){.header_timeout_ms = 200});
    thttp_conn_t c;
    open_conn(&c, port);
    send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    thttp_resp_t r = {0};
    assert_int_equal(thttp_read_response(&c, &r), 0);
    thttp_resp_free(&r);
    send_str(&c, "GET / HTTP/1.1\r\nHost:");
    thttp_read_response(&c, &r);
    assert_int_equal(r.status, 408);
    assert_non_null(strstr(r.body, "header_timeout"));
    thttp_resp_free(&r);
    thttp_close(&c);
    stop(s);
}

static void test_idle_flood_at_max_connections_evicts_oldest_idle(void **state)
{
    enum { N = 8 };
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){.max_connections = N});
    double before = closed_total("idle_evicted");
    thttp_conn_t idle[N];
    for (int i = 0; i < N; i++)
        open_conn(&idle[i], port);
    thttp_resp_t r = {0};
    exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    thttp_resp_free(&r);
    assert_true(closed_by_server(&idle[0]));
    for (int i = 1; i < N; i++)
        assert_true(still_open(&idle[i]));
    assert_true(closed_total("idle_evicted") >= before + 1);
    for (int i = 0; i < N; i++)
        thttp_close(&idle[i]);
    stop(s);
}

static void test_requests_in_progress_are_never_evicted(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, (hsrv_limits_t){.max_connections = 3});
    double refused = closed_total("max_connections");
    thttp_conn_t idle, upload, held, held2, fresh, late;
    open_conn(&idle, port);
    /* a slow upload: head read (100 Continue seen), body still coming */
    open_conn(&upload, port);
    send_str(&upload, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      "Content-Length: 10\r\n\r\n");
    char b[64];
    struct pollfd pf = {upload.fd, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    ssize_t n = recv(upload.fd, b, sizeof b - 1, 0);
    assert_true(n > 0);
    b[n] = 0;
    assert_non_null(strstr(b, "100 Continue"));
    send_str(&upload, "hello");
    /* a slow response: headers sent, body held by the handler */
    open_conn(&held, port);
    send_str(&held, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    thttp_resp_t hr = {0};
    assert_int_equal(thttp_read_head(&held, &hr), 0);
    assert_int_equal(hr.status, 200);
    /* at the limit: the idle socket makes room for a real client */
    open_conn(&fresh, port);
    send_str(&fresh, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    thttp_resp_t r = {0};
    assert_int_equal(thttp_read_response(&fresh, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    thttp_close(&fresh);
    assert_true(closed_by_server(&idle));
    /* a second slow response fills the last place */
    open_conn(&held2, port);
    send_str(&held2, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    thttp_resp_t hr2 = {0};
    assert_int_equal(thttp_read_head(&held2, &hr2), 0);
    thttp_resp_free(&hr2);
    /* nothing idle is left: a newcomer is refused, those in progress stay */
    open_conn(&late, port);
    assert_true(closed_by_server(&late));
    assert_true(closed_total("max_connections") >= refused + 1);
    send_str(&upload, "world");
    assert_int_equal(thttp_read_response(&upload, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "helloworld");
    thttp_resp_free(&r);
    atomic_store(&g_release, 1);
    buf_t piece = {0};
    uint64_t t;
    while (thttp_read_piece(&held, &hr, &piece, &t) > 0)
        ;
    assert_true(hr.complete);
    assert_string_equal(hr.body, "held");
    buf_free(&piece);
    thttp_resp_free(&hr);
    thttp_close(&idle);
    thttp_close(&upload);
    thttp_close(&held);
    thttp_close(&held2);
    thttp_close(&late);
    stop(s);
}

int main(void)
{
    tlog_set_level(TLOG_OFF);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_name_with_whitespace_before_colon_gets_400),
        cmocka_unit_test(test_header_name_that_is_not_a_token_gets_400),
        cmocka_unit_test(test_obs_fold_gets_400),
        cmocka_unit_test(test_conflicting_body_lengths_get_400),
        cmocka_unit_test(test_connect_gets_400_and_its_body_is_no_request),
        cmocka_unit_test(test_header_names_are_lowercased_and_looked_up_case_insensitively),
        cmocka_unit_test(test_head_split_into_single_bytes_parses),
        cmocka_unit_test(test_silent_socket_is_closed_after_header_timeout),
        cmocka_unit_test(test_crlf_trickle_does_not_keep_a_socket_open),
        cmocka_unit_test(test_flood_of_empty_lines_gets_400_and_close),
        cmocka_unit_test(test_idle_keep_alive_connection_is_closed),
        cmocka_unit_test(test_keep_alive_clock_outlasts_the_header_clock_and_back),
        cmocka_unit_test(test_partial_head_on_kept_alive_connection_gets_408),
        cmocka_unit_test(test_idle_flood_at_max_connections_evicts_oldest_idle),
        cmocka_unit_test(test_requests_in_progress_are_never_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
