/* test_responses_redis.c - two `tether serve` replicas sharing one Redis
 * (global.stores.responses.backend: redis) serve one Responses conversation
 * whose turns alternate between them: each turn's previous_response_id was
 * stored by the other replica, the chain is expanded from Redis (the strict
 * mock sees a consistent history: zero violations), GET and input_items
 * answer on either replica, a DELETE on one is seen by the other, and the
 * keys are {prefix}r:{id} in Redis. Fails (not skips) without redis-server,
 * like test_sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include "redis_server.h"
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, rep[2];
static tredis_t redis;
static int mport, ports[2];
static char dir[128];

static int start_replica(int i)
{
    ports[i] = tsupport_free_port();
    char path[256];
    snprintf(path, sizeof path, "%s/r%d.yaml", dir, i);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: m1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "global:\n  stores:\n"
            "    session: {backend: redis, redis: {address: \"127.0.0.1:%d\", timeout_ms: 1000}}\n"
            "    responses: {backend: redis, ttl_seconds: 600, redis: {address: \"127.0.0.1:%d\", "
            "key_prefix: \"rt:\", timeout_ms: 1000}}\n",
            ports[i], mport, redis.port, redis.port);
    fclose(f);
    return tstack_serve_n(&rep[i], path, 1, 10000) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tether-rredis-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    if (tredis_start(&redis, tsupport_free_port()) != 0) {
        fprintf(stderr, "redis-server is not installed or did not start (scripts/deps.sh)\n");
        return -1;
    }
    static const char *const strict[] = {"--strict", NULL};
    mport = tstack_mock(&mock, strict);
    if (mport <= 0) return -1;
    if (start_replica(0) != 0 || start_replica(1) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        int st = tproc_stop(&rep[i], 10000);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) bad = 1;
    }
    tproc_stop(&mock, 5000);
    tredis_stop(&redis, 5000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) bad = 1;
    return bad ? -1 : 0;
}

static int stat_of(const char *key)
{
    return tstack_mock_stat(mport, key);
}

/* POST /v1/responses to replica i; returns the parsed 200 body. */
static cJSON *turn(int i, const char *prev, const char *input)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"name\":\"sh\",\"parameters\":"
               "{\"type\":\"object\"}}],\"input\":%s",
               input);
    if (prev)
        buf_printf(&b, ",\"previous_response_id\":\"%s\"", prev);
    else
        buf_puts(&b, ",\"instructions\":\"answer briefly\"");
    buf_puts(&b, "}");
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", ports[i], "POST", "/v1/responses", NULL, b.data, b.len, &r), 0);
    buf_free(&b);
    if (r.status != 200) fail_msg("replica %d: status %d body %s", i, r.status, r.body);
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    thttp_resp_free(&r);
    assert_non_null(j);
    return j;
}

static const char *S(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int get_status(int i, const char *path, cJSON **body)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", ports[i], "GET", path, NULL, NULL, 0, &r), 0);
    int st = r.status;
    if (body) *body = cJSON_ParseWithLength(r.body, r.body_len);
    thttp_resp_free(&r);
    return st;
}

static void test_turns_alternate_between_replicas(void **state)
{
    (void)state;
    char ids[4][600]; /* wrapped ids (response_id.h) */
    /* turn 1 on replica 0: the tool call */
    cJSON *j = turn(0, NULL, "\"use the tool to run the tests\"");
    snprintf(ids[0], sizeof ids[0], "%s", S(j, "id"));
    cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "output"), 0);
    assert_string_equal(S(o, "type"), "function_call");
    char call[128], input[512];
    snprintf(call, sizeof call, "%s", S(o, "call_id"));
    cJSON_Delete(j);
    /* turn 2 on replica 1: the tool output (strict: the call id must be the
     * mock's own, so the chain replica 0 stored must be expanded here) */
    snprintf(input, sizeof input,
             "[{\"type\":\"function_call_output\",\"call_id\":\"%s\",\"output\":\"3 passed\"}]",
             call);
    j = turn(1, ids[0], input);
    snprintf(ids[1], sizeof ids[1], "%s", S(j, "id"));
    assert_string_equal(S(j, "previous_response_id"), ids[0]);
    assert_string_equal(S(j, "instructions"), "answer briefly"); /* inherited through Redis */
    cJSON_Delete(j);
    j = turn(0, ids[1], "\"and now summarise\"");
    snprintf(ids[2], sizeof ids[2], "%s", S(j, "id"));
    cJSON_Delete(j);
    j = turn(1, ids[2], "\"thanks\"");
    snprintf(ids[3], sizeof ids[3], "%s", S(j, "id"));
    cJSON_Delete(j);
    assert_int_equal(stat_of("requests"), 4);
    assert_int_equal(stat_of("violations"), 0);

    /* the store endpoints on either replica */
    char path[700];
    snprintf(path, sizeof path, "/v1/responses/%s", ids[1]);
    cJSON *g = NULL;
    assert_int_equal(get_status(0, path, &g), 200);
    assert_string_equal(S(g, "id"), ids[1]);
    cJSON_Delete(g);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", ids[1]);
    assert_int_equal(get_status(0, path, &g), 200);
    cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(g, "data"), 0);
    assert_string_equal(S(d0, "type"), "function_call_output");
    assert_string_equal(S(d0, "call_id"), call);
    cJSON_Delete(g);

    /* keys in Redis */
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
    assert_true(c && !c->err);
    for (int i = 0; i < 4; i++) {
        /* keyed by the bare id: without the binding suffix the client sees */
        const char *mark = strstr(ids[i], ".tb1.");
        assert_non_null(mark);
        redisReply *r = redisCommand(c, "PTTL rt:r:%b", ids[i], (size_t)(mark - ids[i]));
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        assert_true(r->integer > 0 && r->integer <= 600000);
        freeReplyObject(r);
    }
    redisFree(c);

    /* DELETE on replica 1, gone on replica 0 */
    thttp_resp_t r;
    snprintf(path, sizeof path, "/v1/responses/%s", ids[3]);
    assert_int_equal(thttp_request("127.0.0.1", ports[1], "DELETE", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_int_equal(get_status(0, path, NULL), 404);
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"model\":\"m\",\"input\":\"more\",\"previous_response_id\":\"%s\"}", ids[3]);
    assert_int_equal(
        thttp_request("127.0.0.1", ports[0], "POST", "/v1/responses", NULL, b.data, b.len, &r), 0);
    buf_free(&b);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "previous_response_not_found"));
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turns_alternate_between_replicas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
