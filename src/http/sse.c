/* sse.c - incremental Server-Sent Events framing (sse.h). The relay feeds
 * upstream bytes exactly as they arrive; this file turns them into events
 * for usage capture and protocol translation. Lines wholly inside a chunk are
 * parsed in place; only a line split across chunks is carried in p->line. */
#include "http/sse.h"
#include <string.h>

/* Slack above max_event_bytes for the "data: " prefix of a carried line. */
#define SSE_LINE_SLACK 64

void sse_parser_init(sse_parser_t *p, sse_event_fn cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->ud = ud;
}

void sse_parser_deinit(sse_parser_t *p)
{
    buf_free(&p->line);
    buf_free(&p->event);
    buf_free(&p->data);
}

void sse_parse_all(const char *data, size_t len, sse_event_fn cb, void *ud)
{
    sse_parser_t p;
    sse_parser_init(&p, cb, ud);
    sse_parser_feed(&p, data, len);
    sse_parser_feed(&p, "\n\n", 2); /* flush a last event without its blank line */
    sse_parser_deinit(&p);
}

static void dispatch(sse_parser_t *p)
{
    if (p->has_data && !p->oversize)
        p->cb(p->ud, p->event.len ? p->event.data : "", p->event.len,
              p->data.len ? p->data.data : "", p->data.len);
    else if (p->oversize)
        p->n_dropped++;
    buf_reset(&p->event);
    buf_reset(&p->data);
    p->has_data = 0;
    p->oversize = 0;
}

static int too_big(const sse_parser_t *p, size_t extra)
{
    return p->max_event_bytes && p->event.len + p->data.len + extra > p->max_event_bytes;
}

static void process_line(sse_parser_t *p, const char *s, size_t n)
{
    if (!p->started) {
        p->started = 1;
        if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            n -= 3;
        }
    }
    if (n == 0) {
        dispatch(p);
        return;
    }
    if (s[0] == ':') return;
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        if (p->oversize) return;
        size_t extra = vlen + (p->has_data ? 1 : 0);
        if (too_big(p, extra)) {
            p->oversize = 1;
            buf_reset(&p->data);
            return;
        }
        if (p->has_data) buf_putc(&p->data, '\n');
        buf_append(&p->data, v, vlen);
        p->has_data = 1;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        if (p->oversize) return;
        buf_reset(&p->event);
        if (too_big(p, vlen)) {
            p->oversize = 1;
            return;
        }
        buf_append(&p->event, v, vlen);
    }
    /* id, retry and unknown fields: ignored */
}

/* Carry part of a line split across chunks, bounded by max_event_bytes. */
static void carry(sse_parser_t *p, const char *s, size_t n)
{
    if (p->line_dropped) return;
    if (p->max_event_bytes) {
        size_t cap = p->max_event_bytes + SSE_LINE_SLACK;
        if (p->line.len + n > cap) {
            size_t room = cap > p->line.len ? cap - p->line.len : 0;
            buf_append(&p->line, s, room);
            p->line_dropped = 1;
            return;
        }
    }
    buf_append(&p->line, s, n);
}

static void end_carried_line(sse_parser_t *p)
{
    if (p->line_dropped) {
        /* Only an over-long data or event line spoils the event (as it would
         * have if the line had arrived in one chunk); comments, id, retry and
         * unknown fields are ignored anyway. The kept prefix is longer than
         * SSE_LINE_SLACK, so the field name is in it. */
        const char *s = p->line.data;
        size_t n = p->line.len;
        if (!p->started) {
            p->started = 1;
            if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
                s += 3;
                n -= 3;
            }
        }
        if ((n >= 5 && memcmp(s, "data:", 5) == 0) || (n >= 6 && memcmp(s, "event:", 6) == 0))
            p->oversize = 1;
        p->line_dropped = 0;
    } else {
        process_line(p, p->line.len ? p->line.data : "", p->line.len);
    }
    buf_reset(&p->line);
}

void sse_parser_feed(sse_parser_t *p, const char *data, size_t len)
{
    size_t i = 0;
    if (len == 0) return;
    if (p->last_cr) {
        p->last_cr = 0;
        if (data[0] == '\n') i = 1;
    }
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t lim = nl ? (size_t)(nl - data) : len;
        const char *cr = memchr(data + i, '\r', lim - i);
        size_t e = cr ? (size_t)(cr - data) : lim;
        if (e >= len) {
            carry(p, data + i, len - i);
            return;
        }
        if (p->line.len || p->line_dropped) {
            carry(p, data + i, e - i);
            end_carried_line(p);
        } else {
            process_line(p, data + i, e - i);
        }
        if (data[e] == '\r') {
            if (e + 1 < len) {
                if (data[e + 1] == '\n') e++;
            } else {
                p->last_cr = 1;
            }
        }
        i = e + 1;
    }
}

static void put_data_line(buf_t *out, const char *s, size_t n)
{
    if (n == 0) {
        buf_append(out, "data:\n", 6);
        return;
    }
    buf_append(out, "data: ", 6);
    buf_append(out, s, n);
    buf_putc(out, '\n');
}

void sse_write_event(buf_t *out, const char *event, const char *data, size_t data_len)
{
    if (event && *event) {
        buf_append(out, "event: ", 7);
        buf_puts(out, event);
        buf_putc(out, '\n');
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < data_len && data[j] != '\n' && data[j] != '\r')
            j++;
        put_data_line(out, data + i, j - i);
        if (j >= data_len) break;
        if (data[j] == '\r' && j + 1 < data_len && data[j + 1] == '\n') j++;
        i = j + 1;
    }
    buf_putc(out, '\n');
}
