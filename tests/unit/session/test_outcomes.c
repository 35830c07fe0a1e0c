/* test_outcomes.c - quality learned from outcomes (session/outcomes.h) and
 * the learned-state snapshot (session/learned_file.h): the adjustment is 0
 * without evidence, bounded, per decision when the decision has evidence
 * and per model otherwise, invalid outcomes are refused; a snapshot
 * restores priors and outcomes in a fresh instance, stores no session key,
 * skips malformed lines, and a missing file is an empty start; the elo
 * selector's ratings round-trip through the same file (issue 19). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hash.h"
#include "session/learned_file.h"
#include "session/outcomes.h"
#include "session/priors.h"
#include "select/select.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_adjustment_bounded_and_scoped(void **st)
{
    (void)st;
    sess_outcomes_t *o = sess_outcomes_new();
    sess_outcome_estimate_t e;
    assert_true(sess_outcomes_adjust(o, "coding", "big", 0.05, 10, &e) == 0);
    assert_false(e.per_decision);
    /* invalid */
    assert_int_equal(sess_outcomes_record(o, "coding", "big", 1.5), -1);
    assert_int_equal(sess_outcomes_record(o, "coding", "big", -0.1), -1);
    assert_int_equal(sess_outcomes_record(o, "coding", "", 1), -1);
    assert_int_equal(sess_outcomes_record(o, "coding", NULL, 1), -1);
    /* 10 failures in coding: -0.05 * 10 / 20 */
    for (int i = 0; i < 10; i++)
        assert_int_equal(sess_outcomes_record(o, "coding", "big", 0), 0);
    double a = sess_outcomes_adjust(o, "coding", "big", 0.05, 10, &e);
    assert_true(e.per_decision);
    assert_true(fabs(a + 0.025) < 1e-12);
    /* another decision without evidence falls back to the model's entry */
    double b = sess_outcomes_adjust(o, "writing", "big", 0.05, 10, &e);
    assert_false(e.per_decision);
    assert_true(fabs(b + 0.025) < 1e-12);
    /* never beyond the bound, whatever the evidence */
    for (int i = 0; i < 5000; i++)
        sess_outcomes_record(o, "writing", "big", 1);
    double c = sess_outcomes_adjust(o, "writing", "big", 0.05, 10, &e);
    assert_true(c > 0.045 && c <= 0.05);
    assert_true(e.good + e.bad <= SESS_OUTCOMES_MAX_WEIGHT); /* halved as it grew */
    /* bound 0: learning off */
    assert_true(sess_outcomes_adjust(o, "writing", "big", 0, 10, NULL) == 0);
    sess_outcomes_free(o);
}

static void test_snapshot_round_trip(void **st)
{
    (void)st;
    char path[64];
    snprintf(path, sizeof path, "/tmp/tether-learned-%d.tsv", (int)getpid());
    unlink(path);
    sess_priors_t *p = sess_priors_new();
    sess_outcomes_t *o = sess_outcomes_new();
    char err[300];
    size_t skipped = 9;
    /* no file yet: nothing learned, no error */
    assert_int_equal(sess_learned_load(path, p, o, NULL, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 0);
    sess_priors_observe(p, "coding", "tenant\x1fheader\x1fsecret-session-id", 5);
    sess_priors_observe(p, "coding", "tenant\x1fheader\x1fother", 3);
    sess_priors_observe(p, "coding", "tenant\x1fheader\x1fthird", 4);
    sess_outcomes_record(o, "coding", "big", 0);
    sess_outcomes_record(o, NULL, "cheap", 1);
    assert_int_equal(sess_learned_save(path, p, o, NULL, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_null(strstr(buf, "secret-session-id")); /* hashes only */
    /* a malformed line is skipped, the rest restored */
    f = fopen(path, "a");
    fputs("prior\tcoding\tzz\tnot-a-number\ngarbage\n", f);
    fclose(f);
    sess_priors_t *p2 = sess_priors_new();
    sess_outcomes_t *o2 = sess_outcomes_new();
    assert_int_equal(sess_learned_load(path, p2, o2, NULL, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 2);
    assert_true(fabs(sess_priors_get(p2, "coding", 3) - sess_priors_get(p, "coding", 3)) < 1e-12);
    assert_true(fabs(sess_priors_get(p2, "coding", 3) - 3.0) < 1e-12); /* mean 4, minus 1 */
    /* the restored session counts once when it continues */
    sess_priors_observe(p2, "coding", "tenant\x1fheader\x1fsecret-session-id", 8);
    assert_int_equal(sess_priors_samples(p2, "coding"), 3);
    assert_true(sess_outcomes_adjust(o2, "coding", "big", 0.05, 10, NULL) ==
                sess_outcomes_adjust(o, "coding", "big", 0.05, 10, NULL));
    assert_true(sess_outcomes_adjust(o2, NULL, "cheap", 0.05, 10, NULL) > 0);
    /* not a snapshot */
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    assert_int_equal(sess_learned_load(path, p2, o2, NULL, NULL, err, sizeof err), -1);
    unlink(path);
    sess_priors_free(p);
    sess_priors_free(p2);
    sess_outcomes_free(o);
    sess_outcomes_free(o2);
}

static void elo_sum(void *ud, const char *decision, const char *model, double rating)
{
    (void)decision, (void)model;
    double *acc = ud;
    acc[0] += 1;
    acc[1] += rating;
}

static void test_snapshot_round_trips_elo_ratings(void **st)
{
    (void)st;
    char path[64];
    snprintf(path, sizeof path, "/tmp/tether-learned-elo-%d.tsv", (int)getpid());
    unlink(path);
    sess_priors_t *p = sess_priors_new();
    sess_outcomes_t *o = sess_outcomes_new();
    sel_state_t *s = sel_state_new();
    sel_elo_set(s, "coding", "big", 1900.0 - 16.0 / 3.0); /* not a round number */
    sel_elo_set(s, "coding", "cheap", 1612.25);
    sel_elo_set(s, "writing", "big", 1333.0);
    sess_outcomes_record(o, "coding", "big", 1);
    char err[300];
    assert_int_equal(sess_learned_save(path, p, o, s, err, sizeof err), 0);
    /* a rating that is not a number, an infinite one, a short line: skipped */
    FILE *f = fopen(path, "a");
    fputs("elo\tcoding\tsmall\tabc\nelo\tcoding\tsmall\tinf\nelo\tcoding\tsmall\n", f);
    fclose(f);
    sess_priors_t *p2 = sess_priors_new();
    sess_outcomes_t *o2 = sess_outcomes_new();
    sel_state_t *s2 = sel_state_new();
    size_t skipped = 0;
    assert_int_equal(sess_learned_load(path, p2, o2, s2, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 3);
    /* exact: ratings are written with 17 significant digits */
    assert_true(sel_elo_rating(s2, "coding", "big", 0) == 1900.0 - 16.0 / 3.0);
    assert_true(sel_elo_rating(s2, "coding", "cheap", 0) == 1612.25);
    assert_true(sel_elo_rating(s2, "writing", "big", 0) == 1333.0);
    assert_true(sel_elo_rating(s2, "coding", "small", 42) == 42); /* never restored */
    double acc[2] = {0, 0};
    sel_elo_each(s2, elo_sum, acc);
    assert_true(acc[0] == 3);
    /* the outcomes beside them are restored as before */
    assert_true(sess_outcomes_adjust(o2, "coding", "big", 0.05, 10, NULL) ==
                sess_outcomes_adjust(o, "coding", "big", 0.05, 10, NULL));
    /* without a selector state the elo lines are accepted and ignored */
    sess_outcomes_t *o3 = sess_outcomes_new();
    assert_int_equal(sess_learned_load(path, p2, o3, NULL, &skipped, err, sizeof err), 0);
    assert_int_equal(skipped, 3);
    /* restored ratings are bounded: a new pair past SEL_ELO_MAX is refused */
    sel_state_t *s3 = sel_state_new();
    char m[32];
    for (int i = 0; i < SEL_ELO_MAX; i++) {
        snprintf(m, sizeof m, "m%d", i);
        assert_true(sel_elo_restore(s3, "d", m, 1500));
    }
    assert_false(sel_elo_restore(s3, "d", "one-more", 1500));
    assert_true(sel_elo_restore(s3, "d", "m7", 1501)); /* an existing pair still moves */
    assert_true(sel_elo_rating(s3, "d", "m7", 0) == 1501);
    assert_false(sel_elo_restore(s3, "d", "m7", NAN));
    unlink(path);
    sel_state_free(s);
    sel_state_free(s2);
    sel_state_free(s3);
    sess_priors_free(p);
    sess_priors_free(p2);
    sess_outcomes_free(o);
    sess_outcomes_free(o2);
    sess_outcomes_free(o3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adjustment_bounded_and_scoped),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_snapshot_round_trips_elo_ratings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
