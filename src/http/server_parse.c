/* server_parse.c - the HTTP server's request parser: http-parser callbacks
 * that collect the URL, the headers (names lowercased, checked to be RFC 7230
 * tokens) and the body under the configured limits (CONNECT rejected), and a
 * small scanner over the request head that rejects what http-parser lets
 * through (obs-fold, whitespace before the first header, runs of empty lines
 * before a request line), and a fast path in front of both for heads of the
 * common shape (h1_head.c). No sockets here: server.c feeds it from a
 * connection's input and tests/fuzz/fuzz_http.c from arbitrary bytes. */
#include "http/server_parse.h"
#include "http/h1_head.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* head scanner states: before the request line, inside a line, at the start
 * of a header line (after its CR), the head is complete */
enum { SCAN_START = 0, SCAN_LINE, SCAN_BOL, SCAN_BOL_CR, SCAN_DONE };

/* RFC 7230 tchar: ALPHA / DIGIT / one of !#$%&'*+-.^_`|~ (a table: every
 * byte of every header name is checked) */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int srv_parse_is_tchar(unsigned char c)
{
    return tchar[c];
}

static int reject(srv_parse_t *p, int status, const char *code, const char *msg)
{
    if (!p->error_status) {
        p->error_status = status;
        p->error_code = code;
        p->error_msg = msg;
    }
    return -1;
}

/* ------------------------------------------------------------ head scan */

/* Look at the head bytes before http-parser does. Stops at the end of the
 * head (the body is not scanned). Returns the offset of the first byte to
 * reject, with *code and *msg set, or len. The rejection is the parser's to
 * make only if that byte belongs to the current request: http-parser may end
 * a request before the scanner saw its head end (an HTTP/0.9 request line). */
static size_t scan_head(srv_parse_t *p, const char *data, size_t len, const char **code,
                        const char **msg)
{
    for (size_t i = 0; i < len && p->scan != SCAN_DONE; i++) {
        unsigned char ch = (unsigned char)data[i];
        switch (p->scan) {
        case SCAN_START:
            if (ch == '\r' || ch == '\n') {
                /* RFC 7230 3.5: ignore a few empty lines, not an endless stream */
                if (++p->blank_bytes > 2 * p->max_empty_lines) {
                    *code = "too_many_empty_lines";
                    *msg = "too many empty lines before the request line";
                    return i;
                }
                break;
            }
            p->scan = SCAN_LINE;
            p->started = 1;
            if (p->hooks && p->hooks->on_request_start) p->hooks->on_request_start(p->ud);
            break;
        case SCAN_LINE:
            if (ch == '\n') p->scan = SCAN_BOL;
            break;
        case SCAN_BOL:
            if (ch == '\r') {
                p->scan = SCAN_BOL_CR;
            } else if (ch == '\n') {
                p->scan = SCAN_DONE;
            } else if (ch == ' ' || ch == '\t') {
                *code = "obs_fold";
                *msg = "header line folding or whitespace at the start of a header line is not "
                       "accepted (RFC 7230 section 3.2.4)";
                return i;
            } else {
                p->scan = SCAN_LINE;
            }
            break;
        case SCAN_BOL_CR:
            /* a bare CR is http-parser's to reject */
            p->scan = ch == '\n' ? SCAN_DONE : SCAN_LINE;
            break;
        }
    }
    return len;
}

/* ------------------------------------------------------- parser callbacks */

static int header_budget(srv_parse_t *p, size_t len)
{
    p->header_bytes += len;
    if (p->header_bytes > p->max_header_bytes)
        return reject(p, 431, "headers_too_large", "request headers exceed the configured limit");
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    srv_parse_t *p = hp->data;
    buf_reset(&p->url);
    buf_reset(&p->hdr);
    buf_reset(&p->body);
    p->n_hdr = 0;
    p->last_was_value = 0;
    p->header_bytes = 0;
    p->headers_done = 0;
    p->message_done = 0;
    p->expect_continue = 0;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    srv_parse_t *p = hp->data;
    if (header_budget(p, len)) return -1;
    buf_append(&p->url, at, len);
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    srv_parse_t *p = hp->data;
    if (header_budget(p, len)) return -1;
    /* http-parser (built non-strict) takes a space as part of a name, so
     * "content-length : 5" would reach consumers as "content-length " */
    for (size_t i = 0; i < len; i++)
        if (!srv_parse_is_tchar((unsigned char)at[i]))
            return reject(p, 400, "invalid_header_name",
                          "a header field name must be a token, with no whitespace before the "
                          "colon (RFC 7230 section 3.2.4)");
    if (p->n_hdr == 0 || p->last_was_value) {
        if (p->n_hdr >= HSRV_MAX_HEADERS)
            return reject(p, 431, "too_many_headers", "too many request headers");
        p->hoff[p->n_hdr][0] = p->hdr.len;
        p->hoff[p->n_hdr][1] = 0;
        p->hoff[p->n_hdr][2] = 0;
        p->hoff[p->n_hdr][3] = 0;
        p->n_hdr++;
        p->last_was_value = 0;
    }
    size_t start = p->hdr.len;
    buf_append(&p->hdr, at, len);
    for (size_t i = start; i < p->hdr.len; i++)
        if (p->hdr.data[i] >= 'A' && p->hdr.data[i] <= 'Z') p->hdr.data[i] += 32;
    p->hoff[p->n_hdr - 1][1] += len;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    srv_parse_t *p = hp->data;
    if (header_budget(p, len)) return -1;
    if (p->n_hdr == 0) return 0;
    if (!p->last_was_value) {
        p->hoff[p->n_hdr - 1][2] = p->hdr.len;
        p->last_was_value = 1;
    }
    buf_append(&p->hdr, at, len);
    p->hoff[p->n_hdr - 1][3] += len;
    return 0;
}

static int hdr_is(const srv_parse_t *p, size_t i, const char *name)
{
    size_t n = strlen(name);
    return p->hoff[i][1] == n && memcmp(p->hdr.data + p->hoff[i][0], name, n) == 0;
}

static void find_expect(srv_parse_t *p)
{
    for (size_t i = 0; i < p->n_hdr; i++) {
        if (hdr_is(p, i, "expect") && p->hoff[i][3] >= 12 &&
            strncasecmp(p->hdr.data + p->hoff[i][2], "100-continue", 12) == 0)
            p->expect_continue = 1;
    }
}

static int on_headers_complete(http_parser *hp)
{
    srv_parse_t *p = hp->data;
    p->headers_done = 1;
    /* http-parser ends a CONNECT request at its head and leaves the rest of
     * the stream unparsed (a tunnel), so a Content-Length or chunked body
     * would be read as the next request: smuggling. tether is no tunnel. */
    if (hp->method == HTTP_CONNECT)
        return reject(p, 400, "connect_not_supported", "the CONNECT method is not supported");
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length != ULLONG_MAX &&
        hp->content_length > p->max_body_bytes)
        return reject(p, 413, "body_too_large", "request body exceeds the configured limit");
    find_expect(p);
    if (p->hooks && p->hooks->on_headers) p->hooks->on_headers(p->ud);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    srv_parse_t *p = hp->data;
    if (p->body.len + len > p->max_body_bytes)
        return reject(p, 413, "body_too_large", "request body exceeds the configured limit");
    buf_append(&p->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    srv_parse_t *p = hp->data;
    p->message_done = 1;
    /* http-parser takes no further request on this connection: neither may
     * the fast path */
    if (!http_should_keep_alive(hp)) p->fast_off = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------ api */

void srv_parse_init(srv_parse_t *p, size_t max_header_bytes, size_t max_body_bytes,
                    size_t max_empty_lines, const srv_parse_hooks_t *hooks, void *ud)
{
    memset(p, 0, sizeof *p);
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
    p->max_empty_lines = max_empty_lines;
    p->hooks = hooks;
    p->ud = ud;
}

void srv_parse_deinit(srv_parse_t *p)
{
    buf_free(&p->url);
    buf_free(&p->hdr);
    buf_free(&p->body);
}

static void reject_errno(srv_parse_t *p, enum http_errno e)
{
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        reject(p, 431, "headers_too_large", "request headers too large");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        reject(p, 400, "conflicting_body_length",
               "Content-Length with Transfer-Encoding, or more than one Content-Length, is not "
               "accepted (RFC 7230 section 3.3.3)");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        reject(p, 400, "invalid_content_length", "invalid Content-Length header");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        reject(p, 400, "invalid_transfer_encoding",
               "Transfer-Encoding must end with chunked (RFC 7230 section 3.3.3)");
        break;
    case HPE_INVALID_HEADER_TOKEN:
        reject(p, 400, "invalid_header", "invalid character in a request header");
        break;
    default: reject(p, 400, "bad_request", http_errno_description(e)); break;
    }
}

/* ------------------------------------------------------------ fast path */

/* Bytes of a fast-read head's Content-Length body. */
static size_t fast_body(srv_parse_t *p, const char *data, size_t len, srv_parse_ev_t *ev)
{
    size_t take = len < p->body_left ? len : p->body_left;
    buf_append(&p->body, data, take);
    p->body_left -= take;
    if (p->body_left == 0) {
        p->fast_body = 0;
        p->parser.content_length = 0; /* as http-parser leaves it */
        p->message_done = 1;
        *ev = SRV_PARSE_MESSAGE;
    }
    return take;
}

/* A whole head of the common shape at the start of data: read it without
 * http-parser, with the outcome http-parser and the callbacks above give
 * (the same buffers, offsets, flags and hooks). Returns the bytes consumed,
 * or 0: http-parser reads this message, and decides every rejection. */
static size_t fast_head(srv_parse_t *p, const char *data, size_t len, srv_parse_ev_t *ev)
{
    h1_head_t h;
    if (!h1_read_request(data, len, HSRV_MAX_HEADERS, &h)) return 0;
    /* over a limit: rejected by the slow path */
    if (h.target_len + h.field_bytes > p->max_header_bytes) return 0;
    if (h.has_clen && h.clen > p->max_body_bytes) return 0;
    /* a message after which http-parser takes no other: left to it */
    if (h.http_minor == 1 ? h.conn_close : !h.conn_keep_alive) return 0;
    p->fast_heads++;
    on_message_begin(&p->parser);
    p->started = 1;
    p->scan = SCAN_DONE;
    if (p->hooks && p->hooks->on_request_start) p->hooks->on_request_start(p->ud);
    buf_append(&p->url, data + h.target_off, h.target_len);
    h1_copy_fields(&h, data, &p->hdr, p->hoff);
    p->n_hdr = h.n_hdr;
    p->last_was_value = h.n_hdr > 0;
    p->header_bytes = h.target_len + h.field_bytes;
    http_parser *hp = &p->parser;
    hp->method = (unsigned)h.method;
    hp->http_major = 1;
    hp->http_minor = (unsigned short)h.http_minor;
    hp->flags =
        (h.has_clen ? F_CONTENTLENGTH : 0) | (h.conn_keep_alive ? F_CONNECTION_KEEP_ALIVE : 0);
    hp->content_length = h.has_clen ? h.clen : ULLONG_MAX;
    p->headers_done = 1;
    find_expect(p);
    if (p->hooks && p->hooks->on_headers) p->hooks->on_headers(p->ud);
    if (h.has_clen && h.clen > 0) {
        buf_reserve(&p->body, h.clen);
        p->fast_body = 1;
        p->body_left = h.clen;
        return h.head_len + fast_body(p, data + h.head_len, len - h.head_len, ev);
    }
    if (h.has_clen) hp->content_length = 0;
    p->message_done = 1;
    *ev = SRV_PARSE_MESSAGE;
    return h.head_len;
}

size_t srv_parse_feed(srv_parse_t *p, const char *data, size_t len, srv_parse_ev_t *ev)
{
    *ev = SRV_PARSE_MORE;
    if (p->error_status) {
        *ev = SRV_PARSE_ERROR;
        return 0;
    }
    if (p->message_done) {
        /* paused until srv_parse_next, as http-parser is */
        *ev = SRV_PARSE_MESSAGE;
        return 0;
    }
    if (p->fast_body) return fast_body(p, data, len, ev);
    if (!p->fast_off && p->scan == SCAN_START && p->blank_bytes == 0 && len) {
        size_t n = fast_head(p, data, len, ev);
        if (n) return n;
    }
    const char *code = NULL, *msg = NULL;
    size_t ok = scan_head(p, data, len, &code, &msg);
    /* http-parser never sees a byte the scanner rejects */
    size_t n = ok ? http_parser_execute(&p->parser, &parser_settings, data, ok) : 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    if (e == HPE_PAUSED && p->message_done) {
        *ev = SRV_PARSE_MESSAGE; /* ended before any rejected byte */
    } else if (e != HPE_OK || p->error_status) {
        if (!p->error_status) reject_errno(p, e);
        *ev = SRV_PARSE_ERROR;
    } else if (code) {
        reject(p, 400, code, msg);
        *ev = SRV_PARSE_ERROR;
    }
    return n;
}

void srv_parse_next(srv_parse_t *p)
{
    p->message_done = 0;
    p->headers_done = 0;
    p->started = 0;
    p->blank_bytes = 0;
    p->scan = SCAN_START;
    http_parser_pause(&p->parser, 0);
}

void srv_parse_trim(srv_parse_t *p)
{
    if (p->body.cap > (1u << 20)) buf_free(&p->body);
    if (p->hdr.cap > (64u << 10)) buf_free(&p->hdr);
}
