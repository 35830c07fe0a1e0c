/* test_embed_openai.c - the openai_compatible embedder against the real
 * `tether mock` (/v1/embeddings): vectors and normalisation, batches, the
 * LRU cache, dimension probing, and failures (connection refused with a
 * retry, timeout, 4xx without retry) leaving banks unready. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "proc.h"
#include "signals/bank.h"
#include "signals/embedder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int start_mock(tproc_t *p, const char *extra1, const char *extra2)
{
    const char *argv[] = {
        tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", extra1, extra2, NULL};
    assert_int_equal(tproc_spawn(p, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(p, 10000);
    assert_true(port > 0);
    return port;
}

static emb_t *client(int port, const char *model, int dims, int timeout_ms, size_t cache)
{
    char url[64], err[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", port);
    emb_openai_opts_t o = {.base_url = url,
                           .model = model,
                           .dims = dims,
                           .timeout_ms = timeout_ms,
                           .max_retries = 1,
                           .cache_entries = cache};
    emb_t *e = emb_openai_new(&o, err, sizeof err);
    assert_non_null(e);
    return e;
}

static void test_vectors_batches_and_cache(void **st)
{
    (void)st;
    tproc_t p;
    int port = start_mock(&p, NULL, NULL);
    emb_t *e = client(port, "emb-small", 128, 2000, 4);
    assert_int_equal(emb_dims(e), 128);
    float a[128], b[128], c[3 * 128];
    const char *t1 = "reverse a linked list in python";
    assert_int_equal(emb_embed(e, t1, strlen(t1), a), EMB_OK);
    assert_true(fabs(emb_dot(a, a, 128) - 1) < 1e-4);
    emb_stats_t s;
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 1);
    assert_int_equal(s.cache_misses, 1);
    /* the same text again: a cache hit, no request */
    assert_int_equal(emb_embed(e, t1, strlen(t1), b), EMB_OK);
    assert_memory_equal(a, b, sizeof a);
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 1);
    assert_int_equal(s.cache_hits, 1);
    /* a batch of three (one cached) is one request for the two others */
    const char *tx[3] = {"a linked list in python", t1, "the history of rome"};
    size_t ln[3] = {strlen(tx[0]), strlen(tx[1]), strlen(tx[2])};
    assert_int_equal(emb_embed_batch(e, tx, ln, 3, c), EMB_OK);
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 2);
    assert_memory_equal(c + 128, a, sizeof a);
    /* texts sharing words are closer (the mock's hashed vectors) */
    assert_true(emb_dot(a, c, 128) > emb_dot(a, c + 256, 128));
    /* capacity 4: after four new texts the first is evicted */
    const char *more[4] = {"one alpha", "two beta", "three gamma", "four delta"};
    size_t ml[4] = {9, 8, 11, 10};
    float m[4 * 128];
    assert_int_equal(emb_embed_batch(e, more, ml, 4, m), EMB_OK);
    emb_openai_stats(e, &s);
    uint64_t req = s.requests;
    assert_int_equal(emb_embed(e, t1, strlen(t1), b), EMB_OK);
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, req + 1);
    assert_memory_equal(a, b, sizeof a); /* deterministic remote */
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);
}

static void test_dimensions_probe_and_banks(void **st)
{
    (void)st;
    tproc_t p;
    int port = start_mock(&p, "--embed-dims", "96");
    emb_t *e = client(port, "m", 0, 2000, 100);
    assert_int_equal(emb_dims(e), 0);
    assert_int_equal(emb_openai_probe(e), EMB_OK);
    assert_int_equal(emb_dims(e), 96);
    sig_bank_cache_clear();
    const char *texts[] = {"billing question about my invoice", "refund for a double charge"};
    sig_bank_t b;
    assert_int_equal(sig_bank_init(&b, e, texts, 2), EMB_OK);
    assert_true(sig_bank_ready(&b));
    float q[96];
    const char *qt = "question about my invoice";
    emb_embed(e, qt, strlen(qt), q);
    assert_true(sig_bank_score(&b, q, SIG_AGG_MAX, 0) > 0.3);
    sig_bank_deinit(&b);
    sig_bank_cache_clear();
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);
}

static void test_connection_refused_retries_then_fails(void **st)
{
    (void)st;
    /* port 1 on loopback: nothing listens */
    emb_t *e = client(1, "m", 64, 500, 10);
    float v[64];
    assert_int_equal(emb_embed(e, "hello", 5, v), EMB_ERR_REMOTE);
    emb_stats_t s;
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 2); /* one retry */
    assert_int_equal(s.failures, 1);
    assert_string_equal(emb_status_str(EMB_ERR_REMOTE), "embedding_unavailable");
    /* a bank over a dead remote stays unready and retries only every 30 s */
    sig_bank_t b;
    const char *texts[] = {"x y z"};
    assert_int_equal(sig_bank_init(&b, e, texts, 1), EMB_ERR_REMOTE);
    assert_false(sig_bank_ready(&b));
    assert_true(sig_bank_score(&b, v, SIG_AGG_MAX, 0) == 0);
    emb_openai_stats(e, &s);
    uint64_t req = s.requests;
    assert_false(sig_bank_ensure(&b, b.last_try_ms + 1000));
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, req);
    assert_false(sig_bank_ensure(&b, b.last_try_ms + 30000));
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, req + 2);
    sig_bank_deinit(&b);
    emb_free(e);
}

static void test_timeout_and_client_errors(void **st)
{
    (void)st;
    tproc_t p;
    int port = start_mock(&p, "--latency-ms", "1500");
    emb_t *e = client(port, "m", 64, 200, 10);
    float v[64];
    assert_int_equal(emb_embed(e, "slow", 4, v), EMB_ERR_TIMEOUT);
    emb_stats_t s;
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 2);
    assert_string_equal(emb_status_str(EMB_ERR_TIMEOUT), "timeout");
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);

    port = start_mock(&p, "--models", "served");
    e = client(port, "not-served", 64, 2000, 10);
    assert_int_equal(emb_embed(e, "x", 1, v), EMB_ERR_REMOTE); /* 404: no retry */
    emb_openai_stats(e, &s);
    assert_int_equal(s.requests, 1);
    emb_free(e);
    /* the served model works on the same mock */
    e = client(port, "served", 64, 2000, 10);
    assert_int_equal(emb_embed(e, "x", 1, v), EMB_OK);
    emb_free(e);
    assert_int_equal(tproc_stop(&p, 5000), 0);
}

static void test_invalid_options(void **st)
{
    (void)st;
    char err[200];
    emb_openai_opts_t o = {.base_url = "ftp://x", .model = "m"};
    assert_null(emb_openai_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "http"));
    o.base_url = NULL;
    assert_null(emb_openai_new(&o, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_batches_and_cache),
        cmocka_unit_test(test_dimensions_probe_and_banks),
        cmocka_unit_test(test_connection_refused_retries_then_fails),
        cmocka_unit_test(test_timeout_and_client_errors),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
