/* test_workq.c - core/workq.h, the bounded queue with one consumer thread
 * that the replay writer, the shared replay stores' spool and the trace
 * exporter share: items are handled in order and in batches, a full queue
 * drops (counted by the drop callback, never waiting), a handler asking for
 * a retry gets the same batch again, weight caps the queue and the batch,
 * and a close past its deadline drops what is left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/workq.h"

typedef struct ctx {
    pthread_mutex_t mu;
    int seen[4096];
    size_t n_seen, calls, max_batch, dropped[3];
    int fail_first; /* handler asks for a retry this many times */
    int retries;
} ctx_t;

static uint64_t handle(void *ud, void *items, size_t n)
{
    ctx_t *c = ud;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (c->fail_first > 0) {
        c->fail_first--;
        c->retries++;
        pthread_mutex_unlock(&c->mu);
        return 5; /* ms */
    }
    if (n > c->max_batch) c->max_batch = n;
    const int *v = items;
    for (size_t i = 0; i < n; i++)
        c->seen[c->n_seen++] = v[i];
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void drop(void *ud, void *items, size_t n, core_workq_why_t why)
{
    ctx_t *c = ud;
    (void)items;
    pthread_mutex_lock(&c->mu);
    c->dropped[why] += n;
    pthread_mutex_unlock(&c->mu);
}

static size_t weight(const void *item)
{
    return (size_t) * (const int *)item;
}

static core_workq_opts_t opts(ctx_t *c, size_t cap, size_t batch)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    return (core_workq_opts_t){.name = "test-workq",
                               .item_size = sizeof(int),
                               .capacity = cap,
                               .batch = batch,
                               .handle = handle,
                               .drop = drop,
                               .ud = c};
}

static void test_items_are_handled_in_order_and_in_batches(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 1000, 16);
    core_workq_t *q = core_workq_new(&o);
    core_workq_pause(q, true);
    for (int i = 0; i < 100; i++)
        assert_int_equal(core_workq_push(q, &i, 1), 0);
    assert_int_equal(core_workq_depth(q), 100);
    core_workq_pause(q, false);
    assert_true(core_workq_flush(q, 10000));
    assert_int_equal(c.n_seen, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(c.seen[i], i);
    assert_int_equal(c.max_batch, 16);
    assert_int_equal(core_workq_depth(q), 0);
    core_workq_free(q, 1000);
    assert_int_equal(c.dropped[CORE_WORKQ_FULL] + c.dropped[CORE_WORKQ_DEADLINE], 0);
}

static void test_full_queue_drops_and_counts_without_waiting(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 10, 4);
    core_workq_t *q = core_workq_new(&o);
    core_workq_pause(q, true);
    int v[15];
    for (int i = 0; i < 15; i++)
        v[i] = i;
    assert_int_equal(core_workq_push(q, v, 15), 5); /* the tail of the array */
    assert_int_equal(c.dropped[CORE_WORKQ_FULL], 5);
    core_workq_pause(q, false);
    assert_true(core_workq_flush(q, 10000));
    assert_int_equal(c.n_seen, 10);
    assert_int_equal(c.seen[9], 9);
    core_workq_free(q, 1000);
}

static void test_retry_hands_over_the_same_batch_again(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 100, 8);
    c.fail_first = 3;
    core_workq_t *q = core_workq_new(&o);
    for (int i = 0; i < 20; i++)
        core_workq_push(q, &i, 1);
    assert_true(core_workq_flush(q, 10000));
    assert_int_equal(c.retries, 3);
    assert_int_equal(c.n_seen, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(c.seen[i], i); /* nothing lost or reordered */
    core_workq_free(q, 1000);
}

static void test_weight_caps_the_queue_and_the_batch(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 100, 100);
    o.weight = weight;
    o.max_weight = 10;
    o.batch_weight = 6;
    core_workq_t *q = core_workq_new(&o);
    core_workq_pause(q, true);
    int v[] = {4, 4, 3, 1}; /* 4+4 fit, 3 passes 10, 1 does not follow it */
    assert_int_equal(core_workq_push(q, v, 4), 2);
    assert_int_equal(c.dropped[CORE_WORKQ_FULL], 2);
    int one = 2;
    assert_int_equal(core_workq_push(q, &one, 1), 0); /* 10 now */
    core_workq_pause(q, false);
    assert_true(core_workq_flush(q, 10000));
    /* batches of at most 6 weight: {4}, {4, 2} */
    assert_int_equal(c.n_seen, 3);
    assert_int_equal(c.calls, 2);
    core_workq_free(q, 1000);
}

static void test_close_past_the_deadline_drops_the_rest(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 100, 8);
    c.fail_first = 1000000; /* the handler never finishes */
    core_workq_t *q = core_workq_new(&o);
    for (int i = 0; i < 30; i++)
        core_workq_push(q, &i, 1);
    core_workq_free(q, 50);
    assert_int_equal(c.dropped[CORE_WORKQ_DEADLINE], 30);
    assert_int_equal(c.n_seen, 0);
}

/* Items that are pointers the handler frees (the trace exporter's): the
 * queue must not weigh them again after the handler ran (ASan). */
static size_t ptr_weight(const void *item)
{
    return (size_t) * *(int *const *)item;
}

static uint64_t free_all(void *ud, void *items, size_t n)
{
    ctx_t *c = ud;
    int **v = items;
    for (size_t i = 0; i < n; i++) {
        c->seen[c->n_seen++] = *v[i];
        free(v[i]);
    }
    return 0;
}

static void test_handler_may_free_weighed_items(void **st)
{
    (void)st;
    ctx_t c;
    core_workq_opts_t o = opts(&c, 64, 64);
    o.item_size = sizeof(int *);
    o.weight = ptr_weight;
    o.batch_weight = 5;
    o.handle = free_all;
    core_workq_t *q = core_workq_new(&o);
    for (int i = 0; i < 20; i++) {
        int *p = malloc(sizeof *p);
        *p = 1 + i % 3;
        core_workq_push(q, &p, 1);
    }
    assert_true(core_workq_flush(q, 10000));
    assert_int_equal(c.n_seen, 20);
    core_workq_free(q, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_are_handled_in_order_and_in_batches),
        cmocka_unit_test(test_full_queue_drops_and_counts_without_waiting),
        cmocka_unit_test(test_retry_hands_over_the_same_batch_again),
        cmocka_unit_test(test_weight_caps_the_queue_and_the_batch),
        cmocka_unit_test(test_close_past_the_deadline_drops_the_rest),
        cmocka_unit_test(test_handler_may_free_weighed_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
