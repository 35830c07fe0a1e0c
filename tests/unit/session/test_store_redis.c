/* test_store_redis.c - the Redis session store against a real redis-server
 * that the test starts on a free loopback port (and stops at the end):
 * the Lua commit gives the same records as the memory store for the same
 * turns; indexes and TTLs; two connections committing 1000 turns each to
 * one session lose no update; a killed server trips the circuit and every
 * call is served by the local store; a restarted server is probed, the
 * circuit closes and local records go back (later last_seen wins); a hung
 * server is bounded by timeout_ms.
 *
 * Skips (with a message) only when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "proc.h"
#include "redis_server.h"
#include "session/identity.h"
#include "session/store.h"
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static sess_store_t *open_store(sess_store_t *fb, const char *prefix, uint64_t timeout_ms,
                                uint64_t ttl_ms, uint64_t open_ms)
{
    sess_redis_opts_t o = {.address = tredis_srv.addr,
                           .key_prefix = prefix,
                           .timeout_ms = timeout_ms,
                           .ttl_ms = ttl_ms,
                           .open_ms = open_ms,
                           .fallback = fb};
    char err[256];
    sess_store_t *s = sess_store_redis_open_sync(&o, err, sizeof err);
    assert_non_null(s);
    return s;
}

static void assert_same_state(const sess_state_t *a, const sess_state_t *b)
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
    assert_float_equal(a->cost, b->cost, 1e-9);
    assert_int_equal(a->lock_kind, b->lock_kind);
    assert_int_equal(a->lock_bindings, b->lock_bindings);
    assert_int_equal(a->lock_since_turn, b->lock_since_turn);
    assert_true(a->opener == b->opener);
    assert_string_equal(a->last_trace_id, b->last_trace_id);
    assert_string_equal(a->last_reason, b->last_reason);
    assert_int_equal(a->lock_episodes, b->lock_episodes);
    assert_int_equal(a->lock_episode_turn, b->lock_episode_turn);
    assert_int_equal(a->lock_episode_period, b->lock_episode_period);
    assert_float_equal(a->lock_required_quality, b->lock_required_quality, 1e-12);
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
        assert_float_equal(x->cost, y->cost, 1e-9);
    }
}

/* The same turns through the Lua script and through state.c agree. */
static void test_lua_commit_matches_memory_store(void **state)
{
    TREDIS_NEED();
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_store_t *mem = sess_store_memory_new(NULL);
    sess_store_t *rs = open_store(fb, "t1:", 1000, 0, 0);
    uint64_t t0 = clock_wall_ms();
    const char *models[] = {"m1", "m2", "m2", "m3", "m4", "m5", "m1", "m2"};
    for (int i = 0; i < 8; i++) {
        sess_outcome_t o = {
            .model = models[i],
            .backend = "b",
            .decision = i < 4 ? "code" : "chat",
            .reasoning = i % 2 ? "high" : "",
            .lock_kind = (sess_lock_kind_t)(i % 3),
            .lock_bindings = (uint32_t)i,
            .lock_since_turn = (uint32_t)i,
            .required_quality = 0.5 + 0.05 * i,
            .opener = i == 0 ? 0xfedcba9876543210ull : 0,
            .trace_id = "rr_0123456789abcdef01234567",
            .reason = "switch_allowed",
            .now_ms = t0 + (uint64_t)i * 10,
            /* turn 5 is stale and started early: a conflict */
            .expected_version = i == 5 ? 1 : (uint64_t)i,
            .started_at_ms = i == 5 ? t0 - 100 : t0 + (uint64_t)i * 10,
            .usage = {i % 2 == 0, 1000u + (uint64_t)i, i > 2 ? 500u : 0u, 40, 0.001 * i}};
        sess_commit_result_t rm, rr;
        sess_state_t am, ar;
        assert_int_equal(sess_store_commit_wait(mem, "sess\x1fk", &o, &rm, &am), SESS_OK);
        assert_int_equal(sess_store_commit_wait(rs, "sess\x1fk", &o, &rr, &ar), SESS_OK);
        assert_int_equal(rm.created, rr.created);
        assert_int_equal(rm.applied, rr.applied);
        assert_int_equal(rm.conflict, rr.conflict);
        assert_int_equal(rm.switched, rr.switched);
        assert_int_equal(rm.version, rr.version);
        assert_same_state(&am, &ar);
        if (i == 5) assert_true(rr.conflict);
        sess_usage_t u = {true, 7, (uint64_t)i, 3, 0.5};
        assert_int_equal(sess_store_add_usage_wait(mem, "sess\x1fk", models[i], &u, t0 + 5),
                         SESS_OK);
        assert_int_equal(sess_store_add_usage_wait(rs, "sess\x1fk", models[i], &u, t0 + 5),
                         SESS_OK);
    }
    sess_state_t gm, gr;
    assert_int_equal(sess_store_get_wait(mem, "sess\x1fk", &gm), SESS_OK);
    assert_int_equal(sess_store_get_wait(rs, "sess\x1fk", &gr), SESS_OK);
    assert_same_state(&gm, &gr);
    assert_int_equal(gr.turn_count, 8);
    /* lock episodes began at turns 1, 4 and 7 (turn 5 lost its conflict) */
    assert_int_equal(gr.lock_episodes, 3);
    assert_int_equal(gr.lock_episode_turn, 7);
    assert_int_equal(gr.lock_episode_period, 3);
    assert_true(gr.lock_required_quality > 0.5);
    assert_int_equal(sess_store_get_wait(rs, "missing", &gr), SESS_NOT_FOUND);
    sess_usage_t u = {true, 1, 1, 1, 1};
    assert_int_equal(sess_store_add_usage_wait(rs, "missing", "m", &u, t0), SESS_NOT_FOUND);

    sess_store_stats_t st;
    sess_store_stats(rs, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.fallbacks, 0);
    assert_false(st.degraded);
    assert_int_equal(st.conflicts, 1);
    sess_store_free(rs);
    sess_store_free(mem);
    sess_store_free(fb);
}

static void test_indexes_keys_and_ttls(void **state)
{
    TREDIS_NEED();
    /* the local store lives as long as Redis keeps things (as app.c builds
     * it): it mirrors what Redis acknowledged, index entries included */
    sess_memory_opts_t mo = {.ttl_ms = 300};
    sess_store_t *fb = sess_store_memory_new(&mo);
    sess_store_t *rs = open_store(fb, "t2:", 1000, 300, 0);
    uint64_t hs[] = {0x1111, 0x2222};
    assert_int_equal(sess_store_chain_put_wait(rs, hs, 2,
                                               "ten\x1f"
                                               "fingerprint\x1f"
                                               "fp:1"),
                     SESS_OK);
    assert_int_equal(sess_store_opener_put_wait(rs, 0xabc,
                                                "ten\x1f"
                                                "fingerprint\x1f"
                                                "fp:1"),
                     SESS_OK);
    sess_outcome_t o = {.model = "m", .now_ms = clock_wall_ms()};
    assert_int_equal(sess_store_commit_wait(rs, "ten\x1fx\x1fy", &o, NULL, NULL), SESS_OK);

    uint64_t q[] = {0x9999, 0x2222, 0x1111};
    int idx;
    char key[128];
    assert_int_equal(sess_store_chain_find_wait(rs, q, 3, &idx, key, sizeof key), SESS_OK);
    assert_int_equal(idx, 1);
    assert_string_equal(key, "ten\x1f"
                             "fingerprint\x1f"
                             "fp:1");
    assert_int_equal(sess_store_opener_get_wait(rs, 0xabc, key, sizeof key), SESS_OK);
    assert_string_equal(key, "ten\x1f"
                             "fingerprint\x1f"
                             "fp:1");
    assert_int_equal(sess_store_opener_get_wait(rs, 0xabd, key, sizeof key), SESS_NOT_FOUND);

    /* the documented key layout, each with a TTL */
    redisContext *c = tredis_connect(&tredis_srv);
    assert_non_null(c);
    const char *keys[] = {"t2:c:0000000000002222", "t2:o:0000000000000abc", "t2:s:ten\x1fx\x1fy"};
    for (int i = 0; i < 3; i++) {
        redisReply *r = redisCommand(c, "PTTL %s", keys[i]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        assert_true(r->integer > 0 && r->integer <= 300);
        freeReplyObject(r);
    }
    redisFree(c);

    sleep_ms(450); /* past the 300 ms TTL */
    sess_state_t st;
    assert_int_equal(sess_store_get_wait(rs, "ten\x1fx\x1fy", &st), SESS_NOT_FOUND);
    assert_int_equal(sess_store_chain_find_wait(rs, q, 3, &idx, key, sizeof key), SESS_NOT_FOUND);
    assert_int_equal(sess_store_opener_get_wait(rs, 0xabc, key, sizeof key), SESS_NOT_FOUND);
    sess_store_free(rs);
    sess_store_free(fb);
}

typedef struct writer {
    int id, n;
    uint64_t applied, conflicts;
    int errors;
} writer_t;

static void *run_writer(void *arg)
{
    writer_t *w = arg;
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_redis_opts_t o = {
        .address = tredis_srv.addr, .key_prefix = "t3:", .timeout_ms = 5000, .fallback = fb};
    char err[128];
    sess_store_t *rs = sess_store_redis_open_sync(&o, err, sizeof err);
    for (int i = 0; i < w->n; i++) {
        sess_state_t st;
        int g = sess_store_get_wait(rs, "shared", &st);
        uint64_t v = g == SESS_OK ? st.version : 0;
        sess_outcome_t oc = {.model = w->id ? "b" : "a",
                             .expected_version = v,
                             .started_at_ms = (uint64_t)i,
                             .now_ms = clock_wall_ms(),
                             .usage = {true, 3, 0, 1, 0}};
        sess_commit_result_t r;
        if (sess_store_commit_wait(rs, "shared", &oc, &r, NULL) != SESS_OK) w->errors++;
        if (r.applied) w->applied++;
        if (r.conflict) w->conflicts++;
        sess_usage_t u = {true, 2, 0, 0, 0};
        sess_store_add_usage_wait(rs, "shared", oc.model, &u, clock_wall_ms());
    }
    sess_store_stats_t s;
    sess_store_stats(rs, &s);
    w->errors += (int)s.errors + (int)s.fallbacks;
    sess_store_free(rs);
    sess_store_free(fb);
    return NULL;
}

static void test_concurrent_writers_lose_no_update(void **state)
{
    TREDIS_NEED();
    enum { N = 1000 };
    pthread_t th[2];
    writer_t w[2] = {{.id = 0, .n = N}, {.id = 1, .n = N}};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, run_writer, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].errors + w[1].errors, 0);
    assert_int_equal(w[0].applied + w[0].conflicts + w[1].applied + w[1].conflicts, 2 * N);

    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_store_t *rs = open_store(fb, "t3:", 1000, 0, 0);
    sess_state_t st;
    assert_int_equal(sess_store_get_wait(rs, "shared", &st), SESS_OK);
    assert_int_equal(st.turn_count, 2 * N);
    assert_int_equal(st.version, w[0].applied + w[1].applied);
    assert_int_equal(st.prompt_tokens, 2 * N * 5);
    assert_int_equal(sess_state_model(&st, "a")->turns, N);
    assert_int_equal(sess_state_model(&st, "b")->turns, N);
    assert_int_equal(sess_state_model(&st, "a")->prompt_tokens, N * 5);
    sess_store_free(rs);
    sess_store_free(fb);
}

static sess_commit_result_t commit_at(sess_store_t *s, const char *key, const char *model,
                                      uint64_t now)
{
    sess_outcome_t o = {.model = model, .now_ms = now, .started_at_ms = now};
    sess_commit_result_t r = {0};
    assert_int_equal(sess_store_commit_wait(s, key, &o, &r, NULL), SESS_OK);
    return r;
}

static void test_outage_falls_back_and_recovers(void **state)
{
    TREDIS_NEED();
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_store_t *rs = open_store(fb, "t4:", 1000, 0, 200);
    uint64_t t = clock_wall_ms();
    commit_at(rs, "k1", "m1", t);
    commit_at(rs, "k1", "m1", t + 1);
    assert_false(sess_store_redis_is_degraded(rs));

    tredis_kill(&tredis_srv);
    /* no call fails: each is served by the local store */
    for (int i = 0; i < 5; i++) {
        sess_commit_result_t r = commit_at(rs, "k2", "m2", t + 10 + (uint64_t)i);
        assert_int_equal(r.version, (uint64_t)i + 1);
    }
    commit_at(rs, "k3", "old", t + 20);
    sess_state_t st;
    assert_int_equal(sess_store_get_wait(rs, "k2", &st), SESS_OK);
    assert_int_equal(st.turn_count, 5);
    uint64_t h = 77;
    assert_int_equal(sess_store_chain_put_wait(rs, &h, 1, "k2"), SESS_OK);
    sess_store_stats_t s;
    sess_store_stats(rs, &s);
    assert_true(s.degraded);
    assert_true(sess_store_redis_is_degraded(rs));
    assert_int_equal(s.transitions, 1);
    assert_true(s.errors >= 3);
    assert_true(s.fallbacks >= 8);

    /* Redis comes back (empty). Another replica writes a newer k3 first. */
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    sess_store_t *fb2 = sess_store_memory_new(NULL);
    sess_store_t *other = open_store(fb2, "t4:", 1000, 0, 0);
    commit_at(other, "k3", "new", t + 1000);

    sleep_ms(250); /* past open_ms: the next call starts the probe (a PING) */
    int idx;
    char key[64];
    for (int i = 0; i < 400; i++) {
        assert_int_equal(sess_store_chain_find_wait(rs, &h, 1, &idx, key, sizeof key), SESS_OK);
        assert_string_equal(key, "k2"); /* indexed during the outage: found locally */
        sess_store_stats(rs, &s);
        if (!s.degraded) break;
        sleep_ms(5);
    }
    assert_false(s.degraded);
    assert_int_equal(s.transitions, 2);
    /* one more round trip so the recovery pushes have been answered */
    assert_int_equal(sess_store_get_wait(rs, "k2", &st), SESS_OK);
    assert_int_equal(st.turn_count, 5);

    /* the other replica now sees the outage turns; its newer k3 won */
    assert_int_equal(sess_store_get_wait(other, "k2", &st), SESS_OK);
    assert_int_equal(st.turn_count, 5);
    assert_string_equal(st.last_model, "m2");
    assert_int_equal(sess_store_get_wait(other, "k3", &st), SESS_OK);
    assert_string_equal(st.last_model, "new");
    /* pushed records left the local store (only the mirror copies of what
     * Redis acknowledged stay, under their own prefixed keys) */
    assert_int_equal(sess_store_get_wait(fb, "k2", &st), SESS_NOT_FOUND);
    assert_int_equal(sess_store_get_wait(fb, "k3", &st), SESS_NOT_FOUND);
    /* and commits go to Redis again */
    commit_at(rs, "k2", "m2", t + 2000);
    assert_int_equal(sess_store_get_wait(other, "k2", &st), SESS_OK);
    assert_int_equal(st.turn_count, 6);
    sess_store_free(other);
    sess_store_free(fb2);
    sess_store_free(rs);
    sess_store_free(fb);
}

static void test_hung_server_is_bounded_by_timeout(void **state)
{
    TREDIS_NEED();
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_store_t *rs = open_store(fb, "t5:", 100, 0, 60000);
    uint64_t t = clock_wall_ms();
    commit_at(rs, "k", "m", t);
    tproc_signal(&tredis_srv.proc, SIGSTOP);
    for (int i = 0; i < 4; i++)
        commit_at(rs, "k", "m", t + 1 + (uint64_t)i);
    sess_store_stats_t s;
    sess_store_stats(rs, &s);
    tproc_signal(&tredis_srv.proc, SIGCONT);
    assert_true(s.degraded);
    assert_int_equal(s.transitions, 1);
    assert_true(s.errors >= 3);
    assert_int_equal(s.fallbacks, 4);
    sess_state_t st;
    assert_int_equal(sess_store_get_wait(rs, "k", &st), SESS_OK); /* local copy, circuit open */
    /* the outage commits continued from the mirror of the acknowledged one */
    assert_int_equal(st.turn_count, 5);
    sess_store_free(rs);
    sess_store_free(fb);
}

typedef struct idwait {
    bool done;
    sess_identity_t id;
} idwait_t;

static void on_identity(void *ud, const sess_identity_t *id)
{
    idwait_t *w = ud;
    w->id = *id;
    w->done = true;
}

/* Resolve through a Redis store: the callback comes from the event loop,
 * driven here by further blocking calls on the same connection. */
static sess_identity_t resolve_redis(sess_store_t *rs, arena_t *a, const char *body,
                                     const char *rid)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    jscan_err_t e;
    char *copy = arena_strdup(a, body);
    assert_int_equal(jscan_request(copy, strlen(copy), a, jr, &e), 0);
    rq_t *r = rq_from_chat(a, copy, strlen(copy), jr, NULL, 0);
    sess_identity_in_t in = {.request_id = rid, .store = rs};
    idwait_t w = {0};
    sess_identity_resolve(&in, r, on_identity, &w);
    for (int i = 0; i < 10 && !w.done; i++) {
        sess_state_t st;
        sess_store_get_wait(rs, "drive", &st);
    }
    assert_true(w.done);
    return w.id;
}

/* Two replicas: the turns of one fingerprinted conversation alternate
 * between them and stay one session; a second conversation with the same
 * opening stays apart. */
static void test_fingerprint_across_replicas(void **state)
{
    TREDIS_NEED();
    sess_store_t *fa = sess_store_memory_new(NULL), *fb = sess_store_memory_new(NULL);
    sess_store_t *ra = open_store(fa, "t6:", 1000, 0, 0), *rb = open_store(fb, "t6:", 1000, 0, 0);
    arena_t a;
    arena_init(&a, 8192);
    const char *t1 = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                     "{\"role\":\"user\",\"content\":\"hello\"}]}";
    sess_identity_t i1 = resolve_redis(ra, &a, t1, "r1");
    assert_true(i1.is_new);
    sess_outcome_t o = {.model = "m", .now_ms = clock_wall_ms()};
    sess_store_commit_wait(ra, i1.key, &o, NULL, NULL);
    sess_identity_index_turn(ra, &i1, "Hi there", 8, NULL, 0, NULL, NULL);
    sess_identity_t other = resolve_redis(ra, &a, t1, "r9"); /* same opening, new conversation */
    assert_true(other.is_new);
    assert_string_not_equal(other.key, i1.key);

    const char *t2 = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                     "{\"role\":\"user\",\"content\":\"hello\"},"
                     "{\"role\":\"assistant\",\"content\":\"Hi there\"},"
                     "{\"role\":\"user\",\"content\":\"more\"}]}";
    sess_identity_t i2 = resolve_redis(rb, &a, t2, "r2"); /* the other replica */
    assert_string_equal(i2.key, i1.key);
    assert_false(i2.low_confidence);
    sess_identity_index_turn(rb, &i2, "Sure", 4, NULL, 0, NULL, NULL);

    /* history rewritten: the opener (also in Redis) catches it, low confidence */
    const char *t3 = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                     "{\"role\":\"user\",\"content\":\"hello\"},"
                     "{\"role\":\"assistant\",\"content\":\"(summary)\"},"
                     "{\"role\":\"user\",\"content\":\"again\"}]}";
    sess_identity_t i3 = resolve_redis(ra, &a, t3, "r3");
    assert_true(i3.low_confidence);
    assert_string_equal(i3.key, i1.key); /* "other" was never indexed */
    arena_deinit(&a);
    sess_store_free(ra);
    sess_store_free(rb);
    sess_store_free(fa);
    sess_store_free(fb);
}

static void test_bad_options(void **state)
{
    char err[128];
    sess_redis_opts_t o = {.address = "127.0.0.1:6379"};
    assert_null(sess_store_redis_open_sync(&o, err, sizeof err)); /* no fallback */
    sess_store_t *fb = sess_store_memory_new(NULL);
    o.fallback = fb;
    o.address = "127.0.0.1:notaport";
    assert_null(sess_store_redis_open_sync(&o, err, sizeof err));
    assert_non_null(strstr(err, "port"));
    sess_store_free(fb);
}

/* Recovery converges with many local records (issue 20): pushing every
 * outage record at once queued the pushes behind each other past the
 * per-call timeout, the failures reopened the circuit, and the next probe
 * started the same burst again. Paced, the write-back drains: the circuit
 * ends closed and every record reaches Redis. */
static void test_write_back_of_many_records_converges(void **state)
{
    TREDIS_NEED();
    enum { N = 20000 };
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_store_t *rs = open_store(fb, "t7:", 50, 0, 100);
    tredis_kill(&tredis_srv);
    uint64_t t = clock_wall_ms();
    for (int i = 0; i < 3; i++)
        commit_at(rs, "wb-open", "m", t + (uint64_t)i);
    assert_true(sess_store_redis_is_degraded(rs));
    /* the outage's turns, as the local store holds them */
    sess_state_t st = {0};
    snprintf(st.last_model, sizeof st.last_model, "model-with-a-longer-name");
    snprintf(st.last_decision, sizeof st.last_decision, "a-decision");
    st.turn_count = 7;
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "wb-%d", i);
        st.created_at_ms = st.last_seen_ms = t + (uint64_t)i;
        sess_store_memory_put(fb, key, &st);
    }
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    sleep_ms(150); /* past open_ms (+-20 %): the next call is the probe */
    /* drive the loop (each wait runs it; the write-back ticks meanwhile)
     * until no outage record is left locally, boundedly */
    int left = N;
    for (int round = 0; round < 20000 && left > 0; round++) {
        sess_store_get_wait(rs, "wb-probe", &st);
        sleep_ms(1);
        if (round % 50 == 0) {
            left = 0;
            for (int i = 0; i < N; i += 97) {
                char key[64];
                snprintf(key, sizeof key, "wb-%d", i);
                if (sess_store_get_wait(fb, key, &st) == SESS_OK) left++;
            }
        }
    }
    assert_int_equal(left, 0);
    /* the sample above sees every 97th key: the write-back may still be
     * draining the others (and its last batch may be in flight), so keep
     * driving the loop until Redis holds them all, boundedly */
    redisContext *c = tredis_connect(&tredis_srv);
    assert_non_null(c);
    long long in_redis = 0;
    for (int round = 0; round < 20000; round++) {
        if (round % 50 == 0) {
            redisReply *r = redisCommand(c, "DBSIZE");
            assert_non_null(r);
            in_redis = r->integer;
            freeReplyObject(r);
            if (in_redis >= N) break;
        }
        sess_store_get_wait(rs, "wb-probe", &st);
        sleep_ms(1);
    }
    assert_true(in_redis >= N);
    sess_store_stats_t s;
    sess_store_stats(rs, &s);
    assert_false(s.degraded);
    redisFree(c);
    sess_store_free(rs);
    sess_store_free(fb);
}

/* The workers of a process share one fallback table: one of them writes it
 * back (the holder of the shared token), not each of them; the others
 * skip, and the write-back's progress is in the stats
 * (tether_session_writeback_pending / _total). On main every worker pushed
 * every record (twice the work here, the duplicates refused by Redis). */
static void test_one_worker_writes_back_the_shared_records(void **state)
{
    TREDIS_NEED();
    enum { N = 3000 };
    sess_store_t *fb = sess_store_memory_new(NULL);
    sess_writeback_token_t tok = {0};
    sess_store_t *w[2];
    for (int i = 0; i < 2; i++) {
        sess_redis_opts_t o = {.address = tredis_srv.addr,
                               .key_prefix = "t8:",
                               .timeout_ms = 50,
                               .open_ms = 100,
                               .fallback = fb,
                               .writeback = &tok};
        char err[256];
        w[i] = sess_store_redis_open_sync(&o, err, sizeof err);
        assert_non_null(w[i]);
    }
    tredis_kill(&tredis_srv);
    uint64_t t = clock_wall_ms();
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            commit_at(w[i], "wb2-open", "m", t + (uint64_t)k);
    assert_true(sess_store_redis_is_degraded(w[0]) && sess_store_redis_is_degraded(w[1]));
    sess_state_t st = {0};
    snprintf(st.last_model, sizeof st.last_model, "m");
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "wb2-%d", i);
        st.created_at_ms = st.last_seen_ms = t + 10 + (uint64_t)i;
        sess_store_memory_put(fb, key, &st);
    }
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    sleep_ms(150);
    sess_store_stats_t s0, s1;
    uint64_t max_pending = 0;
    int left = N;
    for (int round = 0; round < 20000 && left > 0; round++) {
        sess_store_get_wait(w[round % 2], "wb2-probe", &st);
        sleep_ms(1);
        sess_store_stats(w[0], &s0);
        sess_store_stats(w[1], &s1);
        if (s0.writeback_pending + s1.writeback_pending > max_pending)
            max_pending = s0.writeback_pending + s1.writeback_pending;
        if (round % 50 == 0) {
            left = 0;
            for (int i = 0; i < N; i += 7) {
                char key[64];
                snprintf(key, sizeof key, "wb2-%d", i);
                if (sess_store_get_wait(fb, key, &st) == SESS_OK) left++;
            }
        }
    }
    assert_int_equal(left, 0);
    /* drain the last acknowledgements */
    for (int round = 0; round < 200; round++)
        sess_store_get_wait(w[round % 2], "wb2-probe", &st);
    sess_store_stats(w[0], &s0);
    sess_store_stats(w[1], &s1);
    assert_false(s0.degraded || s1.degraded);
    assert_true(max_pending > 0);
    assert_int_equal(s0.writeback_pending + s1.writeback_pending, 0);
    uint64_t pushed = s0.writeback_pushed + s1.writeback_pushed;
    /* every record once (+ the one committed locally, + at most a batch
     * still in flight when a second round collected), not once per worker */
    assert_true(pushed >= N);
    assert_true(pushed <= N + 1 + 64);
    assert_false(atomic_load(&tok.busy));
    for (int i = 0; i < 2; i++)
        sess_store_free(w[i]);
    sess_store_free(fb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_lua_commit_matches_memory_store),
        cmocka_unit_test(test_indexes_keys_and_ttls),
        cmocka_unit_test(test_concurrent_writers_lose_no_update),
        cmocka_unit_test(test_fingerprint_across_replicas),
        cmocka_unit_test(test_outage_falls_back_and_recovers),
        cmocka_unit_test(test_hung_server_is_bounded_by_timeout),
        cmocka_unit_test(test_write_back_of_many_records_converges),
        cmocka_unit_test(test_one_worker_writes_back_the_shared_records),
    };
    return cmocka_run_group_tests(tests, tredis_group_setup, tredis_group_teardown);
}
