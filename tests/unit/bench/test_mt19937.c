/* test_mt19937.c - the generator matches CPython's random.Random bit for bit
 * (check values from BENCH_SAAR.md and from CPython 3). */
#include "bench/mt19937.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_first_words_match_spec(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 20260530u);
    assert_int_equal(mt19937_u32(&g), 879404161u);
    assert_int_equal(mt19937_u32(&g), 2609816302u);
    assert_int_equal(mt19937_u32(&g), 2914510522u);
}

static void test_spec_draw_sequence(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 20260530u);
    assert_int_equal(mt19937_randint(&g, 512, 2048), 931);
    static const int opts[3] = {0, 9, 19};
    assert_int_equal(opts[mt19937_choice(&g, 3)], 19);
    double u = mt19937_uniform(&g, -0.09, 0.09);
    assert_true(u == 0.03214572419735898); /* bit-exact, not approximately */
}

static void test_random_and_large_below(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 1);
    assert_true(mt19937_random(&g) == 0.13436424411240122);
    assert_int_equal(mt19937_randint(&g, 0, 1000000000), 909925047);
    assert_int_equal(mt19937_bits(&g, 7), 102);
    assert_int_equal(mt19937_below(&g, 1000), 782);
}

static void test_seed_edges(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 0);
    assert_int_equal(mt19937_u32(&g), 3626764237u);
    assert_int_equal(mt19937_u32(&g), 1654615998u);
    mt19937_seed(&g, 4294967295u);
    assert_int_equal(mt19937_u32(&g), 2728839433u);
    /* random.Random(2**32 + 5) seeds with the two-word key [5, 1] */
    const uint32_t key[2] = {5, 1};
    mt19937_init_by_array(&g, key, 2);
    assert_int_equal(mt19937_u32(&g), 675479763u);
}

static void test_stream_across_twists(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 7);
    for (int i = 0; i < 1300; i++)
        mt19937_u32(&g);
    assert_int_equal(mt19937_u32(&g), 4175743836u);
}

static void test_below_stays_in_range(void **st)
{
    (void)st;
    mt19937_t g;
    mt19937_seed(&g, 42);
    int seen[5] = {0};
    for (int i = 0; i < 2000; i++) {
        uint32_t r = mt19937_below(&g, 5);
        assert_true(r < 5);
        seen[r]++;
    }
    for (int i = 0; i < 5; i++)
        assert_true(seen[i] > 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(mt19937_below(&g, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_words_match_spec), cmocka_unit_test(test_spec_draw_sequence),
        cmocka_unit_test(test_random_and_large_below), cmocka_unit_test(test_seed_edges),
        cmocka_unit_test(test_stream_across_twists),   cmocka_unit_test(test_below_stays_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
