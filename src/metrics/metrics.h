/* metrics.h - the process-wide metrics registry and its Prometheus text
 * exposition (SPEC §12). Families are created once (at startup, by name;
 * creating an existing name returns it); series are created on first use
 * from their label values. Label values come only from config names and
 * fixed enums, never from session ids.
 *
 * Thread-safe: updates are lock-free on existing series (atomic adds);
 * creating a series takes the family's mutex once. */
#ifndef TETHER_METRICS_METRICS_H
#define TETHER_METRICS_METRICS_H
#include "core/buf.h"
#include <stddef.h>

#define MET_MAX_LABELS 4

typedef enum { MET_COUNTER = 0, MET_GAUGE, MET_HISTOGRAM } met_kind_t;
typedef struct met_family met_family_t;

/* labels: NULL-terminated label names (at most MET_MAX_LABELS). name gets
 * the "tether_" prefix when it lacks one. */
met_family_t *met_counter(const char *name, const char *help, const char *const *labels);
met_family_t *met_gauge(const char *name, const char *help, const char *const *labels);
/* buckets NULL: the SPEC §12 default buckets (seconds). */
met_family_t *met_histogram(const char *name, const char *help, const char *const *labels,
                            const double *buckets, size_t n_buckets);

/* Label values in the family's label order; pass exactly as many as it has. */
void met_inc(met_family_t *f, double v, ...);
void met_set(met_family_t *f, double v, ...);
void met_observe(met_family_t *f, double v, ...);
/* Current value of a counter or gauge series (0 when absent); tests. */
double met_value(met_family_t *f, ...);

/* Append every family in the Prometheus text format 0.0.4. */
void met_expose(buf_t *out);
/* Drop every family (tests and shutdown). */
void met_reset_all(void);
#endif
