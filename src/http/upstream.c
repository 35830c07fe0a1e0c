/* upstream.c - the backend side of the proxy: pooled keep-alive HTTP/1.1
 * connections (plain or TLS; plain sockets are read here, past libevent's
 * 4 KiB reads), request write with zero-copy body references,
 * streaming response parsing (a response head of the common shape read by
 * h1_head.c and its Content-Length body handed through in bulk, every other
 * one by http-parser), and timeouts per phase
 * (connect, first byte, idle between reads).
 *
 * A pooled connection that fails before any response byte is retried once,
 * transparently, on a fresh connection: the backend may have closed it while
 * it sat idle, which says nothing about the backend's health. */
#include "http/upstream.h"
#include "http/upstream_internal.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/thread_exit.h"
#include "http/h1_head.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <http_parser.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum { PH_CONNECT = 1, PH_FIRST_BYTE, PH_BODY, PH_DONE };

struct hup_call {
    hup_pools_t *pools;
    hup_pool_t *pool;
    hup_conn_t *conn;
    hup_request_t req;
    hup_callbacks_t cb;
    void *ud;
    http_parser parser;
    struct event *timer; /* &timer_ev once the call started */
    /* in the call itself (event_assign), not event_new's allocation: the
     * call is reused from the thread's cache, so a call costs no malloc and
     * free for its timer */
    struct event timer_ev;
    int phase;
    int reused;
    int retried_fresh;
    int got_response;
    int paused;
    int read_off; /* the connection's reading is disabled (a pause outlived the read loop) */
    int message_done;
    int in_read;
    int cancelled;
    int finished;
    int deferred; /* a deferred failure event is pending */
    /* response header capture */
    buf_t hdr;
    size_t hoff[HUP_MAX_RESP_HEADERS][4];
    size_t n_hdr;
    int last_was_value;
    int head_seen;              /* a byte of the response reached a parser */
    int fast_body;              /* the head was read by h1_head.c: its body arriving */
    uint64_t body_left;         /* bytes of that body still to come */
    struct hup_call *next_free; /* in the thread's call cache */
};

const char *hup_error_str(hup_error_t e)
{
    switch (e) {
    case HUP_ERR_CONNECT: return "connect_failure";
    case HUP_ERR_RESET: return "reset";
    case HUP_ERR_TIMEOUT_CONNECT: return "connect_timeout";
    case HUP_ERR_TIMEOUT_FIRST_BYTE: return "first_byte_timeout";
    case HUP_ERR_TIMEOUT_IDLE: return "stream_idle_timeout";
    case HUP_ERR_PROTOCOL: return "bad_response";
    case HUP_ERR_TLS: return "tls_failure";
    }
    return "error";
}

/* ----------------------------------------------------------- call helpers */

/* Finished calls kept by the thread that freed them, for its next call: a
 * worker starts one call per upstream request, and the object and its
 * response-header buffer then come from here instead of malloc. Nothing in a
 * cached call refers to an event base or a connection. Off under ASan, so a
 * use after free of a call is still caught. */
#ifdef __SANITIZE_ADDRESS__
#define CALL_CACHE_MAX 0
#else
#define CALL_CACHE_MAX 64
#endif
#define CALL_CACHE_HDR_KEEP (16 * 1024) /* a larger header buffer is released */
static __thread hup_call_t *call_cache;
static __thread size_t call_cache_n;

static void call_cache_drain(void *unused)
{
    (void)unused;
    while (call_cache) {
        hup_call_t *k = call_cache;
        call_cache = k->next_free;
        buf_free(&k->hdr);
        free(k);
    }
    call_cache_n = 0;
}

/* empties a thread's cache at its exit (unused when ASan turns the cache off) */
__attribute__((unused)) static core_thread_exit_t call_cache_exit =
    CORE_THREAD_EXIT_INIT(call_cache_drain);

/* A zeroed call (as calloc would give), from the cache when it has one. */
static hup_call_t *call_new(void)
{
    hup_call_t *k = call_cache;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) abort();
        return k;
    }
    call_cache = k->next_free;
    call_cache_n--;
    buf_t hdr = k->hdr;
    memset(k, 0, sizeof *k);
    k->hdr = hdr;
    buf_reset(&k->hdr);
    return k;
}

static void call_free(hup_call_t *k)
{
    if (k->timer) event_del(k->timer); /* embedded: nothing to free */
#if CALL_CACHE_MAX > 0
    if (call_cache_n < CALL_CACHE_MAX) {
        if (!call_cache) core_thread_exit_arm(&call_cache_exit, &call_cache);
        if (k->hdr.cap > CALL_CACHE_HDR_KEEP) buf_free(&k->hdr);
        k->next_free = call_cache;
        call_cache = k;
        call_cache_n++;
        return;
    }
#endif
    buf_free(&k->hdr);
    free(k);
}

static void arm(hup_call_t *k, uint64_t ms)
{
    if (!ms) {
        evtimer_del(k->timer);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(k->timer, &tv);
}

static void call_fail(hup_call_t *k, hup_error_t e)
{
    if (k->finished) return;
    k->finished = 1;
    if (k->conn) {
        hup_conn_destroy(k->conn);
        k->conn = NULL;
    }
    if (!k->cancelled && k->cb.on_error) k->cb.on_error(k->ud, e, k->got_response);
    if (!k->in_read) call_free(k);
}

static void call_done(hup_call_t *k)
{
    if (k->finished) return;
    k->finished = 1;
    hup_conn_t *c = k->conn;
    k->conn = NULL;
    evtimer_del(k->timer);
    if (c) {
        struct evbuffer *in = hup_conn_input(c);
        if (http_should_keep_alive(&k->parser) && evbuffer_get_length(in) == 0)
            hup_pool_put(c->pool, c);
        else
            hup_conn_destroy(c);
    }
    if (!k->cancelled && k->cb.on_done) k->cb.on_done(k->ud);
    if (!k->in_read) call_free(k);
}

/* ------------------------------------------------------- response parsing */

static int r_on_header_field(http_parser *p, const char *at, size_t len)
{
    hup_call_t *k = p->data;
    if (k->n_hdr == 0 || k->last_was_value) {
        if (k->n_hdr >= HUP_MAX_RESP_HEADERS) return 0; /* ignore extra headers */
        k->hoff[k->n_hdr][0] = k->hdr.len;
        k->hoff[k->n_hdr][1] = 0;
        k->hoff[k->n_hdr][2] = 0;
        k->hoff[k->n_hdr][3] = 0;
        k->n_hdr++;
        k->last_was_value = 0;
    }
    size_t start = k->hdr.len;
    buf_append(&k->hdr, at, len);
    for (size_t i = start; i < k->hdr.len; i++)
        if (k->hdr.data[i] >= 'A' && k->hdr.data[i] <= 'Z') k->hdr.data[i] += 32;
    k->hoff[k->n_hdr - 1][1] += len;
    return 0;
}

static int r_on_header_value(http_parser *p, const char *at, size_t len)
{
    hup_call_t *k = p->data;
    if (k->n_hdr == 0) return 0;
    if (!k->last_was_value) {
        k->hoff[k->n_hdr - 1][2] = k->hdr.len;
        k->last_was_value = 1;
    }
    buf_append(&k->hdr, at, len);
    k->hoff[k->n_hdr - 1][3] += len;
    return 0;
}

static int r_on_headers_complete(http_parser *p)
{
    hup_call_t *k = p->data;
    if (p->status_code >= 100 && p->status_code < 200) return 0;
    hsrv_header_t h[HUP_MAX_RESP_HEADERS];
    for (size_t i = 0; i < k->n_hdr; i++) {
        h[i].name = k->hdr.data + k->hoff[i][0];
        h[i].name_len = k->hoff[i][1];
        h[i].value = k->hdr.data + k->hoff[i][2];
        h[i].value_len = k->hoff[i][3];
    }
    int64_t clen = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
    if (p->flags & F_CHUNKED) clen = -1;
    k->phase = PH_BODY;
    arm(k, k->req.idle_timeout_ms);
    if (!k->cancelled && k->cb.on_headers)
        k->cb.on_headers(k->ud, (int)p->status_code, h, k->n_hdr, clen);
    return 0;
}

static int r_on_body(http_parser *p, const char *at, size_t len)
{
    hup_call_t *k = p->data;
    if (!k->cancelled && k->cb.on_body) k->cb.on_body(k->ud, at, len);
    return 0;
}

static int r_on_message_complete(http_parser *p)
{
    hup_call_t *k = p->data;
    if (p->status_code >= 100 && p->status_code < 200) {
        k->n_hdr = 0;
        buf_reset(&k->hdr);
        return 0;
    }
    k->message_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = r_on_header_field,
    .on_header_value = r_on_header_value,
    .on_headers_complete = r_on_headers_complete,
    .on_body = r_on_body,
    .on_message_complete = r_on_message_complete,
};

/* Bytes of a fast-read head's Content-Length body. */
static size_t fast_body(hup_call_t *k, const char *data, size_t len)
{
    size_t take = len < k->body_left ? len : (size_t)k->body_left;
    if (take) r_on_body(&k->parser, data, take);
    k->body_left -= take;
    if (k->body_left == 0) {
        k->fast_body = 0;
        k->parser.content_length = 0; /* as http-parser leaves it */
        k->message_done = 1;
    }
    return take;
}

/* The first bytes of a response: a whole head of the common shape with a
 * Content-Length (h1_head.h) is read here, with the callbacks and parser
 * fields http-parser would give, and as much of its body as data holds.
 * Returns the bytes consumed, or 0: http-parser reads this response (every
 * other status, framing, or anything unusual, errors included). */
static size_t fast_head(hup_call_t *k, const char *data, size_t len)
{
    h1_head_t h;
    if (!h1_read_response(data, len, HUP_MAX_RESP_HEADERS, &h)) return 0;
    /* bodies framed by the status or by the connection's end stay with
     * http-parser */
    if (!h.has_clen || h.status < 200 || h.status > 599 || h.status == 204 || h.status == 304)
        return 0;
    h1_copy_fields(&h, data, &k->hdr, k->hoff);
    k->n_hdr = h.n_hdr;
    k->last_was_value = h.n_hdr > 0;
    http_parser *p = &k->parser;
    p->status_code = (unsigned)h.status;
    p->http_major = 1;
    p->http_minor = (unsigned short)h.http_minor;
    p->flags = F_CONTENTLENGTH | (h.conn_close ? F_CONNECTION_CLOSE : 0) |
               (h.conn_keep_alive ? F_CONNECTION_KEEP_ALIVE : 0);
    p->content_length = h.clen;
    r_on_headers_complete(p);
    k->fast_body = 1;
    k->body_left = h.clen;
    return h.head_len + fast_body(k, data + h.head_len, len - h.head_len);
}

/* Feed one piece of the response: the fast path while it applies,
 * http-parser otherwise. Returns the bytes consumed. */
static size_t resp_feed(hup_call_t *k, const char *data, size_t len)
{
    if (k->fast_body) return fast_body(k, data, len);
    if (!k->head_seen) {
        k->head_seen = 1;
        size_t n = fast_head(k, data, len);
        if (n) return n;
    }
    return http_parser_execute(&k->parser, &resp_settings, data, len);
}

/* --------------------------------------------------------------- I/O */

/* Read what a plain connection's socket holds into c->in, until a read
 * comes back short (drained; level-triggered) or HUP_READ_ROUNDS reads.
 * Returns 0, or 1 at the peer's FIN, -1 at an error (a reset). */
static int conn_pull(hup_conn_t *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    for (int i = 0; i < HUP_READ_ROUNDS; i++) {
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(c->in, HUP_READ_CHUNK, v, 2);
        if (nv <= 0) return 0;
        size_t want = 0;
        for (int j = 0; j < nv; j++)
            want += v[j].iov_len;
        ssize_t r = readv(fd, (struct iovec *)v, nv);
        if (r <= 0) {
            evbuffer_commit_space(c->in, v, 0);
            if (r == 0) return 1;
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        }
        size_t left = (size_t)r;
        for (int j = 0; j < nv; j++) {
            if (v[j].iov_len > left) v[j].iov_len = left;
            left -= v[j].iov_len;
        }
        evbuffer_commit_space(c->in, v, nv);
        if ((size_t)r < want) return 0;
    }
    return 0;
}

static int call_read(hup_call_t *k);
static void call_event_cb(struct bufferevent *bev, short what, void *arg);

/* A plain connection is readable: the response for its call, or, idle in
 * the pool, bytes nobody asked for or the peer's close (unusable). The FIN
 * or reset is handled as the bufferevent would report it. */
static void conn_readable_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hup_conn_t *c = arg;
    int st = conn_pull(c);
    hup_call_t *k = c->call;
    if (!k) {
        if (!st && evbuffer_get_length(c->in) == 0) return;
        hup_pool_remove_idle(c->pool, c);
        hup_conn_destroy(c);
        return;
    }
    if (call_read(k)) return; /* released: c may be gone */
    if (!st) return;
    hup_conn_reading(c, false); /* a closed socket stays readable */
    call_event_cb(c->bev, BEV_EVENT_READING | (st > 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), k);
}

static void conn_send(hup_call_t *k);
static int conn_open(hup_call_t *k);

/* Feed buffered response bytes to the parser. Returns 1 when the call was
 * released (done, failed or cancelled), 0 when it is still alive. */
static int call_read(hup_call_t *k)
{
    struct evbuffer *in = hup_conn_input(k->conn);
    if (evbuffer_get_length(in) == 0) return 0;
    if (k->phase == PH_FIRST_BYTE || k->phase == PH_CONNECT) k->phase = PH_BODY;
    k->got_response = 1;
    arm(k, k->req.idle_timeout_ms);
    k->in_read = 1;
    int err = 0;
    while (!k->cancelled && evbuffer_get_length(in) > 0 && !k->paused && !k->message_done) {
        struct evbuffer_iovec vec[8];
        int nv = evbuffer_peek(in, -1, NULL, vec, 8);
        if (nv > 8) nv = 8;
        size_t consumed = 0;
        for (int i = 0; i < nv; i++) {
            size_t n = resp_feed(k, vec[i].iov_base, vec[i].iov_len);
            consumed += n;
            if (k->message_done) break;
            enum http_errno e = HTTP_PARSER_ERRNO(&k->parser);
            if (e == HPE_PAUSED) break;
            if (e != HPE_OK) {
                err = 1;
                break;
            }
            if (k->cancelled || k->paused) break;
        }
        evbuffer_drain(in, consumed);
        if (err || consumed == 0) break;
    }
    k->in_read = 0;
    if (k->paused && !k->read_off && !k->cancelled && !err && !k->message_done) {
        /* a pause asked for inside the loop and still wanted: stop reading */
        k->read_off = 1;
        hup_conn_reading(k->conn, false);
    }
    if (k->cancelled) {
        k->finished = 1;
        if (k->conn) hup_conn_destroy(k->conn);
        k->conn = NULL;
        call_free(k);
        return 1;
    }
    if (err) {
        call_fail(k, HUP_ERR_PROTOCOL);
        return 1;
    }
    if (k->message_done) {
        http_parser_pause(&k->parser, 0);
        call_done(k);
        return 1;
    }
    return 0;
}

static void call_read_cb(struct bufferevent *bev, void *arg)
{
    call_read(arg);
}

static void call_event_cb(struct bufferevent *bev, short what, void *arg)
{
    hup_call_t *k = arg;
    if (what & BEV_EVENT_CONNECTED) {
        k->conn->connected = 1;
        if (k->conn->rev && !k->read_off) hup_conn_reading(k->conn, true);
        k->phase = PH_FIRST_BYTE;
        arm(k, k->req.first_byte_timeout_ms);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    /* body delimited by close: tell the parser about EOF */
    if (what & BEV_EVENT_EOF) {
        /* drain what is buffered first */
        if (call_read(k)) return;
        if (k->got_response) {
            http_parser_execute(&k->parser, &resp_settings, NULL, 0);
            if (k->message_done) {
                call_done(k);
                return;
            }
        }
    }
    if (k->reused && !k->got_response && !k->retried_fresh) {
        /* stale pooled connection: one fresh attempt, same backend */
        k->retried_fresh = 1;
        k->reused = 0;
        hup_conn_destroy(k->conn);
        k->conn = NULL;
        if (conn_open(k) == 0) {
            conn_send(k);
            return;
        }
        call_fail(k, HUP_ERR_CONNECT);
        return;
    }
    hup_error_t e = HUP_ERR_RESET;
    if (!k->conn->connected) e = HUP_ERR_CONNECT;
    if (k->pool->tls && ERR_peek_error()) {
        ERR_clear_error();
        e = HUP_ERR_TLS;
    }
    call_fail(k, e);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    hup_call_t *k = arg;
    hup_error_t e = k->phase == PH_CONNECT      ? HUP_ERR_TIMEOUT_CONNECT
                    : k->phase == PH_FIRST_BYTE ? HUP_ERR_TIMEOUT_FIRST_BYTE
                                                : HUP_ERR_TIMEOUT_IDLE;
    call_fail(k, e);
}

static int conn_open(hup_call_t *k)
{
    hup_pool_t *pl = k->pool;
    if (!pl->addrlen && hup_pool_resolve(pl) != 0) return -1;
    hup_conn_t *c = calloc(1, sizeof *c);
    c->pool = pl;
    if (pl->tls) {
        if (!k->pools->ssl_ctx) {
            free(c);
            return -1;
        }
        SSL *ssl = SSL_new(k->pools->ssl_ctx);
        unsigned char ipbuf[16];
        int is_ip =
            inet_pton(AF_INET, pl->host, ipbuf) == 1 || inet_pton(AF_INET6, pl->host, ipbuf) == 1;
        if (is_ip) {
            /* certificates name IP addresses in IP SANs; no SNI for literals */
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), pl->host);
        } else {
            SSL_set_tlsext_host_name(ssl, pl->host);
            SSL_set1_host(ssl, pl->host);
        }
        c->bev = bufferevent_openssl_socket_new(k->pools->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
    } else {
        c->bev = bufferevent_socket_new(k->pools->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        free(c);
        return -1;
    }
    bufferevent_set_max_single_write(c->bev, 1 << 20); /* big bodies in one writev */
    k->conn = c;
    c->call = k;
    bufferevent_setcb(c->bev, call_read_cb, NULL, call_event_cb, k);
    bufferevent_enable(c->bev, pl->tls ? EV_READ | EV_WRITE : EV_WRITE);
    k->phase = PH_CONNECT;
    arm(k, k->req.connect_timeout_ms);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&pl->addr, pl->addrlen) != 0) {
        k->conn = NULL;
        hup_conn_destroy(c);
        return -1;
    }
    int fd = bufferevent_getfd(c->bev);
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!pl->tls && fd >= 0) {
        /* reading starts when the connection is made (call_event_cb) */
        c->in = evbuffer_new();
        c->rev = event_new(k->pools->base, fd, EV_READ | EV_PERSIST, conn_readable_cb, c);
        if (!c->in || !c->rev) {
            k->conn = NULL;
            hup_conn_destroy(c);
            return -1;
        }
    }
    return 0;
}

/* Queue what a direct write did not take (the first `done` bytes of iov
 * went out): the head copied, the body referenced, as conn_send does. */
static void queue_rest(struct evbuffer *out, const struct iovec *iov, int n, size_t done)
{
    for (int i = 0; i < n; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        const char *b = (const char *)iov[i].iov_base + done;
        size_t len = iov[i].iov_len - done;
        done = 0;
        if (i == 0)
            evbuffer_add(out, b, len);
        else
            evbuffer_add_reference(out, b, len, NULL, NULL);
    }
}

#define HUP_SEND_IOV 64

static void conn_send(hup_call_t *k)
{
    struct evbuffer *out = bufferevent_get_output(k->conn->bev);
    if (k->conn->connected && !k->pool->tls && evbuffer_get_length(out) == 0 &&
        k->req.n_body < HUP_SEND_IOV) {
        /* a pooled plain connection: one writev of the head and the body's
         * pieces straight to the socket; only what it does not take goes
         * through the bufferevent (which reports a write error) */
        struct iovec iov[HUP_SEND_IOV];
        int n = 0;
        iov[n++] = (struct iovec){(void *)k->req.head, k->req.head_len};
        for (int i = 0; i < k->req.n_body; i++)
            if (k->req.body[i].iov_len) iov[n++] = k->req.body[i];
        ssize_t w = writev(bufferevent_getfd(k->conn->bev), iov, n);
        queue_rest(out, iov, n, w > 0 ? (size_t)w : 0);
    } else {
        evbuffer_add(out, k->req.head, k->req.head_len);
        for (int i = 0; i < k->req.n_body; i++)
            if (k->req.body[i].iov_len)
                evbuffer_add_reference(out, k->req.body[i].iov_base, k->req.body[i].iov_len, NULL,
                                       NULL);
    }
    http_parser_init(&k->parser, HTTP_RESPONSE);
    k->parser.data = k;
    k->head_seen = 0;
    k->fast_body = 0;
    k->body_left = 0;
    k->n_hdr = 0;
    k->last_was_value = 0;
    buf_reset(&k->hdr);
}

static void deferred_fail_cb(evutil_socket_t fd, short what, void *arg)
{
    hup_call_t *k = arg;
    k->deferred = 0;
    if (k->cancelled) {
        call_free(k);
        return;
    }
    call_fail(k, HUP_ERR_CONNECT);
}

hup_call_t *hup_call_start(hup_pools_t *p, const hup_request_t *req, const hup_callbacks_t *cb,
                           void *ud)
{
    hup_call_t *k = call_new();
    k->pools = p;
    k->req = *req;
    k->cb = *cb;
    k->ud = ud;
    evtimer_assign(&k->timer_ev, p->base, timer_cb, k);
    k->timer = &k->timer_ev;
    k->pool = hup_pool_get(p, req->host, req->port, req->tls);
    hup_conn_t *c = k->pool->idle;
    if (c) {
        k->pool->idle = c->next;
        k->pool->n_idle--;
        c->next = NULL;
        c->call = k;
        k->conn = c;
        k->reused = 1;
        bufferevent_setcb(c->bev, call_read_cb, NULL, call_event_cb, k);
        /* a pooled connection keeps both enabled; enabling again would
         * re-add the write event (two epoll_ctl per request) only for
         * libevent to find nothing to write and delete it */
        short want = c->rev ? EV_WRITE : EV_READ | EV_WRITE;
        if ((bufferevent_get_enabled(c->bev) & want) != want) bufferevent_enable(c->bev, want);
        if (c->rev) hup_conn_reading(c, true);
        k->phase = PH_FIRST_BYTE;
        arm(k, k->req.first_byte_timeout_ms);
        conn_send(k);
        return k;
    }
    if (conn_open(k) != 0) {
        struct timeval tv = {0, 0};
        k->deferred = 1;
        event_base_once(p->base, -1, EV_TIMEOUT, deferred_fail_cb, k, &tv);
        return k;
    }
    conn_send(k);
    return k;
}

void hup_call_cancel(hup_call_t *k)
{
    if (!k || k->finished) return;
    k->cancelled = 1;
    if (k->in_read || k->deferred) return; /* the read loop / deferred event releases it */
    k->finished = 1;
    if (k->conn) hup_conn_destroy(k->conn);
    k->conn = NULL;
    call_free(k);
}

void hup_call_pause(hup_call_t *k, bool paused)
{
    if (!k || k->finished || !k->conn) return;
    if (paused == (bool)k->paused) return;
    k->paused = paused;
    if (paused) {
        /* inside the read loop the loop stops, and the connection stops
         * reading when the loop ends still paused: a pause lifted before
         * that (a session commit answered inline) costs no epoll_ctl pair */
        if (!k->in_read) {
            k->read_off = 1;
            hup_conn_reading(k->conn, false);
        }
        evtimer_del(k->timer);
    } else {
        if (k->read_off) {
            k->read_off = 0;
            if (!k->conn->rev || k->conn->connected) hup_conn_reading(k->conn, true);
        }
        arm(k, k->req.idle_timeout_ms);
        /* from inside a callback of the read loop, that loop simply goes on */
        if (!k->in_read) call_read(k);
    }
}
