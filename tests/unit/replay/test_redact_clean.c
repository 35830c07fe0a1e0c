/* test_redact_clean.c - the writer's validation and redaction in one go
 * (replay_record_validate_clean, then replay_redact_record_clean skipping
 * the fragments validation found clean) against the two calls it replaced
 * (replay_record_validate, replay_redact_record), byte for byte: the same
 * verdict and the same redacted record, on many generated records whose
 * fragments repeat (the memory of checked fragments answers), differ only
 * in digits, hold credentials (secret member names, bearer tokens, key
 * prefixes, long tokens), are invalid JSON, or longer than the memory
 * keeps; with and without PII masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay/frag_memo.h"
#include "replay/redact.h"
#include "replay_fixture.h"

static uint64_t rng;

static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const PARTS[] = {
    "{\"name\":\"agentic\",\"score\":0.5}",
    "{\"api_key\":\"abcd1234\"}",
    "{\"note\":\"Bearer abcdefghijklmnop\"}",
    "{\"k\":\"sk-abcdefghijklmnopqrstuvwxyz012345\"}",
    "{\"t\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"password\":1}",
    "{\"family\":\"keyword\",\"latency_us\":1234}",
    "{\"family\":\"keyword\",\"latency_us\":9876}",
    "[1,2,{\"a\":null}]",
    "{\"broken\":",
    "\"Authorization: Bearer xyz123456789\"",
    "{\"e\":\"caf\\u00e9\"}",
};

/* A fragment of 0-6 parts joined in an array (or one part alone). */
static void frag(char *out, size_t cap, int seed)
{
    rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
    size_t k = 0;
    unsigned n = pick(7);
    if (n == 1) {
        snprintf(out, cap, "%s", PARTS[pick(sizeof PARTS / sizeof PARTS[0])]);
        return;
    }
    out[k++] = '[';
    for (unsigned i = 0; i < n; i++) {
        const char *p = PARTS[pick(sizeof PARTS / sizeof PARTS[0])];
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? "," : "", p);
    }
    snprintf(out + k, cap - k, "]");
}

/* Record i: its fragments from a few dozen seeds (so they repeat), now and
 * then one longer than the memory keeps. */
static replay_record_t *make(int i)
{
    replay_record_t *r =
        fx_record(1796612880686ull + (uint64_t)i, "s-1", 1, "d", "m", "cold_start");
    char **f[] = {&r->client_key_json,      &r->decision_trace_json, &r->signals_json,
                  &r->signal_fetch_json,    &r->candidates_json,     &r->session.bindings_json,
                  &r->session.handoff_json, &r->attempts_json,       &r->plugins_json,
                  &r->warnings_json};
    char buf[1024];
    for (size_t j = 0; j < sizeof f / sizeof f[0]; j++) {
        int seed = (int)((unsigned)(i * 7 + (int)j * 13) % 40);
        if (seed == 39) {
            replay_record_set(f[j], NULL);
            continue;
        }
        frag(buf, sizeof buf, seed);
        replay_record_set(f[j], buf);
    }
    if (i % 97 == 0) {
        size_t n = REPLAY_FRAG_MEMO_MAX + 100;
        char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        big[0] = '[';
        big[n - 1] = ']';
        big[n] = 0;
        replay_record_set(&r->signals_json, big);
        free(big);
    }
    if (i % 5 == 0) replay_record_set_body(r, 0, "Authorization: Bearer abcdefghij", 32, 0);
    return r;
}

static void test_validate_and_redact_in_one_go_as_before(void **st)
{
    (void)st;
    buf_t e1 = BUF_INIT, e2 = BUF_INIT;
    int clean_seen = 0;
    for (int i = 0; i < 6000; i++) {
        bool pii = i % 3 == 0;
        replay_record_t *a = make(i), *b = make(i);
        memcpy(b->id, a->id, sizeof b->id); /* ids are random: the rest is compared */
        int ra = replay_record_validate(a, &e1);
        if (ra == REPLAY_OK) replay_redact_record(a, pii);
        if (i % 2) replay_frag_memo_reset(); /* the memory empty or warm */
        unsigned clean = 0;
        int rb = replay_record_validate_clean(b, &e2, &clean);
        if (rb == REPLAY_OK) replay_redact_record_clean(b, pii, clean);
        assert_int_equal(ra, rb);
        if (ra != REPLAY_OK) {
            assert_string_equal(e1.data, e2.data);
            assert_int_equal(clean, 0);
        } else {
            clean_seen += clean != 0;
            buf_t x = BUF_INIT, y = BUF_INIT;
            replay_record_render(a, true, &x);
            replay_record_render(b, true, &y);
            assert_string_equal(x.data, y.data);
            buf_free(&x);
            buf_free(&y);
        }
        replay_record_free(a);
        replay_record_free(b);
    }
    assert_true(clean_seen > 100); /* the skip did happen */
    buf_free(&e1);
    buf_free(&e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_and_redact_in_one_go_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
