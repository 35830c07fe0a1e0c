/* test_pii.c - the pii family: allowed types, thresholds, include_history,
 * unknown type names rejected at compile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define P CFG_SIG_PII

static void test_allowed_types_and_history(void **state)
{
    sigt_t *t = sigt_load(
        "    pii:\n"
        "      - {name: strict, threshold: 0.8}\n"
        "      - {name: mail_ok, pii_types_allowed: [EMAIL_ADDRESS]}\n"
        "      - {name: hist, include_history: true, pii_types_allowed: [EMAIL_ADDRESS]}\n",
        "[{type: pii, name: strict}, {type: pii, name: mail_ok}, {type: pii, name: hist}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "mail me at jane.doe@example.com", NULL);
    assert_true(sigt_matched(t, P, "strict"));
    assert_false(sigt_matched(t, P, "mail_ok"));
    assert_string_equal(sigt_get(t, P, "strict")->label, "EMAIL_ADDRESS");
    sigt_eval_prompt(t, "card 4111 1111 1111 1111 please", NULL);
    assert_true(sigt_matched(t, P, "mail_ok"));
    assert_true(sigt_get(t, P, "mail_ok")->score >= 0.99);
    const char *body = "{\"model\":\"auto\",\"messages\":["
                       "{\"role\":\"user\",\"content\":\"my SSN is 123-45-6789\"},"
                       "{\"role\":\"assistant\",\"content\":\"noted\"},"
                       "{\"role\":\"user\",\"content\":\"what now?\"}]}";
    sigt_eval_body(t, body, strlen(body), NULL, NULL, 0);
    assert_false(sigt_matched(t, P, "strict")); /* the query alone is clean */
    assert_true(sigt_matched(t, P, "hist"));
    sigt_free(t);
}

static void test_unknown_type_is_an_error(void **state)
{
    sigt_t *t = sigt_load("    pii:\n      - {name: x, pii_types_allowed: [EMAIL]}\n",
                          "[{type: pii, name: x}]");
    assert_null(t->e);
    assert_non_null(strstr(t->err, "unknown PII type \"EMAIL\""));
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_types_and_history),
        cmocka_unit_test(test_unknown_type_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
