/* test_syscalls_per_request.c - the system calls a proxied chat request
 * costs on the worker thread once the connection and the upstream pool are
 * warm (issue 12, the proxy core). The router runs in this process (the
 * same calls as `tether serve`) behind `tether mock`; this binary replaces
 * readv, writev, read, write, recv, send, ioctl and epoll_ctl with versions
 * that count the calls made on threads named worker-N, by socket: the
 * client's (its local port is the router's) or another (the upstream's).
 *
 * The counts follow from how the proxy drives its sockets, not from time:
 * one keep-alive connection, requests written whole, a small reply written
 * whole by the mock. What is pinned:
 *  - no FIONREAD ioctl (libevent 2.1's bufferevent asks before every read);
 *  - a 64 KiB body is read in a few reads, not 4 KiB at a time;
 *  - the reply's head and body reach the client in one write;
 *  - no epoll_ctl per request (the session commit, answered inline, pauses
 *    and resumes the upstream read inside its read loop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/app.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/evmem.h"
#include "http/server.h"
#include "http_client.h"
#include "metrics/catalog.h"
#include "proc.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum { C_READ, C_WRITE, C_IOCTL, C_EPOLL_CTL, C_N };
enum { S_CLIENT, S_OTHER, S_N };

static atomic_ulong counts[S_N][C_N];
static atomic_int router_port;

/* 1: this thread is a server worker; 0: not known to be one (yet). */
static __thread int is_worker;

static bool on_worker(void)
{
    if (!is_worker) {
        char name[16] = {0};
        if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || strncmp(name, "worker-", 7) != 0)
            return false;
        is_worker = 1;
    }
    return true;
}

static int side_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return S_OTHER;
    int port = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
               : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : -1;
    return port == atomic_load(&router_port) ? S_CLIENT : S_OTHER;
}

static void count(int fd, int what)
{
    if (!on_worker()) return;
    atomic_fetch_add(&counts[fd >= 0 ? side_of(fd) : S_OTHER][what], 1);
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
    count(fd, C_READ);
    return syscall(SYS_readv, fd, iov, n);
}
ssize_t read(int fd, void *b, size_t n)
{
    count(fd, C_READ);
    return syscall(SYS_read, fd, b, n);
}
ssize_t recv(int fd, void *b, size_t n, int flags)
{
    count(fd, C_READ);
    return syscall(SYS_recvfrom, fd, b, n, flags, NULL, NULL);
}
ssize_t writev(int fd, const struct iovec *iov, int n)
{
    count(fd, C_WRITE);
    return syscall(SYS_writev, fd, iov, n);
}
ssize_t write(int fd, const void *b, size_t n)
{
    count(fd, C_WRITE);
    return syscall(SYS_write, fd, b, n);
}
ssize_t send(int fd, const void *b, size_t n, int flags)
{
    count(fd, C_WRITE);
    return syscall(SYS_sendto, fd, b, n, flags, NULL, 0);
}
int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    count(fd, C_IOCTL);
    return (int)syscall(SYS_ioctl, fd, req, arg);
}
int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    count(fd, C_EPOLL_CTL);
    return (int)syscall(SYS_epoll_ctl, ep, op, fd, ev);
}

static tproc_t mock;
static char dir[128];

/* A chat request of exactly `bytes` bytes (a long user message). */
static char *chat_body(size_t bytes)
{
    static const char head[] =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"";
    static const char tail[] = "\"}],\"max_tokens\":64}";
    size_t fill = bytes - (sizeof head - 1) - (sizeof tail - 1);
    char *b = malloc(bytes + 1);
    assert_non_null(b);
    memcpy(b, head, sizeof head - 1);
    for (size_t i = 0; i < fill; i++)
        b[sizeof head - 1 + i] = "refactor the loader "[i % 20];
    memcpy(b + sizeof head - 1 + fill, tail, sizeof tail);
    return b;
}

static void write_config(const char *path, int port, int mgmt, int up)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - {name: small, provider_model_id: s, backend_refs: [{name: s1, endpoint: "
            "\"127.0.0.1:%d\"}]}\n"
            "routing:\n  modelCards: [{name: small}]\n"
            "global:\n  services:\n    router_replay: {enabled: false}\n"
            "    management_api: {listen: \"127.0.0.1:%d\"}\n",
            port, up, mgmt);
    fclose(f);
}

static void post(thttp_conn_t *c, const char *body, const char *sid)
{
    char hdr[128] = "";
    if (sid) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", sid);
    assert_int_equal(thttp_send_request(c, "POST", "/v1/chat/completions", hdr, body, strlen(body)),
                     0);
    thttp_resp_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(thttp_read_response(c, &r), 0);
    if (r.status != 200) fprintf(stderr, "status %d: %.300s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

typedef struct {
    double v[S_N][C_N];
} per_req_t;

/* n requests with body b after a warm-up; the counts per request. */
static per_req_t measure(thttp_conn_t *c, const char *b, int n)
{
    for (int i = 0; i < 8; i++)
        post(c, b, "syscall-session");
    unsigned long before[S_N][C_N];
    for (int s = 0; s < S_N; s++)
        for (int k = 0; k < C_N; k++)
            before[s][k] = atomic_load(&counts[s][k]);
    for (int i = 0; i < n; i++)
        post(c, b, "syscall-session");
    per_req_t out;
    for (int s = 0; s < S_N; s++)
        for (int k = 0; k < C_N; k++)
            out.v[s][k] = (double)(atomic_load(&counts[s][k]) - before[s][k]) / n;
    return out;
}

static void report(const char *what, const per_req_t *p)
{
    printf("%s per request: client socket read %.2f write %.2f ioctl %.2f; upstream read %.2f "
           "write %.2f ioctl %.2f; epoll_ctl %.2f\n",
           what, p->v[S_CLIENT][C_READ], p->v[S_CLIENT][C_WRITE], p->v[S_CLIENT][C_IOCTL],
           p->v[S_OTHER][C_READ], p->v[S_OTHER][C_WRITE], p->v[S_OTHER][C_IOCTL],
           p->v[S_CLIENT][C_EPOLL_CTL] + p->v[S_OTHER][C_EPOLL_CTL]);
}

static void test_proxied_request_syscalls_on_the_worker(void **st)
{
    snprintf(dir, sizeof dir, "/tmp/tether-syscalls-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(tproc_spawn(&mock, argv, TPROC_QUIET), 0);
    int up = tproc_wait_listening(&mock, 10000);
    assert_true(up > 0);

    int port = tsupport_free_port(), mgmt = tsupport_free_port();
    atomic_store(&router_port, port);
    char path[200];
    snprintf(path, sizeof path, "%s/router.yaml", dir);
    write_config(path, port, mgmt, up);
    tlog_set_level(TLOG_ERROR);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t o = {0};
    cfg_t *cfg = cfg_load_file(path, &o, &d);
    cfg_diags_free(&d);
    assert_non_null(cfg);
    cfg_diags_init(&d);
    tether_app_t *app = app_new(cfg, &d);
    cfg_diags_free(&d);
    assert_non_null(app);
    signal(SIGPIPE, SIG_IGN);
    hsrv_listen_t l = {.address = "127.0.0.1", .port = port, .idle_timeout_ms = 60000};
    hsrv_config_t hc = {.listeners = &l,
                        .n_listeners = 1,
                        .workers = 1,
                        .handler = app_handle,
                        .on_error = app_on_server_error,
                        .on_worker_start = app_worker_start,
                        .on_worker_stop = app_worker_stop,
                        .ud = app};
    char err[256];
    hsrv_server_t *srv = hsrv_server_start(&hc, err, sizeof err);
    assert_non_null(srv);
    app->server = srv;
    metrics_catalog_init("test");

    char *small = chat_body(2048), *large = chat_body(65536);
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", port, 10000), 0);
    per_req_t s = measure(&c, small, 64);
    report("2 KiB body", &s);
    per_req_t g = measure(&c, large, 64);
    report("64 KiB body", &g);
    thttp_close(&c);
    free(small);
    free(large);
    hsrv_server_stop(srv, 1000);
    hsrv_server_free(srv);
    app_free(app);
    tproc_stop(&mock, 5000);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);

    const per_req_t *both[] = {&s, &g};
    for (int i = 0; i < 2; i++) {
        const per_req_t *p = both[i];
        /* no FIONREAD before reads, on either side */
        assert_true(p->v[S_CLIENT][C_IOCTL] == 0);
        assert_true(p->v[S_OTHER][C_IOCTL] == 0);
        /* head and body of the reply in one write */
        assert_true(p->v[S_CLIENT][C_WRITE] == 1);
        /* nothing registered or removed per request */
        assert_true(p->v[S_CLIENT][C_EPOLL_CTL] + p->v[S_OTHER][C_EPOLL_CTL] == 0);
    }
    /* libevent's 4 KiB reads took 16 for a 64 KiB body */
    assert_true(g.v[S_CLIENT][C_READ] <= 6);
}

int main(void)
{
    evmem_install(); /* as tether's main() does, before any libevent call */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxied_request_syscalls_on_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
