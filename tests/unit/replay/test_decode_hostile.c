/* test_decode_hostile.c - replay decoding of what a store hands back that no
 * writer of ours produced (found by tests/fuzz/fuzz_replay): a stored
 * created_at_ms that is negative, huge or inf makes the line not a record
 * (it was converted with undefined behaviour); a turn out of range reads as
 * 0; aggregate and trajectory over a store with no matching rows answer
 * without handing qsort a NULL array (a UBSan report under SAN=1); rows a
 * Redis or Postgres store hands back with text that is not JSON (or JSON
 * with something after it) are left out of lists and not found by id,
 * instead of making the answer invalid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay_fixture.h"
#include <string.h>

static bool parses(const char *line)
{
    replay_row_parsed_t p;
    bool ok = replay_row_parse(line, strlen(line), &p);
    replay_row_parsed_free(&p);
    return ok;
}

static void test_out_of_range_time_is_not_a_record(void **st)
{
    (void)st;
    assert_true(parses("{\"id\":\"rr_1\",\"created_at_ms\":1700000000000}"));
    assert_false(parses("{\"id\":\"rr_1\",\"created_at_ms\":1e999}"));
    assert_false(parses("{\"id\":\"rr_1\",\"created_at_ms\":-1}"));
    assert_false(parses("{\"id\":\"rr_1\",\"created_at_ms\":1e300}"));
}

static void test_out_of_range_turn_reads_as_zero(void **st)
{
    (void)st;
    static const char line[] =
        "{\"id\":\"rr_1\",\"created_at_ms\":5,\"session\":{\"id\":\"s\",\"turn\":1e300}}";
    replay_row_parsed_t p;
    assert_true(replay_row_parse(line, strlen(line), &p));
    assert_int_equal(p.row.turn, 0);
    assert_string_equal(p.row.session_id, "s");
    replay_row_parsed_free(&p);
}

static void test_queries_over_no_rows(void **st)
{
    (void)st;
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    replay_query_t q;
    memset(&q, 0, sizeof q);
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_aggregate(s, &q, NULL, &out, NULL), REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "records")->valueint, 0);
    cJSON_Delete(j);
    buf_reset(&out);
    assert_int_equal(replay_query_trajectory(s, "nobody", false, &out, NULL), REPLAY_OK);
    j = cJSON_Parse(out.data);
    assert_non_null(j);
    cJSON_Delete(j);
    buf_free(&out);
    replay_store_close(s);
}

/* A store serving fixed rows, as Redis/Postgres hand them back. */
static const char *const RAW_JSON[] = {
    "{\"id\":\"rr_000000000000000000000003\",\"created_at_ms\":3}",
    "{\"id\":\"rr_000000000000000000000002\"}}",
    "\xbd not json",
};
static int raw_scan(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                    buf_t *err)
{
    (void)s;
    (void)err;
    static const char *const ids[] = {"rr_000000000000000000000003", "rr_000000000000000000000002",
                                      "rr_000000000000000000000001"};
    for (int i = 0; i < 3; i++) {
        replay_row_t r = {.id = ids[i],
                          .created_at_ms = (uint64_t)(3 - i),
                          .json = RAW_JSON[i],
                          .bodies_json = i == 0 ? "{\"request\":1}x" : NULL};
        if (f->id && strcmp(f->id, r.id)) continue;
        if (!cb(ctx, &r)) break;
    }
    return REPLAY_OK;
}

static void test_stored_text_that_is_not_json_is_left_out(void **st)
{
    (void)st;
    static const replay_store_ops_t ops = {.name = "raw", .scan = raw_scan};
    replay_store_t s = {.ops = &ops};
    replay_query_t q;
    memset(&q, 0, sizeof q);
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_list(&s, &q, &out, NULL), REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 1);
    cJSON_Delete(j);
    buf_reset(&out);
    /* the good row, its bad bodies left out */
    assert_int_equal(replay_query_get(&s, "rr_000000000000000000000003", true, &out, NULL),
                     REPLAY_OK);
    j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_null(cJSON_GetObjectItem(j, "bodies"));
    cJSON_Delete(j);
    buf_reset(&out);
    assert_int_equal(replay_query_get(&s, "rr_000000000000000000000002", false, &out, NULL),
                     REPLAY_ENOTFOUND);
    buf_free(&out);
}

/* A captured request whose "messages" is an object, or an array holding
 * non-objects (found by fuzz_trajectory): the trajectory's messages are
 * objects only, with and without content. */
static void test_trajectory_messages_are_objects(void **st)
{
    (void)st;
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    static const char *const bodies[] = {
        "{\"messages\":{\"role\":\"assistant\",\"content\":\"yo\",\"tool_calls\":[]}}",
        "{\"messages\":[\"user\",1,null,{\"role\":\"user\",\"content\":\"hi\"}]}",
    };
    for (int i = 0; i < 2; i++) {
        replay_record_t *r = replay_record_new(1000 + (uint64_t)i);
        r->has_session = true;
        replay_record_set(&r->session.id, "h");
        r->session.turn = i + 1;
        replay_record_set_body(r, 0, bodies[i], strlen(bodies[i]), 0);
        assert_int_equal(replay_store_write(s, &r, 1, NULL), REPLAY_OK);
        replay_record_free(r);
    }
    for (int with = 0; with < 2; with++) {
        buf_t out = BUF_INIT;
        assert_int_equal(replay_query_trajectory(s, "h", with, &out, NULL), REPLAY_OK);
        cJSON *j = cJSON_Parse(out.data);
        assert_non_null(j);
        const cJSON *msgs = cJSON_GetObjectItem(j, "messages"), *m;
        assert_true(cJSON_IsArray(msgs));
        int n = 0;
        cJSON_ArrayForEach(m, msgs)
        {
            assert_true(cJSON_IsObject(m));
            n++;
        }
        assert_int_equal(n, 1); /* the one real message of the second body */
        cJSON_Delete(j);
        buf_free(&out);
    }
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_range_time_is_not_a_record),
        cmocka_unit_test(test_out_of_range_turn_reads_as_zero),
        cmocka_unit_test(test_queries_over_no_rows),
        cmocka_unit_test(test_stored_text_that_is_not_json_is_left_out),
        cmocka_unit_test(test_trajectory_messages_are_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
