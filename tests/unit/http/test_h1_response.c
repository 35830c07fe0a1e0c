/* test_h1_response.c - the fast reader of response heads (h1_read_response,
 * used by upstream.c for backend replies) against http-parser: thousands of
 * generated and mutated responses through both (tests/support/
 * h1_resp_diff.h), with the same status, version, flags, Content-Length,
 * header buffer and offsets, body bytes, end of message and keep-alive
 * wherever the fast path reads a head. It leaves every other head to
 * http-parser, so there is no list of deliberate differences; the generator
 * must reach the fast path on most plain responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_resp_diff.h"
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int chance(int pct)
{
    return (int)(rnd() % 100) < pct;
}

#define PICK(a) (a)[rnd() % (sizeof(a) / sizeof((a)[0]))]

static const char *status_ok[] = {"200 OK",
                                  "201 Created",
                                  "400 Bad Request",
                                  "429 Too Many",
                                  "500 Internal Server Error",
                                  "503 Unavailable",
                                  "200 \xc3\xa9"};
static const char *status_odd[] = {
    "204 No Content", "304 Not Modified", "100 Continue", "101 Switching", "200",
    "200 ",           "2000 OK",          "20 OK",        "600 X",         "999 X",
    "099 X",          "abc OK",           "200 O\x01K",   "200  OK"};
static const char *versions[] = {"HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2",
                                 "HTTP/2.0", "http/1.1", "HTTP/1.1 "};
static const char *names[] = {"Content-Type",
                              "content-type",
                              "Date",
                              "Server",
                              "X-Request-Id",
                              "Cache-Control",
                              "X-Weird_!#$%&'*+.^`|~",
                              "Content-Lengthy",
                              "Set-Cookie",
                              "Vary",
                              "Transfer-Encoding1",
                              "Connectionx",
                              "Upgradex"};
static const char *names_odd[] = {"Bad Name", "", "Na\x01me", "N:", "Name "};
static const char *values[] = {"application/json",
                               "text/event-stream",
                               "Mon, 07 Dec 2026",
                               "a\tb",
                               "\xc3\xa9",
                               "x=1; y=2",
                               "0"};
static const char *values_odd[] = {"", " lead", "trail ", "a\x7f", "a\x01", "a\rb", "\t"};
static const char *conn[] = {"close", "keep-alive", "Keep-Alive", "close, te", "upgrade", ""};
static const char *clens[] = {
    "12", "0", "3", "012", " 12", "12 ", "-1", "1e2", "99999999999999999999"};

static void gen_response(buf_t *b)
{
    int plain = chance(60);
    buf_puts(b, plain || chance(85) ? "HTTP/1.1" : PICK(versions));
    buf_puts(b, " ");
    buf_puts(b, plain || chance(70) ? PICK(status_ok) : PICK(status_odd));
    buf_puts(b, plain || chance(96) ? "\r\n" : "\n");
    long cl = -1;
    int nh = (int)(rnd() % 7);
    if (chance(2)) nh = 64 + (int)(rnd() % 3);
    for (int i = 0; i < nh; i++) {
        int k = (int)(rnd() % 12);
        if (k == 0 && (cl < 0 || !plain)) {
            const char *v = plain ? "12" : PICK(clens);
            buf_printf(b, "Content-Length: %s", v);
            if (cl < 0) cl = atol(v);
        } else if (k == 1) {
            buf_printf(b, "%s: %s", chance(90) ? "Connection" : "Proxy-Connection",
                       plain ? PICK(((const char *[]){"close", "keep-alive"})) : PICK(conn));
        } else if (k == 2 && !plain) {
            buf_printf(b, "Transfer-Encoding: %s", chance(70) ? "chunked" : "gzip");
        } else {
            buf_printf(b, "%s: %s", plain || chance(90) ? PICK(names) : PICK(names_odd),
                       plain || chance(85) ? PICK(values) : PICK(values_odd));
        }
        buf_puts(b, plain || chance(96) ? "\r\n" : "\n");
    }
    if (cl < 0 && chance(85)) {
        buf_puts(b, "Content-Length: 12\r\n");
        cl = 12;
    }
    buf_puts(b, "\r\n");
    size_t body = cl > 0 && cl < 100 ? (size_t)cl : 0;
    if (chance(20)) body = rnd() % 20; /* short or with the next message's bytes */
    for (size_t i = 0; i < body; i++)
        buf_putc(b, "{\"ok\":true}\n"[i % 12]);
}

static void mutate(buf_t *b)
{
    if (!b->len) return;
    size_t at = rnd() % b->len;
    static const char bytes[] = {'\r', '\n', ' ', '\t', ':', '\0', '\x7f', '\x80', 'A', '0'};
    if (chance(50)) {
        b->data[at] = PICK(bytes);
    } else {
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
    }
}

static void test_fast_response_heads_match_http_parser(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, fast = BUF_INIT, slow = BUF_INIT;
    unsigned long read_fast = 0, n = 0;
    for (int i = 0; i < 12000; i++) {
        buf_reset(&b);
        gen_response(&b);
        if (chance(30)) {
            int m = 1 + (int)(rnd() % 3);
            for (int k = 0; k < m; k++)
                mutate(&b);
        }
        /* the head cut short, as a first read may be */
        size_t len = chance(10) ? rnd() % (b.len + 1) : b.len;
        int r = h1_resp_diff(b.data, len, &fast, &slow);
        if (r < 0) {
            fprintf(stderr, "differ on:\n%.*s\n-- fast:\n%s\n-- http-parser:\n%s\n", (int)len,
                    b.data, fast.data, slow.data);
            fail();
        }
        read_fast += r == 1;
        n++;
    }
    fprintf(stderr, "h1 response differential: %lu responses, %lu read by the fast path\n", n,
            read_fast);
    assert_true(read_fast > 12000 / 4);
    buf_free(&b);
    buf_free(&fast);
    buf_free(&slow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_response_heads_match_http_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
