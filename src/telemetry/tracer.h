/* tracer.h - OpenTelemetry trace export off the workers' path: a worker
 * hands a finished request's trace (span.h) to a bounded queue with one
 * short lock and never waits; an exporter thread drains it in batches and
 * POSTs them as OTLP/HTTP JSON to <endpoint>/v1/traces (plain HTTP,
 * blocking socket with connect and I/O timeouts, on its own thread). A full
 * queue or a failed export drops the spans: counted in
 * tether_trace_spans_dropped_total{reason} and logged at most once per
 * interval; a dead collector never slows or fails a request. */
#ifndef TETHER_TELEMETRY_TRACER_H
#define TETHER_TELEMETRY_TRACER_H
#include "config/config.h"
#include "telemetry/span.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct tel_config {
    bool enabled;
    const char *endpoint; /* http://host:port[/prefix] */
    const char *service_name;
    const char *headers; /* "k=v,k2=v2" (from headers_env), may be NULL */
    double sample_ratio;
    uint64_t queue_spans, batch_spans;
    uint64_t flush_ms, timeout_ms;
    uint64_t drop_log_ms; /* at most one drop log line per interval */
} tel_config_t;

typedef struct tel_tracer tel_tracer_t;

/* The settings of global.services.tracing (tracing off without them). */
void tel_config_from_cfg(const cfg_t *cfg, tel_config_t *out);
/* Split an http:// endpoint into host, port and path prefix (no trailing
 * slash); false when it is not http://host[:port][/path]. */
bool tel_endpoint_parse(const char *ep, char *host, size_t host_len, int *port, char *path,
                        size_t path_len);
/* Start the exporter thread; NULL when disabled or the endpoint is bad. */
tel_tracer_t *tel_tracer_new(const tel_config_t *c);
/* Stop: the queue is exported for up to wait_ms, then the rest dropped. */
void tel_tracer_free(tel_tracer_t *t, uint64_t wait_ms);
/* Record this request? A valid parent context decides (its sampled flag);
 * otherwise sample_ratio. */
bool tel_tracer_sample(const tel_tracer_t *t, const tel_ctx_t *parent);
/* Hand a finished trace over (ownership passes; malloc'd). Never blocks on
 * the network; a full queue drops it (counted). */
void tel_tracer_submit(tel_tracer_t *t, tel_trace_t *tr);
#endif
