/* live_latency.c - latency summaries of the live benchmarks (live_run.h):
 * mean, p50, p95, p99 and max of a sample in microseconds. */
#include "bench/live_run.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double rank(const double *v, long n, double p)
{
    long k = (long)ceil(p * (double)n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

void live_lat_summarize(double *us, long n, live_lat_t *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n <= 0) return;
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += us[i];
    out->mean = sum / (double)n;
    out->p50 = rank(us, n, 0.50);
    out->p95 = rank(us, n, 0.95);
    out->p99 = rank(us, n, 0.99);
    out->max = us[n - 1];
}
