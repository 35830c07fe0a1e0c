/* test_response_cache_redis_nonblocking.c - the response cache never
 * blocks a worker's loop on Redis: with one worker, the response cache on
 * Redis (timeout_ms 10 s) and the Redis server stopped (SIGSTOP), a chat
 * request and a Messages request whose decision has a response_cache
 * plugin wait for Redis's answer to their lookup, and meanwhile a GET
 * /v1/models on the same worker is answered while neither of them has
 * answered yet (a blocking lookup would hold the loop, so the models reply
 * would come after theirs). Once Redis runs again, both are misses served
 * by the backend as usual, and an identical request is then a hit, written
 * to Redis and read back from it by a second replica. Fails (not skips)
 * without redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "stack.h"
#include "redis_server.h"
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tproc_t mock, r1, r2;
static tredis_t redis;
static int mport, p1, p2;
static char dir[128];

static int write_config(const char *path, int port)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 60s}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "  decisions:\n"
            "    - name: faq\n      modelRefs: [{model: m}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: exact, scope: "
            "global}}]\n"
            "global:\n  stores:\n    response_cache:\n      backend: redis\n"
            "      redis: {address: \"127.0.0.1:%d\", key_prefix: \"nbc:\", timeout_ms: 10000}\n",
            port, mport, redis.port);
    fclose(f);
    return 0;
}

static int start_router(tproc_t *p, int *port, const char *name)
{
    *port = tsupport_free_port();
    char path[256];
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    if (write_config(path, *port) != 0) return -1;
    return tstack_serve_n(p, path, 1, 10000) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tether-rcnb-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    if (tredis_start(&redis, tsupport_free_port()) != 0) {
        fprintf(stderr, "redis-server is not installed or did not start (scripts/deps.sh)\n");
        return -1;
    }
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    if (start_router(&r1, &p1, "r1") != 0) return -1;
    return start_router(&r2, &p2, "r2");
}

static int teardown(void **state)
{
    (void)state;
    tproc_signal(&redis.proc, SIGCONT);
    int st1 = tproc_stop(&r1, 10000);
    int st2 = tproc_stop(&r2, 10000);
    tproc_stop(&mock, 5000);
    tredis_stop(&redis, 5000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return -1;
    return WIFEXITED(st1) && WEXITSTATUS(st1) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0 ? 0
                                                                                              : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Exact cache entries in Redis (nbc:rc:*), -1 when it cannot be asked. A
 * store is sent without waiting for it (docs/decisions.md): a test that
 * needs an entry in Redis waits for it, bounded. */
static long redis_entries(void)
{
    redisContext *c = tredis_connect(&redis);
    redisReply *rp = c ? redisCommand(c, "KEYS nbc:rc:*") : NULL;
    long n = rp && rp->type == REDIS_REPLY_ARRAY ? (long)rp->elements : -1;
    if (rp) freeReplyObject(rp);
    if (c) redisFree(c);
    return n;
}

/* Bytes waiting on c's socket right now (no wait). */
static bool has_reply(const thttp_conn_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return c->in_len > 0 || poll(&p, 1, 0) > 0;
}

static const char chat[] = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                           "\"what are the opening hours?\"}]}";
static const char msgs[] = "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
                           "\"content\":\"where are the tide tables?\"}]}";

/* A response header's value (a missing one fails, naming it). */
static void assert_header(const thttp_resp_t *r, const char *name, const char *want)
{
    const char *v = thttp_resp_header(r, name);
    if (!v) fail_msg("no %s header (want %s)", name, want);
    assert_string_equal(v, want);
}

static void post(int port, const char *path, const char *body, thttp_resp_t *r)
{
    assert_int_equal(thttp_request("127.0.0.1", port, "POST", path, NULL, body, strlen(body), r),
                     0);
    if (r->status != 200) fail_msg("%s: status %d body %s", path, r->status, r->body);
}

static void test_lookup_waits_without_holding_the_loop(void **state)
{
    (void)state;
    /* the worker's Redis connection is up before Redis stops */
    thttp_resp_t r;
    const char warm[] =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"warm\"}]}";
    post(p1, "/v1/chat/completions", warm, &r);
    thttp_resp_free(&r);
    long warm_entries = 0; /* the warm reply's write reached Redis */
    assert_true(TPOLL_UNTIL((warm_entries = redis_entries()) >= 1, TPOLL_MS));

    assert_int_equal(tproc_signal(&redis.proc, SIGSTOP), 0);
    thttp_conn_t c1, c2;
    assert_int_equal(thttp_open(&c1, "127.0.0.1", p1, 30000), 0);
    assert_int_equal(thttp_open(&c2, "127.0.0.1", p1, 30000), 0);
    assert_int_equal(
        thttp_send_request(&c1, "POST", "/v1/chat/completions", NULL, chat, sizeof chat - 1), 0);
    assert_int_equal(thttp_send_request(&c2, "POST", "/v1/messages", NULL, msgs, sizeof msgs - 1),
                     0);
    sleep_ms(300); /* both reach the worker and wait on Redis */

    /* the same (only) worker serves another request meanwhile */
    assert_int_equal(thttp_request("127.0.0.1", p1, "GET", "/v1/models", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_false(has_reply(&c1));
    assert_false(has_reply(&c2));

    /* Redis back: both are misses, served by the backend */
    assert_int_equal(tproc_signal(&redis.proc, SIGCONT), 0);
    assert_int_equal(thttp_read_response(&c1, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    assert_non_null(strstr(r.body, "\"choices\""));
    thttp_resp_free(&r);
    assert_int_equal(thttp_read_response(&c2, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(thttp_resp_header(&r, "x-tether-cache-hit"));
    assert_non_null(strstr(r.body, "\"content\""));
    thttp_resp_free(&r);
    thttp_close(&c1);
    thttp_close(&c2);

    /* their replies were written to Redis from the worker's loop: the
     * other replica (its own near cache empty) reads them from there */
    assert_true(TPOLL_UNTIL(redis_entries() >= warm_entries + 2, TPOLL_MS));
    post(p2, "/v1/chat/completions", chat, &r);
    assert_header(&r, "x-tether-cache-hit", "exact");
    thttp_resp_free(&r);
    post(p2, "/v1/messages", msgs, &r);
    assert_header(&r, "x-tether-cache-hit", "exact");
    thttp_resp_free(&r);
}

/* A client that leaves while its lookup waits on Redis: the worker ends
 * the request when Redis answers, and goes on serving. */
static void test_client_leaving_during_the_lookup(void **state)
{
    (void)state;
    assert_int_equal(tproc_signal(&redis.proc, SIGSTOP), 0);
    static const char body[] = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"a question nobody waits for\"}]}";
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", p1, 30000), 0);
    assert_int_equal(
        thttp_send_request(&c, "POST", "/v1/chat/completions", NULL, body, sizeof body - 1), 0);
    sleep_ms(300);
    thttp_close(&c);
    sleep_ms(100);
    assert_int_equal(tproc_signal(&redis.proc, SIGCONT), 0);
    sleep_ms(300);
    thttp_resp_t r;
    post(p1, "/v1/chat/completions", chat, &r);
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_waits_without_holding_the_loop),
        cmocka_unit_test(test_client_leaving_during_the_lookup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
