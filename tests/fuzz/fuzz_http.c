/* fuzz_http.c - libFuzzer harness for the HTTP server's request parser and
 * header handling (src/http/server_parse.c over http-parser), driven the way
 * server.c drives it: bytes fed as they arrive, a paused parser after each
 * request, srv_parse_next before the next one, the connection closed on the
 * first rejection. Build and run with scripts/fuzz.sh.
 *
 * The first two input bytes choose the limits and how the rest is split into
 * reads; the rest is the connection's byte stream. Besides "no crash, no
 * sanitizer report" it checks properties:
 *  - every accepted request has header names that are non-empty, lowercase
 *    RFC 7230 tokens (no whitespace: nothing a consumer could misread as
 *    another header), offsets inside the header buffer, at most
 *    HSRV_MAX_HEADERS headers, head and body within their limits, a body as
 *    long as its Content-Length says (never with chunked), and no line
 *    break in any value;
 *  - a rejection carries a status of 400, 413 or 431 and a code;
 *  - the requests seen are the same whether the stream arrives in one read
 *    or split into small reads, and both reject or neither does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/server_parse.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct run {
    buf_t log; /* one line per accepted request: method url, headers, body */
    int rejected;
    size_t starts;
} run_t;

static void on_start(void *ud)
{
    ((run_t *)ud)->starts++;
}

static const srv_parse_hooks_t hooks = {on_start, NULL};

static void check_message(srv_parse_t *p, run_t *r)
{
    CHECK(p->n_hdr <= HSRV_MAX_HEADERS);
    CHECK(p->header_bytes <= p->max_header_bytes);
    CHECK(p->body.len <= p->max_body_bytes);
    CHECK(p->started);
    buf_printf(&r->log, "%s ", http_method_str((enum http_method)p->parser.method));
    buf_append(&r->log, p->url.data ? p->url.data : "", p->url.len);
    for (size_t i = 0; i < p->n_hdr; i++) {
        size_t no = p->hoff[i][0], nl = p->hoff[i][1], vo = p->hoff[i][2], vl = p->hoff[i][3];
        CHECK(nl > 0);
        CHECK(no + nl <= p->hdr.len);
        CHECK(vl == 0 || vo + vl <= p->hdr.len);
        for (size_t k = 0; k < nl; k++) {
            unsigned char ch = (unsigned char)p->hdr.data[no + k];
            CHECK(srv_parse_is_tchar(ch));
            CHECK(!(ch >= 'A' && ch <= 'Z'));
        }
        for (size_t k = 0; k < vl; k++)
            CHECK(p->hdr.data[vo + k] != '\n');
        if (nl == 14 && memcmp(p->hdr.data + no, "content-length", 14) == 0) {
            /* the body is exactly as long as the (only) Content-Length says */
            unsigned long long cl = 0;
            for (size_t k = 0; k < vl; k++) {
                char ch = p->hdr.data[vo + k];
                if (ch >= '0' && ch <= '9') cl = cl * 10 + (unsigned long long)(ch - '0');
            }
            CHECK(!(p->parser.flags & F_CHUNKED));
            CHECK(p->body.len == cl);
        }
        buf_putc(&r->log, '|');
        buf_append(&r->log, p->hdr.data + no, nl);
        buf_putc(&r->log, ':');
        if (vl) buf_append(&r->log, p->hdr.data + vo, vl);
    }
    buf_printf(&r->log, "|body %zu:", p->body.len);
    if (p->body.len) buf_append(&r->log, p->body.data, p->body.len);
    buf_putc(&r->log, '\n');
}

/* Feed data in reads of at most `step` bytes (0: one read), as
 * conn_process does with what the socket delivered. */
static void run_stream(const uint8_t *data, size_t size, size_t step, size_t max_hdr,
                       size_t max_body, size_t max_empty, run_t *r)
{
    srv_parse_t p;
    srv_parse_init(&p, max_hdr, max_body, max_empty, &hooks, r);
    size_t off = 0, avail = 0; /* [off, avail): received, not yet consumed */
    while (avail < size) {
        avail = step ? (avail + step < size ? avail + step : size) : size;
        while (off < avail) {
            srv_parse_ev_t ev;
            size_t n = srv_parse_feed(&p, (const char *)data + off, avail - off, &ev);
            CHECK(n <= avail - off);
            off += n;
            if (ev == SRV_PARSE_ERROR) {
                CHECK(p.error_status == 400 || p.error_status == 413 || p.error_status == 431);
                CHECK(p.error_code && p.error_code[0] && p.error_msg && p.error_msg[0]);
                r->rejected = 1;
                goto done;
            }
            if (ev == SRV_PARSE_MESSAGE) {
                check_message(&p, r);
                srv_parse_next(&p);
                continue;
            }
            if (n == 0) goto done; /* the server waits: this stream is stuck */
        }
    }
done:
    srv_parse_deinit(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t step = data[0] % 17 + 1;
    size_t max_hdr = data[1] & 1 ? 256 : 64 * 1024;
    size_t max_body = data[1] & 2 ? 16 : 1 << 20;
    size_t max_empty = data[1] & 4 ? 1 : 4;
    data += 2;
    size -= 2;
    run_t whole = {0}, split = {0};
    run_stream(data, size, 0, max_hdr, max_body, max_empty, &whole);
    run_stream(data, size, step, max_hdr, max_body, max_empty, &split);
    CHECK(whole.rejected == split.rejected);
    CHECK(whole.log.len == split.log.len);
    CHECK(whole.log.len == 0 || memcmp(whole.log.data, split.log.data, whole.log.len) == 0);
    buf_free(&whole.log);
    buf_free(&split.log);
    return 0;
}
