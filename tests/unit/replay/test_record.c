/* test_record.c - the replay record: id shape, the reason enum checked on
 * write, validation of pre-rendered JSON parts, and rendering as one JSON
 * object with every SPEC 9.9 field group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay/redact.h"
#include "replay_fixture.h"

static cJSON *render(const replay_record_t *r, bool bodies)
{
    buf_t b = BUF_INIT;
    replay_record_render(r, bodies, &b);
    cJSON *j = cJSON_Parse(b.data);
    buf_free(&b);
    assert_non_null(j);
    return j;
}

static const cJSON *at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static void test_ids_have_the_rr_shape_and_differ(void **st)
{
    char a[REPLAY_ID_LEN + 1], b[REPLAY_ID_LEN + 1];
    replay_id_new(a);
    replay_id_new(b);
    assert_int_equal(strlen(a), 27);
    assert_memory_equal(a, "rr_", 3);
    assert_true(replay_id_valid(a));
    assert_string_not_equal(a, b);
    assert_false(replay_id_valid("rr_0123"));
    assert_false(replay_id_valid("rx_0123456789abcdef01234567"));
    assert_false(replay_id_valid("rr_0123456789ABCDEF01234567"));
    assert_true(replay_id_valid("rr_0123456789abcdef01234567"));
}

/* A record's id starts with its creation time: records made in time order
 * have ids in the same order (the id index grows at its right edge), and
 * records of the same millisecond still differ. */
static void test_record_ids_sort_by_creation_time(void **st)
{
    replay_record_t *r[64];
    uint64_t t0 = 1796612880686ull; /* 2026-12-07 */
    for (int i = 0; i < 64; i++)
        r[i] = replay_record_new(t0 + (uint64_t)(i / 2) * 7); /* two per ms */
    for (int i = 0; i < 64; i++) {
        assert_true(replay_id_valid(r[i]->id));
        if (i) {
            if (i % 2)
                assert_memory_equal(r[i]->id, r[i - 1]->id, 13); /* same ms, same prefix */
            else
                assert_true(strcmp(r[i - 1]->id, r[i]->id) < 0);
            assert_string_not_equal(r[i]->id, r[i - 1]->id);
        }
    }
    assert_memory_equal(r[0]->id, "rr_a24e78f92e", 13); /* t0 mod 2^40 in hex */
    for (int i = 0; i < 64; i++)
        replay_record_free(r[i]);
}

static void test_reason_enum_is_the_spec_list(void **st)
{
    static const char *spec[] = {"cold_start",
                                 "stay_best_adjusted",
                                 "switch_allowed",
                                 "hard_lock_tool_loop",
                                 "hard_lock_provider_state",
                                 "hard_lock_min_turns",
                                 "idle_reset",
                                 "drift_reset",
                                 "forced_handoff",
                                 "passthrough",
                                 "no_session"};
    assert_int_equal(replay_n_reasons, 11);
    for (size_t i = 0; i < 11; i++) {
        assert_string_equal(replay_reason_names[i], spec[i]);
        assert_true(replay_reason_valid(spec[i]));
    }
    assert_false(replay_reason_valid("hard_lock"));
    assert_false(replay_reason_valid("COLD_START"));
    assert_false(replay_reason_valid(""));
    assert_false(replay_reason_valid(NULL));
}

static void test_render_has_every_field_group(void **st)
{
    replay_record_t *r =
        fx_record(1714564800123ull, "s1", 3, "coding", "m-a", "stay_best_adjusted");
    r->session.switched = true;
    r->session.idle_for_s = 12.5;
    replay_record_set(&r->session.handoff_json, "{\"from\":\"m-b\",\"to\":\"m-a\"}");
    replay_record_set(&r->attempts_json, "[{\"backend\":\"b1\",\"status\":200}]");
    replay_record_set(&r->warnings_json, "[\"slow signal\"]");
    assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
    cJSON *j = render(r, false);
    assert_string_equal(cJSON_GetStringValue(at(j, "id", NULL)), r->id);
    assert_string_equal(cJSON_GetStringValue(at(j, "created_at", NULL)),
                        "2024-05-01T12:00:00.123Z");
    assert_string_equal(cJSON_GetStringValue(at(j, "endpoint", NULL)), "/v1/chat/completions");
    assert_string_equal(cJSON_GetStringValue(at(j, "tenant", NULL)), "team-a");
    assert_string_equal(cJSON_GetStringValue(at(j, "decision", NULL)), "coding");
    assert_true(cJSON_GetNumberValue(at(j, "decision_confidence", NULL)) == 0.75);
    assert_int_equal(cJSON_GetArraySize(at(j, "candidates", NULL)), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetArrayItem(at(j, "candidates", NULL), 1), "excluded_reason")),
                        "api_format");
    assert_true(cJSON_IsObject(at(j, "decision_trace", NULL)));
    assert_int_equal(cJSON_GetArraySize(at(j, "signals", NULL)), 1);
    /* session */
    assert_string_equal(cJSON_GetStringValue(at(j, "session", "reason")), "stay_best_adjusted");
    assert_int_equal((int)cJSON_GetNumberValue(at(j, "session", "turn")), 3);
    assert_true(cJSON_IsTrue(at(j, "session", "switched")));
    assert_true(cJSON_GetNumberValue(at(j, "session", "idle_for_s")) == 12.5);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(at(j, "session", "handoff"), "to")), "m-a");
    static const char *skeys[] = {"id",
                                  "identity_source",
                                  "identity_confidence",
                                  "turn",
                                  "phase",
                                  "previous_model",
                                  "selected_model",
                                  "switched",
                                  "reason",
                                  "hard_lock",
                                  "bindings",
                                  "idle_for_s",
                                  "idle_reset",
                                  "drift_reset",
                                  "decision_inherited",
                                  "current_not_in_candidates",
                                  "continuation_mass",
                                  "cache_warmth",
                                  "switch_count",
                                  "handoff",
                                  "fallback"};
    for (size_t i = 0; i < sizeof skeys / sizeof skeys[0]; i++)
        assert_non_null(at(j, "session", skeys[i]));
    /* outcome */
    assert_int_equal((int)cJSON_GetNumberValue(at(j, "status", NULL)), 200);
    assert_int_equal((int)cJSON_GetNumberValue(at(j, "usage", "cached")), 40);
    assert_string_equal(cJSON_GetStringValue(at(j, "cost", "currency")), "USD");
    assert_true(cJSON_GetNumberValue(at(j, "cost", "baseline")) == 0.002);
    assert_int_equal((int)cJSON_GetNumberValue(at(j, "latency", "routing_us")), 85);
    assert_true(cJSON_GetNumberValue(at(j, "latency", "ttft_ms")) == 120.5);
    assert_int_equal(cJSON_GetArraySize(at(j, "attempts", NULL)), 1);
    assert_int_equal(cJSON_GetArraySize(at(j, "plugins", NULL)), 0);
    assert_null(at(j, "bodies", NULL));
    cJSON_Delete(j);
    replay_record_free(r);
}

static void test_fast_response_has_null_session_and_defaults(void **st)
{
    replay_record_t *r = replay_record_new(1000);
    replay_record_set(&r->response_path, "fast_response");
    replay_record_set(&r->tenant, "quote\" and \\ and \n newline");
    r->decision_confidence = 0.0 / 0.0; /* NaN renders as null, not invalid JSON */
    assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
    cJSON *j = render(r, true);
    assert_true(cJSON_IsNull(at(j, "session", NULL)));
    assert_true(cJSON_IsNull(at(j, "decision", NULL)));
    assert_true(cJSON_IsNull(at(j, "decision_confidence", NULL)));
    assert_true(cJSON_IsArray(at(j, "signals", NULL)));
    assert_true(cJSON_IsArray(at(j, "candidates", NULL)));
    assert_string_equal(cJSON_GetStringValue(at(j, "tenant", NULL)),
                        "quote\" and \\ and \n newline");
    assert_null(at(j, "bodies", NULL)); /* nothing captured */
    cJSON_Delete(j);
    replay_record_free(r);
}

static void test_bodies_only_when_asked_and_capped(void **st)
{
    replay_record_t *r = fx_record(1000, "s", 1, "d", "m", "cold_start");
    const char body[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
    replay_record_set_body(r, 0, body, strlen(body), 16);
    replay_record_set_body(r, 1, "ok", 2, 0);
    assert_true(r->bodies_truncated);
    assert_int_equal(r->request_body_len, 16);
    cJSON *j = render(r, true);
    assert_string_equal(cJSON_GetStringValue(at(j, "bodies", "request")), "{\"messages\":[{\"r");
    assert_string_equal(cJSON_GetStringValue(at(j, "bodies", "response")), "ok");
    assert_true(cJSON_IsTrue(at(j, "bodies", "truncated")));
    cJSON_Delete(j);
    j = render(r, false);
    assert_null(at(j, "bodies", NULL));
    cJSON_Delete(j);
    replay_record_free(r);
}

static void test_validate_rejects_bad_reason_and_bad_json(void **st)
{
    buf_t err = BUF_INIT;
    replay_record_t *r = fx_record(1000, "s", 1, "d", "m", "sticky");
    assert_int_equal(replay_record_validate(r, &err), REPLAY_EINVAL);
    assert_non_null(strstr(err.data, "sticky"));
    replay_record_set(&r->session.reason, NULL);
    assert_int_equal(replay_record_validate(r, &err), REPLAY_EINVAL);
    replay_record_set(&r->session.reason, "switch_allowed");
    assert_int_equal(replay_record_validate(r, &err), REPLAY_OK);
    replay_record_set(&r->candidates_json, "[{\"model\":\"a\"},");
    assert_int_equal(replay_record_validate(r, &err), REPLAY_EINVAL);
    assert_non_null(strstr(err.data, "candidates"));
    replay_record_set(&r->candidates_json, "[] trailing");
    assert_int_equal(replay_record_validate(r, &err), REPLAY_EINVAL);
    replay_record_set(&r->candidates_json, "[]");
    memcpy(r->id, "xx", 2);
    assert_int_equal(replay_record_validate(r, &err), REPLAY_EINVAL);
    /* no session block: no reason needed */
    replay_record_t *f = replay_record_new(5);
    assert_int_equal(replay_record_validate(f, &err), REPLAY_OK);
    replay_record_free(f);
    replay_record_free(r);
    buf_free(&err);
}

/* replay_record_put keeps strings in the record's own pool until it is
 * full, then on the heap; replacing, clearing and redacting either kind and
 * freeing the record release exactly what was allocated (ASan checks). */
static void test_put_uses_the_pool_then_the_heap(void **st)
{
    replay_record_t *r = replay_record_new(1000);
    char big[REPLAY_RECORD_POOL / 3];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    replay_record_puts(r, &r->model, "m1");
    assert_string_equal(r->model, "m1");
    assert_true(r->model >= r->pool && r->model < r->pool + r->pool_cap);
    replay_record_puts(r, &r->signals_json, big);
    replay_record_puts(r, &r->candidates_json, big);
    replay_record_puts(r, &r->decision_trace_json, big); /* past the pool: heap */
    assert_false(r->decision_trace_json >= r->pool &&
                 r->decision_trace_json < r->pool + r->pool_cap);
    assert_string_equal(r->decision_trace_json, big);
    replay_record_puts(r, &r->decision_trace_json, "{\"api_key\":\"sk-abcdefghijklmnop\"}");
    replay_record_puts(r, &r->model, NULL);
    assert_null(r->model);
    replay_record_clear(r, &r->candidates_json);
    assert_null(r->candidates_json);
    replay_redact_record(r, true); /* replaces fragments: pool and heap alike */
    assert_null(strstr(r->decision_trace_json ? r->decision_trace_json : "", "sk-abcdef"));
    replay_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_uses_the_pool_then_the_heap),
        cmocka_unit_test(test_ids_have_the_rr_shape_and_differ),
        cmocka_unit_test(test_record_ids_sort_by_creation_time),
        cmocka_unit_test(test_reason_enum_is_the_spec_list),
        cmocka_unit_test(test_render_has_every_field_group),
        cmocka_unit_test(test_fast_response_has_null_session_and_defaults),
        cmocka_unit_test(test_bodies_only_when_asked_and_capped),
        cmocka_unit_test(test_validate_rejects_bad_reason_and_bad_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
