/* test_context.c - the context family: the token estimate (text, per
 * message, tool definitions, images), K suffixes, min/max, and per-model
 * calibration (EMA after 10 samples, clamped) carried across engines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "sig_fixture.h"

#define C CFG_SIG_CONTEXT

static void test_estimate_and_bounds(void **state)
{
    sigt_t *t = sigt_load("    context:\n      - {name: small, max_tokens: 100}\n      - {name: "
                          "big, min_tokens: 1K}\n",
                          "[{type: context, name: small}, {type: context, name: big}]");
    assert_non_null(t->e);
    /* 40 bytes -> 10 tokens + 4; tools: 24 bytes -> 6; one image: 765 */
    const char *body =
        "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\"}],\"messages\":["
        "{\"role\":\"user\",\"content\":\"0123456789012345678901234567890123456\"}]}";
    sigt_eval_body(t, body, strlen(body), NULL, NULL, 0);
    const sig_result_t *r = sigt_get(t, C, "small");
    assert_true(r->has_value);
    assert_int_equal((int)r->value, 10 + 4 + 6);
    assert_true(r->matched);
    assert_false(sigt_matched(t, C, "big"));
    const char *img =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"what is this\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
        "png;base64,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}]}]}";
    sigt_eval_body(t, img, strlen(img), NULL, NULL, 0);
    r = sigt_get(t, C, "big");
    assert_int_equal((int)r->value, 3 + 4 + 765); /* image data bytes are not text */
    assert_false(r->matched);
    sigt_free(t);
}

/* The estimate (summed in integers) equals the formula summed in doubles,
 * ceil(bytes / 4.0) + 4 per message, on many generated requests without
 * images (rq_msg_text is only asked for messages with images). */
static void test_estimate_equals_double_formula(void **state)
{
    uint64_t rng = 0x243f6a8885a308d3ull;
    rq_msg_t msgs[64];
    for (int k = 0; k < 20000; k++) {
        rq_t rq;
        memset(&rq, 0, sizeof rq);
        memset(msgs, 0, sizeof msgs);
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        rq.n_msgs = (size_t)(rng >> 58);
        rq.msgs = msgs;
        double want = 0;
        for (size_t i = 0; i < rq.n_msgs; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t b = (uint32_t)(rng >> 33) >> (rng >> 59); /* every magnitude */
            msgs[i].text_bytes = b;
            want += ceil((double)b / 4.0) + 4.0;
        }
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        rq.tools.len = (size_t)(rng >> 40) >> (rng & 31);
        rq.n_images = (size_t)(rng >> 20) & 7;
        want += ceil((double)rq.tools.len / 4.0);
        want += 765.0 * (double)rq.n_images;
        assert_true(sig_context_estimate(&rq) == want);
    }
    assert_true(sig_context_estimate(NULL) == 0);
}

static void test_calibration(void **state)
{
    sigt_t *t = sigt_load("    context:\n      - {name: small, max_tokens: 100}\n",
                          "[{type: context, name: small}]");
    uint64_t n;
    for (int i = 0; i < 9; i++)
        sig_context_observe(t->e, "m", 100, 150);
    assert_true(sig_context_factor(t->e, "m", &n) == 1.0); /* fewer than 10 samples */
    assert_int_equal(n, 9);
    sig_context_observe(t->e, "m", 100, 150);
    double f = sig_context_factor(t->e, "m", NULL);
    assert_true(f > 1.49 && f < 1.51);
    for (int i = 0; i < 100; i++)
        sig_context_observe(t->e, "huge", 10, 1000);
    assert_true(sig_context_factor(t->e, "huge", NULL) == 2.0); /* clamped */
    sig_env_t env = {.calibration_model = "m"};
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"0123456789012345678901234567890123456\"}]}";
    sigt_eval_body(t, body, strlen(body), &env, NULL, 0);
    assert_int_equal((int)sigt_get(t, C, "small")->value, 21); /* 14 * 1.5 */
    /* EMA: one more sample moves 10% of the way */
    sig_context_observe(t->e, "m", 100, 50);
    f = sig_context_factor(t->e, "m", NULL);
    assert_true(f > 1.4 - 1e-9 && f < 1.4 + 1e-9);
    /* hot reload keeps the table */
    sig_engine_t *e2 = sig_engine_new(t->cfg, NULL);
    sig_context_carry(e2, t->e);
    assert_true(sig_context_factor(e2, "m", &n) == f);
    assert_int_equal(n, 11);
    sig_engine_free(e2);
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_estimate_and_bounds),
                                       cmocka_unit_test(test_estimate_equals_double_formula),
                                       cmocka_unit_test(test_calibration)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
