/* test_queue.c - the bounded replay queue: a full queue drops and counts
 * instead of waiting, invalid records are counted as errors, the writer
 * stores and redacts, flush drains, and shutdown writes what is queued or,
 * past its deadline, counts the rest as dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metrics/catalog.h"
#include "replay_fixture.h"

static replay_store_t *mem_store(size_t cap)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = (int64_t)cap;
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    return s;
}

static void test_full_queue_drops_and_counts(void **st)
{
    replay_store_t *s = mem_store(100);
    replay_config_t c;
    replay_config_defaults(&c);
    c.queue_size = 4;
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true); /* the writer holds still: the ring fills */
    int ok = 0, dropped = 0;
    for (int i = 0; i < 7; i++) {
        int rc = replay_queue_push(q, fx_record(1000 + i, "s", i + 1, "d", "m", "cold_start"));
        if (rc == REPLAY_OK)
            ok++;
        else if (rc == REPLAY_EDROPPED)
            dropped++;
    }
    assert_int_equal(ok, 4);
    assert_int_equal(dropped, 3);
    replay_stats_t x;
    replay_queue_stats(q, &x);
    assert_int_equal(x.dropped, 3);
    assert_int_equal(x.depth, 4);
    assert_int_equal(x.written, 0);
    replay_queue_pause(q, false);
    assert_true(replay_queue_flush(q, 10000));
    replay_queue_stats(q, &x);
    assert_int_equal(x.written, 4);
    assert_int_equal(x.depth, 0);
    assert_int_equal(x.errors, 0);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 4);
    /* room again after draining */
    assert_int_equal(replay_queue_push(q, fx_record(2000, "s", 9, "d", "m", "cold_start")),
                     REPLAY_OK);
    replay_queue_free(q, 10000, NULL);
    assert_int_equal(fx_count(s, &all), 5);
    replay_store_close(s);
}

static void test_invalid_records_count_as_errors(void **st)
{
    replay_store_t *s = mem_store(100);
    replay_queue_t *q = replay_queue_new_ex(s, NULL, 0);
    /* a reason outside the enum is refused at push */
    assert_int_equal(replay_queue_push(q, fx_record(1, "s", 1, "d", "m", "sticky")), REPLAY_EINVAL);
    /* broken pre-rendered JSON is refused by the writer */
    replay_record_t *r = fx_record(2, "s", 2, "d", "m", "switch_allowed");
    replay_record_set(&r->signals_json, "[{");
    assert_int_equal(replay_queue_push(q, r), REPLAY_OK);
    assert_int_equal(replay_queue_push(q, fx_record(3, "s", 3, "d", "m", "switch_allowed")),
                     REPLAY_OK);
    assert_true(replay_queue_flush(q, 10000));
    replay_stats_t x;
    replay_queue_stats(q, &x);
    assert_int_equal(x.errors, 2);
    assert_int_equal(x.written, 1);
    assert_int_equal(x.dropped, 0);
    replay_queue_free(q, 1000, NULL);
    replay_store_close(s);
}

static void test_writer_redacts_before_storing(void **st)
{
    replay_store_t *s = mem_store(10);
    replay_config_t c;
    replay_config_defaults(&c); /* redact on */
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_record_t *r = fx_record(10, "s", 1, "d", "m", "cold_start");
    const char *body = "{\"api_key\":\"hunter2\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"mail me at jane.doe@example.com\"}]}";
    replay_record_set_body(r, 0, body, strlen(body), 0);
    char id[REPLAY_ID_LEN + 1];
    memcpy(id, r->id, sizeof id);
    assert_int_equal(replay_queue_push(q, r), REPLAY_OK);
    replay_queue_free(q, 10000, NULL); /* flushes */
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_get(s, id, true, &out, NULL), REPLAY_OK);
    assert_null(strstr(out.data, "hunter2"));
    assert_null(strstr(out.data, "jane.doe@example.com"));
    assert_non_null(strstr(out.data, "[EMAIL_ADDRESS]"));
    assert_non_null(strstr(out.data, REPLAY_REDACTED));
    buf_free(&out);
    replay_store_close(s);
}

static void test_shutdown_past_deadline_counts_the_rest_as_dropped(void **st)
{
    replay_store_t *s = mem_store(100);
    replay_config_t c;
    replay_config_defaults(&c);
    c.queue_size = 50;
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    for (int i = 0; i < 10; i++)
        assert_int_equal(replay_queue_push(q, fx_record(i + 1, NULL, 0, "d", "m", NULL)),
                         REPLAY_OK);
    replay_stats_t x;
    replay_queue_stats(q, &x);
    assert_int_equal(x.depth, 10);
    /* deadline 0: the writer may not start another batch */
    replay_queue_free(q, 0, &x);
    assert_int_equal(x.dropped, 10);
    assert_int_equal(x.written, 0);
    assert_int_equal(x.depth, 0);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 0);
    replay_store_close(s);
}

static void test_shutdown_flushes_everything_queued(void **st)
{
    replay_store_t *s = mem_store(2000);
    replay_config_t c;
    replay_config_defaults(&c);
    c.queue_size = 1000;
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    for (int i = 0; i < 600; i++) /* more than one writer batch */
        assert_int_equal(
            replay_queue_push(q, fx_record(i + 1, "s", i, "d", "m", "stay_best_adjusted")),
            REPLAY_OK);
    replay_stats_t x;
    replay_queue_free(q, 60000, &x);
    assert_int_equal(x.written, 600);
    assert_int_equal(x.dropped, 0);
    size_t n = 0;
    replay_query_t qq = {.limit = 1000};
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_list(s, &qq, &out, NULL), REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(j, "records"));
    assert_int_equal(n, 600);
    cJSON_Delete(j);
    buf_free(&out);
    replay_store_close(s);
}

#include <pthread.h>
static void *pusher(void *arg)
{
    replay_queue_t *q = arg;
    for (int i = 0; i < 500; i++)
        replay_queue_push(q, fx_record(i + 1, "t", i, "d", "m", "cold_start"));
    return NULL;
}

static void test_pushes_from_many_threads_are_all_accounted(void **st)
{
    replay_store_t *s = mem_store(5000);
    replay_config_t c;
    replay_config_defaults(&c);
    c.queue_size = 64; /* small: some pushes meet a full ring */
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, pusher, q);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(replay_queue_flush(q, 30000));
    replay_stats_t x;
    replay_queue_stats(q, &x);
    assert_int_equal(x.written + x.dropped, 2000);
    assert_int_equal(x.errors, 0);
    replay_queue_free(q, 1000, NULL);
    replay_store_close(s);
}

/* The queue's outcomes reach tether_replay_writes_total{result}, which the
 * operations docs tell operators to alert on (drops under overload). */
static void test_outcomes_are_counted_in_the_replay_writes_metric(void **st)
{
    metrics_catalog_init("test");
    double w0 = met_value(tmet.replay_writes_total, "written");
    double d0 = met_value(tmet.replay_writes_total, "dropped");
    replay_store_t *s = mem_store(100);
    replay_config_t c;
    replay_config_defaults(&c);
    c.queue_size = 2;
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    for (int i = 0; i < 5; i++)
        replay_queue_push(q, fx_record(3000 + i, "m", i + 1, "d", "m", "cold_start"));
    replay_queue_pause(q, false);
    assert_true(replay_queue_flush(q, 10000));
    assert_true(met_value(tmet.replay_writes_total, "written") - w0 == 2);
    assert_true(met_value(tmet.replay_writes_total, "dropped") - d0 == 3);
    replay_queue_free(q, 10000, NULL);
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_queue_drops_and_counts),
        cmocka_unit_test(test_invalid_records_count_as_errors),
        cmocka_unit_test(test_writer_redacts_before_storing),
        cmocka_unit_test(test_shutdown_past_deadline_counts_the_rest_as_dropped),
        cmocka_unit_test(test_shutdown_flushes_everything_queued),
        cmocka_unit_test(test_pushes_from_many_threads_are_all_accounted),
        cmocka_unit_test(test_outcomes_are_counted_in_the_replay_writes_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
