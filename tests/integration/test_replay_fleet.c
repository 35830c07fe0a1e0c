/* test_replay_fleet.c - replay across replicas (issue 13). Two `tether
 * serve` replicas share one Redis for sessions and one shared replay store
 * (redis, then postgres, each started by the test on loopback). One agent
 * session alternates replicas on every turn: a cold start, a tool call, the
 * tool loop (locked to the calling model although the prompt routes
 * elsewhere), a safe switch. Then, on EITHER replica, the management API
 * shows every turn: the list, the timeline (the lock taken on the other
 * replica included, with its switch terms and cost), the aggregate, and
 * the trajectory rebuilt from the bodies.
 *
 * Outage: under steady load on one replica, the shared replay store is
 * killed and restarted. Every request still succeeds; records written
 * after the store returns show up; the drops and store errors are in
 * /metrics (tether_replay_store_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "convo.h"
#include "http_client.h"
#include "postgres_server.h"
#include "fleet.h"
#include "proc.h"
#include "redis_server.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static tredis_t redis;
static tpg_t pg;

static int setup(void **state)
{
    if (tfleet_setup_seeded(state) != 0) return -1;
    if (tredis_bin() && tredis_start(&redis, tsupport_free_port()) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    if (tredis_bin()) tredis_stop(&redis, 5000);
    tpg_stop(&pg);
    return tfleet_teardown(state);
}

static const char *mgmt_tokens = ""; /* more of the management_api block */
static const char *auth;             /* bearer token of the management calls, or NULL */

/* store_yaml: the router_replay store lines, e.g. "store: redis, redis:
 * {address: ...}". */
static void write_config(const char *path, int port, int mgmt, const char *store_yaml)
{
    FILE *f = tfleet_config(&tfleet, path, port, NULL);
    assert_non_null(f);
    fprintf(f,
            "global:\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"%s}\n"
            "    router_replay: {capture_bodies: true, %s}\n"
            "  stores:\n    session: {backend: redis, redis: {address: \"%s\"}, binding_key_env: "
            "TETHER_TEST_BINDING_KEY}\n",
            mgmt, mgmt_tokens, store_yaml, redis.addr);
    fclose(f);
}

typedef struct replica {
    tproc_t proc;
    int port, mgmt;
} replica_t;

static void start_replica(replica_t *r, const char *name, const char *store_yaml)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", tfleet.dir, name);
    r->port = tsupport_free_port();
    r->mgmt = tsupport_free_port();
    write_config(cfg, r->port, r->mgmt, store_yaml);
    assert_int_equal(tstack_serve(&r->proc, cfg), r->port);
}

/* SIGTERM; the replica exits 0 (under the sanitizers: no finding, no leak) */
static void stop_clean(replica_t *r)
{
    int st = tproc_stop(&r->proc, 10000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- the session ---- */

typedef struct convo {
    cJSON *messages;
    char sid[64];
    char last_model[64], last_reason[64];
    cJSON *last_message;
} convo_t;

static void user(convo_t *c, const char *text)
{
    tconvo_add_user(c->messages, text);
}

static int turn(convo_t *c, int port)
{
    buf_t b = BUF_INIT;
    char *msgs = cJSON_PrintUnformatted(c->messages);
    buf_printf(&b,
               "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
               "\"sh\",\"parameters\":{}}}],\"messages\":%s}",
               msgs);
    free(msgs);
    char hdr[200];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", c->sid);
    thttp_resp_t r;
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r);
    buf_free(&b);
    if (rc != 0 || r.status != 200) {
        fprintf(stderr, "turn failed: status %d: %s\n", r.status, r.body ? r.body : "");
        thttp_resp_free(&r);
        return -1;
    }
    const char *m = thttp_resp_header(&r, "x-tether-model");
    const char *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(c->last_model, sizeof c->last_model, "%s", m ? m : "");
    snprintf(c->last_reason, sizeof c->last_reason, "%s", rs ? rs : "");
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    if (!j) return -1;
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    c->last_message = cJSON_Duplicate(msg, 1);
    cJSON_AddItemToArray(c->messages, c->last_message);
    cJSON_Delete(j);
    return 0;
}

static void tool_results(convo_t *c)
{
    tconvo_add_tool_results(c->messages, c->last_message);
}

/* Four turns, replicas alternating: a, b, a, b. */
static void run_session(convo_t *c, const replica_t *a, const replica_t *b, const char *sid)
{
    memset(c, 0, sizeof *c);
    c->messages = cJSON_CreateArray();
    snprintf(c->sid, sizeof c->sid, "%s", sid);
    user(c, "hello, can you help me with my code");
    assert_int_equal(turn(c, a->port), 0);
    assert_string_equal(c->last_reason, "cold_start");
    user(c, "use the tool to run the tests");
    assert_int_equal(turn(c, b->port), 0);
    assert_non_null(cJSON_GetObjectItem(c->last_message, "tool_calls"));
    tool_results(c);
    user(c, "prove the fix is correct");
    assert_int_equal(turn(c, a->port), 0);
    assert_string_equal(c->last_model, "small");
    assert_string_equal(c->last_reason, "hard_lock_tool_loop");
    user(c, "now derive the complexity of the algorithm");
    assert_int_equal(turn(c, b->port), 0);
    cJSON_Delete(c->messages);
}

static cJSON *get_json(int port, const char *path)
{
    thttp_resp_t r;
    char hdr[160] = "";
    if (auth) snprintf(hdr, sizeof hdr, "authorization: Bearer %s\r\n", auth);
    if (thttp_request("127.0.0.1", port, "GET", path, auth ? hdr : NULL, NULL, 0, &r) != 0 ||
        r.status != 200) {
        thttp_resp_free(&r);
        return NULL;
    }
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    return j;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The session's timeline on replica mgmt port, once it has `want` turns
 * (records are written behind: wait up to 20 s). */
static cJSON *timeline(int mgmt, const char *sid, int want)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/router_replay/sessions/%s", sid);
    for (int i = 0; i < 200; i++) {
        cJSON *j = get_json(mgmt, path);
        if (j && (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "turns")) >= want) return j;
        cJSON_Delete(j);
        nap_ms(100);
    }
    fail_msg("the timeline of %s never reached %d turns on port %d", sid, want, mgmt);
    return NULL;
}

/* Every view of the session on one replica. */
static void check_views(int mgmt, const char *sid)
{
    cJSON *tl = timeline(mgmt, sid, 4);
    cJSON *items = cJSON_GetObjectItem(tl, "timeline");
    assert_int_equal(cJSON_GetArraySize(items), 4);
    static const char *const reasons[] = {"cold_start", NULL, "hard_lock_tool_loop", NULL};
    for (int i = 0; i < 4; i++) {
        cJSON *t = cJSON_GetArrayItem(items, i);
        if (reasons[i])
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "reason")), reasons[i]);
        assert_non_null(cJSON_GetObjectItem(t, "switch_terms"));
        assert_non_null(cJSON_GetObjectItem(t, "cost"));
    }
    cJSON *locked = cJSON_GetArrayItem(items, 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(locked, "lock")), "tool_loop");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(locked, "model")), "small");
    cJSON_Delete(tl);

    char path[200];
    snprintf(path, sizeof path, "/v1/router_replay?session_id=%s&limit=2", sid);
    cJSON *l = get_json(mgmt, path);
    assert_non_null(l);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "count")), 2);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(l, "next_cursor")));
    cJSON_Delete(l);
    snprintf(path, sizeof path, "/v1/router_replay?session_id=%s&reason=hard_lock_tool_loop", sid);
    l = get_json(mgmt, path);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "count")), 1);
    cJSON_Delete(l);

    snprintf(path, sizeof path, "/v1/router_replay/aggregate?session_id=%s&baseline_model=big",
             sid);
    cJSON *ag = get_json(mgmt, path);
    assert_non_null(ag);
    cJSON *tot = cJSON_GetObjectItem(ag, "totals");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(tot, "turns")), 4);
    assert_int_equal((int)cJSON_GetNumberValue(
                         cJSON_GetObjectItem(cJSON_GetObjectItem(tot, "locks"), "tool_loop")),
                     1);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(tot, "savings")) > 0);
    cJSON_Delete(ag);

    snprintf(path, sizeof path, "/v1/router_replay/trajectory?session_id=%s", sid);
    cJSON *tj = get_json(mgmt, path);
    assert_non_null(tj);
    cJSON *msgs = cJSON_GetObjectItem(tj, "messages");
    /* 4 user, 4 assistant, 1 tool result at least */
    assert_true(cJSON_GetArraySize(msgs) >= 9);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(tj, "missing_bodies")), 0);
    cJSON_Delete(tj);
}

static void fleet_run(const char *store_yaml, const char *sid)
{
    replica_t a, b;
    start_replica(&a, "a", store_yaml);
    start_replica(&b, "b", store_yaml);
    convo_t c;
    run_session(&c, &a, &b, sid);
    check_views(a.mgmt, sid);
    check_views(b.mgmt, sid);
    /* `tether replay` reads the same shared store offline */
    char cmd[700], path[200];
    snprintf(path, sizeof path, "%s/cli.json", tfleet.dir);
    snprintf(cmd, sizeof cmd,
             "%s replay list --config %s/b.yaml --session %s --format json > %s 2>/dev/null",
             tproc_tether_bin(), tfleet.dir, sid, path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    buf_t out = BUF_INIT;
    assert_true(buf_read_stream(&out, f));
    fclose(f);
    cJSON *j = cJSON_Parse(out.data);
    buf_free(&out);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 4);
    cJSON_Delete(j);
    assert_int_equal(tstack_mock_violations(tfleet.p_small), 0);
    assert_int_equal(tstack_mock_violations(tfleet.p_big), 0);
    stop_clean(&a);
    stop_clean(&b);
}

static void test_redis_replay_shows_every_turn_on_either_replica(void **st)
{
    TREDIS_NEED();
    char yaml[200];
    snprintf(yaml, sizeof yaml, "store: redis, redis: {address: \"%s\"}", redis.addr);
    fleet_run(yaml, "fleet-redis-1");
}

static void test_postgres_replay_shows_every_turn_on_either_replica(void **st)
{
    TREDIS_NEED();
    TPG_NEED();
    if (!pg.pid) assert_int_equal(tpg_start(&pg, tsupport_free_port()), 0);
    char yaml[512];
    snprintf(yaml, sizeof yaml, "store: postgres, postgres: {conninfo: \"%s\"}", pg.conninfo);
    fleet_run(yaml, "fleet-pg-1");
}

/* Bodies and conversation content only for replay.detail (and admin);
 * replay.read sees the rest, redacted. */
static void test_replay_detail_role_sees_bodies(void **st)
{
    TREDIS_NEED();
    setenv("TT_REPLAY_READ", "read-token-0123456789abcdef", 1);
    setenv("TT_REPLAY_DETAIL", "detail-token-0123456789abcdef", 1);
    mgmt_tokens = ", tokens: [{name: r, token_env: TT_REPLAY_READ, role: replay.read}, "
                  "{name: d, token_env: TT_REPLAY_DETAIL, role: replay.detail}]";
    char yaml[200];
    snprintf(yaml, sizeof yaml, "store: redis, redis: {address: \"%s\", key_prefix: \"roles:\"}",
             redis.addr);
    replica_t a;
    start_replica(&a, "roles", yaml);
    mgmt_tokens = "";
    convo_t c = {.messages = cJSON_CreateArray()};
    snprintf(c.sid, sizeof c.sid, "roles-1");
    user(&c, "my secret plan is bananas");
    assert_int_equal(turn(&c, a.port), 0);
    cJSON_Delete(c.messages);
    auth = NULL; /* no token: refused */
    assert_null(get_json(a.mgmt, "/v1/router_replay/trajectory?session_id=roles-1"));
    auth = "read-token-0123456789abcdef";
    cJSON *tl = timeline(a.mgmt, "roles-1", 1);
    char path[200];
    snprintf(path, sizeof path, "/v1/router_replay/%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(
                 cJSON_GetArrayItem(cJSON_GetObjectItem(tl, "timeline"), 0), "replay_id")));
    cJSON_Delete(tl);
    cJSON *rec = get_json(a.mgmt, path);
    assert_non_null(rec);
    assert_null(cJSON_GetObjectItem(rec, "bodies"));
    cJSON_Delete(rec);
    cJSON *tj = get_json(a.mgmt, "/v1/router_replay/trajectory?session_id=roles-1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(tj, "redacted")));
    char *txt = cJSON_PrintUnformatted(tj);
    assert_null(strstr(txt, "bananas"));
    free(txt);
    cJSON_Delete(tj);
    auth = "detail-token-0123456789abcdef";
    rec = get_json(a.mgmt, path);
    assert_non_null(cJSON_GetObjectItem(rec, "bodies"));
    cJSON_Delete(rec);
    tj = get_json(a.mgmt, "/v1/router_replay/trajectory?session_id=roles-1");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(tj, "redacted")));
    txt = cJSON_PrintUnformatted(tj);
    assert_non_null(strstr(txt, "bananas"));
    free(txt);
    cJSON_Delete(tj);
    auth = NULL;
    stop_clean(&a);
}

/* ---- outage under load ---- */

static double metric(int mgmt, const char *series)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mgmt, "GET", "/metrics", NULL, NULL, 0, &r) != 0) return -1;
    const char *m = strstr(r.body, series);
    double v = m ? atof(m + strlen(series)) : -1;
    thttp_resp_free(&r);
    return v;
}

/* The replay lines of /metrics, for a failure message. */
static void show_metrics(int mgmt)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mgmt, "GET", "/metrics", NULL, NULL, 0, &r) != 0) return;
    for (char *l = strtok(r.body, "\n"); l; l = strtok(NULL, "\n"))
        if (strstr(l, "replay") && l[0] != '#') fprintf(stderr, "  %s\n", l);
    thttp_resp_free(&r);
}

/* `promtool check metrics` accepts the exposition (with the shared store's
 * families in it), when promtool is installed. */
static void promtool_clean(int mgmt)
{
    if (access("/usr/bin/promtool", X_OK) != 0) return;
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", mgmt, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    char path[200], cmd[300];
    snprintf(path, sizeof path, "%s/metrics.txt", tfleet.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    thttp_resp_free(&r);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
    assert_int_equal(system(cmd), 0);
}

static int one_request(int port, int i)
{
    char body[200];
    int n = snprintf(
        body, sizeof body,
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi %d\"}]}", i);
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions",
                           "x-session-id: outage-load\r\n", body, (size_t)n, &r);
    int status = rc == 0 ? r.status : -1;
    thttp_resp_free(&r);
    return status;
}

/* kill / restart are the store's; store_label names its metrics series. */
static void outage_run(const char *store_yaml, const char *store_label, void (*kill_fn)(void),
                       void (*restart_fn)(void))
{
    replica_t a;
    start_replica(&a, "outage", store_yaml);
    int failed = 0;
    for (int i = 0; i < 20; i++)
        failed += one_request(a.port, i) != 200;
    kill_fn();
    for (int i = 20; i < 60; i++) { /* ~2 s of traffic: every request still answered */
        failed += one_request(a.port, i) != 200;
        nap_ms(50);
    }
    char series[96];
    snprintf(series, sizeof series, "tether_replay_store_errors_total{store=\"%s\"} ", store_label);
    for (int i = 0; i < 100 && metric(a.mgmt, series) < 1; i++)
        nap_ms(100);
    assert_true(metric(a.mgmt, series) >= 1);
    restart_fn();
    for (int i = 60; i < 70; i++)
        failed += one_request(a.port, i) != 200;
    assert_int_equal(failed, 0);
    /* writing resumed: the buffered records and the new ones arrive */
    cJSON *tl = timeline(a.mgmt, "outage-load", 50);
    cJSON_Delete(tl);
    /* the replay queue hands every record to the store's buffer, which
     * drains */
    snprintf(series, sizeof series, "tether_replay_store_pending{store=\"%s\"} ", store_label);
    const char *written = "tether_replay_writes_total{result=\"written\"} ";
    for (int i = 0; i < 300 && (metric(a.mgmt, series) != 0 || metric(a.mgmt, written) < 70); i++)
        nap_ms(100);
    if (metric(a.mgmt, series) != 0 || metric(a.mgmt, written) < 70) show_metrics(a.mgmt);
    assert_true(metric(a.mgmt, series) == 0);
    assert_true(metric(a.mgmt, written) >= 70);
    assert_true(metric(a.mgmt, "tether_replay_queue_depth ") == 0);
    promtool_clean(a.mgmt);
    stop_clean(&a);
}

static tredis_t replay_redis; /* the outage test's: the session store's Redis stays up */

static void redis_kill(void)
{
    tredis_kill(&replay_redis);
}
static void redis_restart(void)
{
    assert_int_equal(tredis_start(&replay_redis, replay_redis.port), 0);
}
static void pg_kill(void)
{
    tpg_kill(&pg);
}
static void pg_restart(void)
{
    assert_int_equal(tpg_start(&pg, pg.port), 0);
}

static void test_redis_replay_outage_never_fails_a_request(void **st)
{
    TREDIS_NEED();
    assert_int_equal(tredis_start(&replay_redis, tsupport_free_port()), 0);
    char yaml[200];
    snprintf(yaml, sizeof yaml, "store: redis, redis: {address: \"%s\", timeout_ms: 100}",
             replay_redis.addr);
    outage_run(yaml, "redis", redis_kill, redis_restart);
    tredis_stop(&replay_redis, 5000);
}

static void test_postgres_replay_outage_never_fails_a_request(void **st)
{
    TREDIS_NEED();
    TPG_NEED();
    if (!pg.pid) assert_int_equal(tpg_start(&pg, tsupport_free_port()), 0);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "store: postgres, postgres: {conninfo: \"%s\", table: outage, timeout_ms: 1000}",
             pg.conninfo);
    outage_run(yaml, "postgres", pg_kill, pg_restart);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_replay_shows_every_turn_on_either_replica),
        cmocka_unit_test(test_postgres_replay_shows_every_turn_on_either_replica),
        cmocka_unit_test(test_replay_detail_role_sees_bodies),
        cmocka_unit_test(test_redis_replay_outage_never_fails_a_request),
        cmocka_unit_test(test_postgres_replay_outage_never_fails_a_request),
    };
    if (getenv("TEST_ONLY")) cmocka_set_test_filter(getenv("TEST_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
