/* test_state_pack.c - the memory store's packed session record (issue 12):
 * every field survives packing, whatever its value (names past the
 * dictionary's capacity go inline, trace ids of any shape, zero and
 * non-zero doubles and hashes, out-of-order times), a typical record packs
 * into at most 256 bytes, and malformed input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "session/state_pack.h"
#include <stdio.h>
#include <string.h>

/* Every field of a and b, compared as the store's users read them. */
static void assert_same(const sess_state_t *a, const sess_state_t *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->created_at_ms, b->created_at_ms);
    assert_int_equal(a->last_seen_ms, b->last_seen_ms);
    assert_int_equal(a->last_started_at_ms, b->last_started_at_ms);
    assert_string_equal(a->last_model, b->last_model);
    assert_string_equal(a->last_backend, b->last_backend);
    assert_string_equal(a->last_decision, b->last_decision);
    assert_string_equal(a->last_reasoning, b->last_reasoning);
    assert_int_equal(a->turn_count, b->turn_count);
    assert_int_equal(a->switch_count, b->switch_count);
    assert_int_equal(a->prompt_tokens, b->prompt_tokens);
    assert_int_equal(a->cached_tokens, b->cached_tokens);
    assert_int_equal(a->completion_tokens, b->completion_tokens);
    assert_memory_equal(&a->cost, &b->cost, sizeof a->cost);
    for (int i = 0; i < SESS_MAX_MODELS; i++) {
        const sess_model_stats_t *x = &a->models[i], *y = &b->models[i];
        assert_string_equal(x->model, y->model);
        assert_int_equal(x->turns, y->turns);
        assert_int_equal(x->responses_with_usage, y->responses_with_usage);
        assert_int_equal(x->responses_with_cached, y->responses_with_cached);
        assert_int_equal(x->prompt_tokens, y->prompt_tokens);
        assert_int_equal(x->cached_tokens, y->cached_tokens);
        assert_int_equal(x->completion_tokens, y->completion_tokens);
        assert_int_equal(x->last_prompt_tokens, y->last_prompt_tokens);
        assert_memory_equal(&x->cost, &y->cost, sizeof x->cost);
    }
    assert_int_equal(a->lock_kind, b->lock_kind);
    assert_int_equal(a->lock_bindings, b->lock_bindings);
    assert_int_equal(a->lock_since_turn, b->lock_since_turn);
    assert_int_equal(a->opener, b->opener);
    assert_string_equal(a->last_trace_id, b->last_trace_id);
    assert_string_equal(a->last_reason, b->last_reason);
    assert_int_equal(a->lock_episodes, b->lock_episodes);
    assert_int_equal(a->lock_episode_turn, b->lock_episode_turn);
    assert_int_equal(a->lock_episode_period, b->lock_episode_period);
    assert_memory_equal(&a->lock_required_quality, &b->lock_required_quality,
                        sizeof a->lock_required_quality);
}

static size_t roundtrip(const sess_state_t *s)
{
    unsigned char buf[SESS_PACK_MAX];
    size_t n = sess_state_pack(s, buf);
    assert_true(n <= SESS_PACK_MAX);
    sess_state_t back;
    assert_true(sess_state_unpack(buf, n, &back));
    assert_same(s, &back);
    return n;
}

/* An agent session after some turns on two models, as a commit leaves it. */
static sess_state_t typical(void)
{
    sess_state_t s;
    memset(&s, 0, sizeof s);
    s.version = 41;
    s.created_at_ms = 1796000000000ull;
    s.last_seen_ms = s.created_at_ms + 1800000;
    s.last_started_at_ms = s.last_seen_ms - 2500;
    snprintf(s.last_model, sizeof s.last_model, "claude-sonnet-4-5");
    snprintf(s.last_backend, sizeof s.last_backend, "anthropic-primary");
    snprintf(s.last_decision, sizeof s.last_decision, "agentic_coding");
    snprintf(s.last_reasoning, sizeof s.last_reasoning, "high");
    s.turn_count = 41;
    s.switch_count = 2;
    s.prompt_tokens = 3400000;
    s.cached_tokens = 2900000;
    s.completion_tokens = 61000;
    s.cost = 4.2173;
    const char *models[] = {"claude-sonnet-4-5", "gpt-4o-mini", "qwen3-32b", "llama-3.3-70b"};
    for (int i = 0; i < SESS_MAX_MODELS; i++) {
        sess_model_stats_t *m = &s.models[i];
        snprintf(m->model, sizeof m->model, "%s", models[i]);
        m->turns = 30u - 7u * (unsigned)i;
        m->responses_with_usage = m->turns;
        m->responses_with_cached = m->turns - 1;
        m->prompt_tokens = 2500000u / (unsigned)(i + 1);
        m->cached_tokens = m->prompt_tokens * 9 / 10;
        m->completion_tokens = 40000;
        m->last_prompt_tokens = 98000;
        m->cost = 3.1 / (i + 1);
    }
    s.lock_kind = SESS_LOCK_TOOL_LOOP;
    s.lock_bindings = 3;
    s.lock_since_turn = 39;
    s.opener = 0x9e3779b97f4a7c15ull;
    snprintf(s.last_trace_id, sizeof s.last_trace_id, "rr_0123456789abcdef01234567");
    snprintf(s.last_reason, sizeof s.last_reason, "tool_loop_lock");
    s.lock_episodes = 6;
    s.lock_episode_turn = 37;
    s.lock_episode_period = 5;
    s.lock_required_quality = 0.91;
    return s;
}

static void test_typical_record_packs_within_256_bytes(void **st)
{
    sess_state_t s = typical();
    size_t n = roundtrip(&s);
    printf("typical record, 4 models: %zu bytes packed (sess_state_t: %zu)\n", n, sizeof s);
    assert_true(n <= 256);
    memset(&s.models[1], 0, 3 * sizeof s.models[0]);
    n = roundtrip(&s);
    printf("typical record, 1 model: %zu bytes packed\n", n);
    assert_true(n <= 128);
}

static void test_every_field_survives_edge_values(void **st)
{
    sess_state_t s;
    memset(&s, 0, sizeof s);
    roundtrip(&s); /* all zero */
    s = typical();
    s.version = UINT64_MAX;
    s.created_at_ms = 5000;
    s.last_seen_ms = 10; /* a clock that went back */
    s.last_started_at_ms = UINT64_MAX;
    s.turn_count = UINT32_MAX;
    s.prompt_tokens = UINT64_MAX;
    s.cost = -0.0;
    s.models[0].cost = 1e300;
    s.models[2].model[0] = 0; /* an empty slot between used ones */
    s.opener = 0;
    memset(s.last_model, 'm', sizeof s.last_model - 1); /* longest name */
    snprintf(s.last_trace_id, sizeof s.last_trace_id, "rr_0123456789ABCDEF01234567"); /* upper */
    roundtrip(&s);
    snprintf(s.last_trace_id, sizeof s.last_trace_id, "custom");
    snprintf(s.last_reason, sizeof s.last_reason, "%s", "");
    roundtrip(&s);
}

static void test_names_past_the_dictionary_go_inline(void **st)
{
    sess_state_t s = typical();
    for (int i = 0; i < SESS_PACK_NAMES + 50; i++) {
        snprintf(s.last_decision, sizeof s.last_decision, "decision-%d", i);
        roundtrip(&s);
    }
}

static void test_malformed_input_is_refused(void **st)
{
    sess_state_t s = typical(), back;
    unsigned char buf[SESS_PACK_MAX];
    size_t n = sess_state_pack(&s, buf);
    for (size_t cut = 0; cut < n; cut++)
        assert_false(sess_state_unpack(buf, cut, &back));
    unsigned char junk[12];
    memset(junk, 0xff, sizeof junk);
    assert_false(sess_state_unpack(junk, sizeof junk, &back));
}

/* ---- the canonical form and the per-thread memory (sess_state_canon,
 * sess_state_pack_keep, sess_state_unpack_kept) against sess_state_unpack ---- */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A name field: a vocabulary word, "", a random run with or without a NUL,
 * garbage after the NUL either way. */
static void rnd_name(char *dst, size_t cap)
{
    static const char *words[] = {"gpt-4o-mini", "claude-sonnet-4-5", "coding", "backend-a",
                                  "high",        "tool_loop_lock",    ""};
    for (size_t i = 0; i < cap; i++)
        dst[i] = (char)(rnd() | 1);
    switch (rnd() % 4) {
    case 0: /* no NUL at all: packing keeps cap - 1 bytes */ break;
    case 1: dst[rnd() % cap] = 0; break;
    default: {
        const char *w = words[rnd() % (sizeof words / sizeof *words)];
        size_t n = strlen(w) < cap - 1 ? strlen(w) : cap - 1;
        memcpy(dst, w, n);
        dst[n] = 0;
    }
    }
}

/* Every byte random, then names, trace id and model slots shaped as commits
 * leave them (or not). */
static void rnd_state(sess_state_t *s)
{
    unsigned char *p = (unsigned char *)s;
    for (size_t i = 0; i < sizeof *s; i++)
        p[i] = (unsigned char)rnd();
    rnd_name(s->last_model, sizeof s->last_model);
    rnd_name(s->last_backend, sizeof s->last_backend);
    rnd_name(s->last_decision, sizeof s->last_decision);
    rnd_name(s->last_reasoning, sizeof s->last_reasoning);
    rnd_name(s->last_reason, sizeof s->last_reason);
    if (rnd() % 2) {
        snprintf(s->last_trace_id, sizeof s->last_trace_id, "rr_%012llx%012llx",
                 (unsigned long long)(rnd() & 0xffffffffffffull),
                 (unsigned long long)(rnd() & 0xffffffffffffull));
    } else {
        rnd_name(s->last_trace_id, sizeof s->last_trace_id);
    }
    s->lock_kind = (sess_lock_kind_t)(rnd() % 3);
    if (rnd() % 3 == 0) s->cost = 0;
    if (rnd() % 3 == 0) s->opener = 0;
    if (rnd() % 3 == 0) s->lock_required_quality = 0;
    size_t used = rnd() % (SESS_MAX_MODELS + 1);
    for (size_t i = 0; i < SESS_MAX_MODELS; i++) {
        sess_model_stats_t *m = &s->models[i];
        rnd_name(m->model, sizeof m->model);
        if (i >= used) { /* unused: empty name and zero counters, garbage after the NUL */
            char tail[SESS_NAME_MAX];
            memcpy(tail, m->model, sizeof tail);
            memset(m, 0, sizeof *m);
            memcpy(m->model + 1, tail + 1, sizeof tail - 1);
        } else if (rnd() % 5 == 0) {
            m->model[0] = 0; /* an empty slot between used ones */
        }
    }
}

static void test_canon_is_what_unpacking_gives(void **st)
{
    for (int i = 0; i < 20000; i++) {
        sess_state_t s, want, got;
        rnd_state(&s);
        unsigned char buf[SESS_PACK_MAX];
        size_t n = sess_state_pack(&s, buf);
        assert_true(sess_state_unpack(buf, n, &want));
        sess_state_canon(&s, &got);
        assert_memory_equal(&want, &got, sizeof want);
    }
}

/* A pool of records, many differing from another in one field only,
 * packed and unpacked in a random order through the per-thread memory:
 * every unpack gives exactly what sess_state_unpack gives for the same
 * bytes (a memory keyed on less than all the bytes, or keeping a record
 * not in the canonical form, fails here). */
static void test_kept_unpack_is_the_plain_unpack(void **st)
{
    enum { POOL = 24 };
    static sess_state_t pool[POOL];
    static unsigned char bytes[POOL][SESS_PACK_MAX];
    static size_t len[POOL];
    sess_state_kept_reset();
    for (int round = 0; round < 300; round++) {
        for (int i = 0; i < POOL; i++) {
            if (i % 3 && i) {
                pool[i] = pool[i - 1]; /* one field away from the previous one */
                switch (rnd() % 4) {
                case 0: pool[i].turn_count++; break;
                case 1: pool[i].models[0].cost += 1; break;
                case 2: pool[i].last_reason[0] = pool[i].last_reason[0] == 'a' ? 'b' : 'a'; break;
                default: pool[i].lock_required_quality += 0.25;
                }
            } else {
                rnd_state(&pool[i]);
            }
            len[i] = 0;
        }
        for (int op = 0; op < 60; op++) {
            int i = (int)(rnd() % POOL);
            if (!len[i] || rnd() % 3 == 0) {
                len[i] = sess_state_pack_keep(&pool[i], bytes[i]);
                unsigned char plain[SESS_PACK_MAX];
                assert_int_equal(sess_state_pack(&pool[i], plain), len[i]);
                assert_memory_equal(plain, bytes[i], len[i]);
            }
            sess_state_t want, got;
            memset(&got, 0x5a, sizeof got);
            assert_true(sess_state_unpack(bytes[i], len[i], &want));
            assert_true(sess_state_unpack_kept(bytes[i], len[i], &got));
            assert_memory_equal(&want, &got, sizeof want);
        }
    }
    assert_true(sess_state_kept_hits() > 1000); /* the memory answered */
    /* malformed bytes are still refused */
    unsigned char junk[12];
    memset(junk, 0xff, sizeof junk);
    sess_state_t back;
    assert_false(sess_state_unpack_kept(junk, sizeof junk, &back));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical_record_packs_within_256_bytes),
        cmocka_unit_test(test_every_field_survives_edge_values),
        cmocka_unit_test(test_names_past_the_dictionary_go_inline),
        cmocka_unit_test(test_malformed_input_is_refused),
        cmocka_unit_test(test_canon_is_what_unpacking_gives),
        cmocka_unit_test(test_kept_unpack_is_the_plain_unpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
