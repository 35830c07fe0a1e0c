/* test_sort.c - core/sort.h: the stable sort keeps equal elements in their
 * order; positions order by line, then column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sort.h"

typedef struct item {
    int key, seq;
} item_t;

static int by_key(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static void test_sort_stable_keeps_equal_elements_in_order(void **state)
{
    (void)state;
    item_t v[] = {{3, 0}, {1, 1}, {3, 2}, {2, 3}, {1, 4}, {3, 5}};
    sort_stable(v, 6, sizeof v[0], by_key);
    const int keys[] = {1, 1, 2, 3, 3, 3}, seqs[] = {1, 4, 3, 0, 2, 5};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(v[i].key, keys[i]);
        assert_int_equal(v[i].seq, seqs[i]);
    }
    sort_stable(v, 0, sizeof v[0], by_key); /* empty: nothing to do */
}

static void test_sort_cmp_pos_orders_line_then_column(void **state)
{
    (void)state;
    assert_int_equal(sort_cmp_pos(1, 9, 2, 1), -1);
    assert_int_equal(sort_cmp_pos(2, 1, 1, 9), 1);
    assert_int_equal(sort_cmp_pos(3, 4, 3, 5), -1);
    assert_int_equal(sort_cmp_pos(3, 5, 3, 4), 1);
    assert_int_equal(sort_cmp_pos(3, 5, 3, 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_stable_keeps_equal_elements_in_order),
        cmocka_unit_test(test_sort_cmp_pos_orders_line_then_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
