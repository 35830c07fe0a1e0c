/* dlist.h - the intrusive doubly linked list with a head and a tail that
 * tether's recency (LRU) and idle lists use. Macros over the caller's own
 * field names, so one node can sit on a hash chain and a list at once
 * without a wrapper type: `head`/`tail` are the owner's lvalues, `n` the
 * node, `prev`/`next` the node's link fields. `n` is evaluated several
 * times: pass a plain variable. Not thread-safe: the owner's lock guards
 * the list. */
#ifndef TETHER_CORE_DLIST_H
#define TETHER_CORE_DLIST_H
#include <stddef.h>

/* Take n off the list; its links are NULL afterwards. */
#define DLIST_UNLINK(head, tail, n, prev, next)                                                    \
    do {                                                                                           \
        if ((n)->prev)                                                                             \
            (n)->prev->next = (n)->next;                                                           \
        else                                                                                       \
            (head) = (n)->next;                                                                    \
        if ((n)->next)                                                                             \
            (n)->next->prev = (n)->prev;                                                           \
        else                                                                                       \
            (tail) = (n)->prev;                                                                    \
        (n)->prev = (n)->next = NULL;                                                              \
    } while (0)

/* Put n (not on the list) first. */
#define DLIST_PUSH_FRONT(head, tail, n, prev, next)                                                \
    do {                                                                                           \
        (n)->prev = NULL;                                                                          \
        (n)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (n);                                                                    \
        else                                                                                       \
            (tail) = (n);                                                                          \
        (head) = (n);                                                                              \
    } while (0)

/* Put n (not on the list) last: the mirror image of DLIST_PUSH_FRONT. */
#define DLIST_PUSH_BACK(head, tail, n, prev, next) DLIST_PUSH_FRONT(tail, head, n, next, prev)
#endif
