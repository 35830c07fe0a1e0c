/* test_configmap_reload.c - hot reload through a Kubernetes ConfigMap
 * volume, laid out the way the kubelet writes it: the data lives in a
 * timestamped directory (..2024_01_01_00_00_00.N), `..data` is a symlink to
 * it and config.yaml is a symlink to ..data/config.yaml. An update writes a
 * new timestamped directory, points a `..data_tmp` symlink at it, renames
 * ..data_tmp over ..data (the atomic swap) and removes the old directory.
 * config.yaml itself never changes. The router, started with
 * --config DIR/config.yaml, must serve the new default model after a swap,
 * keep the old one after a swap to an invalid config, and recover after a
 * swap to a valid one again; no request fails meanwhile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "stack.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock_a, mock_b, router;
static int pa, pb, rport, gport, gen;
static char dir[256], current[64];

static void rm_tree(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* One kubelet update: new timestamped dir, ..data_tmp -> it, rename over
 * ..data, remove the previous dir. */
static void kubelet_update(const char *default_model, int valid)
{
    char ts[64], path[512], tmp[512], data[512];
    snprintf(ts, sizeof ts, "..2024_01_01_00_00_%02d.%d", gen, 1000 + gen);
    gen++;
    snprintf(path, sizeof path, "%s/%s", dir, ts);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/%s/config.yaml", dir, ts);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "global: {services: {management_api: {listen: \"127.0.0.1:%d\"}, "
            "router_replay: {enabled: false}}}\n"
            "providers:\n  defaults: {default_model: %s}\n  models:\n"
            "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: model-a}, {name: model-b}]\n%s",
            rport, gport, default_model, pa, pb,
            valid ? "" : "  decisions: [{name: broken, modelRefs: [{model: nope}]}]\n");
    fclose(f);
    snprintf(tmp, sizeof tmp, "%s/..data_tmp", dir);
    assert_int_equal(symlink(ts, tmp), 0);
    snprintf(data, sizeof data, "%s/..data", dir);
    assert_int_equal(rename(tmp, data), 0);
    if (current[0]) {
        snprintf(path, sizeof path, "%s/%s", dir, current);
        rm_tree(path);
    }
    snprintf(current, sizeof current, "%s", ts);
}

/* The model that answers an auto request (x-tether-model), or "" on error. */
static int routed_model(char *out, size_t n)
{
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r;
    out[0] = '\0';
    if (thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions", NULL, body, strlen(body),
                      &r) != 0) {
        thttp_resp_free(&r);
        return -1;
    }
    int st = r.status;
    const char *m = thttp_resp_header(&r, "x-tether-model");
    snprintf(out, n, "%s", m ? m : "");
    thttp_resp_free(&r);
    return st == 200 ? 0 : -1;
}

/* Poll until want answers (every request must succeed), within ms. */
static int wait_model(const char *want, int ms)
{
    char got[64];
    int rc = -1;
    TPOLL_UNTIL((rc = routed_model(got, sizeof got)) != 0 || !strcmp(got, want), ms);
    return rc != 0 ? -2 : strcmp(got, want) ? -1 : 0;
}

/* The reloads the router rejected so far (-1: unreadable). */
static double rejected(void)
{
    return tpoll_metric(gport, NULL, "tether_config_reloads_total{result=\"rejected\"} ");
}

static void test_configmap_data_swap_reloads(void **state)
{
    (void)state;
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(tproc_spawn(&mock_a, ma, TPROC_QUIET), 0);
    assert_int_equal(tproc_spawn(&mock_b, ma, TPROC_QUIET), 0);
    pa = tproc_wait_listening(&mock_a, 10000);
    pb = tproc_wait_listening(&mock_b, 10000);
    assert_true(pa > 0 && pb > 0);
    tstack_two_ports(&rport, &gport);
    snprintf(dir, sizeof dir, "/tmp/tether-cm-%d", (int)getpid());
    rm_tree(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    kubelet_update("model-a", 1);
    char link[512];
    snprintf(link, sizeof link, "%s/config.yaml", dir);
    assert_int_equal(symlink("..data/config.yaml", link), 0);

    assert_true(tstack_serve_n(&router, link, 1, 10000) > 0);
    assert_int_equal(wait_model("model-a", TPOLL_MS), 0);

    /* a valid update: only ..data moves; no SIGHUP */
    kubelet_update("model-b", 1);
    assert_int_equal(wait_model("model-b", TPOLL_MS), 0);

    /* an invalid update is rejected (wait for the verdict): model-b keeps
     * serving */
    double rej = rejected();
    assert_true(rej >= 0);
    kubelet_update("model-a", 0);
    assert_true(TPOLL_UNTIL(rejected() > rej, TPOLL_MS));
    char got[64];
    assert_int_equal(routed_model(got, sizeof got), 0);
    assert_string_equal(got, "model-b");

    /* valid again */
    kubelet_update("model-a", 1);
    assert_int_equal(wait_model("model-a", TPOLL_MS), 0);
    /* several swaps in a row end on the last one */
    kubelet_update("model-b", 1);
    kubelet_update("model-a", 1);
    kubelet_update("model-b", 1);
    assert_int_equal(wait_model("model-b", TPOLL_MS), 0);

    int st = tproc_stop(&router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    tproc_stop(&mock_a, 5000);
    tproc_stop(&mock_b, 5000);
    rm_tree(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configmap_data_swap_reloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
