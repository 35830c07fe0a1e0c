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
#include "http_client.h"
#include "proc.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct env {
    tproc_t mock_a, mock_b, router;
    int pa, pb, port;
    char cfg[256];
} env_t;

static char dir[128];
static env_t *live; /* stopped by test_teardown when an assertion failed */

static int spawn_mock(tproc_t *p)
{
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", "--strict", NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

/* The decision routes everything to a; default_model b is the handoff
 * target. a_mode: "emulate" or "native" (responses_mode of a). */
static void env_start_g(env_t *e, const char *name, const char *a_mode, const char *global)
{
    memset(e, 0, sizeof *e);
    live = e;
    e->pa = spawn_mock(&e->mock_a);
    e->pb = spawn_mock(&e->mock_b);
    assert_true(e->pa > 0 && e->pb > 0);
    e->port = tsupport_free_port();
    snprintf(e->cfg, sizeof e->cfg, "%s/%s.yaml", dir, name);
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
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", e->cfg, "--workers", "1", NULL};
    assert_int_equal(tproc_spawn(&e->router, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET),
                     0);
    assert_true(tproc_wait_listening(&e->router, 10000) > 0);
}

static void env_start(env_t *e, const char *name, const char *a_mode)
{
    env_start_g(e, name, a_mode, NULL);
}

static void env_stop(env_t *e)
{
    live = NULL;
    int st = tproc_stop(&e->router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (e->mock_a.pid) tproc_stop(&e->mock_a, 5000);
    tproc_stop(&e->mock_b, 5000);
}

/* a mock's /mock/stats member (requests, violations) */
static int stat_of(int port, const char *key)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", port, "GET", "/mock/stats", NULL, NULL, 0, &r) != 0) return -1;
    cJSON *j = cJSON_Parse(r.body);
    cJSON *v = j ? cJSON_GetObjectItem(j, key) : NULL;
    int n = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(j);
    thttp_resp_free(&r);
    return n;
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
    assert_int_equal(stat_of(e.pb, "requests"), 1);
    assert_int_equal(stat_of(e.pb, "violations"), 0);
    /* the chain continues on b, through the store */
    rturn(e.port, "rh-plain", t3.id, "\"thanks\"", &t4);
    assert_int_equal(t4.status, 200);
    assert_string_equal(t4.model, "b");
    assert_int_equal(stat_of(e.pb, "requests"), 2);
    assert_int_equal(stat_of(e.pb, "violations"), 0);
    env_stop(&e);
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
    assert_int_equal(stat_of(e.pb, "requests"), 1);
    assert_int_equal(stat_of(e.pb, "violations"), 0);
    env_stop(&e);
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
    assert_int_equal(stat_of(e.pb, "requests"), 1);
    assert_int_equal(stat_of(e.pb, "violations"), 0);
    env_stop(&e);
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
    assert_int_equal(stat_of(e.pb, "requests"), 0);
    env_stop(&e);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tether-rhandoff-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int test_teardown(void **state)
{
    (void)state;
    if (live) {
        tproc_stop(&live->router, 2000);
        if (live->mock_a.pid) tproc_stop(&live->mock_a, 2000);
        tproc_stop(&live->mock_b, 2000);
        live = NULL;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stored_chain_handed_off_when_backend_stops, test_teardown),
        cmocka_unit_test_teardown(test_stored_tool_loop_handed_off, test_teardown),
        cmocka_unit_test_teardown(test_portable_stored_chain_does_not_lock, test_teardown),
        cmocka_unit_test_teardown(test_native_chain_unavailable, test_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
