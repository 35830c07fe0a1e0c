/* test_breaker.c - the Redis layer's circuit breaker (kv/breaker.h),
 * driven with an explicit clock: consecutive failures open it, the open
 * interval is jittered within its bounds, exactly one probe is admitted
 * when it elapses, the probe's result alone closes or reopens the circuit,
 * and late results of calls admitted earlier change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kv/breaker.h"

static void test_consecutive_failures_open_the_circuit(void **st)
{
    kv_breaker_t b;
    kv_breaker_init(&b, 3, 1000, 0, 1);
    uint64_t t = 5000;
    assert_int_equal(kv_breaker_admit(&b, t), KV_BRK_ALLOW);
    assert_int_equal(kv_breaker_failure(&b, false, t), KV_BRK_SAME);
    assert_int_equal(kv_breaker_failure(&b, false, t), KV_BRK_SAME);
    /* a success in between resets the count */
    assert_int_equal(kv_breaker_success(&b, false, t), KV_BRK_SAME);
    assert_int_equal(kv_breaker_failure(&b, false, t), KV_BRK_SAME);
    assert_int_equal(kv_breaker_failure(&b, false, t), KV_BRK_SAME);
    assert_int_equal(b.state, KV_BRK_CLOSED);
    assert_int_equal(kv_breaker_failure(&b, false, t), KV_BRK_OPENED);
    assert_int_equal(b.state, KV_BRK_OPEN);
    assert_int_equal(b.open_until, t + 1000); /* no jitter configured */
    assert_int_equal(b.transitions, 1);
    assert_int_equal(kv_breaker_admit(&b, t + 999), KV_BRK_DENY);
}

static void test_one_probe_at_a_time_decides(void **st)
{
    kv_breaker_t b;
    kv_breaker_init(&b, 1, 1000, 0, 1);
    assert_int_equal(kv_breaker_failure(&b, false, 0), KV_BRK_OPENED);
    assert_int_equal(kv_breaker_admit(&b, 1000), KV_BRK_PROBE);
    assert_int_equal(b.state, KV_BRK_HALF_OPEN);
    /* while the probe is out, nothing else goes */
    for (int i = 0; i < 5; i++)
        assert_int_equal(kv_breaker_admit(&b, 1000 + (uint64_t)i * 5000), KV_BRK_DENY);
    /* late results of calls admitted before the circuit opened */
    assert_int_equal(kv_breaker_success(&b, false, 1001), KV_BRK_SAME);
    assert_int_equal(kv_breaker_failure(&b, false, 1001), KV_BRK_SAME);
    assert_int_equal(b.state, KV_BRK_HALF_OPEN);
    /* the probe fails: open again for a full interval */
    assert_int_equal(kv_breaker_failure(&b, true, 1002), KV_BRK_REOPENED);
    assert_int_equal(b.state, KV_BRK_OPEN);
    assert_int_equal(b.open_until, 2002);
    assert_int_equal(b.transitions, 1); /* reopening is not a new transition */
    assert_int_equal(kv_breaker_admit(&b, 2001), KV_BRK_DENY);
    assert_int_equal(kv_breaker_admit(&b, 2002), KV_BRK_PROBE);
    /* the probe succeeds: closed, everything goes */
    assert_int_equal(kv_breaker_success(&b, true, 2003), KV_BRK_CLOSED_NOW);
    assert_int_equal(b.state, KV_BRK_CLOSED);
    assert_int_equal(b.transitions, 2);
    assert_int_equal(kv_breaker_admit(&b, 2003), KV_BRK_ALLOW);
    assert_int_equal(kv_breaker_admit(&b, 2003), KV_BRK_ALLOW);
    /* a late probe-flagged result after closing changes nothing */
    assert_int_equal(kv_breaker_success(&b, true, 2004), KV_BRK_SAME);
}

static void test_abandoned_probe_lets_the_next_call_probe(void **st)
{
    kv_breaker_t b;
    kv_breaker_init(&b, 1, 100, 0, 1);
    kv_breaker_failure(&b, false, 0);
    assert_int_equal(kv_breaker_admit(&b, 100), KV_BRK_PROBE);
    kv_breaker_probe_abandoned(&b, 150);
    assert_int_equal(kv_breaker_admit(&b, 150), KV_BRK_PROBE);
}

static void test_open_interval_is_jittered_within_bounds(void **st)
{
    kv_breaker_t a, b;
    kv_breaker_init(&a, 1, 5000, 20, 11);
    kv_breaker_init(&b, 1, 5000, 20, 12);
    uint64_t t = 0, seen_lo = UINT64_MAX, seen_hi = 0;
    int differ = 0;
    kv_breaker_failure(&a, false, t);
    kv_breaker_failure(&b, false, t);
    for (int i = 0; i < 200; i++) {
        uint64_t da = a.open_until - t, db = b.open_until - t;
        assert_true(da >= 4000 && da <= 6000);
        assert_true(db >= 4000 && db <= 6000);
        if (da != db) differ++;
        if (da < seen_lo) seen_lo = da;
        if (da > seen_hi) seen_hi = da;
        t += 6000;
        assert_int_equal(kv_breaker_admit(&a, t), KV_BRK_PROBE);
        assert_int_equal(kv_breaker_admit(&b, t), KV_BRK_PROBE);
        assert_int_equal(kv_breaker_failure(&a, true, t), KV_BRK_REOPENED);
        assert_int_equal(kv_breaker_failure(&b, true, t), KV_BRK_REOPENED);
    }
    /* the intervals spread over the range; two seeds do not move in step */
    assert_true(seen_hi - seen_lo > 1000);
    assert_true(differ > 150);
}

static void test_defaults(void **st)
{
    kv_breaker_t b;
    kv_breaker_init(&b, 0, 0, 500, 0);
    assert_int_equal(b.failures_to_open, 3);
    assert_int_equal(b.open_ms, 5000);
    assert_int_equal(b.jitter_pct, 100);
    /* even at 100 % jitter the interval is at least 1 ms */
    for (int i = 0; i < 3; i++)
        kv_breaker_failure(&b, false, 10);
    assert_true(b.open_until >= 11 && b.open_until <= 10010);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures_open_the_circuit),
        cmocka_unit_test(test_one_probe_at_a_time_decides),
        cmocka_unit_test(test_abandoned_probe_lets_the_next_call_probe),
        cmocka_unit_test(test_open_interval_is_jittered_within_bounds),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
