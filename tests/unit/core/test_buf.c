/* test_buf.c - the core buffer and arena: appends, printf growth across the
 * initial capacity, JSON strings, JSON numbers, steal; arena alignment, big
 * allocations and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/buf.h"
#include <stdlib.h>
#include <string.h>

static void test_printf_grows_past_capacity(void **state)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "42-x");
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
    assert_int_equal(b.data[b.len], 0);
    assert_int_equal(b.data[4], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    buf_free(&b);
}

static void test_json_str_escapes(void **state)
{
    buf_t b = BUF_INIT;
    buf_json_str(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_free(&b);
}

static void num(double v, const char *want)
{
    buf_t b = BUF_INIT;
    buf_num(&b, v);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_json_cstr_writes_null_for_null(void **state)
{
    buf_t b = BUF_INIT;
    buf_json_cstr(&b, "a\"b");
    buf_putc(&b, ',');
    buf_json_cstr(&b, NULL);
    assert_string_equal(b.data, "\"a\\\"b\",null");
    buf_free(&b);
}

static void test_json_opt_writes_a_field_only_when_present(void **state)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"a\":1");
    buf_json_opt(&b, "note", "x\"y");
    buf_json_opt(&b, "error", NULL);
    buf_putc(&b, '}');
    assert_string_equal(b.data, "{\"a\":1,\"note\":\"x\\\"y\"}");
    buf_free(&b);
}

static void test_json_numbers(void **state)
{
    num(0, "0");
    num(5, "5");
    num(-3, "-3");
    num(0.5, "0.5");
    num(0.1234564, "0.123456");
    num(0.1234566, "0.123457");
    num(1.25, "1.25");
    num(-2.5, "-2.5");
    num(1e-9, "1.0000000000000001e-09");
    num(123456789012.5, "123456789012.5");
    num(1e13, "10000000000000");
    num(0.0 / 0.0, "null");
}

static void test_steal_hands_over(void **state)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello");
    char *s = buf_steal(&b);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_arena_alignment_big_and_reset(void **state)
{
    arena_t a;
    arena_init(&a, 256);
    for (int i = 1; i < 50; i++) {
        void *p = arena_alloc(&a, (size_t)i);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
    }
    char *big = arena_alloc(&a, 10000); /* its own chunk */
    memset(big, 1, 10000);
    char *s = arena_sprintf(&a, "%s-%d", "k", 7);
    assert_string_equal(s, "k-7");
    arena_reset(&a);
    void *p = arena_calloc(&a, 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(((unsigned char *)p)[i], 0);
    arena_deinit(&a);
}

/* buf_fixed writes exactly what printf("%.*f") writes: random values of
 * every magnitude, exact ties, values a hair off a tie, signs, zeros,
 * NaN and infinities. */
static void check_fixed(double v, int d)
{
    char want[512];
    snprintf(want, sizeof want, "%.*f", d, v);
    buf_t b = BUF_INIT;
    buf_fixed(&b, v, d);
    if (strcmp(b.data, want) != 0) fprintf(stderr, "%.17g %d: %s != %s\n", v, d, b.data, want);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_fixed_matches_printf(void **state)
{
    static const double edge[] = {0.0,      -0.0,         0.5,          1.5, 2.5, 0.00005, 0.00015,
                                  -0.00005, 1e-300,       -1e-9,        0.1, 0.2, 0.3,     1.0 / 3,
                                  2.0 / 3,  123456.78905, 214748.36475, 1e9, 3e9, 1e300,   -1e300};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int d = 0; d <= 9; d++)
            check_fixed(edge[i], d);
    for (int d = 0; d <= 9; d++) {
        check_fixed(NAN, d);
        check_fixed(INFINITY, d);
        check_fixed(-INFINITY, d);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double unit = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        double mag = pow(10.0, (double)(int)(x % 14) - 6);    /* 1e-6 .. 1e7 */
        double v = (x & 1 ? -1 : 1) * unit * mag;
        check_fixed(v, (int)((x >> 5) % 10));
        /* a value whose 4-decimal expansion sits near a tie */
        double t = (double)(int64_t)(unit * 1e6) / 1e4 + 0.00005;
        check_fixed(t, 4);
        check_fixed(nextafter(t, 0), 4);
        check_fixed(nextafter(t, 1e9), 4);
    }
}

/* The integer fast path's edges: carries into the next power of ten,
 * values that round to zero (sign kept as printf keeps it), the last
 * magnitudes below 2^31 units and the first above, every decimals count. */
static void test_fixed_integer_path_edges(void **state)
{
    static const double edge[] = {
        9.99996,      -9.99996,     0.99995001,   99.999951,   -0.00004,      -0.0,
        0.00004,      1e-12,        -1e-12,       2147483647,  2147483648.0,  2147483647.4,
        214748.36465, 214748.3647,  21474.83648,  0.000000001, 0.0000000015,  0.12345,
        0.5000001,    0.4999999,    1234567.891,  5e-10,       4.9999999e-10, 1e-9,
        0.999999999,  0.9999999994, 0.9999999996, 100,         1000000000,    -1000000000.5};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int d = 0; d <= 9; d++) {
            check_fixed(edge[i], d);
            check_fixed(nextafter(edge[i], 0), d);
            check_fixed(nextafter(edge[i], 1e300), d);
        }
    /* every value k / 10^d + a quarter unit around the carries */
    for (int d = 0; d <= 6; d++)
        for (int k = 0; k < 2000; k++) {
            double u = pow(10.0, -d);
            check_fixed(k * u + u / 4, d);
            check_fixed(-(k * u + 3 * u / 4), d);
        }
}

/* buf_json_str's fast copy (a clean prefix found 16 bytes at a time) gives
 * the bytes the byte-by-byte escaper gives: random strings over an
 * alphabet of quotes, backslashes, control bytes, bytes above 0x7f and
 * letters, escapes at every position around the 16-byte blocks. */
static void json_str_reference(buf_t *b, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"')
            buf_puts(b, "\\\"");
        else if (c == '\\')
            buf_puts(b, "\\\\");
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\r')
            buf_puts(b, "\\r");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c < 0x20) {
            char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(b, e);
        } else
            buf_putc(b, (char)c);
    }
    buf_putc(b, '"');
}

static void test_json_str_fast_copy_matches_reference(void **state)
{
    static const unsigned char alpha[] = {'a',  'Z',  ' ',  '"',  '\\', '\n', '\r', '\t', 0x01,
                                          0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, 0x00, '/',  '0'};
    uint64_t x = 0x853c49e6748fea9bull;
    unsigned char s[200];
    for (int round = 0; round < 40000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = (size_t)(x % 70);
        if (round % 7 == 0) n += 100;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly letters, so clean prefixes of every length occur */
            s[i] = x % 8 ? (unsigned char)('a' + x % 26) : alpha[(x >> 8) % sizeof alpha];
        }
        buf_t want = BUF_INIT, got = BUF_INIT;
        buf_puts(&want, "p:");
        buf_puts(&got, "p:");
        json_str_reference(&want, s, n);
        buf_json_str(&got, (const char *)s, n);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        assert_int_equal(got.data[got.len], 0);
        buf_free(&want);
        buf_free(&got);
    }
}

/* The inline appends grow the buffer at the exact capacity boundary and
 * keep it NUL-terminated. */
static void test_append_at_capacity_boundaries(void **state)
{
    for (size_t first = 0; first < 140; first++) {
        buf_t b = BUF_INIT;
        for (size_t i = 0; i < first; i++)
            buf_putc(&b, (char)('a' + i % 26));
        buf_append(&b, "0123456789", 10);
        buf_puts(&b, "");
        buf_append(&b, NULL, 0);
        buf_putc(&b, '!');
        assert_int_equal(b.len, first + 11);
        assert_true(b.len < b.cap);
        assert_int_equal(b.data[b.len], 0);
        assert_memory_equal(b.data + first, "0123456789!", 11);
        for (size_t i = 0; i < first; i++)
            assert_int_equal(b.data[i], 'a' + i % 26);
        buf_free(&b);
    }
}

/* buf_uint and buf_int write printf's "%llu" / "%lld" bytes: edges of
 * every width and random values of every length. */
static void check_int(long long v)
{
    char want[32];
    buf_t b = BUF_INIT;
    snprintf(want, sizeof want, "%lld", v);
    buf_int(&b, v);
    assert_string_equal(b.data, want);
    buf_reset(&b);
    snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    buf_uint(&b, (unsigned long long)v);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_int_matches_printf(void **state)
{
    static const long long edge[] = {0,         1,          -1,         9,
                                     10,        99,         100,        -100,
                                     INT32_MAX, INT32_MIN,  UINT32_MAX, (long long)UINT32_MAX + 1,
                                     999999999, 1000000000, 1000000001, 999999999999999999LL,
                                     INT64_MAX, INT64_MIN,  -INT64_MAX, 4294967296000000000LL};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        check_int(edge[i]);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_int((long long)(x >> (x % 64)));
        check_int((long long)x);
    }
}

static void check_g6(double v)
{
    char want[64];
    snprintf(want, sizeof want, "%.6g", v);
    buf_t b = BUF_INIT;
    buf_puts(&b, "x");
    buf_g6(&b, v);
    if (strcmp(b.data + 1, want) != 0) fprintf(stderr, "%.17g: %s != %s\n", v, b.data + 1, want);
    assert_string_equal(b.data + 1, want);
    buf_free(&b);
}

/* buf_g6 writes printf's "%.6g" bytes: edges (zeros, powers of ten and
 * their neighbours, values rounding up into the next power, ties) and
 * 300,000 values over 1e-6 .. 1e7. */
static void test_g6_matches_printf(void **state)
{
    static const double edge[] = {
        0.0,       -0.0,       0.5,      1,         1.0 / 3, 2.0 / 3,   0.999999,     0.9999995,
        0.9999994, 0.99999951, 99999.95, 99999.949, 1e-4,    9.9999e-5, 0.0001234565, 123456.5,
        12345.65,  0.1,        0.3,      0.7,       0.85,    1.0000005, 2.5e-4,       -0.25};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        check_g6(edge[i]);
    check_g6(NAN);
    check_g6(INFINITY);
    for (int e = -6; e <= 7; e++) {
        double p = pow(10.0, e);
        check_g6(p);
        check_g6(nextafter(p, 0));
        check_g6(nextafter(p, 1e300));
        check_g6(-p);
    }
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double unit = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        double mag = pow(10.0, (double)(int)(x % 14) - 6);    /* 1e-6 .. 1e7 */
        check_g6((x & 1 ? -1 : 1) * unit * mag);
        /* six-digit values near a tie at the seventh */
        double t = ((double)(int64_t)(unit * 1e6) + 0.5) / 1e6;
        check_g6(t);
        check_g6(nextafter(t, 0));
        check_g6(nextafter(t, 1));
    }
}

/* Chunks given back by one arena serve the next arenas of the thread:
 * every block stays intact and distinct while several arenas share them. */
static void test_arena_chunks_reused_across_arenas(void **st)
{
    for (int round = 0; round < 4; round++) {
        arena_t a, b;
        arena_init(&a, 1024);
        arena_init(&b, 1024);
        char *pa[40], *pb[40];
        for (int i = 0; i < 40; i++) {
            pa[i] = arena_alloc(&a, 100);
            memset(pa[i], 'a' + i % 26, 100);
            pb[i] = arena_alloc(&b, 300 + (size_t)i);
            memset(pb[i], 'A' + i % 26, 300 + (size_t)i);
        }
        for (int i = 0; i < 40; i++) {
            for (int k = 0; k < 100; k++)
                assert_int_equal(pa[i][k], 'a' + i % 26);
            for (int k = 0; k < 300 + i; k++)
                assert_int_equal(pb[i][k], 'A' + i % 26);
        }
        arena_reset(&a);
        char *q = arena_alloc(&a, 2000); /* a dedicated chunk after a reset */
        memset(q, 'z', 2000);
        arena_deinit(&b);
        arena_deinit(&a);
    }
}

/* A buffer in a request's arena: grows (in place while it is the arena's
 * newest block, by copy once something else was allocated after it), keeps
 * its bytes, and buf_free / buf_steal leave the arena's memory alone (the
 * stolen bytes are a heap copy the caller frees). */
static void test_arena_buffer_grows_and_is_released_with_the_arena(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    buf_t b = BUF_ARENA(&a);
    buf_puts(&b, "abc");
    char *first = b.data;
    for (int i = 0; i < 20; i++) /* 63 bytes: still the first 64-byte block */
        buf_puts(&b, "xyz");
    assert_ptr_equal(b.data, first);
    buf_puts(&b, "0123456789"); /* grows to 128 in place: nothing after it */
    assert_ptr_equal(b.data, first);
    assert_int_equal(b.len, 73);
    char *other = arena_alloc(&a, 32);
    memset(other, '#', 32);
    for (int i = 0; i < 100; i++) /* grows past 1 KiB: copied, then past the chunk */
        buf_puts(&b, "0123456789");
    assert_int_equal(b.len, 1073);
    assert_memory_equal(b.data, "abcxyz", 6);
    assert_memory_equal(b.data + 1063, "0123456789", 10);
    assert_int_equal(b.data[b.len], 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(other[i], '#');
    buf_t c = BUF_ARENA(&a);
    buf_json_str(&c, "a\"b", 3);
    char *h = buf_steal(&c); /* a heap copy */
    assert_string_equal(h, "\"a\\\"b\"");
    assert_null(c.data);
    free(h);
    buf_free(&b); /* forgets; the arena owns the bytes */
    assert_null(b.data);
    assert_ptr_equal(b.arena, &a);
    buf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_matches_printf),
        cmocka_unit_test(test_g6_matches_printf),
        cmocka_unit_test(test_fixed_integer_path_edges),
        cmocka_unit_test(test_int_matches_printf),
        cmocka_unit_test(test_json_str_fast_copy_matches_reference),
        cmocka_unit_test(test_append_at_capacity_boundaries),
        cmocka_unit_test(test_printf_grows_past_capacity),
        cmocka_unit_test(test_json_str_escapes),
        cmocka_unit_test(test_json_cstr_writes_null_for_null),
        cmocka_unit_test(test_json_opt_writes_a_field_only_when_present),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_steal_hands_over),
        cmocka_unit_test(test_arena_alignment_big_and_reset),
        cmocka_unit_test(test_arena_chunks_reused_across_arenas),
        cmocka_unit_test(test_arena_buffer_grows_and_is_released_with_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
