/* health.h - backend health: passive outlier ejection and the results of
 * active health checks (reliability.consecutive_failures, ejection_time,
 * health_check). One process-wide table keyed by (model, backend) names, so
 * every worker skips a backend another worker saw fail, and the state
 * survives a config reload. Thread-safe: entries are created under a lock
 * and never freed; their fields are atomics.
 *
 * A backend is out when it is ejected (consecutive failures reached the
 * threshold: out for ejection_time times the number of ejections in a row,
 * capped at 8x) or when its last active check failed. The round robin
 * (upstream/attempt.c), the availability test (route_model_available) and
 * the fallback skip it. */
#ifndef TETHER_SELECT_HEALTH_H
#define TETHER_SELECT_HEALTH_H
#include "config/config.h"
#include "core/buf.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sel_health sel_health_t;

/* The entry of (model, backend); created on first use. NULL only when the
 * table is full (4096 backends), which reads as healthy. */
sel_health_t *sel_health_get(const char *model, const char *backend);
/* True when the backend may take a request at now_ms. */
bool sel_health_is_up(const sel_health_t *h, uint64_t now_ms);
/* A request to the backend ended: ok (a reply other than a retryable 5xx)
 * or a failure (connect error, reset, timeout, retryable status). */
void sel_health_observe(sel_health_t *h, bool ok, const cfg_reliability_t *rel, uint64_t now_ms);
/* An active health check ended. */
void sel_health_probe(sel_health_t *h, bool ok);
/* In-flight requests on the backend (lb_policy: least_request). */
void sel_health_inflight_add(sel_health_t *h, int d);
int sel_health_inflight(const sel_health_t *h);
/* True when at least one backend of m may take a request. */
bool sel_health_model_up(const cfg_model_t *m, uint64_t now_ms);
/* JSON array of every known backend's state, for GET /api/v1/backends. */
void sel_health_json(buf_t *out, uint64_t now_ms);
/* Tests: forget every entry's state. */
void sel_health_reset(void);
#endif
