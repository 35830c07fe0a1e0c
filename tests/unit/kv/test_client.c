/* test_client.c - the Redis layer (kv/client.h) against a real
 * redis-server started by the test: every address form the parser accepts
 * (and the ones it refuses), a command round trip, SELECT of the configured
 * db, AUTH (a wrong password fails and opens the circuit, the right one
 * works), a stopped server (SIGSTOP) times commands out and opens the
 * circuit, after which commands are refused inline, a killed and restarted
 * server is reconnected through the probe, and EVALSHA falls back to EVAL
 * after SCRIPT FLUSH.
 *
 * Skips the server cases (with a message) only when redis-server is not
 * installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "kv/client.h"
#include "proc.h"
#include "redis_server.h"
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- addresses ---- */

static void parses(const char *in, const char *host, int port, const char *path)
{
    kv_addr_t a;
    char err[256] = "";
    assert_true(kv_addr_parse(&a, in, err, sizeof err));
    if (path) {
        assert_non_null(a.unix_path);
        assert_string_equal(a.unix_path, path);
    } else {
        assert_null(a.unix_path);
        assert_string_equal(a.host, host);
        assert_int_equal(a.port, port);
    }
    kv_addr_deinit(&a);
}

static void refuses(const char *in, const char *what)
{
    kv_addr_t a;
    char err[256] = "";
    assert_false(kv_addr_parse(&a, in, err, sizeof err));
    assert_non_null(strstr(err, what));
}

static void test_address_forms(void **state)
{
    (void)state;
    parses(NULL, "127.0.0.1", 6379, NULL);
    parses("", "127.0.0.1", 6379, NULL);
    parses("10.0.0.7:6380", "10.0.0.7", 6380, NULL);
    parses("redis.internal", "redis.internal", 6379, NULL);
    parses("redis://cache:7000", "cache", 7000, NULL);
    parses("redis://cache:7000/2", "cache", 7000, NULL); /* the db is its own setting */
    parses("unix:/run/redis.sock", NULL, 0, "/run/redis.sock");
    parses("redis://unix:/run/redis.sock", NULL, 0, "/run/redis.sock");
    refuses("127.0.0.1:notaport", "bad port");
    refuses("127.0.0.1:0", "bad port");
    refuses("127.0.0.1:70000", "bad port");
    refuses(":6379", "expected host:port");
    refuses("rediss://cache:6380", "TLS");
}

/* ---- a loop to wait on ---- */

typedef struct res {
    int n;
    kv_status_t st;
    long long integer;
    char str[64];
} res_t;

static bool on_res(void *ud, kv_status_t st, redisReply *r)
{
    res_t *x = ud;
    x->n++;
    x->st = st;
    if (r && r->type == REDIS_REPLY_INTEGER) x->integer = r->integer;
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
              r->type == REDIS_REPLY_ERROR))
        snprintf(x->str, sizeof x->str, "%s", r->str);
    return st == KV_OK;
}

static void run_until(struct event_base *b, const res_t *x, int n)
{
    uint64_t t0 = clock_mono_ms();
    while (x->n < n && clock_mono_ms() - t0 < 5000)
        event_base_loop(b, EVLOOP_ONCE);
    assert_int_equal(x->n, n);
}

static void cmd(kv_t *c, res_t *x, const char *a0, const char *a1, const char *a2)
{
    const char *argv[] = {a0, a1, a2};
    size_t lens[] = {strlen(a0), a1 ? strlen(a1) : 0, a2 ? strlen(a2) : 0};
    kv_cmd(c, on_res, x, a2 ? 3 : a1 ? 2 : 1, argv, lens);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_round_trip_and_db_select(void **state)
{
    (void)state;
    TREDIS_NEED();
    struct event_base *b = event_base_new();
    kv_opts_t o = {.address = tredis_srv.addr, .db = 3, .timeout_ms = 500};
    char err[256];
    kv_t *c = kv_new(b, &o, err, sizeof err);
    assert_non_null(c);
    res_t x = {0};
    cmd(c, &x, "SET", "kv:db", "three");
    run_until(b, &x, 1);
    assert_int_equal(x.st, KV_OK);
    cmd(c, &x, "GET", "kv:db", NULL);
    run_until(b, &x, 2);
    assert_string_equal(x.str, "three");
    /* it went to db 3, not db 0 */
    redisContext *rc = tredis_connect(&tredis_srv);
    redisReply *r = redisCommand(rc, "EXISTS kv:db");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    r = redisCommand(rc, "SELECT 3");
    freeReplyObject(r);
    r = redisCommand(rc, "GET kv:db");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "three");
    freeReplyObject(r);
    redisFree(rc);
    assert_false(kv_is_degraded(c));
    assert_int_equal(kv_failures(c), 0);
    kv_free(c);
    event_base_free(b);
}

static void test_auth(void **state)
{
    (void)state;
    TREDIS_NEED();
    redisContext *rc = tredis_connect(&tredis_srv);
    freeReplyObject(redisCommand(rc, "CONFIG SET requirepass s3cret"));
    struct event_base *b = event_base_new();
    char err[256];
    /* a wrong password: every command fails, and the circuit opens */
    kv_opts_t o = {.address = tredis_srv.addr,
                   .password = "wrong",
                   .timeout_ms = 500,
                   .failures_to_open = 2,
                   .open_ms = 60000};
    kv_t *c = kv_new(b, &o, err, sizeof err);
    res_t x = {0};
    cmd(c, &x, "PING", NULL, NULL);
    run_until(b, &x, 1);
    assert_int_equal(x.st, KV_EREPLY);
    cmd(c, &x, "PING", NULL, NULL);
    run_until(b, &x, 2);
    assert_int_equal(x.st, KV_EREPLY);
    assert_true(kv_is_degraded(c));
    cmd(c, &x, "PING", NULL, NULL); /* refused inline */
    assert_int_equal(x.n, 3);
    assert_int_equal(x.st, KV_EOPEN);
    kv_free(c);
    /* the right one */
    o.password = "s3cret";
    c = kv_new(b, &o, err, sizeof err);
    res_t y = {0};
    cmd(c, &y, "PING", NULL, NULL);
    run_until(b, &y, 1);
    assert_int_equal(y.st, KV_OK);
    assert_string_equal(y.str, "PONG");
    kv_free(c);
    event_base_free(b);
    freeReplyObject(redisCommand(rc, "AUTH s3cret"));
    freeReplyObject(redisCommand(rc, "CONFIG SET requirepass %s", ""));
    redisFree(rc);
}

static void test_timeout_opens_the_circuit(void **state)
{
    (void)state;
    TREDIS_NEED();
    struct event_base *b = event_base_new();
    kv_opts_t o = {
        .address = tredis_srv.addr, .timeout_ms = 50, .failures_to_open = 2, .open_ms = 60000};
    char err[256];
    kv_t *c = kv_new(b, &o, err, sizeof err);
    res_t x = {0};
    cmd(c, &x, "PING", NULL, NULL);
    run_until(b, &x, 1);
    assert_int_equal(x.st, KV_OK);
    kill(tredis_srv.proc.pid, SIGSTOP); /* connected, but no answer */
    cmd(c, &x, "PING", NULL, NULL);
    run_until(b, &x, 2);
    assert_int_equal(x.st, KV_ETIMEOUT);
    assert_false(kv_is_degraded(c));
    cmd(c, &x, "PING", NULL, NULL);
    run_until(b, &x, 3);
    assert_int_equal(x.st, KV_ETIMEOUT);
    assert_true(kv_is_degraded(c));
    assert_int_equal(kv_failures(c), 2);
    assert_int_equal(kv_transitions(c), 1);
    cmd(c, &x, "PING", NULL, NULL);
    assert_int_equal(x.n, 4); /* inline: nothing is sent while open */
    assert_int_equal(x.st, KV_EOPEN);
    kill(tredis_srv.proc.pid, SIGCONT);
    kv_free(c);
    event_base_free(b);
}

static void test_reconnects_after_a_restart(void **state)
{
    (void)state;
    TREDIS_NEED();
    struct event_base *b = event_base_new();
    kv_opts_t o = {
        .address = tredis_srv.addr, .timeout_ms = 200, .failures_to_open = 1, .open_ms = 100};
    char err[256];
    kv_t *c = kv_new(b, &o, err, sizeof err);
    res_t x = {0};
    cmd(c, &x, "SET", "kv:r", "1");
    run_until(b, &x, 1);
    assert_int_equal(x.st, KV_OK);
    tredis_kill(&tredis_srv);
    cmd(c, &x, "GET", "kv:r", NULL);
    run_until(b, &x, 2);
    assert_true(x.st == KV_ECONN || x.st == KV_ETIMEOUT);
    assert_true(kv_is_degraded(c));
    assert_int_equal(tredis_start(&tredis_srv, tredis_srv.port), 0);
    /* after the open interval a command starts the probe; once it answers,
     * commands go through the new connection */
    uint64_t t0 = clock_mono_ms();
    int n = x.n;
    while (clock_mono_ms() - t0 < 5000) {
        cmd(c, &x, "PING", NULL, NULL);
        run_until(b, &x, ++n);
        if (x.st == KV_OK) break;
        sleep_ms(20);
        event_base_loop(b, EVLOOP_NONBLOCK);
    }
    assert_int_equal(x.st, KV_OK);
    assert_false(kv_is_degraded(c));
    assert_int_equal(kv_transitions(c), 2);
    kv_free(c);
    event_base_free(b);
}

static void test_evalsha_falls_back_to_eval(void **state)
{
    (void)state;
    TREDIS_NEED();
    static const char *const scripts[] = {"return tonumber(ARGV[1]) + 1"};
    struct event_base *b = event_base_new();
    kv_opts_t o = {
        .address = tredis_srv.addr, .timeout_ms = 500, .scripts = scripts, .n_scripts = 1};
    char err[256];
    kv_t *c = kv_new(b, &o, err, sizeof err);
    res_t x = {0};
    const char *argv[] = {"0", "41"};
    size_t lens[] = {1, 2};
    kv_eval(c, 0, on_res, &x, 2, argv, lens);
    run_until(b, &x, 1);
    assert_int_equal(x.st, KV_OK);
    assert_int_equal(x.integer, 42);
    redisContext *rc = tredis_connect(&tredis_srv);
    freeReplyObject(redisCommand(rc, "SCRIPT FLUSH"));
    redisFree(rc);
    argv[1] = "99";
    kv_eval(c, 0, on_res, &x, 2, argv, lens);
    run_until(b, &x, 2);
    assert_int_equal(x.st, KV_OK);
    assert_int_equal(x.integer, 100);
    assert_int_equal(kv_failures(c), 0);
    kv_free(c);
    event_base_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_forms),
        cmocka_unit_test(test_round_trip_and_db_select),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_timeout_opens_the_circuit),
        cmocka_unit_test(test_reconnects_after_a_restart),
        cmocka_unit_test(test_evalsha_falls_back_to_eval),
    };
    return cmocka_run_group_tests(tests, tredis_group_setup, tredis_group_teardown);
}
