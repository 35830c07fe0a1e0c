/* test_reload.c - snapshots survive swaps while held; reloads apply valid
 * files, reject invalid ones (old config keeps serving), skip unchanged
 * bytes, report restart-only changes; a changed keys_file is a change
 * (and a broken one keeps the old keys); the inotify watcher sees a rename; a
 * rejection's log line shows no environment value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/reload.h"

static char dir[256], path[300];

static void write_file(const char *p, const char *text)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, p), 0); /* atomic, like an editor or a ConfigMap swap */
}

static const char *cfg_port(int port)
{
    static char y[256];
    snprintf(y, sizeof y, "version: v0.3\nlisteners: [{name: a, port: %d}]\n", port);
    return y;
}

static int setup(void **st)
{
    snprintf(dir, sizeof dir, "/tmp/tether-reload-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    write_file(path, cfg_port(9000));
    return 0;
}

static int teardown(void **st)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static cfg_t *load(void)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_file(path, NULL, &d);
    cfg_diags_free(&d);
    assert_non_null(c);
    return c;
}

static void test_held_snapshot_survives_swap(void **st)
{
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    const cfg_t *old = cfg_snapshot_acquire(s);
    assert_int_equal(old->generation, 1);
    write_file(path, cfg_port(9001));
    assert_int_equal(cfg_snapshot_swap(s, load()), 2);
    const cfg_t *cur = cfg_snapshot_acquire(s);
    assert_int_equal(cur->listeners[0].port, 9001);
    assert_int_equal(old->listeners[0].port, 9000); /* still valid: ASan would flag a free */
    cfg_snapshot_release(s, old);
    cfg_snapshot_release(s, cur);
    cfg_snapshot_free(s);
}

typedef struct {
    cfg_snapshot_t *s;
    atomic_int stop;
    atomic_long reads;
    atomic_int bad;
} readers_t;

static void *reader(void *arg)
{
    readers_t *r = arg;
    while (!atomic_load(&r->stop)) {
        const cfg_t *c = cfg_snapshot_acquire(r->s);
        if (c->n_listeners != 1 || c->listeners[0].port < 9000) atomic_store(&r->bad, 1);
        atomic_fetch_add(&r->reads, 1);
        cfg_snapshot_release(r->s, c);
    }
    return NULL;
}

static void test_reload_under_concurrent_readers(void **st)
{
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    cfg_reload_t *rl = cfg_reload_new(path, s, NULL);
    readers_t r = {.s = s};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &r);
    for (int i = 0; i < 30; i++) {
        if (i % 3 == 2) {
            write_file(path, "version: v0.3\nlisteners: [{name: a, port: nope}]\n");
            assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_REJECTED);
        } else {
            write_file(path, cfg_port(9001 + i));
            assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_APPLIED);
        }
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_true(atomic_load(&r.reads) > 0);
    cfg_reload_stats_t stats;
    cfg_reload_get_stats(rl, &stats);
    assert_int_equal(stats.applied, 20);
    assert_int_equal(stats.rejected, 10);
    assert_int_equal(stats.generation, 21);
    /* the last good config (port 9029) is still serving after the bad one */
    const cfg_t *c = cfg_snapshot_acquire(s);
    assert_int_equal(c->listeners[0].port, 9029);
    cfg_snapshot_release(s, c);
    cfg_reload_free(rl);
    cfg_snapshot_free(s);
}

static void test_unchanged_and_restart_changes(void **st)
{
    write_file(path, cfg_port(9000));
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    cfg_reload_t *rl = cfg_reload_new(path, s, NULL);
    assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_UNCHANGED);
    write_file(path, "version: v0.3\nlisteners: [{name: a, port: 9000}]\n"
                     "global: {stores: {session: {backend: redis, redis: {address: 'r:6379'}}}}\n");
    cfg_diags_t d;
    cfg_diags_init(&d);
    assert_int_equal(cfg_reload_now(rl, false, &d), CFG_RELOAD_APPLIED);
    cfg_diags_free(&d);
    cfg_reload_stats_t stats;
    cfg_reload_get_stats(rl, &stats);
    assert_int_equal(stats.restart_required, 1);
    assert_int_equal(stats.unchanged, 1);
    cfg_t *a = load();
    write_file(path, cfg_port(9100));
    cfg_t *b = load();
    buf_t out = BUF_INIT;
    assert_int_equal(cfg_restart_changes(a, b, &out), 2);
    assert_string_equal(out.data, "listeners, global.stores.session");
    buf_free(&out);
    cfg_free(a);
    cfg_free(b);
    /* tracing settings take effect at a restart: a change says so */
    write_file(path, cfg_port(9000));
    a = load();
    write_file(path, "version: v0.3\nlisteners: [{name: a, port: 9000}]\n"
                     "global: {services: {tracing: {sample_ratio: 0.5}}}\n");
    b = load();
    assert_int_equal(cfg_restart_changes(a, b, &out), 1);
    assert_string_equal(out.data, "global.services.tracing");
    buf_free(&out);
    cfg_free(a);
    cfg_free(b);
    cfg_reload_free(rl);
    cfg_snapshot_free(s);
}

static void test_watcher_sees_rename_and_sighup_trigger(void **st)
{
    write_file(path, cfg_port(9000));
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    cfg_reload_t *rl = cfg_reload_new(path, s, NULL);
    assert_int_equal(cfg_reload_start(rl), 0);
    write_file(path, cfg_port(9555));
    cfg_reload_stats_t stats = {0};
    for (int i = 0; i < 500 && stats.applied == 0;
         i++) { /* wait up to 5 s; not a timing assertion */
        usleep(10000);
        cfg_reload_get_stats(rl, &stats);
    }
    assert_int_equal(stats.applied, 1);
    const cfg_t *c = cfg_snapshot_acquire(s);
    assert_int_equal(c->listeners[0].port, 9555);
    cfg_snapshot_release(s, c);
    /* a trigger with unchanged bytes reloads nothing */
    cfg_reload_trigger(rl);
    for (int i = 0; i < 500 && stats.unchanged == 0; i++) {
        usleep(10000);
        cfg_reload_get_stats(rl, &stats);
    }
    assert_int_equal(stats.unchanged, 1);
    assert_int_equal(stats.applied, 1);
    cfg_reload_free(rl);
    cfg_snapshot_free(s);
}

/* A rejected reload logs its diagnostics: one valid JSON line, and neither it
 * nor the diagnostics handed back hold the value of a ${VAR} or *_env. */
static void test_rejected_reload_never_logs_environment_values(void **st)
{
    setenv("TETHER_T_RELOAD", "zq-reload-marker-1", 1);
    setenv("TETHER_T_RELOAD_KEY", "zq-reload-key-2", 1);
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    cfg_reload_t *rl = cfg_reload_new(path, s, NULL);
    write_file(path, "version: v0.3\n"
                     "listeners: [{name: a, port: \"${TETHER_T_RELOAD}\"}]\n"
                     "global: {services: {management_api: {tokens: [{name: t, token_env: "
                     "TETHER_T_RELOAD_KEY, role: \"${TETHER_T_RELOAD_KEY}\"}]}}}\n");
    char tmpl[] = "/tmp/tether-reload-log-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    int saved = dup(2);
    dup2(fd, 2);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_reload_result_t res = cfg_reload_now(rl, false, &d);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(res, CFG_RELOAD_REJECTED);
    char log[8192] = "";
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    assert_true(n > 0);
    assert_null(strstr(log, "zq-reload"));
    assert_non_null(strstr(log, "\"event\":\"config_reload_rejected\""));
    assert_non_null(strstr(log, "expected an integer, got \\\"<redacted>\\\""));
    assert_non_null(strstr(log, "\"diagnostics\":[\""));
    assert_int_equal(log[n - 1], '\n');
    assert_ptr_equal(strchr(log, '\n'), log + n - 1); /* one line */
    buf_t b = BUF_INIT;
    cfg_diags_json(&b, &d);
    assert_null(strstr(b.data, "zq-reload"));
    assert_non_null(strstr(b.data, "<redacted>"));
    buf_free(&b);
    cfg_diags_free(&d);
    cfg_reload_free(rl);
    cfg_snapshot_free(s);
}

static void write_keys(const char *kp, char hexdigit)
{
    char y[256];
    char hex[65];
    memset(hex, hexdigit, 64);
    hex[64] = 0;
    snprintf(y, sizeof y, "- {name: k1, key_sha256: \"%s\"}\n", hex);
    write_file(kp, y);
}

static void test_changed_keys_file_is_a_change(void **st)
{
    char kp[320];
    snprintf(kp, sizeof kp, "%s/keys.yaml", dir);
    write_keys(kp, 'a');
    write_file(path, "version: v0.3\nlisteners: [{name: a, port: 9000, keys_file: keys.yaml}]\n");
    cfg_snapshot_t *s = cfg_snapshot_new(load());
    cfg_reload_t *rl = cfg_reload_new(path, s, NULL);
    assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_UNCHANGED);
    /* the config's bytes are the same, the keys file's are not */
    write_keys(kp, 'b');
    assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_APPLIED);
    const cfg_t *c = cfg_snapshot_acquire(s);
    assert_int_equal(c->listeners[0].n_api_keys, 1);
    assert_int_equal(c->listeners[0].api_keys[0].digest[0], 0xbb);
    cfg_snapshot_release(s, c);
    assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_UNCHANGED);
    /* a broken keys file is rejected: the old keys keep serving */
    write_file(kp, "- {name: k1, key_sha256: nothex}\n");
    assert_int_equal(cfg_reload_now(rl, false, NULL), CFG_RELOAD_REJECTED);
    c = cfg_snapshot_acquire(s);
    assert_int_equal(c->listeners[0].api_keys[0].digest[0], 0xbb);
    cfg_snapshot_release(s, c);
    cfg_reload_free(rl);
    cfg_snapshot_free(s);
    unlink(kp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changed_keys_file_is_a_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_snapshot_survives_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_under_concurrent_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_and_restart_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watcher_sees_rename_and_sighup_trigger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rejected_reload_never_logs_environment_values, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
