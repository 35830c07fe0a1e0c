/* test_redis_outage_agent.c - the agent APIs through a Redis outage (issue
 * 20 item 4; the chat sessions are test_redis_outage.c). Two router
 * replicas share one Redis (session store and response store), each model
 * has its own strict mock that rejects (400) any provider-bound state it did
 * not issue, and every session alternates replicas on every request while
 * Redis is killed for 10 s (4 s under the sanitizers) and restarted.
 *
 * Responses sessions (responses_mode: native): every turn continues the
 * provider's chain with previous_response_id (as issued by tether: wrapped
 * with its signed binding), with tool calls answered by
 * function_call_output, streamed and not, with and without x-session-id.
 * Asserted: 0 failed requests and 0 violations.
 *
 * Messages sessions (api_format: anthropic): no response ids; tool loops
 * whose tool_use ids only the calling model knows, where the model that
 * calls the tool differs from the model of the turn before, which the other
 * replica served; the ids carry the issuing model's binding (tool form).
 * Asserted: 0 failed requests and 0 violations. docs/sessions.md quotes the
 * figures.
 *
 * TETHER_OUTAGE_MS overrides the outage length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
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

/* "prove"/"derive" route to big, everything else to small; model_opt is
 * the models' protocol line ("responses_mode: native" or "api_format:
 * anthropic"). */
/* timeout_ms 1000: the outage here is a killed server, which fails at once;
 * the 50 ms default let a reply stalled by a loaded test machine trip the
 * breaker again after recovery (still_degraded). */
static void write_config(const char *path, int port, int mgmt, const char *redis_addr,
                         const void *ctx)
{
    const char *model_opt = ctx;
    FILE *f = tfleet_config(&tfleet, path, port, model_opt);
    assert_non_null(f);
    fprintf(f,
            "global:\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  stores:\n    session: {backend: redis, redis: {address: \"%s\", timeout_ms: 1000}, "
            "binding_key_env: "
            "TETHER_TEST_BINDING_KEY}\n"
            "    responses: {backend: redis, redis: {address: \"%s\", key_prefix: \"rt:\", "
            "timeout_ms: 1000}}\n",
            mgmt, redis_addr, redis_addr);
    fclose(f);
}

/* ---- the sessions ---- */

typedef struct sess {
    bool messages; /* Messages API, else Responses */
    bool header;   /* x-session-id */
    bool stream;
    char sid[64];
    int step, req;
    char last_id[600];  /* Responses: the previous response's id */
    char calls[4][256]; /* open tool calls of the last reply (wrapped ids) */
    int n_calls;
    cJSON *history; /* Messages: the whole conversation */
} sess_t;

typedef struct tally {
    int requests, failed;
} tally_t;

static int generation;
static const char *phase = "before"; /* for the failure lines */
static int shown;                    /* failure lines printed in this phase */

static void sess_begin(sess_t *s, int i, bool messages)
{
    cJSON_Delete(s->history);
    memset(s, 0, sizeof *s);
    s->messages = messages;
    s->history = cJSON_CreateArray();
    s->header = i % 2 == 0;
    s->stream = i % 3 == 1;
    snprintf(s->sid, sizeof s->sid, "agent-outage-%d-%d", i, ++generation);
}

/* The function calls of a Response object. */
static void take_calls(sess_t *s, const cJSON *resp)
{
    s->n_calls = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(resp, "output"))
    {
        const char *ty = cJSON_GetStringValue(cJSON_GetObjectItem(it, "type"));
        const char *cid = cJSON_GetStringValue(cJSON_GetObjectItem(it, "call_id"));
        if (ty && !strcmp(ty, "function_call") && cid && s->n_calls < 4)
            snprintf(s->calls[s->n_calls++], sizeof s->calls[0], "%s", cid);
    }
}

/* The data of the last event named ev in an SSE body (a new string). */
static char *sse_last(const char *body, const char *ev)
{
    char pat[96];
    snprintf(pat, sizeof pat, "event: %s\ndata: ", ev);
    const char *p = NULL, *q = body;
    while ((q = strstr(q, pat)) != NULL) {
        p = q;
        q += strlen(pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static void responses_body(sess_t *s, const char *text, bool tool_results, buf_t *b)
{
    buf_puts(b, "{\"model\":\"auto\",");
    if (s->stream) buf_puts(b, "\"stream\":true,");
    if (s->last_id[0]) {
        buf_puts(b, "\"previous_response_id\":");
        buf_json_str(b, s->last_id, strlen(s->last_id));
        buf_putc(b, ',');
    }
    buf_puts(b,
             "\"tools\":[{\"type\":\"function\",\"name\":\"sh\",\"parameters\":{}}],\"input\":[");
    if (tool_results)
        for (int k = 0; k < s->n_calls; k++)
            buf_printf(b,
                       "{\"type\":\"function_call_output\",\"call_id\":\"%s\",\"output\":\"3 "
                       "passed, 1 failed\"},",
                       s->calls[k]);
    buf_puts(b, "{\"type\":\"message\",\"role\":\"user\",\"content\":");
    buf_json_str(b, text, strlen(text));
    buf_puts(b, "}]}");
}

static void messages_body(sess_t *s, const char *model, const char *text, bool tool_results,
                          buf_t *b)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON *c = cJSON_AddArrayToObject(m, "content");
    if (tool_results)
        for (int k = 0; k < s->n_calls; k++) {
            cJSON *tr = cJSON_CreateObject();
            cJSON_AddStringToObject(tr, "type", "tool_result");
            cJSON_AddStringToObject(tr, "tool_use_id", s->calls[k]);
            cJSON_AddStringToObject(tr, "content", "3 passed, 1 failed");
            cJSON_AddItemToArray(c, tr);
        }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", "text");
    cJSON_AddStringToObject(t, "text", text);
    cJSON_AddItemToArray(c, t);
    cJSON_AddItemToArray(s->history, m);
    char *h = cJSON_PrintUnformatted(s->history);
    buf_printf(b,
               "{\"model\":\"%s\",\"max_tokens\":256,%s\"tools\":[{\"name\":\"sh\","
               "\"input_schema\":{\"type\":\"object\"}}],\"messages\":%s}",
               model, s->stream ? "\"stream\":true," : "", h);
    free(h);
}

/* Messages: the assistant turn of a reply (JSON or stream) into history. */
static void take_message(sess_t *s, const char *body)
{
    s->n_calls = 0;
    cJSON *asst = cJSON_CreateObject();
    cJSON_AddStringToObject(asst, "role", "assistant");
    cJSON *content = cJSON_AddArrayToObject(asst, "content");
    cJSON *j = s->stream ? NULL : cJSON_Parse(body);
    if (j) {
        const cJSON *blk;
        cJSON_ArrayForEach(blk, cJSON_GetObjectItem(j, "content"))
            cJSON_AddItemToArray(content, cJSON_Duplicate(blk, 1));
    } else {
        /* content_block_start events carry the tool_use blocks */
        const char *q = body;
        buf_t text = BUF_INIT;
        while ((q = strstr(q, "data: ")) != NULL) {
            q += 6;
            const char *e = strchr(q, '\n');
            cJSON *ev = cJSON_ParseWithLength(q, e ? (size_t)(e - q) : strlen(q));
            const char *ty = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
            if (ty && !strcmp(ty, "content_block_start")) {
                cJSON *cb = cJSON_GetObjectItem(ev, "content_block");
                const char *bt = cJSON_GetStringValue(cJSON_GetObjectItem(cb, "type"));
                if (bt && !strcmp(bt, "tool_use")) {
                    cJSON *d = cJSON_Duplicate(cb, 1);
                    cJSON_ReplaceItemInObject(d, "input", cJSON_CreateObject());
                    cJSON_AddItemToArray(content, d);
                }
            } else if (ty && !strcmp(ty, "content_block_delta")) {
                const char *tx = cJSON_GetStringValue(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "delta"), "text"));
                if (tx) buf_puts(&text, tx);
            }
            cJSON_Delete(ev);
        }
        if (text.len) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "type", "text");
            cJSON_AddStringToObject(t, "text", text.data);
            cJSON_InsertItemInArray(content, 0, t);
        }
        buf_free(&text);
    }
    cJSON_Delete(j);
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const char *bt = cJSON_GetStringValue(cJSON_GetObjectItem(blk, "type"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(blk, "id"));
        if (bt && !strcmp(bt, "tool_use") && id && s->n_calls < 4)
            snprintf(s->calls[s->n_calls++], sizeof s->calls[0], "%s", id);
    }
    if (!cJSON_GetArraySize(content)) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddStringToObject(t, "text", "ok");
        cJSON_AddItemToArray(content, t);
    }
    cJSON_AddItemToArray(s->history, asst);
}

static int sess_send(sess_t *s, const int *ports, const char *model, const char *text,
                     bool tool_results, tally_t *t)
{
    buf_t b = BUF_INIT;
    if (s->messages)
        messages_body(s, model, text, tool_results, &b);
    else
        responses_body(s, text, tool_results, &b);
    char hdr[160] = "";
    if (s->header) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", s->sid);
    int port = ports[s->req++ % 2];
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", port, "POST",
                           s->messages ? "/v1/messages" : "/v1/responses", hdr, b.data, b.len, &r);
    buf_free(&b);
    t->requests++;
    if (rc != 0 || r.status != 200 || (s->stream && strstr(r.body, "event: error"))) {
        t->failed++;
        if (shown++ < 12)
            fprintf(stderr, "failed %s: %s step %d port %d status %d model %s reason %s: %.160s\n",
                    phase, s->sid, s->step, port, r.status, thttp_resp_header(&r, "x-tether-model"),
                    thttp_resp_header(&r, "x-tether-session-reason"), r.body ? r.body : "");
        thttp_resp_free(&r);
        return -1;
    }
    if (s->messages) {
        take_message(s, r.body);
    } else {
        char *done = s->stream ? sse_last(r.body, "response.completed") : NULL;
        cJSON *j = cJSON_Parse(s->stream ? (done ? done : "") : r.body);
        cJSON *resp = s->stream ? cJSON_GetObjectItem(j, "response") : j;
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(resp, "id"));
        snprintf(s->last_id, sizeof s->last_id, "%s", id ? id : "");
        take_calls(s, resp);
        cJSON_Delete(j);
        free(done);
    }
    thttp_resp_free(&r);
    return 0;
}

/* The script. Steps 1 and 4 ask for a tool, 2 and 5 answer it with a
 * prompt that would route elsewhere. Messages sessions move to big at step
 * 3 and the client names small for step 4, so small calls the tool while
 * the replica that served step 3 (and serves step 5) last saw big: during
 * the outage it must not send step 5's tool results to big by memory.
 * Responses sessions chain every turn with previous_response_id. */
static void sess_step(sess_t *s, int i, const int *ports, tally_t *t)
{
    static const struct {
        const char *text;
        bool tool_results;
        const char *messages_model; /* the client names the model (Messages) */
    } script[] = {
        {"hello, can you help me with my code", false, "auto"},
        {"use the tool to run the tests", false, "auto"},
        {"prove the fix is correct", true, "auto"},
        {"now derive the complexity of the algorithm", false, "auto"},
        {"thanks; use the tool to run the tests", false, "small"},
        {"hello, a small question about style", true, "auto"},
        {"ok, thanks", false, "auto"},
    };
    int n = (int)(sizeof script / sizeof script[0]);
    char first[160];
    const char *text = script[s->step].text;
    if (s->step == 0) {
        snprintf(first, sizeof first, "%s: %s", s->sid, text);
        text = first;
    }
    int rc =
        sess_send(s, ports, script[s->step].messages_model, text, script[s->step].tool_results, t);
    if (rc != 0 || ++s->step >= n) sess_begin(s, i, s->messages);
}

static void drive(sess_t *ss, const int *ports, uint64_t ms, tally_t *t)
{
    uint64_t end = clock_mono_ms() + ms;
    while (clock_mono_ms() < end)
        for (int i = 0; i < N_SESS; i++) {
            sess_step(&ss[i], i, ports, t);
            usleep(2000);
        }
}

typedef struct outage_result {
    tally_t before, during, after;
    tally_t settled; /* the part of after once both replicas left degraded mode */
    int v_before, v_during, v_after;
    bool recovered, still_degraded;
} outage_result_t;

static void run_outage(const char *model_opt, bool messages, outage_result_t *o)
{
    TREDIS_NEED();
    setenv("TETHER_TEST_BINDING_KEY", "0123456789abcdef0123456789abcdef", 1);
    memset(o, 0, sizeof *o);
    tfleet_pair_t pair;
    tfleet_pair_start(&pair, &tfleet, write_config, model_opt);
    const int *ports = pair.ports, *mports = pair.mports;
    int outage_ms = OUTAGE_MS_DEFAULT;
    if (getenv("TETHER_OUTAGE_MS")) outage_ms = atoi(getenv("TETHER_OUTAGE_MS"));
    int v0 = tfleet_violations(&tfleet);
    phase = "before";
    shown = 0;
    sess_t ss[N_SESS] = {0};
    for (int i = 0; i < N_SESS; i++)
        sess_begin(&ss[i], i, messages);
    drive(ss, ports, 2000, &o->before);
    o->v_before = tfleet_violations(&tfleet) - v0;
    tredis_kill(&pair.redis);
    phase = "during";
    shown = 0;
    drive(ss, ports, (uint64_t)outage_ms, &o->during);
    o->v_during = tfleet_violations(&tfleet) - v0 - o->v_before;
    assert_int_equal(tredis_start(&pair.redis, pair.redis.port), 0);
    phase = "after";
    shown = 0;
    uint64_t t0 = clock_mono_ms();
    while (!o->recovered && clock_mono_ms() - t0 < 30000) {
        drive(ss, ports, 500, &o->after);
        o->recovered =
            tstack_store_degraded(mports[0]) == 0 && tstack_store_degraded(mports[1]) == 0;
    }
    uint64_t recovery_ms = clock_mono_ms() - t0;
    drive(ss, ports, 3000, &o->settled);
    o->after.requests += o->settled.requests;
    o->after.failed += o->settled.failed;
    o->v_after = tfleet_violations(&tfleet) - v0 - o->v_before - o->v_during;
    o->still_degraded =
        tstack_store_degraded(mports[0]) != 0 || tstack_store_degraded(mports[1]) != 0;
    fprintf(stderr,
            "%s, outage %d ms: before %d requests %d failed %d violations; during %d/%d/%d; "
            "after %d/%d/%d (once recovered: %d/%d); recovered: %s within %llu ms\n",
            messages ? "messages" : "responses", outage_ms, o->before.requests, o->before.failed,
            o->v_before, o->during.requests, o->during.failed, o->v_during, o->after.requests,
            o->after.failed, o->v_after, o->settled.requests, o->settled.failed,
            o->recovered ? "yes" : "no", (unsigned long long)recovery_ms);
    for (int i = 0; i < N_SESS; i++)
        cJSON_Delete(ss[i].history);
    tfleet_pair_stop(&pair);
}

static void test_responses_sessions_survive_a_redis_outage(void **state)
{
    (void)state;
    outage_result_t o;
    run_outage("responses_mode: native", false, &o);
    assert_true(o.during.requests > 0);
    assert_int_equal(o.before.failed + o.during.failed + o.after.failed, 0);
    assert_int_equal(o.v_before + o.v_during + o.v_after, 0);
    assert_true(o.recovered);
    assert_false(o.still_degraded);
}

/* Messages tool loops share session memory across replicas (on main the
 * agent endpoints kept per-replica memory: step 5 failed on every session
 * with Redis up). During the outage, and after it until both replicas left
 * degraded mode, each replica routes by its own memory: the one that never
 * saw the calling turn sent the results to the wrong model (about one
 * request in six during; after, all within the recovery window: 0 once
 * both replicas had recovered). The tool_use ids
 * now carry the binding of the model that issued them, which locks the
 * loop on any replica: asserted for every phase (docs/sessions.md "Tool
 * loops during an outage"). */
static void test_messages_tool_loops_through_a_redis_outage(void **state)
{
    (void)state;
    outage_result_t o;
    run_outage("api_format: anthropic", true, &o);
    assert_true(o.before.requests > 0 && o.during.requests > 0 && o.settled.requests > 0);
    assert_int_equal(o.before.failed + o.during.failed + o.after.failed, 0);
    assert_int_equal(o.v_before + o.v_during + o.v_after, 0);
    assert_true(o.recovered);
    assert_false(o.still_degraded);
}

/* One Responses request to a single router; returns the status, the reply
 * (the response.completed event's response when streamed) in *out. */
static int resp_turn(int port, const char *sid, const char *model, const char *prev,
                     const char *text, bool stream, cJSON **out, char *served, char *reason,
                     char **raw)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"model\":\"%s\",%s", model, stream ? "\"stream\":true," : "");
    if (prev) {
        buf_puts(&b, "\"previous_response_id\":");
        buf_json_str(&b, prev, strlen(prev));
        buf_putc(&b, ',');
    }
    buf_puts(&b, "\"input\":");
    buf_json_str(&b, text, strlen(text));
    buf_putc(&b, '}');
    char hdr[160];
    snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", sid);
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", port, "POST", "/v1/responses", hdr, b.data, b.len, &r);
    buf_free(&b);
    int status = rc == 0 ? r.status : -1;
    const char *m = thttp_resp_header(&r, "x-tether-model"),
               *rs = thttp_resp_header(&r, "x-tether-session-reason");
    snprintf(served, 32, "%s", m ? m : "");
    snprintf(reason, 64, "%s", rs ? rs : "");
    *out = NULL;
    if (status != 200 && getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr, "status %d: %s\n", status, r.body ? r.body : "");
    if (raw) *raw = strdup(r.body ? r.body : "");
    if (status == 200 && stream) {
        char *done = sse_last(r.body, "response.completed");
        cJSON *j = done ? cJSON_Parse(done) : NULL;
        *out = cJSON_DetachItemFromObject(j, "response");
        cJSON_Delete(j);
        free(done);
    } else if (r.body) {
        *out = cJSON_Parse(r.body);
    }
    thttp_resp_free(&r);
    return status;
}

static const char *id_of(const cJSON *o)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, "id"));
}

/* Responses ids carry their binding: a native reply's id (whole body and
 * every stream event), a continuation routed to the issuer for a session
 * the router never saw, GET/input_items/DELETE on the wrapped id, a forged
 * id unbound and counted, an emulated id minted bound, and an emulated
 * chain the store does not hold answered 400 previous_response_not_found. */
static void test_responses_ids_carry_their_binding(void **state)
{
    (void)state;
    setenv("TETHER_TEST_BINDING_KEY", "0123456789abcdef0123456789abcdef", 1);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/ids.yaml", tfleet.dir);
    int port = tsupport_free_port(), mport = tsupport_free_port();
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - {name: small, responses_mode: native, backend_refs: [{name: s1, endpoint: "
            "\"127.0.0.1:%d\"}]}\n"
            "    - {name: big, responses_mode: native, backend_refs: [{name: b1, endpoint: "
            "\"127.0.0.1:%d\"}]}\n"
            "    - {name: emu, backend_refs: [{name: e1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "routing:\n  modelCards: [{name: small}, {name: big}, {name: emu}]\n"
            "  signals:\n    keywords:\n      - {name: hard, keywords: [prove]}\n"
            "  decisions:\n"
            "    - {name: reasoning, priority: 10, rules: {type: keyword, name: hard}, modelRefs: "
            "[{model: big}]}\n"
            "    - {name: chat, modelRefs: [{model: small}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  stores:\n    session: {binding_key_env: TETHER_TEST_BINDING_KEY}\n",
            port, tfleet.p_small, tfleet.p_big, tfleet.p_small, mport);
    fclose(f);
    tproc_t r;
    assert_true(tstack_serve(&r, cfg) > 0);
    int v0 = tfleet_violations(&tfleet);
    char model[32], reason[64], id1[600], id2[600], path[700];
    thttp_resp_t g;
    cJSON *o;
    char *raw;
    assert_int_equal(
        resp_turn(port, "ids-a", "auto", NULL, "prove it", false, &o, model, reason, NULL), 200);
    assert_string_equal(model, "big");
    assert_non_null(strstr(id_of(o), ".tb1."));
    snprintf(id1, sizeof id1, "%s", id_of(o));
    cJSON_Delete(o);
    /* a session the router never saw continues big's response: big, and the
     * stream's events carry one wrapped id */
    assert_int_equal(resp_turn(port, "ids-b", "auto", id1, "thanks", true, &o, model, reason, &raw),
                     200);
    assert_string_equal(model, "big");
    assert_string_equal(reason, "hard_lock_provider_state");
    snprintf(id2, sizeof id2, "%s", id_of(o));
    assert_non_null(strstr(id2, ".tb1."));
    char *created = sse_last(raw, "response.created");
    assert_non_null(created);
    assert_non_null(strstr(created, id2));
    free(created);
    free(raw);
    cJSON_Delete(o);
    /* forged: id2's original with small's payload under big's tag is
     * unbound (the store decides, as for a plain id), never failed */
    char id_small[600], forged[1300];
    assert_int_equal(
        resp_turn(port, "ids-c", "auto", NULL, "hello", false, &o, model, reason, NULL), 200);
    assert_string_equal(model, "small");
    snprintf(id_small, sizeof id_small, "%s", id_of(o));
    cJSON_Delete(o);
    const char *m2 = strstr(id2, ".tb1."), *ms = strstr(id_small, ".tb1.");
    const char *t2 = strrchr(id2, '.'), *ts = strrchr(id_small, '.');
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(m2 - id2), id2, (int)(ts - ms), ms, t2);
    assert_int_equal(
        resp_turn(port, "ids-b", "auto", forged, "prove more", false, &o, model, reason, NULL),
        200);
    assert_string_equal(model, "big");
    cJSON_Delete(o);
    assert_int_equal(tfleet_violations(&tfleet), v0);
    /* GET, input_items and DELETE take the wrapped id */
    snprintf(path, sizeof path, "/v1/responses/%s", id1);
    assert_int_equal(thttp_request("127.0.0.1", port, "GET", path, NULL, NULL, 0, &g), 0);
    assert_int_equal(g.status, 200);
    o = cJSON_Parse(g.body);
    assert_string_equal(id_of(o), id1);
    cJSON_Delete(o);
    thttp_resp_free(&g);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", id1);
    assert_int_equal(thttp_request("127.0.0.1", port, "GET", path, NULL, NULL, 0, &g), 0);
    assert_int_equal(g.status, 200);
    thttp_resp_free(&g);
    snprintf(path, sizeof path, "/v1/responses/%s", id1);
    assert_int_equal(thttp_request("127.0.0.1", port, "DELETE", path, NULL, NULL, 0, &g), 0);
    assert_int_equal(g.status, 200);
    assert_non_null(strstr(g.body, id1));
    thttp_resp_free(&g);
    assert_int_equal(thttp_request("127.0.0.1", port, "GET", path, NULL, NULL, 0, &g), 0);
    assert_int_equal(g.status, 404);
    thttp_resp_free(&g);
    /* emulate: tether's minted id, bound; a chain the store lost is a clean 400 */
    assert_int_equal(
        resp_turn(port, "ids-e", "emu", NULL, "hello emu", false, &o, model, reason, NULL), 200);
    assert_string_equal(model, "emu");
    char ide[600];
    snprintf(ide, sizeof ide, "%s", id_of(o));
    assert_int_equal(strncmp(ide, "resp_", 5), 0);
    assert_non_null(strstr(ide, ".tb1."));
    cJSON_Delete(o);
    assert_int_equal(
        resp_turn(port, "ids-f", "emu", ide, "and again", false, &o, model, reason, NULL), 200);
    cJSON_Delete(o);
    snprintf(path, sizeof path, "/v1/responses/%s", ide);
    assert_int_equal(thttp_request("127.0.0.1", port, "DELETE", path, NULL, NULL, 0, &g), 0);
    assert_int_equal(g.status, 200);
    thttp_resp_free(&g);
    assert_int_equal(
        resp_turn(port, "ids-g", "emu", ide, "and again", false, &o, model, reason, NULL), 400);
    cJSON *err = cJSON_GetObjectItem(o, "error");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(err, "code")),
                        "previous_response_not_found");
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(err, "message")), ide));
    cJSON_Delete(o);
    thttp_resp_t m;
    assert_int_equal(thttp_request("127.0.0.1", mport, "GET", "/metrics", NULL, NULL, 0, &m), 0);
    assert_non_null(strstr(m.body, "tether_session_bindings_total{result=\"invalid\"} 1"));
    assert_non_null(strstr(m.body, "tether_session_bindings_total{result=\"valid\"} 3"));
    thttp_resp_free(&m);
    int st = tproc_stop(&r, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses_ids_carry_their_binding),
#ifndef ONLY_IDS
        cmocka_unit_test(test_responses_sessions_survive_a_redis_outage),
        cmocka_unit_test(test_messages_tool_loops_through_a_redis_outage),
#endif
    };
    return cmocka_run_group_tests(tests, tfleet_setup_seeded, tfleet_teardown);
}
