/* test_frag_memo.c - the writer's memory of checked fragments (frag_memo.h):
 * a record whose decision trace or candidates repeat those of an earlier
 * record skips both checks for them, and the answers stay those of the
 * checks: an invalid fragment is never remembered (the same broken text is
 * refused every time), a fragment the credential pre-check flags is never
 * remembered (the same secret is masked every time), and only byte-equal
 * text hits, or text whose digits alone changed without making a number's
 * leading zero (checked against both reference checks on generated
 * fragments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "json/scan.h"
#include "replay/frag_check.h"
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

/* ---- digits swapped: generated fragments against the reference checks - */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A number as JSON writes them: 0, 7, 10, 100, -0, -42, 0.5, 3.25, 1e5,
 * 2.50E-07, ... (leading zeros where the grammar allows them). */
static void gen_number(buf_t *b)
{
    if (rnd(3) == 0) buf_putc(b, '-');
    if (rnd(4) == 0) {
        buf_putc(b, '0');
    } else {
        buf_putc(b, (char)('1' + rnd(9)));
        for (unsigned k = rnd(6); k; k--)
            buf_putc(b, (char)('0' + rnd(10)));
    }
    if (rnd(2)) {
        buf_putc(b, '.');
        for (unsigned k = 1 + rnd(5); k; k--)
            buf_putc(b, (char)('0' + rnd(10)));
    }
    if (rnd(5) == 0) {
        buf_putc(b, rnd(2) ? 'e' : 'E');
        if (rnd(2)) buf_putc(b, rnd(2) ? '+' : '-');
        for (unsigned k = 1 + rnd(3); k; k--)
            buf_putc(b, (char)('0' + rnd(10)));
    }
}

static void gen_string(buf_t *b)
{
    static const char chars[] = "abcxyz_-0123456789 :.";
    buf_putc(b, '"');
    for (unsigned k = rnd(12); k; k--)
        buf_putc(b, chars[rnd(sizeof chars - 1)]);
    buf_putc(b, '"');
}

static void gen_value(buf_t *b, int depth)
{
    unsigned kind = depth > 3 ? rnd(4) : rnd(6);
    switch (kind) {
    case 0:
    case 1: gen_number(b); break;
    case 2: gen_string(b); break;
    case 3: buf_puts(b, rnd(3) == 0 ? "null" : rnd(2) ? "true" : "false"); break;
    case 4:
        buf_putc(b, '[');
        for (unsigned k = rnd(5), i = 0; i < k; i++) {
            if (i) buf_putc(b, ',');
            gen_value(b, depth + 1);
        }
        buf_putc(b, ']');
        break;
    default:
        buf_putc(b, '{');
        for (unsigned k = rnd(5), i = 0; i < k; i++) {
            if (i) buf_putc(b, ',');
            gen_string(b);
            buf_putc(b, ':');
            gen_value(b, depth + 1);
        }
        buf_putc(b, '}');
    }
}

/* What record.c's validation says (the strict validator defers to these). */
static bool ref_valid(const char *s, size_t n)
{
    if (jscan_validate(s, n, NULL) == 0) return true;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n + 1, NULL, true);
    cJSON_Delete(j);
    return j != NULL;
}

static void test_digits_swapped_answer_what_the_checks_would(void **st)
{
    (void)st;
    buf_t base = BUF_INIT;
    size_t hits = 0, refused_invalid = 0, tries = 0;
    for (int f = 0; f < 3000; f++) {
        buf_reset(&base);
        buf_putc(&base, '[');
        for (unsigned k = 4 + rnd(12), i = 0; i < k; i++) {
            if (i) buf_putc(&base, ',');
            gen_value(&base, 1);
        }
        buf_putc(&base, ']');
        if (base.len < REPLAY_FRAG_MEMO_DIGITS_MIN || base.len > REPLAY_FRAG_MEMO_MAX ||
            !ref_valid(base.data, base.len))
            continue;
        replay_frag_memo_reset();
        replay_frag_memo_learn(base.data, base.len);
        bool remembered = replay_frag_memo_clean(base.data, base.len);
        assert_true(remembered == !replay_frag_may_hold_secret_bytes(base.data, base.len));
        if (!remembered) continue;
        char *v = malloc(base.len + 1);
        assert_non_null(v);
        for (int m = 0; m < 30; m++) {
            memcpy(v, base.data, base.len + 1);
            /* swap a few digits for digits; now and then something else */
            for (unsigned k = 1 + rnd(4); k; k--) {
                size_t p = rnd((unsigned)base.len);
                if (v[p] >= '0' && v[p] <= '9') v[p] = (char)('0' + rnd(10));
                if (rnd(40) == 0) v[p] = "a.-e\"x, "[rnd(8)];
            }
            tries++;
            bool ok = ref_valid(v, base.len) && !replay_frag_may_hold_secret_bytes(v, base.len);
            if (replay_frag_memo_clean(v, base.len)) {
                assert_true(ok); /* never a hit the checks would refuse */
                hits++;
            } else if (!ref_valid(v, base.len)) {
                refused_invalid++;
            }
        }
        free(v);
    }
    buf_free(&base);
    /* the fast answer is taken for most swaps, and the leading zeros and
     * other changes a swap can make are among the refused */
    assert_true(hits > tries / 2);
    assert_true(refused_invalid > 100);
}

static void test_a_signals_list_with_new_timings_is_remembered(void **st)
{
    (void)st;
    const char *a = "[{\"family\":\"keyword\",\"score\":0.0000,\"latency_us\":392422},"
                    "{\"family\":\"context\",\"value\":390.0000,\"latency_us\":976},"
                    "{\"family\":\"conversation\",\"matched\":true,\"latency_us\":15487}]";
    const char *b = "[{\"family\":\"keyword\",\"score\":1.0000,\"latency_us\":518807},"
                    "{\"family\":\"context\",\"value\":412.0000,\"latency_us\":801},"
                    "{\"family\":\"conversation\",\"matched\":true,\"latency_us\":20931}]";
    /* a leading zero: not JSON to the strict validator (cJSON, the last
     * reference, lets it through): refused, the checks run */
    const char *c = "[{\"family\":\"keyword\",\"score\":0.0000,\"latency_us\":092422},"
                    "{\"family\":\"context\",\"value\":390.0000,\"latency_us\":976},"
                    "{\"family\":\"conversation\",\"matched\":true,\"latency_us\":15487}]";
    assert_true(strlen(a) >= REPLAY_FRAG_MEMO_DIGITS_MIN);
    replay_frag_memo_learn(a, strlen(a));
    assert_true(replay_frag_memo_clean(b, strlen(b)));
    assert_false(replay_frag_memo_clean(c, strlen(c)));
    assert_false(replay_frag_json_ok(c, strlen(c)));
    /* a digit for a letter is another text */
    char d[256];
    snprintf(d, sizeof d, "%s", a);
    *strchr(d, '9') = 'x';
    assert_false(replay_frag_memo_clean(d, strlen(d)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_validated_clean_fragment_is_remembered, reset),
        cmocka_unit_test_setup(test_invalid_json_is_never_remembered, reset),
        cmocka_unit_test_setup(test_a_fragment_with_a_secret_is_masked_every_time, reset),
        cmocka_unit_test_setup(test_the_least_recently_used_is_replaced, reset),
        cmocka_unit_test_setup(test_records_through_the_queue_store_the_same, reset),
        cmocka_unit_test_setup(test_digits_swapped_answer_what_the_checks_would, reset),
        cmocka_unit_test_setup(test_a_signals_list_with_new_timings_is_remembered, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
