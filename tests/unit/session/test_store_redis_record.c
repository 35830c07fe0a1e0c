/* test_store_redis_record.c - the Redis session store's record codec
 * (session/store_redis_record.c): a record round-trips; numbers a shared
 * Redis may hold that do not fit (1e300, negatives, 1e999 = inf, an unknown
 * lock kind) decode to clamped values without undefined behaviour and encode
 * back to JSON that decodes again (found by tests/fuzz/fuzz_redis_record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "session/store_redis_internal.h"
#include <cjson/cJSON.h>
#include <string.h>

static void test_record_round_trips(void **st)
{
    (void)st;
    sess_state_t s, t;
    memset(&s, 0, sizeof s);
    s.version = 7;
    s.turn_count = 3;
    s.cost = 0.25;
    s.lock_kind = SESS_LOCK_TOOL_LOOP;
    s.lock_episodes = 3;
    s.lock_episode_turn = 11;
    s.lock_episode_period = 4;
    s.lock_required_quality = 0.875;
    strcpy(s.last_model, "gpt-4o");
    strcpy(s.models[0].model, "gpt-4o");
    s.models[0].turns = 3;
    buf_t b = BUF_INIT;
    sess_redis_rec_to_json(&b, &s);
    assert_true(sess_redis_rec_from_json(b.data, b.len, &t));
    assert_int_equal(t.version, 7);
    assert_int_equal(t.turn_count, 3);
    assert_true(t.cost == 0.25);
    assert_int_equal(t.lock_kind, SESS_LOCK_TOOL_LOOP);
    assert_int_equal(t.lock_episodes, 3);
    assert_int_equal(t.lock_episode_turn, 11);
    assert_int_equal(t.lock_episode_period, 4);
    assert_true(t.lock_required_quality == 0.875);
    assert_string_equal(t.last_model, "gpt-4o");
    assert_int_equal(t.models[0].turns, 3);
    buf_free(&b);
}

static void test_out_of_range_numbers_are_clamped(void **st)
{
    (void)st;
    static const char rec[] = "{\"v\":1e300,\"ca\":-5,\"tc\":1e30,\"cost\":1e999,\"lk\":99,"
                              "\"m\":[{\"n\":\"x\",\"pt\":1e400,\"cost\":-1e999}]}";
    sess_state_t s, t;
    assert_true(sess_redis_rec_from_json(rec, strlen(rec), &s));
    assert_true(s.version == UINT64_MAX);
    assert_int_equal(s.created_at_ms, 0);
    assert_true(s.cost == 0);
    assert_int_equal(s.lock_kind, SESS_LOCK_NONE);
    assert_true(s.models[0].prompt_tokens == UINT64_MAX);
    assert_true(s.models[0].cost == 0);
    buf_t b = BUF_INIT, c = BUF_INIT;
    sess_redis_rec_to_json(&b, &s);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j); /* no "inf" in what goes back to Redis */
    cJSON_Delete(j);
    assert_true(sess_redis_rec_from_json(b.data, b.len, &t));
    sess_redis_rec_to_json(&c, &t);
    assert_int_equal(b.len, c.len);
    assert_memory_equal(b.data, c.data, b.len);
    buf_free(&b);
    buf_free(&c);
}

static void test_non_objects_are_refused(void **st)
{
    (void)st;
    sess_state_t s;
    assert_false(sess_redis_rec_from_json("[]", 2, &s));
    assert_false(sess_redis_rec_from_json("nul", 3, &s));
    assert_false(sess_redis_rec_from_json("", 0, &s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trips),
        cmocka_unit_test(test_out_of_range_numbers_are_clamped),
        cmocka_unit_test(test_non_objects_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
