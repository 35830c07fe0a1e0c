/* test_response_store_redis.c - the Redis backend of the Responses store
 * against a real redis-server started by the test on a free loopback port:
 * put/get round trip of every field, the key layout {prefix}r:{id} with the
 * TTL as PX, delete, two store instances (two replicas) sharing one chain,
 * chain expansion through Redis, an expired key, a killed server falls back
 * to the local table and a restarted one is used again, a bad address.
 *
 * Skips (with a message) only when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/response_store.h"
#include "core/clock.h"
#include "proc.h"
#include "redis_server.h"
#include <hiredis/hiredis.h>
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

static rstore_t *open_store(const char *prefix, uint64_t ttl_ms)
{
    rstore_redis_opts_t o = {.address = tredis_srv.addr, .key_prefix = prefix, .timeout_ms = 200};
    char err[256] = "";
    rstore_t *s = rstore_new_redis(ttl_ms, 100, &o, err, sizeof err);
    assert_non_null(s);
    assert_true(rstore_is_redis(s));
    return s;
}

static void put_turn(rstore_t *s, const char *id, const char *prev, const char *user,
                     const char *answer)
{
    rstore_entry_t e = {0};
    snprintf(e.id, sizeof e.id, "%s", id);
    char in[256], out[256], resp[128];
    snprintf(in, sizeof in, "[{\"role\":\"user\",\"content\":\"%s\"}]", user);
    snprintf(out, sizeof out,
             "[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
             "\"text\":\"%s\"}]}]",
             answer);
    snprintf(resp, sizeof resp, "{\"id\":\"%s\",\"object\":\"response\"}", id);
    e.model = "model-a";
    e.session_key = "s|k|1";
    e.input = in;
    e.output = out;
    e.response = resp;
    e.previous_response_id = (char *)prev;
    e.instructions = "be brief"; /* the effective (inherited) instructions, as agent.c stores */
    e.created_at = 1700000000;
    rstore_put(s, &e, clock_wall_ms());
}

static void test_roundtrip_and_key_layout(void **state)
{
    (void)state;
    TREDIS_NEED();
    rstore_t *s = open_store("t1:", 60000);
    put_turn(s, "resp_a1", NULL, "hello \"quoted\"", "hi");
    rstore_entry_t *e = rstore_get(s, "resp_a1", clock_wall_ms());
    assert_non_null(e);
    assert_string_equal(e->id, "resp_a1");
    assert_string_equal(e->model, "model-a");
    assert_string_equal(e->session_key, "s|k|1");
    assert_string_equal(e->instructions, "be brief");
    assert_null(e->previous_response_id);
    assert_false(e->native);
    assert_int_equal(e->created_at, 1700000000);
    assert_string_equal(e->input, "[{\"role\":\"user\",\"content\":\"hello \"quoted\"\"}]");
    assert_non_null(strstr(e->response, "\"resp_a1\""));
    rstore_entry_free(e);
    /* nothing went to the local fallback table */
    assert_int_equal(rstore_count(s), 0);
    assert_int_equal(rstore_redis_failures(s), 0);

    redisContext *c = tredis_connect(&tredis_srv);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "GET t1:r:resp_a1");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "\"model\":\"model-a\""));
    freeReplyObject(r);
    r = redisCommand(c, "PTTL t1:r:resp_a1");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer > 0 && r->integer <= 60000);
    freeReplyObject(r);
    redisFree(c);

    assert_true(rstore_delete(s, "resp_a1"));
    assert_null(rstore_get(s, "resp_a1", clock_wall_ms()));
    assert_false(rstore_delete(s, "resp_a1"));
    rstore_free(s);
}

static void test_two_replicas_share_a_chain(void **state)
{
    (void)state;
    TREDIS_NEED();
    rstore_t *a = open_store("t2:", 0), *b = open_store("t2:", 0);
    put_turn(a, "resp_c1", NULL, "one", "first answer");
    put_turn(b, "resp_c2", "resp_c1", "two", "second answer");
    put_turn(a, "resp_c3", "resp_c2", "three", "third answer");
    cJSON *msgs = cJSON_CreateArray(), *items = cJSON_CreateArray();
    char *ins = NULL, *model = NULL;
    bool native = true;
    tr_warn_t w = {0};
    int n = rstore_chain(b, "resp_c3", clock_wall_ms(), msgs, items, &ins, &native, &model, &w);
    assert_int_equal(n, 3);
    assert_string_equal(ins, "be brief");
    assert_string_equal(model, "model-a");
    assert_false(native);
    assert_int_equal(cJSON_GetArraySize(msgs), 6);
    assert_int_equal(cJSON_GetArraySize(items), 6);
    char *t0 = cJSON_PrintUnformatted(cJSON_GetArrayItem(msgs, 0));
    char *t5 = cJSON_PrintUnformatted(cJSON_GetArrayItem(msgs, 5));
    assert_non_null(strstr(t0, "\"user\""));
    assert_non_null(strstr(t0, "one"));
    assert_non_null(strstr(t5, "\"assistant\""));
    assert_non_null(strstr(t5, "third answer"));
    free(t0);
    free(t5);
    free(ins);
    free(model);
    cJSON_Delete(msgs);
    cJSON_Delete(items);
    /* a deletion on one replica is seen by the other */
    assert_true(rstore_delete(a, "resp_c2"));
    assert_int_equal(
        rstore_chain(b, "resp_c3", clock_wall_ms(), NULL, NULL, NULL, NULL, NULL, NULL), -1);
    rstore_free(a);
    rstore_free(b);
}

static void test_ttl_expires_in_redis(void **state)
{
    (void)state;
    TREDIS_NEED();
    rstore_t *s = open_store("t3:", 100);
    put_turn(s, "resp_t1", NULL, "x", "y");
    rstore_entry_t *e = rstore_get(s, "resp_t1", clock_wall_ms());
    assert_non_null(e);
    rstore_entry_free(e);
    redisContext *c = tredis_connect(&tredis_srv);
    for (int i = 0; i < 200; i++) {
        redisReply *r = redisCommand(c, "EXISTS t3:r:resp_t1");
        long long x = r->integer;
        freeReplyObject(r);
        if (!x) break;
        sleep_ms(20);
    }
    redisFree(c);
    assert_null(rstore_get(s, "resp_t1", clock_wall_ms()));
    rstore_free(s);
}

static void test_killed_server_falls_back(void **state)
{
    (void)state;
    TREDIS_NEED();
    rstore_t *s = open_store("t4:", 0);
    put_turn(s, "resp_k1", NULL, "before", "ok");
    tredis_kill(&tredis_srv);
    /* Redis gone: the write lands in the local table and reads find it */
    put_turn(s, "resp_k2", "resp_k1", "during", "ok");
    assert_int_equal(rstore_count(s), 1);
    assert_true(rstore_redis_failures(s) > 0);
    rstore_entry_t *e = rstore_get(s, "resp_k2", clock_wall_ms());
    assert_non_null(e);
    assert_string_equal(e->previous_response_id, "resp_k1");
    rstore_entry_free(e);
    /* resp_k1 lived only in Redis: unreachable now */
    assert_null(rstore_get(s, "resp_k1", clock_wall_ms()));
    /* restarted (empty) server: used again after the back-off */
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    uint64_t t0 = clock_mono_ms();
    bool stored = false;
    while (!stored && clock_mono_ms() - t0 < 10000) {
        put_turn(s, "resp_k3", NULL, "after", "ok");
        redisContext *c = tredis_connect(&tredis_srv);
        redisReply *r = redisCommand(c, "EXISTS t4:r:resp_k3");
        stored = r->integer == 1;
        freeReplyObject(r);
        redisFree(c);
        if (!stored) sleep_ms(100);
    }
    assert_true(stored);
    /* the local copy written during the outage was dropped once Redis had it */
    e = rstore_get(s, "resp_k3", clock_wall_ms());
    assert_non_null(e);
    rstore_entry_free(e);
    assert_true(rstore_delete(s, "resp_k2")); /* local-only entry */
    assert_int_equal(rstore_count(s), 0);
    rstore_free(s);
}

static void test_bad_address(void **state)
{
    (void)state;
    rstore_redis_opts_t o = {.address = "127.0.0.1:notaport"};
    char err[256] = "";
    assert_null(rstore_new_redis(0, 10, &o, err, sizeof err));
    assert_non_null(strstr(err, "port"));
    /* an unreachable (but well-formed) address is not an error: memory serves */
    o.address = "127.0.0.1:1";
    o.timeout_ms = 50;
    rstore_t *s = rstore_new_redis(0, 10, &o, err, sizeof err);
    assert_non_null(s);
    put_turn(s, "resp_u1", NULL, "x", "y");
    rstore_entry_t *e = rstore_get(s, "resp_u1", clock_wall_ms());
    assert_non_null(e);
    rstore_entry_free(e);
    assert_int_equal(rstore_count(s), 1);
    rstore_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_key_layout),
        cmocka_unit_test(test_two_replicas_share_a_chain),
        cmocka_unit_test(test_ttl_expires_in_redis),
        cmocka_unit_test(test_killed_server_falls_back),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, tredis_group_setup, tredis_group_teardown);
}
