/* test_embed_format.c - the mock's embeddings replies write each float with
 * buf_g6 instead of printf's "%.6g" (mock_signals.c): the same bytes,
 * checked against snprintf on generated floats: random bit patterns (every
 * exponent, NaN, infinities, subnormals), log-uniform values over buf_g6's
 * own range, the neighbours of powers of ten and of rounding midpoints,
 * exact ties (few-bit fractions), and the mock's own embedding vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mock/mock_reply.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t checked;

static void check(float f)
{
    char want[64];
    snprintf(want, sizeof want, "%.6g", (double)f);
    buf_t b = BUF_INIT;
    buf_puts(&b, "x"); /* appends after what is there */
    buf_g6(&b, (double)f);
    if (strcmp(b.data + 1, want) != 0)
        fail_msg("%a: buf_g6 \"%s\", printf \"%s\"", (double)f, b.data + 1, want);
    assert_int_equal(b.data[0], 'x');
    buf_free(&b);
    checked++;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_g6_float_random_bits(void **st)
{
    (void)st;
    for (int i = 0; i < 300000; i++)
        check(from_bits((uint32_t)next()));
    check(0.0f);
    check(-0.0f);
    check(INFINITY);
    check(-INFINITY);
    check(NAN);
}

static void test_g6_float_log_uniform_range(void **st)
{
    (void)st;
    for (int i = 0; i < 1000000; i++) {
        double u = (double)(next() >> 11) / 9007199254740992.0; /* [0, 1) */
        float f = (float)pow(10.0, -5.0 + 11.0 * u);            /* 1e-5 .. 1e6 */
        check((next() & 1) ? -f : f);
    }
}

static void test_g6_float_neighbours_of_boundaries(void **st)
{
    (void)st;
    /* powers of ten and 1 - 5e-7 of them (where six digits round up) */
    for (int j = -6; j <= 6; j++) {
        float c[2] = {(float)pow(10.0, j), (float)(pow(10.0, j) * (1 - 5e-7))};
        for (int k = 0; k < 2; k++) {
            uint32_t u;
            memcpy(&u, &c[k], sizeof u);
            for (int d = -300; d <= 300; d++) {
                check(from_bits(u + (uint32_t)d));
                check(-from_bits(u + (uint32_t)d));
            }
        }
    }
    /* rounding midpoints (n + 0.5) * 10^(X-5) and the floats around them */
    for (int i = 0; i < 200000; i++) {
        int x = (int)(next() % 11) - 5;
        uint64_t n = 100000 + next() % 900000;
        float c = (float)(((double)n + 0.5) * pow(10.0, x - 5));
        uint32_t u;
        memcpy(&u, &c, sizeof u);
        for (int d = -2; d <= 2; d++)
            check(from_bits(u + (uint32_t)d));
    }
}

static void test_g6_float_exact_ties(void **st)
{
    (void)st;
    /* i / 2^j: values like 12345.25 or 0.5078125 whose seventh digit is an
     * exact 5 (round half to even) */
    for (int j = 0; j <= 24; j++)
        for (int i = 0; i < 20000; i++) {
            uint32_t v = (uint32_t)(next() % (1u << 24));
            check(ldexpf((float)v, -j));
        }
}

static void test_g6_float_mock_vectors(void **st)
{
    (void)st;
    float vec[256];
    char text[64];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(text, sizeof text, "Question %d-%llu: what is the capital?", i,
                         (unsigned long long)(next() % 100000));
        int dims = 1 + (int)(next() % 256);
        mock_embed(text, (size_t)n, 42, vec, dims);
        for (int k = 0; k < dims; k++)
            check(vec[k]);
    }
    assert_true(checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_g6_float_random_bits),
        cmocka_unit_test(test_g6_float_log_uniform_range),
        cmocka_unit_test(test_g6_float_neighbours_of_boundaries),
        cmocka_unit_test(test_g6_float_exact_ties),
        cmocka_unit_test(test_g6_float_mock_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
