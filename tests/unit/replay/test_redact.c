/* test_redact.c - replay redaction: credentials are masked whether or not
 * redact is on (secret JSON members, header lines, bearer tokens, provider
 * key shapes); PII is masked as [TYPE] only with redact on; pre-rendered
 * JSON parts get credentials masked and stay valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay_fixture.h"

static char *redact(const char *s, bool pii)
{
    buf_t b = BUF_INIT;
    replay_redact_text(s, strlen(s), pii, &b);
    return b.data ? buf_steal(&b) : strdup("");
}

static void test_secret_names(void **st)
{
    const char *yes[] = {"Authorization",  "x-api-key",    "api_key",
                         "OPENAI_API_KEY", "access_token", "password",
                         "client_secret",  "Cookie",       "proxy-authorization"};
    const char *no[] = {"max_tokens", "model", "keyword", "tokens", "messages", "role"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        assert_true(replay_redact_is_secret_name(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_false(replay_redact_is_secret_name(no[i], strlen(no[i])));
}

static void test_credentials_masked_even_without_redact(void **st)
{
    const char *in =
        "{\"api_key\": \"hunter2-plain\", \"headers\": {\"Authorization\": \"Bearer "
        "abcdefghijkl123\","
        " \"x-api-key\":\"k-123456\"}, \"max_tokens\": 100, \"password\":\"p@ss\","
        " \"messages\":[{\"role\":\"user\",\"content\":\"my key is "
        "sk-proj-AbCdEf0123456789XyZaBcD1 "
        "and ghp_0123456789abcdefghijABCDEFGHIJ012345 and AKIAIOSFODNN7EXAMPLE ok\"}]}";
    for (int pii = 0; pii < 2; pii++) {
        char *out = redact(in, pii);
        assert_null(strstr(out, "hunter2-plain"));
        assert_null(strstr(out, "abcdefghijkl123"));
        assert_null(strstr(out, "k-123456"));
        assert_null(strstr(out, "p@ss"));
        assert_null(strstr(out, "sk-proj-AbCdEf"));
        assert_null(strstr(out, "ghp_0123"));
        assert_null(strstr(out, "AKIAIOSFODNN7EXAMPLE"));
        assert_non_null(strstr(out, "\"max_tokens\": 100")); /* not a secret */
        assert_non_null(strstr(out, "\"api_key\": \"" REPLAY_REDACTED "\""));
        assert_non_null(strstr(out, "my key is "));
        cJSON *j = cJSON_Parse(out); /* still JSON */
        assert_non_null(j);
        cJSON_Delete(j);
        free(out);
    }
}

static void test_header_lines_and_bare_bearer(void **st)
{
    char *out = redact("GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nHost: x\r\n"
                       "curl -H 'x-api-key: secret-value-1' and token Bearer zyxwvut987654 end",
                       false);
    assert_null(strstr(out, "dXNlcjpwYXNz"));
    assert_null(strstr(out, "secret-value-1"));
    assert_null(strstr(out, "zyxwvut987654"));
    assert_non_null(strstr(out, "Host: x"));
    assert_non_null(strstr(out, " end"));
    free(out);
}

static void test_pii_only_with_redact(void **st)
{
    const char *in = "{\"content\":\"write to jane.doe@example.com or call +1 415-555-0134, "
                     "card 4111 1111 1111 1111\"}";
    char *plain = redact(in, false);
    assert_string_equal(plain, in); /* no credentials here: untouched */
    free(plain);
    char *masked = redact(in, true);
    assert_null(strstr(masked, "jane.doe@example.com"));
    assert_non_null(strstr(masked, "[EMAIL_ADDRESS]"));
    assert_null(strstr(masked, "4111 1111 1111 1111"));
    assert_non_null(strstr(masked, "[CREDIT_CARD]"));
    assert_non_null(strstr(masked, "write to "));
    free(masked);
}

static void test_record_bodies_and_fragments(void **st)
{
    replay_record_t *r = fx_record(1, "s", 1, "d", "m", "cold_start");
    const char *req =
        "{\"api_key\":\"zzz-secret\",\"messages\":[{\"content\":\"ping bob@example.org\"}]}";
    replay_record_set_body(r, 0, req, strlen(req), 0);
    replay_record_set_body(r, 1, "pong from alice@example.org", 27, 0);
    replay_record_set(
        &r->attempts_json,
        "[{\"backend\":\"b1\",\"headers\":{\"authorization\":\"Bearer qqqqqqqqqqqq\"}}]");
    replay_record_set(&r->warnings_json, "[\"upstream said: Bearer wwwwwwwwwwww\"]");
    replay_record_set(&r->signals_json, "[{\"family\":\"pii\",\"matched\":\"carol@example.org\"}]");
    /* redact off: credentials still go, PII stays */
    replay_record_t *r2 = fx_record(2, "s", 2, "d", "m", "cold_start");
    replay_record_set_body(r2, 0, req, strlen(req), 0);
    replay_redact_record(r, true);
    replay_redact_record(r2, false);
    assert_null(strstr(r->request_body, "zzz-secret"));
    assert_null(strstr(r->request_body, "bob@example.org"));
    assert_int_equal(r->request_body_len, strlen(r->request_body));
    assert_non_null(strstr(r->response_body, "[EMAIL_ADDRESS]"));
    assert_null(strstr(r->attempts_json, "qqqqqqqqqqqq"));
    assert_null(strstr(r->warnings_json, "wwwwwwwwwwww"));
    /* fragments get credentials only: a PII signal's match stays for the trace */
    assert_non_null(strstr(r->signals_json, "carol@example.org"));
    assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
    assert_null(strstr(r2->request_body, "zzz-secret"));
    assert_non_null(strstr(r2->request_body, "bob@example.org"));
    replay_record_free(r);
    replay_record_free(r2);
}

/* A credential that reaches a routing fragment through a misconfigured name
 * is masked whichever shape lets the cheap prefilter through, including a
 * mark at the very end of the fragment. */
static void test_fragment_secret_shapes(void **st)
{
    static const char *const frags[] = {"{\"api_key\":\"zzzzzzzz\"}",
                                        "{\"apiKey\":\"zzzzzzzz\"}",
                                        "{\"API_KEY\":\"zzzzzzzz\"}",
                                        "{\"auth_token\":\"zzzzzzzz\"}",
                                        "{\"Token\":\"zzzzzzzz\"}",
                                        "{\"client_secret\":\"zzzzzzzz\"}",
                                        "{\"Secret\":\"zzzzzzzz\"}",
                                        "{\"password\":\"zzzzzzzz\"}",
                                        "{\"Password\":\"zzzzzzzz\"}",
                                        "[\"Bearer zzzzzzzzzzzz\"]",
                                        "[\"sk-zzzzzzzz1234zzzzzzzz5678zzzz\"]",
                                        "[\"ghp_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]"};
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        replay_record_t *r = fx_record(1, "s", 1, "d", "m", "cold_start");
        replay_record_set(&r->signals_json, frags[i]);
        replay_redact_record(r, false);
        if (strstr(r->signals_json, "zzzzzzzz")) fail_msg("not masked: %s", frags[i]);
        replay_record_free(r);
    }
    /* no mark: the fragment is kept byte for byte */
    replay_record_t *r = fx_record(1, "s", 1, "d", "m", "cold_start");
    const char *plain = "[{\"family\":\"language\",\"name\":\"en\",\"score\":1}]";
    replay_record_set(&r->signals_json, plain);
    replay_redact_record(r, false);
    assert_string_equal(r->signals_json, plain);
    replay_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_names),
        cmocka_unit_test(test_credentials_masked_even_without_redact),
        cmocka_unit_test(test_header_lines_and_bare_bearer),
        cmocka_unit_test(test_pii_only_with_redact),
        cmocka_unit_test(test_record_bodies_and_fragments),
        cmocka_unit_test(test_fragment_secret_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
