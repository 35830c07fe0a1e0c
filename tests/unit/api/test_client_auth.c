/* test_client_auth.c - the listener key check of client_auth.c over keys
 * loaded by config/api_keys.c: keys held as SHA-256 digests only (from
 * key_env or key_sha256, inline, from a keys_file or from keys_env), the
 * O(1) table finding every key among many, the credential a request
 * presents (Bearer authorization or x-api-key, in any letter case), each
 * reason a request is refused (missing, invalid, malformed: not Bearer /
 * empty / non-ASCII, too_long, conflicting), disabled keys never matching,
 * the allowed models and decisions (names that name nothing warn at load),
 * and the matched key's identity and metadata reaching the routing input
 * and the replay record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/client_auth.h"
#include "core/hash.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof n - 1, v, sizeof v - 1                                                           \
    }

/* a well-formed digest no test key has */
#define BOB_SHA "ecb4b1cd8f3a7ba4b1e6e0a77a86a1e34b8a0f4d8f1a0a7d0c8a9c1e2b3d4f50"

#define SUF                                                                                        \
    "providers:\n  models:\n    - name: m\n      backend_refs: [{endpoint: \"127.0.0.1:9\"}]\n"    \
    "routing:\n  modelCards: [{name: m}]\n  decisions: [{name: all, modelRefs: [{model: m}]}]\n"

static char bob_sha[65];

static cfg_t *load(const char *yaml, cfg_diags_t *d)
{
    cfg_diags_init(d);
    return cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, d);
}

static cfg_t *load_main(void)
{
    setenv("TCA_UNIT_ALICE", "sk-alice", 1);
    unsetenv("TCA_UNIT_UNSET");
    unsigned char d[32];
    hash_sha256("sk-bob", 6, d);
    for (int i = 0; i < 32; i++)
        snprintf(bob_sha + 2 * i, 3, "%02x", d[i]);
    char y[2048];
    snprintf(y, sizeof y,
             "version: v0.3\nlisteners:\n  - name: main\n    max_key_bytes: 64\n    api_keys:\n"
             "      - {name: alice, key_env: TCA_UNIT_ALICE, tenant: research, user: alice, "
             "groups: [ml, oncall], owner: ann, team: research-team, models: [m, auto], "
             "decisions: [all], metadata: {tier: gold, cc: \"42\"}}\n"
             "      - {name: bob, key_sha256: \"%s\"}\n"
             "      - {name: ghost, key_env: TCA_UNIT_UNSET}\n" SUF,
             bob_sha);
    cfg_diags_t dg;
    cfg_t *c = load(y, &dg);
    if (!c)
        for (size_t i = 0; i < dg.n; i++)
            fprintf(stderr, "%s\n", dg.items[i].message);
    cfg_diags_free(&dg);
    return c;
}

static void test_keys_are_held_as_digests(void **st)
{
    cfg_t *c = load_main();
    assert_non_null(c);
    const cfg_listener_t *li = &c->listeners[0];
    assert_int_equal(li->n_api_keys, 3);
    unsigned char d[32];
    hash_sha256("sk-alice", 8, d);
    assert_true(li->api_keys[0].has_digest);
    assert_memory_equal(li->api_keys[0].digest, d, 32);
    assert_true(li->api_keys[1].has_digest);
    assert_false(li->api_keys[2].has_digest); /* variable unset: disabled */
    assert_string_equal(li->api_keys[0].team, "research-team");
    assert_int_equal(li->api_keys[0].n_metadata, 2);
    assert_string_equal(li->api_keys[0].metadata[1].name, "cc");
    assert_string_equal(li->api_keys[0].metadata[1].value, "42");
    cfg_free(c);
}

static void test_match_bearer_and_x_api_key(void **st)
{
    cfg_t *c = load_main();
    const cfg_listener_t *li = &c->listeners[0];
    const cfg_api_key_t *k;
    hsrv_header_t a[] = {H("authorization", "Bearer sk-alice")};
    assert_int_equal(client_auth_match(li, a, 1, &k), CLIENT_AUTH_OK);
    assert_ptr_equal(k, &li->api_keys[0]);
    hsrv_header_t b[] = {H("Authorization", "bearer   sk-alice  ")};
    assert_int_equal(client_auth_match(li, b, 1, &k), CLIENT_AUTH_OK);
    hsrv_header_t x[] = {H("X-API-KEY", " sk-bob")};
    assert_int_equal(client_auth_match(li, x, 1, &k), CLIENT_AUTH_OK);
    assert_ptr_equal(k, &li->api_keys[1]);
    /* the same key twice agrees */
    hsrv_header_t d[] = {H("x-api-key", "sk-bob"), H("authorization", "Bearer sk-bob")};
    assert_int_equal(client_auth_match(li, d, 2, &k), CLIENT_AUTH_OK);
    cfg_free(c);
}

static void test_each_refusal_reason(void **st)
{
    cfg_t *c = load_main();
    const cfg_listener_t *li = &c->listeners[0];
    const cfg_api_key_t *k;
    hsrv_header_t none[] = {H("x-other", "sk-alice")};
    assert_int_equal(client_auth_match(li, none, 1, &k), CLIENT_AUTH_MISSING);
    assert_null(k);
    hsrv_header_t wrong[] = {H("authorization", "Bearer sk-alicE")};
    assert_int_equal(client_auth_match(li, wrong, 1, &k), CLIENT_AUTH_INVALID);
    assert_null(k);
    hsrv_header_t basic[] = {H("authorization", "Basic sk-alice")};
    assert_int_equal(client_auth_match(li, basic, 1, &k), CLIENT_AUTH_MALFORMED);
    hsrv_header_t bare[] = {H("authorization", "sk-alice")}; /* no scheme */
    assert_int_equal(client_auth_match(li, bare, 1, &k), CLIENT_AUTH_MALFORMED);
    hsrv_header_t scheme_only[] = {H("authorization", "Bearer   ")};
    assert_int_equal(client_auth_match(li, scheme_only, 1, &k), CLIENT_AUTH_MALFORMED);
    hsrv_header_t empty[] = {H("x-api-key", "")};
    assert_int_equal(client_auth_match(li, empty, 1, &k), CLIENT_AUTH_MALFORMED);
    hsrv_header_t utf8[] = {H("x-api-key", "sk-al\xc3\xaf"
                                           "ce")};
    assert_int_equal(client_auth_match(li, utf8, 1, &k), CLIENT_AUTH_MALFORMED);
    hsrv_header_t inner_space[] = {H("authorization", "Bearer sk-alice extra")};
    assert_int_equal(client_auth_match(li, inner_space, 1, &k), CLIENT_AUTH_MALFORMED);
    char longk[200];
    memset(longk, 'a', sizeof longk);
    hsrv_header_t lng[] = {{"x-api-key", 9, longk, sizeof longk}};
    assert_int_equal(client_auth_match(li, lng, 1, &k), CLIENT_AUTH_TOO_LONG);
    hsrv_header_t two[] = {H("x-api-key", "sk-bob"), H("authorization", "Bearer sk-alice")};
    assert_int_equal(client_auth_match(li, two, 2, &k), CLIENT_AUTH_CONFLICT);
    assert_null(k);
    hsrv_header_t wrong_right[] = {H("x-api-key", "wrong"), H("authorization", "Bearer sk-alice")};
    assert_int_equal(client_auth_match(li, wrong_right, 2, &k), CLIENT_AUTH_CONFLICT);
    assert_string_equal(client_auth_reason(CLIENT_AUTH_TOO_LONG), "too_long");
    assert_string_equal(client_auth_reason(CLIENT_AUTH_CONFLICT), "conflicting");
    cfg_free(c);
}

static void test_listener_without_keys_is_open(void **st)
{
    cfg_listener_t li = {.name = "open"};
    const cfg_api_key_t *k = (const cfg_api_key_t *)1;
    hsrv_header_t basic[] = {H("authorization", "Basic dXNlcjpwYXNz")}; /* not ours to judge */
    assert_int_equal(client_auth_match(&li, basic, 1, &k), CLIENT_AUTH_OK);
    assert_null(k);
}

static void test_table_finds_each_of_many_keys(void **st)
{
    buf_t y = BUF_INIT;
    buf_puts(&y, "version: v0.3\nlisteners:\n  - name: big\n    api_keys:\n");
    char secret[64];
    for (int i = 0; i < 300; i++) {
        unsigned char d[32];
        snprintf(secret, sizeof secret, "sk-many-%03d", i);
        hash_sha256(secret, strlen(secret), d);
        buf_printf(&y, "      - {name: k%d, key_sha256: \"", i);
        for (int j = 0; j < 32; j++)
            buf_printf(&y, "%02x", d[j]);
        buf_puts(&y, "\"}\n");
    }
    buf_puts(&y, SUF);
    cfg_diags_t dg;
    cfg_t *c = load(y.data, &dg);
    buf_free(&y);
    cfg_diags_free(&dg);
    assert_non_null(c);
    const cfg_listener_t *li = &c->listeners[0];
    assert_true(li->key_slot_mask + 1 >= 600); /* at most half full */
    for (int i = 0; i < 300; i++) {
        char h[80];
        snprintf(h, sizeof h, "Bearer sk-many-%03d", i);
        hsrv_header_t hd[] = {{"authorization", 13, h, strlen(h)}};
        const cfg_api_key_t *k;
        assert_int_equal(client_auth_match(li, hd, 1, &k), CLIENT_AUTH_OK);
        char want[16];
        snprintf(want, sizeof want, "k%d", i);
        assert_string_equal(k->name, want);
    }
    hsrv_header_t no[] = {H("authorization", "Bearer sk-many-300")};
    const cfg_api_key_t *k;
    assert_int_equal(client_auth_match(li, no, 1, &k), CLIENT_AUTH_INVALID);
    cfg_free(c);
}

static void test_bad_key_config_is_rejected(void **st)
{
    const char *bad[] = {
        /* neither source */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a}]\n" SUF,
        /* both sources */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_env: X, key_sha256: "
        "\"" BOB_SHA "\"}]\n" SUF,
        /* not 64 hex digits */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_sha256: abc}]\n" SUF,
        /* duplicate names */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_sha256: \"" BOB_SHA
        "\"}, {name: a, key_env: Y}]\n" SUF,
        /* the same secret twice */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_sha256: \"" BOB_SHA
        "\"}, {name: b, key_sha256: \"" BOB_SHA "\"}]\n" SUF,
        /* metadata values are strings */
        "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_sha256: \"" BOB_SHA
        "\", metadata: {x: [1]}}]\n" SUF,
        /* a keys_file that is not there */
        "version: v0.3\nlisteners:\n  - keys_file: /nonexistent/tether-keys.yaml\n" SUF,
        /* nor a regular file (would never end) */
        "version: v0.3\nlisteners:\n  - keys_file: /dev/zero\n" SUF,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cfg_diags_t dg;
        cfg_t *c = load(bad[i], &dg);
        if (c) fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_null(c);
        cfg_diags_free(&dg);
    }
    /* a sealed load (POST /config/validate) reads no keys_file */
    const char *y = "version: v0.3\nlisteners:\n  - keys_file: /nonexistent/tether-keys.yaml\n" SUF;
    cfg_load_opts_t sealed = {.seal_env = true};
    cfg_diags_t dg;
    cfg_diags_init(&dg);
    cfg_t *c = cfg_load_string("t.yaml", y, strlen(y), &sealed, &dg);
    assert_non_null(c);
    assert_int_equal(c->listeners[0].n_api_keys, 0);
    cfg_free(c);
    cfg_diags_free(&dg);
}

static void test_unknown_models_and_decisions_warn(void **st)
{
    const char *y = "version: v0.3\nlisteners:\n  - api_keys: [{name: a, key_sha256: \"" BOB_SHA
                    "\", models: [m, auto, gtp-4o], decisions: [all, nope]}]\n" SUF;
    cfg_diags_t dg;
    cfg_t *c = load(y, &dg);
    assert_non_null(c);
    assert_int_equal(dg.n_warnings, 2);
    assert_non_null(strstr(dg.items[0].message, "\"gtp-4o\""));
    assert_non_null(strstr(dg.items[1].message, "\"nope\""));
    cfg_diags_free(&dg);
    cfg_free(c);
}

static void test_keys_file_adds_keys(void **st)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/tether-unit-keys-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* JSON is read too */
    fprintf(f, "[{\"name\": \"carol\", \"key_sha256\": \"%s\", \"team\": \"ops\"}]\n", BOB_SHA);
    fclose(f);
    char y[1024];
    snprintf(y, sizeof y,
             "version: v0.3\nlisteners:\n  - keys_file: %s\n    api_keys: [{name: dave, "
             "key_env: TCA_UNIT_ALICE}]\n" SUF,
             path);
    setenv("TCA_UNIT_ALICE", "sk-alice", 1);
    cfg_diags_t dg;
    cfg_t *c = load(y, &dg);
    cfg_diags_free(&dg);
    unlink(path);
    assert_non_null(c);
    const cfg_listener_t *li = &c->listeners[0];
    assert_int_equal(li->n_api_keys, 2);
    assert_string_equal(li->api_keys[1].name, "carol");
    assert_string_equal(li->api_keys[1].source, path);
    assert_string_equal(li->api_keys[0].source, "config");
    cfg_free(c);
}

static void test_keys_env_adds_keys(void **st)
{
    char v[256];
    snprintf(v, sizeof v, "[{\"name\": \"erin\", \"key_sha256\": \"%s\", \"team\": \"ops\"}]",
             BOB_SHA);
    setenv("TCA_UNIT_KEYS", v, 1);
    const char *y = "version: v0.3\nlisteners:\n  - keys_env: TCA_UNIT_KEYS\n" SUF;
    cfg_diags_t dg;
    cfg_t *c = load(y, &dg);
    cfg_diags_free(&dg);
    assert_non_null(c);
    assert_int_equal(c->listeners[0].n_api_keys, 1);
    assert_string_equal(c->listeners[0].api_keys[0].name, "erin");
    assert_string_equal(c->listeners[0].api_keys[0].source, "env:TCA_UNIT_KEYS");
    assert_true(c->listeners[0].api_keys[0].has_digest);
    cfg_free(c);
    /* not a list: an error that does not quote the value */
    setenv("TCA_UNIT_KEYS", "name: x", 1);
    c = load(y, &dg);
    assert_null(c);
    for (size_t i = 0; i < dg.n; i++)
        assert_null(strstr(dg.items[i].message, "name: x"));
    cfg_diags_free(&dg);
    /* unset: a warning, no keys */
    unsetenv("TCA_UNIT_KEYS");
    c = load(y, &dg);
    assert_non_null(c);
    assert_int_equal(dg.n_warnings, 1);
    assert_int_equal(c->listeners[0].n_api_keys, 0);
    cfg_diags_free(&dg);
    cfg_free(c);
}

static void test_check_sets_principal_route_in_and_trace(void **st)
{
    cfg_t *c = load_main();
    hsrv_req_t req = {0};
    arena_init(&req.arena, 4096);
    hsrv_header_t h[] = {H("x-api-key", "sk-alice")};
    req.headers = h;
    req.n_headers = 1;
    req.listener_index = 0;
    req.path = "/v1/chat/completions";
    assert_true(client_auth_check(c, &req));
    const client_principal_t *p = req.principal;
    assert_non_null(p);
    assert_string_equal(p->team, "research-team");
    assert_string_equal(p->owner, "ann");
    assert_string_equal(p->key_name, "alice");
    route_in_t in = {0};
    client_auth_route_in(&req, &in);
    assert_string_equal(in.key_tenant, "research");
    assert_string_equal(in.key_user, "alice");
    assert_int_equal(in.n_key_groups, 2);
    assert_string_equal(in.key_groups[1], "oncall");
    assert_string_equal(in.key_team, "research-team");
    assert_int_equal(in.n_key_metadata, 2);
    /* copies, not the config's strings */
    assert_ptr_not_equal(in.key_tenant, c->listeners[0].api_keys[0].tenant);
    /* allowed lists */
    assert_true(client_auth_model_allowed(&req, "m"));
    assert_true(client_auth_model_allowed(&req, "auto"));
    assert_false(client_auth_model_allowed(&req, "gpt-4o"));
    assert_false(client_auth_model_allowed(&req, NULL));
    assert_true(client_auth_decision_allowed(&req, "all"));
    assert_false(client_auth_decision_allowed(&req, ""));
    replay_record_t *r = replay_record_new(1);
    client_auth_trace(&req, r);
    assert_string_equal(r->client_key_json, "{\"name\":\"alice\",\"owner\":\"ann\",\"team\":"
                                            "\"research-team\",\"metadata\":{\"tier\":\"gold\","
                                            "\"cc\":\"42\"}}");
    assert_null(strstr(r->client_key_json, "sk-alice"));
    replay_record_free(r);
    arena_deinit(&req.arena);
    /* a key without lists may use anything */
    hsrv_req_t rb = {0};
    arena_init(&rb.arena, 4096);
    hsrv_header_t hb[] = {H("authorization", "Bearer sk-bob")};
    rb.headers = hb;
    rb.n_headers = 1;
    rb.path = "/v1/messages";
    assert_true(client_auth_check(c, &rb));
    assert_true(client_auth_model_allowed(&rb, "anything"));
    assert_true(client_auth_decision_allowed(&rb, ""));
    arena_deinit(&rb.arena);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_are_held_as_digests),
        cmocka_unit_test(test_match_bearer_and_x_api_key),
        cmocka_unit_test(test_each_refusal_reason),
        cmocka_unit_test(test_listener_without_keys_is_open),
        cmocka_unit_test(test_table_finds_each_of_many_keys),
        cmocka_unit_test(test_bad_key_config_is_rejected),
        cmocka_unit_test(test_unknown_models_and_decisions_warn),
        cmocka_unit_test(test_keys_file_adds_keys),
        cmocka_unit_test(test_keys_env_adds_keys),
        cmocka_unit_test(test_check_sets_principal_route_in_and_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
