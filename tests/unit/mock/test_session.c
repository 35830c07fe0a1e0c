/* test_session.c - the mock's simulated prefix cache: longest common prefix,
 * whole-token accounting, separation by model and session, LRU eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mock/mock_reply.h"
#include "mock/mock_session.h"

static uint64_t upd(mock_cache_t *c, const char *model, const char *sess, const char *text)
{
    return mock_cache_update(c, model, sess, strlen(sess), text, strlen(text));
}

static void test_lcp(void **state)
{
    assert_int_equal(mock_lcp("abc", 3, "abd", 3), 2);
    assert_int_equal(mock_lcp("", 0, "abd", 3), 0);
    assert_int_equal(mock_lcp("same text longer than eight", 27, "same text longer than eight", 27),
                     27);
    assert_int_equal(mock_lcp("0123456789abcdefX", 17, "0123456789abcdefY", 17), 16);
    assert_int_equal(mock_lcp("0123456789", 10, "0123456", 7), 7);
}

static void test_first_request_is_uncached_then_prefix_counts(void **state)
{
    mock_cache_t *c = mock_cache_new(16);
    const char *t1 = "user\nhello there, this is turn one\n";                /* 35 bytes */
    const char *t2 = "user\nhello there, this is turn one\nassistant\nok\n"; /* extends t1 */
    assert_int_equal(upd(c, "m", "s", t1), 0);
    /* the whole previous request is a prefix: floor(35/4) = 8 tokens */
    assert_int_equal(upd(c, "m", "s", t2), strlen(t1) / MOCK_TOKEN_BYTES);
    /* same again: everything cached (whole tokens only) */
    assert_int_equal(upd(c, "m", "s", t2), strlen(t2) / MOCK_TOKEN_BYTES);
    /* diverging at byte 5 -> 1 token */
    assert_int_equal(upd(c, "m", "s", "user\nXYZ"), 1);
    mock_cache_free(c);
}

static void test_sessions_and_models_are_separate(void **state)
{
    mock_cache_t *c = mock_cache_new(16);
    const char *t = "system\nyou are helpful\nuser\nquestion\n";
    assert_int_equal(upd(c, "a", "s1", t), 0);
    assert_int_equal(upd(c, "b", "s1", t), 0); /* other model: cold */
    assert_int_equal(upd(c, "a", "s2", t), 0); /* other session: cold */
    assert_int_equal(upd(c, "a", "s1", t), strlen(t) / 4);
    assert_int_equal(mock_cache_count(c), 3);
    /* model/session boundary is not ambiguous: ("ab","c") vs ("a","bc") */
    assert_int_equal(upd(c, "ab", "c", t), 0);
    assert_int_equal(upd(c, "a", "bc", t), 0);
    mock_cache_clear(c);
    assert_int_equal(mock_cache_count(c), 0);
    assert_int_equal(upd(c, "a", "s1", t), 0);
    mock_cache_free(c);
}

static void test_lru_eviction(void **state)
{
    mock_cache_t *c = mock_cache_new(2);
    const char *t = "user\nsome text here\n";
    upd(c, "m", "s1", t);
    upd(c, "m", "s2", t);
    assert_int_equal(upd(c, "m", "s1", t), strlen(t) / 4); /* s1 most recent now */
    upd(c, "m", "s3", t);                                  /* evicts s2 */
    assert_int_equal(mock_cache_count(c), 2);
    assert_int_equal(upd(c, "m", "s1", t), strlen(t) / 4);
    assert_int_equal(upd(c, "m", "s2", t), 0); /* was evicted (and now evicts s3) */
    assert_int_equal(upd(c, "m", "s3", t), 0);
    mock_cache_free(c);
}

static void test_many_sessions(void **state)
{
    mock_cache_t *c = mock_cache_new(1000);
    char sess[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(sess, sizeof sess, "s%d", i);
        upd(c, "m", sess, "user\nabcdefgh\n");
    }
    assert_int_equal(mock_cache_count(c), 1000);
    assert_int_equal(upd(c, "m", "s2999", "user\nabcdefgh\n"), 3);
    assert_int_equal(upd(c, "m", "s0", "user\nabcdefgh\n"), 0);
    mock_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lcp),
        cmocka_unit_test(test_first_request_is_uncached_then_prefix_counts),
        cmocka_unit_test(test_sessions_and_models_are_separate),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_many_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
