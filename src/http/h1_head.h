/* h1_head.h - a fast reader for the common shape of an HTTP/1.1 message
 * head, used by the server's request parser (server_parse.c) and the backend
 * client (upstream.c) in front of http-parser.
 *
 * It never rejects: it either reads a head that lies in a deliberately
 * narrow subset of HTTP/1.1 (whole head in one buffer, CRLF line ends, a
 * known method, an origin-form target of visible ASCII, HTTP/1.0 or 1.1,
 * token header names, values without control characters and without
 * leading-only or trailing whitespace, at most one Content-Length of
 * digits, a Connection of exactly "close" or "keep-alive", no
 * Transfer-Encoding, Upgrade or Proxy-Connection) and returns 1, or returns
 * 0 and the caller gives the same bytes to http-parser, which decides
 * everything outside that subset (every rejection included). Inside the
 * subset the result is the one http-parser gives (tests/unit/http/
 * test_h1_head.c and tests/fuzz/fuzz_h1.c compare both on generated and
 * mutated heads).
 *
 * Pure functions over bytes; thread-safe. */
#ifndef TETHER_HTTP_H1_HEAD_H
#define TETHER_HTTP_H1_HEAD_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

#define H1_MAX_HEADERS 128

typedef struct h1_head {
    size_t head_len;   /* bytes up to and including the empty line */
    int method;        /* requests: enum http_method */
    int status;        /* responses: the status code */
    int http_minor;    /* HTTP/1.x */
    size_t target_off; /* requests: the request target */
    size_t target_len;
    size_t n_hdr;
    uint32_t hdr[H1_MAX_HEADERS][4]; /* name off,len, value off,len (into the input) */
    size_t field_bytes;              /* sum of name and value lengths */
    int has_clen;
    uint64_t clen;
    int conn_close;      /* Connection: close */
    int conn_keep_alive; /* Connection: keep-alive */
} h1_head_t;

/* Read a request head at the start of d. Returns 1 when the whole head is in
 * d and inside the subset above (h filled), 0 otherwise (h undefined).
 * max_hdr: the most headers accepted (at most H1_MAX_HEADERS). */
int h1_read_request(const char *d, size_t len, size_t max_hdr, h1_head_t *h);
/* The same for a response head ("HTTP/1.x NNN reason"). */
int h1_read_response(const char *d, size_t len, size_t max_hdr, h1_head_t *h);
/* Copy n bytes of a header name, lowercased (the name was checked to be a
 * token by h1_read_*). */
void h1_lower_copy(char *dst, const char *src, size_t n);
/* Append h's headers (read from d) to dst as the http-parser callbacks of
 * server_parse.c and upstream.c store them: each name lowercased, its value
 * right after it; hoff[i] = name off,len, value off,len in dst. */
void h1_copy_fields(const h1_head_t *h, const char *d, buf_t *dst, size_t (*hoff)[4]);
#endif
