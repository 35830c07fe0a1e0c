/* test_saar_heldout.c - `bench saar --held-out` (issue 19): the domination
 * check (a dominated pair, pairs that are not: a trade-off, equal figures,
 * an unsafe switch), and a small held-out run whose rows, verdicts and JSON
 * agree with the check. The verdicts' values depend on the session policy of
 * the build and are reported, not asserted. */
#include "bench/saar_heldout.h"
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static saar_summary_t fig(long switches, long unsafe, double fair_cut, long under_served)
{
    saar_summary_t s = {0};
    s.turns = 1000;
    s.switches = switches;
    s.unsafe = unsafe;
    s.fair_cost_cut_pct = fair_cut;
    s.under_served = under_served;
    s.under_served_pct = under_served / 10.0;
    return s;
}

static void test_domination_check(void **st)
{
    (void)st;
    saar_summary_t ref = fig(200, 0, 72.76, 399);
    /* worse on every column: dominated */
    saar_summary_t worse = fig(250, 0, 70.00, 420);
    assert_true(saar_dominated(&worse, &ref));
    assert_false(saar_dominated(&ref, &worse));
    /* equal on three, worse on one (under-served): dominated */
    saar_summary_t one = fig(200, 0, 72.76, 400);
    assert_true(saar_dominated(&one, &ref));
    /* a trade-off (fewer under-served, smaller cut): neither dominates */
    saar_summary_t trade = fig(150, 0, 70.00, 350);
    assert_false(saar_dominated(&trade, &ref));
    assert_false(saar_dominated(&ref, &trade));
    /* identical figures: not dominated (nothing strictly better) */
    saar_summary_t same = ref;
    assert_false(saar_dominated(&same, &ref));
    assert_true(saar_tied(&same, &ref));
    assert_false(saar_tied(&one, &ref));
    assert_false(saar_tied(&trade, &ref));
    /* better on everything but one unsafe switch: not dominated, and it
     * does not dominate the reference either */
    saar_summary_t unsafe = fig(100, 1, 80.0, 300);
    assert_false(saar_dominated(&unsafe, &ref));
    assert_false(saar_dominated(&ref, &unsafe));
    /* an unsafe switch more, the rest equal: dominated */
    saar_summary_t unsafe_only = fig(200, 1, 72.76, 399);
    assert_true(saar_dominated(&unsafe_only, &ref));
}

static void test_small_held_out_run(void **st)
{
    (void)st;
    size_t n = 0;
    saar_heldout_workload_t *list = saar_heldout_default_list(&n, 4, 6);
    assert_true(n >= 8);
    /* every built-in workload differs from the tuned one (six scenarios,
     * seeds 20260530..34, 40 x 18) in seeds, scenarios or shape */
    for (size_t i = 0; i < n; i++) {
        assert_true(list[i].n_scenarios > 0 && list[i].n_seeds > 0);
        assert_int_equal(list[i].sessions, 4);
        assert_int_equal(list[i].turns, 6);
    }
    /* run two of them, tiny */
    saar_heldout_results_t r;
    char err[300] = "";
    if (saar_heldout_run(list, 3, &r, err, sizeof err)) fail_msg("%s", err);
    /* workload 0 and 1 have six scenarios each (a row each), 2 has one */
    assert_int_equal(r.n, 1 + 6 + 1 + 6 + 1);
    assert_string_equal(r.rows[0].workload, list[0].name);
    assert_string_equal(r.rows[0].scenario, "");
    assert_string_equal(r.rows[1].scenario, "balanced");
    for (size_t i = 0; i < r.n; i++) {
        const saar_heldout_row_t *row = &r.rows[i];
        assert_true(row->turns > 0);
        for (int a = 0; a < SAAR_HO_SUBJECTS; a++)
            for (int c = 0; c < SAAR_HO_REFERENCES; c++) {
                assert_int_equal(row->dominated[a][c],
                                 saar_dominated(&row->s[a], &row->s[SAAR_HO_SUBJECTS + c]));
                assert_int_equal(row->tied[a][c],
                                 saar_tied(&row->s[a], &row->s[SAAR_HO_SUBJECTS + c]));
            }
        for (int p = 0; p < SAAR_HO_POLICIES; p++)
            assert_int_equal(row->s[p].turns, row->turns);
    }
    buf_t b = BUF_INIT;
    saar_heldout_table(&r, &b);
    assert_non_null(strstr(b.data, "Per workload"));
    assert_non_null(strstr(b.data, "reference-session"));
    assert_non_null(strstr(b.data, "dominated by"));
    buf_reset(&b);
    saar_heldout_json(&r, &b);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), (int)r.n);
    cJSON *d = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "dominated");
    cJSON *dt = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "tether-defaults"), "reference-session");
    assert_true(cJSON_IsBool(dt));
    assert_int_equal(cJSON_IsTrue(dt), r.rows[0].dominated[1][0]);
    cJSON_Delete(j);
    buf_free(&b);
    saar_heldout_free(&r);
    saar_heldout_list_free(list, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domination_check),
        cmocka_unit_test(test_small_held_out_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
