/* otlp_json.h - the OTLP/HTTP JSON encoding of a batch of traces: one
 * ExportTraceServiceRequest (resourceSpans[1] with service.name, one
 * scopeSpans named "tether", its spans with hex traceId/spanId/parentSpanId,
 * integer kind, startTimeUnixNano/endTimeUnixNano as decimal strings,
 * attributes as {key, value:{stringValue|intValue|doubleValue|boolValue}}
 * (intValue as a decimal string, per the protobuf JSON mapping of int64),
 * and status {code}). Pure; thread-safe. */
#ifndef TETHER_TELEMETRY_OTLP_JSON_H
#define TETHER_TELEMETRY_OTLP_JSON_H
#include "core/buf.h"
#include "telemetry/span.h"

/* Append the request for traces[0..n) to out. */
void tel_otlp_encode(buf_t *out, const char *service_name, const char *version,
                     tel_trace_t *const *traces, size_t n);
#endif
