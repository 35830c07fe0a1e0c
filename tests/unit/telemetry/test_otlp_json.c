/* test_otlp_json.c - the OTLP/HTTP JSON encoder (telemetry/otlp_json.c) and
 * the W3C traceparent helpers (telemetry/span.c): the document has the
 * ExportTraceServiceRequest shape (resourceSpans / scopeSpans / spans),
 * hex ids, times as decimal strings, typed attribute values, the parent
 * link, status codes, escaped strings; traceparent parsing rejects what the
 * W3C format rejects; the string pool cuts instead of overflowing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "telemetry/otlp_json.h"
#include "telemetry/tracer.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *first_span(cJSON *doc, cJSON **rs_out)
{
    cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "resourceSpans"), 0);
    if (rs_out) *rs_out = rs;
    cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    return cJSON_GetObjectItem(ss, "spans");
}

static cJSON *attr(cJSON *span, const char *key)
{
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(span, "attributes"))
    {
        if (!strcmp(cJSON_GetObjectItem(a, "key")->valuestring, key))
            return cJSON_GetObjectItem(a, "value");
    }
    return NULL;
}

static void test_encode_shape(void **st)
{
    (void)st;
    tel_trace_t *t = calloc(1, sizeof *t);
    for (int i = 0; i < 16; i++)
        t->trace_id[i] = (uint8_t)(0xa0 + i);
    tel_span_t *root = tel_span_add(t, "POST /v1/chat/completions", TEL_KIND_SERVER, NULL,
                                    1700000000000000000ull, 1700000000250000000ull);
    assert_non_null(root);
    tel_attr_str(t, root, "tether.decision", "code \"quoted\"\n");
    tel_attr_int(root, "gen_ai.usage.input_tokens", 1234567890123ll);
    tel_attr_dbl(root, "tether.cost", 0.25);
    tel_attr_bool(root, "tether.session.switched", true);
    root->status = TEL_STATUS_ERROR;
    uint8_t rid[8];
    memcpy(rid, root->id, 8);
    tel_span_t *child = tel_span_add(t, "tether.upstream.attempt", TEL_KIND_CLIENT, rid,
                                     1700000000010000000ull, 1700000000200000000ull);
    assert_non_null(child);
    buf_t b = BUF_INIT;
    tel_trace_t *arr[1] = {t};
    tel_otlp_encode(&b, "svc-a", NULL, arr, 1);
    cJSON *doc = cJSON_Parse(b.data);
    assert_non_null(doc);
    cJSON *rs;
    cJSON *spans = first_span(doc, &rs);
    assert_int_equal(cJSON_GetArraySize(spans), 2);
    cJSON *ra = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rs, "resource"), "attributes"), 0);
    assert_string_equal(cJSON_GetObjectItem(ra, "key")->valuestring, "service.name");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ra, "value"), "stringValue")->valuestring, "svc-a");
    cJSON *s0 = cJSON_GetArrayItem(spans, 0), *s1 = cJSON_GetArrayItem(spans, 1);
    assert_string_equal(cJSON_GetObjectItem(s0, "traceId")->valuestring,
                        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    assert_int_equal(strlen(cJSON_GetObjectItem(s0, "spanId")->valuestring), 16);
    assert_null(cJSON_GetObjectItem(s0, "parentSpanId"));
    assert_string_equal(cJSON_GetObjectItem(s1, "parentSpanId")->valuestring,
                        cJSON_GetObjectItem(s0, "spanId")->valuestring);
    assert_int_equal(cJSON_GetObjectItem(s0, "kind")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(s1, "kind")->valueint, 3);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(s0, "startTimeUnixNano")));
    assert_string_equal(cJSON_GetObjectItem(s0, "startTimeUnixNano")->valuestring,
                        "1700000000000000000");
    assert_string_equal(cJSON_GetObjectItem(s0, "endTimeUnixNano")->valuestring,
                        "1700000000250000000");
    assert_string_equal(cJSON_GetObjectItem(s0, "name")->valuestring, "POST /v1/chat/completions");
    assert_string_equal(
        cJSON_GetObjectItem(attr(s0, "tether.decision"), "stringValue")->valuestring,
        "code \"quoted\"\n");
    /* int64 as a decimal string (protobuf JSON mapping) */
    assert_string_equal(
        cJSON_GetObjectItem(attr(s0, "gen_ai.usage.input_tokens"), "intValue")->valuestring,
        "1234567890123");
    assert_true(cJSON_GetObjectItem(attr(s0, "tether.cost"), "doubleValue")->valuedouble == 0.25);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(attr(s0, "tether.session.switched"), "boolValue")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "status"), "code")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s1, "status"), "code")->valueint, 0);
    cJSON_Delete(doc);
    buf_free(&b);
    free(t);
}

static void test_traceparent(void **st)
{
    (void)st;
    tel_ctx_t c;
    const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_true(tel_ctx_parse(ok, strlen(ok), &c));
    assert_true(c.valid && c.sampled);
    char out[56];
    tel_ctx_format(c.trace_id, c.span_id, c.sampled, out);
    assert_string_equal(out, ok);
    const char *unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_true(tel_ctx_parse(unsampled, strlen(unsampled), &c));
    assert_false(c.sampled);
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",      /* short */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero span */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   /* not hex */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with more */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(tel_ctx_parse(bad[i], strlen(bad[i]), &c));
    /* a later version may append fields */
    const char *v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
    assert_true(tel_ctx_parse(v1, strlen(v1), &c));
}

static void test_pool_and_limits(void **st)
{
    (void)st;
    tel_trace_t *t = calloc(1, sizeof *t);
    tel_new_trace_id(t->trace_id);
    tel_span_t *s = tel_span_add(t, "x", TEL_KIND_INTERNAL, NULL, 10, 5);
    assert_true(s->end_ns >= s->start_ns); /* an end before the start is clamped */
    char big[4000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tel_attr_str(t, s, "k1", big);
    tel_attr_str(t, s, "k2", "more");
    assert_true(t->pool_used <= TEL_POOL);
    for (int i = 0; i < TEL_MAX_ATTRS + 5; i++)
        tel_attr_int(s, "n", i);
    assert_int_equal(s->n_attrs, TEL_MAX_ATTRS);
    for (int i = 1; i < TEL_MAX_SPANS + 3; i++)
        tel_span_add(t, "y", TEL_KIND_INTERNAL, s->id, 1, 2);
    assert_int_equal(t->n_spans, TEL_MAX_SPANS);
    buf_t b = BUF_INIT;
    tel_trace_t *arr[2] = {t, t};
    tel_otlp_encode(&b, "svc", "1.0", arr, 2);
    cJSON *doc = cJSON_Parse(b.data);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(first_span(doc, NULL)), 2 * TEL_MAX_SPANS);
    cJSON_Delete(doc);
    buf_free(&b);
    free(t);
}

static void test_endpoint_parse(void **st)
{
    (void)st;
    char host[64], path[64];
    int port;
    assert_true(
        tel_endpoint_parse("http://127.0.0.1:4318", host, sizeof host, &port, path, sizeof path));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 4318);
    assert_string_equal(path, "");
    assert_true(
        tel_endpoint_parse("http://collector/otlp/", host, sizeof host, &port, path, sizeof path));
    assert_int_equal(port, 80);
    assert_string_equal(path, "/otlp");
    assert_false(tel_endpoint_parse("https://c:4318", host, sizeof host, &port, path, sizeof path));
    assert_false(tel_endpoint_parse("http://:4318", host, sizeof host, &port, path, sizeof path));
    assert_false(tel_endpoint_parse("http://c:99999", host, sizeof host, &port, path, sizeof path));
    assert_false(tel_endpoint_parse("http://c:1/a b", host, sizeof host, &port, path, sizeof path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_shape),
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_pool_and_limits),
        cmocka_unit_test(test_endpoint_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
