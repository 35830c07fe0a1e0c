/* test_client_auth.c - the listener key check of client_auth.c: the
 * comparison (equal only for the same bytes and length), the credential a
 * request presents (Bearer authorization or x-api-key, in any letter case),
 * missing versus invalid, disabled keys (variable unset) never matching, and
 * the matched key's identity reaching the routing input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/client_auth.h"
#include <string.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof n - 1, v, sizeof v - 1                                                           \
    }

static void test_equal_needs_same_bytes_and_length(void **st)
{
    assert_true(client_auth_equal("sk-abc", 6, "sk-abc", 6));
    assert_false(client_auth_equal("sk-abd", 6, "sk-abc", 6));
    assert_false(client_auth_equal("sk-ab", 5, "sk-abc", 6));
    assert_false(client_auth_equal("sk-abcsk-abc", 12, "sk-abc", 6)); /* key repeated */
    assert_false(client_auth_equal("", 0, "sk-abc", 6));
    assert_false(client_auth_equal("", 0, "", 0)); /* an empty key never matches */
    assert_false(client_auth_equal("x", 1, "", 0));
}

static cfg_api_key_t keys[2];
static cfg_listener_t listener(void)
{
    static char *groups[] = {"ml", "oncall"};
    keys[0] = (cfg_api_key_t){.name = "alice",
                              .key_env = "A",
                              .tenant = "research",
                              .user = "alice",
                              .groups = groups,
                              .n_groups = 2,
                              .key = "sk-alice"};
    keys[1] = (cfg_api_key_t){.name = "ghost", .key_env = "UNSET", .tenant = "ghost"};
    cfg_listener_t li = {.name = "main", .api_keys = keys, .n_api_keys = 2};
    return li;
}

static void test_match_bearer_and_x_api_key(void **st)
{
    cfg_listener_t li = listener();
    const cfg_api_key_t *k;
    hsrv_header_t a[] = {H("authorization", "Bearer sk-alice")};
    assert_int_equal(client_auth_match(&li, a, 1, &k), CLIENT_AUTH_OK);
    assert_ptr_equal(k, &keys[0]);
    hsrv_header_t b[] = {H("Authorization", "bearer   sk-alice  ")};
    assert_int_equal(client_auth_match(&li, b, 1, &k), CLIENT_AUTH_OK);
    hsrv_header_t c[] = {H("X-API-KEY", " sk-alice")};
    assert_int_equal(client_auth_match(&li, c, 1, &k), CLIENT_AUTH_OK);
    hsrv_header_t d[] = {H("x-api-key", "wrong"), H("authorization", "Bearer sk-alice")};
    assert_int_equal(client_auth_match(&li, d, 2, &k), CLIENT_AUTH_OK);
}

static void test_missing_and_invalid(void **st)
{
    cfg_listener_t li = listener();
    const cfg_api_key_t *k;
    hsrv_header_t none[] = {H("x-other", "sk-alice"), H("authorization", "Basic sk-alice")};
    assert_int_equal(client_auth_match(&li, none, 2, &k), CLIENT_AUTH_MISSING);
    assert_null(k);
    hsrv_header_t wrong[] = {H("authorization", "Bearer sk-alicE")};
    assert_int_equal(client_auth_match(&li, wrong, 1, &k), CLIENT_AUTH_INVALID);
    assert_null(k);
    hsrv_header_t bare[] = {H("authorization", "sk-alice")}; /* no scheme */
    assert_int_equal(client_auth_match(&li, bare, 1, &k), CLIENT_AUTH_MISSING);
    /* the disabled key (no value) matches nothing, not even an empty key */
    hsrv_header_t empty[] = {H("x-api-key", "")};
    assert_int_equal(client_auth_match(&li, empty, 1, &k), CLIENT_AUTH_INVALID);
}

static void test_listener_without_keys_is_open(void **st)
{
    cfg_listener_t li = {.name = "open"};
    const cfg_api_key_t *k = (const cfg_api_key_t *)1;
    assert_int_equal(client_auth_match(&li, NULL, 0, &k), CLIENT_AUTH_OK);
    assert_null(k);
}

static void test_check_sets_principal_and_route_in(void **st)
{
    cfg_listener_t li = listener();
    cfg_t cfg = {0};
    cfg.listeners = &li;
    cfg.n_listeners = 1;
    hsrv_req_t req = {0};
    arena_init(&req.arena, 4096);
    hsrv_header_t h[] = {H("x-api-key", "sk-alice")};
    req.headers = h;
    req.n_headers = 1;
    req.listener_index = 0;
    req.path = "/v1/chat/completions";
    assert_true(client_auth_check(&cfg, &req));
    assert_non_null(req.principal);
    route_in_t in = {0};
    client_auth_route_in(&req, &in);
    assert_string_equal(in.key_tenant, "research");
    assert_string_equal(in.key_user, "alice");
    assert_int_equal(in.n_key_groups, 2);
    assert_string_equal(in.key_groups[1], "oncall");
    /* copies, not the config's strings */
    assert_ptr_not_equal(in.key_tenant, keys[0].tenant);
    arena_deinit(&req.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_needs_same_bytes_and_length),
        cmocka_unit_test(test_match_bearer_and_x_api_key),
        cmocka_unit_test(test_missing_and_invalid),
        cmocka_unit_test(test_listener_without_keys_is_open),
        cmocka_unit_test(test_check_sets_principal_and_route_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
