/* test_handoff.c - the forced handoff (SPEC §9.7) through the real router
 * against two `tether mock --strict` backends, one per model, so each judges
 * continuity itself. A session is hard-locked to model a (a tool call a
 * issued, or encrypted reasoning a returned); then a becomes unavailable -
 * its backend stops, or a reload removes it from the config - and the next
 * turn must be served by b with x-tether-session-reason: forced_handoff,
 * while b's strict stats show zero violations: the converted request
 * carries nothing b never issued. A previous_response_id no store knows
 * makes the handoff impossible: 503 session_model_unavailable naming it.
 *
 * The handoff cases need the proxy to apply sess_handoff_apply
 * (src/session/handoff_rewrite.h) and, for a stopped backend, to treat a
 * model whose every backend failed before the first byte as unavailable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "convo.h"
#include "handoff_pair.h"
#include "http_client.h"
#include "json/scan.h"
#include "request/request.h"
#include "session/handoff_rewrite.h"
#include "session/policy.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef tpair_t env_t; /* two strict mocks and a router (handoff_pair.h) */

static char dir[128];

/* with_a: model a configured (the decision routes everything to it);
 * default_model b is the handoff target of last resort. */
static void write_config(env_t *e, bool with_a)
{
    FILE *f = fopen(e->cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: b}\n  models:\n",
            e->port);
    if (with_a)
        fprintf(f, "    - name: a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n",
                e->pa);
    fprintf(f,
            "    - name: b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [%s{name: b}]\n"
            "  decisions:\n    - {name: chat, modelRefs: [{model: %s}]}\n",
            e->pb, with_a ? "{name: a}, " : "", with_a ? "a" : "b");
    fclose(f);
}

static void env_start(env_t *e, const char *name)
{
    tpair_begin(e, dir, name);
    write_config(e, true);
    tpair_serve(e);
}

/* Remove a from the config and wait until the router serves the new one
 * (a request naming a is then refused: 404 model_not_found). */
static void reload_without_a(env_t *e)
{
    write_config(e, false);
    tproc_signal(&e->router, SIGHUP);
    static const char probe[] =
        "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"probe\"}]}";
    for (int i = 0; i < 800; i++) {
        thttp_resp_t r;
        int rc = thttp_request("127.0.0.1", e->port, "POST", "/v1/chat/completions", NULL, probe,
                               sizeof probe - 1, &r);
        int st = r.status;
        thttp_resp_free(&r);
        if (rc == 0 && st == 404) return; /* model_not_found */
        usleep(25000);
    }
    fail_msg("the reload without model a never took effect");
}

typedef struct convo {
    cJSON *messages;
    const char *session;
    int status;
    char model[64], reason[64], code[64], message[512];
    cJSON *last_message;
} convo_t;

static void convo_user(convo_t *c, const char *text)
{
    tconvo_add_user(c->messages, text);
}

/* One turn; on 200 the assistant message is appended. Returns the status. */
static int convo_turn(convo_t *c, int port, const char *extra)
{
    buf_t b = BUF_INIT;
    char *msgs = cJSON_PrintUnformatted(c->messages);
    buf_printf(&b,
               "{\"model\":\"auto\",%s\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
               "\"sh\",\"parameters\":{}}}],\"messages\":%s}",
               extra ? extra : "", msgs);
    free(msgs);
    char hdr[200];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", c->session);
    thttp_resp_t r;
    int rc =
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", hdr, b.data, b.len, &r);
    buf_free(&b);
    assert_int_equal(rc, 0);
    c->status = r.status;
    const char *m = thttp_resp_header(&r, "x-tether-model");
    const char *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(c->model, sizeof c->model, "%s", m ? m : "");
    snprintf(c->reason, sizeof c->reason, "%s", rs ? rs : "");
    c->code[0] = c->message[0] = 0;
    if (getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr, "turn -> %d model %s reason %s: %.300s\n", r.status, c->model, c->reason,
                r.body);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    assert_non_null(j);
    if (c->status == 200) {
        cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0),
                                         "message");
        c->last_message = cJSON_Duplicate(msg, 1);
        cJSON_AddItemToArray(c->messages, c->last_message);
    } else {
        cJSON *err = cJSON_GetObjectItem(j, "error");
        cJSON *code = cJSON_GetObjectItem(err, "code"), *msg = cJSON_GetObjectItem(err, "message");
        snprintf(c->code, sizeof c->code, "%s", cJSON_IsString(code) ? code->valuestring : "");
        snprintf(c->message, sizeof c->message, "%s", cJSON_IsString(msg) ? msg->valuestring : "");
    }
    cJSON_Delete(j);
    return c->status;
}

static void convo_tool_results(convo_t *c)
{
    assert_true(tconvo_add_tool_results(c->messages, c->last_message) > 0);
}

/* b served the handed-off turn and saw nothing it never issued */
static void assert_b_clean(env_t *e, int want_requests)
{
    assert_int_equal(tstack_mock_stat(e->pb, "requests"), want_requests);
    assert_int_equal(tstack_mock_stat(e->pb, "violations"), 0);
}

/* A tool call a issued, its result pending; a's backend stops. */
static void test_tool_loop_handed_off_when_backend_stops(void **state)
{
    env_t e;
    env_start(&e, "loop");
    convo_t c = {.messages = cJSON_CreateArray(), .session = "ho-loop"};
    convo_user(&c, "use the tool to run the tests");
    assert_int_equal(convo_turn(&c, e.port, NULL), 200);
    assert_string_equal(c.model, "a");
    assert_non_null(cJSON_GetObjectItem(c.last_message, "tool_calls"));
    convo_tool_results(&c);
    tproc_stop(&e.mock_a, 5000);
    assert_int_equal(convo_turn(&c, e.port, NULL), 200);
    assert_string_equal(c.model, "b");
    assert_string_equal(c.reason, "forced_handoff");
    assert_b_clean(&e, 1);
    /* the session now lives on b: the client's own history (a's tool call
     * before b's answer) is ordinary history there */
    convo_user(&c, "thanks, what next");
    assert_int_equal(convo_turn(&c, e.port, NULL), 200);
    assert_string_equal(c.model, "b");
    assert_b_clean(&e, 2);
    cJSON_Delete(c.messages);
    tpair_stop(&e);
}

/* Encrypted reasoning a returned, sent back; a's backend stops. */
static void test_encrypted_reasoning_handed_off_when_backend_stops(void **state)
{
    env_t e;
    env_start(&e, "reason");
    convo_t c = {.messages = cJSON_CreateArray(), .session = "ho-reason"};
    static const char effort[] = "\"reasoning_effort\":\"high\",";
    convo_user(&c, "think hard about this design");
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "a");
    assert_non_null(cJSON_GetObjectItem(c.last_message, "reasoning_details"));
    /* the reasoning sent back locks the session to a */
    convo_user(&c, "and the second part");
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "a");
    assert_string_equal(c.reason, "hard_lock_provider_state");
    tproc_stop(&e.mock_a, 5000);
    convo_user(&c, "and the third");
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "b");
    assert_string_equal(c.reason, "forced_handoff");
    assert_b_clean(&e, 1);
    cJSON_Delete(c.messages);
    tpair_stop(&e);
}

/* The same lock; a reload removes model a from the config. */
static void test_handed_off_when_model_removed(void **state)
{
    env_t e;
    env_start(&e, "removed");
    convo_t c = {.messages = cJSON_CreateArray(), .session = "ho-removed"};
    static const char effort[] = "\"reasoning_effort\":\"high\",";
    convo_user(&c, "think hard about this design");
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "a");
    convo_user(&c, "use the tool to run the tests");
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "a");
    convo_tool_results(&c); /* a tool loop and encrypted reasoning */
    reload_without_a(&e);
    assert_int_equal(convo_turn(&c, e.port, effort), 200);
    assert_string_equal(c.model, "b");
    assert_string_equal(c.reason, "forced_handoff");
    assert_b_clean(&e, 1);
    cJSON_Delete(c.messages);
    tpair_stop(&e);
}

/* A previous_response_id no store knows cannot be expanded: 503. */
static void test_unknown_previous_response_id_is_impossible(void **state)
{
    env_t e;
    env_start(&e, "prid");
    convo_t c = {.messages = cJSON_CreateArray(), .session = "ho-prid"};
    convo_user(&c, "hello there");
    assert_int_equal(convo_turn(&c, e.port, NULL), 200);
    assert_string_equal(c.model, "a");
    reload_without_a(&e);
    convo_user(&c, "go on");
    assert_int_equal(convo_turn(&c, e.port, "\"previous_response_id\":\"resp_nowhere\","), 503);
    assert_string_equal(c.code, "session_model_unavailable");
    assert_non_null(strstr(c.message, "previous_response_id"));
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 0); /* nothing was sent to b */
    cJSON_Delete(c.messages);
    tpair_stop(&e);
}

/* POST body to a mock directly; returns the status. */
static int post_mock(int port, const char *body, size_t len)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", NULL, body, len, &r) != 0)
        return -1;
    int st = r.status;
    if (getenv("TETHER_TEST_VERBOSE")) fprintf(stderr, "mock %d -> %d: %.200s\n", port, st, r.body);
    thttp_resp_free(&r);
    return st;
}

/* The conversion alone, without the proxy: a conversation a served (tool
 * call plus encrypted reasoning, results pending) is converted with the plan
 * the policy makes, and b accepts it - while b refuses the unconverted body. */
static void test_converted_body_is_accepted_by_strict_b(void **state)
{
    env_t e;
    env_start(&e, "direct");
    static const char turn1[] =
        "{\"model\":\"a\",\"reasoning_effort\":\"high\",\"tools\":[{\"type\":\"function\","
        "\"function\":{\"name\":\"sh\",\"parameters\":{}}}],\"messages\":[{\"role\":\"user\","
        "\"content\":\"use the tool to run the tests\"}]}";
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", e.pa, "POST", "/v1/chat/completions", NULL, turn1,
                                   sizeof turn1 - 1, &r),
                     0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *call = cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "tool_calls"), 0);
    assert_non_null(call);
    assert_non_null(cJSON_GetObjectItem(msg, "reasoning_details"));
    cJSON *req = cJSON_Parse(turn1);
    cJSON *msgs = cJSON_GetObjectItem(req, "messages");
    cJSON_AddItemToArray(msgs, cJSON_Duplicate(msg, 1));
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "role", "tool");
    cJSON_AddStringToObject(res, "tool_call_id", cJSON_GetObjectItem(call, "id")->valuestring);
    cJSON_AddStringToObject(res, "content", "3 passed");
    cJSON_AddItemToArray(msgs, res);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    cJSON_Delete(j);
    size_t len = strlen(body);

    arena_t a;
    arena_init(&a, 8192);
    jreq_t jr;
    assert_int_equal(jscan_request(body, len, &a, &jr, NULL), 0);
    rq_t *rq = rq_from_chat(&a, body, len, &jr, NULL, 0);
    sess_facts_t f;
    memset(&f, 0, sizeof f);
    sess_facts_from_rq(rq, &f);
    assert_true(f.active_tool_loop);
    assert_true(f.bindings & RQ_BIND_ENCRYPTED_REASONING);
    cfg_session_t k;
    memset(&k, 0, sizeof k);
    k.handoff_on_unavailable = true;
    sess_handoff_t h;
    sess_handoff_plan(&k, &f, "a", "b", &h);
    assert_true(h.possible);
    const char *nb;
    size_t nl;
    sess_handoff_result_t hr;
    assert_int_equal(sess_handoff_apply(rq, &h, NULL, &a, &nb, &nl, &hr), 0);
    assert_true(hr.n_applied >= 2);

    assert_int_equal(post_mock(e.pb, body, len), 400); /* unconverted: refused */
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 1);
    assert_int_equal(post_mock(e.pb, nb, nl), 200); /* converted: accepted */
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 1);
    free(body);
    arena_deinit(&a);
    tpair_stop(&e);
}

static int setup(void **state)
{
    return tstack_workdir(dir, sizeof dir, "handoff");
}

static int teardown(void **state)
{
    return tstack_workdir_remove(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_converted_body_is_accepted_by_strict_b, tpair_test_teardown),
        cmocka_unit_test_teardown(test_unknown_previous_response_id_is_impossible,
                                  tpair_test_teardown),
        cmocka_unit_test_teardown(test_handed_off_when_model_removed, tpair_test_teardown),
        cmocka_unit_test_teardown(test_tool_loop_handed_off_when_backend_stops,
                                  tpair_test_teardown),
        cmocka_unit_test_teardown(test_encrypted_reasoning_handed_off_when_backend_stops,
                                  tpair_test_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
