/* test_redis_outage.c - session continuity through a Redis outage (issue 20
 * item 4): two router replicas share one Redis, agent sessions alternate
 * between them on every request, and Redis is killed for 10 s (4 s under
 * the sanitizers) and then restarted. Each model has its own strict mock,
 * which rejects (400) any provider-bound state it did not issue: a
 * previous_response_id or an open tool call that reaches the wrong model is
 * a violation and a failed request. Asserted: zero failed requests and zero
 * violations before, during and after the outage, and that both replicas
 * leave degraded mode once Redis is back (recovery converges).
 *
 * TETHER_OUTAGE_MS overrides the outage length; the figures per phase are
 * printed to stderr (docs/sessions.md quotes them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "convo.h"
#include "http_client.h"
#include "fleet.h"
#include "proc.h"
#include "redis_server.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define OUTAGE_MS_DEFAULT 4000
#else
#define OUTAGE_MS_DEFAULT 10000
#endif

#define N_SESS 6

/* "prove"/"derive" route to big, everything else to small. The replicas
 * share the binding key through TETHER_TEST_BINDING_KEY. */
/* timeout_ms 1000: the outage here is a killed server, which fails at once;
 * the 50 ms default let a reply stalled by a loaded test machine trip the
 * breaker again after recovery (still_degraded). */
static void write_config(const char *path, int port, int mgmt, const char *redis_addr,
                         const void *ctx)
{
    FILE *f = tfleet_config(&tfleet, path, port, NULL);
    assert_non_null(f);
    fprintf(f,
            "global:\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  stores:\n    session: {backend: redis, redis: {address: \"%s\", timeout_ms: 1000}, "
            "binding_key_env: "
            "TETHER_TEST_BINDING_KEY}\n",
            mgmt, redis_addr);
    fclose(f);
}

/* ---- the agent sessions ---- */

typedef struct sess {
    cJSON *messages;
    cJSON *last_message;
    char sid[64];
    bool header; /* x-session-id, else prefix-chain identity */
    int step, req;
    char last_id[256];
} sess_t;

typedef struct tally {
    int requests, failed;
} tally_t;

static int generation;

static void sess_begin(sess_t *s, int i)
{
    cJSON_Delete(s->messages);
    memset(s, 0, sizeof *s);
    s->messages = cJSON_CreateArray();
    s->header = i % 2 == 0;
    snprintf(s->sid, sizeof s->sid, "outage-%d-%d", i, ++generation);
}

static void add_user(sess_t *s, const char *text)
{
    tconvo_add_user(s->messages, text);
}

static void add_tool_results(sess_t *s)
{
    tconvo_add_tool_results(s->messages, s->last_message);
}

/* One request of s to the next replica (a session alternates replicas on
 * every request). Returns 0 when answered 200. */
static int sess_send(sess_t *s, const int *ports, bool with_prev, tally_t *t)
{
    buf_t b = BUF_INIT;
    char *msgs = cJSON_PrintUnformatted(s->messages);
    buf_puts(&b, "{\"model\":\"auto\",");
    if (with_prev && s->last_id[0]) {
        buf_puts(&b, "\"previous_response_id\":");
        buf_json_str(&b, s->last_id, strlen(s->last_id));
        buf_putc(&b, ',');
    }
    buf_printf(&b,
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"sh\",\"parameters\":{}}}"
               "],\"messages\":%s}",
               msgs);
    free(msgs);
    char hdr[160] = "";
    if (s->header) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", s->sid);
    int port = ports[s->req++ % 2];
    thttp_resp_t r;
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r);
    buf_free(&b);
    t->requests++;
    if (rc != 0 || r.status != 200) {
        t->failed++;
        static int shown;
        if (shown++ < 12)
            fprintf(stderr, "failed: %s step %d port %d status %d model %s reason %s: %.120s\n",
                    s->sid, s->step, port, r.status, thttp_resp_header(&r, "x-tether-model"),
                    thttp_resp_header(&r, "x-tether-session-reason"), r.body ? r.body : "");
        thttp_resp_free(&r);
        return -1;
    }
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
    snprintf(s->last_id, sizeof s->last_id, "%s", id ? id : "");
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *copy = cJSON_Duplicate(msg, 1);
    cJSON_AddItemToArray(s->messages, copy);
    s->last_message = copy;
    cJSON_Delete(j);
    return 0;
}

/* The next step of the agent script; a session that fails or ends starts
 * over as a new session. Steps 2 and 6 answer an open tool loop (the
 * result must reach the model that called the tool), 4 and 7 send a
 * previous_response_id (only the model that issued it can read it); the
 * prompts of 2 and 6 would route elsewhere. */
static void sess_step(sess_t *s, int i, const int *ports, tally_t *t)
{
    int rc = 0;
    switch (s->step) {
    case 0:
        add_user(s, s->sid);
        add_user(s, "hello, can you help me with my code");
        rc = sess_send(s, ports, false, t);
        break;
    case 1:
        add_user(s, "use the tool to run the tests");
        rc = sess_send(s, ports, false, t);
        break;
    case 2:
        add_tool_results(s);
        add_user(s, "prove the fix is correct");
        rc = sess_send(s, ports, false, t);
        break;
    case 3:
        add_user(s, "now derive the complexity of the algorithm");
        rc = sess_send(s, ports, false, t);
        break;
    case 4:
        add_user(s, "thanks, that helps");
        rc = sess_send(s, ports, true, t);
        break;
    case 5:
        add_user(s, "prove the bound again, and use the tool to run the tests");
        rc = sess_send(s, ports, false, t);
        break;
    case 6:
        add_tool_results(s);
        add_user(s, "hello, a small question about style");
        rc = sess_send(s, ports, false, t);
        break;
    case 7:
        add_user(s, "ok, thanks");
        rc = sess_send(s, ports, true, t);
        break;
    }
    if (rc != 0 || ++s->step > 7) sess_begin(s, i);
}

/* Drive every session, one step each in turn, for ms milliseconds. */
static void drive(sess_t *ss, const int *ports, uint64_t ms, tally_t *t)
{
    uint64_t end = clock_mono_ms() + ms;
    while (clock_mono_ms() < end)
        for (int i = 0; i < N_SESS; i++) {
            sess_step(&ss[i], i, ports, t);
            usleep(2000);
        }
}

static void test_sessions_survive_a_redis_outage(void **state)
{
    TREDIS_NEED();
    setenv("TETHER_TEST_BINDING_KEY", "0123456789abcdef0123456789abcdef", 1);
    tfleet_pair_t pair;
    tfleet_pair_start(&pair, &tfleet, write_config, NULL);
    const int *ports = pair.ports, *mports = pair.mports;

    int outage_ms = OUTAGE_MS_DEFAULT;
    if (getenv("TETHER_OUTAGE_MS")) outage_ms = atoi(getenv("TETHER_OUTAGE_MS"));
    sess_t ss[N_SESS] = {0};
    for (int i = 0; i < N_SESS; i++)
        sess_begin(&ss[i], i);
    tally_t before = {0}, during = {0}, after = {0};
    drive(ss, ports, 2000, &before);
    int v_before = tfleet_violations(&tfleet);

    tredis_kill(&pair.redis);
    drive(ss, ports, (uint64_t)outage_ms, &during);
    int v_during = tfleet_violations(&tfleet) - v_before;
    assert_int_equal(tredis_start(&pair.redis, pair.redis.port), 0);

    /* after: keep the traffic going until both replicas have closed their
     * circuit (bounded), then 3 s more */
    uint64_t t0 = clock_mono_ms();
    int recovered = 0;
    while (!recovered && clock_mono_ms() - t0 < 30000) {
        drive(ss, ports, 500, &after);
        int d0 = tstack_store_degraded(mports[0]), d1 = tstack_store_degraded(mports[1]);
        recovered = d0 == 0 && d1 == 0;
        if (getenv("TETHER_TEST_VERBOSE")) fprintf(stderr, "degraded: %d %d\n", d0, d1);
    }
    uint64_t recovery_ms = clock_mono_ms() - t0;
    drive(ss, ports, 3000, &after);
    int v_after = tfleet_violations(&tfleet) - v_before - v_during;
    int still_degraded =
        tstack_store_degraded(mports[0]) != 0 || tstack_store_degraded(mports[1]) != 0;
    fprintf(stderr,
            "outage %d ms: before %d requests %d failed %d violations; during %d/%d/%d; after "
            "%d/%d/%d; recovered: %s within %llu ms\n",
            outage_ms, before.requests, before.failed, v_before, during.requests, during.failed,
            v_during, after.requests, after.failed, v_after, recovered ? "yes" : "no",
            (unsigned long long)recovery_ms);
    for (int i = 0; i < N_SESS; i++)
        cJSON_Delete(ss[i].messages);

    assert_true(during.requests > 0);
    assert_int_equal(before.failed + during.failed + after.failed, 0);
    assert_int_equal(v_before + v_during + v_after, 0);
    assert_true(recovered);
    assert_false(still_degraded);
    tfleet_pair_stop(&pair);
}

/* One chat turn; returns the reply's id in id (cap bytes) and the serving
 * model and reason headers. */
static int chat_turn(int port, const char *sid, const char *prev, const char *text, char *id,
                     size_t cap, char *model, char *reason)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"model\":\"auto\",");
    if (prev) {
        buf_puts(&b, "\"previous_response_id\":");
        buf_json_str(&b, prev, strlen(prev));
        buf_putc(&b, ',');
    }
    buf_puts(&b, "\"messages\":[{\"role\":\"user\",\"content\":");
    buf_json_str(&b, text, strlen(text));
    buf_puts(&b, "}]}");
    char hdr[160];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", sid);
    thttp_resp_t r;
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r);
    buf_free(&b);
    int status = rc == 0 ? r.status : -1;
    const char *m = thttp_resp_header(&r, "x-tether-model"),
               *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(model, 32, "%s", m ? m : "");
    snprintf(reason, 64, "%s", rs ? rs : "");
    cJSON *j = status == 200 ? cJSON_Parse(r.body) : NULL;
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
    snprintf(id, cap, "%s", v ? v : "");
    cJSON_Delete(j);
    thttp_resp_free(&r);
    return status;
}

/* Without any store lookup: a valid binding routes a continuation to its
 * issuer even for a session the router has no memory of; a forged one is
 * treated as unbound (session memory decides) and counted. */
static void test_signed_binding_routes_and_forged_is_unbound(void **state)
{
    setenv("TETHER_TEST_BINDING_KEY", "0123456789abcdef0123456789abcdef", 1);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/single.yaml", tfleet.dir);
    int port = tsupport_free_port(), mport = tsupport_free_port();
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - {name: small, backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "    - {name: big, backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "routing:\n  modelCards: [{name: small}, {name: big}]\n"
            "  signals:\n    keywords:\n      - {name: hard, keywords: [prove]}\n"
            "  decisions:\n"
            "    - {name: reasoning, priority: 10, rules: {type: keyword, name: hard}, modelRefs: "
            "[{model: big}]}\n"
            "    - {name: chat, modelRefs: [{model: small}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  stores:\n    session: {binding_key_env: TETHER_TEST_BINDING_KEY}\n",
            port, tfleet.p_small, tfleet.p_big, mport);
    fclose(f);
    tproc_t r;
    assert_true(tstack_serve(&r, cfg) > 0);
    int v0 = tfleet_violations(&tfleet);
    char id_big[600], id_small[600], id[600], model[32], reason[64];
    assert_int_equal(
        chat_turn(port, "bind-a", NULL, "prove it", id_big, sizeof id_big, model, reason), 200);
    assert_string_equal(model, "big");
    assert_non_null(strstr(id_big, ".tb1."));
    /* a session the router never saw continues big's response: big */
    assert_int_equal(chat_turn(port, "bind-b", id_big, "thanks", id, sizeof id, model, reason),
                     200);
    assert_string_equal(model, "big");
    assert_string_equal(reason, "hard_lock_provider_state");
    /* forged: big's id relabelled with small's payload keeps big's tag */
    assert_int_equal(
        chat_turn(port, "bind-c", NULL, "hello", id_small, sizeof id_small, model, reason), 200);
    assert_string_equal(model, "small");
    char forged[1200];
    const char *mb = strstr(id_big, ".tb1."), *ms = strstr(id_small, ".tb1.");
    const char *tb = strrchr(id_big, '.'), *ts = strrchr(id_small, '.');
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(mb - id_big), id_big, (int)(ts - ms), ms,
             tb);
    /* session bind-a is on big: memory, not the forged label, decides */
    assert_int_equal(chat_turn(port, "bind-a", forged, "hello again", id, sizeof id, model, reason),
                     200);
    assert_string_equal(model, "big");
    /* a fresh session with the forged id: unbound, routed on its text */
    assert_int_equal(chat_turn(port, "bind-d", forged, "prove more", id, sizeof id, model, reason),
                     200);
    assert_string_equal(model, "big");
    assert_int_equal(tfleet_violations(&tfleet), v0);
    thttp_resp_t m;
    assert_int_equal(thttp_request("127.0.0.1", mport, "GET", "/metrics", NULL, NULL, 0, &m), 0);
    assert_non_null(strstr(m.body, "tether_session_bindings_total{result=\"invalid\"} 2"));
    assert_non_null(strstr(m.body, "tether_session_bindings_total{result=\"valid\"} 1"));
    thttp_resp_free(&m);
    int st = tproc_stop(&r, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_binding_routes_and_forged_is_unbound),
        cmocka_unit_test(test_sessions_survive_a_redis_outage),
    };
    return cmocka_run_group_tests(tests, tfleet_setup_seeded, tfleet_teardown);
}
