/* test_authz.c - the authz family: User and Group subjects, the client
 * key's name, team and metadata (kinds Key, Team, Metadata), roles shared
 * by bindings, trusted identity headers, and the no_identity error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define AZ CFG_SIG_AUTHZ

#define BINDINGS                                                                                   \
    "    role_bindings:\n"                                                                         \
    "      - {name: b1, role: admin, subjects: [{kind: User, name: alice}]}\n"                     \
    "      - {name: b2, role: admin, subjects: [{kind: Group, name: ops}]}\n"                      \
    "      - {name: b3, role: dev, subjects: [{kind: Group, name: eng}]}\n"
#define LEAVES "[{type: authz, name: admin}, {type: authz, name: dev}]"

static void test_with_identity(void **state)
{
    sigt_t *t = sigt_load(BINDINGS, LEAVES);
    assert_non_null(t->e);
    sig_env_t env = {.user = "alice"};
    sigt_eval_prompt(t, "hi", &env);
    assert_true(sigt_matched(t, AZ, "admin"));
    assert_false(sigt_matched(t, AZ, "dev"));
    const char *groups[] = {"eng", "ops"};
    sig_env_t env2 = {.user = "bob", .groups = groups, .n_groups = 2};
    sigt_eval_prompt(t, "hi", &env2);
    assert_true(sigt_matched(t, AZ, "admin"));
    assert_true(t->res.items[0].matched && t->res.items[1].matched); /* both admin bindings */
    assert_true(sigt_matched(t, AZ, "dev"));
    sig_env_t env3 = {.user = "carol"};
    sigt_eval_prompt(t, "hi", &env3);
    assert_false(sigt_matched(t, AZ, "admin"));
    assert_null(sigt_get(t, AZ, "admin")->error);
    sigt_free(t);
}

static void test_without_identity(void **state)
{
    sigt_t *t = sigt_load(BINDINGS, LEAVES);
    sigt_eval_prompt(t, "hi", NULL);
    const sig_result_t *r = sigt_get(t, AZ, "admin");
    assert_false(r->matched);
    assert_string_equal(r->error, SIG_ERR_NO_IDENTITY);
    sigt_free(t);
}

static void test_fail_open_without_identity_is_no_match(void **state)
{
    sigt_t *t = sigt_load("    role_bindings:\n"
                          "      - {name: b1, role: admin, subjects: [{kind: User, name: alice}], "
                          "fail_open: true}\n"
                          "      - {name: b3, role: dev, subjects: [{kind: Group, name: eng}]}\n",
                          LEAVES);
    assert_non_null(t->e);
    sigt_eval_prompt(t, "hi", NULL);
    const sig_result_t *r = sigt_get(t, AZ, "admin");
    assert_false(r->matched);
    assert_null(r->error); /* fail_open: no match, no error */
    assert_string_equal(sigt_get(t, AZ, "dev")->error, SIG_ERR_NO_IDENTITY);
    sigt_free(t);
}

static void test_trusted_headers(void **state)
{
    sigt_t *t = sigt_load_ex(BINDINGS, LEAVES,
                             "global:\n  services:\n    authz: {trust_identity_headers: true, "
                             "user_header: x-user, groups_header: x-groups}\n");
    assert_non_null(t->e);
    rq_header_t h[2] = {{.name = "x-user", .name_len = 6, .value = "dave", .value_len = 4},
                        {.name = "x-groups", .name_len = 8, .value = "qa, eng", .value_len = 7}};
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    sigt_eval_body(t, body, strlen(body), NULL, h, 2);
    assert_true(sigt_matched(t, AZ, "dev"));
    assert_false(sigt_matched(t, AZ, "admin"));
    sigt_free(t);
}

static void test_client_key_name_team_and_metadata(void **state)
{
    sigt_t *t =
        sigt_load("    role_bindings:\n"
                  "      - {name: k1, role: byname, subjects: [{kind: Key, name: ci-bot}]}\n"
                  "      - {name: t1, role: research, subjects: [{kind: Team, name: lab}]}\n"
                  "      - {name: m1, role: gold, subjects: [{kind: Metadata, name: "
                  "\"tier=gold\"}]}\n",
                  "[{type: authz, name: byname}, {type: authz, name: research}, "
                  "{type: authz, name: gold}]");
    assert_non_null(t->e);
    cfg_kv_t md[] = {{"region", "eu"}, {"tier", "gold"}};
    sig_env_t env = {.key_name = "ci-bot", .team = "lab", .metadata = md, .n_metadata = 2};
    sigt_eval_prompt(t, "hi", &env);
    assert_true(sigt_matched(t, AZ, "byname"));
    assert_true(sigt_matched(t, AZ, "research"));
    assert_true(sigt_matched(t, AZ, "gold"));
    /* a key without user or groups is an identity: no match, no error */
    cfg_kv_t silver[] = {{"tier", "silver"}};
    sig_env_t env2 = {.key_name = "other", .team = "ops", .metadata = silver, .n_metadata = 1};
    sigt_eval_prompt(t, "hi", &env2);
    assert_false(sigt_matched(t, AZ, "byname"));
    assert_false(sigt_matched(t, AZ, "research"));
    assert_false(sigt_matched(t, AZ, "gold"));
    assert_null(sigt_get(t, AZ, "gold")->error);
    sigt_free(t);
    /* a Metadata subject must be key=value */
    t = sigt_load("    role_bindings:\n"
                  "      - {name: m1, role: gold, subjects: [{kind: Metadata, name: gold}]}\n",
                  "[{type: authz, name: gold}]");
    assert_null(t->e);
    assert_non_null(strstr(t->err, "key=value"));
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_with_identity),
        cmocka_unit_test(test_without_identity),
        cmocka_unit_test(test_fail_open_without_identity_is_no_match),
        cmocka_unit_test(test_trusted_headers),
        cmocka_unit_test(test_client_key_name_team_and_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
