/* test_priors.c - learned remaining-turn priors (SPEC §9.10
 * learn_remaining_turn_priors): mean session length − 1 per decision,
 * grouped by session id (a session counts once, with the longest length it
 * reached), nothing below min samples, decisions kept apart, the window
 * forgets the oldest sessions, concurrent feeders lose nothing; and through
 * route_eval: the pipeline uses the learned prior, a configured prior wins,
 * learn_remaining_turn_priors: false turns it off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "route/eval.h"
#include "session/priors.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void test_mean_length_minus_one_grouped_by_session(void **st)
{
    sess_priors_t *p = sess_priors_new();
    assert_true(sess_priors_get(p, "code", 1) < 0);
    /* s1 reaches 4 turns, s2 2 turns, s3 6 turns (turns arrive one by one) */
    for (int t = 1; t <= 4; t++)
        sess_priors_observe(p, "code", "s1", t);
    for (int t = 1; t <= 2; t++)
        sess_priors_observe(p, "code", "s2", t);
    assert_int_equal(sess_priors_samples(p, "code"), 2);
    assert_true(sess_priors_get(p, "code", 3) < 0);    /* below min samples */
    assert_true(sess_priors_get(p, "code", 2) == 2.0); /* (4+2)/2 − 1 */
    for (int t = 1; t <= 6; t++)
        sess_priors_observe(p, "code", "s3", t);
    assert_int_equal(sess_priors_samples(p, "code"), 3);
    assert_true(sess_priors_get(p, "code", 3) == 3.0); /* (4+2+6)/3 − 1 */
    /* a repeated or older turn count does not shrink a session */
    sess_priors_observe(p, "code", "s1", 2);
    sess_priors_observe(p, "code", "s1", 4);
    assert_true(sess_priors_get(p, "code", 3) == 3.0);
    /* decisions are apart; empty names are ignored */
    sess_priors_observe(p, "chat", "s1", 1);
    assert_true(sess_priors_get(p, "chat", 1) == 0.0);
    assert_true(sess_priors_get(p, "code", 3) == 3.0);
    sess_priors_observe(p, "", "s9", 5);
    sess_priors_observe(p, "code", "", 5);
    sess_priors_observe(p, "code", "s9", 0);
    assert_int_equal(sess_priors_samples(p, "code"), 3);
    assert_int_equal(sess_priors_samples(p, ""), 0);
    /* min_samples below 1 means 1 */
    assert_true(sess_priors_get(p, "chat", 0) == 0.0);
    sess_priors_clear(p);
    assert_true(sess_priors_get(p, "code", 1) < 0);
    sess_priors_free(p);
}

static void test_window_forgets_oldest(void **st)
{
    sess_priors_t *p = sess_priors_new();
    char k[32];
    /* a full window of 11-turn sessions, then a full window of 3-turn ones */
    for (int i = 0; i < SESS_PRIORS_WINDOW; i++) {
        snprintf(k, sizeof k, "old%d", i);
        sess_priors_observe(p, "d", k, 11);
    }
    assert_true(sess_priors_get(p, "d", 3) == 10.0);
    for (int i = 0; i < SESS_PRIORS_WINDOW; i++) {
        snprintf(k, sizeof k, "new%d", i);
        sess_priors_observe(p, "d", k, 3);
    }
    assert_int_equal(sess_priors_samples(p, "d"), SESS_PRIORS_WINDOW);
    assert_true(sess_priors_get(p, "d", 3) == 2.0);
    sess_priors_free(p);
}

typedef struct feeder {
    sess_priors_t *p;
    int id;
} feeder_t;

static void *feed(void *arg)
{
    feeder_t *f = arg;
    char k[32];
    for (int s = 0; s < 100; s++) {
        snprintf(k, sizeof k, "t%d-s%d", f->id, s);
        for (int t = 1; t <= 5; t++)
            sess_priors_observe(f->p, "d", k, t);
    }
    return NULL;
}

static void test_concurrent_feeders(void **st)
{
    sess_priors_t *p = sess_priors_new();
    pthread_t th[4];
    feeder_t f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (feeder_t){p, i};
        pthread_create(&th[i], NULL, feed, &f[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(sess_priors_samples(p, "d"), 400);
    assert_true(sess_priors_get(p, "d", 3) == 4.0);
    sess_priors_free(p);
}

/* ---- through the pipeline ---- */

static cfg_t *load(const char *session)
{
    char y[4096];
    snprintf(y, sizeof y,
             "version: v0.3\n"
             "providers:\n"
             "  defaults: {default_model: a}\n"
             "  models:\n"
             "    - {name: a, backend_refs: [{endpoint: 'h:1'}]}\n"
             "routing:\n"
             "  modelCards: [{name: a}]\n"
             "  decisions:\n"
             "    - {name: learned_d, modelRefs: [{model: a}]}\n"
             "global:\n"
             "  router:\n"
             "    session: %s\n",
             session);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", y, strlen(y), NULL, &d);
    if (!c) cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    assert_non_null(c);
    return c;
}

static double prior_via_eval(const cfg_t *cfg)
{
    static const char *body =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    route_env_t env = {0};
    route_eval_in_t in = {.cfg = cfg, .env = &env, .body = body, .body_len = strlen(body)};
    arena_t a;
    arena_init(&a, 65536);
    route_plan_t plan;
    char err[256];
    assert_int_equal(route_eval(&in, &a, &plan, err, sizeof err), 0);
    assert_int_equal(plan.status, ROUTE_OK);
    assert_string_equal(plan.decision_name, "learned_d");
    double r = plan.facts.remaining_turn_prior;
    arena_deinit(&a);
    return r;
}

static void test_pipeline_uses_learned_prior(void **st)
{
    sess_priors_t *p = sess_priors_shared();
    sess_priors_clear(p);
    cfg_t *cfg = load("{min_remaining_turn_prior_samples: 2}");
    assert_true(prior_via_eval(cfg) < 0); /* nothing learned yet */
    sess_priors_observe(p, "learned_d", "a", 3);
    assert_true(prior_via_eval(cfg) < 0); /* one session < 2 */
    sess_priors_observe(p, "learned_d", "b", 7);
    assert_true(prior_via_eval(cfg) == 4.0); /* (3+7)/2 − 1 */
    cfg_free(cfg);

    /* a configured prior wins */
    cfg = load("{min_remaining_turn_prior_samples: 2, remaining_turn_priors: {learned_d: 9}}");
    assert_true(prior_via_eval(cfg) == 9.0);
    cfg_free(cfg);

    /* learning off */
    cfg = load("{learn_remaining_turn_priors: false, min_remaining_turn_prior_samples: 2}");
    assert_true(prior_via_eval(cfg) < 0);
    cfg_free(cfg);
    sess_priors_clear(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_length_minus_one_grouped_by_session),
        cmocka_unit_test(test_window_forgets_oldest),
        cmocka_unit_test(test_concurrent_feeders),
        cmocka_unit_test(test_pipeline_uses_learned_prior),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
