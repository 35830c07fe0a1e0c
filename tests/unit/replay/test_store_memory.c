/* test_store_memory.c - the in-process ring buffer store: the shared store
 * behaviour, overwrite of the oldest written record when full, the TTL
 * sweep, and refusal to open read-only (nothing to read offline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FX_CONFORMANCE
#include "replay_fixture.h"

static replay_store_t *open_mem(int64_t cap, int64_t ttl)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = cap;
    c.ttl_seconds = ttl;
    return replay_store_open(&c, NULL);
}

static void test_memory_store_behaviour(void **st)
{
    replay_store_t *s = open_mem(100, 0);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "memory");
    fx_store_conformance(s);
    replay_store_close(s);
}

static void test_ring_overwrites_the_oldest_written(void **st)
{
    replay_store_t *s = open_mem(3, 0);
    replay_record_t *recs[5];
    char ids[5][REPLAY_ID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        recs[i] = fx_record((uint64_t)(i + 1) * 1000, "s", i + 1, "d", "m", "cold_start");
        memcpy(ids[i], recs[i]->id, sizeof ids[i]);
    }
    assert_int_equal(fx_write(s, recs, 2), REPLAY_OK);
    assert_int_equal(fx_write(s, recs + 2, 3), REPLAY_OK);
    replay_filter_t all = {0};
    fx_rows_t rows = {0};
    replay_store_scan(s, &all, fx_collect, &rows, NULL);
    assert_int_equal(rows.n, 3);
    assert_string_equal(rows.ids[0], ids[4]);
    assert_string_equal(rows.ids[2], ids[2]);
    assert_int_equal(fx_count(s, &(replay_filter_t){.id = ids[0]}), 0);
    replay_store_close(s);
}

static void test_ttl_sweep(void **st)
{
    replay_store_t *s = open_mem(10, 10);
    replay_record_t *recs[3] = {fx_record(1000, "s", 1, "d", "m", "cold_start"),
                                fx_record(15000, "s", 2, "d", "m", "cold_start"),
                                fx_record(20000, "s", 3, "d", "m", "cold_start")};
    assert_int_equal(fx_write(s, recs, 3), REPLAY_OK);
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 26000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 2);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 1);
    replay_store_close(s);
}

static void test_read_only_is_refused_with_a_pointer_to_the_api(void **st)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.read_only = true;
    buf_t err = BUF_INIT;
    assert_null(replay_store_open(&c, &err));
    assert_non_null(strstr(err.data, "/v1/router_replay"));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_store_behaviour),
        cmocka_unit_test(test_ring_overwrites_the_oldest_written),
        cmocka_unit_test(test_ttl_sweep),
        cmocka_unit_test(test_read_only_is_refused_with_a_pointer_to_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
