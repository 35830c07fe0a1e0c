/* test_tracing.c - OpenTelemetry traces from the real tether binary, checked
 * against an OTLP/HTTP JSON receiver inside this test (Debian ships no
 * OpenTelemetry collector): a loopback HTTP server thread that takes the
 * POSTs to /v1/traces and keeps their parsed bodies. With `tether mock` as
 * the backend (which reports the headers of its last request):
 * - a client traceparent is joined: the server span's parent is the
 *   client's span, in the client's trace; the routing span, its stages and
 *   the upstream attempt are children of the server span; the backend
 *   receives a traceparent naming the attempt span, in the same trace;
 * - without a traceparent a new trace starts, propagated the same way;
 * - the routing attributes are there (decision, model, backend, session
 *   reason and lock, status, hashed session id) and the raw session id and
 *   the client's key are not;
 * - a router whose collector is down answers every request and counts the
 *   dropped spans in tether_trace_spans_dropped_total. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include "stack.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SESSION "sess-trace-raw-id-42"
#define CKEY    "sk-client-secret-777"

/* ------------------------------------------------------------ collector */

static int col_fd = -1, col_port;
static pthread_t col_th;
static volatile int col_stop;
static pthread_mutex_t col_mu = PTHREAD_MUTEX_INITIALIZER;
static cJSON *col_spans; /* every span received, flattened */
static int col_posts, col_bad;

static void col_take(const char *head, const char *body, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    pthread_mutex_lock(&col_mu);
    col_posts++;
    if (!doc || strncmp(head, "POST /v1/traces ", 16) || !strcasestr(head, "application/json")) {
        col_bad++;
    } else {
        cJSON *rs, *ss, *sp;
        cJSON_ArrayForEach(rs, cJSON_GetObjectItem(doc, "resourceSpans"))
        {
            cJSON_ArrayForEach(ss, cJSON_GetObjectItem(rs, "scopeSpans"))
            {
                cJSON_ArrayForEach(sp, cJSON_GetObjectItem(ss, "spans"))
                {
                    cJSON_AddItemToArray(col_spans, cJSON_Duplicate(sp, 1));
                }
            }
        }
    }
    pthread_mutex_unlock(&col_mu);
    cJSON_Delete(doc);
}

static void col_serve(int c)
{
    buf_t in = BUF_INIT;
    char tmp[8192];
    size_t need = 0, hlen = 0;
    for (;;) {
        struct pollfd pf = {.fd = c, .events = POLLIN};
        if (poll(&pf, 1, 3000) <= 0) break;
        ssize_t r = recv(c, tmp, sizeof tmp, 0);
        if (r <= 0) break;
        buf_append(&in, tmp, (size_t)r);
        if (!hlen) {
            buf_putc(&in, 0);
            in.len--;
            char *e = strstr(in.data, "\r\n\r\n");
            if (!e) continue;
            hlen = (size_t)(e - in.data) + 4;
            const char *cl = strcasestr(in.data, "content-length:");
            need = hlen + (cl && cl < e ? strtoul(cl + 15, NULL, 10) : 0);
        }
        if (in.len >= need) break;
    }
    if (hlen && in.len >= need) {
        char *head = strndup(in.data, hlen);
        col_take(head, in.data + hlen, need - hlen);
        free(head);
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
        ssize_t w = send(c, ok, strlen(ok), MSG_NOSIGNAL);
        (void)w;
    }
    buf_free(&in);
    close(c);
}

static void *col_main(void *arg)
{
    (void)arg;
    while (!col_stop) {
        struct pollfd pf = {.fd = col_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        int c = accept(col_fd, NULL, NULL);
        if (c >= 0) col_serve(c);
    }
    return NULL;
}

static int col_start(void)
{
    col_spans = cJSON_CreateArray();
    col_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(col_fd, (struct sockaddr *)&a, sizeof a) || listen(col_fd, 16) ||
        getsockname(col_fd, (struct sockaddr *)&a, &al))
        return -1;
    col_port = ntohs(a.sin_port);
    return pthread_create(&col_th, NULL, col_main, NULL);
}

static cJSON *span_named(cJSON *spans, const char *name);

/* The spans of trace tid (a new array), waiting (bounded) until at least
 * min of them arrived and, when min > 0, the request's server span and its
 * upstream attempt: spans are exported in batches as they end, and the
 * server span ends after the reply reached the client, so a count alone
 * may be met by a batch without it. */
static cJSON *spans_of(const char *tid, int min)
{
    cJSON *out = NULL;
    TPOLL_UNTIL(({
                    cJSON_Delete(out);
                    out = cJSON_CreateArray();
                    cJSON *sp;
                    pthread_mutex_lock(&col_mu);
                    cJSON_ArrayForEach(sp, col_spans)
                    {
                        if (!strcmp(cJSON_GetObjectItem(sp, "traceId")->valuestring, tid))
                            cJSON_AddItemToArray(out, cJSON_Duplicate(sp, 1));
                    }
                    pthread_mutex_unlock(&col_mu);
                    cJSON_GetArraySize(out) >= min &&
                        (min == 0 || (span_named(out, "POST /v1/chat/completions") &&
                                      span_named(out, "tether.upstream.attempt")));
                }),
                TPOLL_MS);
    return out;
}

static cJSON *span_named(cJSON *spans, const char *name)
{
    cJSON *sp;
    cJSON_ArrayForEach(sp, spans)
    {
        if (!strcmp(cJSON_GetObjectItem(sp, "name")->valuestring, name)) return sp;
    }
    return NULL;
}

static const char *sattr(cJSON *sp, const char *key)
{
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(sp, "attributes"))
    {
        if (strcmp(cJSON_GetObjectItem(a, "key")->valuestring, key)) continue;
        cJSON *v = cJSON_GetObjectItem(a, "value");
        cJSON *s = cJSON_GetObjectItem(v, "stringValue");
        if (!s) s = cJSON_GetObjectItem(v, "intValue");
        return s ? s->valuestring : "";
    }
    return NULL;
}

static const char *sid(cJSON *sp, const char *f)
{
    cJSON *v = cJSON_GetObjectItem(sp, f);
    return v ? v->valuestring : "";
}

/* ------------------------------------------------------------ processes */

static tproc_t mock, router, dead;
static int mport, rport, gport, dport, dgport;
static char cfg_path[256], dcfg_path[256];

static int write_cfg(const char *path, int port, int mgmt, int col, int queue)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - name: small\n      backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: big\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: small}, {name: big}]\n"
            "  decisions:\n    - {name: everyday, modelRefs: [{model: small}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {enabled: false}\n"
            "    tracing: {enabled: true, endpoint: \"http://127.0.0.1:%d\", "
            "service_name: tether-test, flush_interval: 50ms, timeout: 500ms, "
            "queue_size: %d, batch_size: 64}\n",
            port, mport, mport, mgmt, col, queue);
    fclose(f);
    return 0;
}

static int serve(tproc_t *p, const char *cfg)
{
    return tstack_serve_n(p, cfg, 1, 10000) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    if (col_start() != 0) return -1;
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    dport = tsupport_free_port();
    dgport = tsupport_free_port();
    int nobody = tsupport_free_port(); /* nothing listens there */
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-trace-%d.yaml", (int)getpid());
    snprintf(dcfg_path, sizeof dcfg_path, "/tmp/tether-test-trace-dead-%d.yaml", (int)getpid());
    if (write_cfg(cfg_path, rport, gport, col_port, 2048) ||
        write_cfg(dcfg_path, dport, dgport, nobody, 16))
        return -1;
    if (serve(&router, cfg_path) || serve(&dead, dcfg_path)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int a = tproc_stop(&router, 10000), b = tproc_stop(&dead, 10000), c = tproc_stop(&mock, 10000);
    col_stop = 1;
    pthread_join(col_th, NULL);
    close(col_fd);
    cJSON_Delete(col_spans);
    unlink(cfg_path);
    unlink(dcfg_path);
    return WIFEXITED(a) && !WEXITSTATUS(a) && WIFEXITED(b) && !WEXITSTATUS(b) && WIFEXITED(c) &&
                   !WEXITSTATUS(c)
               ? 0
               : -1;
}

static int chat(int port, const char *extra_headers)
{
    const char *body =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
    thttp_resp_t r;
    int rc = thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", extra_headers, body,
                           strlen(body), &r);
    int st = rc == 0 ? r.status : -1;
    thttp_resp_free(&r);
    return st;
}

/* The traceparent of the mock's last request (malloc'd), NULL when absent;
 * *count how many it got. */
static char *mock_traceparent(int *count)
{
    thttp_resp_t r;
    char *val = NULL;
    *count = 0;
    if (thttp_request("127.0.0.1", mport, "GET", "/mock/stats", NULL, NULL, 0, &r) == 0) {
        cJSON *j = cJSON_Parse(r.body), *pair;
        cJSON_ArrayForEach(pair, cJSON_GetObjectItem(j, "last_headers"))
        {
            if (strcasecmp(cJSON_GetArrayItem(pair, 0)->valuestring, "traceparent")) continue;
            (*count)++;
            if (!val) val = strdup(cJSON_GetArrayItem(pair, 1)->valuestring);
        }
        cJSON_Delete(j);
    }
    thttp_resp_free(&r);
    return val;
}

static void test_client_trace_joined_and_propagated(void **state)
{
    (void)state;
    const char *tid = "4bf92f3577b34da6a3ce929d0e0e4736", *parent = "00f067aa0ba902b7";
    char h[512];
    snprintf(h, sizeof h,
             "traceparent: 00-%s-%s-01\r\nx-session-id: " SESSION "\r\n"
             "authorization: Bearer " CKEY "\r\n",
             tid, parent);
    assert_int_equal(chat(rport, h), 200);
    int n;
    char *tp = mock_traceparent(&n);
    assert_non_null(tp);
    assert_int_equal(n, 1); /* replaced, not doubled */
    char want[64];
    snprintf(want, sizeof want, "00-%s-", tid);
    assert_int_equal(strncmp(tp, want, strlen(want)), 0);
    assert_int_equal(strlen(tp), 55);
    assert_string_equal(tp + 52, "-01");
    char up_span[17];
    memcpy(up_span, tp + 36, 16);
    up_span[16] = 0;
    assert_string_not_equal(up_span, parent);

    cJSON *spans = spans_of(tid, 7);
    cJSON *srv = span_named(spans, "POST /v1/chat/completions");
    assert_non_null(srv);
    assert_int_equal(cJSON_GetObjectItem(srv, "kind")->valueint, 2);
    assert_string_equal(sid(srv, "parentSpanId"), parent);
    const char *srv_id = sid(srv, "spanId");
    assert_string_equal(sattr(srv, "http.response.status_code"), "200");
    assert_string_equal(sattr(srv, "tether.decision"), "everyday");
    assert_string_equal(sattr(srv, "tether.model"), "small");
    assert_string_equal(sattr(srv, "tether.backend"), "s1");
    assert_non_null(sattr(srv, "tether.session.reason"));
    assert_string_equal(sattr(srv, "tether.session.lock"), "none");
    const char *hash = sattr(srv, "tether.session.id_hash");
    assert_non_null(hash);
    assert_int_equal(strlen(hash), 16);
    assert_non_null(sattr(srv, "gen_ai.usage.input_tokens"));
    /* times are decimal strings, the end not before the start */
    assert_true(strtoull(sid(srv, "endTimeUnixNano"), NULL, 10) >=
                strtoull(sid(srv, "startTimeUnixNano"), NULL, 10));

    cJSON *route = span_named(spans, "tether.route");
    assert_non_null(route);
    assert_string_equal(sid(route, "parentSpanId"), srv_id);
    const char *stages[] = {"tether.session.lookup", "tether.signals", "tether.decision",
                            "tether.session.policy"};
    for (int i = 0; i < 4; i++) {
        cJSON *s = span_named(spans, stages[i]);
        assert_non_null(s);
        assert_string_equal(sid(s, "parentSpanId"), sid(route, "spanId"));
    }
    assert_non_null(sattr(span_named(spans, "tether.session.policy"), "tether.session.verdict"));
    cJSON *att = span_named(spans, "tether.upstream.attempt");
    assert_non_null(att);
    assert_int_equal(cJSON_GetObjectItem(att, "kind")->valueint, 3);
    assert_string_equal(sid(att, "parentSpanId"), srv_id);
    assert_string_equal(sid(att, "spanId"), up_span); /* the backend's parent is the attempt */
    assert_string_equal(sattr(att, "http.response.status_code"), "200");

    /* neither the raw session id nor the client's key is exported */
    char *txt = cJSON_PrintUnformatted(spans);
    assert_null(strstr(txt, SESSION));
    assert_null(strstr(txt, CKEY));
    free(txt);
    cJSON_Delete(spans);
    free(tp);
    pthread_mutex_lock(&col_mu);
    assert_int_equal(col_bad, 0);
    pthread_mutex_unlock(&col_mu);
}

static void test_new_trace_without_traceparent(void **state)
{
    (void)state;
    assert_int_equal(chat(rport, NULL), 200);
    int n;
    char *tp = mock_traceparent(&n);
    assert_non_null(tp);
    assert_int_equal(n, 1);
    char tid[33];
    memcpy(tid, tp + 3, 32);
    tid[32] = 0;
    cJSON *spans = spans_of(tid, 3);
    cJSON *srv = span_named(spans, "POST /v1/chat/completions");
    assert_non_null(srv);
    assert_null(cJSON_GetObjectItem(srv, "parentSpanId")); /* a root span */
    cJSON *att = span_named(spans, "tether.upstream.attempt");
    assert_non_null(att);
    assert_int_equal(strncmp(tp + 36, sid(att, "spanId"), 16), 0);
    cJSON_Delete(spans);
    free(tp);
}

static void test_unsampled_client_is_not_exported(void **state)
{
    (void)state;
    const char *tid = "11111111111111111111111111111111";
    char h[256];
    snprintf(h, sizeof h, "traceparent: 00-%s-2222222222222222-00\r\n", tid);
    assert_int_equal(chat(rport, h), 200);
    /* the next, sampled request's spans arriving means the exporter ran */
    assert_int_equal(chat(rport, "traceparent: 00-33333333333333333333333333333333-"
                                 "4444444444444444-01\r\n"),
                     200);
    cJSON *later = spans_of("33333333333333333333333333333333", 3);
    assert_true(cJSON_GetArraySize(later) >= 3);
    cJSON_Delete(later);
    cJSON *none = spans_of(tid, 0);
    assert_int_equal(cJSON_GetArraySize(none), 0);
    cJSON_Delete(none);
}

static double dropped_spans(int mgmt)
{
    thttp_resp_t r;
    double total = 0;
    if (thttp_request("127.0.0.1", mgmt, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && r.body) {
        for (char *l = r.body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (!strncmp(l, "tether_trace_spans_dropped_total{", 33)) {
                char *sp = strchr(l, ' ');
                if (sp) total += strtod(sp + 1, NULL);
            }
    }
    thttp_resp_free(&r);
    return total;
}

static void test_dead_collector_costs_no_request(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++)
        assert_int_equal(chat(dport, "x-session-id: dead-collector\r\n"), 200);
    double d = 0;
    for (int i = 0; i < 100 && d <= 0; i++) {
        d = dropped_spans(dgport);
        if (d <= 0) usleep(100000);
    }
    assert_true(d > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_trace_joined_and_propagated),
        cmocka_unit_test(test_new_trace_without_traceparent),
        cmocka_unit_test(test_unsampled_client_is_not_exported),
        cmocka_unit_test(test_dead_collector_costs_no_request),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
