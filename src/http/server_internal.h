/* server_internal.h - private to the HTTP server: the connection, worker and
 * server structs shared by server.c (connections: parsing, requests,
 * responding, socket I/O) and server_workers.c (binding, worker threads,
 * accepting, start and graceful stop). Not for use outside src/http/. */
#ifndef TETHER_HTTP_SERVER_INTERNAL_H
#define TETHER_HTTP_SERVER_INTERNAL_H
#include "core/buf.h"
#include "http/addr_limit.h"
#include "http/server.h"
#include "http/server_parse.h"
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define HSRV_HIGH_WATER (256 * 1024)
#define HSRV_LOW_WATER  (64 * 1024)

typedef struct hsrv_worker hsrv_worker_t;

struct hsrv_conn {
    hsrv_worker_t *w;
    struct bufferevent *bev;
    int listener_index;
    srv_parse_t rp; /* the request being parsed */
    int in_process;
    int busy;               /* a request is with the handler */
    int closing;            /* close once output is flushed */
    int dead;               /* freed on next opportunity */
    int is_idle;            /* no byte of a request arrived: on the worker's idle list */
    uint64_t recv_since_us; /* first byte of the request being received (0: none) */
    unsigned served;        /* requests answered on this connection */
    /* response state */
    int started, chunked, finished, head_only, http10;
    int64_t content_length;
    int status; /* of the response's status line, 0 before it */
    size_t bytes_sent;
    int want_drain;
    int client_gone;      /* peer went away while a keep_on_abort request was pending */
    int peer_eof;         /* a direct read saw the peer's FIN */
    int peer_err;         /* ... or an error (a reset) */
    struct evbuffer *out; /* response bytes staged before a direct write */
    struct evbuffer *in;  /* request bytes read from the socket, not yet parsed */
    struct event *rev;    /* the socket's read readiness (server.c reads it itself) */
    int reading;          /* rev is added */
    struct event *timer;
    /* the connection's clock (conn_arm_timer), kept lazily: deadline_us is
     * when the running clock expires (0: none runs, a handler has the
     * request), armed_us when the timer is set to fire (0: not added); a
     * later deadline leaves the timer as it is, and conn_timeout_cb sets it
     * again for the rest, so a kept-alive request costs no event_add or
     * event_del */
    uint64_t deadline_us, armed_us;
    hsrv_req_t req;
    hsrv_conn_t *prev, *next;
    hsrv_conn_t *idle_prev, *idle_next; /* idle list, oldest first */
    srv_addr_t addr;                    /* the client's address */
    int addr_counted;                   /* counted in the server's per-address table */
};

struct hsrv_worker {
    hsrv_server_t *srv;
    int index;
    struct event_base *base;
    struct evconnlistener **lev;
    int *fds;
    int stop_fd;
    struct event *stop_ev;
    struct event *deadline_ev;
    pthread_t thread;
    void *ctx;
    hsrv_conn_t *conns;
    size_t n_conns;                     /* this worker's open connections */
    hsrv_conn_t *idle_head, *idle_tail; /* idle connections, oldest first */
    int stopping;
    long inflight;
    uint64_t addr_log_us;  /* last connection_refused line for the per-address limit */
    unsigned addr_refused; /* refused since that line */
};

struct hsrv_server {
    hsrv_config_t cfg;
    hsrv_listen_t *listens;
    int *ports;
    int n_workers;
    hsrv_worker_t *workers;
    atomic_long inflight;
    atomic_long conns;
    struct met_family *met_closed; /* connections_closed_total{reason} */
    srv_addr_table_t *addrs;       /* open connections per client address */
    uint64_t grace_ms;
};

/* server.c */
void srv_conn_free(hsrv_conn_t *c);
/* server_head.c: stage the status line and headers in c->out (and set the
 * response's framing: chunked, keep-alive, content length) */
void srv_write_head(hsrv_conn_t *c, int status, const hsrv_header_t *h, size_t n, int64_t clen);
void srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                   void *arg);
/* server_workers.c */
void srv_worker_maybe_exit(hsrv_worker_t *w);
#endif
