/* live_http.c - the live benchmark's blocking keep-alive HTTP/1.1 client
 * (see live_http.h): connect with TCP_NODELAY, send one request, read the
 * head, then a Content-Length or chunked body. */
#include "bench/live_http.h"
#include "core/clock.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void live_http_init(live_http_conn_t *c, const char *host, int port, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    c->timeout_ms = timeout_ms;
}

static void conn_drop(live_http_conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    buf_reset(&c->in);
    c->in_off = 0;
}

void live_http_close(live_http_conn_t *c)
{
    conn_drop(c);
    buf_free(&c->in);
}

static int conn_open(live_http_conn_t *c, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    if (inet_pton(AF_INET, c->host, &a.sin_addr) != 1) {
        snprintf(err, errlen, "bad address %s", c->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(err, errlen, "connect %s:%d: %s", c->host, c->port, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->fd = fd;
    buf_reset(&c->in);
    c->in_off = 0;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read more bytes into c->in. 1 read, 0 EOF, -1 error/timeout. */
static int fill(live_http_conn_t *c)
{
    if (c->in_off && c->in_off == c->in.len) {
        buf_reset(&c->in);
        c->in_off = 0;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    for (;;) {
        int pr = poll(&p, 1, c->timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            errno = pr == 0 ? ETIMEDOUT : errno;
            return -1;
        }
        break;
    }
    buf_reserve(&c->in, 16384);
    ssize_t r;
    do
        r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    if (r == 0) return 0;
    c->in.len += (size_t)r;
    c->in.data[c->in.len] = 0;
    return 1;
}

/* Wait until n unconsumed bytes are buffered. */
static int need(live_http_conn_t *c, size_t n)
{
    while (c->in.len - c->in_off < n) {
        int f = fill(c);
        if (f <= 0) return -1;
    }
    return 0;
}

/* A line ending in CRLF from the buffer; returns its length (without CRLF)
 * and sets *line, or -1. */
static long read_line(live_http_conn_t *c, const char **line)
{
    for (;;) {
        char *start = c->in.data ? c->in.data + c->in_off : NULL;
        char *e = start ? memmem(start, c->in.len - c->in_off, "\r\n", 2) : NULL;
        if (e) {
            *line = start;
            long n = e - start;
            c->in_off += (size_t)n + 2;
            return n;
        }
        if (fill(c) <= 0) return -1;
    }
}

static int read_response(live_http_conn_t *c, const char *method, live_http_resp_t *r, int *got_any,
                         int *must_close, char *err, size_t errlen)
{
    const char *line;
    long n = read_line(c, &line);
    if (n < 0) {
        snprintf(err, errlen, "no response: %s", c->in.len ? "truncated" : strerror(errno));
        return -1;
    }
    *got_any = 1;
    int status = 0;
    if (n < 12 || sscanf(line, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(err, errlen, "bad status line");
        return -1;
    }
    r->status = status;
    long long clen = -1;
    int chunked = 0;
    for (;;) {
        n = read_line(c, &line);
        if (n < 0) {
            snprintf(err, errlen, "truncated head");
            return -1;
        }
        if (n == 0) break;
        const char *colon = memchr(line, ':', (size_t)n);
        if (!colon) continue;
        size_t kl = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < line + n && (*v == ' ' || *v == '\t'))
            v++;
        size_t vl = (size_t)(line + n - v);
        if (kl == 14 && !strncasecmp(line, "content-length", kl))
            clen = strtoll(v, NULL, 10);
        else if (kl == 17 && !strncasecmp(line, "transfer-encoding", kl))
            chunked = vl >= 7 && !strncasecmp(v, "chunked", 7);
        else if (kl == 10 && !strncasecmp(line, "connection", kl))
            *must_close = vl >= 5 && !strncasecmp(v, "close", 5);
        else if (kl == 14 && !strncasecmp(line, "x-tether-model", kl))
            snprintf(r->model, sizeof r->model, "%.*s", (int)vl, v);
        else if (kl == 23 && !strncasecmp(line, "x-tether-session-reason", kl))
            snprintf(r->reason, sizeof r->reason, "%.*s", (int)vl, v);
    }
    if (!strcmp(method, "HEAD") || status == 204 || status == 304) return 0;
    if (chunked) {
        for (;;) {
            n = read_line(c, &line);
            if (n < 0) {
                snprintf(err, errlen, "truncated chunk size");
                return -1;
            }
            size_t sz = strtoul(line, NULL, 16);
            if (sz == 0) {
                /* trailers until an empty line */
                do
                    n = read_line(c, &line);
                while (n > 0);
                if (n < 0) {
                    snprintf(err, errlen, "truncated trailer");
                    return -1;
                }
                return 0;
            }
            if (need(c, sz + 2)) {
                snprintf(err, errlen, "truncated chunk");
                return -1;
            }
            buf_append(&r->body, c->in.data + c->in_off, sz);
            c->in_off += sz + 2;
        }
    }
    if (clen < 0) {
        /* until close */
        *must_close = 1;
        for (;;) {
            buf_append(&r->body, c->in.data + c->in_off, c->in.len - c->in_off);
            c->in_off = c->in.len;
            int f = fill(c);
            if (f == 0) return 0;
            if (f < 0) {
                snprintf(err, errlen, "body read: %s", strerror(errno));
                return -1;
            }
        }
    }
    if (need(c, (size_t)clen)) {
        snprintf(err, errlen, "truncated body (%lld bytes expected)", clen);
        return -1;
    }
    buf_append(&r->body, c->in.data + c->in_off, (size_t)clen);
    c->in_off += (size_t)clen;
    return 0;
}

int live_http_request(live_http_conn_t *c, const char *method, const char *path,
                      const char *extra_headers, const char *body, size_t body_len,
                      live_http_resp_t *r, char *err, size_t errlen)
{
    if (errlen) err[0] = 0;
    r->status = 0;
    r->model[0] = 0;
    r->reason[0] = 0;
    buf_reset(&r->body);
    buf_putc(&r->body, 0);
    r->body.len = 0;
    buf_t head = BUF_INIT;
    buf_printf(&head, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s", method, path, c->host, c->port,
               extra_headers ? extra_headers : "");
    if (body)
        buf_printf(&head, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    buf_puts(&head, "\r\n");
    if (body) buf_append(&head, body, body_len); /* one write: no small-segment stalls */
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (!reused && conn_open(c, err, errlen)) break;
        int got_any = 0, must_close = 0;
        if (send_all(c->fd, head.data, head.len) == 0 &&
            read_response(c, method, r, &got_any, &must_close, err, errlen) == 0) {
            if (must_close) conn_drop(c);
            rc = 0;
            break;
        }
        conn_drop(c);
        if (!reused || got_any) {
            if (!got_any && !err[0]) snprintf(err, errlen, "send failed: %s", strerror(errno));
            break;
        }
        /* a stale keep-alive connection: reopen once */
        r->status = 0;
        buf_reset(&r->body);
    }
    buf_free(&head);
    return rc;
}

int live_http_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t sl = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &sl) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int live_http_wait_connect(const char *host, int port, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        live_http_conn_t c;
        char err[128];
        live_http_init(&c, host, port, 1000);
        int ok = conn_open(&c, err, sizeof err) == 0;
        live_http_close(&c);
        if (ok) return 0;
        if (clock_mono_ms() >= deadline) return -1;
        usleep(20000);
    }
}
