/* h1_resp_diff.h - for test_h1_response.c and tests/fuzz/fuzz_h1.c: a
 * response through http-parser with callbacks that capture what upstream.c's
 * do (names lowercased, at most 64 headers, status and flags at the end of
 * the head, the body, where the message ends), and through h1_read_response
 * with the rules upstream.c's fast path adds (a Content-Length, status 200
 * to 599 but 204 and 304). h1_resp_diff() returns 1 when the fast path read
 * the head, 0 when it left it to http-parser, and -1 when it read it
 * differently from http-parser (the two logs in *fast and *slow). */
#ifndef TETHER_TEST_H1_RESP_DIFF_H
#define TETHER_TEST_H1_RESP_DIFF_H
#include "core/buf.h"
#include "http/h1_head.h"
#include <http_parser.h>
#include <string.h>

#define H1D_MAX_HEADERS 64

typedef struct h1d_cap {
    buf_t hdr;
    size_t hoff[H1D_MAX_HEADERS][4];
    size_t n_hdr;
    int last_was_value;
    buf_t log;
    int done;
} h1d_cap_t;

static int h1d_field(http_parser *p, const char *at, size_t len)
{
    h1d_cap_t *c = p->data;
    if (c->n_hdr == 0 || c->last_was_value) {
        if (c->n_hdr >= H1D_MAX_HEADERS) return 0;
        memset(c->hoff[c->n_hdr], 0, sizeof c->hoff[0]);
        c->hoff[c->n_hdr++][0] = c->hdr.len;
        c->last_was_value = 0;
    }
    size_t start = c->hdr.len;
    buf_append(&c->hdr, at, len);
    for (size_t i = start; i < c->hdr.len; i++)
        if (c->hdr.data[i] >= 'A' && c->hdr.data[i] <= 'Z') c->hdr.data[i] += 32;
    c->hoff[c->n_hdr - 1][1] += len;
    return 0;
}

static int h1d_value(http_parser *p, const char *at, size_t len)
{
    h1d_cap_t *c = p->data;
    if (c->n_hdr == 0) return 0;
    if (!c->last_was_value) {
        c->hoff[c->n_hdr - 1][2] = c->hdr.len;
        c->last_was_value = 1;
    }
    buf_append(&c->hdr, at, len);
    c->hoff[c->n_hdr - 1][3] += len;
    return 0;
}

static void h1d_log_head(h1d_cap_t *c, int status, int minor, unsigned flags, uint64_t clen)
{
    buf_printf(&c->log, "[head %d 1.%d flags=%x cl=%llu n=%zu hdr=", status, minor, flags,
               (unsigned long long)clen, c->n_hdr);
    buf_append(&c->log, c->hdr.data ? c->hdr.data : "", c->hdr.len);
    for (size_t i = 0; i < c->n_hdr; i++)
        buf_printf(&c->log, " %zu,%zu,%zu,%zu", c->hoff[i][0], c->hoff[i][1], c->hoff[i][2],
                   c->hoff[i][3]);
    buf_puts(&c->log, "]");
}

static int h1d_headers_complete(http_parser *p)
{
    h1d_cap_t *c = p->data;
    h1d_log_head(c, (int)p->status_code, p->http_minor, p->flags, p->content_length);
    return 0;
}

static int h1d_body(http_parser *p, const char *at, size_t len)
{
    h1d_cap_t *c = p->data;
    buf_printf(&c->log, "<body %zu:", len);
    buf_append(&c->log, at, len);
    buf_puts(&c->log, ">");
    return 0;
}

static int h1d_complete(http_parser *p)
{
    h1d_cap_t *c = p->data;
    c->done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* The message's end: consumed bytes and keep-alive. */
static void h1d_log_end(h1d_cap_t *c, size_t consumed, int keep_alive)
{
    buf_printf(&c->log, "[end %zu ka=%d]", consumed, keep_alive);
}

static int h1_resp_diff(const char *d, size_t len, buf_t *fast, buf_t *slow)
{
    static const http_parser_settings st = {
        .on_header_field = h1d_field,
        .on_header_value = h1d_value,
        .on_headers_complete = h1d_headers_complete,
        .on_body = h1d_body,
        .on_message_complete = h1d_complete,
    };
    h1_head_t h;
    if (!h1_read_response(d, len, H1D_MAX_HEADERS, &h)) return 0;
    if (!h.has_clen || h.status < 200 || h.status > 599 || h.status == 204 || h.status == 304)
        return 0;
    /* the fast path, as upstream.c runs it */
    h1d_cap_t f = {0};
    h1_copy_fields(&h, d, &f.hdr, f.hoff);
    f.n_hdr = h.n_hdr;
    unsigned flags = F_CONTENTLENGTH | (h.conn_close ? F_CONNECTION_CLOSE : 0) |
                     (h.conn_keep_alive ? F_CONNECTION_KEEP_ALIVE : 0);
    h1d_log_head(&f, h.status, h.http_minor, flags, h.clen);
    size_t rest = len - h.head_len;
    size_t take = rest < h.clen ? rest : (size_t)h.clen;
    if (take) {
        buf_printf(&f.log, "<body %zu:", take);
        buf_append(&f.log, d + h.head_len, take);
        buf_puts(&f.log, ">");
    }
    if (take == h.clen) {
        http_parser kp;
        http_parser_init(&kp, HTTP_RESPONSE);
        kp.status_code = (unsigned)h.status;
        kp.http_major = 1;
        kp.http_minor = (unsigned short)h.http_minor;
        kp.flags = flags;
        kp.content_length = 0;
        h1d_log_end(&f, h.head_len + take, http_should_keep_alive(&kp));
    }
    /* http-parser, in one call as upstream.c gives it a read */
    h1d_cap_t s = {0};
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &s;
    size_t n = http_parser_execute(&hp, &st, d, len);
    if (s.done) h1d_log_end(&s, n, http_should_keep_alive(&hp));
    if (HTTP_PARSER_ERRNO(&hp) != HPE_OK && HTTP_PARSER_ERRNO(&hp) != HPE_PAUSED)
        buf_printf(&s.log, "[error %s]", http_errno_name(HTTP_PARSER_ERRNO(&hp)));
    int same = f.log.len == s.log.len &&
               (f.log.len == 0 || memcmp(f.log.data, s.log.data, f.log.len) == 0);
    buf_reset(fast);
    buf_append(fast, f.log.data ? f.log.data : "", f.log.len);
    buf_reset(slow);
    buf_append(slow, s.log.data ? s.log.data : "", s.log.len);
    buf_free(&f.hdr);
    buf_free(&f.log);
    buf_free(&s.hdr);
    buf_free(&s.log);
    return same ? 1 : -1;
}
#endif
