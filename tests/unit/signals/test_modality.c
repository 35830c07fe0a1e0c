/* test_modality.c - the modality family (keyword method): AR, DIFFUSION and
 * BOTH rules, user keywords and both_keywords, family label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define MD CFG_SIG_MODALITY

static void test_labels(void **state)
{
    sigt_t *t = sigt_load("    modality:\n"
                          "      - {name: AR}\n"
                          "      - {name: DIFFUSION, keywords: [visualise]}\n"
                          "      - {name: BOTH, both_keywords: [illustrated guide]}\n",
                          "[{type: modality, name: AR}, {type: modality, name: DIFFUSION}, {type: "
                          "modality, name: BOTH}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "Generate an image of a red fox in the snow", NULL);
    assert_true(sigt_matched(t, MD, "DIFFUSION"));
    assert_false(sigt_matched(t, MD, "AR"));
    assert_true(sigt_get(t, MD, "DIFFUSION")->score == 0.8);
    assert_string_equal(t->res.family_label[MD], "DIFFUSION");
    sigt_eval_prompt(t, "Draw me a picture of a castle and explain its history", NULL);
    assert_true(sigt_matched(t, MD, "BOTH"));
    assert_true(sigt_get(t, MD, "BOTH")->score == 0.75);
    sigt_eval_prompt(t, "What is the boiling point of water?", NULL);
    assert_true(sigt_matched(t, MD, "AR"));
    assert_true(sigt_get(t, MD, "AR")->score == 1.0);
    sigt_eval_prompt(t, "visualise a galaxy", NULL);
    assert_true(sigt_matched(t, MD, "DIFFUSION"));
    sigt_eval_prompt(t, "make an illustrated guide to knots", NULL);
    assert_true(sigt_matched(t, MD, "BOTH"));
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_labels)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
