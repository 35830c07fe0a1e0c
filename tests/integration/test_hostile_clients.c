/* test_hostile_clients.c - `tether serve` against hostile clients, with
 * numbers (issue 17; docs/RELIABILITY.md): slowloris connections trickling
 * a request head or a body while a normal client keeps being served; a
 * connection flood far past max_connections; a header flood of many
 * connections each over max_header_bytes; and bodies built to hurt a parser
 * (deep nesting, invalid UTF-8, NUL bytes, huge numbers) on every API. Each
 * answer is a clear error or a normal reply, the process stays up and its
 * VmRSS stays under a generous bound. No timing is asserted: counts only.
 * Set TETHER_TEST_VERBOSE=1 to see the figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CONNS = 16, SLOW = 48, FLOOD = 300, NORMAL = 20 };

static tproc_t router, mock;
static int rport, gport, mport;
static char path[256];
static long rss0_kb;

static void say(const char *fmt, ...)
{
    if (!getenv("TETHER_TEST_VERBOSE")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hostile: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int setup(void **state)
{
    (void)state;
    mport = tstack_mock_strict(&mock, "7");
    if (mport < 0) return -1;
    gport = tsupport_free_port();
    int lport = tsupport_free_port();
    snprintf(path, sizeof path, "/tmp/tether-hostile-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n"
            "  router:\n    limits: {max_connections: %d, header_timeout: 3s, body_timeout: 3s,"
            " max_header_bytes: 16KiB}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            lport, mport, MAX_CONNS, gport);
    fclose(f);
    rport = tstack_serve(&router, path);
    if (rport < 0) return -1;
    rss0_kb = tproc_rss_kb(router.pid);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static const char CHAT[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* One normal chat completion; its status (-1: no answer). */
static int normal_chat(void)
{
    thttp_resp_t r = {0};
    int rc = thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                           "Content-Type: application/json\r\n", CHAT, strlen(CHAT), &r);
    int st = rc == 0 ? r.status : -1;
    thttp_resp_free(&r);
    return st;
}

/* The router answers and its RSS is within a generous bound of the start. */
static void assert_alive_and_bounded(const char *what)
{
    thttp_resp_t r = {0};
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    long kb = tproc_rss_kb(router.pid);
    say("%s: VmRSS %ld kB (start %ld kB)", what, kb, rss0_kb);
    assert_true(kb > 0);
    assert_true(kb < rss0_kb + 256 * 1024); /* 256 MiB over the start: generous */
}

static int nonblock_connect(void)
{
    thttp_conn_t c;
    if (thttp_open(&c, "127.0.0.1", rport, 5000) != 0) return -1;
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    return c.fd;
}

/* Send one byte on each still-open slow socket; a socket the server closed
 * (EOF, reset, EPIPE) is closed here and counted. */
static int trickle(int *fds, int n, char byte)
{
    int closed = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        char b[256];
        ssize_t k = recv(fds[i], b, sizeof b, MSG_DONTWAIT);
        /* EOF, a reset, or an answer (408/400): the server is done with it */
        bool gone = k >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        if (gone || send(fds[i], &byte, 1, MSG_NOSIGNAL) < 0) {
            close(fds[i]);
            fds[i] = -1;
            closed++;
        }
    }
    return closed;
}

/* SLOW connections send `opening` then trickle `byte`, while a normal
 * client makes NORMAL requests (retrying a refused connection once). When
 * evicts is set the router must serve every one of them while the slow
 * ones hold the places (slow heads are evicted at the limit); otherwise
 * (slow bodies, whose places are kept until body_timeout) it must serve
 * every one once the timeout has closed the slow ones. */
static void slowloris(const char *opening, char byte, const char *what, bool evicts)
{
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = nonblock_connect();
        assert_true(fds[i] >= 0);
        if (send(fds[i], opening, strlen(opening), MSG_NOSIGNAL) < 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    /* a slow socket whose bytes the server has not read yet does not count
     * as stalled, hence the one retry */
    int served = 0, retried = 0, closed = 0;
    for (int round = 0; round < NORMAL; round++) {
        usleep(150 * 1000);
        closed += trickle(fds, SLOW, byte);
        int st = normal_chat();
        if (st != 200) {
            retried++;
            st = normal_chat();
        }
        served += st == 200;
    }
    /* keep trickling until the server has dropped every slow socket (the
     * header/body timeout is 3 s; the bound below is only a safety stop) */
    for (int round = 0; round < 400 && closed < SLOW; round++) {
        closed += trickle(fds, SLOW, byte);
        usleep(100 * 1000);
    }
    for (int i = 0; i < SLOW; i++)
        if (fds[i] >= 0) close(fds[i]);
    int after = 0;
    for (int i = 0; i < NORMAL; i++)
        after += normal_chat() == 200;
    say("%s: %d slow connections (max_connections %d): normal client %d/%d served while they "
        "trickled (%d retried once), %d/%d after; %d slow ones closed by the server",
        what, SLOW, MAX_CONNS, served, NORMAL, retried, after, NORMAL, closed);
    if (evicts) assert_int_equal(served, NORMAL);
    assert_int_equal(after, NORMAL);
    assert_int_equal(closed, SLOW);
    assert_alive_and_bounded(what);
}

static void test_slowloris_heads(void **st)
{
    (void)st;
    slowloris("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ", 'a', "slow heads", true);
}

static void test_slowloris_bodies(void **st)
{
    (void)st;
    slowloris("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Content-Length: 100000\r\n\r\n{\"model\":\"m\",\"messages\":[",
              ' ', "slow bodies", false);
}

static void test_connection_flood(void **st)
{
    (void)st;
    int fds[FLOOD], opened = 0;
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = nonblock_connect();
        if (fds[i] >= 0) opened++;
    }
    int served = 0;
    for (int i = 0; i < NORMAL; i++)
        served += normal_chat() == 200;
    int dropped = 0;
    for (int i = 0; i < FLOOD; i++) {
        if (fds[i] < 0) continue;
        char b[16];
        struct pollfd pf = {fds[i], POLLIN, 0};
        if (poll(&pf, 1, 0) > 0) {
            ssize_t k = recv(fds[i], b, sizeof b, MSG_DONTWAIT);
            dropped += k == 0 || (k < 0 && errno == ECONNRESET);
        }
        close(fds[i]);
    }
    say("connection flood: %d opened, %d already closed by the server while the normal client "
        "got %d/%d",
        opened, dropped, served, NORMAL);
    assert_int_equal(served, NORMAL);
    /* at most MAX_CONNS stay open: the rest were evicted as idle */
    assert_true(dropped >= opened - MAX_CONNS);
    assert_alive_and_bounded("connection flood");
}

static void test_header_flood(void **st)
{
    (void)st;
    enum { CONNS = 40, HEADERS = 4000 };
    int got431 = 0, other = 0;
    for (int i = 0; i < CONNS; i++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
        for (int h = 0; h < HEADERS; h++)
            buf_printf(&b, "X-F%d: %d\r\n", h, h);
        buf_printf(&b, "Content-Length: %zu\r\n\r\n%s", strlen(CHAT), CHAT);
        thttp_conn_t c;
        assert_int_equal(thttp_open(&c, "127.0.0.1", rport, 5000), 0);
        thttp_send(&c, b.data, b.len); /* the server may stop reading early */
        thttp_resp_t r = {0};
        if (thttp_read_response(&c, &r) == 0 && r.status == 431)
            got431++;
        else
            other++;
        thttp_resp_free(&r);
        thttp_close(&c);
        buf_free(&b);
    }
    say("header flood: %d requests of %d headers each: %d got 431, %d other", CONNS, HEADERS,
        got431, other);
    assert_int_equal(got431, CONNS);
    assert_int_equal(normal_chat(), 200);
    assert_alive_and_bounded("header flood");
}

/* A hostile body on one endpoint: an answer (no hang, no crash); 4xx in
 * the endpoint's error shape, or 200 when the body is valid after all. */
static int hostile_body(const char *ep, const char *body, size_t len, int *status)
{
    thttp_resp_t r = {0};
    int rc = thttp_request("127.0.0.1", rport, "POST", ep, "Content-Type: application/json\r\n",
                           body, len, &r);
    *status = rc == 0 ? r.status : -1;
    int shaped = 0;
    if (rc == 0 && r.status >= 400 && r.status < 500)
        shaped = !strcmp(ep, "/v1/messages") ? strstr(r.body, "\"type\":\"error\"") != NULL
                                             : strstr(r.body, "\"error\":{") != NULL;
    thttp_resp_free(&r);
    return shaped;
}

static void test_hostile_bodies_get_clear_errors(void **st)
{
    (void)st;
    const char *eps[] = {"/v1/chat/completions", "/v1/messages", "/v1/responses"};
    buf_t deep = BUF_INIT, deep_obj = BUF_INIT, bignum = BUF_INIT;
    buf_puts(&deep, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                    "\"x\":");
    for (int i = 0; i < 200000; i++)
        buf_putc(&deep, '[');
    buf_puts(&deep_obj, "{\"model\":\"m\",\"metadata\":");
    for (int i = 0; i < 100000; i++)
        buf_puts(&deep_obj, "{\"a\":");
    buf_puts(&bignum, "{\"model\":\"m\",\"max_tokens\":");
    for (int i = 0; i < 5000; i++)
        buf_putc(&bignum, '9');
    buf_puts(&bignum, ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    static const char bad_utf8[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\xc0\xaf\"}]}";
    static const char nul_body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\0b\"}]}";
    static const char huge_exp[] =
        "{\"model\":\"m\",\"temperature\":1e999999,\"max_tokens\":-1e400,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char nul_key[] =
        "{\"model\":\"m\",\"mes\0sages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    struct {
        const char *name;
        const char *b;
        size_t n;
    } bodies[] = {
        {"deep arrays", deep.data, deep.len},
        {"deep objects", deep_obj.data, deep_obj.len},
        {"5000-digit integer", bignum.data, bignum.len},
        {"invalid UTF-8", bad_utf8, sizeof bad_utf8 - 1},
        {"raw NUL in a string", nul_body, sizeof nul_body - 1},
        {"raw NUL in a key", nul_key, sizeof nul_key - 1},
        {"huge exponents", huge_exp, sizeof huge_exp - 1},
    };
    int sent = 0, clear = 0, ok = 0;
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++)
        for (size_t e = 0; e < 3; e++) {
            int status;
            int shaped = hostile_body(eps[e], bodies[b].b, bodies[b].n, &status);
            sent++;
            say("%s on %s: %d%s", bodies[b].name, eps[e], status, shaped ? " (error shape)" : "");
            assert_true(status > 0);
            assert_true(status < 500);
            if (status >= 400)
                clear += shaped;
            else
                ok++;
            assert_true(status < 400 || shaped);
        }
    say("hostile bodies: %d sent, %d clear 4xx errors, %d accepted", sent, clear, ok);
    buf_free(&deep);
    buf_free(&deep_obj);
    buf_free(&bignum);
    assert_int_equal(normal_chat(), 200);
    assert_alive_and_bounded("hostile bodies");
    assert_int_equal(tstack_mock_violations(mport), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_bodies_get_clear_errors),
        cmocka_unit_test(test_header_flood),
        cmocka_unit_test(test_connection_flood),
        cmocka_unit_test(test_slowloris_heads),
        cmocka_unit_test(test_slowloris_bodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
