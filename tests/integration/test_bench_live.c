/* test_bench_live.c - `tether bench live` through the real binary: a small
 * run (4 sessions x 8 turns: tool loops, provider state, a topic drift, an
 * idle turn; half the sessions without x-session-id) against three strict
 * mocks, with one replica and then with two replicas sharing a Redis (when
 * /usr/bin/redis-server exists). The strict backends must judge 0
 * violations and every request must succeed; no timing is asserted. Also
 * checks that `bench overhead` runs, that --progress reports the phases on
 * stderr, and that bad options exit 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proc.h"
#include <cjson/cJSON.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run the binary with args; capture stdout into a malloc'd string. Returns
 * the exit status (or -1). */
static int run_capture_redir(const char *args, const char *redir, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s %s", tproc_tether_bin(), args, redir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_capture(const char *args, char **out)
{
    return run_capture_redir(args, "2>/dev/null", out);
}

static long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsNumber(v));
    return (long)v->valuedouble;
}

static void check_run(const cJSON *run, int replicas)
{
    assert_int_equal(num(run, "replicas"), replicas);
    assert_int_equal(num(run, "sessions"), 4);
    assert_int_equal(num(run, "sessions_with_header"), 2);
    assert_int_equal(num(run, "sessions_prefix_chain"), 2);
    assert_int_equal(num(run, "turns_completed"), 32);
    assert_int_equal(num(run, "errors"), 0);
    assert_int_equal(num(run, "violations"), 0);
    assert_int_equal(num(run, "rejected"), 0);
    /* every phase really happened: tool calls answered, provider state sent
     * back, a drift and an idle turn */
    assert_true(num(run, "tool_calls") > 0);
    assert_true(num(run, "state_turns") > 0);
    assert_true(num(run, "drift_turns") > 0);
    assert_true(num(run, "idle_turns") > 0);
    /* the backends saw every request and reported prefix-cache hits */
    long backend_requests = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(run, "backends")) backend_requests +=
        num(b, "requests");
    assert_int_equal(backend_requests, num(run, "requests"));
    assert_true(num(run, "cached_tokens") > 0);
    /* the routing really moved sessions between models, and the locks held */
    assert_true(num(run, "switches") > 0);
    const cJSON *reasons = cJSON_GetObjectItem(run, "session_reasons");
    assert_true(num(reasons, "hard_lock_tool_loop") > 0);
    assert_true(num(reasons, "hard_lock_provider_state") > 0);
    /* the direct replay ran and every replayed request succeeded */
    assert_int_equal(num(run, "direct_errors"), 0);
    assert_int_equal(num(cJSON_GetObjectItem(run, "overhead"), "n"), num(run, "requests"));
}

static void run_live(const char *extra, int replicas)
{
    char args[512], *out = NULL;
    snprintf(args, sizeof args,
             "bench live --sessions 4 --turns 8 --concurrency 4 --idle-pause-ms 1100 "
             "--format json %s",
             extra);
    int rc = run_capture(args, &out);
    if (rc != 0) fprintf(stderr, "bench live exited %d: %s\n", rc, out);
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) fprintf(stderr, "not JSON: %s\n", out);
    assert_non_null(j);
    cJSON *runs = cJSON_GetObjectItem(j, "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    check_run(cJSON_GetArrayItem(runs, 0), replicas);
    cJSON_Delete(j);
    free(out);
}

static void test_live_one_replica_has_no_violations(void **state)
{
    run_live("--replicas 1", 1);
}

static void test_live_two_replicas_through_redis_have_no_violations(void **state)
{
    if (access("/usr/bin/redis-server", X_OK) != 0) skip();
    run_live("--replicas 2 --redis-server", 2);
}

static void test_overhead_runs(void **state)
{
    char *out = NULL;
    int rc = run_capture("bench overhead --requests 300 --concurrency 4 --format json", &out);
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(num(j, "errors"), 0);
    assert_int_equal(num(cJSON_GetObjectItem(j, "routed"), "n"), 300);
    assert_int_equal(num(cJSON_GetObjectItem(j, "direct"), "n"), 300);
    /* --pin auto (the default): the router on a CPU of its own when the
     * machine allows two or more (src/bench/live_pin.h) */
    cpu_set_t s;
    assert_int_equal(sched_getaffinity(0, sizeof s, &s), 0);
    cJSON *pin = cJSON_GetObjectItem(j, "pin");
    assert_non_null(pin);
    if (CPU_COUNT(&s) >= 2) {
        assert_true(cJSON_IsObject(pin));
        assert_true(num(pin, "router") != num(pin, "client"));
    } else {
        assert_true(cJSON_IsNull(pin));
    }
    cJSON_Delete(j);
    free(out);
    rc = run_capture("bench overhead --requests 100 --concurrency 2 --pin off --format json", &out);
    assert_int_equal(rc, 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "pin")));
    assert_int_equal(num(j, "errors"), 0);
    cJSON_Delete(j);
    free(out);
}

/* --progress: a line per phase and the measured phases' counters on
 * stderr; without it (stderr is not a terminal here) nothing. */
static void test_live_progress_on_stderr(void **state)
{
    char *err = NULL;
    const char *run = "bench live --sessions 2 --turns 2 --concurrency 2 --format json";
    char args[256];
    snprintf(args, sizeof args, "%s --progress", run);
    assert_int_equal(run_capture_redir(args, "2>&1 >/dev/null", &err), 0);
    assert_non_null(strstr(err, "bench live: starting 3 backends and 1 router\n"));
    assert_non_null(strstr(err, "bench live: warm-up"));
    assert_non_null(strstr(err, "bench live: routed: 2 sessions...\n"));
    assert_non_null(strstr(err, "bench live: routed 2/2 sessions, "));
    assert_non_null(strstr(err, "bench live: direct 2/2 sessions, "));
    assert_non_null(strstr(err, "(done)\n"));
    free(err);
    assert_int_equal(run_capture_redir(run, "2>&1 >/dev/null", &err), 0);
    assert_null(strstr(err, "bench live:"));
    free(err);
}

static void test_bad_options_exit_1(void **state)
{
    char *out = NULL;
    assert_int_equal(run_capture("bench live --replicas 3", &out), 1);
    free(out);
    assert_int_equal(run_capture("bench live --sessions 0", &out), 1);
    free(out);
    assert_int_equal(run_capture("bench live --bogus", &out), 1);
    free(out);
    assert_int_equal(run_capture("bench overhead --body-bytes 1", &out), 1);
    free(out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_one_replica_has_no_violations),
        cmocka_unit_test(test_live_two_replicas_through_redis_have_no_violations),
        cmocka_unit_test(test_overhead_runs),
        cmocka_unit_test(test_live_progress_on_stderr),
        cmocka_unit_test(test_bad_options_exit_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
