/* test_rate_limits_redis.c - rate limits shared by two router processes
 * through Redis (global.stores.limits.backend: redis): requests spread over
 * both replicas count against one limit, and either refuses once it is
 * spent; tokens counted on one replica limit the other. Then redis-server
 * is killed mid-test: both replicas keep answering (never a 5xx, never a
 * hang), now on their own counters - a key never seen before gets its full
 * limit on each replica, and a key spent before the outage stays refused -
 * and the management API says the store is degraded. A Redis that accepts
 * connections and never answers costs each request at most the timeout.
 * Windows are 744h, so the test crosses a boundary only once a month. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include "redis_server.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, ra, rb;
static tredis_t redis;
static int mport, pa, pb, ga, gb;
static char cfg_a[256], cfg_b[256];

static int write_cfg_at(const char *path, int port, int gport, const char *raddr)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    api_keys:\n"
            "      - {name: alice, key_env: TRR_ALICE}\n"
            "      - {name: erin, key_env: TRR_ERIN}\n"
            "      - {name: tom, key_env: TRR_TOM}\n"
            "providers:\n  defaults: {default_model: plain}\n  models:\n"
            "    - name: plain\n      backend_refs: [{name: p1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: plain}]\n"
            "  decisions:\n    - {name: everyone, modelRefs: [{model: plain}]}\n"
            "global:\n"
            "  stores:\n"
            "    limits: {backend: redis, redis: {address: \"%s\", key_prefix: \"trr%d:\", "
            "timeout_ms: 1000}}\n"
            "  services:\n"
            "    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    rate_limits:\n"
            "      - {name: per-key, scope: key, match: alice, window: 744h, requests: 4}\n"
            "      - {name: erin, scope: key, match: erin, window: 744h, requests: 2}\n"
            "      - {name: tom, scope: key, match: tom, window: 744h, tokens: 10}\n",
            port, mport, raddr, (int)getpid(), gport);
    fclose(f);
    return 0;
}

static int write_cfg(const char *path, int port, int gport)
{
    return write_cfg_at(path, port, gport, redis.addr);
}

static int serve(tproc_t *p, const char *cfg)
{
    return tstack_serve_n(p, cfg, 2, 10000) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    if (!tredis_bin()) return 0; /* each test skips */
    if (tredis_start(&redis, tsupport_free_port()) != 0) return -1;
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    pa = tsupport_free_port();
    ga = tsupport_free_port();
    pb = tsupport_free_port();
    gb = tsupport_free_port();
    snprintf(cfg_a, sizeof cfg_a, "/tmp/tether-test-rlr-a-%d.yaml", (int)getpid());
    snprintf(cfg_b, sizeof cfg_b, "/tmp/tether-test-rlr-b-%d.yaml", (int)getpid());
    if (write_cfg(cfg_a, pa, ga) || write_cfg(cfg_b, pb, gb)) return -1;
    setenv("TRR_ALICE", "sk-trr-alice", 1);
    setenv("TRR_ERIN", "sk-trr-erin", 1);
    setenv("TRR_TOM", "sk-trr-tom", 1);
    return serve(&ra, cfg_a) || serve(&rb, cfg_b) ? -1 : 0;
}

static int teardown(void **state)
{
    if (!tredis_bin()) return 0;
    int a = tproc_stop(&ra, 10000), b = tproc_stop(&rb, 10000), m = tproc_stop(&mock, 10000);
    tredis_stop(&redis, 5000);
    unlink(cfg_a);
    unlink(cfg_b);
    return WIFEXITED(a) && WEXITSTATUS(a) == 0 && WIFEXITED(b) && WEXITSTATUS(b) == 0 &&
                   WIFEXITED(m) && WEXITSTATUS(m) == 0
               ? 0
               : -1;
}

static int chat(int port, const char *key)
{
    char h[256];
    const char *body =
        "{\"model\":\"plain\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    thttp_resp_t r = {0};
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", h, body, strlen(body), &r);
    int st = rc == 0 ? r.status : -1;
    if (st == 429) assert_non_null(thttp_resp_header(&r, "retry-after"));
    thttp_resp_free(&r);
    return st;
}

static cJSON *mgmt_json(int gport, const char *path)
{
    thttp_resp_t r = {0};
    if (thttp_request("127.0.0.1", gport, "GET", path, "", NULL, 0, &r) != 0) return NULL;
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    return j;
}

static void test_two_replicas_share_one_limit(void **st)
{
    TREDIS_NEED();
    /* four requests over both replicas, then both refuse */
    assert_int_equal(chat(pa, "sk-trr-alice"), 200);
    assert_int_equal(chat(pb, "sk-trr-alice"), 200);
    assert_int_equal(chat(pa, "sk-trr-alice"), 200);
    assert_int_equal(chat(pb, "sk-trr-alice"), 200);
    assert_int_equal(chat(pa, "sk-trr-alice"), 429);
    assert_int_equal(chat(pb, "sk-trr-alice"), 429);
    /* the counter is in Redis */
    redisContext *c = tredis_connect(&redis);
    assert_non_null(c);
    redisReply *rp = redisCommand(c, "KEYS trr%d:lim:*", (int)getpid());
    assert_non_null(rp);
    assert_int_equal(rp->type, REDIS_REPLY_ARRAY);
    assert_true(rp->elements >= 1);
    freeReplyObject(rp);
    redisFree(c);
    cJSON *j = mgmt_json(gb, "/v1/rate_limits");
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "store")), "redis");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "degraded")));
    cJSON_Delete(j);
}

static void test_tokens_counted_on_one_replica_limit_the_other(void **st)
{
    TREDIS_NEED();
    assert_int_equal(chat(pa, "sk-trr-tom"), 200); /* the reply's usage passes 10 tokens */
    /* the add is sent without waiting for its answer: wait until Redis has it */
    bool there = false;
    for (int i = 0; i < 1000 && !there; i++) {
        redisContext *c = tredis_connect(&redis);
        redisReply *rp = c ? redisCommand(c, "KEYS trr%d:lim:r*tom*", (int)getpid()) : NULL;
        there = rp && rp->type == REDIS_REPLY_ARRAY && rp->elements > 0;
        if (rp) freeReplyObject(rp);
        if (c) redisFree(c);
        if (!there) usleep(20000);
    }
    assert_true(there);
    assert_int_equal(chat(pb, "sk-trr-tom"), 429);
}

static void test_redis_outage_degrades_to_local_limits(void **st)
{
    TREDIS_NEED();
    tredis_kill(&redis);
    /* a key never seen: each replica now counts on its own (2 each) */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(chat(pa, "sk-trr-erin"), 200);
        assert_int_equal(chat(pb, "sk-trr-erin"), 200);
    }
    assert_int_equal(chat(pa, "sk-trr-erin"), 429);
    assert_int_equal(chat(pb, "sk-trr-erin"), 429);
    /* a key spent before the outage stays refused: the local counters
     * learnt the shared count from Redis's last answers */
    assert_int_equal(chat(pa, "sk-trr-alice"), 429);
    assert_int_equal(chat(pb, "sk-trr-alice"), 429);
    cJSON *j = mgmt_json(ga, "/v1/rate_limits");
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "degraded")));
    cJSON_Delete(j);
    /* Redis comes back on the same port: the replicas go on serving */
    assert_int_equal(tredis_start(&redis, redis.port), 0);
    int st_a = chat(pa, "sk-trr-erin");
    assert_true(st_a == 200 || st_a == 429);
}

/* A "Redis" that accepts connections and never answers (a hung server, a
 * black-holed network): every request waits at most timeout_ms on its own
 * loop, then the local counters decide; nothing fails. */
static void test_a_redis_that_never_answers_costs_a_timeout_not_a_failure(void **st)
{
    TREDIS_NEED();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0); /* the kernel completes handshakes; no one reads */
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char addr[64], path[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    snprintf(path, sizeof path, "/tmp/tether-test-rlr-h-%d.yaml", (int)getpid());
    int port = tsupport_free_port(), gport = tsupport_free_port();
    assert_int_equal(write_cfg_at(path, port, gport, addr), 0);
    tproc_t rh;
    assert_int_equal(serve(&rh, path), 0);
    /* erin: 2 per window, decided locally on each worker's loop after the
     * timeout (the first) or at once (the circuit is open) */
    assert_int_equal(chat(port, "sk-trr-erin"), 200);
    assert_int_equal(chat(port, "sk-trr-erin"), 200);
    assert_int_equal(chat(port, "sk-trr-erin"), 429);
    int stc = tproc_stop(&rh, 10000);
    assert_true(WIFEXITED(stc) && WEXITSTATUS(stc) == 0);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_replicas_share_one_limit),
        cmocka_unit_test(test_tokens_counted_on_one_replica_limit_the_other),
        cmocka_unit_test(test_redis_outage_degrades_to_local_limits),
        cmocka_unit_test(test_a_redis_that_never_answers_costs_a_timeout_not_a_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
