/* server_head.c - the HTTP server's response head (server.c writes it):
 * the status line with its reason phrase, the handler's headers and the
 * framing headers (content-length, chunked, connection), built in one
 * buffer and staged with one evbuffer_add, without printf. */
#include "http/server_internal.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *hsrv_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
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
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

/* Appends n bytes at *at when they fit before end, else NULL (and NULL
 * stays NULL); srv_write_head sizes its buffer so that everything fits. */
static char *put(char *at, const char *end, const void *src, size_t n)
{
    if (!at || (size_t)(end - at) < n) return NULL;
    memcpy(at, src, n);
    return at + n;
}

/* The decimal digits of v (v >= 0) at *at. */
static char *put_u64(char *at, const char *end, uint64_t v)
{
    char d[24];
    int k = 0;
    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (!at || end - at < k) return NULL;
    while (k)
        *at++ = d[--k];
    return at;
}

/* The status line and headers, built in one buffer and added to the output
 * with one evbuffer_add (no per-response formatting through printf). */
void srv_write_head(hsrv_conn_t *c, int status, const hsrv_header_t *h, size_t n, int64_t clen)
{
    hsrv_req_t *r = &c->req;
    c->status = status;
    if (clen >= 0) {
        c->chunked = 0;
    } else if (c->http10) {
        /* no chunked encoding for HTTP/1.0: delimit by closing */
        r->keep_alive = false;
    } else {
        c->chunked = 1;
    }
    size_t need = 64 + strlen(hsrv_reason(status)) + 64;
    for (size_t i = 0; i < n; i++)
        need += h[i].name_len + h[i].value_len + 4;
    char stack[4096];
    char *head = need <= sizeof stack ? stack : malloc(need);
    if (!head) return;
    const char *end = head + need;
    char *at = put(head, end, "HTTP/1.1 ", 9);
    at = put_u64(at, end, (uint64_t)(status < 0 ? 0 : status));
    at = put(at, end, " ", 1);
    const char *reason = hsrv_reason(status);
    at = put(at, end, reason, strlen(reason));
    at = put(at, end, "\r\n", 2);
    for (size_t i = 0; i < n; i++) {
        at = put(at, end, h[i].name, h[i].name_len);
        at = put(at, end, ": ", 2);
        at = put(at, end, h[i].value, h[i].value_len);
        at = put(at, end, "\r\n", 2);
    }
    if (clen >= 0) {
        at = put(at, end, "content-length: ", 16);
        at = put_u64(at, end, (uint64_t)clen);
        at = put(at, end, "\r\n", 2);
    } else if (!c->http10) {
        at = put(at, end, "transfer-encoding: chunked\r\n", 28);
    }
    if (!r->keep_alive)
        at = put(at, end, "connection: close\r\n", 19);
    else if (c->http10)
        at = put(at, end, "connection: keep-alive\r\n", 24);
    at = put(at, end, "\r\n", 2);
    if (at) {
        evbuffer_add(c->out, head, (size_t)(at - head));
        c->bytes_sent += (size_t)(at - head);
    }
    if (head != stack) free(head);
    c->started = 1;
    c->content_length = clen;
}
