/* test_passthrough.c - the real tether binary with a `tether mock` backend:
 * POST /v1/embeddings and POST /v1/completions pass through to a model that
 * lists the endpoint in providers.models[].endpoints (the provider model id
 * replaces the client's; usage counted in tether_tokens_total and the
 * cost); an unknown model answers 404 model_not_found, a chat-only model and
 * an auto name 400 model_not_supported, all in the OpenAI shape; the
 * listener's keys guard both endpoints; a model whose endpoints leave out
 * chat cannot be a decision's target. The access log: one `access` line per
 * request with the request id, key name, decision, model, backend, status,
 * latency, tokens and cost, in JSON and in text, never a credential. */
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "sk-tether-pt-secret-0123456789"

static tproc_t mock, router;
static int mport, rport, gport;
static char cfg_path[256], log_path[256];

static const char *EMB = "{\"model\":\"embed\",\"input\":[\"hello world\",\"second text\"]}";

static void write_cfg(const char *path, int port, int mgmt, const char *format, bool access)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    api_keys: [{name: alice, key_env: TPT_KEY}]\n"
            "providers:\n  defaults: {default_model: chat}\n  models:\n"
            "    - name: chat\n      backend_refs: [{name: c1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: embed\n      provider_model_id: mock-embed\n"
            "      endpoints: [embeddings]\n"
            "      pricing: {prompt_per_1m: 2.0}\n"
            "      backend_refs: [{name: e1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: text\n      endpoints: [chat, completions]\n"
            "      backend_refs: [{name: t1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: chat}, {name: embed}, {name: text}]\n"
            "  decisions:\n    - {name: everyone, modelRefs: [{model: chat}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    logging: {format: %s, access_log: %s}\n",
            port, mport, mport, mport, mgmt, format, access ? "true" : "false");
    fclose(f);
}

/* Start the router with its stderr in log_path. */
static int start_router(tproc_t *p, const char *cfg)
{
    if (tstack_serve_logged(p, cfg, 1, log_path) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

static int setup(void **state)
{
    (void)state;
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    rport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-pt-%d.yaml", (int)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/tether-test-pt-%d.log", (int)getpid());
    setenv("TPT_KEY", KEY, 1);
    write_cfg(cfg_path, rport, gport, "json", true);
    return start_router(&router, cfg_path) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int st = tproc_stop(&router, 10000);
    int ms = tproc_stop(&mock, 10000);
    unlink(cfg_path);
    unlink(log_path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && WIFEXITED(ms) && WEXITSTATUS(ms) == 0 ? 0 : -1;
}

static int post(int port, const char *path, const char *body, thttp_resp_t *r)
{
    return thttp_request("127.0.0.1", port, "POST", path, "authorization: Bearer " KEY "\r\n", body,
                         strlen(body), r);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    buf_t b = BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    buf_putc(&b, 0);
    return b.data;
}

/* The access line of request id rid in the log (JSON), or NULL. */
static cJSON *access_line(const char *rid)
{
    char *log = slurp(log_path);
    cJSON *found = NULL;
    for (char *line = strtok(log, "\n"); line && !found; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"event\":\"access\"") || !strstr(line, rid)) continue;
        found = cJSON_Parse(line);
    }
    free(log);
    return found;
}

/* The access line arrives right after the response: wait for it (bounded, 20 s). */
static cJSON *wait_access(const char *rid)
{
    for (int i = 0; i < 1000; i++) {
        cJSON *j = access_line(rid);
        if (j) return j;
        usleep(20000);
    }
    return NULL;
}

static const char *err_code(const thttp_resp_t *r, cJSON **hold)
{
    *hold = cJSON_Parse(r->body);
    cJSON *e = cJSON_GetObjectItem(*hold, "error");
    return cJSON_GetStringValue(cJSON_GetObjectItem(e, "code"));
}

static double metric(const char *prefix)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", gport, "GET", "/metrics", NULL, NULL, 0, &r) != 0) return -1;
    double v = -1;
    const char *p = strstr(r.body, prefix);
    if (p) v = atof(p + strlen(prefix));
    thttp_resp_free(&r);
    return v;
}

/* A counter that reaches at least want (the response may reach the client
 * a moment before its counters move). */
static double wait_metric(const char *prefix, double want)
{
    double v = -1;
    for (int i = 0; i < 1000 && v < want; i++) {
        v = metric(prefix);
        if (v < want) usleep(20000);
    }
    return v;
}

static void test_embeddings_pass_through_with_usage(void **state)
{
    (void)state;
    thttp_resp_t r;
    assert_int_equal(post(rport, "/v1/embeddings", EMB, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 2);
    /* the provider's model id went upstream (the mock echoes it) */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "mock-embed");
    double pt =
        cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "prompt_tokens"));
    assert_true(pt > 0);
    assert_string_equal(thttp_resp_header(&r, "x-tether-model"), "embed");
    assert_string_equal(thttp_resp_header(&r, "x-tether-backend"), "e1");
    cJSON_Delete(j);
    thttp_resp_free(&r);
    assert_true(wait_metric("tether_tokens_total{model=\"embed\",kind=\"prompt\"} ", pt) >= pt);
    assert_true(wait_metric("tether_requests_total{endpoint=\"embeddings\",status=\"200\",client_"
                            "protocol=\"openai\"} ",
                            1) >= 1);
}

static void test_completions_pass_through(void **state)
{
    (void)state;
    thttp_resp_t r;
    assert_int_equal(
        post(rport, "/v1/completions", "{\"model\":\"text\",\"prompt\":\"Say hi\"}", &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "object")), "text_completion");
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(c0, "text")));
    cJSON_Delete(j);
    thttp_resp_free(&r);
}

static void test_model_errors_in_openai_shape(void **state)
{
    (void)state;
    thttp_resp_t r;
    cJSON *h;
    assert_int_equal(post(rport, "/v1/embeddings", "{\"model\":\"nope\",\"input\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(err_code(&r, &h), "model_not_found");
    assert_non_null(strstr(r.body, "embed")); /* names the models that serve it */
    cJSON_Delete(h);
    thttp_resp_free(&r);
    /* a chat-only model, and an auto name */
    assert_int_equal(post(rport, "/v1/embeddings", "{\"model\":\"chat\",\"input\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r, &h), "model_not_supported");
    cJSON_Delete(h);
    thttp_resp_free(&r);
    assert_int_equal(post(rport, "/v1/embeddings", "{\"model\":\"auto\",\"input\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r, &h), "model_not_supported");
    cJSON_Delete(h);
    thttp_resp_free(&r);
    /* an embeddings-only model for legacy completions */
    assert_int_equal(post(rport, "/v1/completions", "{\"model\":\"embed\",\"prompt\":\"x\"}", &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r, &h), "model_not_supported");
    cJSON_Delete(h);
    thttp_resp_free(&r);
    /* an embeddings-only model on the chat endpoints */
    assert_int_equal(
        post(rport, "/v1/chat/completions",
             "{\"model\":\"embed\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r),
        0);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r, &h), "model_not_supported");
    cJSON_Delete(h);
    thttp_resp_free(&r);
    assert_int_equal(post(rport, "/v1/responses", "{\"model\":\"embed\",\"input\":\"hi\"}", &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r, &h), "model_not_supported");
    cJSON_Delete(h);
    thttp_resp_free(&r);
    /* no model; a GET */
    assert_int_equal(post(rport, "/v1/embeddings", "{\"input\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 400);
    thttp_resp_free(&r);
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/v1/embeddings",
                                   "authorization: Bearer " KEY "\r\n", NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 405);
    thttp_resp_free(&r);
}

static void test_listener_keys_guard_embeddings(void **state)
{
    (void)state;
    thttp_resp_t r;
    assert_int_equal(
        thttp_request("127.0.0.1", rport, "POST", "/v1/embeddings", NULL, EMB, strlen(EMB), &r), 0);
    assert_int_equal(r.status, 401);
    thttp_resp_free(&r);
}

static void test_access_log_json_fields_and_no_secret(void **state)
{
    (void)state;
    thttp_resp_t r;
    const char *chat = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                                   "authorization: Bearer " KEY "\r\nx-api-key: " KEY "\r\n", chat,
                                   strlen(chat), &r),
                     0);
    assert_int_equal(r.status, 200);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", thttp_resp_header(&r, "x-tether-request-id"));
    thttp_resp_free(&r);
    cJSON *j = wait_access(rid);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "key")), "alice");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "decision")), "everyone");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "chat");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "backend")), "c1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "endpoint")), "chat");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "status")), 200);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "latency_ms")) > 0);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "prompt_tokens")) > 0);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "completion_tokens")) > 0);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "cost")));
    cJSON_Delete(j);
    /* the embeddings request: its cost from the pricing */
    assert_int_equal(post(rport, "/v1/embeddings", EMB, &r), 0);
    snprintf(rid, sizeof rid, "%s", thttp_resp_header(&r, "x-tether-request-id"));
    thttp_resp_free(&r);
    j = wait_access(rid);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "endpoint")), "embeddings");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "cost")) > 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "currency")), "USD");
    cJSON_Delete(j);
    /* a refused request has its line too (401, no key name) */
    assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                                   "authorization: Bearer sk-wrong-" KEY "\r\n", chat, strlen(chat),
                                   &r),
                     0);
    assert_int_equal(r.status, 401);
    snprintf(rid, sizeof rid, "%s", thttp_resp_header(&r, "x-tether-request-id"));
    thttp_resp_free(&r);
    j = wait_access(rid);
    assert_non_null(j);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "status")), 401);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "key")), "");
    cJSON_Delete(j);
    char *log = slurp(log_path);
    assert_null(strstr(log, KEY)); /* neither the right key nor the wrong one */
    free(log);
}

static void test_access_log_text_and_off(void **state)
{
    (void)state;
    tproc_t r2;
    char cfg2[300];
    int port = tsupport_free_port(), mg = tsupport_free_port();
    snprintf(cfg2, sizeof cfg2, "%s.text.yaml", cfg_path);
    write_cfg(cfg2, port, mg, "text", true);
    assert_true(start_router(&r2, cfg2) > 0);
    thttp_resp_t r;
    assert_int_equal(post(port, "/v1/embeddings", EMB, &r), 0);
    assert_int_equal(r.status, 200);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", thttp_resp_header(&r, "x-tether-request-id"));
    thttp_resp_free(&r);
    char want[160];
    snprintf(want, sizeof want, " INFO access request_id=%s ", rid);
    char *log = NULL;
    for (int i = 0; i < 1000; i++) {
        free(log);
        log = slurp(log_path);
        if (strstr(log, want)) break;
        usleep(20000);
    }
    char *line = strstr(log, want);
    assert_non_null(line);
    *strchrnul(line, '\n') = 0;
    assert_non_null(strstr(line, " key=alice "));
    assert_non_null(strstr(line, " model=embed "));
    assert_non_null(strstr(line, " backend=e1 "));
    assert_non_null(strstr(line, " status=200 "));
    assert_null(strstr(line, KEY));
    free(log);
    assert_int_equal(tproc_stop(&r2, 10000) & 0x7f, 0);
    /* access_log: false: no line */
    write_cfg(cfg2, port, mg, "json", false);
    assert_true(start_router(&r2, cfg2) > 0);
    assert_int_equal(post(port, "/v1/embeddings", EMB, &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    tproc_stop(&r2, 10000);
    log = slurp(log_path);
    assert_null(strstr(log, "\"event\":\"access\""));
    free(log);
    unlink(cfg2);
}

/* GET /v1/models says which endpoints each configured model serves. */
static void test_models_list_their_endpoints(void **state)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", rport, "GET", "/v1/models",
                                   "authorization: Bearer " KEY "\r\n", NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    thttp_resp_free(&r);
    assert_non_null(j);
    const char *want[][2] = {{"chat", "[\"chat\"]"},
                             {"embed", "[\"embeddings\"]"},
                             {"text", "[\"chat\",\"completions\"]"}};
    int seen = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "data"))
    {
        const char *id = cJSON_GetObjectItem(m, "id")->valuestring;
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(id, want[i][0])) continue;
            cJSON *ep = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "tether"), "endpoints");
            assert_non_null(ep);
            char *txt = cJSON_PrintUnformatted(ep);
            assert_string_equal(txt, want[i][1]);
            free(txt);
            seen++;
        }
    }
    cJSON_Delete(j);
    assert_int_equal(seen, 3);
}

static void test_decision_to_non_chat_model_rejected(void **state)
{
    (void)state;
    char cfg2[300];
    snprintf(cfg2, sizeof cfg2, "%s.bad.yaml", cfg_path);
    FILE *f = fopen(cfg2, "w");
    assert_non_null(f);
    fprintf(f, "version: v0.3\nlisteners: [{name: m, address: 127.0.0.1, port: 1}]\n"
               "providers:\n  defaults: {default_model: embed}\n  models:\n"
               "    - name: embed\n      endpoints: [embeddings]\n"
               "      backend_refs: [{endpoint: \"127.0.0.1:1\"}]\n"
               "routing:\n  modelCards: [{name: embed}]\n");
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s config validate %s 2>&1", tproc_tether_bin(), cfg2);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    assert_int_not_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "endpoints do not list chat"));
    assert_non_null(strstr(out, ".yaml:7:")); /* the endpoints line */
    unlink(cfg2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embeddings_pass_through_with_usage),
        cmocka_unit_test(test_completions_pass_through),
        cmocka_unit_test(test_model_errors_in_openai_shape),
        cmocka_unit_test(test_listener_keys_guard_embeddings),
        cmocka_unit_test(test_access_log_json_fields_and_no_secret),
        cmocka_unit_test(test_access_log_text_and_off),
        cmocka_unit_test(test_decision_to_non_chat_model_rejected),
        cmocka_unit_test(test_models_list_their_endpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
