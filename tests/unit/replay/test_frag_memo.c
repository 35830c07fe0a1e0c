/* test_frag_memo.c - the writer's memory of checked fragments (frag_memo.h):
 * a record whose decision trace or candidates repeat those of an earlier
 * record skips both checks for them, and the answers stay those of the
 * checks: an invalid fragment is never remembered (the same broken text is
 * refused every time), a fragment the credential pre-check flags is never
 * remembered (the same secret is masked every time), and only byte-equal
 * text hits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay/frag_memo.h"
#include "replay_fixture.h"

static const char TRACE[] =
    "{\"outcome\":\"matched\",\"decision\":\"agentic\",\"trace\":[{\"name\":"
    "\"guarded\",\"matched\":false,\"label\":null,\"children\":[]}]}";

static int reset(void **st)
{
    (void)st;
    replay_frag_memo_reset();
    return 0;
}

static void test_a_validated_clean_fragment_is_remembered(void **st)
{
    (void)st;
    assert_false(replay_frag_memo_clean(TRACE, strlen(TRACE)));
    replay_record_t *r = fx_record(1000, "s1", 1, "agentic", "m-a", "cold_start");
    replay_record_set(&r->decision_trace_json, TRACE);
    assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
    assert_true(replay_frag_memo_clean(TRACE, strlen(TRACE)));
    /* byte-equal only: one byte changed, a prefix, another length */
    char other[sizeof TRACE];
    memcpy(other, TRACE, sizeof TRACE);
    other[20] = 'X';
    assert_false(replay_frag_memo_clean(other, strlen(other)));
    assert_false(replay_frag_memo_clean(TRACE, strlen(TRACE) - 1));
    /* redaction keeps it as it is */
    replay_redact_record(r, true);
    assert_string_equal(r->decision_trace_json, TRACE);
    replay_record_free(r);
}

static void test_invalid_json_is_never_remembered(void **st)
{
    (void)st;
    const char *bad = "{\"outcome\":\"matched\",\"trace\":[}";
    for (int i = 0; i < 3; i++) {
        replay_record_t *r = fx_record(1000 + (uint64_t)i, "s1", 1, "agentic", "m-a", "cold_start");
        replay_record_set(&r->decision_trace_json, bad);
        assert_int_equal(replay_record_validate(r, NULL), REPLAY_EINVAL);
        assert_false(replay_frag_memo_clean(bad, strlen(bad)));
        replay_record_free(r);
    }
}

static void test_a_fragment_with_a_secret_is_masked_every_time(void **st)
{
    (void)st;
    const char *leaky = "[{\"backend\":\"b\",\"error\":\"upstream said: Authorization: Bearer "
                        "abcdefghijklmnopqrstuvwxyz0123456789\"}]";
    for (int i = 0; i < 3; i++) {
        replay_record_t *r = fx_record(1000 + (uint64_t)i, "s1", 1, "agentic", "m-a", "cold_start");
        replay_record_set(&r->attempts_json, leaky);
        assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
        assert_false(replay_frag_memo_clean(leaky, strlen(leaky)));
        replay_redact_record(r, false);
        assert_null(strstr(r->attempts_json, "abcdefghijklmnopqrstuvwxyz0123456789"));
        replay_record_free(r);
    }
}

static void test_the_least_recently_used_is_replaced(void **st)
{
    (void)st;
    char texts[REPLAY_FRAG_MEMO_N + 1][64];
    for (int i = 0; i <= REPLAY_FRAG_MEMO_N; i++)
        snprintf(texts[i], sizeof texts[i], "{\"n\":%d}", i);
    for (int i = 0; i < REPLAY_FRAG_MEMO_N; i++)
        replay_frag_memo_learn(texts[i], strlen(texts[i]));
    assert_true(replay_frag_memo_clean(texts[0], strlen(texts[0]))); /* 0 used again */
    replay_frag_memo_learn(texts[REPLAY_FRAG_MEMO_N], strlen(texts[REPLAY_FRAG_MEMO_N]));
    assert_true(replay_frag_memo_clean(texts[0], strlen(texts[0])));
    assert_false(replay_frag_memo_clean(texts[1], strlen(texts[1]))); /* the oldest went */
    for (int i = 2; i <= REPLAY_FRAG_MEMO_N; i++)
        assert_true(replay_frag_memo_clean(texts[i], strlen(texts[i])));
    /* too long to keep: never remembered */
    char big[REPLAY_FRAG_MEMO_MAX + 16];
    memset(big, ' ', sizeof big);
    big[0] = '[';
    big[sizeof big - 2] = ']';
    big[sizeof big - 1] = 0;
    replay_frag_memo_learn(big, strlen(big));
    assert_false(replay_frag_memo_clean(big, strlen(big)));
}

typedef struct {
    size_t n, with_trace, leaked;
} seen_t;

static bool see(void *ctx, const replay_row_t *r)
{
    seen_t *c = ctx;
    c->n++;
    if (strstr(r->json, "\"trace\":[{\"name\":\"guarded\"")) c->with_trace++;
    if (strstr(r->json, "hunter2hunter2")) c->leaked++;
    return true;
}

static void test_records_through_the_queue_store_the_same(void **st)
{
    (void)st;
    /* the same fragments in many records: every stored record carries them
     * unchanged, the one with a secret masked each time */
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = 100;
    replay_store_t *s = replay_store_open(&c, NULL);
    assert_non_null(s);
    replay_queue_t *q = replay_queue_new(s, &c);
    for (int i = 0; i < 20; i++) {
        replay_record_t *r =
            fx_record(2000 + (uint64_t)i, "s1", i + 1, "agentic", "m-a", "stay_best_adjusted");
        replay_record_set(&r->decision_trace_json, TRACE);
        if (i % 2)
            replay_record_set(&r->warnings_json,
                              "[\"upstream said: Bearer hunter2hunter2hunter2\"]");
        assert_int_equal(replay_queue_push(q, r), REPLAY_OK);
    }
    assert_true(replay_queue_flush(q, 5000));
    seen_t seen = {0};
    replay_filter_t f = {.limit = 100};
    assert_int_equal(replay_store_scan(s, &f, see, &seen, NULL), REPLAY_OK);
    assert_int_equal(seen.n, 20);
    assert_int_equal(seen.with_trace, 20);
    assert_int_equal(seen.leaked, 0);
    replay_stats_t fin;
    replay_queue_free(q, 5000, &fin);
    assert_int_equal(fin.written, 20);
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_validated_clean_fragment_is_remembered, reset),
        cmocka_unit_test_setup(test_invalid_json_is_never_remembered, reset),
        cmocka_unit_test_setup(test_a_fragment_with_a_secret_is_masked_every_time, reset),
        cmocka_unit_test_setup(test_the_least_recently_used_is_replaced, reset),
        cmocka_unit_test_setup(test_records_through_the_queue_store_the_same, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
