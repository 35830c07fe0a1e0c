/* test_num.c - json/num.h: JSON numbers to integers without undefined
 * behaviour (out of range and NaN give the default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json/num.h"
#include <math.h>

static void test_in_range_values_truncate_like_a_cast(void **st)
{
    (void)st;
    assert_int_equal(json_num_i64(42.9, -1), 42);
    assert_int_equal(json_num_i64(-7.5, 0), -7);
    assert_int_equal(json_num_u64(1e18, 0), 1000000000000000000ull);
    assert_int_equal(json_num_u32(4294967295.0, 1), 4294967295u);
    assert_int_equal(json_num_int(-2147483647.0, 0), -2147483647);
    assert_int_equal(json_num_int(3.0, 0), 3);
}

static void test_out_of_range_and_nan_give_the_default(void **st)
{
    (void)st;
    assert_int_equal(json_num_i64(8.88e63, -1), -1);
    assert_int_equal(json_num_i64(-1e300, -1), -1);
    assert_int_equal(json_num_i64(NAN, -1), -1);
    assert_int_equal(json_num_u64(-1.0, 5), 5);
    assert_int_equal(json_num_u64(2e19, 5), 5);
    assert_int_equal(json_num_u32(4294967296.0, 9), 9);
    assert_int_equal(json_num_u32(-0.5 - 1, 9), 9);
    assert_int_equal(json_num_int(3e9, 7), 7);
    assert_int_equal(json_num_int(INFINITY, 7), 7);
    assert_int_equal(json_num_int(-INFINITY, 7), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_range_values_truncate_like_a_cast),
        cmocka_unit_test(test_out_of_range_and_nan_give_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
