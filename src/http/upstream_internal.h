/* upstream_internal.h - what the upstream client (upstream.c) and its
 * keep-alive connection pools (upstream_pool.c) share: the connection and
 * pool structs and the pool operations. Not for other modules. */
#ifndef TETHER_HTTP_UPSTREAM_INTERNAL_H
#define TETHER_HTTP_UPSTREAM_INTERNAL_H
#include "http/upstream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>

#define HUP_MAX_IDLE_PER_POOL 256
#define HUP_MAX_RESP_HEADERS  64

typedef struct hup_pool hup_pool_t;
typedef struct hup_conn hup_conn_t;

struct hup_conn {
    hup_pool_t *pool;
    struct bufferevent *bev;
    hup_call_t *call;
    hup_conn_t *next; /* idle list */
    int connected;
    /* A plain connection's socket is read here, not by the bufferevent
     * (which writes and reports connect and write errors): libevent 2.1 asks
     * the kernel how much is readable (ioctl FIONREAD) before every read and
     * reads at most 4 KiB at a time. TLS connections: NULL, the bufferevent
     * reads. */
    struct evbuffer *in;
    struct event *rev;
    int reading; /* rev is added */
};

#define HUP_READ_CHUNK  (65536 - 256) /* with libevent's chain header: evmem.c's 64 KiB class */
#define HUP_READ_ROUNDS 4             /* reads per readiness event (backpressure between) */

struct hup_pool {
    char *host;
    int port;
    bool tls;
    struct sockaddr_storage addr;
    int addrlen;
    hup_conn_t *idle;
    size_t n_idle;
    hup_pool_t *next;
};

struct hup_pools {
    struct event_base *base;
    SSL_CTX *ssl_ctx;
    hup_pool_t *pools;
};

/* Closes the connection (its read event first, then the socket) and frees it. */
void hup_conn_destroy(hup_conn_t *c);
/* The pool of host:port (plain or TLS), made on first use. */
hup_pool_t *hup_pool_get(hup_pools_t *p, const char *host, int port, bool tls);
/* Fills pl->addr: a literal address, else the host resolved once (cached). */
int hup_pool_resolve(hup_pool_t *pl);
/* A finished connection back to the idle list (closed when the list is full);
 * unsolicited bytes or an event on an idle connection close it. */
void hup_pool_put(hup_pool_t *pl, hup_conn_t *c);
/* Takes c off pl's idle list (nothing when it is not on it). */
void hup_pool_remove_idle(hup_pool_t *pl, hup_conn_t *c);

/* The connection's input: its own buffer (plain sockets) or the bufferevent's. */
static inline struct evbuffer *hup_conn_input(hup_conn_t *c)
{
    return c->in ? c->in : bufferevent_get_input(c->bev);
}

/* Reading on or off: the connection's own read event, or the bufferevent's. */
static inline void hup_conn_reading(hup_conn_t *c, bool on)
{
    if (!c->rev) {
        if (on)
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (on == (bool)c->reading) return;
    c->reading = on;
    if (on)
        event_add(c->rev, NULL);
    else
        event_del(c->rev);
}

#endif
