/* server.c - tether's HTTP/1.1 server, the connection side: parsing with
 * http-parser, requests, responding, direct socket I/O, timeouts and
 * accepting. Worker threads, binding and start/stop: server_workers.c.
 *
 * Why not evhttp: measured at a third of nginx's proxy throughput here
 * (ARCHITECTURE.md section 5). This layer does only what the router needs:
 * per-worker event loops with SO_REUSEPORT sockets, keep-alive, in-order
 * pipelining (the parser is paused after each request and resumed when its
 * response is finished), header/body limits and timeouts, chunked or
 * length-delimited responses, backpressure signals, graceful stop.
 *
 * One request is in flight per connection; its hsrv_req_t and arena are
 * embedded in the connection and reused, so steady-state requests do not
 * malloc here. Neighbours: upstream.c (client side), api/ (handlers). */
#include "http/server.h"
#include "http/server_internal.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int conn_process(hsrv_conn_t *c);
static void conn_arm_timer(hsrv_conn_t *c);

/* ---------------------------------------------------------------- utils */

const char *hsrv_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

const hsrv_header_t *hsrv_req_header(const hsrv_req_t *req, const char *lname)
{
    size_t n = strlen(lname);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name_len == n && memcmp(req->headers[i].name, lname, n) == 0)
            return &req->headers[i];
    return NULL;
}

struct event_base *hsrv_req_base(const hsrv_req_t *req)
{
    return req->conn->w->base;
}

bool hsrv_started(const hsrv_req_t *req)
{
    return req->conn->started;
}

size_t hsrv_bytes_sent(const hsrv_req_t *req)
{
    return req->conn->bytes_sent;
}

size_t hsrv_pending(const hsrv_req_t *req)
{
    return evbuffer_get_length(bufferevent_get_output(req->conn->bev)) +
           evbuffer_get_length(req->conn->out);
}

static hsrv_method_t method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET: return HSRV_GET;
    case HTTP_POST: return HSRV_POST;
    case HTTP_PUT: return HSRV_PUT;
    case HTTP_DELETE: return HSRV_DELETE;
    case HTTP_HEAD: return HSRV_HEAD;
    case HTTP_OPTIONS: return HSRV_OPTIONS;
    case HTTP_PATCH: return HSRV_PATCH;
    default: return HSRV_OTHER;
    }
}

/* ------------------------------------------------------- parser callbacks */

static int reject(hsrv_conn_t *c, int status, const char *code, const char *msg)
{
    if (!c->error_status) {
        c->error_status = status;
        c->error_code = code;
        c->error_msg = msg;
    }
    return -1;
}

static int header_budget(hsrv_conn_t *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->w->srv->cfg.limits.max_header_bytes)
        return reject(c, 431, "headers_too_large", "request headers exceed the configured limit");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    hsrv_conn_t *c = p->data;
    buf_reset(&c->url);
    buf_reset(&c->hdr);
    buf_reset(&c->body);
    c->n_hdr = 0;
    c->last_was_value = 0;
    c->header_bytes = 0;
    c->headers_done = 0;
    c->message_done = 0;
    c->expect_continue = 0;
    c->parsing = 1;
    conn_arm_timer(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    hsrv_conn_t *c = p->data;
    if (header_budget(c, len)) return -1;
    buf_append(&c->url, at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    hsrv_conn_t *c = p->data;
    if (header_budget(c, len)) return -1;
    if (c->n_hdr == 0 || c->last_was_value) {
        if (c->n_hdr >= HSRV_MAX_HEADERS)
            return reject(c, 431, "too_many_headers", "too many request headers");
        c->hoff[c->n_hdr][0] = c->hdr.len;
        c->hoff[c->n_hdr][1] = 0;
        c->hoff[c->n_hdr][2] = 0;
        c->hoff[c->n_hdr][3] = 0;
        c->n_hdr++;
        c->last_was_value = 0;
    }
    size_t start = c->hdr.len;
    buf_append(&c->hdr, at, len);
    for (size_t i = start; i < c->hdr.len; i++)
        if (c->hdr.data[i] >= 'A' && c->hdr.data[i] <= 'Z') c->hdr.data[i] += 32;
    c->hoff[c->n_hdr - 1][1] += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    hsrv_conn_t *c = p->data;
    if (header_budget(c, len)) return -1;
    if (c->n_hdr == 0) return 0;
    if (!c->last_was_value) {
        c->hoff[c->n_hdr - 1][2] = c->hdr.len;
        c->last_was_value = 1;
    }
    buf_append(&c->hdr, at, len);
    c->hoff[c->n_hdr - 1][3] += len;
    return 0;
}

static int hdr_is(hsrv_conn_t *c, size_t i, const char *name)
{
    size_t n = strlen(name);
    return c->hoff[i][1] == n && memcmp(c->hdr.data + c->hoff[i][0], name, n) == 0;
}

static int on_headers_complete(http_parser *p)
{
    hsrv_conn_t *c = p->data;
    c->headers_done = 1;
    const hsrv_limits_t *lim = &c->w->srv->cfg.limits;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length != ULLONG_MAX &&
        p->content_length > lim->max_body_bytes)
        return reject(c, 413, "body_too_large", "request body exceeds the configured limit");
    for (size_t i = 0; i < c->n_hdr; i++) {
        if (hdr_is(c, i, "expect") && c->hoff[i][3] >= 12 &&
            strncasecmp(c->hdr.data + c->hoff[i][2], "100-continue", 12) == 0)
            c->expect_continue = 1;
    }
    if (c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        bufferevent_write(c->bev, cont, sizeof cont - 1);
    }
    conn_arm_timer(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    hsrv_conn_t *c = p->data;
    if (c->body.len + len > c->w->srv->cfg.limits.max_body_bytes)
        return reject(c, 413, "body_too_large", "request body exceeds the configured limit");
    buf_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hsrv_conn_t *c = p->data;
    c->message_done = 1;
    c->parsing = 0;
    c->headers_done = 0;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --------------------------------------------------------------- requests */

static void req_prepare(hsrv_conn_t *c)
{
    hsrv_req_t *r = &c->req;
    arena_t saved = r->arena;
    memset(r, 0, sizeof *r);
    r->arena = saved;
    r->conn = c;
    r->worker_ctx = c->w->ctx;
    r->listener_index = c->listener_index;
    r->started_us = clock_mono_us();
    hash_random_hex(r->request_id, 24);
    r->method = method_of(c->parser.method);
    r->method_str = http_method_str((enum http_method)c->parser.method);
    /* split path and query; url is NUL-terminated by buf */
    char *url = arena_strndup(&r->arena, c->url.data ? c->url.data : "", c->url.len);
    char *q = strchr(url, '?');
    if (q) {
        *q = 0;
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = url;
    r->path_len = strlen(url);
    r->n_headers = c->n_hdr;
    r->headers = arena_alloc(&r->arena, sizeof(hsrv_header_t) * (c->n_hdr ? c->n_hdr : 1));
    for (size_t i = 0; i < c->n_hdr; i++) {
        r->headers[i].name = c->hdr.data + c->hoff[i][0];
        r->headers[i].name_len = c->hoff[i][1];
        r->headers[i].value = c->hdr.data + c->hoff[i][2];
        r->headers[i].value_len = c->hoff[i][3];
    }
    if (!c->body.data) buf_reserve(&c->body, 0);
    r->body = c->body.data;
    r->body_len = c->body.len;
    r->keep_alive = http_should_keep_alive(&c->parser) && !c->w->stopping;
    c->http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
    c->started = c->chunked = c->finished = 0;
    c->head_only = r->method == HSRV_HEAD;
    c->content_length = -1;
    c->bytes_sent = 0;
    c->want_drain = 0;
}

static void req_release(hsrv_conn_t *c)
{
    hsrv_worker_t *w = c->w;
    c->busy = 0;
    w->inflight--;
    atomic_fetch_sub(&w->srv->inflight, 1);
    arena_reset(&c->req.arena);
    /* do not keep huge bodies around between requests */
    if (c->body.cap > (1u << 20)) buf_free(&c->body);
    if (c->hdr.cap > (64u << 10)) buf_free(&c->hdr);
}

static void default_error(hsrv_req_t *req, int status, const char *code, const char *message)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"error\":{\"message\":");
    buf_json_str(&b, message, strlen(message));
    buf_printf(&b, ",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
               status >= 500 ? "server_error" : "invalid_request_error", code);
    hsrv_header_t h = {"content-type", 12, "application/json", 16};
    hsrv_respond(req, status, &h, 1, b.data, b.len);
    buf_free(&b);
}

/* The server answers an error itself (parse error, limits, timeouts) and
 * closes the connection afterwards. */
static void conn_error(hsrv_conn_t *c, int status, const char *code, const char *msg)
{
    hsrv_worker_t *w = c->w;
    tlog(TLOG_WARN, "http_rejected", "\"status\":%d,\"code\":\"%s\"", status, code);
    if (!c->busy) {
        c->busy = 1;
        w->inflight++;
        atomic_fetch_add(&w->srv->inflight, 1);
        req_prepare(c);
    }
    c->req.keep_alive = false;
    c->closing = 1;
    if (w->srv->cfg.on_error)
        w->srv->cfg.on_error(&c->req, status, code, msg, w->srv->cfg.ud);
    else
        default_error(&c->req, status, code, msg);
}

/* Returns 1 when the connection was freed. */
static int conn_process(hsrv_conn_t *c)
{
    if (c->in_process || c->dead) return 0;
    c->in_process = 1;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->busy && !c->closing && !c->dead) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) break;
        struct evbuffer_iovec vec[16];
        int nv = evbuffer_peek(in, -1, NULL, vec, 16);
        if (nv > 16) nv = 16;
        size_t consumed = 0;
        int stop = 0;
        for (int i = 0; i < nv && !stop; i++) {
            size_t n =
                http_parser_execute(&c->parser, &parser_settings, vec[i].iov_base, vec[i].iov_len);
            consumed += n;
            enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
            if (e == HPE_PAUSED) {
                stop = 1;
            } else if (e != HPE_OK) {
                evbuffer_drain(in, consumed);
                if (c->error_status)
                    conn_error(c, c->error_status, c->error_code, c->error_msg);
                else if (e == HPE_HEADER_OVERFLOW)
                    conn_error(c, 431, "headers_too_large", "request headers too large");
                else
                    conn_error(c, 400, "bad_request", http_errno_description(e));
                goto out;
            } else if (n != vec[i].iov_len) {
                stop = 1;
            }
        }
        evbuffer_drain(in, consumed);
        if (c->message_done) {
            c->message_done = 0;
            http_parser_pause(&c->parser, 0);
            c->busy = 1;
            c->w->inflight++;
            atomic_fetch_add(&c->w->srv->inflight, 1);
            req_prepare(c);
            if (c->timer) evtimer_del(c->timer);
            c->w->srv->cfg.handler(&c->req, c->w->srv->cfg.ud);
            continue;
        }
        if (consumed == 0) break;
    }
    /* backpressure on input while a request is in flight */
    if (!c->dead && c->busy && evbuffer_get_length(in) > HSRV_HIGH_WATER)
        bufferevent_disable(c->bev, EV_READ);
out:
    c->in_process = 0;
    if (c->dead) {
        srv_conn_free(c);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- responding */

/* Write staged bytes straight to the socket when nothing is queued ahead of
 * them (one writev, no write-event registration); whatever the socket does
 * not take goes to the bufferevent, which finishes it and reports errors.
 * Saves the epoll_ctl pair per response that enabling the write event costs. */
static void conn_flush(hsrv_conn_t *c)
{
    if (evbuffer_get_length(c->out) == 0) return;
    struct evbuffer *bo = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(bo) == 0 && !c->client_gone) {
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        while (evbuffer_get_length(c->out) > 0)
            if (evbuffer_write(c->out, fd) <= 0) break;
    }
    if (evbuffer_get_length(c->out) > 0) evbuffer_add_buffer(bo, c->out);
}

static void write_head(hsrv_conn_t *c, int status, const hsrv_header_t *h, size_t n, int64_t clen)
{
    struct evbuffer *out = c->out;
    hsrv_req_t *r = &c->req;
    char line[128];
    int m = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, hsrv_reason(status));
    evbuffer_add(out, line, (size_t)m);
    size_t total = (size_t)m;
    for (size_t i = 0; i < n; i++) {
        evbuffer_add(out, h[i].name, h[i].name_len);
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, h[i].value, h[i].value_len);
        evbuffer_add(out, "\r\n", 2);
        total += h[i].name_len + h[i].value_len + 4;
    }
    if (clen >= 0) {
        m = snprintf(line, sizeof line, "content-length: %lld\r\n", (long long)clen);
        c->chunked = 0;
    } else if (c->http10) {
        /* no chunked encoding for HTTP/1.0: delimit by closing */
        r->keep_alive = false;
        m = 0;
    } else {
        m = snprintf(line, sizeof line, "transfer-encoding: chunked\r\n");
        c->chunked = 1;
    }
    if (m) evbuffer_add(out, line, (size_t)m);
    total += (size_t)m;
    if (!r->keep_alive) {
        evbuffer_add(out, "connection: close\r\n", 19);
        total += 19;
    } else if (c->http10) {
        evbuffer_add(out, "connection: keep-alive\r\n", 24);
        total += 24;
    }
    evbuffer_add(out, "\r\n", 2);
    c->bytes_sent += total + 2;
    c->started = 1;
    c->content_length = clen;
}

static void finish_common(hsrv_conn_t *c)
{
    c->finished = 1;
    if (!c->req.keep_alive) c->closing = 1;
    req_release(c);
    if (c->closing) {
        /* close after the output drained (write callback) */
        bufferevent_disable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            c->dead = 1;
            if (!c->in_process) srv_conn_free(c);
        }
        return;
    }
    bufferevent_enable(c->bev, EV_READ);
    conn_arm_timer(c);
    if (c->w->stopping && !c->busy && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
        c->closing = 1;
        c->dead = 1;
        if (!c->in_process) srv_conn_free(c);
        return;
    }
    if (!c->in_process) conn_process(c);
}

void hsrv_respond(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                  const char *body, size_t body_len)
{
    hsrv_conn_t *c = req->conn;
    if (c->client_gone) return hsrv_abort(req);
    write_head(c, status, hdrs, n_hdrs, (int64_t)body_len);
    if (body_len && !c->head_only) {
        evbuffer_add(c->out, body, body_len);
        c->bytes_sent += body_len;
    }
    conn_flush(c);
    finish_common(c);
}

void hsrv_start(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                int64_t content_length)
{
    if (req->conn->client_gone) return;
    write_head(req->conn, status, hdrs, n_hdrs, content_length);
    conn_flush(req->conn);
}

void hsrv_write(hsrv_req_t *req, const void *data, size_t len)
{
    hsrv_conn_t *c = req->conn;
    if (!len || c->head_only || c->client_gone) return;
    struct evbuffer *out = c->out;
    if (c->chunked) {
        char sz[24];
        int m = snprintf(sz, sizeof sz, "%zx\r\n", len);
        evbuffer_add(out, sz, (size_t)m);
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
        c->bytes_sent += (size_t)m + len + 2;
    } else {
        evbuffer_add(out, data, len);
        c->bytes_sent += len;
    }
    conn_flush(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > HSRV_HIGH_WATER) c->want_drain = 1;
}

void hsrv_finish(hsrv_req_t *req)
{
    hsrv_conn_t *c = req->conn;
    if (c->client_gone) return hsrv_abort(req);
    if (c->chunked && !c->head_only) {
        evbuffer_add(c->out, "0\r\n\r\n", 5);
        c->bytes_sent += 5;
        conn_flush(c);
    }
    if (c->content_length < 0 && !c->chunked) req->keep_alive = false;
    finish_common(c);
}

void hsrv_abort(hsrv_req_t *req)
{
    hsrv_conn_t *c = req->conn;
    req_release(c);
    c->closing = 1;
    c->dead = 1;
    /* RST rather than FIN, so the peer sees a reset */
    struct linger lg = {1, 0};
    setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (!c->in_process) srv_conn_free(c);
}

/* ------------------------------------------------------------ connections */

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    hsrv_conn_t *c = arg;
    if (c->busy) return;
    if (c->parsing || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
        conn_error(c, 408, c->headers_done ? "body_timeout" : "header_timeout",
                   c->headers_done ? "timed out reading the request body"
                                   : "timed out reading the request headers");
        return;
    }
    srv_conn_free(c); /* idle keep-alive connection */
}

static void conn_arm_timer(hsrv_conn_t *c)
{
    if (!c->timer) return;
    const hsrv_config_t *cfg = &c->w->srv->cfg;
    uint64_t ms;
    if (c->parsing && c->headers_done)
        ms = cfg->limits.body_timeout_ms;
    else if (c->parsing)
        ms = cfg->limits.header_timeout_ms;
    else
        ms = c->w->srv->listens[c->listener_index].idle_timeout_ms;
    if (!ms) ms = 300000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->timer, &tv);
}

/* libevent 2.1 reads at most 4096 bytes per readiness event; pull what the
 * socket holds directly (64 KiB at a time) so a large body takes a few
 * syscalls instead of one per 4 KiB. */
static void conn_pull(hsrv_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    size_t limit =
        c->w->srv->cfg.limits.max_body_bytes + c->w->srv->cfg.limits.max_header_bytes + 65536;
    for (int i = 0; i < 512 && evbuffer_get_length(in) < limit; i++) {
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(in, 65536, v, 2);
        if (nv <= 0) return;
        size_t want = 0;
        for (int k = 0; k < nv; k++)
            want += v[k].iov_len;
        ssize_t r = readv(fd, (struct iovec *)v, nv);
        if (r <= 0) {
            evbuffer_commit_space(in, v, 0);
            if (r == 0) c->peer_eof = 1;
            return;
        }
        size_t left = (size_t)r;
        for (int k = 0; k < nv; k++) {
            if (v[k].iov_len > left) v[k].iov_len = left;
            left -= v[k].iov_len;
        }
        evbuffer_commit_space(in, v, nv);
        if ((size_t)r < want) return; /* drained */
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    hsrv_conn_t *c = arg;
    if (!c->busy) conn_pull(c);
    if (!c->busy && c->timer && !c->parsing) {
        /* first bytes of a new request: header timeout from now */
        c->parsing = 1;
        conn_arm_timer(c);
        c->parsing = 0;
    }
    if (conn_process(c)) return;
    if (c->peer_eof && !c->dead) {
        /* the FIN we consumed ourselves: same handling as the bufferevent's */
        c->peer_eof = 0;
        conn_event_cb(bev, BEV_EVENT_EOF | BEV_EVENT_READING, c);
    }
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    hsrv_conn_t *c = arg;
    if (c->closing && !c->busy) {
        c->dead = 1;
        if (!c->in_process) srv_conn_free(c);
        return;
    }
    if (c->busy && c->want_drain &&
        evbuffer_get_length(bufferevent_get_output(bev)) <= HSRV_LOW_WATER) {
        c->want_drain = 0;
        if (c->req.on_drain) c->req.on_drain(&c->req);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    hsrv_conn_t *c = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    if (c->busy && c->req.keep_on_abort) {
        /* the handler keeps the request until it calls hsrv_abort */
        c->client_gone = 1;
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        if (c->req.on_abort) c->req.on_abort(&c->req);
        return;
    }
    if (c->busy) {
        hsrv_req_t *r = &c->req;
        c->dead = 1;
        if (r->on_abort) r->on_abort(r);
        req_release(c);
    }
    c->dead = 1;
    if (!c->in_process) srv_conn_free(c);
}

void srv_conn_free(hsrv_conn_t *c)
{
    hsrv_worker_t *w = c->w;
    if (c->busy) {
        /* the handler still owns the request: tell it, then release */
        if (c->req.on_abort) c->req.on_abort(&c->req);
        req_release(c);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->timer) event_free(c->timer);
    evbuffer_free(c->out);
    bufferevent_free(c->bev);
    buf_free(&c->url);
    buf_free(&c->hdr);
    buf_free(&c->body);
    arena_deinit(&c->req.arena);
    free(c);
    atomic_fetch_sub(&w->srv->conns, 1);
    if (w->stopping) srv_worker_maybe_exit(w);
}

void srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                   void *arg)
{
    hsrv_worker_t *w = arg;
    int li = 0;
    for (size_t i = 0; i < w->srv->cfg.n_listeners; i++)
        if (w->lev[i] == l) li = (int)i;
    if (w->stopping || (size_t)atomic_load(&w->srv->conns) >= w->srv->cfg.limits.max_connections) {
        if (!w->stopping) tlog(TLOG_WARN, "connection_refused", "\"reason\":\"max_connections\"");
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hsrv_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    atomic_fetch_add(&w->srv->conns, 1);
    c->w = w;
    c->listener_index = li;
    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->out = evbuffer_new();
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    arena_init(&c->req.arena, 16384);
    c->timer = evtimer_new(w->base, conn_timeout_cb, c);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_arm_timer(c);
}
