/* wrr.c - smooth weighted round robin: add each weight to its running
 * counter, pick the largest counter, subtract the total from it. */
#include "http/wrr.h"
#include <string.h>

void wrr_init(wrr_t *w, const int *weights, size_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n > WRR_MAX ? WRR_MAX : n;
    for (size_t i = 0; i < w->n; i++)
        w->weight[i] = weights[i] < 0 ? 0 : weights[i];
}

int wrr_next(wrr_t *w, uint64_t exclude)
{
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < w->n; i++) {
        if (w->weight[i] <= 0 || (exclude >> i) & 1) continue;
        w->current[i] += w->weight[i];
        total += w->weight[i];
        if (best < 0 || w->current[i] > w->current[best]) best = (int)i;
    }
    if (best >= 0) w->current[best] -= total;
    return best;
}
