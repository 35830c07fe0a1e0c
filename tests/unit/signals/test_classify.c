/* test_classify.c - the replies of external classifiers (signals/
 * classify_parse.c): vLLM /classify bodies with and without a labels table,
 * several inputs (chunks: the most positive wins), guard verdicts with a
 * category, unknown replies, and the head/middle/tail window of long text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "signals/classify.h"
#include <math.h>
#include <string.h>

static char *labels[] = {"benign", "jailbreak"};
static char *pos[] = {"jailbreak"};

static cfg_classifier_t binary(void)
{
    cfg_classifier_t k = {0};
    k.labels.v = labels;
    k.labels.n = 2;
    k.positive_labels.v = pos;
    k.positive_labels.n = 1;
    return k;
}

static arena_t a;

static int group_setup(void **st)
{
    arena_init(&a, 4096);
    return 0;
}

static int group_teardown(void **st)
{
    arena_deinit(&a);
    return 0;
}

static int parse(const cfg_classifier_t *k, const char *body, sig_cls_out_t *o, bool guard)
{
    memset(o, 0, sizeof *o);
    return guard ? sig_cls_parse_guard(k, body, strlen(body), &a, o)
                 : sig_cls_parse_classify(k, body, strlen(body), &a, o);
}

static void test_vllm_reply_positive_from_probs(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o;
    assert_int_equal(parse(&k,
                           "{\"object\":\"list\",\"data\":[{\"index\":0,\"label\":\"benign\","
                           "\"probs\":[0.7,0.3],\"num_classes\":2}]}",
                           &o, false),
                     0);
    assert_string_equal(o.label, "benign");
    assert_true(fabs(o.score - 0.7) < 1e-9);
    assert_true(fabs(o.positive - 0.3) < 1e-9);
}

static void test_vllm_reply_without_label_uses_table(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o;
    assert_int_equal(parse(&k, "{\"data\":[{\"probs\":[0.2,0.8]}]}", &o, false), 0);
    assert_string_equal(o.label, "jailbreak");
    assert_true(fabs(o.positive - 0.8) < 1e-9);
}

static void test_chunks_most_positive_wins(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o;
    assert_int_equal(parse(&k,
                           "{\"data\":[{\"label\":\"benign\",\"probs\":[0.9,0.1]},"
                           "{\"label\":\"jailbreak\",\"probs\":[0.4,0.6]}]}",
                           &o, false),
                     0);
    assert_string_equal(o.label, "jailbreak");
    assert_true(fabs(o.positive - 0.6) < 1e-9);
}

static void test_bad_replies_are_rejected(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o;
    assert_int_equal(parse(&k, "{\"data\":[]}", &o, false), -1);
    assert_int_equal(parse(&k, "{\"data\":[{\"label\":\"x\",\"probs\":[2]}]}", &o, false), -1);
    assert_int_equal(parse(&k, "not json", &o, false), -1);
    assert_int_equal(parse(&k, "{\"choices\":[{\"message\":{\"content\":\"maybe\"}}]}", &o, true),
                     -1);
}

static void test_guard_verdicts(void **st)
{
    cfg_classifier_t k = {0};
    sig_cls_out_t o;
    assert_int_equal(
        parse(&k, "{\"choices\":[{\"message\":{\"content\":\"\\n\\nunsafe\\nS1,S3\"}}]}", &o, true),
        0);
    assert_string_equal(o.label, "S1");
    assert_true(o.positive == 1);
    assert_int_equal(parse(&k, "{\"choices\":[{\"message\":{\"content\":\"safe\"}}]}", &o, true),
                     0);
    assert_string_equal(o.label, "safe");
    assert_true(o.positive == 0);
}

/* vLLM /pooling on a classification model: probabilities are taken as they
 * are, logits go through a softmax, one value is a binary score (sigmoid
 * when outside [0, 1]), a per-token matrix uses its last row; labels name
 * the classes, else LABEL_i. */
static void test_pooling_reply_probs_logits_and_score(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o = {0};
    const char *probs = "{\"object\":\"list\",\"data\":[{\"index\":0,\"object\":\"pooling\","
                        "\"data\":[0.2,0.8]}]}";
    assert_int_equal(sig_cls_parse_pooling(&k, probs, strlen(probs), &a, &o), 0);
    assert_string_equal(o.label, "jailbreak");
    assert_true(fabs(o.positive - 0.8) < 1e-9);
    const char *logits = "{\"data\":[{\"data\":[2.0,-1.0]}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_pooling(&k, logits, strlen(logits), &a, &o), 0);
    assert_string_equal(o.label, "benign");
    assert_true(fabs(o.positive - 1.0 / (1.0 + exp(3.0))) < 1e-9);
    const char *one = "{\"data\":[{\"data\":[0.7]}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_pooling(&k, one, strlen(one), &a, &o), 0);
    assert_string_equal(o.label, "jailbreak");
    assert_true(fabs(o.positive - 0.7) < 1e-9);
    const char *rows = "{\"data\":[{\"data\":[[0.9,0.1],[0.3,0.7]]}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_pooling(&k, rows, strlen(rows), &a, &o), 0);
    assert_true(fabs(o.positive - 0.7) < 1e-9);
    /* no labels: LABEL_i, and without positive_labels the complement */
    cfg_classifier_t bare = {0};
    const char *three = "{\"data\":[{\"data\":[0.1,0.2,0.7]}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_pooling(&bare, three, strlen(three), &a, &o), 0);
    assert_string_equal(o.label, "LABEL_2");
    assert_true(fabs(o.positive - 0.3) < 1e-9);
    /* several inputs (chunks): the most positive one */
    const char *chunks = "{\"data\":[{\"data\":[0.9,0.1]},{\"data\":[0.4,0.6]}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_pooling(&k, chunks, strlen(chunks), &a, &o), 0);
    assert_string_equal(o.label, "jailbreak");
    static const char *const bad[] = {"{\"data\":[]}", "{\"data\":[{\"data\":[]}]}",
                                      "{\"data\":[{\"data\":[\"x\"]}]}", "{\"data\":[{}]}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sig_cls_parse_pooling(&k, bad[i], strlen(bad[i]), &a, &o), -1);
}

/* vLLM /score: one score per label text, by index; the top label wins and
 * the positive probability is the best positive label's score; the reply
 * must hold exactly one score per label. */
static void test_score_reply_one_score_per_label(void **st)
{
    cfg_classifier_t k = binary();
    sig_cls_out_t o = {0};
    const char *body = "{\"object\":\"list\",\"data\":[{\"index\":1,\"object\":\"score\","
                       "\"score\":0.83},{\"index\":0,\"object\":\"score\",\"score\":0.12}]}";
    assert_int_equal(sig_cls_parse_score(&k, body, strlen(body), &a, &o), 0);
    assert_string_equal(o.label, "jailbreak");
    assert_true(fabs(o.score - 0.83) < 1e-9);
    assert_true(fabs(o.positive - 0.83) < 1e-9);
    const char *low = "{\"data\":[{\"index\":0,\"score\":0.9},{\"index\":1,\"score\":-0.2}]}";
    memset(&o, 0, sizeof o);
    assert_int_equal(sig_cls_parse_score(&k, low, strlen(low), &a, &o), 0);
    assert_string_equal(o.label, "benign");
    assert_true(fabs(o.positive) < 1e-9); /* cosines below 0 clamp to 0 */
    static const char *const bad[] = {
        "{\"data\":[{\"index\":0,\"score\":0.9}]}",                             /* one of two */
        "{\"data\":[{\"index\":0,\"score\":0.9},{\"index\":0,\"score\":0.1}]}", /* twice */
        "{\"data\":[{\"index\":0,\"score\":0.9},{\"index\":5,\"score\":0.1}]}",
        "{\"data\":[{\"index\":0,\"score\":\"x\"},{\"index\":1,\"score\":0.1}]}", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sig_cls_parse_score(&k, bad[i], strlen(bad[i]), &a, &o), -1);
    cfg_classifier_t none = {0}; /* no labels: nothing to score */
    assert_int_equal(sig_cls_parse_score(&none, body, strlen(body), &a, &o), -1);
}

static void test_window_samples_head_middle_tail(void **st)
{
    char text[300], out[300];
    for (int i = 0; i < 300; i++)
        text[i] = (char)('a' + i / 100); /* 100 a, 100 b, 100 c */
    size_t n = sig_cls_window(text, 300, 92, out);
    assert_true(n <= 92);
    assert_int_equal(out[0], 'a');
    assert_non_null(memchr(out, 'b', n));
    assert_int_equal(out[n - 1], 'c');
    assert_int_equal(sig_cls_window("short", 5, 92, out), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vllm_reply_positive_from_probs),
        cmocka_unit_test(test_vllm_reply_without_label_uses_table),
        cmocka_unit_test(test_chunks_most_positive_wins),
        cmocka_unit_test(test_bad_replies_are_rejected),
        cmocka_unit_test(test_guard_verdicts),
        cmocka_unit_test(test_pooling_reply_probs_logits_and_score),
        cmocka_unit_test(test_score_reply_one_score_per_label),
        cmocka_unit_test(test_window_samples_head_middle_tail),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
