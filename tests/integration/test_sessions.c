/* test_sessions.c - an agent session through the real router against two
 * `tether mock --strict` backends (one per model, so each judges continuity
 * itself): a tool loop while the prompt would route elsewhere, a
 * previous_response_id turn, a topic drift and an idle gap. The backends must
 * see zero continuity violations and the router must switch where it is
 * safe. The same script runs with no session header (prefix-chain identity),
 * and across two replicas sharing one Redis, alternating every turn, with
 * Redis killed mid-session, and with a replica killed mid-session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "convo.h"
#include "http_client.h"
#include "fleet.h"
#include "poll_until.h"
#include "proc.h"
#include "redis_server.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A router config: "reasoning" (prove/derive) goes to big, everything else
 * to small; 3 s idle timeout so the test can cross it (the turns before it
 * must come closer together than that: 1 s was short for a turn of the
 * sanitizer build on a loaded machine). Redis timeout_ms 1000: the outages
 * here are a stopped server (refused at once) and a killed replica; with a
 * 100 ms bound a commit delayed on a loaded machine could fall back to the
 * killed replica's local store, and the other replica would lose the lock. */
static void write_config(const char *path, int port, int mgmt, const char *redis_addr)
{
    FILE *f = tfleet_config(&tfleet, path, port, NULL);
    assert_non_null(f);
    fprintf(f,
            "global:\n  router:\n    session: {idle_timeout_seconds: 3}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {path: \"%s/replay-%d.db\"}\n",
            mgmt, tfleet.dir, port);
    if (redis_addr)
        fprintf(f,
                "  stores:\n    session: {backend: redis, redis: {address: \"%s\", timeout_ms: "
                "1000}}\n",
                redis_addr);
    fclose(f);
}

static int start_router(tproc_t *p, const char *cfg)
{
    return tstack_serve_n(p, cfg, 1, 10000);
}

static void reset_mocks(void)
{
    thttp_resp_t r;
    thttp_request("127.0.0.1", tfleet.p_small, "POST", "/mock/reset", NULL, "", 0, &r);
    thttp_resp_free(&r);
    thttp_request("127.0.0.1", tfleet.p_big, "POST", "/mock/reset", NULL, "", 0, &r);
    thttp_resp_free(&r);
}

/* One conversation: messages accumulate as a JSON array (text). */
typedef struct convo {
    cJSON *messages;
    const char *session_header; /* NULL: identity from the prefix chain */
    char last_model[64], last_reason[64], last_phase[32], last_session[128];
    char last_id[128];   /* chat id of the last reply (a response id the backend issued) */
    cJSON *last_message; /* the last assistant message */
} convo_t;

static void convo_user(convo_t *c, const char *text)
{
    tconvo_add_user(c->messages, text);
}

/* Send the conversation to port; append the assistant reply. extra: more
 * top-level members, e.g. "\"previous_response_id\":\"...\"," */
static int convo_turn(convo_t *c, int port, int tools, const char *extra)
{
    buf_t b = BUF_INIT;
    char *msgs = cJSON_PrintUnformatted(c->messages);
    buf_printf(&b, "{\"model\":\"auto\",%s%s\"messages\":%s}", extra ? extra : "",
               tools ? "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"sh\","
                       "\"parameters\":{}}}],"
                     : "",
               msgs);
    free(msgs);
    char hdr[200] = "";
    if (c->session_header) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", c->session_header);
    thttp_resp_t r;
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r);
    buf_free(&b);
    if (rc != 0 || r.status != 200) {
        fprintf(stderr, "turn failed: status %d: %s\n", r.status, r.body ? r.body : "");
        thttp_resp_free(&r);
        return -1;
    }
    snprintf(c->last_model, sizeof c->last_model, "%s", thttp_resp_header(&r, "x-tether-model"));
    const char *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(c->last_reason, sizeof c->last_reason, "%s", rs ? rs : "");
    const char *ph = thttp_resp_header(&r, "x-tether-session-phase");
    snprintf(c->last_phase, sizeof c->last_phase, "%s", ph ? ph : "");
    const char *ss = thttp_resp_header(&r, "x-tether-session");
    snprintf(c->last_session, sizeof c->last_session, "%s", ss ? ss : "");
    if (getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr, "turn -> port %d model %s reason %s phase %s session %s\n", port,
                c->last_model, c->last_reason, c->last_phase, c->last_session);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    if (!j) return -1;
    snprintf(c->last_id, sizeof c->last_id, "%s", cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *copy = cJSON_Duplicate(msg, 1);
    cJSON_AddItemToArray(c->messages, copy);
    c->last_message = copy;
    cJSON_Delete(j);
    return 0;
}

/* Answer every tool call of the last assistant message. */
static void convo_tool_results(convo_t *c)
{
    tconvo_add_tool_results(c->messages, c->last_message);
}

/* The agent script; ports[t % n] serves turn t (replicas alternate). */
static void run_script(const int *ports, size_t n, const char *session_header, int check_idle)
{
    convo_t c = {.messages = cJSON_CreateArray(), .session_header = session_header};
    size_t t = 0;
    /* 1: a plain question: the chat route, small. Each run opens with its
     * own words: the mock answers deterministically, so identical openers
     * would make two runs one conversation for the prefix chain. */
    char opener[160];
    snprintf(opener, sizeof opener, "hello, can you help me with my code (%s)",
             session_header ? session_header : "no header");
    static int runs;
    if (!session_header)
        snprintf(opener, sizeof opener, "hello, can you help with code, attempt %d", ++runs);
    convo_user(&c, opener);
    assert_int_equal(convo_turn(&c, ports[t++ % n], 1, NULL), 0);
    assert_string_equal(c.last_model, "small");
    assert_string_equal(c.last_reason, "cold_start");
    char first_session[128];
    snprintf(first_session, sizeof first_session, "%s", c.last_session);
    /* 2: the model calls a tool */
    convo_user(&c, "use the tool to run the tests");
    assert_int_equal(convo_turn(&c, ports[t++ % n], 1, NULL), 0);
    assert_string_equal(c.last_model, "small");
    assert_non_null(cJSON_GetObjectItem(c.last_message, "tool_calls"));
    assert_string_equal(c.last_session, first_session);
    /* 3: tool results plus a prompt that would route to big: the tool loop
     * keeps small (only small issued that tool call) */
    convo_tool_results(&c);
    convo_user(&c, "prove the fix is correct");
    assert_int_equal(convo_turn(&c, ports[t++ % n], 1, NULL), 0);
    assert_string_equal(c.last_model, "small");
    assert_string_equal(c.last_reason, "hard_lock_tool_loop");
    assert_string_equal(c.last_phase, "tool_loop");
    /* 4: the loop is over; the reasoning route (matched since turn 3) may
     * now move to big: a safe switch */
    convo_user(&c, "now derive the complexity of the algorithm");
    assert_int_equal(convo_turn(&c, ports[t++ % n], 1, NULL), 0);
    assert_string_equal(c.last_model, "big");
    assert_string_equal(c.last_reason, "switch_allowed");
    /* 5: a previous_response_id that only big issued, with a chat-route
     * prompt: provider-state lock keeps big */
    char extra[200];
    snprintf(extra, sizeof extra, "\"previous_response_id\":\"%s\",", c.last_id);
    convo_user(&c, "thanks, that helps");
    assert_int_equal(convo_turn(&c, ports[t++ % n], 1, extra), 0);
    assert_string_equal(c.last_model, "big");
    assert_string_equal(c.last_reason, "hard_lock_provider_state");
    assert_string_equal(c.last_phase, "provider_state");
    if (check_idle) {
        /* 6: after the idle timeout a chat-route turn may leave big */
        usleep(3300000); /* past the idle timeout: a lower bound, not a race */
        convo_user(&c, "hello again, a small question");
        assert_int_equal(convo_turn(&c, ports[t++ % n], 1, NULL), 0);
        assert_string_equal(c.last_model, "small");
        assert_string_equal(c.last_reason, "idle_reset");
    }
    assert_string_equal(c.last_session, first_session);
    cJSON_Delete(c.messages);
    /* the backends judged every turn themselves */
    assert_int_equal(tstack_mock_violations(tfleet.p_small), 0);
    assert_int_equal(tstack_mock_violations(tfleet.p_big), 0);
}

/* The replay timeline of a session, once the writer has caught up. */
static cJSON *timeline(int mport, const char *session, int want_turns)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/router_replay/sessions/%s", session);
    uint64_t end = tpoll_now_ms() + TPOLL_MS;
    do {
        thttp_resp_t r;
        if (thttp_request("127.0.0.1", mport, "GET", path, NULL, NULL, 0, &r) == 0 &&
            r.status == 200) {
            cJSON *j = cJSON_Parse(r.body);
            thttp_resp_free(&r);
            cJSON *tl = j ? cJSON_GetObjectItem(j, "timeline") : NULL;
            if (tl && cJSON_GetArraySize(tl) >= want_turns) return j;
            cJSON_Delete(j);
        } else {
            thttp_resp_free(&r);
        }
        tpoll_nap();
    } while (tpoll_now_ms() < end);
    return NULL;
}

static void test_agent_session_with_header_has_no_violations(void **state)
{
    reset_mocks();
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/single.yaml", tfleet.dir);
    int port = tsupport_free_port(), mport = tsupport_free_port();
    write_config(cfg, port, mport, NULL);
    tproc_t r;
    assert_true(start_router(&r, cfg) > 0);
    run_script(&port, 1, "agent-1", 1);
    /* the replay timeline tells why it stayed, switched or was locked */
    cJSON *j = timeline(mport, "agent-1", 6);
    assert_non_null(j);
    cJSON *tl = cJSON_GetObjectItem(j, "timeline");
    const char *want[] = {"cold_start",     "stay_best_adjusted",       "hard_lock_tool_loop",
                          "switch_allowed", "hard_lock_provider_state", "idle_reset"};
    if (getenv("TETHER_TEST_VERBOSE")) {
        char *dump = cJSON_Print(tl);
        fprintf(stderr, "%s\n", dump);
        free(dump);
    }
    assert_int_equal(cJSON_GetArraySize(tl), 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, i), "reason")->valuestring,
                            want[i]);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 3), "switched")));
    assert_non_null(cJSON_GetObjectItem(j, "memory"));
    cJSON_Delete(j);
    int st = tproc_stop(&r, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_agent_session_without_header_uses_prefix_chain(void **state)
{
    reset_mocks();
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/fp.yaml", tfleet.dir);
    int port = tsupport_free_port();
    write_config(cfg, port, tsupport_free_port(), NULL);
    tproc_t r;
    assert_true(start_router(&r, cfg) > 0);
    run_script(&port, 1, NULL, 0);
    int st = tproc_stop(&r, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_two_replicas_share_sessions_through_redis(void **state)
{
    reset_mocks();
    tredis_t redis;
    if (tredis_start(&redis, tsupport_free_port()) != 0)
        fail_msg("redis-server is not installed (scripts/deps.sh installs it)");
    int rp = redis.port;
    char addr[64], c1[256], c2[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rp);
    snprintf(c1, sizeof c1, "%s/r1.yaml", tfleet.dir);
    snprintf(c2, sizeof c2, "%s/r2.yaml", tfleet.dir);
    int ports[2] = {tsupport_free_port(), 0};
    write_config(c1, ports[0], tsupport_free_port(), addr);
    tproc_t r1, r2;
    assert_true(start_router(&r1, c1) > 0);
    ports[1] = tsupport_free_port();
    write_config(c2, ports[1], tsupport_free_port(), addr);
    assert_true(start_router(&r2, c2) > 0);
    /* alternate replicas every turn, both with a header and without */
    run_script(ports, 2, "agent-redis", 1);
    run_script(ports, 2, NULL, 0);
    /* Redis dies mid-session: every request still succeeds (degraded to the
     * local store), and locks still hold on the replica that served the loop */
    convo_t c = {.messages = cJSON_CreateArray(), .session_header = "agent-outage"};
    convo_user(&c, "use the tool to run the tests");
    assert_int_equal(convo_turn(&c, ports[0], 1, NULL), 0);
    tredis_stop(&redis, 5000);
    convo_tool_results(&c);
    convo_user(&c, "prove it works");
    assert_int_equal(convo_turn(&c, ports[0], 1, NULL), 0);
    assert_string_equal(c.last_model, "small");
    convo_user(&c, "hello");
    assert_int_equal(convo_turn(&c, ports[1], 1, NULL), 0);
    cJSON_Delete(c.messages);
    assert_int_equal(tstack_mock_violations(tfleet.p_small), 0);
    assert_int_equal(tstack_mock_violations(tfleet.p_big), 0);
    int s1 = tproc_stop(&r1, 10000), s2 = tproc_stop(&r2, 10000);
    assert_true(WIFEXITED(s1) && WEXITSTATUS(s1) == 0);
    assert_true(WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
}

/* A replica is killed (SIGKILL, no drain) in the middle of many tool loops;
 * the next turn of each goes to the other replica, which must find the
 * session in Redis and keep the lock: the strict backends see no
 * violation (issue 17; figures in docs/RELIABILITY.md). */
static void test_replica_killed_mid_session_next_turn_on_the_other(void **state)
{
    enum { SESSIONS = 10 };
    reset_mocks();
    tredis_t redis;
    if (tredis_start(&redis, tsupport_free_port()) != 0)
        fail_msg("redis-server is not installed (scripts/deps.sh installs it)");
    char addr[64], c1[256], c2[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", redis.port);
    snprintf(c1, sizeof c1, "%s/k1.yaml", tfleet.dir);
    snprintf(c2, sizeof c2, "%s/k2.yaml", tfleet.dir);
    int p1 = tsupport_free_port(), p2 = tsupport_free_port();
    write_config(c1, p1, tsupport_free_port(), addr);
    write_config(c2, p2, tsupport_free_port(), addr);
    tproc_t r1, r2;
    assert_true(start_router(&r1, c1) > 0);
    assert_true(start_router(&r2, c2) > 0);
    convo_t c[SESSIONS];
    char names[SESSIONS][32];
    for (int i = 0; i < SESSIONS; i++) {
        snprintf(names[i], sizeof names[i], "agent-kill-%d", i);
        c[i] = (convo_t){.messages = cJSON_CreateArray(), .session_header = names[i]};
        convo_user(&c[i], "use the tool to run the tests");
        assert_int_equal(convo_turn(&c[i], p1, 1, NULL), 0);
    }
    tproc_signal(&r1, SIGKILL);
    tproc_wait(&r1, 10000);
    int failed = 0, kept = 0;
    for (int i = 0; i < SESSIONS; i++) {
        convo_tool_results(&c[i]);
        convo_user(&c[i], "prove the fix is correct");
        if (convo_turn(&c[i], p2, 1, NULL) != 0)
            failed++;
        else
            kept += !strcmp(c[i].last_model, "small") &&
                    !strcmp(c[i].last_reason, "hard_lock_tool_loop");
        cJSON_Delete(c[i].messages);
    }
    int v = tstack_mock_violations(tfleet.p_small) + tstack_mock_violations(tfleet.p_big);
    if (getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr,
                "replica killed: %d sessions mid tool loop, next turn on the other replica: %d "
                "failed, %d kept the lock, %d violations at the strict backends\n",
                SESSIONS, failed, kept, v);
    assert_int_equal(failed, 0);
    assert_int_equal(kept, SESSIONS);
    assert_int_equal(v, 0);
    int s2 = tproc_stop(&r2, 10000);
    assert_true(WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
    tredis_stop(&redis, 5000);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_session_with_header_has_no_violations),
        cmocka_unit_test(test_agent_session_without_header_uses_prefix_chain),
        cmocka_unit_test(test_two_replicas_share_sessions_through_redis),
        cmocka_unit_test(test_replica_killed_mid_session_next_turn_on_the_other),
    };
    return cmocka_run_group_tests(tests, tfleet_setup, tfleet_teardown);
}
