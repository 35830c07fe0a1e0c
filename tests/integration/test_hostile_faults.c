/* test_hostile_faults.c - upstream faults against `tether serve`, with
 * numbers (issue 17; docs/RELIABILITY.md). Scripted mocks (`tether mock
 * --script`) misbehave next to a strict mock (`--strict`, which counts
 * continuity violations):
 *  - a 5xx burst on one of two backends: every request still answered 200
 *    (retried on the other), no violation at the strict one;
 *  - stalls past first_byte: retried on the other backend, answered 200;
 *  - a reset mid-stream and a stall past stream_idle after the first chunk
 *    (nothing left to retry): the stream ends, the client is not left
 *    hanging, the next request is served;
 *  - garbage and truncated SSE from the upstream: relayed or refused, never
 *    a crash;
 *  - slow readers: clients that stop reading a large stream, then leave.
 * After each: the router answers /health and its VmRSS stays under a
 * generous bound. Counts only, no timing asserted; TETHER_TEST_VERBOSE=1
 * prints the figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { N = 20 };

static tproc_t router, good, burst, stall, rst, idle, junk, big;
static int rport, gport, pgood;
static char cfg[256], scripts[4][256];
static long rss0_kb;

static void say(const char *fmt, ...)
{
    if (!getenv("TETHER_TEST_VERBOSE")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "faults: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A mock running `lines` (repeated n times) as its script; its port. */
static int scripted(tproc_t *p, int slot, const char *line, int n)
{
    snprintf(scripts[slot], sizeof scripts[slot], "/tmp/tether-faults-%d-%d.jsonl", (int)getpid(),
             slot);
    FILE *f = fopen(scripts[slot], "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\n", line);
    fclose(f);
    const char *argv[] = {tproc_tether_bin(), "mock",        "--listen", "127.0.0.1:0",
                          "--script",         scripts[slot], NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

static int plain_mock(tproc_t *p, const char *flag, const char *val)
{
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", flag, val, NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

static int setup(void **state)
{
    (void)state;
    pgood = tstack_mock_strict(&good, "3");
    int pburst = scripted(&burst, 0, "{\"status\": 503}", 4 * N);
    /* first_byte is 1000 ms below: the good backend (an ASan mock on a
     * loaded machine) must answer within it, the stalled one never does */
    int pstall = scripted(&stall, 1, "{\"delay_ms\": 3000}", 4 * N);
    int prst = scripted(&rst, 2, "{\"reset_after_bytes\": 150, \"stream\": true}", 4 * N);
    int pjunk = scripted(
        &junk, 3,
        "{\"status\": 200, \"stream\": true, \"body\": \"data: {\\\"choices\\\":[{\\\"delta\\\":"
        "{\\\"content\\\":\\\"x\\\"}}]}\\n\\ndata: {garbage\\n\\ndata: \\u0000\\u00ff"
        "\\n\\nevent: x\\ndata: {\\\"choices\\\":[{\\\"delta\\\":{\\\"cont\"}",
        4 * N);
    int pidle = plain_mock(&idle, "--chunk-delay-ms", "2000");
    int pbig = plain_mock(&big, "--reply-bytes", "4000000");
    if (pgood < 0 || pburst < 0 || pstall < 0 || prst < 0 || pjunk < 0 || pidle < 0 || pbig < 0)
        return -1;
    int lport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(cfg, sizeof cfg, "/tmp/tether-faults-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: burst}\n  models:\n"
            "    - name: burst\n"
            "      backend_refs: [{name: bad5xx, endpoint: \"127.0.0.1:%d\"}, "
            "{name: good1, endpoint: \"127.0.0.1:%d\"}]\n"
            "      reliability: {retry_count: 2, consecutive_failures: 1000}\n"
            "    - name: stall\n"
            "      backend_refs: [{name: slow, endpoint: \"127.0.0.1:%d\"}, "
            "{name: good2, endpoint: \"127.0.0.1:%d\"}]\n"
            "      reliability: {retry_count: 2, consecutive_failures: 1000, "
            "retry_on: [connect_failure, reset, 502, 503, 504, timeout], "
            "timeouts: {first_byte: 1000ms}}\n"
            "    - name: reset\n"
            "      backend_refs: [{name: rst, endpoint: \"127.0.0.1:%d\"}]\n"
            "      reliability: {consecutive_failures: 1000}\n"
            "    - name: idle\n"
            "      backend_refs: [{name: idle1, endpoint: \"127.0.0.1:%d\"}]\n"
            "      reliability: {consecutive_failures: 1000, timeouts: {stream_idle: 300ms}}\n"
            "    - name: garbage\n"
            "      backend_refs: [{name: junk, endpoint: \"127.0.0.1:%d\"}]\n"
            "      reliability: {consecutive_failures: 1000}\n"
            "    - name: big\n"
            "      backend_refs: [{name: big1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: burst}, {name: stall}, {name: reset}, {name: idle}, "
            "{name: garbage}, {name: big}]\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            lport, pburst, pgood, pstall, pgood, prst, pidle, pjunk, pbig, gport);
    fclose(f);
    rport = tstack_serve(&router, cfg);
    if (rport < 0) return -1;
    rss0_kb = tproc_rss_kb(router.pid);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    tproc_t *m[] = {&good, &burst, &stall, &rst, &idle, &junk, &big};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        tproc_stop(m[i], 5000);
    unlink(cfg);
    for (int i = 0; i < 4; i++)
        unlink(scripts[i]);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* One chat request; its status (-1: no answer); the body in *out if asked. */
static int chat(const char *model, bool stream, char **out)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}",
             model, stream ? "true" : "false");
    thttp_resp_t r = {0};
    int rc = thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                           "Content-Type: application/json\r\n", body, strlen(body), &r);
    int st = rc == 0 ? r.status : -1;
    if (out) *out = rc == 0 && r.body ? strdup(r.body) : NULL;
    thttp_resp_free(&r);
    return st;
}

static void assert_alive_and_bounded(const char *what)
{
    assert_int_equal(chat("burst", false, NULL), 200);
    long kb = tproc_rss_kb(router.pid);
    say("%s: VmRSS %ld kB (start %ld kB)", what, kb, rss0_kb);
    assert_true(kb > 0 && kb < rss0_kb + 256 * 1024);
}

static void test_5xx_burst_is_retried(void **st)
{
    (void)st;
    int v0 = tstack_mock_violations(pgood), ok = 0;
    for (int i = 0; i < N; i++)
        ok += chat("burst", i % 2, NULL) == 200;
    int v = tstack_mock_violations(pgood) - v0;
    say("5xx burst: %d sent, %d failed, %d violations at the strict backend", N, N - ok, v);
    assert_int_equal(ok, N);
    assert_int_equal(v, 0);
    assert_alive_and_bounded("5xx burst");
}

static void test_stall_past_first_byte_is_retried(void **st)
{
    (void)st;
    int v0 = tstack_mock_violations(pgood), ok = 0;
    for (int i = 0; i < N; i++)
        ok += chat("stall", i % 2, NULL) == 200;
    int v = tstack_mock_violations(pgood) - v0;
    say("stall past first_byte: %d sent, %d failed, %d violations", N, N - ok, v);
    assert_int_equal(ok, N);
    assert_int_equal(v, 0);
    assert_alive_and_bounded("stall");
}

/* Streams that break after their first bytes: each ends (no hang) without
 * a clean [DONE]; the router stays up. */
static void broken_streams(const char *model, const char *what)
{
    int answered = 0, done = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        char *body = NULL;
        int s = chat(model, true, &body);
        answered += s > 0;
        if (body && strstr(body, "[DONE]")) done++;
        if (s >= 500 || (body && strstr(body, "\"error\""))) errors++;
        free(body);
    }
    say("%s: %d streams sent, %d answered, %d ended with [DONE], %d carried an error", what, N,
        answered, done, errors);
    assert_int_equal(answered, N);
    assert_int_equal(done, 0);   /* a broken stream never looks complete */
    assert_int_equal(errors, N); /* and the client is told */
    assert_alive_and_bounded(what);
}

static void test_reset_mid_stream(void **st)
{
    (void)st;
    broken_streams("reset", "reset mid-stream");
}

static void test_stall_past_stream_idle(void **st)
{
    (void)st;
    broken_streams("idle", "stall past stream_idle");
}

static void test_garbage_and_truncated_sse(void **st)
{
    (void)st;
    int answered = 0, ok = 0;
    for (int i = 0; i < N; i++) {
        int s = chat("garbage", i % 2, NULL);
        answered += s > 0;
        ok += s == 200;
    }
    say("garbage/truncated SSE: %d sent, %d answered (%d with 200)", N, answered, ok);
    assert_int_equal(answered, N);
    assert_alive_and_bounded("garbage SSE");
}

static void test_slow_readers(void **st)
{
    (void)st;
    enum { READERS = 8 };
    thttp_conn_t c[READERS];
    static const char body[] =
        "{\"model\":\"big\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    int heads = 0;
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(thttp_open(&c[i], "127.0.0.1", rport, 5000), 0);
        int rcv = 4096;
        setsockopt(c[i].fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        assert_int_equal(thttp_send_request(&c[i], "POST", "/v1/chat/completions",
                                            "Content-Type: application/json\r\n", body,
                                            sizeof body - 1),
                         0);
        thttp_resp_t r = {0};
        heads += thttp_read_head(&c[i], &r) == 0 && r.status == 200;
        thttp_resp_free(&r);
    }
    /* they read nothing more while others are served */
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += chat("burst", false, NULL) == 200;
    long kb = tproc_rss_kb(router.pid);
    for (int i = 0; i < READERS; i++)
        thttp_close(&c[i]);
    say("slow readers: %d streams of 4 MB not read (%d heads seen); meanwhile %d/%d other "
        "requests served; VmRSS %ld kB while they stalled",
        READERS, heads, ok, N, kb);
    assert_int_equal(ok, N);
    assert_true(kb < rss0_kb + 256 * 1024);
    assert_alive_and_bounded("slow readers");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5xx_burst_is_retried),
        cmocka_unit_test(test_stall_past_first_byte_is_retried),
        cmocka_unit_test(test_reset_mid_stream),
        cmocka_unit_test(test_stall_past_stream_idle),
        cmocka_unit_test(test_garbage_and_truncated_sse),
        cmocka_unit_test(test_slow_readers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
