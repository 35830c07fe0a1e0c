/* test_reload.c - hot reload under load: while a client thread keeps sending
 * requests, the config file is replaced with valid and invalid versions and
 * SIGHUP is sent. No request may fail; a valid change (the default model)
 * takes effect; an invalid file leaves the old config serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "core/clock.h"
#include "poll_until.h"
#include "proc.h"
#include "stack.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock_a, mock_b, router;
static int pa, pb, rport, gport;
static char path[256], tmp[300];
static atomic_int stop_flag, sent, failed;
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_model[64];

/* Write the config atomically (rename over), as editors and ConfigMaps do. */
static void write_config(const char *default_model, int valid)
{
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: %s}\n  models:\n"
            "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: model-a}, {name: model-b}]\n%s"
            "global: {services: {management_api: {listen: \"127.0.0.1:%d\"}}}\n",
            rport, default_model, pa, pb,
            valid ? "" : "  decisions: [{name: broken, modelRefs: [{model: nope}]}]\n", gport);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static void *client(void *arg)
{
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_conn_t c;
    int open = 0;
    while (!atomic_load(&stop_flag)) {
        if (!open) {
            if (thttp_open(&c, "127.0.0.1", rport, 5000) != 0) {
                atomic_fetch_add(&failed, 1);
                continue;
            }
            open = 1;
        }
        thttp_resp_t r;
        int ok =
            thttp_send_request(&c, "POST", "/v1/chat/completions", NULL, body, strlen(body)) == 0 &&
            thttp_read_response(&c, &r) == 0 && r.status == 200;
        atomic_fetch_add(&sent, 1);
        if (!ok) atomic_fetch_add(&failed, 1);
        if (ok) {
            pthread_mutex_lock(&last_lock);
            snprintf(last_model, sizeof last_model, "%s", thttp_resp_header(&r, "x-tether-model"));
            pthread_mutex_unlock(&last_lock);
        }
        thttp_resp_free(&r);
        if (!ok) {
            thttp_close(&c);
            open = 0;
        }
    }
    if (open) thttp_close(&c);
    return NULL;
}

static bool last_is(const char *want)
{
    pthread_mutex_lock(&last_lock);
    bool eq = strcmp(last_model, want) == 0;
    pthread_mutex_unlock(&last_lock);
    return eq;
}

/* Wait (bounded) until the client's last answer came from want. */
static int wait_model(const char *want, int ms)
{
    return TPOLL_UNTIL(last_is(want), ms) ? 0 : -1;
}

/* The reloads the router rejected so far (-1: unreadable). */
static double rejected(void)
{
    return tpoll_metric(gport, NULL, "tether_config_reloads_total{result=\"rejected\"} ");
}

static void test_reload_under_load_never_fails_a_request(void **state)
{
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(tproc_spawn(&mock_a, ma, TPROC_QUIET), 0);
    assert_int_equal(tproc_spawn(&mock_b, ma, TPROC_QUIET), 0);
    pa = tproc_wait_listening(&mock_a, 10000);
    pb = tproc_wait_listening(&mock_b, 10000);
    assert_true(pa > 0 && pb > 0);
    tstack_two_ports(&rport, &gport);
    snprintf(path, sizeof path, "/tmp/tether-reload-%d.yaml", (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_config("model-a", 1);
    assert_true(tstack_serve_n(&router, path, 2, 10000) > 0);

    pthread_t t;
    pthread_create(&t, NULL, client, NULL);
    assert_int_equal(wait_model("model-a", TPOLL_MS), 0);

    /* a valid change, picked up by the file watch */
    write_config("model-b", 1);
    assert_int_equal(wait_model("model-b", TPOLL_MS), 0);
    /* an invalid file: rejected (wait for the verdict, then for two more
     * answers), model-b keeps serving */
    double rej = rejected();
    assert_true(rej >= 0);
    write_config("model-a", 0);
    tproc_signal(&router, SIGHUP);
    assert_true(TPOLL_UNTIL(rejected() > rej, TPOLL_MS));
    int seen = atomic_load(&sent);
    assert_true(TPOLL_UNTIL(atomic_load(&sent) >= seen + 2, TPOLL_MS));
    pthread_mutex_lock(&last_lock);
    assert_string_equal(last_model, "model-b");
    pthread_mutex_unlock(&last_lock);
    /* valid again, through SIGHUP and the watch together */
    write_config("model-a", 1);
    tproc_signal(&router, SIGHUP);
    assert_int_equal(wait_model("model-a", TPOLL_MS), 0);
    /* alternate valid and invalid files under the load */
    int n_valid = 3, n_invalid = 1;
    for (int i = 0; i < 10; i++) {
        write_config(i % 4 < 2 ? "model-b" : "model-a", i % 2 == 0);
        if (i % 2 == 0)
            n_valid++;
        else
            n_invalid++;
        tproc_signal(&router, SIGHUP);
        usleep(100000);
    }
    /* then one valid change to the model not serving now (a reload reads
     * the file when it runs, so quick writes may coalesce: which of the
     * last valid files served is not fixed) */
    usleep(300000);
    char now[64];
    pthread_mutex_lock(&last_lock);
    snprintf(now, sizeof now, "%s", last_model);
    pthread_mutex_unlock(&last_lock);
    const char *next = strcmp(now, "model-a") ? "model-a" : "model-b";
    uint64_t t0 = clock_mono_ms();
    write_config(next, 1);
    n_valid++;
    tproc_signal(&router, SIGHUP);
    assert_int_equal(wait_model(next, TPOLL_MS), 0);
    uint64_t pickup_ms = clock_mono_ms() - t0;
    usleep(300000);
    atomic_store(&stop_flag, 1);
    pthread_join(t, NULL);
    fprintf(stderr,
            "reloads under load: %d valid, %d invalid files; requests %d sent, %d failed; last "
            "valid change serving after %llu ms\n",
            n_valid, n_invalid, atomic_load(&sent), atomic_load(&failed),
            (unsigned long long)pickup_ms);
    assert_true(atomic_load(&sent) > 20);
    assert_int_equal(atomic_load(&failed), 0);
    /* the router survives and exits cleanly */
    int st = tproc_stop(&router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    tproc_stop(&mock_a, 5000);
    tproc_stop(&mock_b, 5000);
    unlink(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_under_load_never_fails_a_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
