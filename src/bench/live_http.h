/* live_http.h - the live benchmark's HTTP/1.1 client: blocking, keep-alive,
 * loopback only. One connection per thread; requests are framed with
 * Content-Length, responses may use Content-Length or chunked encoding. A
 * keep-alive connection that the peer closed while idle is reopened once.
 * Every wait is bounded by the connection's timeout.
 * Not thread-safe per connection; connections are independent. */
#ifndef TETHER_BENCH_LIVE_HTTP_H
#define TETHER_BENCH_LIVE_HTTP_H
#include "core/buf.h"
#include <stddef.h>

typedef struct live_http_conn {
    int fd; /* -1 when closed */
    char host[64];
    int port;
    int timeout_ms;
    buf_t in; /* bytes received and not yet consumed from in_off */
    size_t in_off;
} live_http_conn_t;

typedef struct live_http_resp {
    int status;
    char model[64];  /* x-tether-model, "" when absent */
    char reason[48]; /* x-tether-session-reason, "" when absent */
    buf_t body;      /* de-chunked, NUL-terminated */
} live_http_resp_t;

/* Set up a connection to host:port (connects lazily on the first request). */
void live_http_init(live_http_conn_t *c, const char *host, int port, int timeout_ms);
void live_http_close(live_http_conn_t *c); /* closes the socket, frees buffers */

/* Send one request (extra_headers: complete "Name: value\r\n" lines or NULL;
 * body may be NULL for GET) and read the whole response into r (reset
 * first; r->body owned by r, free with buf_free). Returns 0, or -1 with a
 * message in err. */
int live_http_request(live_http_conn_t *c, const char *method, const char *path,
                      const char *extra_headers, const char *body, size_t body_len,
                      live_http_resp_t *r, char *err, size_t errlen);

/* Poll until host:port accepts a TCP connection: 0, or -1 after timeout_ms. */
int live_http_wait_connect(const char *host, int port, int timeout_ms);

/* A free loopback TCP port (bound then released), or -1. */
int live_http_free_port(void);
#endif
