/* server.h - tether's own thin HTTP/1.1 server over libevent + http-parser.
 *
 * N worker threads, each with its own event_base and its own SO_REUSEPORT
 * listening socket per listener; keep-alive and pipelining (requests on one
 * connection are answered in order); limits on header bytes, body bytes,
 * header and body time; graceful stop. The handler runs on the worker's
 * thread and answers either at once (hsrv_respond) or later, from any
 * callback on the same event base (hsrv_start/hsrv_write/hsrv_finish).
 *
 * Thread-safety: everything taking an hsrv_req_t must be called on the
 * request's worker thread. hsrv_server_stop may be called from any thread
 * (it is async-signal-unsafe; call it from the main thread). */
#ifndef TETHER_HTTP_SERVER_H
#define TETHER_HTTP_SERVER_H
#include "core/arena.h"
#include "core/header.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef hdr_field_t hsrv_header_t;

typedef struct hsrv_server hsrv_server_t;
typedef struct hsrv_conn hsrv_conn_t;

typedef enum {
    HSRV_GET = 1,
    HSRV_POST,
    HSRV_PUT,
    HSRV_DELETE,
    HSRV_HEAD,
    HSRV_OPTIONS,
    HSRV_PATCH,
    HSRV_OTHER
} hsrv_method_t;

typedef struct hsrv_req {
    hsrv_method_t method;
    const char *method_str;
    const char *path; /* NUL-terminated, without the query */
    size_t path_len;
    const char *query; /* NUL-terminated, without '?'; "" when none */
    hsrv_header_t *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated for convenience; body_len excludes it */
    size_t body_len;
    bool keep_alive;
    int listener_index; /* index into the listeners given at start */
    arena_t arena;      /* freed when the response is finished */
    uint64_t started_us;
    char request_id[25]; /* 24 hex chars */
    void *worker_ctx;    /* from on_worker_start */
    hsrv_conn_t *conn;
    void *user; /* handler's per-request state */
    /* The client the application authenticated (api/client_auth.c), NULL
     * when none; opaque here, owned by the request arena. */
    const void *principal;
    /* Called once if the client goes away before the response finished;
     * the server releases the request right after it returns. */
    void (*on_abort)(struct hsrv_req *req);
    /* Called when the client's output buffer drained below the low-water
     * mark after hsrv_pending() was high (streaming backpressure). */
    void (*on_drain)(struct hsrv_req *req);
    /* When set, a client disconnect calls on_abort but does NOT release the
     * request: the handler still owns it (e.g. an async lookup is pending)
     * and must end it with hsrv_abort once its callbacks are done. */
    bool keep_on_abort;
    /* The application's access-log fields for this request (request arena),
     * NULL when none; opaque here (api/access_log.h). */
    void *access;
} hsrv_req_t;

typedef void (*hsrv_handler_fn)(hsrv_req_t *req, void *ud);
/* Per worker: returns the worker context stored in each request. */
typedef void *(*hsrv_worker_start_fn)(int index, struct event_base *base, void *ud);
typedef void (*hsrv_worker_stop_fn)(int index, void *worker_ctx, void *ud);

typedef struct hsrv_listen {
    const char *address;      /* IPv4/IPv6 literal or hostname */
    int port;                 /* 0 = ephemeral (only sensible with 1 worker) */
    uint64_t idle_timeout_ms; /* keep-alive idle / request timeout (listener timeout) */
} hsrv_listen_t;

/* Zero means the default given in brackets. */
typedef struct hsrv_limits {
    size_t max_header_bytes;       /* 431 above [64 KiB] */
    size_t max_body_bytes;         /* 413 above [32 MiB] */
    uint64_t header_timeout_ms;    /* from accept, or from a request's first byte on a kept-alive
                                      connection, to the end of its head [10 s] */
    uint64_t body_timeout_ms;      /* end of head to end of body [60 s] */
    uint64_t keepalive_timeout_ms; /* idle time between requests (at most the listener's
                                      idle_timeout_ms) [60 s] */
    size_t max_empty_lines;        /* tolerated before a request line; 400 above [4] */
    size_t max_connections;        /* per process [4096], each worker at most its share; at
                                      the limit a worker closes its oldest idle connection,
                                      else its longest-arriving request head, to admit a new
                                      one, or refuses it */
    size_t max_connections_per_address; /* open connections from one client address [0: no
                                           limit]; above it a new connection gets a 429 and is
                                           closed */
} hsrv_limits_t;

/* Called for errors the server answers itself (bad request, 413, 431, 408):
 * lets the application shape the body. May be NULL (a JSON error is sent). */
typedef void (*hsrv_error_fn)(hsrv_req_t *req, int status, const char *code, const char *message,
                              void *ud);

/* Called once when a request ends (answered or aborted), on its worker,
 * before its arena is freed: status is the status line sent, 0 when none. */
typedef void (*hsrv_done_fn)(hsrv_req_t *req, int status, void *ud);

typedef struct hsrv_config {
    const hsrv_listen_t *listeners;
    size_t n_listeners;
    int workers; /* <= 0: number of cores */
    hsrv_limits_t limits;
    hsrv_handler_fn handler;
    hsrv_error_fn on_error;
    hsrv_done_fn on_done; /* may be NULL */
    hsrv_worker_start_fn on_worker_start;
    hsrv_worker_stop_fn on_worker_stop;
    void *ud;
    const char *thread_name; /* workers are named "<name>-<i>" (top, /proc); NULL: "worker" */
} hsrv_config_t;

/* Bind every listener (errors are reported before any thread starts) and
 * start the workers. Returns NULL and fills err (static text) on failure. */
hsrv_server_t *hsrv_server_start(const hsrv_config_t *cfg, char *err, size_t errlen);
/* Bound port of listener i (useful with port 0). */
int hsrv_server_port(const hsrv_server_t *s, int listener_index);
/* Stop accepting, let in-flight requests finish for up to grace_ms, then
 * close everything and join the workers. */
void hsrv_server_stop(hsrv_server_t *s, uint64_t grace_ms);
void hsrv_server_free(hsrv_server_t *s);
/* Number of requests currently being handled, across workers. */
long hsrv_server_inflight(const hsrv_server_t *s);

/* Request helpers */
/* First header with this name, compared case-insensitively. */
const hsrv_header_t *hsrv_req_header(const hsrv_req_t *req, const char *name);
struct event_base *hsrv_req_base(const hsrv_req_t *req);

/* Respond in one go. Headers are copied; Content-Length is added. */
void hsrv_respond(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                  const char *body, size_t body_len);
/* Streaming: content_length < 0 means chunked transfer encoding. */
void hsrv_start(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                int64_t content_length);
void hsrv_write(hsrv_req_t *req, const void *data, size_t len);
/* hsrv_start with content_length body_len, then hsrv_write of the whole body,
 * in one write to the socket. Finish with hsrv_finish. */
void hsrv_start_whole(hsrv_req_t *req, int status, const hsrv_header_t *hdrs, size_t n_hdrs,
                      const char *body, size_t body_len);
/* Completes the response; req must not be used afterwards. */
void hsrv_finish(hsrv_req_t *req);
/* Drop the connection now (mid-stream failure, fault injection). The request
 * is released; req must not be used afterwards. */
void hsrv_abort(hsrv_req_t *req);
/* Response bytes queued but not yet written to the client socket. */
size_t hsrv_pending(const hsrv_req_t *req);
/* True once hsrv_start/hsrv_respond sent the status line. */
bool hsrv_started(const hsrv_req_t *req);
/* Bytes of response written to the client so far (headers included). */
size_t hsrv_bytes_sent(const hsrv_req_t *req);

/* Status reason phrase ("OK", "Not Found", ...). */
const char *hsrv_reason(int status);
#endif
