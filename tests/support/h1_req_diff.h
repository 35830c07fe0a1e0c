/* h1_req_diff.h - for test_h1_head.c and tests/fuzz/fuzz_h1.c: a request
 * stream through the server's request parser (srv_parse) as conn_process
 * feeds it, logging every feed's return and event, every hook call, every
 * request's method, target, version, keep-alive, flags, headers (buffer
 * bytes and offsets), Expect and body, and every rejection's status, code
 * and message. Run once with the fast head reader and once with fast_off,
 * the two logs must be equal. */
#ifndef TETHER_TEST_H1_REQ_DIFF_H
#define TETHER_TEST_H1_REQ_DIFF_H
#include "core/buf.h"
#include "http/server_parse.h"
#include <http_parser.h>

typedef struct h1q_run {
    buf_t log;
    srv_parse_t *p;
} h1q_run_t;

static void h1q_on_start(void *ud)
{
    buf_puts(&((h1q_run_t *)ud)->log, "<start>");
}

static void h1q_on_headers(void *ud)
{
    h1q_run_t *r = ud;
    buf_printf(&r->log, "<headers expect=%d>", r->p->expect_continue);
}

static const srv_parse_hooks_t h1q_hooks = {h1q_on_start, h1q_on_headers};

static void h1q_log_message(h1q_run_t *r)
{
    srv_parse_t *p = r->p;
    http_parser *hp = &p->parser;
    buf_printf(&r->log, "[msg %s %d.%d ka=%d flags=%x cl=%llu url=", http_method_str(hp->method),
               hp->http_major, hp->http_minor, http_should_keep_alive(hp), hp->flags,
               (unsigned long long)hp->content_length);
    buf_append(&r->log, p->url.data ? p->url.data : "", p->url.len);
    buf_printf(&r->log, " nhdr=%zu hb=%zu lwv=%d exp=%d hdrbuf=", p->n_hdr, p->header_bytes,
               p->last_was_value, p->expect_continue);
    buf_append(&r->log, p->hdr.data ? p->hdr.data : "", p->hdr.len);
    for (size_t i = 0; i < p->n_hdr; i++)
        buf_printf(&r->log, " %zu,%zu,%zu,%zu", p->hoff[i][0], p->hoff[i][1], p->hoff[i][2],
                   p->hoff[i][3]);
    buf_printf(&r->log, " body=%zu:", p->body.len);
    buf_append(&r->log, p->body.data ? p->body.data : "", p->body.len);
    buf_puts(&r->log, "]");
}

/* Feed a stream as conn_process does: reads of random size (cut == NULL:
 * one read), the unconsumed rest offered again after each request. Returns
 * the number of heads the fast path read. */
static unsigned long h1q_run_stream(const char *data, size_t size, const size_t *cuts,
                                    size_t n_cuts, int fast, size_t max_hdr, size_t max_body,
                                    size_t max_empty, buf_t *out)
{
    srv_parse_t p;
    h1q_run_t r = {BUF_INIT, &p};
    srv_parse_init(&p, max_hdr, max_body, max_empty, &h1q_hooks, &r);
    p.fast_off = !fast;
    size_t off = 0, avail = 0, ci = 0;
    while (avail < size) {
        avail = ci < n_cuts && cuts[ci] < size ? cuts[ci] : size;
        ci++;
        if (avail < off) avail = off;
        while (off < avail) {
            srv_parse_ev_t ev;
            size_t n = srv_parse_feed(&p, data + off, avail - off, &ev);
            buf_printf(&r.log, "(%zu %d)", n, (int)ev);
            off += n;
            if (ev == SRV_PARSE_ERROR) {
                buf_printf(&r.log, "[error %d %s %s]", p.error_status, p.error_code, p.error_msg);
                goto done;
            }
            if (ev == SRV_PARSE_MESSAGE) {
                h1q_log_message(&r);
                srv_parse_next(&p);
                continue;
            }
            if (n == 0) goto done;
        }
    }
done:;
    unsigned long fh = p.fast_heads;
    srv_parse_deinit(&p);
    buf_reset(out);
    buf_append(out, r.log.data ? r.log.data : "", r.log.len);
    buf_free(&r.log);
    return fh;
}
#endif
