/* sort.c - stable insertion sort (sort.h). */
#include "core/sort.h"
#include <stdlib.h>
#include <string.h>

void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n < 2) return;
    char *v = base, *x = malloc(size);
    if (!x) abort();
    for (size_t i = 1; i < n; i++) {
        memcpy(x, v + i * size, size);
        size_t j = i;
        while (j > 0 && cmp(v + (j - 1) * size, x) > 0)
            j--;
        if (j < i) {
            memmove(v + (j + 1) * size, v + j * size, (i - j) * size);
            memcpy(v + j * size, x, size);
        }
    }
    free(x);
}
