/* test_server.c - the HTTP/1.1 server layer in process: keep-alive,
 * pipelining order, chunked request bodies, 100-continue, limits (413, 431),
 * malformed requests, header timeout (408), streaming responses, client
 * disconnect notification and graceful stop with a request in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "http/server.h"
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int g_aborts;

typedef struct delayed {
    hsrv_req_t *req;
    struct event *ev;
    int chunks_left;
} delayed_t;

static void delayed_free(delayed_t *d)
{
    event_free(d->ev);
    free(d);
}

static void on_delayed_abort(hsrv_req_t *req)
{
    atomic_fetch_add(&g_aborts, 1);
    delayed_free(req->user);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    delayed_t *d = arg;
    hsrv_req_t *req = d->req;
    if (d->chunks_left > 0) {
        char c[32];
        int n = snprintf(c, sizeof c, "chunk%d;", d->chunks_left);
        hsrv_write(req, c, (size_t)n);
        d->chunks_left--;
        struct timeval tv = {0, 20000};
        evtimer_add(d->ev, &tv);
        return;
    }
    req->on_abort = NULL;
    delayed_free(d);
    if (hsrv_started(req)) {
        hsrv_finish(req);
    } else {
        hsrv_respond(req, 200, NULL, 0, "slow-done", 9);
    }
}

/* /echo: body back; /path: the path; /slow: answer after 300 ms;
 * /stream: 3 chunks 20 ms apart; /hdr?x: the value of header x-test. */
static void handler(hsrv_req_t *req, void *ud)
{
    if (!strcmp(req->path, "/echo")) {
        hsrv_respond(req, 200, NULL, 0, req->body, req->body_len);
    } else if (!strcmp(req->path, "/hdr")) {
        const hsrv_header_t *h = hsrv_req_header(req, "x-test");
        hsrv_respond(req, 200, NULL, 0, h ? h->value : "none", h ? h->value_len : 4);
    } else if (!strcmp(req->path, "/slow") || !strcmp(req->path, "/stream")) {
        delayed_t *d = calloc(1, sizeof *d);
        d->req = req;
        d->ev = evtimer_new(hsrv_req_base(req), delayed_cb, d);
        req->user = d;
        req->on_abort = on_delayed_abort;
        struct timeval tv = {0, 300000};
        if (!strcmp(req->path, "/stream")) {
            d->chunks_left = 3;
            hsrv_start(req, 200, NULL, 0, -1);
            tv.tv_usec = 1000;
        }
        evtimer_add(d->ev, &tv);
    } else {
        char b[256];
        int n = snprintf(b, sizeof b, "%s %s?%s", req->method_str, req->path, req->query);
        hsrv_respond(req, 200, NULL, 0, b, (size_t)n);
    }
}

static hsrv_server_t *start(int *port, size_t max_body, size_t max_hdr, uint64_t hdr_timeout)
{
    hsrv_listen_t l = {"127.0.0.1", 0, 5000};
    hsrv_config_t c = {.listeners = &l,
                       .n_listeners = 1,
                       .workers = 1,
                       .limits = {.max_header_bytes = max_hdr,
                                  .max_body_bytes = max_body,
                                  .header_timeout_ms = hdr_timeout,
                                  .body_timeout_ms = 2000,
                                  .max_connections = 64},
                       .handler = handler};
    char err[256];
    hsrv_server_t *s = hsrv_server_start(&c, err, sizeof err);
    assert_non_null(s);
    *port = hsrv_server_port(s, 0);
    assert_true(*port > 0);
    return s;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Read until the peer closes or `want` occurrences of needle were seen. */
static size_t read_until(int fd, char *out, size_t cap, const char *needle, int want)
{
    size_t len = 0;
    out[0] = 0;
    for (;;) {
        int seen = 0;
        if (want > 0)
            for (const char *p = out; (p = strstr(p, needle)); p++)
                seen++;
        if (want > 0 && seen >= want) break;
        if (len + 1 >= cap) break;
        ssize_t r = read(fd, out + len, cap - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        out[len] = 0;
    }
    return len;
}

static void test_keep_alive_serves_several_requests_on_one_connection(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    char buf[4096];
    for (int i = 0; i < 3; i++) {
        char req[128];
        int n = snprintf(req, sizeof req, "GET /a%d?q=%d HTTP/1.1\r\nHost: x\r\n\r\n", i, i);
        send_all(fd, req, (size_t)n);
        read_until(fd, buf, sizeof buf, "?q=", 1);
        char want[64];
        snprintf(want, sizeof want, "GET /a%d?q=%d", i, i);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        assert_non_null(strstr(buf, want));
    }
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    const char *reqs = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /third HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, reqs, strlen(reqs));
    char buf[8192];
    read_until(fd, buf, sizeof buf, "HTTP/1.1 200", 3);
    read_until(fd, buf + strlen(buf), sizeof buf - strlen(buf), "/third", 1);
    char *a = strstr(buf, "slow-done"), *b = strstr(buf, "hello"), *c = strstr(buf, "GET /third");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_chunked_request_body_and_expect_continue(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, head, strlen(head));
    char buf[4096];
    read_until(fd, buf, sizeof buf, "100 Continue", 1);
    assert_non_null(strstr(buf, "HTTP/1.1 100 Continue"));
    const char *body = "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
    send_all(fd, body, strlen(body));
    read_until(fd, buf, sizeof buf, "abcdefg", 1);
    assert_non_null(strstr(buf, "content-length: 7"));
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_body_over_limit_gets_413(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 100, 8192, 2000);
    int fd = dial(port);
    const char *r = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";
    send_all(fd, r, strlen(r));
    char buf[4096];
    read_until(fd, buf, sizeof buf, "\0", 0);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "body_too_large"));
    close(fd);
    /* chunked body that grows past the limit */
    fd = dial(port);
    const char *h = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(fd, h, strlen(h));
    char big[300];
    memset(big, 'a', sizeof big);
    send_all(fd, "12c\r\n", 5);
    send_all(fd, big, sizeof big);
    read_until(fd, buf, sizeof buf, "\0", 0);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_headers_over_limit_get_431(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 512, 2000);
    int fd = dial(port);
    char r[2048];
    char pad[1000];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    int n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", pad);
    send_all(fd, r, (size_t)n);
    char buf[4096];
    read_until(fd, buf, sizeof buf, "\0", 0);
    assert_non_null(strstr(buf, "HTTP/1.1 431"));
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_malformed_request_gets_400_and_close(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    const char *r = "GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n";
    send_all(fd, r, strlen(r));
    char buf[4096];
    size_t n = read_until(fd, buf, sizeof buf, "\0", 0);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    assert_non_null(strstr(buf, "connection: close"));
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_incomplete_headers_time_out_with_408(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 200);
    int fd = dial(port);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n", 25);
    char buf[4096];
    read_until(fd, buf, sizeof buf, "\0", 0);
    assert_non_null(strstr(buf, "HTTP/1.1 408"));
    assert_non_null(strstr(buf, "header_timeout"));
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_streamed_response_uses_chunked_encoding(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
             strlen("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    char buf[4096];
    read_until(fd, buf, sizeof buf, "0\r\n\r\n", 1);
    assert_non_null(strstr(buf, "transfer-encoding: chunked"));
    char *a = strstr(buf, "chunk3;"), *b = strstr(buf, "chunk2;"), *c = strstr(buf, "chunk1;");
    assert_true(a && b && c && a < b && b < c);
    close(fd);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

static void test_client_disconnect_notifies_handler(void **state)
{
    int port;
    atomic_store(&g_aborts, 0);
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
             strlen("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    usleep(50000);
    close(fd);
    for (int i = 0; i < 100 && atomic_load(&g_aborts) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&g_aborts), 1);
    assert_int_equal(hsrv_server_inflight(s), 0);
    hsrv_server_stop(s, 1000);
    hsrv_server_free(s);
}

typedef struct stopper {
    hsrv_server_t *s;
} stopper_t;

static void *stop_thread(void *arg)
{
    stopper_t *st = arg;
    usleep(50000);
    hsrv_server_stop(st->s, 5000);
    return NULL;
}

static void test_graceful_stop_finishes_in_flight_request(void **state)
{
    int port;
    hsrv_server_t *s = start(&port, 1 << 20, 8192, 2000);
    int fd = dial(port);
    send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
             strlen("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    usleep(20000);
    pthread_t t;
    stopper_t st = {s};
    pthread_create(&t, NULL, stop_thread, &st);
    char buf[4096];
    read_until(fd, buf, sizeof buf, "\0", 0); /* until the server closes */
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "slow-done"));
    assert_non_null(strstr(buf, "connection: close"));
    pthread_join(t, NULL);
    /* no longer accepting */
    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_not_equal(connect(fd2, (struct sockaddr *)&a, sizeof a), 0);
    close(fd2);
    close(fd);
    hsrv_server_free(s);
}

int main(void)
{
    tlog_set_level(TLOG_ERROR);
    signal(SIGPIPE, SIG_IGN); /* as serve and mock do: a peer may close mid-write */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_serves_several_requests_on_one_connection),
        cmocka_unit_test(test_pipelined_requests_are_answered_in_order),
        cmocka_unit_test(test_chunked_request_body_and_expect_continue),
        cmocka_unit_test(test_body_over_limit_gets_413),
        cmocka_unit_test(test_headers_over_limit_get_431),
        cmocka_unit_test(test_malformed_request_gets_400_and_close),
        cmocka_unit_test(test_incomplete_headers_time_out_with_408),
        cmocka_unit_test(test_streamed_response_uses_chunked_encoding),
        cmocka_unit_test(test_client_disconnect_notifies_handler),
        cmocka_unit_test(test_graceful_stop_finishes_in_flight_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
