/* otlp_json.c - encode traces as an OTLP/HTTP JSON ExportTraceServiceRequest
 * (otlp_json.h). */
#include "telemetry/otlp_json.h"
#include <inttypes.h>
#include <math.h>
#include <string.h>

static void attr_json(buf_t *b, const tel_attr_t *a)
{
    buf_puts(b, "{\"key\":");
    buf_json_cstr(b, a->key);
    buf_puts(b, ",\"value\":{");
    switch (a->type) {
    case 's':
        buf_puts(b, "\"stringValue\":");
        buf_json_cstr(b, a->s ? a->s : "");
        break;
    case 'i': buf_printf(b, "\"intValue\":\"%" PRId64 "\"", a->i); break;
    case 'b': buf_puts(b, a->i ? "\"boolValue\":true" : "\"boolValue\":false"); break;
    default:
        if (isfinite(a->d))
            buf_printf(b, "\"doubleValue\":%.17g", a->d);
        else
            buf_puts(b, "\"doubleValue\":0");
        break;
    }
    buf_puts(b, "}}");
}

static void span_json(buf_t *b, const tel_trace_t *t, const tel_span_t *s)
{
    char h[33];
    tel_hex(t->trace_id, 16, h);
    buf_printf(b, "{\"traceId\":\"%s\"", h);
    tel_hex(s->id, 8, h);
    buf_printf(b, ",\"spanId\":\"%s\"", h);
    if (s->has_parent) {
        tel_hex(s->parent, 8, h);
        buf_printf(b, ",\"parentSpanId\":\"%s\"", h);
    }
    buf_puts(b, ",\"name\":");
    buf_json_cstr(b, s->name ? s->name : "");
    buf_printf(b,
               ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64
               "\",\"attributes\":[",
               s->kind, s->start_ns, s->end_ns);
    for (int i = 0; i < s->n_attrs; i++) {
        if (i) buf_putc(b, ',');
        attr_json(b, &s->attrs[i]);
    }
    buf_printf(b, "],\"status\":{\"code\":%d}}", s->status);
}

void tel_otlp_encode(buf_t *out, const char *service_name, const char *version,
                     tel_trace_t *const *traces, size_t n)
{
    buf_puts(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                  "\"value\":{\"stringValue\":");
    buf_json_cstr(out, service_name ? service_name : "tether");
    buf_puts(out, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"tether\"");
    if (version) {
        buf_puts(out, ",\"version\":");
        buf_json_cstr(out, version);
    }
    buf_puts(out, "},\"spans\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < traces[i]->n_spans; j++) {
            if (!first) buf_putc(out, ',');
            first = false;
            span_json(out, traces[i], &traces[i]->spans[j]);
        }
    buf_puts(out, "]}]}]}");
}
