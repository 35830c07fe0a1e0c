/* test_buf.c - the core buffer and arena: appends, printf growth across the
 * initial capacity, JSON strings, JSON numbers, steal; arena alignment, big
 * allocations and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include <stdlib.h>
#include <string.h>

static void test_printf_grows_past_capacity(void **state)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "42-x");
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
    assert_int_equal(b.data[b.len], 0);
    assert_int_equal(b.data[4], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    buf_free(&b);
}

static void test_json_str_escapes(void **state)
{
    buf_t b = BUF_INIT;
    buf_json_str(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_free(&b);
}

static void num(double v, const char *want)
{
    buf_t b = BUF_INIT;
    buf_num(&b, v);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_json_cstr_writes_null_for_null(void **state)
{
    buf_t b = BUF_INIT;
    buf_json_cstr(&b, "a\"b");
    buf_putc(&b, ',');
    buf_json_cstr(&b, NULL);
    assert_string_equal(b.data, "\"a\\\"b\",null");
    buf_free(&b);
}

static void test_json_numbers(void **state)
{
    num(0, "0");
    num(5, "5");
    num(-3, "-3");
    num(0.5, "0.5");
    num(0.1234564, "0.123456");
    num(0.1234566, "0.123457");
    num(1.25, "1.25");
    num(-2.5, "-2.5");
    num(1e-9, "1.0000000000000001e-09");
    num(123456789012.5, "123456789012.5");
    num(1e13, "10000000000000");
    num(0.0 / 0.0, "null");
}

static void test_steal_hands_over(void **state)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello");
    char *s = buf_steal(&b);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_arena_alignment_big_and_reset(void **state)
{
    arena_t a;
    arena_init(&a, 256);
    for (int i = 1; i < 50; i++) {
        void *p = arena_alloc(&a, (size_t)i);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
    }
    char *big = arena_alloc(&a, 10000); /* its own chunk */
    memset(big, 1, 10000);
    char *s = arena_sprintf(&a, "%s-%d", "k", 7);
    assert_string_equal(s, "k-7");
    arena_reset(&a);
    void *p = arena_calloc(&a, 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(((unsigned char *)p)[i], 0);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printf_grows_past_capacity),
        cmocka_unit_test(test_json_str_escapes),
        cmocka_unit_test(test_json_cstr_writes_null_for_null),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_steal_hands_over),
        cmocka_unit_test(test_arena_alignment_big_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
