/* test_session_modes.c - the per-decision session setting `mode` through
 * `tether serve` (issue 19): a decision with `mode: observe_only` has the
 * policy compute its verdict (a tool-loop lock on the model that issued the
 * tool call) and record it in the replay record, while the turn is routed
 * per request; `mode: bypass` skips the policy (no_session). Two plain
 * `tether mock` backends (not strict: observe_only knowingly breaks the tool
 * loop, which is what the operator asked for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "http_client.h"
#include "proc.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock_small, mock_big, router;
static int p_small, p_big, port, mport;
static char dir[128];

static int spawn_mock(tproc_t *p)
{
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

/* reasoning (prove) -> big; watch (observe) -> small, observe_only;
 * free (bypass) -> small, bypass; everything else -> small. */
static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/tether-session-modes-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    p_small = spawn_mock(&mock_small);
    p_big = spawn_mock(&mock_big);
    if (p_small <= 0 || p_big <= 0) return -1;
    port = tsupport_free_port();
    mport = tsupport_free_port();
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/modes.yaml", dir);
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - name: small\n      backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: big\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n"
            "  modelCards: [{name: small, quality_score: 0.6}, {name: big, quality_score: 0.9}]\n"
            "  signals:\n    keywords:\n"
            "      - {name: hard, keywords: [prove]}\n"
            "      - {name: obs, keywords: [observe]}\n"
            "      - {name: byp, keywords: [bypass]}\n"
            "  decisions:\n"
            "    - {name: reasoning, priority: 10, rules: {type: keyword, name: hard}, "
            "modelRefs: [{model: big}]}\n"
            "    - {name: watch, priority: 9, rules: {type: keyword, name: obs}, "
            "modelRefs: [{model: small}], algorithm: {session: {mode: observe_only}}}\n"
            "    - {name: free, priority: 8, rules: {type: keyword, name: byp}, "
            "modelRefs: [{model: small}], algorithm: {session: {mode: bypass}}}\n"
            "    - {name: chat, modelRefs: [{model: small}]}\n"
            "global:\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {path: \"%s/replay.db\"}\n",
            port, p_small, p_big, mport, dir);
    fclose(f);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", "1", NULL};
    if (tproc_spawn(&router, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    tproc_stop(&mock_small, 5000);
    tproc_stop(&mock_big, 5000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

typedef struct turn {
    char model[64], reason[64], replay_id[64];
    cJSON *message; /* the assistant message (owned) */
} turn_t;

static const char TOOLS[] =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"sh\",\"parameters\":{}}}],";

/* POST the messages (a JSON array text) as session sid. */
static void post(const char *sid, const char *messages, turn_t *t)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"model\":\"auto\",%s\"messages\":%s}", TOOLS, messages);
    char hdr[200];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", sid);
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r),
        0);
    buf_free(&b);
    if (r.status != 200) fprintf(stderr, "status %d: %s\n", r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    const char *h = thttp_resp_header(&r, "x-tether-model");
    snprintf(t->model, sizeof t->model, "%s", h ? h : "");
    h = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(t->reason, sizeof t->reason, "%s", h ? h : "");
    h = thttp_resp_header(&r, "x-tether-replay-id");
    snprintf(t->replay_id, sizeof t->replay_id, "%s", h ? h : "");
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    assert_non_null(j);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    t->message = cJSON_Duplicate(msg, 1);
    cJSON_Delete(j);
}

/* The replay record's session object, once the writer has caught up. */
static cJSON *record(const char *id)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/router_replay/%s", id);
    for (int i = 0; i < 1000; i++) {
        thttp_resp_t r;
        if (thttp_request("127.0.0.1", mport, "GET", path, NULL, NULL, 0, &r) == 0 &&
            r.status == 200) {
            cJSON *j = cJSON_Parse(r.body);
            thttp_resp_free(&r);
            if (j) return j;
        } else {
            thttp_resp_free(&r);
        }
        usleep(20000);
    }
    return NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A turn on big that calls a tool, then its results and the user prompt
 * `word` (its decision): the verdict locks big (the tool loop); returns that
 * turn. */
static void tool_loop_then(const char *sid, const char *word, turn_t *out)
{
    turn_t t1;
    post(sid, "[{\"role\":\"user\",\"content\":\"prove it, use the tool\"}]", &t1);
    assert_string_equal(t1.model, "big");
    cJSON *msgs = cJSON_CreateArray();
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", "prove it, use the tool");
    cJSON_AddItemToArray(msgs, u);
    cJSON_AddItemToArray(msgs, t1.message);
    cJSON *calls = cJSON_GetObjectItem(t1.message, "tool_calls"), *call;
    assert_non_null(calls);
    cJSON_ArrayForEach(call, calls)
    {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "tool");
        cJSON_AddStringToObject(m, "tool_call_id", cJSON_GetObjectItem(call, "id")->valuestring);
        cJSON_AddStringToObject(m, "content", "3 passed, 1 failed");
        cJSON_AddItemToArray(msgs, m);
    }
    u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", word);
    cJSON_AddItemToArray(msgs, u);
    char *text = cJSON_PrintUnformatted(msgs);
    cJSON_Delete(msgs);
    post(sid, text, out);
    free(text);
    cJSON_Delete(out->message);
    out->message = NULL;
}

static void test_enforce_locks_the_tool_loop(void **state)
{
    /* control: a chat-route prompt (no mode set) inherits reasoning; the lock holds */
    turn_t c;
    tool_loop_then("enf-1", "thanks, what next", &c);
    assert_string_equal(c.model, "big");
    assert_string_equal(c.reason, "hard_lock_tool_loop");
    cJSON *j = record(c.replay_id);
    assert_non_null(j);
    const cJSON *s = cJSON_GetObjectItem(j, "session");
    assert_string_equal(str(s, "mode"), "enforce");
    assert_string_equal(str(s, "selected_model"), "big");
    assert_string_equal(str(j, "model"), "big");
    cJSON_Delete(j);
}

static void test_observe_only_records_the_verdict_routes_per_request(void **state)
{
    turn_t t;
    tool_loop_then("obs-1", "observe the results", &t);
    /* routed per request: watch lists only small */
    assert_string_equal(t.model, "small");
    /* the verdict: the tool loop would have kept big */
    assert_string_equal(t.reason, "hard_lock_tool_loop");
    cJSON *j = record(t.replay_id);
    assert_non_null(j);
    const cJSON *s = cJSON_GetObjectItem(j, "session");
    assert_string_equal(str(j, "decision"), "watch");
    assert_string_equal(str(s, "mode"), "observe_only");
    assert_string_equal(str(s, "selected_model"), "big");
    assert_string_equal(str(s, "reason"), "hard_lock_tool_loop");
    assert_string_equal(str(s, "hard_lock"), "tool_loop");
    assert_string_equal(str(j, "model"), "small");
    cJSON_Delete(j);
}

static void test_bypass_skips_the_policy(void **state)
{
    turn_t t;
    tool_loop_then("byp-1", "bypass the results", &t);
    assert_string_equal(t.model, "small");
    cJSON *j = record(t.replay_id);
    assert_non_null(j);
    const cJSON *s = cJSON_GetObjectItem(j, "session");
    assert_string_equal(str(j, "decision"), "free");
    assert_string_equal(str(s, "mode"), "bypass");
    assert_string_equal(str(s, "reason"), "no_session");
    assert_string_equal(str(s, "hard_lock"), "none");
    assert_string_equal(str(s, "selected_model"), "small");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enforce_locks_the_tool_loop),
        cmocka_unit_test(test_observe_only_records_the_verdict_routes_per_request),
        cmocka_unit_test(test_bypass_skips_the_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
