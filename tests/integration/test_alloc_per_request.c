/* test_alloc_per_request.c - heap allocations a routed chat request costs on
 * the worker thread once the router is warm (issue 12). The router runs in
 * this process (the same calls as `tether serve`) with a realistic config:
 * six signal families, three decisions, the session policy, replay to the
 * default sqlite store and metrics. This binary replaces malloc and friends
 * (glibc forwards every allocation of the process, libc's and the libraries'
 * included, to them) and counts the calls made on threads named worker-N.
 *
 * An allocation count is deterministic for a given request sequence, so it
 * may be asserted. The bound pins the count measured when the test was
 * written; lower it whenever a change removes allocations (the target is 0:
 * the per-request arena serves everything). Skipped under ASan, which
 * replaces malloc itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/app.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/evmem.h"
#include "http/server.h"
#include "http_client.h"
#include "metrics/catalog.h"
#include "replay/queue.h"
#include "proc.h"
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_COUNTING 0
#endif
#endif
#ifndef ALLOC_COUNTING
#define ALLOC_COUNTING 1
#endif

/* Allocations per warm request on the worker thread may not exceed this:
 * 0 (docs/PERFORMANCE.md, "Heap allocations per request"). The replay
 * record comes from the records the writer thread has finished with, with
 * 256 put aside when the queue starts (replay/record.c). A reply that
 * arrives in two reads grows its buffer in the request's arena. */
#define MAX_ALLOCS_PER_REQUEST 0
/* The same for streamed replies (SSE relayed event by event, each re-framed
 * with the bound ids). */
#define MAX_ALLOCS_PER_STREAMED_REQUEST 0
/* A turn with a new query (the language detection runs CLD2 each time, and
 * allocates nothing): the memory store's two chain index entries for the
 * new prefix (kept by the store, not the request). */
#define MAX_ALLOCS_PER_NEW_QUERY 2

static atomic_ulong worker_allocs;
/* TETHER_ALLOC_TRACE=1: print a backtrace for every counted allocation of the
 * measured rounds (to find what is left). */
static atomic_int tracing;

#if ALLOC_COUNTING
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

/* 1: this thread is a server worker; 0: not known to be one (yet: a worker
 * is named right after it starts, so keep asking until it is). */
static __thread int is_worker __attribute__((tls_model("initial-exec")));

static void note(void)
{
    if (!is_worker) {
        char name[16] = {0};
        if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || strncmp(name, "worker-", 7) != 0) return;
        is_worker = 1;
    }
    atomic_fetch_add_explicit(&worker_allocs, 1, memory_order_relaxed);
    static __thread int in_trace;
    if (atomic_load_explicit(&tracing, memory_order_relaxed) && !in_trace) {
        in_trace = 1;
        void *frames[24];
        int n = backtrace(frames, 24);
        fprintf(stderr, "--- worker allocation\n");
        backtrace_symbols_fd(frames, n, 2);
        in_trace = 0;
    }
}

void *malloc(size_t n)
{
    note();
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t sz)
{
    note();
    return __libc_calloc(n, sz);
}
void *realloc(void *p, size_t n)
{
    note();
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
void *aligned_alloc(size_t al, size_t n)
{
    note();
    return __libc_memalign(al, n);
}
void *memalign(size_t al, size_t n)
{
    note();
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
    note();
    void *p = __libc_memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
#endif

static tproc_t mock;
static char dir[128];

/* An agent turn with a tool loop in its history, about 2 KB. */
static char *agent_body(int session, bool stream)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
               "careful senior engineer on task %04d. Prefer small diffs.\"}",
               session);
    for (int i = 0; i < 3; i++)
        buf_printf(&b,
                   ",{\"role\":\"user\",\"content\":\"Refactor load() so the error path frees the "
                   "buffer; the log says {\\\"path\\\":\\\"/tmp/\\u00e9t\\u00e9\\\"}.\"}"
                   ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%d\","
                   "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":"
                   "\"{\\\"path\\\":\\\"src/load.c\\\"}\"}}]}"
                   ",{\"role\":\"tool\",\"tool_call_id\":\"call_%d\",\"content\":\"int "
                   "load(const char *path) {\\n    char *buf = malloc(4096);\\n    if "
                   "(!read_all(path, buf)) return -1;\\n    return parse(buf);\\n}\\n\"}"
                   ",{\"role\":\"assistant\",\"content\":\"Move the cleanup to one exit label; "
                   "日本語のファイル名でも同じです。\"}",
                   i, i);
    buf_puts(&b, ",{\"role\":\"user\",\"content\":\"Now run the unit test again.\"}],"
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\","
                 "\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":"
                 "\"string\"}}}}}],\"max_tokens\":256,\"stream\":");
    buf_puts(&b, stream ? "true}" : "false}");
    return buf_steal(&b);
}

static void write_config(const char *path, int port, int mgmt, int up)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - {name: small, provider_model_id: s, pricing: {prompt_per_1m: 0.05, "
            "completion_per_1m: 0.1}, backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "    - {name: medium, provider_model_id: m, pricing: {prompt_per_1m: 0.5, "
            "completion_per_1m: 1.5}, backend_refs: [{name: m1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "    - {name: large, provider_model_id: l, pricing: {prompt_per_1m: 3, "
            "completion_per_1m: 15}, backend_refs: [{name: l1, endpoint: \"127.0.0.1:%d\"}]}\n"
            "routing:\n  strategy: priority\n"
            "  modelCards: [{name: small, quality_score: 0.6}, {name: medium, quality_score: "
            "0.75}, {name: large, quality_score: 0.9}]\n"
            "  signals:\n"
            "    keywords: [{name: code_terms, keywords: [stack trace, unit test, refactor]}]\n"
            "    pii: [{name: sensitive, threshold: 0.8}]\n"
            "    jailbreak: [{name: injection, threshold: 0.7, include_tool_results: true}]\n"
            "    language: [{name: fr}]\n"
            "    context: [{name: long_context, min_tokens: 12K}]\n"
            "    conversation:\n      - name: tool_use\n"
            "        feature: {type: count, source: {type: assistant_tool_call}}\n"
            "        predicate: {gte: 1}\n"
            "  decisions:\n"
            "    - name: guarded\n      priority: 100\n      rules: {operator: OR, conditions: "
            "[{type: jailbreak, name: injection}, {type: pii, name: sensitive}]}\n"
            "      modelRefs: [{model: small}]\n"
            "    - name: long_context\n      priority: 60\n      rules: {type: context, name: "
            "long_context}\n      modelRefs: [{model: large}, {model: medium}]\n"
            "    - name: agentic\n      priority: 50\n      rules: {operator: OR, conditions: "
            "[{type: conversation, name: tool_use}, {type: keyword, name: code_terms}, {type: "
            "language, name: fr}]}\n      modelRefs: [{model: medium}, {model: large}]\n"
            "global:\n  services:\n    router_replay: {path: \"%s/replay.db\"}\n"
            "    management_api: {listen: \"127.0.0.1:%d\"}\n",
            port, up, up, up, dir, mgmt);
    fclose(f);
}

/* One request on the keep-alive connection; asserts a 200. */
static void post(thttp_conn_t *c, const char *body, const char *sid)
{
    char hdr[128] = "";
    if (sid) snprintf(hdr, sizeof hdr, "x-session-id: %s\r\n", sid);
    assert_int_equal(thttp_send_request(c, "POST", "/v1/chat/completions", hdr, body, strlen(body)),
                     0);
    thttp_resp_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(thttp_read_response(c, &r), 0);
    if (r.status != 200) fprintf(stderr, "status %d: %.300s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

#define N_SESSIONS 8

/* One round: every session sends its turn once with x-session-id and once
 * without (the prefix-chain fingerprint finds it). */
static void round_of(thttp_conn_t *c, char **bodies)
{
    for (int s = 0; s < N_SESSIONS; s++) {
        char sid[32];
        snprintf(sid, sizeof sid, "alloc-session-%d", s);
        post(c, bodies[s], sid);
        post(c, bodies[s], NULL);
    }
}

static void test_routed_chat_request_allocations_on_the_worker(void **st)
{
    if (!ALLOC_COUNTING) skip();
    snprintf(dir, sizeof dir, "/tmp/tether-alloc-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(tproc_spawn(&mock, argv, TPROC_QUIET), 0);
    int up = tproc_wait_listening(&mock, 10000);
    assert_true(up > 0);

    int port = tsupport_free_port(), mgmt = tsupport_free_port();
    char path[200];
    snprintf(path, sizeof path, "%s/router.yaml", dir);
    write_config(path, port, mgmt, up);
    tlog_set_level(TLOG_ERROR);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t o = {0};
    cfg_t *cfg = cfg_load_file(path, &o, &d);
    cfg_diags_free(&d);
    assert_non_null(cfg);
    cfg_diags_init(&d);
    tether_app_t *app = app_new(cfg, &d);
    cfg_diags_free(&d);
    assert_non_null(app);
    signal(SIGPIPE, SIG_IGN);
    hsrv_listen_t l = {.address = "127.0.0.1", .port = port, .idle_timeout_ms = 60000};
    hsrv_config_t hc = {.listeners = &l,
                        .n_listeners = 1,
                        .workers = 1,
                        .handler = app_handle,
                        .on_error = app_on_server_error,
                        .on_worker_start = app_worker_start,
                        .on_worker_stop = app_worker_stop,
                        .ud = app};
    char err[256];
    hsrv_server_t *srv = hsrv_server_start(&hc, err, sizeof err);
    assert_non_null(srv);
    app->server = srv;
    metrics_catalog_init("test");

    char *bodies[N_SESSIONS], *streamed[N_SESSIONS];
    for (int s = 0; s < N_SESSIONS; s++) {
        bodies[s] = agent_body(s, false);
        streamed[s] = agent_body(s, true);
    }
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", port, 10000), 0);
    for (int i = 0; i < 8; i++) /* warm-up: pools, sessions, metric series, caches */
        round_of(&c, bodies);
    if (app->replay) assert_true(replay_queue_flush(app->replay, 10000));
    unsigned long before = atomic_load(&worker_allocs);
    if (getenv("TETHER_ALLOC_TRACE")) atomic_store(&tracing, 1);
    const int rounds = 8;
    for (int i = 0; i < rounds; i++)
        round_of(&c, bodies);
    unsigned long n = atomic_load(&worker_allocs) - before;
    atomic_store(&tracing, 0);
    double per = (double)n / (rounds * 2 * N_SESSIONS);
    printf("worker allocations per routed chat request after warm-up: %.2f (%lu in %d)\n", per, n,
           rounds * 2 * N_SESSIONS);
    /* streamed: the sessions go on with streamed turns */
    for (int i = 0; i < 4; i++)
        round_of(&c, streamed);
    before = atomic_load(&worker_allocs);
    if (getenv("TETHER_ALLOC_TRACE")) atomic_store(&tracing, 1);
    for (int i = 0; i < rounds; i++)
        round_of(&c, streamed);
    n = atomic_load(&worker_allocs) - before;
    atomic_store(&tracing, 0);
    double per_stream = (double)n / (rounds * 2 * N_SESSIONS);
    printf("worker allocations per streamed routed chat request after warm-up: %.2f (%lu in %d)\n",
           per_stream, n, rounds * 2 * N_SESSIONS);
    /* a new query on every request (the language detection's memo never
     * answers: CLD2 runs each time), with x-session-id */
    char *fresh[N_SESSIONS * 4];
    for (int i = 0; i < N_SESSIONS * 4; i++) {
        char *b = agent_body(i % N_SESSIONS, false);
        char *q = strstr(b, "Now run the unit test again.");
        assert_non_null(q);
        char tag[8];
        snprintf(tag, sizeof tag, "%03u",
                 (unsigned)i % 1000u); /* "again." -> "a" + 3 digits + "n." */
        memcpy(q + 23, tag, 3);
        fresh[i] = b;
    }
    before = atomic_load(&worker_allocs);
    if (getenv("TETHER_ALLOC_TRACE")) atomic_store(&tracing, 1);
    for (int i = 0; i < N_SESSIONS * 4; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "alloc-session-%d", i % N_SESSIONS);
        post(&c, fresh[i], sid);
    }
    n = atomic_load(&worker_allocs) - before;
    atomic_store(&tracing, 0);
    double per_fresh = (double)n / (N_SESSIONS * 4);
    printf("worker allocations per routed chat request with a new query: %.2f (%lu in %d)\n",
           per_fresh, n, N_SESSIONS * 4);
    thttp_close(&c);
    for (int s = 0; s < N_SESSIONS; s++) {
        free(bodies[s]);
        free(streamed[s]);
    }
    for (int i = 0; i < N_SESSIONS * 4; i++)
        free(fresh[i]);
    hsrv_server_stop(srv, 1000);
    hsrv_server_free(srv);
    app_free(app);
    tproc_stop(&mock, 5000);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(per <= MAX_ALLOCS_PER_REQUEST);
    assert_true(per_stream <= MAX_ALLOCS_PER_STREAMED_REQUEST);
    assert_true(per_fresh <= MAX_ALLOCS_PER_NEW_QUERY);
}

int main(void)
{
    evmem_install(); /* as tether's main() does, before any libevent call */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routed_chat_request_allocations_on_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
