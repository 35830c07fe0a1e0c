/* http_client.c - test support: blocking raw-socket HTTP/1.1 client with
 * Content-Length, chunked and close-delimited bodies, piecewise reads with
 * timestamps, and an SSE data splitter (see http_client.h). */
#include "http_client.h"
#include "core/clock.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int thttp_open(thttp_conn_t *c, const char *host, int port, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        errno = e;
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    return 0;
}

void thttp_close(thttp_conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

int thttp_send(thttp_conn_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int thttp_send_request(thttp_conn_t *c, const char *method, const char *path, const char *headers,
                       const char *body, size_t body_len)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, path);
    if (headers) buf_puts(&b, headers);
    int has_ct = headers && strcasestr(headers, "content-type:") != NULL;
    if (body_len && !has_ct) buf_puts(&b, "Content-Type: application/json\r\n");
    if (body_len || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH"))
        buf_printf(&b, "Content-Length: %zu\r\n", body_len);
    buf_puts(&b, "\r\n");
    if (body_len) buf_append(&b, body, body_len);
    c->last_head = !strcmp(method, "HEAD");
    int rc = thttp_send(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

/* Read more bytes into c->in. >0 bytes, 0 EOF, -1 error/timeout (c->err). */
static ssize_t fill(thttp_conn_t *c)
{
    if (c->eof) return 0;
    struct pollfd pf = {c->fd, POLLIN, 0};
    for (;;) {
        int pr = poll(&pf, 1, c->timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) {
            c->err = ETIMEDOUT;
            return -1;
        }
        if (pr < 0) {
            c->err = errno;
            return -1;
        }
        break;
    }
    if (c->in_cap - c->in_len < 16384) {
        c->in_cap = c->in_cap ? c->in_cap * 2 : 32768;
        c->in = realloc(c->in, c->in_cap);
        if (!c->in) abort();
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            c->err = errno;
            return -1;
        }
        if (n == 0) c->eof = 1;
        c->in_len += (size_t)n;
        return n;
    }
}

static void consume(thttp_conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void fail(thttp_conn_t *c, thttp_resp_t *r)
{
    if (c->err == ETIMEDOUT)
        r->timed_out = 1;
    else
        r->reset = 1;
}

void thttp_resp_free(thttp_resp_t *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    buf_free(&r->body_buf);
    memset(r, 0, sizeof *r);
}

static void sync_body(thttp_resp_t *r)
{
    if (!r->body_buf.data) buf_puts(&r->body_buf, "");
    r->body = r->body_buf.data;
    r->body_len = r->body_buf.len;
}

const char *thttp_resp_header(const thttp_resp_t *r, const char *lname)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcmp(r->headers[i].name, lname)) return r->headers[i].value;
    return NULL;
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) abort();
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int thttp_read_head(thttp_conn_t *c, thttp_resp_t *r)
{
    memset(r, 0, sizeof *r);
    sync_body(r);
    char *end;
    for (;;) {
        end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
        if (end) break;
        ssize_t n = fill(c);
        if (n <= 0) {
            if (n == 0) c->err = ECONNRESET;
            fail(c, r);
            return -1;
        }
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    char *head = dup_range(c->in, head_len - 4);
    consume(c, head_len);
    r->head_us = clock_mono_us();
    char *save = NULL, *line = strtok_r(head, "\r\n", &save);
    if (!line || strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) {
        free(head);
        r->reset = 1;
        return -1;
    }
    r->status = atoi(line + 9);
    long long clen = -1;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        r->headers = realloc(r->headers, (r->n_headers + 1) * sizeof *r->headers);
        if (!r->headers) abort();
        char *name = dup_range(line, (size_t)(colon - line));
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        r->headers[r->n_headers].name = name;
        r->headers[r->n_headers].value = dup_range(v, vl);
        if (!strcmp(name, "transfer-encoding") &&
            strcasestr(r->headers[r->n_headers].value, "chunked"))
            r->chunked = 1;
        if (!strcmp(name, "content-length")) clen = atoll(r->headers[r->n_headers].value);
        r->n_headers++;
    }
    free(head);
    if (c->last_head || r->status == 204 || r->status == 304 || r->status < 200)
        r->remaining = 0, r->chunked = 0;
    else if (!r->chunked)
        r->remaining = clen; /* -1: until close */
    if (!r->chunked && r->remaining == 0) r->complete = 1;
    return 0;
}

int thttp_read_piece(thttp_conn_t *c, thttp_resp_t *r, buf_t *piece, uint64_t *t_us)
{
    if (piece) buf_reset(piece);
    if (r->complete) return 0;
    if (!r->chunked) {
        if (c->in_len == 0) {
            ssize_t n = fill(c);
            if (n < 0) {
                fail(c, r);
                return -1;
            }
            if (n == 0) {
                if (r->remaining < 0) { /* close-delimited body ends here */
                    r->complete = 1;
                    return 0;
                }
                r->reset = 1;
                return -1;
            }
        }
        size_t take = c->in_len;
        if (r->remaining >= 0 && (long long)take > r->remaining) take = (size_t)r->remaining;
        if (piece) buf_append(piece, c->in, take);
        buf_append(&r->body_buf, c->in, take);
        sync_body(r);
        consume(c, take);
        if (r->remaining >= 0) {
            r->remaining -= (long long)take;
            if (r->remaining == 0) r->complete = 1;
        }
        if (t_us) *t_us = clock_mono_us();
        return 1;
    }
    /* chunked: size line, data, CRLF; the last chunk is 0 then trailers */
    for (;;) {
        char *eol = c->in_len ? memmem(c->in, c->in_len, "\r\n", 2) : NULL;
        if (eol) {
            size_t size = strtoul(c->in, NULL, 16);
            size_t line_len = (size_t)(eol - c->in) + 2;
            if (size == 0) {
                /* trailers end with an empty line */
                char *tend = memmem(c->in + line_len - 2, c->in_len - line_len + 2, "\r\n\r\n", 4);
                if (tend) {
                    consume(c, (size_t)(tend - c->in) + 4);
                    r->complete = 1;
                    return 0;
                }
            } else if (c->in_len >= line_len + size + 2) {
                if (piece) buf_append(piece, c->in + line_len, size);
                buf_append(&r->body_buf, c->in + line_len, size);
                sync_body(r);
                consume(c, line_len + size + 2);
                if (t_us) *t_us = clock_mono_us();
                return 1;
            }
        }
        ssize_t n = fill(c);
        if (n <= 0) {
            if (n == 0) c->err = ECONNRESET;
            fail(c, r);
            return -1;
        }
    }
}

int thttp_read_response(thttp_conn_t *c, thttp_resp_t *r)
{
    if (thttp_read_head(c, r) < 0) return -1;
    int rc;
    while ((rc = thttp_read_piece(c, r, NULL, NULL)) > 0) {}
    return rc;
}

int thttp_request(const char *host, int port, const char *method, const char *path,
                  const char *headers, const char *body, size_t body_len, thttp_resp_t *r)
{
    thttp_conn_t c;
    memset(r, 0, sizeof *r);
    sync_body(r);
    if (thttp_open(&c, host, port, 10000) < 0) {
        r->reset = 1;
        return -1;
    }
    int rc = thttp_send_request(&c, method, path, headers, body, body_len);
    if (rc == 0) {
        thttp_resp_free(r);
        rc = thttp_read_response(&c, r);
    }
    thttp_close(&c);
    return rc;
}

size_t thttp_sse_data(const char *body, size_t len, char ***out)
{
    size_t n = 0, cap = 0;
    char **ev = NULL;
    buf_t cur = BUF_INIT;
    int have = 0;
    size_t pos = 0;
    while (pos <= len) {
        const char *line = body + pos;
        const char *nl = pos < len ? memchr(line, '\n', len - pos) : NULL;
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        size_t next = pos + ll + 1;
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0) { /* blank line (or end): dispatch */
            if (have) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    ev = realloc(ev, cap * sizeof *ev);
                    if (!ev) abort();
                }
                ev[n++] = buf_steal(&cur);
                have = 0;
            }
        } else if (ll >= 5 && !memcmp(line, "data:", 5)) {
            const char *v = line + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ') v++, vl--;
            if (have) buf_putc(&cur, '\n');
            buf_append(&cur, v, vl);
            if (!cur.data) buf_puts(&cur, "");
            have = 1;
        }
        if (!nl) break;
        pos = next;
    }
    if (have) {
        if (n == cap) {
            ev = realloc(ev, (cap + 1) * sizeof *ev);
            if (!ev) abort();
        }
        ev[n++] = buf_steal(&cur);
    }
    buf_free(&cur);
    *out = ev;
    return n;
}

void thttp_sse_free(char **events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(events[i]);
    free(events);
}
