/* test_import_hostile.c - `tether config import` on inventories with absurd
 * numbers (found by tests/fuzz/fuzz_import): an OpenClaw contextWindow or a
 * /models max_model_len beyond any real window (1e65, 1e300) was converted
 * to an integer with undefined behaviour, and one that fits (1e19) was
 * written into the config; above 1e12 tokens it now reads as unknown (0),
 * a sane one is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/migrate.h"
#include <string.h>

static void test_openclaw_absurd_context_window_is_unknown(void **st)
{
    (void)st;
    static const char inv[] =
        "{\"models\":{\"providers\":{\"p\":{\"baseUrl\":\"https://api.example.com/v1\","
        "\"api\":\"openai-completions\",\"models\":[{\"id\":\"a\",\"contextWindow\":2.2e65},"
        "{\"id\":\"c\",\"contextWindow\":1e19},"
        "{\"id\":\"b\",\"contextWindow\":128000}]}}}}";
    cfg_import_t im;
    cfg_import_init(&im);
    assert_true(cfg_import_read_openclaw(&im, "openclaw.json", inv, strlen(inv)));
    assert_int_equal(im.n_providers, 1);
    assert_int_equal(im.providers[0].n_models, 3);
    assert_int_equal(im.providers[0].models[0].context_window, 0);
    assert_int_equal(im.providers[0].models[1].context_window, 0); /* 1e19: no real window */
    assert_int_equal(im.providers[0].models[2].context_window, 128000);
    cfg_import_deinit(&im);
}

static void test_models_listing_absurd_max_model_len_is_unknown(void **st)
{
    (void)st;
    static const char body[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"x\",\"max_model_len\":1e300},"
        "{\"id\":\"z\",\"max_model_len\":1e19},"
        "{\"id\":\"y\",\"max_model_len\":8192}]}";
    cfg_import_t im;
    cfg_import_init(&im);
    assert_true(
        cfg_import_read_openai(&im, "local", "http://127.0.0.1:9/v1", NULL, body, strlen(body)));
    assert_int_equal(im.providers[0].n_models, 3);
    assert_int_equal(im.providers[0].models[0].context_window, 0);
    assert_int_equal(im.providers[0].models[1].context_window, 0);
    assert_int_equal(im.providers[0].models[2].context_window, 8192);
    cfg_import_deinit(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openclaw_absurd_context_window_is_unknown),
        cmocka_unit_test(test_models_listing_absurd_max_model_len_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
