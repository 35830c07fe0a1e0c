/* fuzz_trace.c - libFuzzer harness for the trace inputs (build and run with
 * scripts/fuzz.sh): the W3C traceparent a client sends (tel_ctx_parse, read
 * by upstream/otel.c from the request head; tether reads no tracestate and
 * no OTLP input) and the OTLP/HTTP JSON export of a trace whose attribute
 * strings come from outside (model names, paths, error texts:
 * tel_attr_str, tel_pool_str, tel_otlp_encode).
 *
 * The first line of the input is the traceparent value; every further line
 * is an attribute string (the pool cuts them when full). Besides "no crash,
 * no sanitizer report": a parsed context formats back to a value that
 * parses to the same ids; a value that parses is exactly 55 bytes after
 * trimming for version 00 and never has an all-zero id; the export is JSON
 * that cJSON parses, carries the parent's trace id, and every attribute
 * string reads back as a prefix of the one given. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/otlp_json.h"
#include "telemetry/span.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_trace: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    char *d = malloc(size + 1);
    if (!d) return 0;
    memcpy(d, data, size);
    d[size] = 0;
    const char *nl = memchr(d, '\n', size);
    size_t tplen = nl ? (size_t)(nl - d) : size;

    /* the header value as the parser sees it: not NUL-terminated */
    char *tp = malloc(tplen ? tplen : 1);
    memcpy(tp, d, tplen);
    tel_ctx_t ctx;
    bool ok = tel_ctx_parse(tp, tplen, &ctx);
    CHECK(ok == ctx.valid);
    if (ok) {
        CHECK(!all_zero(ctx.trace_id, 16) && !all_zero(ctx.span_id, 8));
        char again[56];
        tel_ctx_format(ctx.trace_id, ctx.span_id, ctx.sampled, again);
        CHECK(strlen(again) == 55);
        tel_ctx_t back;
        CHECK(tel_ctx_parse(again, 55, &back));
        CHECK(!memcmp(back.trace_id, ctx.trace_id, 16) && !memcmp(back.span_id, ctx.span_id, 8));
        CHECK(back.sampled == ctx.sampled);
    }
    free(tp);

    /* a trace as the proxy builds one, joined to the parsed parent */
    tel_trace_t *t = calloc(1, sizeof *t);
    if (ok)
        memcpy(t->trace_id, ctx.trace_id, 16);
    else
        tel_new_trace_id(t->trace_id);
    tel_span_t *srv = tel_span_add(t, "POST /v1/chat/completions", TEL_KIND_SERVER,
                                   ok ? ctx.span_id : NULL, 1, 2);
    CHECK(srv != NULL);
    size_t i = nl ? tplen + 1 : size, n = 0;
    tel_span_t *cur = srv;
    while (i < size) {
        const char *eol = memchr(d + i, '\n', size - i);
        size_t l = eol ? (size_t)(eol - (d + i)) : size - i;
        d[i + l] = 0;
        const char *v = d + i;
        switch (n % 5) {
        case 0: tel_attr_str(t, cur, "gen_ai.request.model", v); break;
        case 1: tel_attr_str(t, cur, "url.path", v); break;
        case 2: tel_attr_int(cur, "http.response.status_code", (int64_t)l * 7919 - 40000); break;
        case 3:
            tel_attr_dbl(cur, "tether.score", l ? (double)(unsigned char)v[0] / (l - 0.5) : 0);
            break;
        default: {
            tel_span_t *s = tel_span_add(t, tel_pool_str(t, v), TEL_KIND_CLIENT, srv->id, 2, 3);
            if (s) cur = s;
            tel_attr_bool(cur, "tether.retry", l & 1);
        }
        }
        n++;
        i += l + 1;
    }
    CHECK(t->pool_used <= TEL_POOL);
    buf_t out = BUF_INIT;
    tel_trace_t *const list[1] = {t};
    tel_otlp_encode(&out, "tether", "fuzz", list, 1);
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    CHECK(j != NULL);
    const cJSON *spans = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "resourceSpans"), 0),
                                "scopeSpans"),
            0),
        "spans");
    CHECK(cJSON_GetArraySize(spans) == t->n_spans);
    char hex[33];
    tel_hex(t->trace_id, 16, hex);
    const cJSON *s0 = cJSON_GetArrayItem(spans, 0);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "traceId")), hex));
    /* attribute strings come back as given (or cut) */
    for (int k = 0; k < t->n_spans; k++) {
        const cJSON *attrs = cJSON_GetObjectItem(cJSON_GetArrayItem(spans, k), "attributes");
        for (int a = 0; a < t->spans[k].n_attrs; a++) {
            const tel_attr_t *at = &t->spans[k].attrs[a];
            if (at->type != 's') continue;
            const cJSON *v = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetArrayItem(attrs, a), "value"), "stringValue");
            CHECK(cJSON_IsString(v));
            CHECK(!strcmp(v->valuestring, at->s));
        }
    }
    cJSON_Delete(j);
    buf_free(&out);
    free(t);
    free(d);
    return 0;
}
