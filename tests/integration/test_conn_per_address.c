/* test_conn_per_address.c - global.router.limits.max_connections_per_address
 * (issue 17), with numbers: one address floods the router with connections
 * that each start a request head and stall, while a client on another
 * address keeps being served. Past the limit every new connection from the
 * flooding address gets a 429 in the OpenAI error shape and is closed;
 * the refusals are counted in tether_connections_closed_total{reason=
 * "max_connections_per_address"} and logged (connection_refused, at most
 * one line a second per worker); once the flood closes its connections the
 * address is served again (its count is released). Then many addresses,
 * each under the per-address limit, flood together: max_connections bounds
 * the router's open sockets and the other client is still served.
 * Loopback has the whole 127.0.0.0/8, so clients bind 127.0.0.x sources.
 * Set TETHER_TEST_VERBOSE=1 to see the figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "stack.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CONNS = 32, PER_ADDR = 8, FLOOD = 120, NORMAL = 20, ADDRS = 40, PER = 6 };

static tproc_t router, mock;
static int rport, gport, mport;
static char cfg_path[256], log_path[256];

static void say(const char *fmt, ...)
{
    if (!getenv("TETHER_TEST_VERBOSE")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "per-address: ");
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
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-per-address-%d.yaml", (int)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/tether-per-address-%d.log", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n"
            "  router:\n    limits: {max_connections: %d, max_connections_per_address: %d,"
            " header_timeout: 60s}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            lport, mport, MAX_CONNS, PER_ADDR, gport);
    fclose(f);
    /* the router's log (stderr) goes to a file the test reads */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "exec '%s' serve --config '%s' --workers 2 2>'%s'",
             tproc_tether_bin(), cfg_path, log_path);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    if (tproc_spawn(&router, argv, 0) != 0) return -1;
    rport =
        tproc_wait_listening(&router, 30000); /* slow under the sanitizers on a loaded machine */
    return rport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    unlink(cfg_path);
    unlink(log_path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* A TCP connection to the router from source address 127.0.0.<host>. */
static int connect_from(int host)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)host);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rport)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Everything the server sends on fd until it closes (or timeout_ms of
 * silence); returns the byte count, the bytes in out. */
static size_t read_all(int fd, char *out, size_t cap, int timeout_ms)
{
    size_t n = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t k = recv(fd, out + n, cap - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        if (n == cap - 1) break;
    }
    out[n] = 0;
    return n;
}

/* One chat request from 127.0.0.<host>; the status (-1: no answer). */
static int chat_from(int host)
{
    int fd = connect_from(host);
    if (fd < 0) return -1;
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, body);
    int st = -1;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        char resp[8192];
        read_all(fd, resp, sizeof resp, 10000);
        if (!strncmp(resp, "HTTP/1.1 ", 9)) st = atoi(resp + 9);
    }
    close(fd);
    return st;
}

static double metric(const char *series)
{
    thttp_resp_t r = {0};
    if (thttp_request("127.0.0.1", gport, "GET", "/metrics", NULL, NULL, 0, &r) != 0) {
        thttp_resp_free(&r);
        return -1;
    }
    const char *m = strstr(r.body, series);
    double v = m ? atof(m + strlen(series)) : 0;
    thttp_resp_free(&r);
    return v;
}

static int open_fds(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (!d) return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

static const char HEAD[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";

/* n connections from 127.0.0.<host> that each send the start of a head
 * and stall; fds[] gets them (-1 when connect failed). */
static void flood(int *fds, int n, int host)
{
    for (int i = 0; i < n; i++) {
        fds[i] = connect_from(host);
        if (fds[i] >= 0) send(fds[i], HEAD, sizeof HEAD - 1, MSG_NOSIGNAL);
    }
}

/* The flood's sockets the server answered (and closed) within timeout_ms;
 * checks each answer is the 429. Those are closed here (fds[i] = -1). */
static int refused(int *fds, int n, int timeout_ms)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        char resp[2048];
        size_t len = read_all(fds[i], resp, sizeof resp, timeout_ms);
        if (!len) continue;
        assert_true(!strncmp(resp, "HTTP/1.1 429 ", 13));
        assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
        const char *b = strstr(resp, "\r\n\r\n");
        assert_non_null(b);
        cJSON *j = cJSON_Parse(b + 4);
        assert_non_null(j);
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "too_many_connections");
        assert_non_null(
            strstr(cJSON_GetObjectItem(e, "message")->valuestring, "max_connections_per_address"));
        cJSON_Delete(j);
        close(fds[i]);
        fds[i] = -1;
        k++;
    }
    return k;
}

static bool log_has(const char *needle)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return false;
    char line[2048];
    bool hit = false;
    while (!hit && fgets(line, sizeof line, f))
        hit = strstr(line, needle) != NULL;
    fclose(f);
    return hit;
}

static void test_one_address_flood_is_capped_while_another_is_served(void **state)
{
    (void)state;
    const char *series = "tether_connections_closed_total{reason=\"max_connections_per_address\"} ";
    double before = metric(series);
    int fds[FLOOD];
    flood(fds, FLOOD, 1);
    int served = 0;
    for (int i = 0; i < NORMAL; i++)
        served += chat_from(2) == 200;
    int ref = refused(fds, FLOOD, 500);
    int held = 0;
    for (int i = 0; i < FLOOD; i++)
        held += fds[i] >= 0;
    /* a refusal is counted and logged right after its socket is closed:
     * wait (bounded) for the count of what the client saw */
    double counted = 0;
    TPOLL_UNTIL((counted = metric(series) - before) >= ref, TPOLL_MS);
    say("%d connections from 127.0.0.1 (max_connections_per_address %d): %d held, %d answered "
        "429 and closed, %.0f counted; the client on 127.0.0.2 served %d/%d",
        FLOOD, PER_ADDR, held, ref, counted, served, NORMAL);
    assert_int_equal(served, NORMAL);
    assert_int_equal(held, PER_ADDR);
    assert_int_equal(ref, FLOOD - PER_ADDR);
    assert_int_equal((int)counted, FLOOD - PER_ADDR);
    assert_true(TPOLL_UNTIL(log_has("\"reason\":\"max_connections_per_address\""), TPOLL_MS));
    assert_true(log_has("\"client\":\"127.0.0.1\""));
    /* the flood's own address: refused while it holds its places */
    assert_int_equal(chat_from(1), 429);
    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0) close(fds[i]);
    /* its count is released as its connections close */
    int st = -1;
    for (int i = 0; i < 50 && st != 200; i++) {
        st = chat_from(1);
        if (st != 200) usleep(100 * 1000);
    }
    assert_int_equal(st, 200);
    for (int i = 0; i < NORMAL; i++)
        assert_int_equal(chat_from(1), 200);
}

static void test_many_addresses_are_bounded_by_max_connections(void **state)
{
    (void)state;
    int base = open_fds(router.pid);
    static int fds[ADDRS][PER];
    for (int a = 0; a < ADDRS; a++)
        flood(fds[a], PER, 10 + a);
    usleep(500 * 1000);
    int peak = open_fds(router.pid);
    int served = 0;
    for (int i = 0; i < NORMAL; i++)
        served += chat_from(3) == 200;
    int after = open_fds(router.pid);
    say("%d addresses x %d stalled heads (each under max_connections_per_address %d, %d in "
        "all; max_connections %d): router fds %d at rest, %d during, %d after %d requests from "
        "another address (%d/%d served)",
        ADDRS, PER, PER_ADDR, ADDRS * PER, MAX_CONNS, base, peak, after, NORMAL, served, NORMAL);
    /* max_connections holds: the router never holds more than its places */
    assert_true(peak <= base + MAX_CONNS + 2);
    assert_true(after <= base + MAX_CONNS + 2);
    assert_int_equal(served, NORMAL);
    for (int a = 0; a < ADDRS; a++)
        for (int i = 0; i < PER; i++)
            if (fds[a][i] >= 0) close(fds[a][i]);
    thttp_resp_t r = {0};
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_address_flood_is_capped_while_another_is_served),
        cmocka_unit_test(test_many_addresses_are_bounded_by_max_connections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
