/* test_rate_limits.c - the real tether binary with rate limits and budgets
 * (global.services.rate_limits[], budgets[]) in front of `tether mock`:
 * a key past its requests gets 429 in OpenAI's shape (type requests, code
 * rate_limit_exceeded) with retry-after, and every reply carries the
 * x-ratelimit-*-requests / -tokens headers; a Messages client gets
 * Anthropic's rate_limit_error and anthropic-ratelimit-* headers; a model past its tokens (counted
 * from the replies' usage, streamed or not) refuses the next request; a spent reject budget answers
 * 429 insufficient_quota; a spent downgrade budget serves its cheaper model;
 * the management API and the metrics show the counters, and
 * tether_cost_total counts the real spend.
 * Windows are 744h and budgets monthly, so the test crosses a boundary only
 * at the start of a month. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tproc_t mock, router;
static int mport, port, gport;
static char cfg_path[256];

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    port = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "/tmp/tether-test-rl-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    api_keys:\n"
            "      - {name: alice, key_env: TRL_ALICE, tenant: research}\n"
            "      - {name: carol, key_env: TRL_CAROL}\n"
            "      - {name: bob, key_env: TRL_BOB}\n"
            "      - {name: dave, key_env: TRL_DAVE, tenant: dteam}\n"
            "      - {name: tina, key_env: TRL_TINA}\n"
            "      - {name: kim, key_env: TRL_KIM}\n"
            "providers:\n  defaults: {default_model: plain}\n  models:\n"
            "    - name: plain\n      pricing: {prompt_per_1m: 1000, completion_per_1m: 1000}\n"
            "      backend_refs: [{name: p1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: cheap\n      backend_refs: [{name: c1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: tok\n      backend_refs: [{name: t1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: tok2\n      backend_refs: [{name: t2, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      api_format: anthropic\n"
            "      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: plain}, {name: cheap}, {name: tok}, {name: tok2}, "
            "{name: claude}]\n"
            "  decisions:\n    - {name: everyone, modelRefs: [{model: plain}]}\n"
            "global:\n  services:\n"
            "    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    rate_limits:\n"
            "      - {name: alice-rph, scope: key, match: alice, window: 744h, requests: 3}\n"
            "      - {name: carol-rph, scope: key, match: carol, window: 744h, requests: 1}\n"
            "      - {name: tok-tph, scope: model, match: tok, window: 744h, tokens: 10}\n"
            "      - {name: kim-rph, scope: key, match: kim, window: 744h, requests: 1}\n"
            "      - {name: tok2-tph, scope: model, match: tok2, window: 744h, tokens: 10}\n"
            "    budgets:\n"
            "      - {name: bob-monthly, scope: key, match: bob, period: month, "
            "max_spend: 0.00001}\n"
            "      - {name: dteam-monthly, scope: team, match: dteam, period: month, "
            "max_spend: 0.00001, policy: downgrade, downgrade_model: cheap}\n",
            port, mport, mport, mport, mport, mport, gport);
    fclose(f);
    setenv("TRL_ALICE", "sk-trl-alice", 1);
    setenv("TRL_CAROL", "sk-trl-carol", 1);
    setenv("TRL_BOB", "sk-trl-bob", 1);
    setenv("TRL_DAVE", "sk-trl-dave", 1);
    setenv("TRL_TINA", "sk-trl-tina", 1);
    setenv("TRL_KIM", "sk-trl-kim", 1);
    return tstack_serve_n(&router, cfg_path, 2, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    int ms = tproc_stop(&mock, 10000);
    unlink(cfg_path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && WIFEXITED(ms) && WEXITSTATUS(ms) == 0 ? 0 : -1;
}

static void chat(const char *key, const char *model, thttp_resp_t *r)
{
    char h[256], body[256];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
    memset(r, 0, sizeof *r);
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", h, body, strlen(body), r),
        0);
}

static const char *hdr(const thttp_resp_t *r, const char *name)
{
    const char *v = thttp_resp_header(r, name);
    return v ? v : "";
}

/* The error object of an OpenAI error body: type and code. */
static void expect_openai_error(const thttp_resp_t *r, const char *type, const char *code)
{
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), type);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "code")), code);
    cJSON_Delete(j);
}

static void test_requests_limit_answers_429_with_headers(void **st)
{
    thttp_resp_t r;
    for (int i = 0; i < 3; i++) {
        chat("sk-trl-alice", "auto", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(hdr(&r, "x-ratelimit-limit-requests"), "3");
        char want[8];
        snprintf(want, sizeof want, "%d", 2 - i);
        assert_string_equal(hdr(&r, "x-ratelimit-remaining-requests"), want);
        assert_true(strlen(hdr(&r, "x-ratelimit-reset-requests")) > 1);
        assert_null(thttp_resp_header(&r, "retry-after"));
        thttp_resp_free(&r);
    }
    chat("sk-trl-alice", "auto", &r);
    assert_int_equal(r.status, 429);
    expect_openai_error(&r, "requests", "rate_limit_exceeded");
    assert_non_null(strstr(r.body, "alice-rph"));
    assert_true(atoi(hdr(&r, "retry-after")) >= 1);
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-requests"), "0");
    thttp_resp_free(&r);
    /* another key is not limited by alice's rule: no headers at all */
    chat("sk-trl-tina", "auto", &r);
    assert_int_equal(r.status, 200);
    assert_null(thttp_resp_header(&r, "x-ratelimit-limit-requests"));
    thttp_resp_free(&r);
}

static void test_messages_client_gets_anthropic_rate_limit_error(void **st)
{
    const char *h = "x-api-key: sk-trl-carol\r\nanthropic-version: 2023-06-01\r\n"
                    "Content-Type: application/json\r\n";
    const char *body = "{\"model\":\"claude\",\"max_tokens\":16,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r = {0};
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/messages", h, body, strlen(body), &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-requests"), "0");
    /* Anthropic's own headers too, the reset as an RFC 3339 time */
    assert_string_equal(hdr(&r, "anthropic-ratelimit-requests-limit"), "1");
    assert_string_equal(hdr(&r, "anthropic-ratelimit-requests-remaining"), "0");
    const char *reset = hdr(&r, "anthropic-ratelimit-requests-reset");
    assert_int_equal(strlen(reset), 20);
    assert_int_equal(reset[10], 'T');
    assert_int_equal(reset[19], 'Z');
    thttp_resp_free(&r);
    memset(&r, 0, sizeof r);
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/messages", h, body, strlen(body), &r), 0);
    assert_int_equal(r.status, 429);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")), "error");
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "rate_limit_error");
    cJSON_Delete(j);
    assert_true(atoi(hdr(&r, "retry-after")) >= 1);
    thttp_resp_free(&r);
}

static void test_chat_to_an_anthropic_model_is_limited_too(void **st)
{
    /* the translated path (chat client, Anthropic-format model) counts the key */
    thttp_resp_t r;
    chat("sk-trl-kim", "claude", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-requests"), "0");
    thttp_resp_free(&r);
    chat("sk-trl-kim", "claude", &r);
    assert_int_equal(r.status, 429);
    expect_openai_error(&r, "requests", "rate_limit_exceeded");
    thttp_resp_free(&r);
}

static void test_tokens_limit_counts_usage(void **st)
{
    thttp_resp_t r;
    chat("sk-trl-tina", "tok", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "x-ratelimit-limit-tokens"), "10");
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-tokens"), "10");
    thttp_resp_free(&r);
    /* the mock's reply used more than 10 tokens: the window is spent */
    chat("sk-trl-tina", "tok", &r);
    assert_int_equal(r.status, 429);
    expect_openai_error(&r, "tokens", "rate_limit_exceeded");
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-tokens"), "0");
    thttp_resp_free(&r);
}

static void test_streamed_reply_tokens_count_too(void **st)
{
    char h[128];
    snprintf(h, sizeof h,
             "Authorization: Bearer sk-trl-tina\r\nContent-Type: application/json\r\n");
    const char *body = "{\"model\":\"tok2\",\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    thttp_resp_t r = {0};
    assert_int_equal(
        thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", h, body, strlen(body), &r),
        0);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "x-ratelimit-remaining-tokens"), "10");
    assert_non_null(strstr(r.body, "[DONE]"));
    thttp_resp_free(&r);
    /* the stream's usage (asked for by tether) spent the window */
    chat("sk-trl-tina", "tok2", &r);
    assert_int_equal(r.status, 429);
    expect_openai_error(&r, "tokens", "rate_limit_exceeded");
    thttp_resp_free(&r);
}

static void test_reject_budget_refuses_when_spent(void **st)
{
    thttp_resp_t r;
    chat("sk-trl-bob", "plain", &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    chat("sk-trl-bob", "plain", &r);
    assert_int_equal(r.status, 429);
    expect_openai_error(&r, "insufficient_quota", "insufficient_quota");
    assert_non_null(strstr(r.body, "bob-monthly"));
    assert_true(atoi(hdr(&r, "retry-after")) >= 1);
    thttp_resp_free(&r);
}

static void test_downgrade_budget_serves_the_cheaper_model(void **st)
{
    thttp_resp_t r;
    chat("sk-trl-dave", "plain", &r);
    assert_int_equal(r.status, 200);
    assert_null(thttp_resp_header(&r, "x-tether-budget"));
    assert_non_null(strstr(r.body, "\"model\":\"plain\""));
    thttp_resp_free(&r);
    chat("sk-trl-dave", "plain", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "x-tether-budget"), "downgraded");
    assert_non_null(strstr(r.body, "\"model\":\"cheap\""));
    thttp_resp_free(&r);
}

static void test_management_api_and_metrics_show_counters(void **st)
{
    thttp_resp_t r = {0};
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/v1/rate_limits", "", NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "store")), "memory");
    cJSON *rl = cJSON_GetObjectItem(j, "rate_limits");
    assert_int_equal(cJSON_GetArraySize(rl), 5);
    cJSON *alice = cJSON_GetArrayItem(rl, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(alice, "name")), "alice-rph");
    cJSON *reqs = cJSON_GetArrayItem(cJSON_GetObjectItem(alice, "requests"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reqs, "subject")), "alice");
    assert_int_equal(cJSON_GetObjectItem(reqs, "used")->valueint, 3);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    memset(&r, 0, sizeof r);
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/v1/budgets", "", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"name\":\"bob-monthly\""));
    assert_non_null(strstr(r.body, "{\"subject\":\"bob\",\"spend\":"));
    assert_non_null(strstr(r.body, "{\"subject\":\"dteam\",\"spend\":"));
    thttp_resp_free(&r);
    memset(&r, 0, sizeof r);
    assert_int_equal(thttp_request("127.0.0.1", gport, "GET", "/metrics", "", NULL, 0, &r), 0);
    assert_non_null(
        strstr(r.body, "tether_rate_limited_total{scope=\"key\",reason=\"requests\"} 3"));
    assert_non_null(
        strstr(r.body, "tether_rate_limited_total{scope=\"model\",reason=\"tokens\"} 2"));
    assert_non_null(strstr(r.body, "tether_rate_limited_total{scope=\"key\",reason=\"budget\"} 1"));
    assert_non_null(strstr(r.body, "tether_budget_downgrades_total{budget=\"dteam-monthly\"} 1"));
    assert_non_null(strstr(r.body, "tether_budget_spend{budget=\"bob-monthly\",subject=\"bob\"}"));
    /* the real spend: plain is priced, its replies' usage counted */
    const char *cost = strstr(r.body, "tether_cost_total{model=\"plain\",currency=\"USD\"} ");
    assert_non_null(cost);
    assert_true(
        strtod(cost + strlen("tether_cost_total{model=\"plain\",currency=\"USD\"} "), NULL) > 0);
    thttp_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_limit_answers_429_with_headers),
        cmocka_unit_test(test_messages_client_gets_anthropic_rate_limit_error),
        cmocka_unit_test(test_chat_to_an_anthropic_model_is_limited_too),
        cmocka_unit_test(test_tokens_limit_counts_usage),
        cmocka_unit_test(test_streamed_reply_tokens_count_too),
        cmocka_unit_test(test_reject_budget_refuses_when_spent),
        cmocka_unit_test(test_downgrade_budget_serves_the_cheaper_model),
        cmocka_unit_test(test_management_api_and_metrics_show_counters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
