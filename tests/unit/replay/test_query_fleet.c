/* test_query_fleet.c - the fleet views of the replay API on any store: the
 * `until` bound of a time range, the timeline's per-turn detail (lock,
 * switch terms, usage, cost), the aggregate per decision and model (turns,
 * switches, locks and reasons, tokens, cost against the recorded or a
 * named baseline), and the trajectory rebuilt from OpenAI and Anthropic
 * bodies, redacted for callers without the detail role. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay_fixture.h"

static replay_store_t *mem(void)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    return s;
}

static void put(replay_store_t *s, replay_record_t *r)
{
    assert_int_equal(fx_write(s, &r, 1), REPLAY_OK);
}

static cJSON *parsed(buf_t *b)
{
    cJSON *j = cJSON_Parse(b->data);
    assert_non_null(j);
    buf_free(b);
    return j;
}

static double numat(const cJSON *o, const char *k)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

static void test_until_bounds_the_time_range(void **st)
{
    replay_store_t *s = mem();
    for (int i = 0; i < 5; i++)
        put(s, fx_record(1000 * (uint64_t)(i + 1), "u", i + 1, "d", "m", "stay_best_adjusted"));
    arena_t ar, *a = &ar;
    arena_init(a, 4096);
    replay_query_t q;
    assert_int_equal(replay_query_from_params("since=2&until=4", 15, 10000, a, &q, NULL), 0);
    assert_int_equal(q.since_ms, 2000);
    assert_int_equal(q.until_ms, 4000);
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_list(s, &q, &out, NULL), REPLAY_OK);
    cJSON *j = parsed(&out);
    assert_int_equal(numat(j, "count"), 3); /* 2000, 3000, 4000 */
    cJSON_Delete(j);
    /* paging inside the range keeps the bound */
    q.limit = 2;
    assert_int_equal(replay_query_list(s, &q, &out, NULL), REPLAY_OK);
    j = parsed(&out);
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(j, "next_cursor"));
    assert_non_null(cur);
    q.cursor = strdup(cur);
    cJSON_Delete(j);
    assert_int_equal(replay_query_list(s, &q, &out, NULL), REPLAY_OK);
    j = parsed(&out);
    assert_int_equal(numat(j, "count"), 1);
    cJSON_Delete(j);
    free((char *)q.cursor);
    buf_t err = BUF_INIT;
    assert_int_equal(replay_query_from_params("until=yesterday", 15, 10000, a, &q, &err),
                     REPLAY_EINVAL);
    assert_non_null(strstr(err.data, "until"));
    buf_free(&err);
    arena_deinit(a);
    replay_store_close(s);
}

static void test_timeline_shows_lock_terms_and_cost(void **st)
{
    replay_store_t *s = mem();
    put(s, fx_record(1000, "t", 1, "coding", "m-a", "cold_start"));
    replay_record_t *r = fx_record(2000, "t", 2, "coding", "m-a", "hard_lock_tool_loop");
    replay_record_set(&r->session.hard_lock, "tool_loop");
    r->session.continuation_mass = 0.7;
    r->session.switch_count = 3;
    put(s, r);
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_timeline(s, "t", NULL, &out, NULL), REPLAY_OK);
    cJSON *j = parsed(&out);
    cJSON *t2 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "timeline"), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t2, "lock")), "tool_loop");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t2, "reason")),
                        "hard_lock_tool_loop");
    cJSON *terms = cJSON_GetObjectItem(t2, "switch_terms");
    assert_true(numat(terms, "continuation_mass") > 0.69);
    assert_int_equal(numat(terms, "switch_count"), 3);
    /* the chosen model's candidate entry, with its terms */
    assert_true(numat(cJSON_GetObjectItem(terms, "candidate"), "final") > 0.89);
    cJSON *cost = cJSON_GetObjectItem(t2, "cost");
    assert_true(numat(cost, "actual") > 0.0011 && numat(cost, "baseline") > 0.0019);
    assert_int_equal(numat(cJSON_GetObjectItem(t2, "usage"), "prompt"), 100);
    cJSON_Delete(j);
    replay_store_close(s);
}

static const cJSON *find_group(const cJSON *arr, const char *k, const char *v)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, arr)
    {
        const char *x = cJSON_GetStringValue(cJSON_GetObjectItem(g, k));
        if (x && !strcmp(x, v)) return g;
    }
    fail_msg("no group %s=%s", k, v);
    return NULL;
}

static void test_aggregate_per_decision_and_model(void **st)
{
    replay_store_t *s = mem();
    put(s, fx_record(1000, "a", 1, "coding", "m-a", "cold_start"));
    replay_record_t *r = fx_record(2000, "a", 2, "coding", "m-b", "switch_allowed");
    r->session.switched = true;
    put(s, r);
    r = fx_record(3000, "a", 3, "coding", "m-b", "hard_lock_tool_loop");
    replay_record_set(&r->session.hard_lock, "tool_loop");
    put(s, r);
    put(s, fx_record(4000, "b", 1, "chat", "m-a", "cold_start"));
    replay_query_t q = {0};
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_aggregate(s, &q, NULL, &out, NULL), REPLAY_OK);
    cJSON *j = parsed(&out);
    assert_int_equal(numat(j, "records"), 4);
    const cJSON *tot = cJSON_GetObjectItem(j, "totals");
    assert_int_equal(numat(tot, "turns"), 4);
    assert_int_equal(numat(tot, "switches"), 1);
    assert_int_equal(numat(cJSON_GetObjectItem(tot, "tokens"), "prompt"), 400);
    assert_true(numat(tot, "savings") > 0.0031 && numat(tot, "savings") < 0.0033);
    const cJSON *coding = find_group(cJSON_GetObjectItem(j, "by_decision"), "decision", "coding");
    assert_int_equal(numat(coding, "turns"), 3);
    assert_int_equal(numat(cJSON_GetObjectItem(coding, "locks"), "tool_loop"), 1);
    assert_int_equal(numat(cJSON_GetObjectItem(coding, "reasons"), "switch_allowed"), 1);
    const cJSON *mb = find_group(cJSON_GetObjectItem(j, "by_model"), "model", "m-b");
    assert_int_equal(numat(mb, "turns"), 2);
    assert_int_equal(numat(mb, "switches"), 1);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "baseline"), "source")),
        "recorded");
    cJSON_Delete(j);
    /* against a named model: 100 prompt + 20 completion tokens per turn at
     * 10 / 30 per million = 0.0016 a turn */
    replay_baseline_t b = {.model = "big", .prompt_per_1m = 10, .completion_per_1m = 30};
    q.decision = "chat";
    assert_int_equal(replay_query_aggregate(s, &q, &b, &out, NULL), REPLAY_OK);
    j = parsed(&out);
    tot = cJSON_GetObjectItem(j, "totals");
    assert_int_equal(numat(tot, "turns"), 1);
    assert_true(numat(tot, "baseline_cost") > 0.00159 && numat(tot, "baseline_cost") < 0.00161);
    cJSON_Delete(j);
    replay_store_close(s);
}

static replay_record_t *with_bodies(uint64_t ms, int64_t turn, const char *req, const char *res)
{
    replay_record_t *r = fx_record(ms, "traj", turn, "coding", "m-a", "stay_best_adjusted");
    replay_record_set_body(r, 0, req, strlen(req), 0);
    replay_record_set_body(r, 1, res, strlen(res), 0);
    return r;
}

static void test_trajectory_rebuilds_the_conversation(void **st)
{
    replay_store_t *s = mem();
    /* turn 1, OpenAI chat; turn 2 (Anthropic Messages, another replica)
     * resends the history with a tool call and its result */
    put(s, with_bodies(1000, 1,
                       "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":\"list files\"}]}",
                       "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
                       "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"ls\",\"arguments\":\"{}\"}}]}}]}"));
    put(s, with_bodies(2000, 2,
                       "{\"system\":\"be brief\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"list files\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
                       "\"tool_use\",\"id\":\"c1\",\"name\":\"ls\",\"input\":{}}]},{\"role\":"
                       "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"c1\","
                       "\"content\":\"a.c b.c\"}]}]}",
                       "{\"content\":[{\"type\":\"text\",\"text\":\"two files\"}]}"));
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_trajectory(s, "traj", true, &out, NULL), REPLAY_OK);
    cJSON *j = parsed(&out);
    cJSON *m = cJSON_GetObjectItem(j, "messages");
    assert_int_equal(cJSON_GetArraySize(m), 5); /* system, user, assistant(call), tool, assistant */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 3), "role")),
                        "tool");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 3), "content")), "a.c b.c");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 4), "content")),
        "two files");
    cJSON *idx = cJSON_GetObjectItem(j, "turn_index");
    assert_int_equal(numat(cJSON_GetArrayItem(idx, 1), "first_message"), 3);
    assert_int_equal(numat(cJSON_GetArrayItem(idx, 1), "last_message"), 4);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "redacted")));
    cJSON_Delete(j);
    /* without the detail role: roles stay, content does not */
    assert_int_equal(replay_query_trajectory(s, "traj", false, &out, NULL), REPLAY_OK);
    assert_null(strstr(out.data, "a.c b.c"));
    assert_null(strstr(out.data, "list files"));
    j = parsed(&out);
    m = cJSON_GetObjectItem(j, "messages");
    assert_int_equal(cJSON_GetArraySize(m), 5);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")),
        "[redacted]");
    cJSON_Delete(j);
    buf_t err = BUF_INIT;
    assert_int_equal(replay_query_trajectory(s, "", true, &out, &err), REPLAY_EINVAL);
    buf_free(&err);
    buf_free(&out);
    replay_store_close(s);
}

/* found by fuzz_trajectory: text under any other member (here "Content")
 * must not pass the redaction either */
static void test_redacted_trajectory_keeps_only_known_members(void **st)
{
    replay_store_t *s = mem();
    put(s, with_bodies(1000, 1,
                       "{\"messages\":[{\"role\":\"user\",\"Content\":\"secret plan\","
                       "\"name\":\"alice-secret\"}]}",
                       "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"ok\","
                       "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"sh\",\"arguments\":\"rm secret\"}}]}}]}"));
    buf_t out = BUF_INIT;
    assert_int_equal(replay_query_trajectory(s, "traj", false, &out, NULL), REPLAY_OK);
    assert_null(strstr(out.data, "secret"));
    assert_non_null(strstr(out.data, "\"sh\"")); /* tool names and ids stay */
    assert_non_null(strstr(out.data, "\"c1\""));
    buf_free(&out);
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_until_bounds_the_time_range),
        cmocka_unit_test(test_timeline_shows_lock_terms_and_cost),
        cmocka_unit_test(test_aggregate_per_decision_and_model),
        cmocka_unit_test(test_trajectory_rebuilds_the_conversation),
        cmocka_unit_test(test_redacted_trajectory_keeps_only_known_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
