/* test_engine.c - the signal engine: only referenced families run (leaves
 * anywhere in a rule tree, projection score inputs), results in recipe
 * order, unreferenced rules untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

static void test_only_referenced_families_run(void **state)
{
    sigt_t *t = sigt_load("    keywords: [{name: k, keywords: [segfault]}]\n"
                          "    pii: [{name: p}]\n"
                          "    context: [{name: c, min_tokens: 1}]\n",
                          "[{type: keyword, name: k}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "segfault, mail a@b.example.com", NULL);
    assert_true(t->res.family_ran[CFG_SIG_KEYWORD]);
    assert_false(t->res.family_ran[CFG_SIG_PII]);
    assert_false(t->res.family_ran[CFG_SIG_CONTEXT]);
    assert_int_equal(t->res.n, 3);
    assert_true(sigt_matched(t, CFG_SIG_KEYWORD, "k"));
    assert_false(sigt_matched(t, CFG_SIG_PII, "p")); /* not evaluated */
    assert_true(sig_recipe_uses(t->e, &t->cfg->routing->recipes[0], CFG_SIG_KEYWORD));
    assert_false(sig_recipe_uses(t->e, &t->cfg->routing->recipes[0], CFG_SIG_PII));
    sigt_free(t);
}

static void test_nested_leaves_count(void **state)
{
    sigt_t *t = sigt_load("    keywords: [{name: k, keywords: [segfault]}]\n"
                          "    pii: [{name: p}]\n",
                          "[{operator: AND, conditions: [{type: keyword, name: k},"
                          " {operator: NOT, conditions: [{type: pii, name: p}]}]}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "segfault, mail a@b.example.com", NULL);
    assert_true(t->res.family_ran[CFG_SIG_PII]);
    assert_true(sigt_matched(t, CFG_SIG_PII, "p"));
    assert_ptr_equal(t->res.items[0].rule, &t->cfg->routing->recipes[0].signals[0]);
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_referenced_families_run),
        cmocka_unit_test(test_nested_leaves_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
