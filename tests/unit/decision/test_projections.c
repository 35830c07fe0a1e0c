/* test_projections.c - projections (SPEC §6.3): exclusive and
 * softmax_exclusive partitions with their default, weighted_sum scores with
 * binary/confidence/raw inputs, threshold_bands mappings with and without
 * sigmoid_distance calibration, and decisions reading outputs with
 * type: projection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "dec_fixture.h"

#define PHEAD                                                                                      \
    "version: v0.3\n"                                                                              \
    "providers:\n"                                                                                 \
    "  defaults: {default_model: small}\n"                                                         \
    "  models:\n"                                                                                  \
    "    - {name: small, backend_refs: [{endpoint: 'h:1'}]}\n"                                     \
    "    - {name: large, backend_refs: [{endpoint: 'h:2'}]}\n"                                     \
    "routing:\n"                                                                                   \
    "  modelCards: [{name: small}, {name: large}]\n"                                               \
    "  signals:\n"                                                                                 \
    "    domains: [{name: math}, {name: code}, {name: other}]\n"                                   \
    "    keywords: [{name: kw_a, keywords: [a]}]\n"                                                \
    "    context: [{name: ctx, min_tokens: 1K}]\n"                                                 \
    "  projections:\n"                                                                             \
    "    partitions:\n"                                                                            \
    "      - {name: subject, semantics: %s, members: [math, code, other], default: other}\n"       \
    "    scores:\n"                                                                                \
    "      - name: difficulty\n"                                                                   \
    "        method: weighted_sum\n"                                                               \
    "        inputs:\n"                                                                            \
    "          - {type: keyword, name: kw_a, weight: 0.5, value_source: binary}\n"                 \
    "          - {type: domain, name: math, weight: 0.3, value_source: confidence}\n"              \
    "          - {type: context, name: ctx, weight: 0.001, value_source: raw}\n"                   \
    "    mappings:\n"                                                                              \
    "      - name: bands\n"                                                                        \
    "        source: difficulty\n"                                                                 \
    "        method: threshold_bands\n"                                                            \
    "        %s\n"                                                                                 \
    "        outputs: [{name: easy_band, lt: 0.5}, {name: hard_band, gte: 0.5, lt: 2}]\n"          \
    "  decisions:\n"                                                                               \
    "    - {name: hard, rules: {type: projection, name: hard_band}, modelRefs: [{model: "          \
    "large}]}\n"                                                                                   \
    "    - {name: by_subject, rules: {type: projection, name: subject, label: code},"              \
    " modelRefs: [{model: small}]}\n"                                                              \
    "    - {name: mathy, rules: {type: domain, name: math}, modelRefs: [{model: small}]}\n"

static cfg_t *pcfg(const char *sem, const char *calibration)
{
    char y[8192];
    snprintf(y, sizeof y, PHEAD, sem, calibration);
    return load(y);
}

static void test_exclusive_partition_keeps_best_matched(void **st)
{
    cfg_t *c = pcfg("exclusive", "calibration: {method: sigmoid_distance, slope: 10}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "math", 0.6);
    hit(&s, "code", 0.8);
    dec_proj_t p;
    dec_project(recipe(c), &s, &a, &p);
    const dec_proj_out_t *o = dec_proj_find(&p, "subject");
    assert_non_null(o);
    assert_true(o->matched);
    assert_string_equal(o->label, "code");
    assert_true(o->confidence == 0.8);
    assert_true(res(&s, "math")->matched); /* the input is not modified */
    assert_false(res(&p.sig, "math")->matched);
    assert_true(res(&p.sig, "code")->matched);

    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_string_equal(r.name, "by_subject");
    assert_false(r.traces[2].matched); /* mathy lost the partition */
    arena_deinit(&a);
    cfg_free(c);
}

static void test_partition_default_when_none_matched(void **st)
{
    cfg_t *c = pcfg("exclusive", "");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    res(&s, "math")->score = 0.2; /* scored under threshold: not matched */
    dec_proj_t p;
    dec_project(recipe(c), &s, &a, &p);
    const dec_proj_out_t *o = dec_proj_find(&p, "subject");
    assert_true(o->matched);
    assert_string_equal(o->label, "other");
    assert_true(o->confidence == 0);
    assert_true(res(&p.sig, "other")->matched);
    assert_true(res(&p.sig, "other")->score == 0);
    assert_false(res(&p.sig, "math")->matched);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_softmax_partition(void **st)
{
    cfg_t *c = pcfg("softmax_exclusive, temperature: 0.5", "");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "math", 0.6);
    res(&s, "code")->score = 0.8; /* highest raw score wins even unmatched */
    dec_proj_t p;
    dec_project(recipe(c), &s, &a, &p);
    const dec_proj_out_t *o = dec_proj_find(&p, "subject");
    double want = exp(0.8 / 0.5) / (exp(0.6 / 0.5) + exp(0.8 / 0.5) + exp(0));
    assert_string_equal(o->label, "code");
    assert_true(fabs(o->confidence - want) < 1e-12);
    assert_true(fabs(res(&p.sig, "code")->score - want) < 1e-12);
    assert_true(res(&p.sig, "code")->matched);
    assert_false(res(&p.sig, "math")->matched);
    arena_deinit(&a);
    cfg_free(c);
}

static void test_score_and_calibrated_bands(void **st)
{
    cfg_t *c = pcfg("exclusive", "calibration: {method: sigmoid_distance, slope: 10}");
    arena_t a;
    arena_init(&a, 4096);
    sig_results_t s = results(&a, recipe(c));
    hit(&s, "kw_a", 0.3); /* binary: counts 1 */
    hit(&s, "math", 0.5); /* confidence: 0.5 */
    res(&s, "ctx")->has_value = true;
    res(&s, "ctx")->value = 200; /* raw, unmatched: still 200 */
    dec_proj_t p;
    dec_project(recipe(c), &s, &a, &p);
    const dec_proj_score_t *sc = dec_proj_score(&p, "difficulty");
    assert_true(fabs(sc->value - (0.5 + 0.3 * 0.5 + 0.2)) < 1e-12);
    const dec_proj_out_t *hb = dec_proj_find(&p, "hard_band"), *eb = dec_proj_find(&p, "easy_band");
    assert_true(hb->matched);
    assert_false(eb->matched);
    /* nearest edge of [0.5, 2) from 0.85 is 0.5 at distance 0.35 */
    assert_true(fabs(hb->confidence - 1 / (1 + exp(-10 * 0.35))) < 1e-9);
    dec_result_t r;
    dec_eval(c, recipe(c), &s, &a, &r);
    assert_string_equal(r.name, "hard");
    assert_true(fabs(r.confidence - hb->confidence) < 1e-12);
    cfg_free(c);

    c = pcfg("exclusive", "");
    s = results(&a, recipe(c));
    hit(&s, "kw_a", 1);
    dec_project(recipe(c), &s, &a, &p);
    hb = dec_proj_find(&p, "hard_band");
    assert_true(hb->matched);
    assert_true(hb->confidence == 1.0); /* uncalibrated */
    hit(&s, "math", 1);
    res(&s, "ctx")->has_value = true;
    res(&s, "ctx")->value = 2000; /* 0.5 + 0.3 + 2 = 2.8: above the band */
    dec_project(recipe(c), &s, &a, &p);
    assert_false(dec_proj_find(&p, "hard_band")->matched);
    assert_false(dec_proj_find(&p, "easy_band")->matched);
    arena_deinit(&a);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exclusive_partition_keeps_best_matched),
        cmocka_unit_test(test_partition_default_when_none_matched),
        cmocka_unit_test(test_softmax_partition),
        cmocka_unit_test(test_score_and_calibrated_bands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
