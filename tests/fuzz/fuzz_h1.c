/* fuzz_h1.c - libFuzzer harness comparing the fast head reader
 * (src/http/h1_head.c, through the server's request parser) with
 * http-parser: the same byte stream goes through srv_parse twice, once with
 * the fast path and once with every byte through http-parser (fast_off), in
 * the same reads, and the two logs must be identical: every feed's return
 * and event, every hook call, every request's method, target, version,
 * keep-alive, flags, header buffer and offsets, Expect and body, every
 * rejection's status and code. Build and run with scripts/fuzz.sh.
 *
 * With bit 3 of the second byte set, the rest is a backend response instead:
 * h1_read_response with upstream.c's rules against http-parser with
 * upstream.c's callbacks (tests/support/h1_resp_diff.h).
 *
 * The first two input bytes choose the limits and the read size; the rest is
 * the connection's byte stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "../support/h1_resp_diff.h"
#include "http/server_parse.h"

typedef struct run {
    buf_t log;
    srv_parse_t *p;
} run_t;

static void on_start(void *ud)
{
    buf_puts(&((run_t *)ud)->log, "<start>");
}

static void on_headers(void *ud)
{
    run_t *r = ud;
    buf_printf(&r->log, "<headers %d>", r->p->expect_continue);
}

static const srv_parse_hooks_t hooks = {on_start, on_headers};

static void log_message(run_t *r)
{
    srv_parse_t *p = r->p;
    http_parser *hp = &p->parser;
    buf_printf(&r->log, "[msg %u %d.%d ka=%d flags=%x cl=%llu url=", hp->method, hp->http_major,
               hp->http_minor, http_should_keep_alive(hp), hp->flags,
               (unsigned long long)hp->content_length);
    buf_append(&r->log, p->url.data ? p->url.data : "", p->url.len);
    buf_printf(&r->log, " n=%zu hb=%zu lwv=%d exp=%d hdr=", p->n_hdr, p->header_bytes,
               p->last_was_value, p->expect_continue);
    buf_append(&r->log, p->hdr.data ? p->hdr.data : "", p->hdr.len);
    for (size_t i = 0; i < p->n_hdr; i++)
        buf_printf(&r->log, " %zu,%zu,%zu,%zu", p->hoff[i][0], p->hoff[i][1], p->hoff[i][2],
                   p->hoff[i][3]);
    buf_printf(&r->log, " body=%zu:", p->body.len);
    buf_append(&r->log, p->body.data ? p->body.data : "", p->body.len);
    buf_puts(&r->log, "]");
}

static void run_stream(const uint8_t *data, size_t size, size_t step, int fast, size_t max_hdr,
                       size_t max_body, size_t max_empty, buf_t *log)
{
    srv_parse_t p;
    run_t r = {BUF_INIT, &p};
    srv_parse_init(&p, max_hdr, max_body, max_empty, &hooks, &r);
    p.fast_off = !fast;
    size_t off = 0, avail = 0;
    while (avail < size) {
        avail = step ? (avail + step < size ? avail + step : size) : size;
        while (off < avail) {
            srv_parse_ev_t ev;
            size_t n = srv_parse_feed(&p, (const char *)data + off, avail - off, &ev);
            buf_printf(&r.log, "(%zu %d)", n, (int)ev);
            off += n;
            if (ev == SRV_PARSE_ERROR) {
                buf_printf(&r.log, "[error %d %s %s]", p.error_status, p.error_code, p.error_msg);
                goto done;
            }
            if (ev == SRV_PARSE_MESSAGE) {
                log_message(&r);
                srv_parse_next(&p);
                continue;
            }
            if (n == 0) goto done;
        }
    }
done:
    srv_parse_deinit(&p);
    *log = r.log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t step = data[0] & 0x80 ? 0 : (size_t)data[0] % 97 + 1;
    size_t max_hdr = data[1] & 1 ? 64 + data[1] : 64 * 1024;
    size_t max_body = data[1] & 2 ? 16 : 1 << 20;
    size_t max_empty = data[1] & 4 ? 1 : 4;
    int response = data[1] & 8;
    data += 2;
    size -= 2;
    buf_t fast, slow;
    if (response) {
        fast = (buf_t)BUF_INIT;
        slow = (buf_t)BUF_INIT;
        if (h1_resp_diff((const char *)data, size, &fast, &slow) < 0) {
            fprintf(stderr, "fuzz_h1: response heads differ\n-- fast:\n%s\n-- slow:\n%s\n",
                    fast.data, slow.data);
            abort();
        }
        buf_free(&fast);
        buf_free(&slow);
        return 0;
    }
    run_stream(data, size, step, 1, max_hdr, max_body, max_empty, &fast);
    run_stream(data, size, step, 0, max_hdr, max_body, max_empty, &slow);
    if (fast.len != slow.len || (fast.len && memcmp(fast.data, slow.data, fast.len) != 0)) {
        fprintf(stderr,
                "fuzz_h1: the fast path and http-parser differ\n-- fast:\n%s\n-- slow:\n%s\n",
                fast.data, slow.data);
        abort();
    }
    buf_free(&fast);
    buf_free(&slow);
    return 0;
}
