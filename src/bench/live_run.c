/* live_run.c - `tether bench live` (live_run.h): the session benchmark
 * driver: the workload, the router config, the session clients against one
 * or two router replicas, the direct replay of the same requests to the
 * backends and the backends' stats. The process stack is live_stack.c,
 * `bench overhead` is live_overhead.c, reports are in live_report.c. */
#include "bench/live_run.h"
#include "api/response_id.h"
#include "bench/live_stack.h"
#include "bench/live_http.h"
#include "bench/live_progress.h"
#include "bench/live_proc.h"
#include "bench/saar_request.h"
#include "bench/saar_workload.h"
#include "core/clock.h"
#include "session/binding_token.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOOL_ROUNDS 3

/* The live workload: every phase of the session benchmark within a dozen
 * turns (tool loops, provider state, topic drift, idle turns). */
static const saar_scenario_t live_scenario = {
    .name = "live-mixed",
    .base_demand = 0.48,
    .progress_weight = 0.25,
    .phase_bonus = 0.20,
    .wave_amplitude = 0.15,
    .noise = 0.10,
    .tool = {5, 2, {2, 3}},
    .history_min = 256,
    .history_max = 1536,
    .idle_mode = SAAR_IDLE_FREQUENT,
    .remaining_turn_prior = 6,
    .token_growth = 1.0,
    .state = {6, 1, {4}},
    .drift = {7, 1, {6}},
};

static const char tools_json[] =
    ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"run_tests\",\"description\":"
    "\"run the project's tests\",\"parameters\":{\"type\":\"object\",\"properties\":{\"target\":"
    "{\"type\":\"string\"},\"verbose\":{\"type\":\"boolean\"}}}}}]";

void live_options_default(live_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->sessions = 32;
    o->turns = 12;
    o->concurrency = 32;
    o->idle_pause_ms = 1500;
    o->replicas = 1;
    o->redis_bin = "/usr/bin/redis-server";
    o->seed = 20260530;
}

static int start_redis(live_procs_t *p, const char *bin, int verbose, char *err, size_t errlen)
{
    if (access(bin, X_OK) != 0) {
        snprintf(err, errlen, "%s is not installed (needed for a shared session store)", bin);
        return -1;
    }
    int port = live_http_free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *argv[] = {bin, "--port",       ps,   "--bind",     "127.0.0.1", "--save",
                          "",  "--appendonly", "no", "--loglevel", "warning",   NULL};
    if (live_proc_spawn(&p->redis, argv, verbose, -1, err, errlen)) return -1;
    if (live_http_wait_connect("127.0.0.1", port, LIVE_START_TIMEOUT_MS)) {
        snprintf(err, errlen, "redis-server on port %d did not start", port);
        return -1;
    }
    snprintf(p->redis_addr, sizeof p->redis_addr, "127.0.0.1:%d", port);
    return 0;
}

/* ---- router config ---- */

static int write_config(const char *path, int listen_port, const int mock_port[LIVE_N_BACKENDS],
                        int idle_timeout_s, const char *redis_addr, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: qwen3-8b}\n  models:\n",
            listen_port);
    for (int m = 0; m < LIVE_N_BACKENDS; m++)
        fprintf(f,
                "    - name: %s\n"
                "      pricing: {currency: USD, prompt_per_1m: %.2f, cached_input_per_1m: %.2f, "
                "completion_per_1m: %.2f}\n"
                "      backend_refs: [{name: b%d, endpoint: \"127.0.0.1:%d\"}]\n",
                saar_models[m].name, saar_models[m].prompt_per_1m, saar_models[m].cached_per_1m,
                saar_models[m].completion_per_1m, m, mock_port[m]);
    fprintf(f, "routing:\n  modelCards:\n");
    for (int m = 0; m < LIVE_N_BACKENDS; m++)
        fprintf(f, "    - {name: %s, quality_score: %.2f}\n", saar_models[m].name,
                saar_models[m].quality);
    fprintf(f,
            "  signals:\n    keywords:\n"
            "      - {name: proof_terms, keywords: [prove, proof, derive]}\n"
            "      - {name: writing_terms, keywords: [poem, story, essay, haiku, novel, prose, "
            "toast, stanza, newsletter]}\n"
            "      - {name: code_terms, keywords: [test, build, function, compile, code, bug, "
            "refactor, struct, thread, makefile, parser, diff, leak]}\n"
            "  decisions:\n"
            "    - name: reasoning\n      priority: 30\n"
            "      rules: {type: keyword, name: proof_terms}\n"
            "      modelRefs: [{model: frontier-reasoner}, {model: qwen3-32b}, {model: qwen3-8b}]\n"
            "    - name: writing\n      priority: 20\n"
            "      rules: {type: keyword, name: writing_terms}\n"
            "      modelRefs: [{model: qwen3-32b}, {model: frontier-reasoner}, {model: qwen3-8b}]\n"
            "    - name: coding\n      priority: 10\n"
            "      rules: {type: keyword, name: code_terms}\n"
            "      modelRefs: [{model: qwen3-8b}, {model: qwen3-32b}, {model: frontier-reasoner}]\n"
            "    - name: chat\n"
            "      modelRefs: [{model: qwen3-8b}]\n"
            "global:\n"
            "  router:\n    session: {idle_timeout_seconds: %d}\n"
            "  services:\n    router_replay: {enabled: true, store: memory}\n",
            idle_timeout_s);
    if (redis_addr)
        fprintf(f, "  stores:\n    session: {backend: redis, redis: {address: \"%s\"}}\n",
                redis_addr);
    if (fclose(f)) {
        snprintf(err, errlen, "write error on %s", path);
        return -1;
    }
    return 0;
}

/* ---- one session's client ---- */

typedef struct rec {
    char *rest; /* the body after {"model":"auto" (starts with ',') */
    int model;  /* backend that served it */
    double routed_us, direct_us;
    int direct_ok;
} rec_t;

typedef struct sess {
    int idx;
    const saar_turn_t *turns;
    int header; /* send x-session-id */
    int trace;  /* TETHER_BENCH_LIVE_TRACE set: one stderr line per routed request */
    char sid[48];
    cJSON *messages;
    cJSON *last_reasoning;                    /* reasoning_details of the last reply, kept aside */
    char last_id[SESS_BINDING_ID_MAX + 1];    /* as the router issued it (with its binding) */
    char last_id_up[SESS_BINDING_ID_MAX + 1]; /* as the backend issued it */
    char last_model[64];
    rec_t *recs;
    size_t n_recs, cap_recs;
    long requests, errors, switches, tool_calls, state_turns, drift_turns, idle_turns, turns_done;
    int aborted;
    live_reason_count_t reasons[LIVE_MAX_REASONS];
    size_t n_reasons;
    char err[256];
} sess_t;

typedef struct shared {
    const live_options_t *o;
    live_procs_t *procs;
    sess_t *sess;
    int nsess;
    atomic_int next;
    atomic_int done;      /* sessions finished in the current phase (progress) */
    atomic_long requests; /* their requests */
    int turns;
} shared_t;

static int model_index(const char *name)
{
    return saar_model_index(name);
}

static void add_reason(live_reason_count_t *rs, size_t *n, const char *reason)
{
    if (!reason[0]) reason = "(none)";
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(rs[i].reason, reason)) {
            rs[i].n++;
            return;
        }
    if (*n == LIVE_MAX_REASONS) return;
    snprintf(rs[*n].reason, sizeof rs[*n].reason, "%s", reason);
    rs[(*n)++].n = 1;
}

static void add_message(cJSON *msgs, const char *role, const char *text)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(msgs, m);
}

/* Send the conversation through the router; on success append the reply to
 * the history (reasoning kept aside) and return it (owned by the history). */
static cJSON *session_send(sess_t *s, live_http_conn_t *conn, const char *extra, int tools)
{

    buf_t rest = BUF_INIT, body = BUF_INIT;
    char *msgs = cJSON_PrintUnformatted(s->messages);
    buf_printf(&rest, ",\"reasoning_effort\":\"low\"%s%s,\"messages\":%s}", extra ? extra : "",
               tools ? tools_json : "", msgs);
    free(msgs);
    buf_printf(&body, "{\"model\":\"auto\"%s", rest.data);
    char hdr[96] = "";
    if (s->header) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", s->sid);
    live_http_resp_t r = {0};
    char e[200];
    uint64_t t0 = clock_mono_us();
    int rc = live_http_request(conn, "POST", "/v1/chat/completions", s->header ? hdr : NULL,
                               body.data, body.len, &r, e, sizeof e);
    uint64_t t1 = clock_mono_us();
    buf_free(&body);
    s->requests++;
    if (s->trace)
        fprintf(stderr, "trace %s req %ld: status %d model %s reason %s %.0f us%s%s\n", s->sid,
                s->requests, r.status, r.model, r.reason, (double)(t1 - t0),
                extra && extra[0] ? " extra " : "", extra ? extra : "");
    cJSON *reply = NULL, *j = NULL;
    if (rc || r.status != 200) {
        if (!s->err[0]) {
            if (rc)
                snprintf(s->err, sizeof s->err, "%s turn: %s", s->sid, e);
            else
                snprintf(s->err, sizeof s->err, "%s: status %d (model %s, reason %s): %.140s",
                         s->sid, r.status, r.model[0] ? r.model : "-", r.reason[0] ? r.reason : "-",
                         r.body.data ? r.body.data : "");
        }
        goto fail;
    }
    j = cJSON_Parse(r.body.data);
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    cJSON *id = cJSON_GetObjectItem(j, "id");
    int m = model_index(r.model);
    if (!cJSON_IsObject(msg) || !cJSON_IsString(id) || m < 0) {
        if (!s->err[0])
            snprintf(s->err, sizeof s->err, "%s: unexpected reply (model '%s'): %.120s", s->sid,
                     r.model, r.body.data ? r.body.data : "");
        goto fail;
    }
    if (s->n_recs == s->cap_recs) {
        s->cap_recs = s->cap_recs ? 2 * s->cap_recs : 32;
        s->recs = realloc(s->recs, s->cap_recs * sizeof *s->recs);
        if (!s->recs) abort();
    }
    /* the direct replay sends the backend's own id, not the router's wrap */
    const char *at = s->last_id[0] && strcmp(s->last_id, s->last_id_up) && rest.data
                         ? strstr(rest.data, s->last_id)
                         : NULL;
    if (at) {
        buf_t direct = BUF_INIT;
        buf_append(&direct, rest.data, (size_t)(at - rest.data));
        buf_puts(&direct, s->last_id_up);
        buf_puts(&direct, at + strlen(s->last_id));
        buf_free(&rest);
        rest = direct;
    }
    /* ... and the backend's own tool call ids (api/response_id.h; rest is
     * the object's tail: completed for the scan, then cut again) */
    buf_t whole = BUF_INIT;
    buf_puts(&whole, "{\"m\":0");
    buf_append(&whole, rest.data, rest.len);
    if (rid_unwrap_tool_ids_buf(RQ_PROTO_CHAT, &whole)) {
        buf_reset(&rest);
        buf_append(&rest, whole.data + 6, whole.len - 6);
    }
    buf_free(&whole);
    s->recs[s->n_recs++] = (rec_t){buf_steal(&rest), m, (double)(t1 - t0), 0, 0};
    if (s->last_model[0] && strcmp(s->last_model, r.model)) s->switches++;
    snprintf(s->last_model, sizeof s->last_model, "%s", r.model);
    snprintf(s->last_id, sizeof s->last_id, "%s", id->valuestring);
    sess_binding_t bd;
    sess_binding_parse(NULL, 0, s->last_id, strlen(s->last_id), &bd);
    snprintf(s->last_id_up, sizeof s->last_id_up, "%.*s", (int)bd.orig_len, s->last_id);
    /* the router's reason header, when it sends one */
    reply = cJSON_Duplicate(msg, 1);
    cJSON *rd = cJSON_DetachItemFromObject(reply, "reasoning_details");
    if (rd) {
        cJSON_Delete(s->last_reasoning);
        s->last_reasoning = rd;
    }
    cJSON_DeleteItemFromObject(reply, "reasoning");
    cJSON_AddItemToArray(s->messages, reply);
    add_reason(s->reasons, &s->n_reasons, r.reason);
    cJSON_Delete(j);
    buf_free(&r.body);
    buf_free(&rest);
    return reply;
fail:
    s->errors++;
    cJSON_Delete(j);
    buf_free(&r.body);
    buf_free(&rest);
    return NULL;
}

static void answer_tools(sess_t *s, const cJSON *reply)
{
    const cJSON *call;
    cJSON_ArrayForEach(call, cJSON_GetObjectItem(reply, "tool_calls"))
    {
        const cJSON *id = cJSON_GetObjectItem(call, "id");
        if (!cJSON_IsString(id)) continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "tool");
        cJSON_AddStringToObject(m, "tool_call_id", id->valuestring);
        cJSON_AddStringToObject(m, "content", "41 passed, 1 failed: test_ring_wraps");
        cJSON_AddItemToArray(s->messages, m);
        s->tool_calls++;
    }
}

static int has_tool_calls(const cJSON *reply)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(reply, "tool_calls")) > 0;
}

static void pause_ms(int ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !live_stopped(stop)) {
        int step = ms < 50 ? ms : 50;
        usleep((useconds_t)step * 1000);
        ms -= step;
    }
}

static void run_session(shared_t *sh, sess_t *s, live_http_conn_t *conns, uint32_t nonce)
{
    const live_options_t *o = sh->o;
    int nrep = o->replicas;
    for (int t = 0; t < sh->turns && !s->aborted; t++) {
        if (live_stopped(o->stop)) {
            s->aborted = 1;
            break;
        }
        const saar_turn_t *tr = &s->turns[t];
        if (tr->is_idle && t > 0) {
            s->idle_turns++;
            pause_ms(o->idle_pause_ms, o->stop);
        }
        live_http_conn_t *conn = &conns[t % nrep];
        saar_phase_t ph = tr->phase;
        if (ph == SAAR_PHASE_PROVIDER_STATE && t == 0) ph = SAAR_PHASE_USER;
        buf_t text = BUF_INIT;
        if (t == 0) {
            /* earlier history (system prompt), then a first message unique to the run */
            int filler = tr->history * 4 < 16384 ? tr->history * 4 : 16384;
            buf_t sys = BUF_INIT;
            buf_puts(&sys, "You are a careful engineering assistant. Project notes:");
            while ((int)sys.len < filler)
                buf_printf(&sys, " note %zu: keep functions short and tests green.", sys.len);
            add_message(s->messages, "system", sys.data);
            buf_free(&sys);
            buf_printf(&text, "[run %08x %s] ", nonce, s->sid);
        }
        buf_puts(&text, saar_turn_text(tr));
        if (tr->base_model == SAAR_FRONTIER && ph != SAAR_PHASE_TOPIC_DRIFT)
            buf_puts(&text, " Then prove that the change is correct.");
        if (ph == SAAR_PHASE_TOOL_LOOP) buf_puts(&text, " Use the tool to run the tests first.");
        add_message(s->messages, "user", text.data);
        buf_free(&text);

        char extra[SESS_BINDING_ID_MAX + 64] = "";
        cJSON *with_state = NULL;
        if (ph == SAAR_PHASE_PROVIDER_STATE) {
            s->state_turns++;
            if ((t % 2) && s->last_reasoning) {
                /* send the previous reply's reasoning back, as clients must */
                int n = cJSON_GetArraySize(s->messages);
                for (int i = n - 1; i >= 0; i--) {
                    cJSON *m = cJSON_GetArrayItem(s->messages, i);
                    const cJSON *role = cJSON_GetObjectItem(m, "role");
                    if (cJSON_IsString(role) && !strcmp(role->valuestring, "assistant")) {
                        cJSON_AddItemToObject(m, "reasoning_details",
                                              cJSON_Duplicate(s->last_reasoning, 1));
                        with_state = m;
                        break;
                    }
                }
            }
            if (!with_state)
                snprintf(extra, sizeof extra, ",\"previous_response_id\":\"%s\"", s->last_id);
        }
        if (ph == SAAR_PHASE_TOPIC_DRIFT) s->drift_turns++;
        /* an agent declares its tools on every request (the router's
         * prefix chain includes them); the mock calls one only when asked */
        cJSON *reply = session_send(s, conn, extra, 1);
        if (with_state) cJSON_DeleteItemFromObject(with_state, "reasoning_details");
        for (int round = 0; reply && has_tool_calls(reply) && round < MAX_TOOL_ROUNDS; round++) {
            answer_tools(s, reply);
            if (round == 0 && (t % 2))
                /* the user interjects while the tool loop is open; the new
                 * text routes to another decision, so only the session's
                 * tool lock keeps the loop on the model that issued the call */
                add_message(s->messages, "user",
                            tr->base_model == SAAR_FRONTIER
                                ? "While that runs, summarise the test output for the bug."
                                : "While that runs, prove the fix is correct.");
            reply = session_send(s, conn, NULL, 1);
        }
        if (!reply) {
            s->aborted = 1;
            break;
        }
        s->turns_done++;
    }
}

static void *routed_thread(void *arg)
{
    shared_t *sh = arg;
    live_http_conn_t conns[2];
    for (int i = 0; i < sh->o->replicas; i++)
        live_http_init(&conns[i], "127.0.0.1", sh->procs->router_port[i], LIVE_HTTP_TIMEOUT_MS);
    uint32_t nonce = (uint32_t)(clock_wall_ms() ^ ((uint64_t)getpid() << 16));
    for (;;) {
        int i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->nsess) break;
        run_session(sh, &sh->sess[i], conns, nonce);
        atomic_fetch_add(&sh->requests, sh->sess[i].requests);
        atomic_fetch_add(&sh->done, 1);
    }
    for (int i = 0; i < sh->o->replicas; i++)
        live_http_close(&conns[i]);
    return NULL;
}

/* The same requests, in the same order per session, straight to the
 * backend that served each one. */
static void *direct_thread(void *arg)
{
    shared_t *sh = arg;
    live_http_conn_t conns[LIVE_N_BACKENDS];
    for (int m = 0; m < LIVE_N_BACKENDS; m++)
        live_http_init(&conns[m], "127.0.0.1", sh->procs->mock_port[m], LIVE_HTTP_TIMEOUT_MS);
    buf_t body = BUF_INIT;
    live_http_resp_t r = {0};
    for (;;) {
        int i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->nsess) break;
        sess_t *s = &sh->sess[i];
        char hdr[96];
        snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", s->sid);
        for (size_t k = 0; k < s->n_recs && !live_stopped(sh->o->stop); k++) {
            rec_t *rc = &s->recs[k];
            buf_reset(&body);
            buf_printf(&body, "{\"model\":\"%s\"%s", saar_models[rc->model].name, rc->rest);
            char e[200];
            uint64_t t0 = clock_mono_us();
            int st =
                live_http_request(&conns[rc->model], "POST", "/v1/chat/completions",
                                  s->header ? hdr : NULL, body.data, body.len, &r, e, sizeof e);
            uint64_t t1 = clock_mono_us();
            rc->direct_us = (double)(t1 - t0);
            rc->direct_ok = st == 0 && r.status == 200;
            atomic_fetch_add(&sh->requests, 1);
        }
        atomic_fetch_add(&sh->done, 1);
    }
    buf_free(&r.body);
    buf_free(&body);
    for (int m = 0; m < LIVE_N_BACKENDS; m++)
        live_http_close(&conns[m]);
    return NULL;
}

/* Warm-up, not measured: every client thread sends one session-less request
 * per decision through each replica and one straight to each backend, so
 * lazy initialisation and connection pools are paid for before the run. */
static void *warmup_thread(void *arg)
{
    shared_t *sh = arg;
    static const char *const texts[] = {"Fix the build of the parser code.",
                                        "Write a short poem about the sea.",
                                        "Prove that the loop terminates."};
    live_http_resp_t r = {0};
    char e[200];
    buf_t body = BUF_INIT;
    for (int i = 0; i < sh->o->replicas; i++) {
        live_http_conn_t c;
        live_http_init(&c, "127.0.0.1", sh->procs->router_port[i], LIVE_HTTP_TIMEOUT_MS);
        for (int k = 0; k < 3; k++) {
            buf_reset(&body);
            buf_printf(&body,
                       "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                       texts[k]);
            live_http_request(&c, "POST", "/v1/chat/completions",
                              "x-tether-session-affinity: off\r\n", body.data, body.len, &r, e,
                              sizeof e);
        }
        live_http_close(&c);
    }
    for (int m = 0; m < LIVE_N_BACKENDS; m++) {
        live_http_conn_t c;
        live_http_init(&c, "127.0.0.1", sh->procs->mock_port[m], LIVE_HTTP_TIMEOUT_MS);
        buf_reset(&body);
        buf_printf(&body,
                   "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                   saar_models[m].name);
        live_http_request(&c, "POST", "/v1/chat/completions", NULL, body.data, body.len, &r, e,
                          sizeof e);
        live_http_close(&c);
    }
    buf_free(&body);
    buf_free(&r.body);
    return NULL;
}

static int run_threads(shared_t *sh, int n, void *(*fn)(void *), const char *phase, char *err,
                       size_t errlen)
{
    atomic_store(&sh->next, 0);
    atomic_store(&sh->done, 0);
    atomic_store(&sh->requests, 0);
    live_progress_t *pg =
        phase ? live_progress_start(sh->o->progress, phase, sh->nsess, &sh->done, &sh->requests)
              : NULL;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!th) abort();
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, fn, sh)) break;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    live_progress_stop(pg);
    if (!started) {
        snprintf(err, errlen, "cannot start client threads");
        return -1;
    }
    return 0;
}

static int read_stats(int port, live_backend_stats_t *b, char *err, size_t errlen)
{
    live_http_conn_t c;
    live_http_init(&c, "127.0.0.1", port, LIVE_HTTP_TIMEOUT_MS);
    live_http_resp_t r = {0};
    int rc = live_http_request(&c, "GET", "/mock/stats", NULL, NULL, 0, &r, err, errlen);
    live_http_close(&c);
    cJSON *j = rc == 0 && r.status == 200 ? cJSON_Parse(r.body.data) : NULL;
    buf_free(&r.body);
    if (!j) {
        if (!rc) snprintf(err, errlen, "bad /mock/stats from port %d", port);
        return -1;
    }
#define NUM(k) ((long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, k)))
    b->requests = NUM("requests");
    b->violations = NUM("violations");
    b->rejected = NUM("rejected");
    b->cached_tokens = NUM("cached_tokens_total");
    b->prompt_tokens = NUM("prompt_tokens_total");
#undef NUM
    cJSON_Delete(j);
    return 0;
}

/* ---- the live benchmark ---- */

int live_run(const live_options_t *o, live_results_t *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (o->replicas < 1 || o->replicas > 2 || o->sessions < 1 || o->turns < 1 ||
        o->concurrency < 1) {
        snprintf(err, errlen, "bad options (replicas 1..2, sessions, turns, concurrency >= 1)");
        return -1;
    }
    res->sessions = o->sessions;
    res->turns = o->turns;
    res->concurrency = o->concurrency;
    res->replicas = o->replicas;
    res->idle_pause_ms = o->idle_pause_ms;
    res->seed = o->seed;
    int idle_timeout_s = o->idle_pause_ms * 300 / 420 / 1000;
    if (idle_timeout_s < 1) idle_timeout_s = 1;

    live_procs_t pr;
    memset(&pr, 0, sizeof pr);
    pr.redis.out_fd = -1;
    for (int i = 0; i < LIVE_N_BACKENDS; i++)
        pr.mock[i].out_fd = -1;
    for (int i = 0; i < 2; i++)
        pr.router[i].out_fd = -1;
    char dir[256], cfg[300] = "";
    int own_dir = !o->workdir;
    if (own_dir) {
        snprintf(dir, sizeof dir, "/tmp/tether-bench-live-XXXXXX");
        if (!mkdtemp(dir)) {
            snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
            return -1;
        }
    } else {
        snprintf(dir, sizeof dir, "%s", o->workdir);
        mkdir(dir, 0777);
    }

    int ncon = o->concurrency < o->sessions ? o->concurrency : o->sessions;
    int ok = -1;
    sess_t *sess = calloc((size_t)o->sessions, sizeof *sess);
    saar_turn_t *turns = calloc((size_t)o->sessions * (size_t)o->turns, sizeof *turns);
    double *a = NULL, *b = NULL, *d = NULL;
    if (!sess || !turns) abort();
    saar_generate(&live_scenario, o->seed, o->sessions, o->turns, turns);

    live_progress_phase(o->progress, "starting %d backends and %d router%s", LIVE_N_BACKENDS,
                        o->replicas, o->replicas > 1 ? "s" : "");
    for (int m = 0; m < LIVE_N_BACKENDS; m++)
        if ((pr.mock_port[m] = live_start_mock(&pr.mock[m], o->tether_bin, saar_models[m].name, 1,
                                               o->verbose, -1, err, errlen)) < 0)
            goto done;
    const char *redis = o->redis_addr;
    if (!redis && (o->redis_server || o->replicas == 2)) {
        if (start_redis(&pr, o->redis_bin, o->verbose, err, errlen)) goto done;
        redis = pr.redis_addr;
    }
    snprintf(res->store, sizeof res->store, "%s", redis ? "redis" : "local");
    for (int i = 0; i < o->replicas; i++) {
        snprintf(cfg, sizeof cfg, "%s/router-%d.yaml", dir, i + 1);
        if (write_config(cfg, live_http_free_port(), pr.mock_port, idle_timeout_s, redis, err,
                         errlen))
            goto done;
        pr.n_routers = i + 1;
        if ((pr.router_port[i] =
                 live_start_router(&pr.router[i], o->tether_bin, cfg, o->router_workers, o->verbose,
                                   -1, err, errlen)) < 0)
            goto done;
    }
    if (o->verbose)
        fprintf(stderr, "bench live: backends %d %d %d, routers %d %d, store %s, config %s\n",
                pr.mock_port[0], pr.mock_port[1], pr.mock_port[2], pr.router_port[0],
                pr.router_port[1], res->store, cfg);

    for (int i = 0; i < o->sessions; i++) {
        sess[i].idx = i;
        sess[i].turns = &turns[(size_t)i * (size_t)o->turns];
        sess[i].header = i % 2 == 0;
        sess[i].trace = getenv("TETHER_BENCH_LIVE_TRACE") != NULL;
        snprintf(sess[i].sid, sizeof sess[i].sid, "live-%03d", i);
        sess[i].messages = cJSON_CreateArray();
    }
    shared_t sh = {.o = o, .procs = &pr, .sess = sess, .nsess = o->sessions, .turns = o->turns};
    /* warm up, then forget it: the backends' counters and state restart */
    live_progress_phase(o->progress, "warm-up (not measured)");
    {
        pthread_t *th = calloc((size_t)ncon, sizeof *th);
        if (!th) abort();
        int started = 0;
        for (; started < ncon; started++)
            if (pthread_create(&th[started], NULL, warmup_thread, &sh)) break;
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        free(th);
        for (int m = 0; m < LIVE_N_BACKENDS; m++) {
            live_http_conn_t c;
            live_http_resp_t r = {0};
            live_http_init(&c, "127.0.0.1", pr.mock_port[m], LIVE_HTTP_TIMEOUT_MS);
            int rc = live_http_request(&c, "POST", "/mock/reset", NULL, "{}", 2, &r, err, errlen);
            live_http_close(&c);
            buf_free(&r.body);
            if (rc || r.status != 200) {
                if (!rc) snprintf(err, errlen, "POST /mock/reset answered %d", r.status);
                goto done;
            }
        }
    }
    uint64_t t0 = clock_mono_us();
    if (run_threads(&sh, ncon, routed_thread, "routed", err, errlen)) goto done;
    res->wall_s = (double)(clock_mono_us() - t0) / 1e6;
    if (live_stopped(o->stop)) {
        snprintf(err, errlen, "interrupted");
        goto done;
    }
    for (int m = 0; m < LIVE_N_BACKENDS; m++) {
        live_backend_stats_t *bs = &res->backend[m];
        snprintf(bs->model, sizeof bs->model, "%s", saar_models[m].name);
        if (read_stats(pr.mock_port[m], bs, err, errlen)) goto done;
        res->violations += bs->violations;
        res->rejected += bs->rejected;
        res->cached_tokens += bs->cached_tokens;
        res->prompt_tokens += bs->prompt_tokens;
    }
    long nrec = 0;
    for (int i = 0; i < o->sessions; i++) {
        sess_t *s = &sess[i];
        if (s->header)
            res->sessions_with_header++;
        else
            res->sessions_prefix_chain++;
        res->turns_done += s->turns_done;
        res->requests += s->requests;
        res->errors += s->errors;
        res->sessions_aborted += s->aborted;
        res->tool_calls += s->tool_calls;
        res->state_turns += s->state_turns;
        res->drift_turns += s->drift_turns;
        res->idle_turns += s->idle_turns;
        res->switches += s->switches;
        for (size_t k = 0; k < s->n_reasons; k++)
            for (long c = 0; c < s->reasons[k].n; c++)
                add_reason(res->reasons, &res->n_reasons, s->reasons[k].reason);
        if (s->err[0] && !res->first_error[0])
            snprintf(res->first_error, sizeof res->first_error, "%s", s->err);
        nrec += (long)s->n_recs;
    }
    if (!o->no_direct) {
        live_progress_phase(o->progress, "direct replay of the same requests to the backends");
        if (run_threads(&sh, ncon, direct_thread, "direct", err, errlen)) goto done;
        if (live_stopped(o->stop)) {
            snprintf(err, errlen, "interrupted");
            goto done;
        }
        a = calloc((size_t)nrec + 1, sizeof *a);
        b = calloc((size_t)nrec + 1, sizeof *b);
        d = calloc((size_t)nrec + 1, sizeof *d);
        if (!a || !b || !d) abort();
        long n = 0;
        for (int i = 0; i < o->sessions; i++)
            for (size_t k = 0; k < sess[i].n_recs; k++) {
                rec_t *rc = &sess[i].recs[k];
                if (!rc->direct_ok) {
                    res->direct_errors++;
                    continue;
                }
                a[n] = rc->routed_us;
                b[n] = rc->direct_us;
                d[n] = rc->routed_us - rc->direct_us;
                n++;
            }
        live_lat_summarize(a, n, &res->routed);
        live_lat_summarize(b, n, &res->direct);
        live_lat_summarize(d, n, &res->diff);
        res->have_direct = 1;
    }
    ok = 0;
done:
    live_procs_stop(&pr);
    for (int i = 0; i < o->sessions; i++) {
        cJSON_Delete(sess[i].messages);
        cJSON_Delete(sess[i].last_reasoning);
        for (size_t k = 0; k < sess[i].n_recs; k++)
            free(sess[i].recs[k].rest);
        free(sess[i].recs);
    }
    free(sess);
    free(turns);
    free(a);
    free(b);
    free(d);
    if (own_dir) {
        for (int i = 1; i <= 2; i++) {
            snprintf(cfg, sizeof cfg, "%s/router-%d.yaml", dir, i);
            unlink(cfg);
        }
        rmdir(dir);
    }
    return ok;
}
