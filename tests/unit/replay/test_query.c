/* test_query.c - replay queries as JSON: the list (filters, default and
 * maximum limit, next_cursor paging, malformed cursors), get with and
 * without bodies, the session timeline (oldest first whatever the write
 * order), and the parsing of `since` and of URL query strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay_fixture.h"

static replay_store_t *fill(size_t n)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = 5000;
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        replay_record_t *r = fx_record(1000 + i, i % 2 ? "odd" : "even", (int64_t)i, "d",
                                       i % 3 ? "m-a" : "m-b", "stay_best_adjusted");
        assert_int_equal(fx_write(s, &r, 1), REPLAY_OK);
    }
    return s;
}

static cJSON *list(replay_store_t *s, const replay_query_t *q)
{
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_list(s, q, &out, NULL), REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    buf_free(&out);
    assert_non_null(j);
    return j;
}

static void test_list_default_and_max_limit(void **st)
{
    replay_store_t *s = fill(1100);
    replay_query_t q = {0};
    cJSON *j = list(s, &q);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 50);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 50);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "next_cursor")));
    /* newest first */
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "records"), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(first, "created_at_ms")), 2099);
    cJSON_Delete(j);
    q.limit = 5000;
    j = list(s, &q);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 1000);
    cJSON_Delete(j);
    replay_store_close(s);
}

static void test_list_cursor_pages_to_the_end(void **st)
{
    replay_store_t *s = fill(23);
    replay_query_t q = {.session_id = "odd", .limit = 5};
    int total = 0, pages = 0;
    char cursor[128] = "";
    int64_t last_ms = INT64_MAX;
    for (;;) {
        q.cursor = *cursor ? cursor : NULL;
        cJSON *j = list(s, &q);
        cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "records"))
        {
            int64_t ms = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "created_at_ms"));
            assert_true(ms < last_ms);
            last_ms = ms;
            assert_string_equal(
                cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "session"), "id")),
                "odd");
            total++;
        }
        pages++;
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(j, "next_cursor"));
        if (!next) {
            cJSON_Delete(j);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        cJSON_Delete(j);
        assert_true(pages < 10);
    }
    assert_int_equal(total, 11);
    assert_int_equal(pages, 3);
    buf_t out = BUF_INIT, err = BUF_INIT;
    q.cursor = "garbage";
    assert_int_equal(replay_query_list(s, &q, &out, &err), REPLAY_EINVAL);
    assert_non_null(strstr(err.data, "cursor"));
    buf_free(&out);
    buf_free(&err);
    replay_store_close(s);
}

static void test_get_with_and_without_bodies(void **st)
{
    replay_store_t *s = fill(0);
    replay_record_t *r = fx_record(5, "s", 1, "d", "m", "cold_start");
    replay_record_set_body(r, 0, "{\"q\":1}", 7, 0);
    char id[REPLAY_ID_LEN + 1];
    memcpy(id, r->id, sizeof id);
    assert_int_equal(fx_write(s, &r, 1), REPLAY_OK);
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(replay_query_get(s, id, false, &out, &err), REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_null(cJSON_GetObjectItem(j, "bodies"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), id);
    cJSON_Delete(j);
    buf_reset(&out);
    assert_int_equal(replay_query_get(s, id, true, &out, &err), REPLAY_OK);
    j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bodies"), "request")),
        "{\"q\":1}");
    cJSON_Delete(j);
    assert_int_equal(replay_query_get(s, "rr_000000000000000000000000", true, &out, &err),
                     REPLAY_ENOTFOUND);
    assert_int_equal(replay_query_get(s, "../etc", true, &out, &err), REPLAY_ENOTFOUND);
    buf_free(&out);
    buf_free(&err);
    replay_store_close(s);
}

static void test_timeline_is_oldest_first_whatever_the_write_order(void **st)
{
    replay_store_t *s = fill(0);
    /* turns written out of order, another session interleaved */
    static const int order[] = {3, 1, 4, 2, 5};
    static const char *reasons[] = {
        "",          "cold_start", "stay_best_adjusted", "switch_allowed", "hard_lock_tool_loop",
        "idle_reset"};
    for (int i = 0; i < 5; i++) {
        int t = order[i];
        replay_record_t *r = fx_record((uint64_t)t * 60000, "agent-1", t, t < 3 ? "chat" : "coding",
                                       t < 3 ? "small" : "big", reasons[t]);
        r->session.switched = t == 3;
        replay_record_set(&r->session.phase, t == 4 ? "tool_loop" : "turn");
        assert_int_equal(fx_write(s, &r, 1), REPLAY_OK);
        replay_record_t *o = fx_record((uint64_t)t * 60000 + 1, "other", t, "x", "y", "cold_start");
        assert_int_equal(fx_write(s, &o, 1), REPLAY_OK);
    }
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_timeline(s, "agent-1", "{\"current_model\":\"big\"}", &out, NULL),
                     REPLAY_OK);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "session_id")), "agent-1");
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "memory"), "current_model")),
                        "big");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "turns")), 5);
    cJSON *tl = cJSON_GetObjectItem(j, "timeline");
    assert_int_equal(cJSON_GetArraySize(tl), 5);
    for (int i = 0; i < 5; i++) {
        cJSON *e = cJSON_GetArrayItem(tl, i);
        assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "turn")), i + 1);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason")), reasons[i + 1]);
        assert_true(cJSON_IsBool(cJSON_GetObjectItem(e, "switched")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "time")));
        assert_true(replay_id_valid(cJSON_GetStringValue(cJSON_GetObjectItem(e, "replay_id"))));
        assert_non_null(cJSON_GetObjectItem(e, "decision"));
        assert_non_null(cJSON_GetObjectItem(e, "model"));
        assert_non_null(cJSON_GetObjectItem(e, "phase"));
    }
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 2), "switched")));
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 0), "time")),
        "1970-01-01T00:01:00.000Z");
    cJSON_Delete(j);
    /* unknown session: an empty timeline, memory null */
    buf_reset(&out);
    assert_int_equal(replay_query_timeline(s, "nobody", NULL, &out, NULL), REPLAY_OK);
    j = cJSON_Parse(out.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "memory")));
    cJSON_Delete(j);
    buf_free(&out);
    replay_store_close(s);
}

static void test_parse_since(void **st)
{
    uint64_t v = 0, now = 1714564800000ull;
    assert_int_equal(replay_query_parse_since("1714564800", now, &v), REPLAY_OK);
    assert_true(v == 1714564800000ull);
    assert_int_equal(replay_query_parse_since("1714564800123", now, &v), REPLAY_OK);
    assert_true(v == 1714564800123ull);
    assert_int_equal(replay_query_parse_since("2024-05-01T12:00:00Z", now, &v), REPLAY_OK);
    assert_true(v == 1714564800000ull);
    assert_int_equal(replay_query_parse_since("2024-05-01T14:00:00.5+02:00", now, &v), REPLAY_OK);
    assert_true(v == 1714564800500ull);
    assert_int_equal(replay_query_parse_since("2024-05-01", now, &v), REPLAY_OK);
    assert_true(v == 1714521600000ull);
    assert_int_equal(replay_query_parse_since("15m", now, &v), REPLAY_OK);
    assert_true(v == now - 900000);
    assert_int_equal(replay_query_parse_since("7d", now, &v), REPLAY_OK);
    assert_true(v == now - 7 * 86400000ull);
    assert_int_equal(replay_query_parse_since("yesterday", now, &v), REPLAY_EINVAL);
    assert_int_equal(replay_query_parse_since("2024-13-01", now, &v), REPLAY_EINVAL);
    assert_int_equal(replay_query_parse_since("2024-05-01T12:00", now, &v), REPLAY_EINVAL);
    assert_int_equal(replay_query_parse_since("", now, &v), REPLAY_EINVAL);
}

static void test_query_string(void **st)
{
    arena_t a;
    arena_init(&a, 1024);
    replay_query_t q;
    buf_t err = BUF_INIT;
    const char *qs = "session_id=a%2Fb+c&decision=coding&model=m-a&reason=idle_reset&since=1h"
                     "&limit=20&unknown=1";
    assert_int_equal(replay_query_from_params(qs, strlen(qs), 7200000, &a, &q, &err), REPLAY_OK);
    assert_string_equal(q.session_id, "a/b c");
    assert_string_equal(q.decision, "coding");
    assert_string_equal(q.model, "m-a");
    assert_string_equal(q.reason, "idle_reset");
    assert_true(q.since_ms == 3600000);
    assert_int_equal(q.limit, 20);
    const char *bad[] = {"reason=sticky", "limit=0", "limit=ten", "since=soon", "cursor=x"};
    for (size_t i = 0; i < 5; i++) {
        buf_reset(&err);
        assert_int_equal(replay_query_from_params(bad[i], strlen(bad[i]), 0, &a, &q, &err),
                         REPLAY_EINVAL);
        assert_true(err.len > 0);
    }
    buf_free(&err);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_default_and_max_limit),
        cmocka_unit_test(test_list_cursor_pages_to_the_end),
        cmocka_unit_test(test_get_with_and_without_bodies),
        cmocka_unit_test(test_timeline_is_oldest_first_whatever_the_write_order),
        cmocka_unit_test(test_parse_since),
        cmocka_unit_test(test_query_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
