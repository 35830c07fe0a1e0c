/* test_evmem.c - the block cache under libevent: blocks of every class and
 * large ones keep their bytes through realloc, a freed block is reused by
 * the next allocation of its class on the same thread, the cache per class
 * is bounded, and a thread's cached blocks are released when it exits
 * (LeakSanitizer checks the SAN=1 build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/evmem.h"
#include <pthread.h>
#include <string.h>

static void test_realloc_keeps_bytes_across_classes(void **st)
{
    unsigned char *p = evmem_malloc(10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    memset(p, 7, 10);
    for (size_t n = 11; n <= 300000; n = n * 3 + 1) {
        p = evmem_realloc(p, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (size_t i = 0; i < 10; i++)
            assert_int_equal(p[i], 7);
        memset(p + 10, 9, n - 10);
    }
    p = evmem_realloc(p, 5); /* shrink: the first bytes stay */
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(p[i], 7);
    assert_null(evmem_realloc(p, 0)); /* frees */
    evmem_free(NULL);
}

static void test_a_freed_block_is_reused_by_its_class(void **st)
{
    void *a = evmem_malloc(1000);
    evmem_free(a);
    void *b = evmem_malloc(900); /* same class (1 KiB) */
    assert_ptr_equal(a, b);
    evmem_free(b);
    void *big = evmem_malloc(1 << 20); /* above the classes: plain malloc */
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    evmem_free(big);
}

static void test_the_cache_per_class_is_bounded(void **st)
{
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = evmem_malloc(64 * 1024);
    for (int i = 0; i < N; i++)
        evmem_free(p[i]); /* at most 4 of 64 KiB stay cached; the rest go back */
    int reused = 0;
    for (int i = 0; i < N; i++) {
        void *q = evmem_malloc(64 * 1024);
        for (int j = 0; j < N; j++)
            if (q == p[j]) reused++;
        p[i] = q;
    }
    assert_true(reused >= 1);
    for (int i = 0; i < N; i++)
        evmem_free(p[i]);
}

static void *churn(void *arg)
{
    for (int round = 0; round < 3; round++) {
        void *p[40];
        for (int i = 0; i < 40; i++)
            p[i] = evmem_malloc((size_t)(32 << (i % 12)));
        for (int i = 0; i < 40; i++)
            evmem_free(p[i]);
    }
    return arg;
}

static void test_a_thread_returns_its_cache_when_it_exits(void **st)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realloc_keeps_bytes_across_classes),
        cmocka_unit_test(test_a_freed_block_is_reused_by_its_class),
        cmocka_unit_test(test_the_cache_per_class_is_bounded),
        cmocka_unit_test(test_a_thread_returns_its_cache_when_it_exits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
