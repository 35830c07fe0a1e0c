/* test_embed_probe.c - the dimension probe of an openai_compatible embedder
 * configured without `dimensions` never holds a worker: a `tether mock`
 * holds the probe's reply (--embed-delay "dimension probe=MS") while this
 * thread, marked as a worker (sig_bank_set_nonblocking), builds and retries
 * a prototype bank. Before, the bank's build called the probe inline and
 * the worker waited for the remote (at load, and every 30 s after a failed
 * probe); now the probe runs on the embedder's own thread, the worker gets
 * "not ready" at once, and the dimensions arrive when the probe answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "proc.h"
#include "core/clock.h"
#include "signals/bank.h"
#include "signals/embedder.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int start_mock(tproc_t *p, const char *delay)
{
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0",
                          "--embed-delay",    delay,  NULL};
    assert_int_equal(tproc_spawn(p, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(p, 10000);
    assert_true(port > 0);
    return port;
}

static emb_t *client(int port)
{
    char url[64], err[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    emb_openai_opts_t o = {.base_url = url,
                           .model = "m",
                           .dims = 0, /* probed */
                           .timeout_ms = 30000,
                           .max_retries = 0,
                           .cache_entries = 100};
    emb_t *e = emb_openai_new(&o, err, sizeof err);
    assert_non_null(e);
    return e;
}

static void test_worker_never_waits_for_the_probe(void **st)
{
    (void)st;
    tproc_t p;
    int port = start_mock(&p, "dimension probe=6000"); /* the probe hangs 6 s */
    emb_t *e = client(port);
    sig_bank_cache_clear();
    const char *texts[] = {"billing question about my invoice", "refund for a double charge"};
    sig_bank_t b;
    sig_bank_set_nonblocking(true); /* this thread is a worker now */
    /* the build needs the dimensions: the probe starts on its own thread
     * and the build fails at once (before: it waited for the reply) */
    assert_int_not_equal(sig_bank_init(&b, e, texts, 2), EMB_OK);
    assert_false(sig_bank_ready(&b));
    assert_int_equal(emb_dims(e), 0); /* the mock still holds the probe */
    /* the worker's rebuild 30 s later: the probe still runs, no wait, no
     * second probe */
    assert_false(sig_bank_ensure(&b, (int64_t)clock_mono_ms() + 31000));
    assert_int_equal(emb_dims(e), 0);
    assert_int_equal(emb_openai_probe_async(e), EMB_ERR_REMOTE);
    /* off the worker (loading, tools): wait for the same probe's answer */
    sig_bank_set_nonblocking(false);
    assert_int_equal(emb_openai_probe(e), EMB_OK);
    assert_int_equal(emb_dims(e), 64);
    emb_stats_t s;
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 1); /* one probe: the retries joined it */
    /* and the next rebuild (30 s after the last try) builds the bank */
    assert_true(sig_bank_ensure(&b, (int64_t)clock_mono_ms() + 62000));
    sig_bank_deinit(&b);
    sig_bank_cache_clear();
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);
}

/* Freeing the embedder while its probe hangs neither waits nor leaks: the
 * probe's transfer aborts and its thread frees the embedder last. */
static void test_free_while_the_probe_hangs(void **st)
{
    (void)st;
    tproc_t p;
    int port = start_mock(&p, "dimension probe=20000");
    emb_t *e = client(port);
    assert_int_equal(emb_openai_probe_async(e), EMB_ERR_REMOTE);
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);
    sleep(2); /* the probe thread ends (the mock is gone) before the leak check */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_never_waits_for_the_probe),
        cmocka_unit_test(test_free_while_the_probe_hangs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
