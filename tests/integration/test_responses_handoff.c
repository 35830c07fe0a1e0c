/* test_responses_handoff.c - the forced handoff of a stored Responses chain
 * (SPEC §9.4, §9.7) through the real router against two `tether mock
 * --strict` backends, one per model. A Responses conversation on model a
 * (emulate mode: tether's store holds the chain, which locks the session to
 * a); a's mock stops; the next turn with previous_response_id must be served
 * by b with x-tether-session-reason: forced_handoff, the stored chain
 * expanded into explicit messages, and b's strict stats showing zero
 * violations - also when the chain ends in a tool call of a (the tool loop
 * goes to b as plain history). With treat_stored_chains_as_portable the
 * chain does not lock the session at all. With responses_mode: native on a, the chain
 * is a's provider state: a gone means 503 session_model_unavailable and
 * nothing sent to b. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "handoff_pair.h"
#include "http_client.h"
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

/* The decision routes everything to a; default_model b is the handoff
 * target. a_mode: "emulate" or "native" (responses_mode of a). */
static void env_start_g(env_t *e, const char *name, const char *a_mode, const char *global)
{
    tpair_begin(e, dir, name);
    FILE *f = fopen(e->cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: b}\n  models:\n"
            "    - name: a\n      responses_mode: %s\n"
            "      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: a}, {name: b}]\n"
            "  decisions:\n    - {name: chat, modelRefs: [{model: a}]}\n",
            e->port, a_mode, e->pa, e->pb);
    if (global) fprintf(f, "global:\n%s", global);
    fclose(f);
    tpair_serve(e);
}

static void env_start(env_t *e, const char *name, const char *a_mode)
{
    env_start_g(e, name, a_mode, NULL);
}

typedef struct turn {
    int status;
    char id[600], model[64], reason[64], code[64], message[512];
    char out_type[64], call_id[128];
} turn_t;

/* One Responses turn (model "auto", session header); input is a JSON value. */
static void rturn(int port, const char *session, const char *prev, const char *input, turn_t *t)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\",\"name\":\"sh\","
               "\"parameters\":{\"type\":\"object\"}}],\"input\":%s",
               input);
    if (prev) buf_printf(&b, ",\"previous_response_id\":\"%s\"", prev);
    buf_puts(&b, "}");
    char hdr[200];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", session);
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/responses", hdr, b.data, b.len, &r), 0);
    buf_free(&b);
    memset(t, 0, sizeof *t);
    t->status = r.status;
    const char *m = thttp_resp_header(&r, "x-tether-model");
    const char *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(t->model, sizeof t->model, "%s", m ? m : "");
    snprintf(t->reason, sizeof t->reason, "%s", rs ? rs : "");
    if (getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr, "turn -> %d model %s reason %s: %.400s\n", r.status, t->model, t->reason,
                r.body);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    assert_non_null(j);
    if (t->status == 200) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
        snprintf(t->id, sizeof t->id, "%s", id ? id : "");
        cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "output"), 0);
        const char *ty = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
        const char *ci = cJSON_GetStringValue(cJSON_GetObjectItem(o, "call_id"));
        snprintf(t->out_type, sizeof t->out_type, "%s", ty ? ty : "");
        snprintf(t->call_id, sizeof t->call_id, "%s", ci ? ci : "");
    } else {
        cJSON *err = cJSON_GetObjectItem(j, "error");
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(err, "code"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(err, "message"));
        snprintf(t->code, sizeof t->code, "%s", c ? c : "");
        snprintf(t->message, sizeof t->message, "%s", msg ? msg : "");
    }
    cJSON_Delete(j);
}

/* Emulated chain on a, plain turns; a's backend stops: handed off to b. */
static void test_stored_chain_handed_off_when_backend_stops(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, "plain", "emulate");
    turn_t t1, t2, t3, t4;
    rturn(e.port, "rh-plain", NULL, "\"hello there\"", &t1);
    assert_int_equal(t1.status, 200);
    assert_string_equal(t1.model, "a");
    rturn(e.port, "rh-plain", t1.id, "\"tell me more\"", &t2);
    assert_int_equal(t2.status, 200);
    assert_string_equal(t2.model, "a");
    /* the stored chain binds the session to a */
    assert_string_equal(t2.reason, "hard_lock_provider_state");
    tproc_stop(&e.mock_a, 5000);
    rturn(e.port, "rh-plain", t2.id, "\"and the rest\"", &t3);
    assert_int_equal(t3.status, 200);
    assert_string_equal(t3.model, "b");
    assert_string_equal(t3.reason, "forced_handoff");
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 1);
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 0);
    /* the chain continues on b, through the store */
    rturn(e.port, "rh-plain", t3.id, "\"thanks\"", &t4);
    assert_int_equal(t4.status, 200);
    assert_string_equal(t4.model, "b");
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 2);
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 0);
    tpair_stop(&e);
}

/* The chain ends in a's tool call; its output comes after a stopped. */
static void test_stored_tool_loop_handed_off(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, "loop", "emulate");
    turn_t t1, t2;
    rturn(e.port, "rh-loop", NULL, "\"use the tool to run the tests\"", &t1);
    assert_int_equal(t1.status, 200);
    assert_string_equal(t1.model, "a");
    assert_string_equal(t1.out_type, "function_call");
    tproc_stop(&e.mock_a, 5000);
    char input[256];
    snprintf(input, sizeof input,
             "[{\"type\":\"function_call_output\",\"call_id\":\"%s\",\"output\":\"3 passed\"}]",
             t1.call_id);
    rturn(e.port, "rh-loop", t1.id, input, &t2);
    assert_int_equal(t2.status, 200);
    assert_string_equal(t2.model, "b");
    assert_string_equal(t2.reason, "forced_handoff");
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 1);
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 0);
    tpair_stop(&e);
}

/* treat_stored_chains_as_portable: the stored chain does not lock; with a
 * gone the turn still reaches b (by the fallback) with the chain expanded. */
static void test_portable_stored_chain_does_not_lock(void **state)
{
    (void)state;
    env_t e;
    env_start_g(&e, "portable", "emulate",
                "  router:\n    session: {treat_stored_chains_as_portable: true}\n");
    turn_t t1, t2, t3;
    rturn(e.port, "rh-portable", NULL, "\"hello there\"", &t1);
    assert_int_equal(t1.status, 200);
    rturn(e.port, "rh-portable", t1.id, "\"tell me more\"", &t2);
    assert_int_equal(t2.status, 200);
    assert_string_equal(t2.model, "a");
    assert_string_not_equal(t2.reason, "hard_lock_provider_state");
    tproc_stop(&e.mock_a, 5000);
    rturn(e.port, "rh-portable", t2.id, "\"and the rest\"", &t3);
    assert_int_equal(t3.status, 200);
    assert_string_equal(t3.model, "b");
    assert_string_not_equal(t3.reason, "forced_handoff");
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 1);
    assert_int_equal(tstack_mock_stat(e.pb, "violations"), 0);
    tpair_stop(&e);
}

/* responses_mode: native - the chain is a's state: 503, b untouched. */
static void test_native_chain_unavailable(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, "native", "native");
    turn_t t1, t2;
    rturn(e.port, "rh-native", NULL, "\"hello there\"", &t1);
    assert_int_equal(t1.status, 200);
    assert_string_equal(t1.model, "a");
    tproc_stop(&e.mock_a, 5000);
    rturn(e.port, "rh-native", t1.id, "\"go on\"", &t2);
    assert_int_equal(t2.status, 503);
    assert_string_equal(t2.code, "session_model_unavailable");
    assert_non_null(strstr(t2.message, "previous_response_id"));
    assert_int_equal(tstack_mock_stat(e.pb, "requests"), 0);
    tpair_stop(&e);
}

static int setup(void **state)
{
    return tstack_workdir(dir, sizeof dir, "rhandoff");
}

static int teardown(void **state)
{
    return tstack_workdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stored_chain_handed_off_when_backend_stops,
                                  tpair_test_teardown),
        cmocka_unit_test_teardown(test_stored_tool_loop_handed_off, tpair_test_teardown),
        cmocka_unit_test_teardown(test_portable_stored_chain_does_not_lock, tpair_test_teardown),
        cmocka_unit_test_teardown(test_native_chain_unavailable, tpair_test_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
