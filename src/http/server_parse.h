/* server_parse.h - private to the HTTP server: one connection's request
 * parser (http-parser plus tether's own checks on the request head), with no
 * socket, timer or event loop in it, so server.c drives it from its read path
 * and tests/fuzz/fuzz_http.c drives it from bytes alone.
 *
 * What it rejects beyond http-parser (RFC 7230): a header field name that is
 * not a token (whitespace before the colon, section 3.2.4), obs-fold (a header
 * line starting with SP or HTAB, section 3.2.4) and whitespace before the
 * first header (section 3), more than max_empty_lines empty lines before a
 * request line (section 3.5). http-parser itself rejects Content-Length
 * together with Transfer-Encoding and a repeated Content-Length (section
 * 3.3.3); those get their own error code here.
 *
 * Heads of the common shape (h1_head.h) are read without http-parser and a
 * Content-Length body after one is copied in bulk; every other head, and
 * every rejection, goes through http-parser and the checks above, so both
 * paths accept, reject and report the same (tests/unit/http/test_h1_head.c).
 * server.c reads the method, version and keep-alive from `parser` either
 * way: the fast path fills those fields.
 *
 * Not thread-safe: one parser per connection, used on its worker's thread. */
#ifndef TETHER_HTTP_SERVER_PARSE_H
#define TETHER_HTTP_SERVER_PARSE_H
#include "core/buf.h"
#include <http_parser.h>
#include <stddef.h>

#define HSRV_MAX_HEADERS 128

typedef enum { SRV_PARSE_MORE = 0, SRV_PARSE_MESSAGE, SRV_PARSE_ERROR } srv_parse_ev_t;

typedef struct srv_parse_hooks {
    /* The first byte of a request line arrived (empty lines before it do
     * not count). */
    void (*on_request_start)(void *ud);
    /* The head is complete; expect_continue and the parser's flags are set. */
    void (*on_headers)(void *ud);
} srv_parse_hooks_t;

typedef struct srv_parse {
    http_parser parser;
    size_t max_header_bytes, max_body_bytes, max_empty_lines;
    const srv_parse_hooks_t *hooks; /* may be NULL */
    void *ud;
    /* the request being parsed */
    buf_t url;
    buf_t hdr;                        /* header bytes: names lowercased */
    size_t hoff[HSRV_MAX_HEADERS][4]; /* name off,len, value off,len */
    size_t n_hdr;
    int last_was_value;
    size_t header_bytes;
    buf_t body;
    int scan;           /* head scanner state (server_parse.c) */
    size_t blank_bytes; /* CR and LF bytes before the request line */
    int started;        /* a byte of the request line arrived */
    int headers_done;
    int message_done; /* the parser is paused until srv_parse_next */
    int expect_continue;
    int error_status; /* 400, 413, 431 once rejected */
    const char *error_code;
    const char *error_msg;
    /* the fast path (h1_head.c): a head read without http-parser, its
     * Content-Length body copied in bulk */
    int fast_off;             /* tests: every byte through http-parser */
    int fast_body;            /* the body of a fast-read head is arriving */
    size_t body_left;         /* its bytes still to come */
    unsigned long fast_heads; /* heads read by the fast path (tests) */
} srv_parse_t;

void srv_parse_init(srv_parse_t *p, size_t max_header_bytes, size_t max_body_bytes,
                    size_t max_empty_lines, const srv_parse_hooks_t *hooks, void *ud);
void srv_parse_deinit(srv_parse_t *p);
/* Feed bytes of the connection. Returns how many were consumed and sets *ev:
 * MESSAGE when a whole request is ready (the parser stays paused, the rest
 * of the bytes unconsumed, until srv_parse_next), ERROR when the request is
 * rejected (error_status/code/msg say why; the connection must close), MORE
 * otherwise. A return short of len with MORE means: call again with the rest
 * (http-parser stopped, e.g. after an upgrade request). */
size_t srv_parse_feed(srv_parse_t *p, const char *data, size_t len, srv_parse_ev_t *ev);
/* After a MESSAGE was handled: accept the next request. */
void srv_parse_next(srv_parse_t *p);
/* Drop buffers that grew large, so an idle connection does not keep them. */
void srv_parse_trim(srv_parse_t *p);
/* Is c allowed in a header field name (RFC 7230 tchar)? */
int srv_parse_is_tchar(unsigned char c);
#endif
