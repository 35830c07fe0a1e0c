/* test_language.c - the language family on short prompts: rule per ISO
 * code, threshold, family label for built-in leaves, fallback to en. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define L CFG_SIG_LANGUAGE

static void test_short_prompts(void **state)
{
    sigt_t *t = sigt_load(
        "    language:\n      - {name: en}\n      - {name: fr}\n      - {name: zh}\n      - {name: "
        "ko}\n",
        "[{type: language, name: en}, {type: language, name: fr}, {type: language, name: zh},"
        " {type: language, name: ko}, {type: language, name: de}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "Bonjour, comment ça va aujourd'hui ?", NULL);
    assert_true(sigt_matched(t, L, "fr"));
    assert_false(sigt_matched(t, L, "en"));
    assert_string_equal(t->res.family_label[L], "fr");
    sigt_eval_prompt(t, "你好吗", NULL);
    assert_true(sigt_matched(t, L, "zh"));
    sigt_eval_prompt(t, "안녕하세요", NULL);
    assert_true(sigt_matched(t, L, "ko"));
    sigt_eval_prompt(t, "Wie spät ist es jetzt in Berlin?", NULL);
    assert_string_equal(t->res.family_label[L], "de"); /* built-in leaf, no rule */
    sigt_eval_prompt(t, "", NULL);
    assert_true(sigt_matched(t, L, "en"));
    assert_true(t->res.family_score[L] == 0.5);
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_short_prompts)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
