/* test_dlist.c - core/dlist.h: push front and back, unlink from the head,
 * the middle and the tail keep head, tail and both directions consistent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/dlist.h"

typedef struct node {
    int id;
    struct node *up, *down; /* the list's links, named as a caller would */
} node_t;

typedef struct list {
    node_t *first, *last;
} list_t;

/* Ids front to back, checked against the walk back to front. */
static int ids(const list_t *l, int *out)
{
    int n = 0;
    for (const node_t *x = l->first; x; x = x->down)
        out[n++] = x->id;
    int k = n;
    for (const node_t *x = l->last; x; x = x->up)
        assert_int_equal(x->id, out[--k]);
    assert_int_equal(k, 0);
    return n;
}

static void test_dlist_push_and_unlink_keep_both_directions(void **state)
{
    (void)state;
    list_t l = {0};
    node_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, d = {.id = 4};
    int v[8];
    DLIST_PUSH_FRONT(l.first, l.last, (&b), up, down);
    DLIST_PUSH_FRONT(l.first, l.last, (&a), up, down);
    DLIST_PUSH_BACK(l.first, l.last, (&c), up, down);
    DLIST_PUSH_BACK(l.first, l.last, (&d), up, down);
    assert_int_equal(ids(&l, v), 4);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[3], 4);
    node_t *x = &b; /* the middle */
    DLIST_UNLINK(l.first, l.last, x, up, down);
    assert_null(b.up);
    assert_null(b.down);
    x = &a; /* the head */
    DLIST_UNLINK(l.first, l.last, x, up, down);
    x = &d; /* the tail */
    DLIST_UNLINK(l.first, l.last, x, up, down);
    assert_int_equal(ids(&l, v), 1);
    assert_int_equal(v[0], 3);
    x = &c;
    DLIST_UNLINK(l.first, l.last, x, up, down);
    assert_null(l.first);
    assert_null(l.last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlist_push_and_unlink_keep_both_directions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
