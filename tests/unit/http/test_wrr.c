/* test_wrr.c - smooth weighted round robin: proportions, spreading, drain,
 * exclusion for retries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/wrr.h"

static void test_wrr_picks_in_proportion_to_weight(void **state)
{
    wrr_t w;
    int weights[] = {5, 1, 1};
    wrr_init(&w, weights, 3);
    int count[3] = {0};
    for (int i = 0; i < 700; i++)
        count[wrr_next(&w, 0)]++;
    assert_int_equal(count[0], 500);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
}

static void test_wrr_spreads_picks_smoothly(void **state)
{
    /* nginx's example: weights 5,1,1 give a a b a c a a, never five a in a row */
    wrr_t w;
    int weights[] = {5, 1, 1};
    wrr_init(&w, weights, 3);
    int seq[7];
    for (int i = 0; i < 7; i++)
        seq[i] = wrr_next(&w, 0);
    int expect[7] = {0, 0, 1, 0, 2, 0, 0};
    for (int i = 0; i < 7; i++)
        assert_int_equal(seq[i], expect[i]);
}

static void test_wrr_weight_zero_drains(void **state)
{
    wrr_t w;
    int weights[] = {0, 2};
    wrr_init(&w, weights, 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(wrr_next(&w, 0), 1);
    int none[] = {0, 0};
    wrr_init(&w, none, 2);
    assert_int_equal(wrr_next(&w, 0), -1);
}

static void test_wrr_exclude_skips_tried_backends(void **state)
{
    wrr_t w;
    int weights[] = {1, 1, 1};
    wrr_init(&w, weights, 3);
    int first = wrr_next(&w, 0);
    uint64_t tried = 1ull << first;
    int second = wrr_next(&w, tried);
    assert_true(second >= 0 && second != first);
    tried |= 1ull << second;
    int third = wrr_next(&w, tried);
    assert_true(third >= 0 && third != first && third != second);
    tried |= 1ull << third;
    assert_int_equal(wrr_next(&w, tried), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrr_picks_in_proportion_to_weight),
        cmocka_unit_test(test_wrr_spreads_picks_smoothly),
        cmocka_unit_test(test_wrr_weight_zero_drains),
        cmocka_unit_test(test_wrr_exclude_skips_tried_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
