/* test_server_head.c - the response head srv_write_head stages: the status
 * line, every handler header byte for byte whatever its name's and value's
 * length (the short-copy path for 0..16 bytes and memcpy beyond), and the
 * framing headers of each mode (content-length, chunked, HTTP/1.0,
 * connection close), against the head written out plainly in the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/server_internal.h"
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The head as the test expects it. */
static size_t want_head(char *out, size_t cap, int status, const hsrv_header_t *h, size_t n,
                        int64_t clen, bool http10, bool keep_alive)
{
    size_t o = (size_t)snprintf(out, cap, "HTTP/1.1 %d %s\r\n", status, hsrv_reason(status));
    for (size_t i = 0; i < n; i++) {
        memcpy(out + o, h[i].name, h[i].name_len);
        o += h[i].name_len;
        memcpy(out + o, ": ", 2);
        o += 2;
        memcpy(out + o, h[i].value, h[i].value_len);
        o += h[i].value_len;
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    if (clen >= 0)
        o += (size_t)snprintf(out + o, cap - o, "content-length: %lld\r\n", (long long)clen);
    else if (!http10)
        o += (size_t)snprintf(out + o, cap - o, "transfer-encoding: chunked\r\n");
    if (!keep_alive || (http10 && clen < 0))
        o += (size_t)snprintf(out + o, cap - o, "connection: close\r\n");
    else if (http10)
        o += (size_t)snprintf(out + o, cap - o, "connection: keep-alive\r\n");
    o += (size_t)snprintf(out + o, cap - o, "\r\n");
    return o;
}

static void check_head(int status, const hsrv_header_t *h, size_t n, int64_t clen, bool http10,
                       bool keep_alive)
{
    hsrv_conn_t c;
    memset(&c, 0, sizeof c);
    c.out = evbuffer_new();
    assert_non_null(c.out);
    c.http10 = http10;
    c.req.keep_alive = keep_alive;
    srv_write_head(&c, status, h, n, clen);
    static char want[16384], got[16384];
    size_t wl = want_head(want, sizeof want, status, h, n, clen, http10, keep_alive);
    size_t gl = evbuffer_get_length(c.out);
    assert_int_equal(gl, wl);
    assert_int_equal(evbuffer_remove(c.out, got, gl), (int)gl);
    assert_memory_equal(got, want, wl);
    assert_int_equal(c.bytes_sent, wl);
    assert_int_equal(c.started, 1);
    evbuffer_free(c.out);
}

static void test_headers_of_every_length_are_copied_exactly(void **st)
{
    static char names[41][48], values[41][48];
    for (int len = 0; len <= 40; len++) {
        for (int k = 0; k < len; k++) {
            names[len][k] = (char)('a' + (len * 7 + k) % 26);
            values[len][k] = (char)(' ' + 1 + (len * 13 + k * 5) % 94);
        }
    }
    /* one header, then runs of headers, so copies start at every offset */
    for (size_t nl = 0; nl <= 40; nl++)
        for (size_t vl = 0; vl <= 40; vl++) {
            hsrv_header_t h = {names[nl], nl, values[vl], vl};
            check_head(200, &h, 1, (int64_t)(nl * 41 + vl), false, true);
        }
    hsrv_header_t many[41];
    for (size_t i = 0; i <= 40; i++) {
        many[i] = (hsrv_header_t){names[i], i, values[40 - i], 40 - i};
        check_head(201, many, i + 1, -1, false, true);
    }
}

static void test_framing_headers_of_each_mode(void **st)
{
    hsrv_header_t h[] = {{"content-type", 12, "application/json", 16},
                         {"x-tether-model", 14, "big", 3}};
    static const int statuses[] = {200, 404, 429, 503, 299, 777};
    static const int64_t clens[] = {0, 9, 10, 1234567890123LL, -1};
    for (size_t s = 0; s < sizeof statuses / sizeof *statuses; s++)
        for (size_t l = 0; l < sizeof clens / sizeof *clens; l++)
            for (int mode = 0; mode < 4; mode++)
                check_head(statuses[s], h, 2, clens[l], mode & 1, mode & 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_of_every_length_are_copied_exactly),
        cmocka_unit_test(test_framing_headers_of_each_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
