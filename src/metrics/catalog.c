/* catalog.c - registration of tether's metric families (SPEC §12). */
#include "metrics/catalog.h"

tmet_table_t tmet;

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

void metrics_catalog_init(const char *version)
{
    tmet.requests_total = met_counter("requests_total", "Requests answered, by endpoint and status",
                                      L("endpoint", "status", "client_protocol"));
    tmet.upstream_requests_total =
        met_counter("upstream_requests_total", "Upstream attempts, by model, backend and status",
                    L("model", "backend", "status"));
    tmet.retries_total =
        met_counter("retries_total", "Retries on another backend_ref", L("model", "reason"));
    tmet.fallbacks_total = met_counter("fallbacks_total", "Fallbacks to another model", L("kind"));
    tmet.request_errors_total = met_counter(
        "request_errors_total", "Requests answered with an error, by code", L("endpoint", "code"));
    tmet.auth_failures_total = met_counter(
        "auth_failures_total",
        "Requests refused by the client key check (401) or its model/decision lists (403)",
        L("listener", "reason"));
    tmet.tokens_total =
        met_counter("tokens_total", "Tokens reported by backends", L("model", "kind"));
    tmet.cost_total = met_counter("cost_total", "Cost of served requests", L("model", "currency"));
    tmet.config_reloads_total =
        met_counter("config_reloads_total", "Config reloads by result", L("result"));
    tmet.session_decisions_total =
        met_counter("session_decisions_total", "Session policy outcomes by reason", L("reason"));
    tmet.session_locks_total = met_counter("session_locks_total", "Hard locks by kind", L("kind"));
    tmet.session_switches_total =
        met_counter("session_switches_total", "Model switches", L("from", "to"));
    tmet.session_resets_total =
        met_counter("session_resets_total", "Session resets by kind", L("kind"));
    tmet.session_handoffs_total =
        met_counter("session_handoffs_total", "Forced handoffs by result", L("result"));
    tmet.session_identity_total =
        met_counter("session_identity_total", "Session identity sources", L("source"));
    tmet.session_store_errors_total =
        met_counter("session_store_errors_total", "Session store errors", L("backend", "op"));
    tmet.session_writeback_pending =
        met_gauge("session_writeback_pending",
                  "Session records written locally during a Redis outage, waiting to be written "
                  "back",
                  NULL);
    tmet.session_writeback_total = met_counter(
        "session_writeback_total", "Session records written back to Redis after an outage", NULL);
    tmet.replay_writes_total = met_counter(
        "replay_writes_total",
        "Replay records by result: written (handed to the store), dropped (queue full), "
        "error (invalid or store failure)",
        L("result"));
    tmet.replay_queue_depth =
        met_gauge("replay_queue_depth", "Replay records waiting for the writer thread", NULL);
    tmet.trace_spans_exported_total = met_counter(
        "trace_spans_exported_total", "OpenTelemetry spans the collector accepted", NULL);
    tmet.trace_spans_dropped_total = met_counter(
        "trace_spans_dropped_total",
        "OpenTelemetry spans dropped: queue_full, export_failed (collector down or refusing), "
        "shutdown",
        L("reason"));
    tmet.request_duration_seconds =
        met_histogram("request_duration_seconds",
                      "Request duration, first byte in to last byte out", L("endpoint"), NULL, 0);
    tmet.upstream_latency_seconds = met_histogram(
        "upstream_latency_seconds", "Upstream call duration", L("model", "backend"), NULL, 0);
    tmet.upstream_ttft_seconds = met_histogram(
        "upstream_ttft_seconds", "Time to the first upstream body byte", L("model"), NULL, 0);
    tmet.routing_latency_seconds = met_histogram(
        "routing_latency_seconds", "Body complete to upstream dispatch", NULL, NULL, 0);
    tmet.inflight_requests =
        met_gauge("inflight_requests", "Requests in flight per model", L("model"));
    tmet.session_store_degraded = met_gauge(
        "session_store_degraded", "1 while the shared session store is unavailable", NULL);
    tmet.config_generation =
        met_gauge("config_generation", "Generation of the serving config", NULL);
    tmet.build_info = met_gauge("build_info", "Build information", L("version"));
    tmet.rate_limited_total =
        met_counter("rate_limited_total",
                    "Requests refused by a rate limit or a budget (reason requests|tokens|budget)",
                    L("scope", "reason"));
    tmet.budget_spend =
        met_gauge("budget_spend", "Spend in the current period as this process counted it",
                  L("budget", "subject"));
    tmet.budget_downgrades_total = met_counter(
        "budget_downgrades_total", "Requests served by a budget's downgrade_model", L("budget"));
    met_set(tmet.build_info, 1, version);
    met_set(tmet.session_store_degraded, 0);
}
