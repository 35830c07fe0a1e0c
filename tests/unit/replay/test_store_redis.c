/* test_store_redis.c - the `redis` replay store against a real redis-server
 * the test starts on loopback: the shared store behaviour, two stores
 * (two replicas) seeing each other's records, the max_records trim, and an
 * outage: writes never fail or wait, records wait in the bounded buffer
 * (the overflow dropped and counted), and writing resumes when the server
 * is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FX_CONFORMANCE
#define FX_SHARED_STORE
#include "redis_server.h"
#include "replay/spool.h"
#include "replay_fixture.h"

typedef struct redis_replay_opts { /* the backend's options block (store_redis.c) */
    char *address, *password_env, *key_prefix;
    int64_t db, timeout_ms, buffer_records;
} redis_replay_opts_t;

static replay_store_t *open_redis(const char *prefix, int64_t max, int64_t buffer)
{
    static redis_replay_opts_t o[8];
    static int k;
    redis_replay_opts_t *x = &o[k++ % 8];
    *x = (redis_replay_opts_t){.address = tredis_srv.addr,
                               .key_prefix = (char *)prefix,
                               .timeout_ms = 200,
                               .buffer_records = buffer};
    return fx_open_shared("redis", x, max);
}

static void test_redis_store_behaviour(void **st)
{
    TREDIS_NEED();
    replay_store_t *s = open_redis("t1:", 0, 0);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "redis");
    fx_store_conformance(s);
    replay_store_close(s);
}

static void test_two_replicas_share_records(void **st)
{
    TREDIS_NEED();
    replay_store_t *a = open_redis("t2:", 0, 0), *b = open_redis("t2:", 0, 0);
    fx_two_replicas_write(a, b);
    /* each replica sees both turns of the session */
    assert_int_equal(fx_count(a, &(replay_filter_t){.session_id = "shared"}), 2);
    assert_int_equal(fx_count(b, &(replay_filter_t){.session_id = "shared"}), 2);
    assert_int_equal(fx_count(a, &(replay_filter_t){.reason = "hard_lock_tool_loop"}), 1);
    replay_store_close(a);
    replay_store_close(b);
}

static void test_max_records_trims_the_oldest(void **st)
{
    TREDIS_NEED();
    replay_store_t *s = open_redis("t3:", 3, 0);
    replay_record_t *recs[5];
    for (int i = 0; i < 5; i++)
        recs[i] = fx_record((uint64_t)(i + 1) * 1000, "s3", i + 1, "d", "m", "cold_start");
    assert_int_equal(fx_write(s, recs, 5), REPLAY_OK);
    fx_rows_t rows = {0};
    assert_int_equal(replay_store_scan(s, &(replay_filter_t){0}, fx_collect, &rows, NULL),
                     REPLAY_OK);
    assert_int_equal(rows.n, 3);
    assert_int_equal(rows.ms[0], 5000);
    assert_int_equal(rows.ms[2], 3000);
    /* the session index may still name trimmed ids: they are skipped */
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "s3"}), 3);
    redisContext *rc = tredis_connect(&tredis_srv);
    redisReply *r = redisCommand(rc, "ZCARD t3:time");
    assert_int_equal(r->integer, 3);
    freeReplyObject(r);
    redisFree(rc);
    replay_store_close(s);
}

static void test_outage_buffers_drops_and_resumes(void **st)
{
    TREDIS_NEED();
    replay_store_t *s = open_redis("t4:", 0, 5);
    fx_outage_first_write(s);
    tredis_kill(&tredis_srv);
    /* 8 records during the outage: write returns at once, 5 wait, 3 drop */
    replay_spool_stats_t ss;
    fx_outage_writes_buffer(s, &ss);
    assert_true(ss.errors >= 1);
    /* the server comes back (empty: no persistence): the buffer drains */
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    assert_true(replay_store_flush(s, 15000));
    replay_store_spool_stats(s, &ss);
    assert_false(ss.is_down);
    assert_int_equal(ss.pending, 0);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "o"}), 5);
    replay_store_close(s);
}

static void test_reads_fail_cleanly_while_down(void **st)
{
    TREDIS_NEED();
    replay_store_t *s = open_redis("t5:", 0, 0);
    tredis_kill(&tredis_srv);
    buf_t err = BUF_INIT;
    fx_rows_t rows = {0};
    assert_int_equal(replay_store_scan(s, &(replay_filter_t){0}, fx_collect, &rows, &err),
                     REPLAY_EIO);
    assert_non_null(strstr(err.data, "redis"));
    buf_free(&err);
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_store_behaviour),
        cmocka_unit_test(test_two_replicas_share_records),
        cmocka_unit_test(test_max_records_trims_the_oldest),
        cmocka_unit_test(test_outage_buffers_drops_and_resumes),
        cmocka_unit_test(test_reads_fail_cleanly_while_down),
    };
    return cmocka_run_group_tests(tests, tredis_group_setup, tredis_group_teardown);
}
