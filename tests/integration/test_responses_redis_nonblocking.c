/* test_responses_redis_nonblocking.c - the Responses store never blocks a
 * worker's loop on Redis: with one worker, the Responses store on Redis
 * (timeout_ms 10 s) and the Redis server stopped (SIGSTOP), a GET
 * /v1/responses/{id} and a POST /v1/responses continuing a stored chain
 * wait for Redis, and meanwhile a GET /v1/models on the same worker is
 * answered while neither of them has answered yet (a blocking store would
 * hold the loop, so the models reply would come after theirs). Once Redis
 * runs again, both answer with their usual error shapes (404 not_found,
 * 400 previous_response_not_found). Fails (not skips) without
 * redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
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

static tproc_t tether;
static tredis_t redis;
static int port;
static char dir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tether-rnb-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    if (tredis_start(&redis, tsupport_free_port()) != 0) {
        fprintf(stderr, "redis-server is not installed or did not start (scripts/deps.sh)\n");
        return -1;
    }
    port = tsupport_free_port();
    char path[256];
    snprintf(path, sizeof path, "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: m1, endpoint: \"127.0.0.1:1\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n  stores:\n"
            "    responses: {backend: redis, redis: {address: \"127.0.0.1:%d\", "
            "key_prefix: \"nb:\", timeout_ms: 10000}}\n",
            port, redis.port);
    fclose(f);
    return tstack_serve_n(&tether, path, 1, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tproc_signal(&redis.proc, SIGCONT);
    int st = tproc_stop(&tether, 10000);
    tredis_stop(&redis, 5000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Bytes waiting on c's socket right now (no wait). */
static bool has_reply(const thttp_conn_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return c->in_len > 0 || poll(&p, 1, 0) > 0;
}

static void test_store_waits_without_holding_the_loop(void **state)
{
    (void)state;
    /* the worker's Redis connection is up before Redis stops */
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", port, "GET", "/v1/responses/resp_warm", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    thttp_resp_free(&r);

    assert_int_equal(tproc_signal(&redis.proc, SIGSTOP), 0);
    thttp_conn_t get, post;
    assert_int_equal(thttp_open(&get, "127.0.0.1", port, 30000), 0);
    assert_int_equal(thttp_open(&post, "127.0.0.1", port, 30000), 0);
    assert_int_equal(thttp_send_request(&get, "GET", "/v1/responses/resp_gone", NULL, NULL, 0), 0);
    static const char body[] = "{\"model\":\"m\",\"input\":\"hi\",\"previous_response_id\":"
                               "\"resp_000000000000000000000001\"}";
    assert_int_equal(
        thttp_send_request(&post, "POST", "/v1/responses", NULL, body, sizeof body - 1), 0);
    sleep_ms(300); /* both reach the worker and wait on Redis */

    /* the same (only) worker serves another request meanwhile */
    assert_int_equal(thttp_request("127.0.0.1", port, "GET", "/v1/models", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_false(has_reply(&get));
    assert_false(has_reply(&post));

    /* Redis back: both answer as before */
    assert_int_equal(tproc_signal(&redis.proc, SIGCONT), 0);
    assert_int_equal(thttp_read_response(&get, &r), 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"not_found\""));
    assert_non_null(strstr(r.body, "resp_gone"));
    thttp_resp_free(&r);
    assert_int_equal(thttp_read_response(&post, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"previous_response_not_found\""));
    thttp_resp_free(&r);
    thttp_close(&get);
    thttp_close(&post);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_waits_without_holding_the_loop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
