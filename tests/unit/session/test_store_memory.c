/* test_store_memory.c - the local session store: §9.8 commit semantics
 * (counters always, routing fields on version match or later start,
 * conflicts, switch counting), late usage, per-model slots, TTL expiry of
 * records and index entries (fake clock), LRU eviction at max_sessions, and
 * commits from several threads losing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "session/store.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    return fake_now;
}

/* A store on the fake clock (tests use small timestamps). */
static sess_store_t *mem_new(void)
{
    fake_now = 0;
    sess_memory_opts_t opts = {.clock = fake_clock};
    return sess_store_memory_new(&opts);
}

static sess_outcome_t outcome(const char *model, uint64_t expected, uint64_t started)
{
    return (sess_outcome_t){.model = model,
                            .backend = "b1",
                            .decision = "code",
                            .expected_version = expected,
                            .started_at_ms = started,
                            .now_ms = started + 10,
                            .reason = "cold_start",
                            .trace_id = "rr_000000000000000000000001"};
}

static void test_commit_creates_then_updates(void **state)
{
    sess_store_t *s = mem_new();
    sess_state_t st;
    assert_int_equal(sess_store_get_wait(s, "k", &st), SESS_NOT_FOUND);

    sess_outcome_t o = outcome("gpt-a", 0, 100);
    o.lock_kind = SESS_LOCK_TOOL_LOOP;
    o.opener = 42;
    sess_commit_result_t r;
    sess_state_t after;
    assert_int_equal(sess_store_commit_wait(s, "k", &o, &r, &after), SESS_OK);
    assert_true(r.created);
    assert_true(r.applied);
    assert_false(r.conflict);
    assert_false(r.switched);
    assert_int_equal(r.version, 1);
    assert_string_equal(after.last_model, "gpt-a");
    assert_string_equal(after.last_backend, "b1");
    assert_string_equal(after.last_decision, "code");
    assert_string_equal(after.last_reason, "cold_start");
    assert_int_equal(after.lock_kind, SESS_LOCK_TOOL_LOOP);
    assert_int_equal(after.opener, 42);
    assert_int_equal(after.turn_count, 1);
    assert_int_equal(after.created_at_ms, 110);
    assert_int_equal(after.last_seen_ms, 110);
    assert_int_equal(after.last_started_at_ms, 100);

    assert_int_equal(sess_store_get_wait(s, "k", &st), SESS_OK);
    assert_int_equal(st.version, 1);

    /* next turn read version 1 and served another model: a switch */
    o = outcome("gpt-b", 1, 200);
    assert_int_equal(sess_store_commit_wait(s, "k", &o, &r, &after), SESS_OK);
    assert_false(r.created);
    assert_true(r.applied);
    assert_true(r.switched);
    assert_int_equal(r.version, 2);
    assert_string_equal(after.last_model, "gpt-b");
    assert_int_equal(after.switch_count, 1);
    assert_int_equal(after.turn_count, 2);
    assert_int_equal(after.opener, 42); /* 0 keeps the stored opener */
    assert_int_equal(after.lock_kind, SESS_LOCK_NONE);
    assert_int_equal(sess_state_model(&after, "gpt-a")->turns, 1);
    assert_int_equal(sess_state_model(&after, "gpt-b")->turns, 1);
    assert_string_equal(after.models[0].model, "gpt-b"); /* most recent first */
    assert_null(sess_state_model(&after, "gpt-c"));

    /* same model again: no switch */
    o = outcome("gpt-b", 2, 300);
    assert_int_equal(sess_store_commit_wait(s, "k", &o, &r, &after), SESS_OK);
    assert_false(r.switched);
    assert_int_equal(after.switch_count, 1);
    assert_int_equal(sess_state_model(&after, "gpt-b")->turns, 2);
    sess_store_free(s);
}

/* Issue 19: the commit records the session's lock trajectory: an episode
 * starts on a locked turn after an unlocked one; the period is the distance
 * between the last two starts; the locked turns' required quality is a
 * running mean of weight 1/2. */
static void test_commit_records_lock_trajectory(void **state)
{
    sess_store_t *s = mem_new();
    const sess_lock_kind_t kinds[] = {
        SESS_LOCK_NONE, SESS_LOCK_TOOL_LOOP,      SESS_LOCK_TOOL_LOOP, SESS_LOCK_NONE,
        SESS_LOCK_NONE, SESS_LOCK_PROVIDER_STATE, SESS_LOCK_TOOL_LOOP, SESS_LOCK_NONE};
    const double req[] = {0.6, 0.9, 0.7, 0.6, 0.6, 0.9, 0.0, 0.6};
    sess_state_t after;
    for (int i = 0; i < 8; i++) {
        sess_outcome_t o = outcome("gpt-a", (uint64_t)i, 100 + 10 * (uint64_t)i);
        o.lock_kind = kinds[i];
        o.required_quality = req[i];
        sess_commit_result_t r;
        assert_int_equal(sess_store_commit_wait(s, "k", &o, &r, &after), SESS_OK);
        if (i == 1) {
            assert_int_equal(after.lock_episodes, 1);
            assert_int_equal(after.lock_episode_turn, 1);
            assert_int_equal(after.lock_episode_period, 0);
            assert_float_equal(after.lock_required_quality, 0.9, 1e-12);
        }
    }
    /* episodes at turns 1 and 5 (turn 6 continues the one of turn 5) */
    assert_int_equal(after.lock_episodes, 2);
    assert_int_equal(after.lock_episode_turn, 5);
    assert_int_equal(after.lock_episode_period, 4);
    /* 0.9, then (0.9 + 0.7) / 2 = 0.8, then (0.8 + 0.9) / 2 = 0.85; turn 6's unknown (0) is
       skipped */
    assert_float_equal(after.lock_required_quality, 0.85, 1e-12);
    sess_store_free(s);
}

static void test_conflicting_commits(void **state)
{
    sess_store_t *s = mem_new();
    sess_commit_result_t r;
    sess_state_t after;
    sess_outcome_t o = outcome("m1", 0, 100);
    sess_store_commit_wait(s, "k", &o, &r, &after); /* version 1 */

    /* two turns both read version 1; the later-started one commits first */
    sess_outcome_t late = outcome("m2", 1, 300);
    late.decision = "late";
    sess_outcome_t early = outcome("m3", 1, 200);
    early.decision = "early";
    assert_int_equal(sess_store_commit_wait(s, "k", &late, &r, &after), SESS_OK);
    assert_true(r.applied);
    assert_int_equal(r.version, 2);
    assert_int_equal(sess_store_commit_wait(s, "k", &early, &r, &after), SESS_OK);
    assert_false(r.applied);
    assert_true(r.conflict);
    assert_int_equal(r.version, 2); /* a conflict does not bump the version */
    /* routing fields kept the later turn's; counters took both */
    assert_string_equal(after.last_model, "m2");
    assert_string_equal(after.last_decision, "late");
    assert_int_equal(after.turn_count, 3);
    assert_int_equal(after.switch_count, 2); /* m1->m2 and m3 differs from m2 */
    assert_int_equal(sess_state_model(&after, "m3")->turns, 1);
    assert_int_equal(after.last_seen_ms, 310);

    /* a stale version that started later still applies */
    sess_outcome_t later = outcome("m4", 1, 400);
    assert_int_equal(sess_store_commit_wait(s, "k", &later, &r, &after), SESS_OK);
    assert_true(r.applied);
    assert_string_equal(after.last_model, "m4");

    sess_store_stats_t stt;
    sess_store_stats(s, &stt);
    assert_int_equal(stt.commits, 4);
    assert_int_equal(stt.conflicts, 1);
    assert_int_equal(stt.sessions, 1);
    assert_true(stt.record_bytes >= sizeof(sess_state_t));
    sess_store_free(s);
}

static void test_usage_and_late_usage(void **state)
{
    sess_store_t *s = mem_new();
    sess_outcome_t o = outcome("m1", 0, 100);
    o.usage = (sess_usage_t){true, 1000, 0, 50, 0.01};
    sess_commit_result_t r;
    sess_state_t st;
    sess_store_commit_wait(s, "k", &o, &r, &st);
    sess_usage_t late = {true, 2000, 1500, 70, 0.02};
    assert_int_equal(sess_store_add_usage_wait(s, "k", "m1", &late, 5000), SESS_OK);
    assert_int_equal(sess_store_get_wait(s, "k", &st), SESS_OK);
    assert_int_equal(st.version, 1); /* usage does not bump the version */
    assert_int_equal(st.prompt_tokens, 3000);
    assert_int_equal(st.cached_tokens, 1500);
    assert_int_equal(st.completion_tokens, 120);
    assert_float_equal(st.cost, 0.03, 1e-12);
    assert_int_equal(st.last_seen_ms, 5000);
    const sess_model_stats_t *m = sess_state_model(&st, "m1");
    assert_int_equal(m->responses_with_usage, 2);
    assert_int_equal(m->responses_with_cached, 1);
    assert_int_equal(m->last_prompt_tokens, 2000);
    assert_int_equal(m->prompt_tokens, 3000);
    /* a missing session stays missing */
    assert_int_equal(sess_store_add_usage_wait(s, "nope", "m1", &late, 5000), SESS_NOT_FOUND);
    assert_int_equal(sess_store_get_wait(s, "nope", &st), SESS_NOT_FOUND);
    sess_store_free(s);
}

static void test_model_slots_recycle_least_recent(void **state)
{
    sess_state_t st;
    memset(&st, 0, sizeof st);
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        sess_state_touch_model(&st, names[i])->turns = (uint32_t)i + 1;
    assert_null(sess_state_model(&st, "a"));
    assert_int_equal(sess_state_model(&st, "e")->turns, 5);
    assert_int_equal(sess_state_model(&st, "b")->turns, 2);
    sess_state_touch_model(&st, "b"); /* b becomes most recent */
    sess_state_touch_model(&st, "f"); /* evicts c */
    assert_null(sess_state_model(&st, "c"));
    assert_int_equal(sess_state_model(&st, "b")->turns, 2);
    assert_string_equal(st.models[0].model, "f");
}

static void test_ttl_expiry(void **state)
{
    fake_now = 1000;
    sess_memory_opts_t opts = {.ttl_ms = 60000, .clock = fake_clock};
    sess_store_t *s = sess_store_memory_new(&opts);
    sess_outcome_t o = outcome("m", 0, 990); /* now_ms = last_seen = 1000 */
    sess_commit_result_t r;
    sess_state_t st;
    sess_store_commit_wait(s, "k", &o, &r, NULL);
    uint64_t h = 7;
    sess_store_chain_put_wait(s, &h, 1, "k");
    sess_store_opener_put_wait(s, 9, "k");

    fake_now = 60999;
    assert_int_equal(sess_store_get_wait(s, "k", &st), SESS_OK);
    char key[64];
    int idx;
    assert_int_equal(sess_store_chain_find_wait(s, &h, 1, &idx, key, sizeof key), SESS_OK);
    assert_int_equal(idx, 0);
    assert_string_equal(key, "k");
    assert_int_equal(sess_store_opener_get_wait(s, 9, key, sizeof key), SESS_OK);

    fake_now = 61000;
    assert_int_equal(sess_store_get_wait(s, "k", &st), SESS_NOT_FOUND);
    assert_int_equal(sess_store_chain_find_wait(s, &h, 1, &idx, key, sizeof key), SESS_NOT_FOUND);
    assert_int_equal(idx, -1);
    assert_int_equal(sess_store_opener_get_wait(s, 9, key, sizeof key), SESS_NOT_FOUND);
    sess_store_stats_t stt;
    sess_store_stats(s, &stt);
    assert_int_equal(stt.expirations, 1);
    assert_int_equal(stt.sessions, 0);

    /* a commit extends the life: expiry counts from last_seen */
    fake_now = 100000;
    o = outcome("m", 0, 99990);
    sess_store_commit_wait(s, "k2", &o, &r, NULL);
    fake_now = 150000;
    o = outcome("m", 1, 149990);
    sess_store_commit_wait(s, "k2", &o, &r, NULL);
    fake_now = 200000;
    assert_int_equal(sess_store_get_wait(s, "k2", &st), SESS_OK);
    assert_int_equal(st.turn_count, 2);
    sess_store_free(s);
}

static void test_chain_find_returns_first_hit_in_order(void **state)
{
    sess_store_t *s = mem_new();
    uint64_t a = 1, b = 2;
    sess_store_chain_put_wait(s, &a, 1, "ka");
    sess_store_chain_put_wait(s, &b, 1, "kb");
    uint64_t q[] = {99, 2, 1};
    char key[64];
    int idx;
    assert_int_equal(sess_store_chain_find_wait(s, q, 3, &idx, key, sizeof key), SESS_OK);
    assert_int_equal(idx, 1);
    assert_string_equal(key, "kb");
    /* re-pointing a hash replaces the key */
    sess_store_chain_put_wait(s, &b, 1, "kc");
    assert_int_equal(sess_store_chain_find_wait(s, q, 3, &idx, key, sizeof key), SESS_OK);
    assert_string_equal(key, "kc");
    sess_store_free(s);
}

static void test_lru_eviction_at_cap(void **state)
{
    fake_now = 1000;
    sess_memory_opts_t opts = {.max_sessions = 3, .n_shards = 1, .clock = fake_clock};
    sess_store_t *s = sess_store_memory_new(&opts);
    sess_commit_result_t r;
    sess_state_t st;
    const char *keys[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        sess_outcome_t o = outcome("m", 0, 100 + i);
        sess_store_commit_wait(s, keys[i], &o, &r, NULL);
    }
    sess_outcome_t o = outcome("m", 1, 200);
    sess_store_commit_wait(s, "a", &o, &r, NULL); /* a is now the most recent */
    o = outcome("m", 0, 300);
    sess_store_commit_wait(s, "d", &o, &r, NULL); /* evicts b */
    assert_int_equal(sess_store_get_wait(s, "b", &st), SESS_NOT_FOUND);
    assert_int_equal(sess_store_get_wait(s, "a", &st), SESS_OK);
    assert_int_equal(st.turn_count, 2);
    assert_int_equal(sess_store_get_wait(s, "c", &st), SESS_OK);
    assert_int_equal(sess_store_get_wait(s, "d", &st), SESS_OK);
    sess_store_stats_t stt;
    sess_store_stats(s, &stt);
    assert_int_equal(stt.sessions, 3);
    assert_int_equal(stt.evictions, 1);
    sess_store_free(s);

    /* sharded: the cap holds overall */
    opts = (sess_memory_opts_t){.max_sessions = 256, .n_shards = 16, .clock = fake_clock};
    s = sess_store_memory_new(&opts);
    for (int i = 0; i < 5000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-%d", i);
        o = outcome("m", 0, (uint64_t)i);
        sess_store_commit_wait(s, k, &o, &r, NULL);
    }
    sess_store_stats(s, &stt);
    assert_true(stt.sessions <= 256);
    assert_true(stt.sessions >= 200);
    assert_int_equal(stt.evictions, 5000 - stt.sessions);
    /* the most recent one survives */
    assert_int_equal(sess_store_get_wait(s, "key-4999", &st), SESS_OK);
    sess_store_free(s);
}

typedef struct worker {
    sess_store_t *s;
    int id, n;
    uint64_t applied, conflicts;
} worker_t;

static void *run_worker(void *arg)
{
    worker_t *w = arg;
    char key[16];
    for (int i = 0; i < w->n; i++) {
        snprintf(key, sizeof key, "k%d", i % 8);
        sess_state_t st;
        uint64_t v = sess_store_get_wait(w->s, key, &st) == SESS_OK ? st.version : 0;
        sess_outcome_t o = outcome(w->id % 2 ? "odd" : "even", v, (uint64_t)i);
        o.usage = (sess_usage_t){true, 10, 1, 2, 0.0};
        sess_commit_result_t r;
        sess_store_commit_wait(w->s, key, &o, &r, NULL);
        if (r.applied) w->applied++;
        if (r.conflict) w->conflicts++;
        sess_usage_t u = {true, 5, 0, 0, 0};
        sess_store_add_usage_wait(w->s, key, o.model, &u, 1);
    }
    return NULL;
}

static void test_concurrent_commits_lose_nothing(void **state)
{
    fake_now = 0;
    sess_memory_opts_t opts = {.n_shards = 4, .clock = fake_clock};
    sess_store_t *s = sess_store_memory_new(&opts);
    enum { T = 4, N = 4000 };
    pthread_t th[T];
    worker_t w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker_t){.s = s, .id = i, .n = N};
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    uint64_t applied = 0, conflicts = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        applied += w[i].applied;
        conflicts += w[i].conflicts;
    }
    assert_int_equal(applied + conflicts, T * N);
    uint64_t turns = 0, prompt = 0, versions = 0, per_model = 0;
    for (int k = 0; k < 8; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        sess_state_t st;
        assert_int_equal(sess_store_get_wait(s, key, &st), SESS_OK);
        turns += st.turn_count;
        prompt += st.prompt_tokens;
        versions += st.version;
        for (int m = 0; m < SESS_MAX_MODELS; m++)
            per_model += st.models[m].turns;
    }
    assert_int_equal(turns, T * N);
    assert_int_equal(per_model, T * N);
    assert_int_equal(prompt, (uint64_t)T * N * 15);
    assert_int_equal(versions, applied);
    sess_store_stats_t stt;
    sess_store_stats(s, &stt);
    assert_int_equal(stt.conflicts, conflicts);
    sess_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_creates_then_updates),
        cmocka_unit_test(test_commit_records_lock_trajectory),
        cmocka_unit_test(test_conflicting_commits),
        cmocka_unit_test(test_usage_and_late_usage),
        cmocka_unit_test(test_model_slots_recycle_least_recent),
        cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_chain_find_returns_first_hit_in_order),
        cmocka_unit_test(test_lru_eviction_at_cap),
        cmocka_unit_test(test_concurrent_commits_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
