/* test_fetch_put.c - the signal fetch's printf-free writers (fetch_timings.c)
 * against snprintf on generated values: fetch_put_u is "%s%llu" of its
 * prefix and value, fetch_put_head the call head it documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/fetch.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_put_u_is_printf(void **st)
{
    (void)st;
    static const char *const pres[] = {"", ":", ",\"sent_us\":",
                                       "\r\nContent-Type: application/json\r\nAccept: "
                                       "application/json\r\nContent-Length: ",
                                       "a prefix longer than sixty-four bytes, so that the "
                                       "writer takes its other path: "};
    for (int i = 0; i < 200000; i++) {
        uint64_t v = next();
        v >>= next() % 64; /* every length of number */
        if (i < 100) v = (uint64_t)i;
        if (i == 100) v = UINT64_MAX;
        const char *pre = pres[next() % 5];
        char want[256];
        snprintf(want, sizeof want, "%s%llu", pre, (unsigned long long)v);
        buf_t b = BUF_INIT;
        buf_puts(&b, "x");
        fetch_put_u(&b, pre, v);
        assert_string_equal(b.data + 1, want);
        assert_int_equal(b.len, strlen(want) + 1);
        buf_free(&b);
    }
}

static void test_put_head_is_printf(void **st)
{
    (void)st;
    static const char *const paths[] = {"/", "/classify", "/v1/embeddings",
                                        "/a/much/longer/path/"
                                        "of/an/endpoint"};
    static const char *const hosts[] = {"127.0.0.1", "localhost", "classifier.internal.example"};
    for (int i = 0; i < 20000; i++) {
        const char *path = paths[next() % 4], *host = hosts[next() % 3];
        int port = (int)(next() % 65536);
        size_t n = (size_t)(next() >> (next() % 64));
        char want[512];
        snprintf(want, sizeof want,
                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                 "Accept: application/json\r\nContent-Length: %zu\r\n",
                 path, host, port, n);
        buf_t b = BUF_INIT;
        fetch_put_head(&b, path, host, port, n);
        assert_string_equal(b.data, want);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_u_is_printf),
        cmocka_unit_test(test_put_head_is_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
