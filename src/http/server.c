/* server.c - tether's HTTP/1.1 server, the connection side: feeding the
 * request parser (server_parse.c), requests, responding, direct socket I/O,
 * timeouts, the idle list and accepting. Worker threads, binding and
 * start/stop: server_workers.c; the response head: server_head.c.
 *
 * Why not evhttp: measured at a third of nginx's proxy throughput here
 * (docs/ARCHITECTURE.md, "Where the code differs"). This layer does only
 * what the router needs: per-worker event loops with SO_REUSEPORT sockets,
 * keep-alive, in-order pipelining (the parser is paused after each request and resumed when its
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
#include "core/dlist.h"
#include "core/hash.h"
#include "core/log.h"
#include "metrics/metrics.h"

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
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int conn_process(hsrv_conn_t *c);
static void conn_arm_timer(hsrv_conn_t *c);

/* The socket's read side is not the bufferevent's: libevent 2.1 asks the
 * kernel how much is readable (ioctl FIONREAD) before every read and reads
 * at most 4 KiB at a time, so a 64 KiB body took 17 readiness events and
 * about 50 syscalls (and libevent freezes the bufferevent's input buffer, so
 * a direct read into it fails). server.c reads the socket itself (conn_pull) into c->in; the
 * bufferevent only writes (and reports write errors). */
static void read_start(hsrv_conn_t *c)
{
    if (c->reading) return;
    c->reading = 1;
    event_add(c->rev, NULL);
}

static void read_stop(hsrv_conn_t *c)
{
    if (!c->reading) return;
    c->reading = 0;
    event_del(c->rev);
}

/* ---------------------------------------------------------------- utils */

const hsrv_header_t *hsrv_req_header(const hsrv_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name_len == n && strncasecmp(req->headers[i].name, name, n) == 0)
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

/* ------------------------------------------------------------ idle list */

/* A connection is idle from accept, and again after each response, until a
 * byte of a request (other than the empty lines before it) arrives. At the
 * connection limit the oldest idle one is closed to admit a new one (else
 * the longest-arriving request head: stalled_victim). */
static void idle_add(hsrv_conn_t *c)
{
    hsrv_worker_t *w = c->w;
    if (c->is_idle) return;
    c->is_idle = 1;
    DLIST_PUSH_BACK(w->idle_head, w->idle_tail, c, idle_prev, idle_next);
}

static void idle_del(hsrv_conn_t *c)
{
    hsrv_worker_t *w = c->w;
    if (!c->is_idle) return;
    c->is_idle = 0;
    DLIST_UNLINK(w->idle_head, w->idle_tail, c, idle_prev, idle_next);
}

static void count_closed_w(hsrv_worker_t *w, const char *reason)
{
    if (w->srv->met_closed) met_inc(w->srv->met_closed, 1, reason);
}

static void count_closed(hsrv_conn_t *c, const char *reason)
{
    count_closed_w(c->w, reason);
}

/* ------------------------------------------------------------ parser hooks */

static void on_request_start(void *ud)
{
    hsrv_conn_t *c = ud;
    idle_del(c);
    c->recv_since_us = clock_mono_us();
    /* a new connection's header timer runs from accept; on a kept-alive
     * one it starts with the request's first byte */
    if (c->served) conn_arm_timer(c);
}

static void on_headers(void *ud)
{
    hsrv_conn_t *c = ud;
    if (c->rp.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        bufferevent_write(c->bev, cont, sizeof cont - 1);
    }
    conn_arm_timer(c);
}

static const srv_parse_hooks_t parse_hooks = {on_request_start, on_headers};

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
    srv_parse_t *p = &c->rp;
    r->method = method_of(p->parser.method);
    r->method_str = http_method_str((enum http_method)p->parser.method);
    /* split path and query; url is NUL-terminated by buf */
    char *url = arena_strndup(&r->arena, p->url.data ? p->url.data : "", p->url.len);
    char *q = strchr(url, '?');
    if (q) {
        *q = 0;
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = url;
    r->path_len = strlen(url);
    r->n_headers = p->n_hdr;
    r->headers = arena_alloc(&r->arena, sizeof(hsrv_header_t) * (p->n_hdr ? p->n_hdr : 1));
    for (size_t i = 0; i < p->n_hdr; i++) {
        r->headers[i].name = p->hdr.data + p->hoff[i][0];
        r->headers[i].name_len = p->hoff[i][1];
        r->headers[i].value = p->hdr.data + p->hoff[i][2];
        r->headers[i].value_len = p->hoff[i][3];
    }
    if (!p->body.data) buf_reserve(&p->body, 0);
    r->body = p->body.data;
    r->body_len = p->body.len;
    r->keep_alive = http_should_keep_alive(&p->parser) && !c->w->stopping;
    c->http10 = p->parser.http_major == 1 && p->parser.http_minor == 0;
    c->started = c->chunked = c->finished = 0;
    c->head_only = r->method == HSRV_HEAD;
    c->content_length = -1;
    c->status = 0;
    c->bytes_sent = 0;
    c->want_drain = 0;
}

static void req_release(hsrv_conn_t *c)
{
    hsrv_worker_t *w = c->w;
    if (w->srv->cfg.on_done) w->srv->cfg.on_done(&c->req, c->status, w->srv->cfg.ud);
    c->req.access = NULL;
    c->busy = 0;
    w->inflight--;
    atomic_fetch_sub(&w->srv->inflight, 1);
    arena_reset(&c->req.arena);
    /* do not keep huge bodies around between requests */
    srv_parse_trim(&c->rp);
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
    idle_del(c);
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
    struct evbuffer *in = c->in;
    while (!c->busy && !c->closing && !c->dead) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) break;
        struct evbuffer_iovec vec[16];
        int nv = evbuffer_peek(in, -1, NULL, vec, 16);
        if (nv > 16) nv = 16;
        size_t consumed = 0;
        int stop = 0;
        for (int i = 0; i < nv && !stop; i++) {
            srv_parse_ev_t ev;
            size_t n = srv_parse_feed(&c->rp, vec[i].iov_base, vec[i].iov_len, &ev);
            consumed += n;
            if (ev == SRV_PARSE_MESSAGE) {
                stop = 1;
            } else if (ev == SRV_PARSE_ERROR) {
                evbuffer_drain(in, consumed);
                conn_error(c, c->rp.error_status, c->rp.error_code, c->rp.error_msg);
                goto out;
            } else if (n != vec[i].iov_len) {
                stop = 1;
            }
        }
        evbuffer_drain(in, consumed);
        if (c->rp.message_done) {
            srv_parse_next(&c->rp);
            idle_del(c);
            c->recv_since_us = 0;
            c->busy = 1;
            c->w->inflight++;
            atomic_fetch_add(&c->w->srv->inflight, 1);
            req_prepare(c);
            /* no clock while the handler has it (the timer, lazily kept, finds none) */
            c->deadline_us = 0;
            c->w->srv->cfg.handler(&c->req, c->w->srv->cfg.ud);
            continue;
        }
        if (consumed == 0) break;
    }
    /* backpressure on input while a request is in flight */
    if (!c->dead && c->busy && evbuffer_get_length(in) > HSRV_HIGH_WATER) read_stop(c);
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

static void finish_common(hsrv_conn_t *c)
{
    c->finished = 1;
    if (!c->req.keep_alive) c->closing = 1;
    req_release(c);
    if (c->closing) {
        /* close after the output drained (write callback) */
        read_stop(c);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            c->dead = 1;
            if (!c->in_process) srv_conn_free(c);
        }
        return;
    }
    read_start(c);
    c->served++;
    idle_add(c);
    conn_arm_timer(c); /* keep-alive idle */
    if (c->w->stopping && !c->busy && evbuffer_get_length(c->in) == 0) {
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
    srv_write_head(c, status, hdrs, n_hdrs, (int64_t)body_len);
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
    srv_write_head(req->conn, status, hdrs, n_hdrs, content_length);
    conn_flush(req->conn);
}

void hsrv_start_whole(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                      const char *body, size_t body_len)
{
    hsrv_conn_t *c = req->conn;
    if (c->client_gone) return;
    srv_write_head(c, status, hdrs, n_hdrs, (int64_t)body_len);
    if (body_len && !c->head_only) {
        evbuffer_add(c->out, body, body_len);
        c->bytes_sent += body_len;
    }
    conn_flush(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > HSRV_HIGH_WATER) c->want_drain = 1;
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

static void timer_set(hsrv_conn_t *c, uint64_t now, uint64_t at)
{
    uint64_t us = at > now ? at - now : 0;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    c->armed_us = at;
    evtimer_add(c->timer, &tv);
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    hsrv_conn_t *c = arg;
    c->armed_us = 0;
    if (!c->deadline_us) return; /* no clock runs (the handler has the request) */
    uint64_t now = clock_mono_us();
    if (now < c->deadline_us) { /* the clock was moved later since the timer was set */
        timer_set(c, now, c->deadline_us);
        return;
    }
    c->deadline_us = 0;
    if (c->busy) return;
    if (c->closing) {
        srv_conn_free(c); /* the peer does not read our last response */
        return;
    }
    if (c->rp.started || evbuffer_get_length(c->in) > 0) {
        conn_error(c, 408, c->rp.headers_done ? "body_timeout" : "header_timeout",
                   c->rp.headers_done ? "timed out reading the request body"
                                      : "timed out reading the request headers");
        return;
    }
    /* no byte of a request: close without an answer */
    count_closed(c, c->served ? "keepalive_timeout" : "header_timeout");
    tlog(TLOG_DEBUG, "connection_idle_closed", "\"reason\":\"%s\"",
         c->served ? "keepalive_timeout" : "header_timeout");
    srv_conn_free(c);
}

/* Which clock runs: the body's after the head, the head's from accept (a new
 * connection) or from a request's first byte, else the keep-alive idle one. */
static void conn_arm_timer(hsrv_conn_t *c)
{
    if (!c->timer) return;
    const hsrv_config_t *cfg = &c->w->srv->cfg;
    uint64_t ms;
    if (c->rp.headers_done) {
        ms = cfg->limits.body_timeout_ms;
    } else if (c->rp.started || !c->served) {
        ms = cfg->limits.header_timeout_ms;
    } else {
        ms = cfg->limits.keepalive_timeout_ms;
        uint64_t li = c->w->srv->listens[c->listener_index].idle_timeout_ms;
        if (li && li < ms) ms = li;
    }
    if (!ms) ms = 300000;
    uint64_t now = clock_mono_us();
    c->deadline_us = now + ms * 1000;
    /* a timer set to fire no later is left as it is (it sets itself again
     * for the rest when it fires early) */
    if (!c->armed_us || c->armed_us > c->deadline_us) timer_set(c, now, c->deadline_us);
}

/* A read's size: libevent's chain header and this fit in 64 KiB, evmem.c's
 * largest cached class, so reading allocates nothing once warm. */
#define HSRV_READ_CHUNK (65536 - 256)

/* Read what the socket holds, 64 KiB at a time, until a read comes back
 * short (the socket is drained: level-triggered, so no read to see EAGAIN).
 * While a request is with the handler, one read per readiness event (the
 * next pipelined request, or the peer's FIN or reset, which aborts it);
 * conn_process stops reading past HSRV_HIGH_WATER. */
static void conn_pull(hsrv_conn_t *c)
{
    struct evbuffer *in = c->in;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    size_t limit =
        c->w->srv->cfg.limits.max_body_bytes + c->w->srv->cfg.limits.max_header_bytes + 65536;
    int rounds = c->busy ? 1 : 512;
    for (int i = 0; i < rounds && evbuffer_get_length(in) < limit; i++) {
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(in, HSRV_READ_CHUNK, v, 2);
        if (nv <= 0) return;
        size_t want = 0;
        for (int k = 0; k < nv; k++)
            want += v[k].iov_len;
        ssize_t r = readv(fd, (struct iovec *)v, nv);
        if (r <= 0) {
            evbuffer_commit_space(in, v, 0);
            if (r == 0)
                c->peer_eof = 1;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                c->peer_err = 1;
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

static void conn_readable_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hsrv_conn_t *c = arg;
    conn_pull(c);
    if (conn_process(c)) return;
    if ((c->peer_eof || c->peer_err) && !c->dead) {
        /* the FIN or reset a read saw: the bufferevent's handling of either */
        short ev = BEV_EVENT_READING | (c->peer_err ? BEV_EVENT_ERROR : BEV_EVENT_EOF);
        c->peer_eof = c->peer_err = 0;
        read_stop(c); /* a closed socket stays readable */
        conn_event_cb(c->bev, ev, c);
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
        read_stop(c);
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
    idle_del(c);
    if (c->timer) event_free(c->timer);
    event_free(c->rev); /* before the bufferevent closes the socket */
    evbuffer_free(c->out);
    evbuffer_free(c->in);
    bufferevent_free(c->bev);
    srv_parse_deinit(&c->rp);
    arena_deinit(&c->req.arena);
    if (c->addr_counted) srv_addr_release(w->srv->addrs, &c->addr);
    free(c);
    atomic_fetch_sub(&w->srv->conns, 1);
    w->n_conns--;
    if (w->stopping) srv_worker_maybe_exit(w);
}

/* The longest-idle connection whose socket holds no unread bytes (a request
 * may have arrived that this loop has not read yet); a few are looked at. */
static hsrv_conn_t *idle_victim(hsrv_worker_t *w)
{
    int n = 0;
    for (hsrv_conn_t *c = w->idle_head; c && n < 16; c = c->idle_next, n++) {
        int pending = 0;
        if (evbuffer_get_length(c->in) > 0) continue;
        if (ioctl(bufferevent_getfd(c->bev), FIONREAD, &pending) == 0 && pending > 0) continue;
        return c;
    }
    return NULL;
}

/* With no idle connection: the one whose request head has been arriving the
 * longest - a slowloris trickling a head must not lock real clients out
 * until header_timeout. A head that is complete (a body upload in progress,
 * a request being answered) is never closed for this. Walks the worker's
 * connections; only reached at the limit with none idle. */
static hsrv_conn_t *stalled_victim(hsrv_worker_t *w)
{
    hsrv_conn_t *v = NULL;
    for (hsrv_conn_t *c = w->conns; c; c = c->next) {
        if (c->busy || c->dead || c->closing || c->is_idle || !c->recv_since_us ||
            c->rp.headers_done)
            continue;
        if (!v || c->recv_since_us < v->recv_since_us) v = c;
    }
    return v;
}

/* Over max_connections_per_address: a 429 written straight to the new
 * socket (its send buffer is empty, so the few bytes fit), then closed.
 * What the client already sent is read and dropped first, so the close is
 * a FIN, not a reset that could destroy the answer. Counted; logged at
 * most once a second per worker with the count since the last line. */
static void refuse_for_address(hsrv_worker_t *w, evutil_socket_t fd, const srv_addr_t *a)
{
    static const char body[] =
        "{\"error\":{\"message\":\"too many open connections from this address "
        "(max_connections_per_address)\",\"type\":\"rate_limit_error\",\"code\":"
        "\"too_many_connections\"}}";
    char answer[512];
    int len = snprintf(answer, sizeof answer,
                       "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                       "Connection: close\r\nRetry-After: 1\r\nContent-Length: %zu\r\n\r\n%s",
                       sizeof body - 1, body);
    char drop[4096];
    while (recv(fd, drop, sizeof drop, MSG_DONTWAIT) > 0) {}
    ssize_t n = send(fd, answer, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
    shutdown(fd, SHUT_WR);
    evutil_closesocket(fd);
    count_closed_w(w, "max_connections_per_address");
    w->addr_refused++;
    uint64_t now = clock_mono_us();
    if (now - w->addr_log_us >= 1000000 || !w->addr_log_us) {
        char ip[64];
        srv_addr_format(a, ip, sizeof ip);
        tlog(TLOG_WARN, "connection_refused",
             "\"reason\":\"max_connections_per_address\",\"client\":\"%s\",\"refused\":%u", ip,
             w->addr_refused);
        w->addr_log_us = now;
        w->addr_refused = 0;
    }
}

void srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                   void *arg)
{
    hsrv_worker_t *w = arg;
    int li = 0;
    for (size_t i = 0; i < w->srv->cfg.n_listeners; i++)
        if (w->lev[i] == l) li = (int)i;
    if (w->stopping) {
        evutil_closesocket(fd);
        return;
    }
    /* Per client address first: a connection refused for its address must
     * not cost another client its place below. */
    srv_addr_t addr = srv_addr_of(sa, salen);
    size_t per_addr = w->srv->cfg.limits.max_connections_per_address;
    if (per_addr && !srv_addr_acquire(w->srv->addrs, &addr, per_addr)) {
        refuse_for_address(w, fd, &addr);
        return;
    }
    /* Each worker holds at most its share of max_connections: a worker can
     * only make room among its own connections, so a flood held by one
     * worker must not leave another with a full process and nothing of its
     * own to evict. */
    size_t max = w->srv->cfg.limits.max_connections, nw = (size_t)w->srv->n_workers;
    size_t share = nw > 1 ? (max + nw - 1) / nw : max;
    if ((size_t)atomic_load(&w->srv->conns) >= max || w->n_conns >= share) {
        /* a flood of idle sockets must not lock real clients out: make room
         * by closing this worker's longest-idle connection, if it has one */
        hsrv_conn_t *old = idle_victim(w);
        if (old) {
            count_closed(old, "idle_evicted");
            tlog(TLOG_DEBUG, "connection_idle_closed", "\"reason\":\"idle_evicted\"");
        } else if ((old = stalled_victim(w))) {
            count_closed(old, "stalled_evicted");
            tlog(TLOG_WARN, "connection_stalled_closed", "\"reason\":\"stalled_evicted\"");
        } else {
            count_closed_w(w, "max_connections");
            tlog(TLOG_WARN, "connection_refused", "\"reason\":\"max_connections\"");
            if (per_addr) srv_addr_release(w->srv->addrs, &addr);
            evutil_closesocket(fd);
            return;
        }
        old->dead = 1;
        srv_conn_free(old);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hsrv_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        if (per_addr) srv_addr_release(w->srv->addrs, &addr);
        evutil_closesocket(fd);
        return;
    }
    c->addr = addr;
    c->addr_counted = per_addr != 0;
    atomic_fetch_add(&w->srv->conns, 1);
    w->n_conns++;
    c->w = w;
    c->listener_index = li;
    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->out = evbuffer_new();
    c->in = evbuffer_new();
    c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_readable_cb, c);
    const hsrv_limits_t *lim = &w->srv->cfg.limits;
    srv_parse_init(&c->rp, lim->max_header_bytes, lim->max_body_bytes, lim->max_empty_lines,
                   &parse_hooks, c);
    arena_init(&c->req.arena, 16384);
    c->timer = evtimer_new(w->base, conn_timeout_cb, c);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
    /* a new bufferevent is enabled for writing only (its write event is
     * added when output is queued); conn_readable_cb reads */
    read_start(c);
    idle_add(c);
    conn_arm_timer(c); /* the header timer starts at accept */
}
