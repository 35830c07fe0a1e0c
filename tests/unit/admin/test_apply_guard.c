/* test_apply_guard.c - what an operator's config apply may not change
 * (admin/apply_guard.h): the management section, and any mapping that
 * names the environment (${VAR}, *_env) or a file (*_file, path) unless
 * the running file holds it identically. Everything else may change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "admin/apply_guard.h"

static const char CUR[] =
    "version: v0.3\n"
    "listeners:\n"
    "  - name: main\n    address: 127.0.0.1\n    port: 8899\n"
    "    api_keys:\n      - {name: alice, key_env: ALICE_KEY}\n"
    "providers:\n  models:\n"
    "    - name: m\n"
    "      backend_refs: [{name: b1, endpoint: \"api.example.com:443\", api_key_env: OPENAI}]\n"
    "routing:\n  decisions:\n    - {name: chat, modelRefs: [{model: m}]}\n"
    "global:\n  services:\n"
    "    management_api:\n      listen: 127.0.0.1:8080\n"
    "      tokens:\n        - {name: op, token_env: OP_TOKEN, role: operator}\n"
    "    router_replay: {path: /var/lib/tether/replay.db}\n";

static int guard(const char *next, char *why, size_t wl)
{
    return mgmt_apply_guard(CUR, strlen(CUR), next, strlen(next), why, wl);
}

/* CUR with the text `from` replaced by `to`. */
static const char *edit(const char *from, const char *to)
{
    static char out[4096];
    const char *p = strstr(CUR, from);
    assert_non_null(p);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - CUR), CUR, to, p + strlen(from));
    return out;
}

static void test_ordinary_edits_are_allowed(void **state)
{
    (void)state;
    char why[400] = "";
    assert_int_equal(guard(CUR, why, sizeof why), 0);
    /* a new decision, a renamed model, a moved listener port */
    assert_int_equal(
        guard(edit("    - {name: chat,", "    - {name: other, modelRefs: [{model: m}]}\n"
                                         "    - {name: chat,"),
              why, sizeof why),
        0);
    assert_int_equal(guard(edit("port: 8899", "port: 9000"), why, sizeof why), 0);
    /* the same env-naming mapping, moved elsewhere, is the same reference */
    assert_int_equal(guard(edit("    - name: m\n", "    - name: m2\n      backend_refs: [{name: "
                                                   "b1, endpoint: \"api.example.com:443\", "
                                                   "api_key_env: OPENAI}]\n    - name: m\n"),
                           why, sizeof why),
                     0);
    /* the same mapping written as JSON, its keys in another order */
    assert_int_equal(guard(edit("      - {name: alice, key_env: ALICE_KEY}\n",
                                "      - {\"key_env\": \"ALICE_KEY\", \"name\": \"alice\"}\n"),
                           why, sizeof why),
                     0);
    /* text that does not parse is the loader's to refuse */
    assert_int_equal(guard("a: [", why, sizeof why), 0);
}

static void test_new_environment_references_are_refused(void **state)
{
    (void)state;
    char why[400] = "";
    /* ${VAR} in a model name (then listed by GET /v1/models) */
    assert_int_equal(
        guard(edit("    - name: m\n", "    - name: \"${ADMIN_TOKEN}\"\n"), why, sizeof why), -1);
    assert_non_null(strstr(why, "admin role"));
    assert_non_null(strstr(why, "request:"));
    /* an existing key sent to another endpoint */
    assert_int_equal(guard(edit("api.example.com:443", "evil.example.net:443"), why, sizeof why),
                     -1);
    /* another variable as a backend key */
    assert_int_equal(
        guard(edit("api_key_env: OPENAI", "api_key_env: ADMIN_TOKEN"), why, sizeof why), -1);
    /* a new client key from a variable */
    assert_int_equal(guard(edit("key_env: ALICE_KEY}", "key_env: ALICE_KEY}\n      - {name: x, "
                                                       "key_env: HOME}"),
                           why, sizeof why),
                     -1);
    /* in a list of scalars */
    assert_int_equal(
        guard(edit("routing:\n", "routing:\n  auto: [\"${ADMIN_TOKEN}\"]\n"), why, sizeof why), -1);
}

static void test_files_are_refused(void **state)
{
    (void)state;
    char why[400] = "";
    assert_int_equal(guard(edit("/var/lib/tether/replay.db", "/etc/cron.d/x"), why, sizeof why),
                     -1);
    assert_int_equal(
        guard(edit("    api_keys:\n", "    keys_file: /proc/self/environ\n    api_keys:\n"), why,
              sizeof why),
        -1);
}

static void test_management_section_is_refused(void **state)
{
    (void)state;
    char why[400] = "";
    /* a token whose variable has a known value: an operator making itself admin */
    assert_int_equal(guard(edit("role: operator}", "role: operator}\n        - {name: me, "
                                                   "token_env: HOME, role: admin}"),
                           why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "management_api"));
    assert_int_equal(guard(edit("listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080"), why, sizeof why),
                     -1);
    assert_int_equal(guard(edit("role: operator", "role: admin"), why, sizeof why), -1);
    /* removing it is a change too */
    char *cut = strstr(edit("", ""), "    management_api:");
    assert_non_null(cut);
    char next[4096];
    snprintf(next, sizeof next, "%.*s    router_replay: {path: /var/lib/tether/replay.db}\n",
             (int)(cut - edit("", "")), edit("", ""));
    assert_int_equal(guard(next, why, sizeof why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordinary_edits_are_allowed),
        cmocka_unit_test(test_new_environment_references_are_refused),
        cmocka_unit_test(test_files_are_refused),
        cmocka_unit_test(test_management_section_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
