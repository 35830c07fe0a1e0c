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
        cmocka_unit_test(test_window_samples_head_middle_tail),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
