/* span.h - one request's trace as tether exports it over OTLP: a fixed
 * array of spans with their attributes, and a small string pool, in one
 * allocation (the worker fills it at the end of the request and hands it to
 * the tracer's queue; the exporter thread encodes it). W3C traceparent
 * parsing and formatting, and span ids. Thread-safe (ids from a per-thread
 * generator). */
#ifndef TETHER_TELEMETRY_SPAN_H
#define TETHER_TELEMETRY_SPAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEL_MAX_SPANS 12
#define TEL_MAX_ATTRS 16
#define TEL_POOL      2048

/* OTLP SpanKind */
enum { TEL_KIND_INTERNAL = 1, TEL_KIND_SERVER = 2, TEL_KIND_CLIENT = 3 };
/* OTLP StatusCode */
enum { TEL_STATUS_UNSET = 0, TEL_STATUS_OK = 1, TEL_STATUS_ERROR = 2 };

typedef struct tel_attr {
    const char *key; /* a string literal */
    char type;       /* 's' string, 'i' int, 'd' double, 'b' bool */
    const char *s;   /* in the trace's pool */
    int64_t i;
    double d;
} tel_attr_t;

typedef struct tel_span {
    uint8_t id[8], parent[8];
    bool has_parent;
    const char *name; /* a string literal */
    int kind;
    uint64_t start_ns, end_ns; /* Unix epoch nanoseconds */
    int status;
    tel_attr_t attrs[TEL_MAX_ATTRS];
    int n_attrs;
} tel_span_t;

typedef struct tel_trace {
    uint8_t trace_id[16];
    tel_span_t spans[TEL_MAX_SPANS];
    int n_spans;
    char pool[TEL_POOL];
    size_t pool_used;
} tel_trace_t;

/* A W3C trace context (traceparent version 00). */
typedef struct tel_ctx {
    uint8_t trace_id[16], span_id[8];
    bool sampled;
    bool valid;
} tel_ctx_t;

/* Parse a traceparent value ("00-<32 hex>-<16 hex>-<2 hex>"); false on any
 * malformed or all-zero id (the caller then starts a new trace). */
bool tel_ctx_parse(const char *v, size_t len, tel_ctx_t *out);
/* Format "00-trace-span-flags" into out (56 bytes at least). */
void tel_ctx_format(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
                    char out[56]);
/* Random non-zero ids. */
void tel_new_trace_id(uint8_t id[16]);
void tel_new_span_id(uint8_t id[8]);
/* A uniform random number in [0, 1) (per-thread generator). */
double tel_rand01(void);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void tel_hex(const uint8_t *b, size_t n, char *out);

/* A new span in t (NULL when full), its id fresh, parent copied when given. */
tel_span_t *tel_span_add(tel_trace_t *t, const char *name, int kind, const uint8_t *parent,
                         uint64_t start_ns, uint64_t end_ns);
/* A copy of v in t's pool ("" when it is full); for span names. */
const char *tel_pool_str(tel_trace_t *t, const char *v);
/* Attributes; strings are copied into the pool (cut when it is full; an
 * attribute past TEL_MAX_ATTRS is left out). A NULL string is left out. */
void tel_attr_str(tel_trace_t *t, tel_span_t *s, const char *key, const char *v);
void tel_attr_int(tel_span_t *s, const char *key, int64_t v);
void tel_attr_dbl(tel_span_t *s, const char *key, double v);
void tel_attr_bool(tel_span_t *s, const char *key, bool v);
#endif
