/* sort.h - a stable sort for short arrays (diagnostic lists): qsort's
 * contract, except that equal elements keep their order. Insertion sort:
 * quadratic, so not for long arrays. Thread-safe. */
#ifndef TETHER_CORE_SORT_H
#define TETHER_CORE_SORT_H
#include <stddef.h>
void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* Order of two text positions (line, then column): -1, 0 or 1. */
static inline int sort_cmp_pos(int line_a, int col_a, int line_b, int col_b)
{
    if (line_a != line_b) return line_a < line_b ? -1 : 1;
    return col_a < col_b ? -1 : col_a > col_b;
}
#endif
