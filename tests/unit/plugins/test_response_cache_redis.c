/* test_response_cache_redis.c - the response cache's Redis backend against
 * a real redis-server that the test starts on a free loopback port (and
 * stops at the end): two caches ("replicas") sharing one Redis share exact
 * and semantic hits; the entry layout, prefix and TTL in Redis; a hit from
 * Redis fills the near cache; an index field whose entry expired is
 * dropped; a Redis that is down (or killed) is a counted miss / skipped
 * write and never an error; a malformed address is refused.
 *
 * Skips (with a message) only when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/yaml.h"
#include "plugins/response_cache.h"
#include "plugins/response_cache_redis.h"
#include "proc.h"
#include "redis_server.h"
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <math.h>
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

static long long cmd_int(const char *fmt, const char *arg)
{
    redisContext *c = tredis_connect(&tredis_srv);
    assert_non_null(c);
    redisReply *r = redisCommand(c, fmt, arg);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void flushall(void)
{
    redisContext *c = tredis_connect(&tredis_srv);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "FLUSHALL");
    freeReplyObject(r);
    redisFree(c);
}

/* ---- one "replica": a cache and one request's key ---- */

typedef struct fx {
    arena_t a;
    cfg_plugin_t plugin;
    cfg_decision_t dec;
    rc_cache_t *c;
    jreq_t jr;
    rc_key_in_t in;
    rc_key_t k;
    bool has_key;
} fx_t;

static const cfg_node_t *yaml(arena_t *a, const char *y)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    const cfg_node_t *n = cfg_yaml_parse(a, "t", y, strlen(y), &d);
    assert_int_equal(d.n_errors, 0);
    cfg_diags_free(&d);
    return n;
}

static void fx_init_at(fx_t *f, const char *conf, const char *address, int64_t ttl)
{
    memset(f, 0, sizeof *f);
    arena_init(&f->a, 4096);
    f->plugin = (cfg_plugin_t){"response_cache", conf ? yaml(&f->a, conf) : NULL};
    f->dec = (cfg_decision_t){.name = "d1", .plugins = &f->plugin, .n_plugins = 1};
    rc_opts_t o = {.max_entries = 100, .ttl_seconds = ttl, .max_entry_bytes = 1 << 20};
    rc_redis_opts_t ro = {.address = address, .key_prefix = "t:", .timeout_ms = 200};
    char err[256];
    f->c = rc_cache_new_redis(&o, &ro, err, sizeof err);
    assert_non_null(f->c);
}

static void fx_init(fx_t *f, const char *conf)
{
    fx_init_at(f, conf, tredis_srv.addr, 3600);
}

static void fx_deinit(fx_t *f)
{
    if (f->has_key) rc_key_deinit(&f->k);
    rc_cache_free(f->c);
    arena_deinit(&f->a);
}

static int key(fx_t *f, const char *body)
{
    if (f->has_key) rc_key_deinit(&f->k);
    memset(&f->jr, 0, sizeof f->jr);
    assert_int_equal(jscan_request(body, strlen(body), &f->a, &f->jr, NULL), 0);
    f->in.decision = &f->dec;
    f->in.body = body;
    f->in.body_len = strlen(body);
    f->in.jr = &f->jr;
    f->in.now_ms = 1000;
    f->in.tenant = "tenant-a";
    f->has_key = true;
    return rc_key_init(&f->k, f->c, &f->in);
}

static const char *REPLY =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"m1\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Paris.\"},"
    "\"finish_reason\":\"stop\"}]}";

static rc_store_result_t store(fx_t *f, const char *body)
{
    assert_int_equal(key(f, body), 0);
    rc_response_t r = {.status = 200, .body = REPLY, .len = strlen(REPLY), .complete = true};
    return rc_store(f->c, &f->k, &r);
}

/* Look up body; on a hit the body must be REPLY. */
static int lookup(fx_t *f, const char *body, double *sim)
{
    assert_int_equal(key(f, body), 0);
    rc_hit_t h;
    int kind = rc_lookup(f->c, &f->k, &h);
    if (kind) {
        assert_int_equal(h.len, strlen(REPLY));
        assert_memory_equal(h.body, REPLY, h.len);
        assert_int_equal(h.proto, RQ_PROTO_CHAT);
        if (sim) *sim = h.similarity;
    }
    rc_hit_free(&h);
    return kind;
}

static const char *body_q(char *b, size_t cap, const char *sys, const char *q)
{
    snprintf(b, cap,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
             "{\"role\":\"user\",\"content\":\"%s\"}]}",
             sys, q);
    return b;
}

static int toy_embed(void *ctx, const char *t, size_t n, float *out)
{
    static const struct {
        const char *text;
        double deg;
    } known[] = {
        {"What is the capital of France?", 0},
        {"what's the capital of France", 20}, /* cos 0.940 */
        {"capital of France, please", 25},    /* cos 0.906 */
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].text) == n && memcmp(known[i].text, t, n) == 0) {
            out[0] = (float)cos(known[i].deg * M_PI / 180);
            out[1] = (float)sin(known[i].deg * M_PI / 180);
            return 0;
        }
    return -1;
}

/* The exact key of the last key() as the Redis key. */
static void redis_key(const fx_t *f, char *out, size_t cap)
{
    snprintf(out, cap, "t:rc:%016llx%016llx", (unsigned long long)f->k.exact[0],
             (unsigned long long)f->k.exact[1]);
}

static void test_replicas_share_exact_hits(void **st)
{
    TREDIS_NEED();
    flushall();
    fx_t a, b;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    char q[512];
    body_q(q, sizeof q, "be brief", "What is the capital of France?");
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    assert_int_equal(store(&a, q), RC_STORED);
    /* the entry is in Redis under the prefix, with the TTL */
    char k[128];
    redis_key(&a, k, sizeof k);
    assert_int_equal(cmd_int("EXISTS %s", k), 1);
    long long pttl = cmd_int("PTTL %s", k);
    assert_true(pttl > 3000000 && pttl <= 3600000);
    /* the other replica hits it from Redis, then from its near cache */
    assert_int_equal(lookup(&b, q, NULL), RC_HIT_EXACT);
    rc_stats_t s;
    rc_stats(b.c, &s);
    assert_int_equal(s.remote_hits, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(lookup(&b, q, NULL), RC_HIT_EXACT);
    rc_stats(b.c, &s);
    assert_int_equal(s.remote_hits, 1);
    assert_int_equal(s.remote_errors, 0);
    /* another question misses on both */
    body_q(q, sizeof q, "be brief", "Tell me a joke");
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    rc_stats(a.c, &s);
    assert_int_equal(s.remote_writes, 1);
    fx_deinit(&a);
    fx_deinit(&b);
}

static void test_no_ttl_means_no_expiry(void **st)
{
    TREDIS_NEED();
    flushall();
    fx_t a;
    fx_init_at(&a, NULL, tredis_srv.addr, 0);
    char q[512];
    assert_int_equal(store(&a, body_q(q, sizeof q, "s", "hello")), RC_STORED);
    char k[128];
    redis_key(&a, k, sizeof k);
    assert_int_equal(cmd_int("PTTL %s", k), -1);
    fx_deinit(&a);
    /* the plugin's ttl_seconds wins over the store's */
    fx_init(&a, "{ttl_seconds: 60}");
    assert_int_equal(store(&a, body_q(q, sizeof q, "s", "hello")), RC_STORED);
    redis_key(&a, k, sizeof k);
    long long pttl = cmd_int("PTTL %s", k);
    assert_true(pttl > 0 && pttl <= 60000);
    fx_deinit(&a);
}

static void test_replicas_share_semantic_hits(void **st)
{
    TREDIS_NEED();
    flushall();
    const char *conf = "{mode: exact_then_semantic, semantic: {similarity_threshold: 0.92}}";
    sel_embedder_t e = {toy_embed, 2, NULL};
    fx_t a, b;
    fx_init(&a, conf);
    fx_init(&b, conf);
    rc_cache_set_embedder(a.c, &e);
    rc_cache_set_embedder(b.c, &e);
    char q[512];
    assert_int_equal(store(&a, body_q(q, sizeof q, "be brief", "What is the capital of France?")),
                     RC_STORED);
    char ik[64];
    snprintf(ik, sizeof ik, "t:rcx:%016llx", (unsigned long long)a.k.ctx);
    assert_int_equal(cmd_int("HLEN %s", ik), 1);
    assert_true(cmd_int("PTTL %s", ik) > 0);
    double sim = 0;
    assert_int_equal(
        lookup(&b, body_q(q, sizeof q, "be brief", "what's the capital of France"), &sim),
        RC_HIT_SEMANTIC);
    assert_true(sim > 0.93 && sim < 0.95);
    /* below the threshold, or another context: misses */
    assert_int_equal(lookup(&b, body_q(q, sizeof q, "be brief", "capital of France, please"), NULL),
                     RC_MISS);
    assert_int_equal(
        lookup(&b, body_q(q, sizeof q, "be verbose", "what's the capital of France"), NULL),
        RC_MISS);
    /* the near cache kept the embedding: a second replica-b lookup of a
     * similar question is answered locally once Redis loses the entry */
    char k[128];
    key(&a, body_q(q, sizeof q, "be brief", "What is the capital of France?"));
    redis_key(&a, k, sizeof k);
    assert_int_equal(cmd_int("DEL %s", k), 1);
    assert_int_equal(
        lookup(&b, body_q(q, sizeof q, "be brief", "what's the capital of France"), NULL),
        RC_HIT_SEMANTIC);
    /* a fresh replica finds only the dangling index field, and drops it */
    fx_t c;
    fx_init(&c, conf);
    rc_cache_set_embedder(c.c, &e);
    assert_int_equal(
        lookup(&c, body_q(q, sizeof q, "be brief", "what's the capital of France"), NULL), RC_MISS);
    assert_int_equal(cmd_int("HLEN %s", ik), 0);
    rc_stats_t s;
    rc_stats(c.c, &s);
    assert_int_equal(s.remote_errors, 0);
    fx_deinit(&a);
    fx_deinit(&b);
    fx_deinit(&c);
}

static void test_redis_down_is_a_miss(void **st)
{
    TREDIS_NEED();
    /* nothing listens on this port */
    char dead[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", tsupport_free_port());
    fx_t a, b;
    fx_init_at(&a, NULL, dead, 3600);
    fx_init_at(&b, NULL, dead, 3600);
    char q[512];
    body_q(q, sizeof q, "s", "What is the capital of France?");
    /* the write to Redis is skipped; the near cache still keeps it */
    assert_int_equal(store(&a, q), RC_STORED);
    assert_int_equal(lookup(&a, q, NULL), RC_HIT_EXACT);
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    rc_stats_t s;
    rc_stats(a.c, &s);
    assert_int_equal(s.remote_errors, 1);
    assert_int_equal(s.remote_writes, 0);
    rc_stats(b.c, &s);
    assert_int_equal(s.remote_errors, 2);
    assert_int_equal(s.misses, 2);
    fx_deinit(&a);
    fx_deinit(&b);
}

static void test_killed_redis_then_restart(void **st)
{
    TREDIS_NEED();
    flushall();
    fx_t a, b;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    char q[512];
    body_q(q, sizeof q, "s", "first question");
    assert_int_equal(store(&a, q), RC_STORED); /* a pooled connection now exists */
    tredis_kill(&tredis_srv);
    /* the pooled connection fails, then connects fail: misses, no errors */
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    body_q(q, sizeof q, "s", "second question");
    assert_int_equal(store(&a, q), RC_STORED);
    assert_int_equal(lookup(&b, q, NULL), RC_MISS);
    rc_stats_t s;
    rc_stats(b.c, &s);
    assert_int_equal(s.remote_errors, 2);
    /* back up: after the down interval the caches use it again */
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    sleep_ms(600);
    body_q(q, sizeof q, "s", "third question");
    assert_int_equal(store(&a, q), RC_STORED);
    rc_stats(a.c, &s);
    assert_int_equal(s.remote_writes, 2);
    assert_int_equal(lookup(&b, q, NULL), RC_HIT_EXACT);
    fx_deinit(&a);
    fx_deinit(&b);
}

/* ---- on an event loop (what a worker does) ---- */

typedef struct got {
    int calls, kind;
} got_t;

static void on_lookup(void *ud, int kind)
{
    got_t *g = ud;
    g->calls++;
    g->kind = kind;
}

/* Run the loop until the callback has run n times in all. */
static void run_until(struct event_base *evb, const got_t *g, int n)
{
    for (int i = 0; i < 2000 && g->calls < n; i++)
        event_base_loop(evb, EVLOOP_ONCE);
}

/* With a loop, a store is written without waiting and a near-cache miss
 * asks Redis on that loop: rc_lookup_async returns RC_PENDING, and the
 * callback brings the hit (copied into the near cache: the next lookup
 * answers at once). A Redis that refuses at once (the circuit open after
 * a failure) is a miss reported by the call itself, never through the
 * callback inside it. */
static void test_lookup_and_store_on_a_loop(void **st)
{
    TREDIS_NEED();
    flushall();
    struct event_base *evb = event_base_new();
    fx_t a, b;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    a.in.evb = b.in.evb = evb;
    char q[512];
    body_q(q, sizeof q, "s", "What is the capital of Spain?");
    assert_int_equal(store(&a, q), RC_STORED);
    rc_stats_t s;
    rc_stats(a.c, &s);
    assert_int_equal(s.remote_writes, 0); /* sent, not yet acknowledged */
    for (int i = 0; i < 2000 && !s.remote_writes; i++) {
        event_base_loop(evb, EVLOOP_ONCE);
        rc_stats(a.c, &s);
    }
    assert_int_equal(s.remote_writes, 1);

    assert_int_equal(key(&b, q), 0);
    got_t g = {0};
    rc_hit_t h;
    assert_int_equal(rc_lookup_async(b.c, &b.k, &h, evb, on_lookup, &g), RC_PENDING);
    assert_int_equal(g.calls, 0);
    run_until(evb, &g, 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.kind, RC_HIT_EXACT);
    assert_int_equal(h.len, strlen(REPLY));
    assert_memory_equal(h.body, REPLY, h.len);
    rc_hit_free(&h);
    assert_int_equal(key(&b, q), 0);
    assert_int_equal(rc_lookup_async(b.c, &b.k, &h, evb, on_lookup, &g), RC_HIT_EXACT);
    rc_hit_free(&h);
    assert_int_equal(g.calls, 1);

    /* a miss in Redis too */
    body_q(q, sizeof q, "s", "What is the capital of Peru?");
    assert_int_equal(key(&b, q), 0);
    assert_int_equal(rc_lookup_async(b.c, &b.k, &h, evb, on_lookup, &g), RC_PENDING);
    run_until(evb, &g, 2);
    assert_int_equal(g.calls, 2);
    assert_int_equal(g.kind, RC_MISS);
    rc_hit_free(&h);
    fx_deinit(&a);
    fx_deinit(&b);

    /* nothing listens: the first lookup fails (on the loop), which opens
     * the circuit; the next is refused at once and reported by the call */
    char dead[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", tsupport_free_port());
    fx_init_at(&b, NULL, dead, 3600);
    b.in.evb = evb;
    assert_int_equal(key(&b, q), 0);
    got_t g2 = {0};
    int k1 = rc_lookup_async(b.c, &b.k, &h, evb, on_lookup, &g2);
    if (k1 == RC_PENDING) run_until(evb, &g2, 1);
    rc_hit_free(&h);
    assert_int_equal(key(&b, q), 0);
    got_t g3 = {0};
    assert_int_equal(rc_lookup_async(b.c, &b.k, &h, evb, on_lookup, &g3), RC_MISS);
    assert_int_equal(g3.calls, 0);
    rc_hit_free(&h);
    rc_stats(b.c, &s);
    assert_int_equal(s.remote_errors, 2);
    assert_int_equal(s.misses, 2);
    fx_deinit(&b);
    event_base_free(evb);
}

static void test_bad_address(void **st)
{
    rc_opts_t o = {.max_entries = 10, .ttl_seconds = 10, .max_entry_bytes = 1000};
    rc_redis_opts_t ro = {.address = "127.0.0.1:notaport"};
    char err[256] = "";
    assert_null(rc_cache_new_redis(&o, &ro, err, sizeof err));
    assert_non_null(strstr(err, "bad port"));
    ro.address = ":6379";
    assert_null(rc_cache_new_redis(&o, &ro, err, sizeof err));
    ro.address = "unix:/nonexistent/redis.sock";
    rc_cache_t *c = rc_cache_new_redis(&o, &ro, err, sizeof err);
    assert_non_null(c);
    rc_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_share_exact_hits),
        cmocka_unit_test(test_no_ttl_means_no_expiry),
        cmocka_unit_test(test_replicas_share_semantic_hits),
        cmocka_unit_test(test_redis_down_is_a_miss),
        cmocka_unit_test(test_killed_redis_then_restart),
        cmocka_unit_test(test_lookup_and_store_on_a_loop),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, tredis_group_setup, tredis_group_teardown);
}
