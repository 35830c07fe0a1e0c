/* wrr.h - smooth weighted round robin (the nginx-style algorithm): over a
 * window of sum(weights) picks, each item is chosen weight times, spread
 * evenly. Weight 0 drains an item. Not thread-safe: one per worker. */
#ifndef TETHER_HTTP_WRR_H
#define TETHER_HTTP_WRR_H
#include <stddef.h>
#include <stdint.h>

#define WRR_MAX 64

typedef struct wrr {
    size_t n;
    int weight[WRR_MAX];
    int64_t current[WRR_MAX];
} wrr_t;

void wrr_init(wrr_t *w, const int *weights, size_t n);
/* Next item not set in the exclude bitmask (bit i = item i), or -1 when no
 * item with weight > 0 remains. */
int wrr_next(wrr_t *w, uint64_t exclude);
#endif
