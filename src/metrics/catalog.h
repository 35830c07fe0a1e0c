/* catalog.h - the metric families tether exports (SPEC §12), registered once
 * by metrics_catalog_init and reached through the global `tmet` table so the
 * request path needs no lookups. Thread-safe after init. */
#ifndef TETHER_METRICS_CATALOG_H
#define TETHER_METRICS_CATALOG_H
#include "metrics/metrics.h"

typedef struct tmet_table {
    met_family_t *requests_total;             /* endpoint, status, client_protocol */
    met_family_t *upstream_requests_total;    /* model, backend, status */
    met_family_t *retries_total;              /* model, reason */
    met_family_t *fallbacks_total;            /* kind */
    met_family_t *request_errors_total;       /* endpoint, code */
    met_family_t *auth_failures_total;        /* listener, reason */
    met_family_t *tokens_total;               /* model, kind */
    met_family_t *cost_total;                 /* model, currency */
    met_family_t *config_reloads_total;       /* result */
    met_family_t *session_decisions_total;    /* reason */
    met_family_t *session_locks_total;        /* kind */
    met_family_t *session_switches_total;     /* from, to */
    met_family_t *session_resets_total;       /* kind */
    met_family_t *session_handoffs_total;     /* result */
    met_family_t *session_identity_total;     /* source */
    met_family_t *session_store_errors_total; /* backend, op */
    met_family_t *session_writeback_pending;  /* - */
    met_family_t *session_writeback_total;    /* - */
    met_family_t *replay_writes_total;        /* result */
    met_family_t *replay_queue_depth;         /* - */
    met_family_t *trace_spans_exported_total; /* - */
    met_family_t *trace_spans_dropped_total;  /* reason */
    met_family_t *request_duration_seconds;   /* endpoint */
    met_family_t *upstream_latency_seconds;   /* model, backend */
    met_family_t *upstream_ttft_seconds;      /* model */
    met_family_t *routing_latency_seconds;    /* - */
    met_family_t *inflight_requests;          /* model */
    met_family_t *session_store_degraded;     /* - */
    met_family_t *config_generation;          /* - */
    met_family_t *build_info;                 /* version */
    met_family_t *rate_limited_total;         /* scope, reason */
    met_family_t *budget_spend;               /* budget, subject */
    met_family_t *budget_downgrades_total;    /* budget */
} tmet_table_t;

extern tmet_table_t tmet;

/* Register every family (idempotent). */
void metrics_catalog_init(const char *version);
#endif
