/* test_script.c - the mock's JSON-lines fault script: fields, defaults,
 * comments and blank lines, order, rewind, and errors with line numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mock/mock_script.h"

static void test_steps_in_order(void **state)
{
    const char *t = "# comment\n"
                    "{\"status\":503}\n"
                    "\n"
                    "{\"delay_ms\":20,\"reset_after_bytes\":7}\n"
                    "{\"status\":200,\"body\":{\"ok\":true}}\r\n"
                    "{}";
    char err[128];
    mock_script_t *s = mock_script_parse(t, strlen(t), "x.jsonl", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mock_script_len(s), 4);
    const mock_step_t *st = mock_script_next(s);
    assert_int_equal(st->status, 503);
    assert_null(st->body);
    assert_true(st->reset_after_bytes < 0);
    st = mock_script_next(s);
    assert_int_equal(st->status, 0);
    assert_int_equal(st->delay_ms, 20);
    assert_int_equal(st->reset_after_bytes, 7);
    st = mock_script_next(s);
    assert_string_equal(st->body, "{\"ok\":true}");
    st = mock_script_next(s);
    assert_int_equal(st->status, 0);
    assert_null(st->body);
    assert_null(mock_script_next(s));
    mock_script_rewind(s);
    assert_int_equal(mock_script_next(s)->status, 503);
    mock_script_free(s);
}

static void test_errors_name_the_line(void **state)
{
    char err[128];
    const char *t = "{}\n{\"status\":\"x\"}\n";
    assert_null(mock_script_parse(t, strlen(t), "f.jsonl", err, sizeof err));
    assert_non_null(strstr(err, "f.jsonl:2:"));
    assert_non_null(strstr(err, "status"));
    t = "{}\n\nnot json\n";
    assert_null(mock_script_parse(t, strlen(t), "f.jsonl", err, sizeof err));
    assert_non_null(strstr(err, "f.jsonl:3:"));
    assert_null(mock_script_load("/nonexistent/script.jsonl", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_in_order),
        cmocka_unit_test(test_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
