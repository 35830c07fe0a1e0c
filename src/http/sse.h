/* sse.h - incremental Server-Sent Events framing: feed arbitrary byte
 * chunks, get one callback per complete event. Used to capture usage from
 * relayed streams and to build/inspect events. Not thread-safe per parser. */
#ifndef TETHER_HTTP_SSE_H
#define TETHER_HTTP_SSE_H
#include "core/buf.h"
#include <stddef.h>

/* event: value of the "event:" field ("" when none); data: the "data:" lines
 * joined with '\n'. Both valid only during the callback, and both are
 * NUL-terminated at [len] (so event can be passed to sse_write_event).
 * Framing follows the WHATWG EventSource rules: lines end in CRLF, LF or CR
 * (a CRLF split across two chunks counts once); one space after "field:" is
 * dropped; lines starting with ':' are comments; "id" and "retry" and unknown
 * fields are ignored; a blank line dispatches the event, but only when it had
 * at least one data line (an event with no data is not reported). The
 * callback must not feed the same parser. */
typedef void (*sse_event_fn)(void *ud, const char *event, size_t event_len, const char *data,
                             size_t data_len);

typedef struct sse_parser {
    buf_t line; /* partial line carried across chunks */
    buf_t event;
    buf_t data;
    int has_data;
    int last_cr;            /* previous chunk ended with '\r' */
    size_t max_event_bytes; /* 0 = unlimited; bigger events are dropped */
    sse_event_fn cb;
    void *ud;
    /* additions */
    int oversize;     /* current event exceeded max_event_bytes: drop it */
    int line_dropped; /* current partial line was too long: discard it */
    int started;      /* first line seen (a leading UTF-8 BOM is skipped) */
    size_t n_dropped; /* events dropped for size, for metrics */
} sse_parser_t;

void sse_parser_init(sse_parser_t *p, sse_event_fn cb, void *ud);
void sse_parser_deinit(sse_parser_t *p);
void sse_parser_feed(sse_parser_t *p, const char *data, size_t len);
/* Parse a whole stream held in memory, calling cb per event; a last event
 * without its closing blank line is delivered too. */
void sse_parse_all(const char *data, size_t len, sse_event_fn cb, void *ud);
/* Append one event ("event: x\n" when given, "data: ...\n" per line, "\n").
 * event may be NULL or "" for none. data is split on CRLF, LF and CR so the
 * parser gives back exactly data (with each line break turned into '\n'). */
void sse_write_event(buf_t *out, const char *event, const char *data, size_t data_len);
#endif
