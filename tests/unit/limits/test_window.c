/* test_window.c - the arithmetic of rate limits and budgets (limits/window.h):
 * fixed windows aligned to the epoch, UTC calendar periods (day, week from
 * Monday, month across year ends and leap Februaries), saturating sums,
 * money in nano-units and the x-ratelimit-reset-* / retry-after text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "limits/window.h"
#include <string.h>

static void test_fixed_window_is_aligned_to_the_epoch(void **st)
{
    assert_int_equal(lim_window_start(125500, 60000), 120000);
    assert_int_equal(lim_window_left_ms(125500, 60000), 54500);
    /* the first millisecond of a window belongs to it, with all of it left */
    assert_int_equal(lim_window_start(180000, 60000), 180000);
    assert_int_equal(lim_window_left_ms(180000, 60000), 60000);
    /* the last one: 1 ms left */
    assert_int_equal(lim_window_left_ms(179999, 60000), 1);
    /* a day window starts at UTC midnight (86400 s divides the epoch) */
    uint64_t t = 1796598593000ull; /* 2026-12-06T23:09:53Z */
    assert_int_equal(lim_window_start(t, 86400000) % 86400000, 0);
    assert_int_equal(lim_window_start(t, 86400000), 1796515200000ull);
}

static void test_calendar_periods_in_utc(void **st)
{
    uint64_t s, e;
    uint64_t t = 1796598593000ull; /* Sunday 2026-12-06T23:09:53Z */
    lim_period_bounds(t, CFG_PERIOD_DAY, &s, &e);
    assert_int_equal(s, 1796515200000ull); /* 2026-12-06T00:00Z */
    assert_int_equal(e - s, 86400000);
    lim_period_bounds(t, CFG_PERIOD_WEEK, &s, &e);
    assert_int_equal(s, 1795996800000ull); /* Monday 2026-11-30T00:00Z */
    assert_int_equal(e - s, 7 * 86400000ull);
    lim_period_bounds(t, CFG_PERIOD_MONTH, &s, &e);
    assert_int_equal(s, 1795996800000ull + 86400000ull); /* 2026-12-01T00:00Z */
    assert_int_equal(e, 1798761600000ull);               /* 2027-01-01T00:00Z */
    /* a leap February has 29 days */
    lim_period_bounds(1709251199000ull, CFG_PERIOD_MONTH, &s, &e); /* 2024-02-29T23:59:59Z */
    assert_int_equal(s, 1706745600000ull);                         /* 2024-02-01 */
    assert_int_equal(e, 1709251200000ull);                         /* 2024-03-01 */
    /* a Monday is the first day of its own week */
    lim_period_bounds(1795996800000ull, CFG_PERIOD_WEEK, &s, &e);
    assert_int_equal(s, 1795996800000ull);
}

static void test_sums_saturate_instead_of_wrapping(void **st)
{
    assert_int_equal(lim_add_sat(5, 7), 12);
    assert_true(lim_add_sat(INT64_MAX - 1, 10) == INT64_MAX);
    assert_int_equal(lim_add_sat(3, -10), 0); /* never below zero */
}

static void test_money_in_nano_units(void **st)
{
    assert_int_equal(lim_money_to_nano(0.066), 66000000);
    assert_int_equal(lim_money_to_nano(-1), 0);
    assert_int_equal(lim_money_to_nano(0.0 / 0.0), 0);             /* NaN */
    assert_true(lim_money_to_nano(1e30) == 9200000000000000000ll); /* clamped, no overflow */
    assert_true(lim_nano_to_money(1500000000) == 1.5);
}

static void test_reset_text_and_retry_after(void **st)
{
    char b[32];
    lim_fmt_reset(250, b, sizeof b);
    assert_string_equal(b, "250ms");
    lim_fmt_reset(7000, b, sizeof b);
    assert_string_equal(b, "7s");
    lim_fmt_reset(6001, b, sizeof b); /* rounded up: never earlier than the reset */
    assert_string_equal(b, "7s");
    lim_fmt_reset(60000, b, sizeof b);
    assert_string_equal(b, "1m0s");
    lim_fmt_reset(3007000, b, sizeof b);
    assert_string_equal(b, "50m7s");
    lim_fmt_reset(7384000, b, sizeof b);
    assert_string_equal(b, "2h3m4s");
    assert_int_equal(lim_retry_after_s(1), 1);
    assert_int_equal(lim_retry_after_s(0), 1);
    assert_int_equal(lim_retry_after_s(54500), 55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_window_is_aligned_to_the_epoch),
        cmocka_unit_test(test_calendar_periods_in_utc),
        cmocka_unit_test(test_sums_saturate_instead_of_wrapping),
        cmocka_unit_test(test_money_in_nano_units),
        cmocka_unit_test(test_reset_text_and_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
