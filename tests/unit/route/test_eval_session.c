/* test_eval_session.c - the seeded session of an eval request
 * (route_eval_session_parse): idle_seconds sets when the last turn was,
 * and a value that cannot be a time since then (negative, NaN-like, huge)
 * is refused with a message instead of wrapping the clock (fuzz_mgmt found
 * idle_seconds: -10 cast to uint64_t). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route/eval.h"

static int parse(const char *js, uint64_t now, sess_state_t *st, char *err, size_t el)
{
    memset(st, 0, sizeof *st);
    err[0] = 0;
    return route_eval_session_parse(js, strlen(js), now, st, err, el);
}

static void test_idle_seconds_sets_last_seen(void **state)
{
    (void)state;
    sess_state_t st;
    char err[256];
    assert_int_equal(
        parse("{\"model\":\"m\",\"turns\":3,\"idle_seconds\":20}", 100000, &st, err, sizeof err),
        0);
    assert_int_equal(st.last_seen_ms, 80000);
    assert_int_equal(st.turn_count, 3);
    assert_string_equal(st.last_model, "m");
    /* the default is 10 s */
    assert_int_equal(parse("{\"model\":\"m\"}", 100000, &st, err, sizeof err), 0);
    assert_int_equal(st.last_seen_ms, 90000);
    /* idle longer than the clock: the epoch, not a wrapped time */
    assert_int_equal(parse("{\"idle_seconds\":500}", 100000, &st, err, sizeof err), 0);
    assert_int_equal(st.last_seen_ms, 0);
}

static void test_bad_idle_seconds_refused(void **state)
{
    (void)state;
    sess_state_t st;
    char err[256];
    const char *bad[] = {"{\"idle_seconds\":-10}", "{\"idle_seconds\":-0.5}",
                         "{\"idle_seconds\":1e300}", "{\"idle_seconds\":-1e300}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(bad[i], 100000, &st, err, sizeof err), -1);
        assert_non_null(strstr(err, "idle_seconds"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_seconds_sets_last_seen),
        cmocka_unit_test(test_bad_idle_seconds_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
