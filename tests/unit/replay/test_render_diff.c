/* test_render_diff.c - the replay record's rendering (record.c) against the
 * rendering it replaced (render_ref.h), byte for byte: the whole record with
 * and without bodies, the cut rendering the SQLite store keeps (text and
 * offsets) and the bodies alone, on many generated records (strings with
 * and without bytes to escape, at every length around the 16-byte blocks,
 * UTF-8, NULL fields; numbers that are zero, -0, integers near the limits
 * of the fast path, fractions, tiny, huge, NaN, infinities; times on the
 * same day, across midnight, far in the past and future, past year 9999),
 * and the time format alone on times around day boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "render_ref.h"
#include "replay/record.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned pick(unsigned n)
{
    return (unsigned)(next() % n);
}

/* A string of random length (0-70, so every block split shows up): mostly
 * plain ASCII, now and then a byte to escape, UTF-8 or a high byte. */
static void rand_str(char *out, size_t cap)
{
    static const char *const odd[] = {"\"",       "\\",           "\n",   "\t",   "\x01", "\x1f",
                                      "\xc3\xa9", "\xe2\x82\xac", "\x7f", "\x80", "\xff", " ",
                                      "/"};
    size_t n = pick(71), k = 0;
    int escapes = pick(3) == 0; /* a third of the strings carry odd bytes */
    while (k < n && k + 4 < cap) {
        if (escapes && pick(12) == 0) {
            const char *o = odd[pick(sizeof odd / sizeof odd[0])];
            size_t l = strlen(o);
            memcpy(out + k, o, l);
            k += l;
        } else {
            out[k++] = (char)(' ' + 1 + pick(94));
            if (out[k - 1] == '"' || out[k - 1] == '\\') out[k - 1] = 'x';
        }
    }
    out[k] = 0;
}

static void maybe_str(replay_record_t *r, char **f)
{
    char s[128];
    if (pick(8) == 0) return; /* NULL: "null" */
    rand_str(s, sizeof s);
    replay_record_set(f, s);
}

static double rand_num(void)
{
    static const double special[] = {0.0,
                                     -0.0,
                                     1.0,
                                     -1.0,
                                     1e9,
                                     -1e9,
                                     1e9 + 1,
                                     999999999.5,
                                     1e12,
                                     1e12 - 1,
                                     1e-6,
                                     1e-7,
                                     0.5,
                                     2.5e-7,
                                     0.000226,
                                     4.271,
                                     1e300,
                                     -1e301,
                                     NAN,
                                     INFINITY,
                                     -INFINITY,
                                     123456789012.0,
                                     9007199254740993.0,
                                     4294967296.0,
                                     -2147483648.0,
                                     0.1 + 0.2};
    switch (pick(5)) {
    case 0: return special[pick(sizeof special / sizeof special[0])];
    case 1: return (double)(int64_t)(next() % 2000000001ull) - 1e9; /* integers of the fast path */
    case 2: return ((double)(next() % 100000000ull) - 5e7) / (double)(1 + pick(100000));
    case 3: return (double)(next() >> 11) * 0x1p-53 * pow(10, (int)pick(30) - 15);
    default: return (double)pick(1000) / 1000.0;
    }
}

static uint64_t rand_ms(void)
{
    static const uint64_t special[] = {0,
                                       999,
                                       86399999,
                                       86400000,
                                       951782400000ull /* 2000-02-29 */,
                                       1796612880686ull,
                                       253402300799999ull /* 9999-12-31 */,
                                       253402300800000ull /* 10000-01-01 */,
                                       UINT64_MAX,
                                       UINT64_MAX / 2};
    switch (pick(4)) {
    case 0: return special[pick(sizeof special / sizeof special[0])];
    case 1: return 1796612880686ull + pick(3) * 86400000ull + pick(2000); /* a few days */
    case 2: return 1796601600000ull - 3000 + pick(6000);                  /* around a midnight */
    default: return next() % 4102444800000ull;                            /* 1970-2100 */
    }
}

static const char *const FRAGS[] = {"{\"a\":1}", "[1,2,3]", "[]", "{}", "null", "\"x\"", ""};

static void maybe_frag(replay_record_t *r, char **f)
{
    if (pick(4) == 0) return;
    if (pick(3) == 0) {
        char s[128];
        rand_str(s, sizeof s);
        replay_record_set(f, s); /* rendered as is: the renderer does not look inside */
    } else {
        replay_record_set(f, FRAGS[pick(sizeof FRAGS / sizeof FRAGS[0])]);
    }
}

static replay_record_t *rand_record(void)
{
    replay_record_t *r = replay_record_new(rand_ms());
    char **strs[] = {&r->request_id,
                     &r->endpoint,
                     &r->client_protocol,
                     &r->upstream_protocol,
                     &r->tenant,
                     &r->recipe,
                     &r->decision,
                     &r->strategy,
                     &r->algorithm,
                     &r->model,
                     &r->session.id,
                     &r->session.identity_source,
                     &r->session.phase,
                     &r->session.previous_model,
                     &r->session.selected_model,
                     &r->session.mode,
                     &r->session.reason,
                     &r->session.hard_lock,
                     &r->backend,
                     &r->response_path,
                     &r->cost.currency};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        maybe_str(r, strs[i]);
    char **frags[] = {&r->client_key_json,      &r->decision_trace_json, &r->signals_json,
                      &r->signal_fetch_json,    &r->candidates_json,     &r->session.bindings_json,
                      &r->session.handoff_json, &r->attempts_json,       &r->plugins_json,
                      &r->warnings_json};
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++)
        maybe_frag(r, frags[i]);
    r->decision_confidence = rand_num();
    r->has_session = pick(4) != 0;
    r->session.identity_confidence = rand_num();
    r->session.turn = (int64_t)next();
    r->session.switched = pick(2);
    r->session.idle_for_s = pick(3) ? rand_num() : -1;
    r->session.idle_reset = pick(2);
    r->session.drift_reset = pick(2);
    r->session.decision_inherited = pick(2);
    r->session.current_not_in_candidates = pick(2);
    r->session.continuation_mass = rand_num();
    r->session.cache_warmth = rand_num();
    r->session.switch_count = pick(2) ? (int64_t)pick(100) : (int64_t)next();
    r->session.fallback = pick(2);
    r->status = (int)next();
    r->usage.prompt = (int64_t)next();
    r->usage.cached = pick(2) ? 0 : (int64_t)pick(100000);
    r->usage.completion = INT64_MIN + (int64_t)pick(2);
    r->cost.actual = rand_num();
    r->cost.baseline = rand_num();
    r->latency.routing_us = (int64_t)pick(100000);
    r->latency.ttft_ms = rand_num();
    r->latency.total_ms = rand_num();
    if (pick(3) == 0) {
        char s[128];
        rand_str(s, sizeof s);
        replay_record_set_body(r, 0, s, strlen(s), pick(2) ? 0 : 10);
        if (pick(2)) replay_record_set_body(r, 1, s, strlen(s) / 2, 0);
    }
    return r;
}

static void same(const buf_t *a, const buf_t *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
    assert_int_equal(a->data[a->len], 0);
}

static void test_records_render_as_before(void **st)
{
    (void)st;
    for (int i = 0; i < 20000; i++) {
        replay_record_t *r = rand_record();
        for (int bodies = 0; bodies < 2; bodies++) {
            buf_t a = BUF_INIT, b = BUF_INIT;
            buf_puts(&a, "prefix:"); /* appends after what the buffer holds */
            buf_puts(&b, "prefix:");
            replay_record_render(r, bodies, &a);
            ref_render_full(r, bodies, &b);
            same(&a, &b);
            buf_free(&a);
            buf_free(&b);
        }
        replay_render_cut_t c1 = {.trace = pick(2), .candidates = pick(2)}, c2 = c1;
        buf_t a = BUF_INIT, b = BUF_INIT;
        replay_record_render_cut(r, &c1, &a);
        ref_render_cut(r, &c2, &b);
        same(&a, &b);
        assert_int_equal(c1.trace, c2.trace);
        assert_int_equal(c1.candidates, c2.candidates);
        assert_int_equal(c1.trace_at, c2.trace_at);
        assert_int_equal(c1.candidates_at, c2.candidates_at);
        buf_reset(&a);
        buf_reset(&b);
        replay_record_render_bodies(r, &a);
        ref_render_bodies(r, &b);
        same(&a, &b);
        buf_free(&a);
        buf_free(&b);
        replay_record_free(r);
    }
}

/* The time alone: every second of two days around a midnight (in an order
 * that leaves and comes back to a day), then random times. */
static void test_times_format_as_before(void **st)
{
    (void)st;
    char a[32], b[32];
    uint64_t mid = 1796601600000ull; /* 2026-12-07T00:00:00Z */
    for (uint64_t s = 0; s < 2 * 86400; s++) {
        uint64_t ms = mid - 86400000ull + s * 1000 + s % 1000;
        replay_time_format(ms, a);
        ref_time_format(ms, b);
        assert_string_equal(a, b);
        uint64_t back = mid - 86400000ull + (2 * 86400 - 1 - s) * 1000; /* the other way */
        replay_time_format(back, a);
        ref_time_format(back, b);
        assert_string_equal(a, b);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t ms = i % 2 ? rand_ms() : next();
        replay_time_format(ms, a);
        ref_time_format(ms, b);
        assert_string_equal(a, b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_render_as_before),
        cmocka_unit_test(test_times_format_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
