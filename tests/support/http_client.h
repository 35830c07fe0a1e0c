/* http_client.h - test support: a tiny blocking HTTP/1.1 client over a raw
 * loopback socket. It sends exactly the bytes asked for (raw sends allow
 * malformed input), reads responses framed by Content-Length, chunked
 * encoding or connection close, and can read a streamed body piece by piece
 * with the arrival time of each piece. Every wait is bounded by the
 * connection's timeout, so a test never hangs.
 *
 * One-shot:
 *   thttp_resp_t r;
 *   thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions",
 *                 "x-session-id: s1\r\n", body, strlen(body), &r);
 *   r.status, thttp_resp_header(&r, "content-type"), r.body / r.body_len
 *   thttp_resp_free(&r);
 *
 * Streaming / keep-alive on one connection:
 *   thttp_conn_t c; thttp_open(&c, "127.0.0.1", port, 5000);
 *   thttp_send_request(&c, "POST", path, NULL, body, len);
 *   thttp_read_head(&c, &r);
 *   buf_t piece = BUF_INIT; uint64_t t_us;
 *   while ((rc = thttp_read_piece(&c, &r, &piece, &t_us)) > 0) { ... }
 *   // rc == 0: body complete; rc < 0: error, r.reset set when the peer
 *   // reset or closed the connection before the body was complete
 *   thttp_close(&c);
 *
 * For chunked bodies a piece is one HTTP chunk; otherwise it is whatever
 * arrived in one read. Pieces are also appended to r.body.
 * Not thread-safe; one thttp_conn_t per thread. */
#ifndef TETHER_TEST_HTTP_CLIENT_H
#define TETHER_TEST_HTTP_CLIENT_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct thttp_header {
    char *name; /* lowercased */
    char *value;
} thttp_header_t;

typedef struct thttp_resp {
    int status; /* 0 until a status line was read */
    thttp_header_t *headers;
    size_t n_headers;
    char *body; /* de-chunked, NUL-terminated (never NULL after a read) */
    size_t body_len;
    int complete;     /* the body ended as its framing says */
    int reset;        /* connection reset/closed before the response was complete */
    int timed_out;    /* a read waited longer than the timeout */
    uint64_t head_us; /* clock_mono_us() when the head was complete */
    /* framing state (internal) */
    int chunked;
    long long remaining; /* Content-Length bytes left; -1: until close */
    buf_t body_buf;
} thttp_resp_t;

typedef struct thttp_conn {
    int fd;
    int timeout_ms;
    char *in; /* received, not yet consumed */
    size_t in_len, in_cap;
    int eof;       /* peer closed (FIN) */
    int err;       /* errno of the last failed read (ECONNRESET, ETIMEDOUT) */
    int last_head; /* the last request was HEAD: no body */
} thttp_conn_t;

/* Connect (TCP_NODELAY). Returns 0, or -1 with errno. */
int thttp_open(thttp_conn_t *c, const char *host, int port, int timeout_ms);
void thttp_close(thttp_conn_t *c);
/* Send raw bytes. Returns 0 or -1. */
int thttp_send(thttp_conn_t *c, const void *data, size_t len);
/* Send a request: request line, Host, the caller's extra headers (complete
 * "Name: value\r\n" lines, may be NULL), Content-Type: application/json
 * when there is a body and extra headers do not set one, Content-Length
 * when there is a body or the method is POST/PUT/PATCH, then the body. */
int thttp_send_request(thttp_conn_t *c, const char *method, const char *path, const char *headers,
                       const char *body, size_t body_len);
/* Read the status line and headers into r (r is reset first). 0 or -1. */
int thttp_read_head(thttp_conn_t *c, thttp_resp_t *r);
/* Next piece of the body: 1 (piece filled, t_us = arrival time), 0 (body
 * complete), -1 (error: r->reset / r->timed_out tell which). */
int thttp_read_piece(thttp_conn_t *c, thttp_resp_t *r, buf_t *piece, uint64_t *t_us);
/* Head and whole body. 0 when complete, -1 otherwise (r keeps what came). */
int thttp_read_response(thttp_conn_t *c, thttp_resp_t *r);
/* Connect, send, read one response, close. 0 when complete, -1 otherwise. */
int thttp_request(const char *host, int port, const char *method, const char *path,
                  const char *headers, const char *body, size_t body_len, thttp_resp_t *r);
void thttp_resp_free(thttp_resp_t *r);
/* Value of a response header (name lowercased), or NULL. */
const char *thttp_resp_header(const thttp_resp_t *r, const char *lname);

/* SSE: the payloads of the "data:" lines of each event in body, in order
 * (multi-line data joined with '\n'). Returns the count; *out is a malloc'd
 * array of malloc'd strings, freed by thttp_sse_free. */
size_t thttp_sse_data(const char *body, size_t len, char ***out);
void thttp_sse_free(char **events, size_t n);
#endif
