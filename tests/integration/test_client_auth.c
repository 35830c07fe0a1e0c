/* test_client_auth.c - the real tether binary with listener api_keys and
 * `tether mock` backends: a keyed listener refuses a missing or wrong key
 * with 401 in the endpoint's shape (OpenAI for chat, responses and models,
 * Anthropic for messages), counts it and logs it without the key; the right
 * key passes as a Bearer token or as x-api-key; the key never reaches a
 * backend. On the forwarding side (what the mock reports in last_headers):
 * hop-by-hop, connection-listed and credential headers in any letter case
 * are dropped, a chunked client body arrives with one content-length, and
 * credentials reach only a backend with forward_client_credentials and no
 * key of its own.
 * TETHER_MOCK_BIN runs the mock from another build (to run this test
 * against an older router). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY         "sk-tether-alice-0123456789"
#define BACKEND_KEY "sk-backend-own-key-42"

static tproc_t mock, router;
static int mport, kport, oport, gport; /* mock, keyed listener, open listener, mgmt */
static char cfg_path[256], log_path[256];

static const char *CHAT =
    "{\"model\":\"plain\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static int setup(void **state)
{
    const char *mbin = getenv("TETHER_MOCK_BIN") ? getenv("TETHER_MOCK_BIN") : tproc_tether_bin();
    const char *mv[] = {mbin, "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&mock, mv, TPROC_QUIET) != 0) return -1;
    mport = tproc_wait_listening(&mock, 10000);
    if (mport <= 0) return -1;
    kport = tsupport_free_port();
    oport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-auth-%d.yaml", (int)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/tether-test-auth-%d.log", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    api_keys:\n"
            "      - {name: alice, key_env: TCA_KEY_ALICE, tenant: research, user: alice, "
            "groups: [ml]}\n"
            "      - {name: ghost, key_env: TCA_KEY_UNSET}\n"
            "  - {name: open, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: plain}\n  models:\n"
            "    - name: plain\n      backend_refs: [{name: p1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: fwd\n      backend_refs: [{name: f1, endpoint: \"127.0.0.1:%d\", "
            "forward_client_credentials: true}]\n"
            "    - name: keyed\n      backend_refs: [{name: k1, endpoint: \"127.0.0.1:%d\", "
            "api_key_env: TCA_BACKEND_KEY, forward_client_credentials: true}]\n"
            "    - name: claude\n      api_format: anthropic\n"
            "      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: plain}, {name: fwd}, {name: keyed}, {name: claude}]\n"
            "  signals:\n    role_bindings:\n"
            "      - {name: ml-team, role: ml, subjects: [{kind: Group, name: ml}], "
            "fail_open: true}\n"
            "  decisions:\n"
            "    - {name: ml, priority: 100, rules: {type: authz, name: ml}, "
            "modelRefs: [{model: fwd}]}\n"
            "    - {name: everyone, modelRefs: [{model: plain}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n",
            kport, oport, mport, mport, mport, mport, gport);
    fclose(f);
    setenv("TCA_KEY_ALICE", KEY, 1);
    unsetenv("TCA_KEY_UNSET");
    setenv("TCA_BACKEND_KEY", BACKEND_KEY, 1);
    /* the router's stderr (its log lines) goes to a file the tests read */
    if (tstack_serve_logged(&router, cfg_path, 1, log_path) != 0) return -1;
    /* one "listening on" line per listener */
    if (tproc_wait_listening(&router, 10000) <= 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    int ms = tproc_stop(&mock, 10000);
    unlink(cfg_path);
    unlink(log_path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && WIFEXITED(ms) && WEXITSTATUS(ms) == 0 ? 0 : -1;
}

static int req(int port, const char *method, const char *path, const char *headers,
               const char *body, thttp_resp_t *r)
{
    return thttp_request("127.0.0.1", port, method, path, headers, body, body ? strlen(body) : 0,
                         r);
}

static cJSON *mock_stats(void)
{
    thttp_resp_t r;
    if (req(mport, "GET", "/mock/stats", NULL, NULL, &r) != 0) {
        thttp_resp_free(&r);
        return NULL;
    }
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    return j;
}

static int mock_requests(void)
{
    return tstack_mock_requests(mport);
}

/* The value of header `name` in the mock's last request (NULL: absent);
 * *count: how many times it was there. Returns a malloc'd copy. */
static char *seen_header(const char *name, int *count)
{
    cJSON *j = mock_stats();
    assert_non_null(j);
    cJSON *lh = cJSON_GetObjectItem(j, "last_headers");
    assert_true(cJSON_IsArray(lh));
    char *val = NULL;
    int n = 0;
    cJSON *pair;
    cJSON_ArrayForEach(pair, lh)
    {
        const char *hn = cJSON_GetArrayItem(pair, 0)->valuestring;
        if (strcasecmp(hn, name)) continue;
        n++;
        if (!val) val = strdup(cJSON_GetArrayItem(pair, 1)->valuestring);
    }
    cJSON_Delete(j);
    if (count) *count = n;
    return val;
}

static bool mock_saw(const char *name)
{
    char *v = seen_header(name, NULL);
    free(v);
    return v != NULL;
}

/* No header value of the mock's last request contains s. */
static void assert_mock_never_saw_value(const char *s)
{
    cJSON *j = mock_stats();
    assert_non_null(j);
    char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "last_headers"));
    assert_null(strstr(txt, s));
    free(txt);
    cJSON_Delete(j);
}

static void assert_openai_401(const thttp_resp_t *r)
{
    assert_int_equal(r->status, 401);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "invalid_request_error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "invalid_api_key");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    assert_null(strstr(r->body, KEY));
    cJSON_Delete(j);
}

static void assert_anthropic_401(const thttp_resp_t *r)
{
    assert_int_equal(r->status, 401);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "error");
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "authentication_error");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    cJSON_Delete(j);
}

static void test_missing_key_gets_openai_401_on_every_openai_endpoint(void **state)
{
    int before = mock_requests();
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/chat/completions", NULL, CHAT, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    const char *resp = "{\"model\":\"plain\",\"input\":\"hi\"}";
    assert_int_equal(req(kport, "POST", "/v1/responses", NULL, resp, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "GET", "/v1/responses/resp_x", NULL, NULL, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "DELETE", "/v1/responses/resp_x", NULL, NULL, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "GET", "/v1/responses/resp_x/input_items", NULL, NULL, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "GET", "/v1/models", NULL, NULL, &r), 0);
    assert_openai_401(&r);
    thttp_resp_free(&r);
    /* nothing reached the backend */
    assert_int_equal(mock_requests(), before);
}

static void test_wrong_key_gets_401(void **state)
{
    const char *wrong[] = {
        "Authorization: Bearer sk-wrong\r\n",
        "x-api-key: sk-wrong\r\n",
        "Authorization: Bearer " KEY "x\r\n",                       /* longer */
        "Authorization: Bearer sk-tether-alice-012345678\r\n",      /* a prefix */
        "Authorization: Bearer SK-TETHER-ALICE-0123456789\r\n",     /* other case */
        "Authorization: Basic " KEY "\r\n",                         /* not a Bearer token */
        "Authorization: Bearer\r\n",                                /* empty */
        "x-api-key: \r\n",                                          /* the unset key is disabled */
        "x-api-key: sk-wrong\r\nAuthorization: Bearer " KEY "\r\n", /* two that disagree */
    };
    int before = mock_requests();
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        thttp_resp_t r;
        assert_int_equal(req(kport, "POST", "/v1/chat/completions", wrong[i], CHAT, &r), 0);
        assert_openai_401(&r);
        thttp_resp_free(&r);
    }
    assert_int_equal(mock_requests(), before);
}

static void test_right_key_as_bearer_or_x_api_key_passes_and_is_not_forwarded(void **state)
{
    const char *right[] = {
        "Authorization: Bearer " KEY "\r\n", "authorization: bearer " KEY "\r\n",
        "X-Api-Key: " KEY "\r\n",
        "x-api-key: " KEY "\r\nAuthorization: Bearer " KEY "\r\n", /* the same key twice */
    };
    for (size_t i = 0; i < sizeof right / sizeof *right; i++) {
        thttp_resp_t r;
        assert_int_equal(req(kport, "POST", "/v1/chat/completions", right[i], CHAT, &r), 0);
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        assert_false(mock_saw("authorization"));
        assert_false(mock_saw("x-api-key"));
        assert_mock_never_saw_value(KEY);
    }
    thttp_resp_t r;
    assert_int_equal(req(kport, "GET", "/v1/models", "x-api-key: " KEY "\r\n", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_messages_wrong_key_gets_anthropic_401(void **state)
{
    const char *body = "{\"model\":\"claude\",\"max_tokens\":16,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/messages", "x-api-key: sk-wrong\r\n", body, &r), 0);
    assert_anthropic_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "POST", "/v1/messages", NULL, body, &r), 0);
    assert_anthropic_401(&r);
    thttp_resp_free(&r);
    assert_int_equal(
        req(kport, "POST", "/v1/messages/count_tokens", "x-api-key: nope\r\n", body, &r), 0);
    assert_anthropic_401(&r);
    thttp_resp_free(&r);
    /* the right key: Anthropic headers reach the Anthropic upstream, the key does not */
    assert_int_equal(req(kport, "POST", "/v1/messages",
                         "x-api-key: " KEY "\r\nanthropic-beta: tools-2024\r\n", body, &r),
                     0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    char *beta = seen_header("anthropic-beta", NULL);
    assert_non_null(beta);
    assert_string_equal(beta, "tools-2024");
    free(beta);
    assert_true(mock_saw("anthropic-version"));
    assert_false(mock_saw("x-api-key"));
    assert_mock_never_saw_value(KEY);
}

static void test_health_and_ready_stay_open(void **state)
{
    thttp_resp_t r;
    assert_int_equal(req(kport, "GET", "/health", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "GET", "/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_failures_are_counted_and_logged_without_the_key(void **state)
{
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/chat/completions",
                         "Authorization: Bearer sk-tether-alice-wrong\r\n", CHAT, &r),
                     0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
    assert_int_equal(req(kport, "POST", "/v1/chat/completions", NULL, CHAT, &r), 0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
    assert_int_equal(req(gport, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "tether_auth_failures_total{listener=\"main\",reason=\"invalid\"}"));
    assert_non_null(
        strstr(r.body, "tether_auth_failures_total{listener=\"main\",reason=\"missing\"}"));
    thttp_resp_free(&r);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[4096];
    int failed_lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"event\":\"client_auth_failed\"")) failed_lines++;
        assert_null(strstr(line, KEY));
        assert_null(strstr(line, "sk-tether-alice-wrong"));
    }
    fclose(f);
    assert_true(failed_lines > 0);
}

static void test_mixed_case_hop_and_credential_headers_are_dropped(void **state)
{
    thttp_resp_t r;
    const char *h = "Authorization: Bearer client-secret\r\n"
                    "X-Api-Key: client-xkey\r\n"
                    "Cookie: sid=client-cookie\r\n"
                    "Api-Key: client-azure\r\n"
                    "Proxy-Authorization: Basic client-proxy\r\n"
                    "Connection: Foo, keep-alive\r\n"
                    "foo: hop-only\r\n"
                    "Keep-Alive: timeout=5\r\n"
                    "TE: trailers\r\n"
                    "X-Tether-Debug: 1\r\n"
                    "Anthropic-Beta: x\r\n"
                    "X-Request-Id: client-chosen\r\n"
                    "X-Keep: yes\r\n";
    assert_int_equal(req(oport, "POST", "/v1/chat/completions", h, CHAT, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    const char *gone[] = {
        "authorization", "x-api-key", "cookie",     "api-key", "proxy-authorization",
        "connection",    "foo",       "keep-alive", "te",      "x-tether-debug",
        "anthropic-beta"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        if (mock_saw(gone[i])) fail_msg("%s reached the backend", gone[i]);
    }
    assert_mock_never_saw_value("client-");
    char *keep = seen_header("x-keep", NULL);
    assert_non_null(keep);
    assert_string_equal(keep, "yes");
    free(keep);
    int n = 0;
    char *rid = seen_header("x-request-id", &n);
    assert_int_equal(n, 1);
    assert_string_not_equal(rid, "client-chosen");
    free(rid);
}

static void test_chunked_client_body_reaches_backend_with_one_content_length(void **state)
{
    thttp_conn_t c;
    assert_int_equal(thttp_open(&c, "127.0.0.1", oport, 10000), 0);
    char raw[1024];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "%zx\r\n%s\r\n0\r\n\r\n",
                     strlen(CHAT), CHAT);
    assert_int_equal(thttp_send(&c, raw, (size_t)n), 0);
    thttp_resp_t r;
    assert_int_equal(thttp_read_response(&c, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    thttp_close(&c);
    assert_false(mock_saw("transfer-encoding"));
    int count = 0;
    char *cl = seen_header("content-length", &count);
    assert_int_equal(count, 1);
    assert_int_equal(atoi(cl), (int)strlen(CHAT));
    free(cl);
}

/* RFC 9112 §5.1: no whitespace between a field name and the colon. The
 * server may refuse such a request (400); if it does not, the malformed
 * names never reach the backend, so the upstream sees one body length. */
static void test_names_with_space_before_colon_never_reach_the_backend(void **state)
{
    const char *bad[] = {
        "Authorization : Bearer client-secret\r\n",
        "host : client-evil.example\r\n",
        "content-length : 5\r\n",
        "transfer-encoding : chunked\r\n",
        "Cookie\t: client-cookie\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        thttp_resp_t r;
        int before = mock_requests();
        assert_int_equal(req(oport, "POST", "/v1/chat/completions", bad[i], CHAT, &r), 0);
        assert_true(r.status == 400 || r.status == 200);
        thttp_resp_free(&r);
        if (mock_requests() == before) continue; /* refused before any upstream call */
        cJSON *j = mock_stats();
        cJSON *pair;
        cJSON_ArrayForEach(pair, cJSON_GetObjectItem(j, "last_headers"))
        {
            const char *hn = cJSON_GetArrayItem(pair, 0)->valuestring;
            if (strpbrk(hn, " \t")) fail_msg("header \"%s\" reached the backend", hn);
        }
        cJSON_Delete(j);
        assert_mock_never_saw_value("client-");
        int count = 0;
        free(seen_header("content-length", &count));
        assert_int_equal(count, 1);
        assert_false(mock_saw("transfer-encoding"));
    }
}

static void test_credentials_reach_only_a_backend_configured_for_them(void **state)
{
    const char *body = "{\"model\":\"fwd\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    const char *h = "Authorization: Bearer client-secret\r\nX-Api-Key: client-xkey\r\n"
                    "Cookie: sid=1\r\n";
    thttp_resp_t r;
    /* open listener, backend with forward_client_credentials: all pass */
    assert_int_equal(req(oport, "POST", "/v1/chat/completions", h, body, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    char *v = seen_header("authorization", NULL);
    assert_non_null(v);
    assert_string_equal(v, "Bearer client-secret");
    free(v);
    v = seen_header("x-api-key", NULL);
    assert_non_null(v);
    assert_string_equal(v, "client-xkey");
    free(v);
    assert_true(mock_saw("cookie"));
    /* keyed listener: the tether key is consumed, the cookie still passes */
    char kh[256];
    snprintf(kh, sizeof kh, "Authorization: Bearer %s\r\nCookie: sid=2\r\n", KEY);
    assert_int_equal(req(kport, "POST", "/v1/chat/completions", kh, body, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_false(mock_saw("authorization"));
    assert_mock_never_saw_value(KEY);
    v = seen_header("cookie", NULL);
    assert_non_null(v);
    assert_string_equal(v, "sid=2");
    free(v);
    /* a backend with its own key gets that key and never the client's */
    body = "{\"model\":\"keyed\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(req(oport, "POST", "/v1/chat/completions", h, body, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    int count = 0;
    v = seen_header("authorization", &count);
    assert_int_equal(count, 1);
    assert_string_equal(v, "Bearer " BACKEND_KEY);
    free(v);
    assert_false(mock_saw("x-api-key"));
    assert_false(mock_saw("cookie"));
    assert_mock_never_saw_value("client-");
}

/* The matched key's groups are the authz identity: the "ml" decision
 * (authz role bound to group ml) routes only requests with alice's key. */
static void test_matched_key_groups_feed_authz(void **state)
{
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/chat/completions", "x-api-key: " KEY "\r\n", body, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-decision"), "ml");
    assert_string_equal(thttp_resp_header(&r, "x-tether-model"), "fwd");
    thttp_resp_free(&r);
    assert_int_equal(req(oport, "POST", "/v1/chat/completions", NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(thttp_resp_header(&r, "x-tether-decision"), "everyone");
    thttp_resp_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_key_gets_openai_401_on_every_openai_endpoint),
        cmocka_unit_test(test_wrong_key_gets_401),
        cmocka_unit_test(test_right_key_as_bearer_or_x_api_key_passes_and_is_not_forwarded),
        cmocka_unit_test(test_messages_wrong_key_gets_anthropic_401),
        cmocka_unit_test(test_health_and_ready_stay_open),
        cmocka_unit_test(test_failures_are_counted_and_logged_without_the_key),
        cmocka_unit_test(test_mixed_case_hop_and_credential_headers_are_dropped),
        cmocka_unit_test(test_chunked_client_body_reaches_backend_with_one_content_length),
        cmocka_unit_test(test_matched_key_groups_feed_authz),
        cmocka_unit_test(test_names_with_space_before_colon_never_reach_the_backend),
        cmocka_unit_test(test_credentials_reach_only_a_backend_configured_for_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
