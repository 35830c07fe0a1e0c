/* test_event.c - the event family: built-in types, severities, temporal,
 * action codes and user patterns; score 0.5 + 0.5·passed/configured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define EV CFG_SIG_EVENT

static void test_criteria_and_score(void **state)
{
    sigt_t *t = sigt_load(
        "    events:\n"
        "      - {name: outage, event_types: [outage, incident], severities: [critical], temporal: "
        "true}\n"
        "      - {name: bill, event_types: [billing], action_codes: ['ERR-[0-9]{4}'], patterns: "
        "{refund: ['money back']}}\n"
        "      - {name: any}\n",
        "[{type: event, name: outage}, {type: event, name: bill}, {type: event, name: any}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "Production is down, this is a SEV1, fix it immediately", NULL);
    const sig_result_t *r = sigt_get(t, EV, "outage");
    assert_true(r->matched);
    assert_true(r->score > 1.0 - 1e-9); /* 3 of 3 */
    assert_false(sigt_matched(t, EV, "bill"));
    assert_true(sigt_matched(t, EV, "any"));
    sigt_eval_prompt(t, "We had an incident last night", NULL);
    r = sigt_get(t, EV, "outage");
    assert_true(r->matched);
    assert_true(r->score > 0.5 + 0.5 / 3 - 1e-9 && r->score < 0.5 + 0.5 / 3 + 1e-9);
    sigt_eval_prompt(t, "I was charged twice, error ERR-1234, I want my money back", NULL);
    r = sigt_get(t, EV, "bill");
    assert_true(r->matched);
    assert_true(r->score > 1.0 - 1e-9);
    sigt_eval_prompt(t, "write me a haiku about autumn", NULL);
    assert_false(sigt_matched(t, EV, "outage"));
    assert_false(sigt_matched(t, EV, "any"));
    sigt_free(t);
}

static void test_unknown_event_type(void **state)
{
    sigt_t *t = sigt_load("    events:\n      - {name: x, event_types: [meteor]}\n",
                          "[{type: event, name: x}]");
    assert_null(t->e);
    assert_non_null(strstr(t->err, "unknown event type \"meteor\""));
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_criteria_and_score),
                                       cmocka_unit_test(test_unknown_event_type)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
