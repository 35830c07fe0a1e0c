/* test_binding_token.c - session bindings carried in ids
 * (session/binding_token.h): a wrapped id round-trips its original, kind,
 * model and backend; any altered byte, another key or a forged payload
 * leaves the binding unverified (but still strips the suffix); ids that
 * merely look similar are not wrapped; the per-process key is used when no
 * key is configured; size limits hold; the tool form of tool call ids uses
 * only Anthropic's tool_use id alphabet; wrapped ids are byte for byte the
 * ones tether issued before (ids in clients' hands must keep verifying). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sha256.h"
#include "session/binding_token.h"
#include <stdio.h>
#include <string.h>

static const char KEY[] = "0123456789abcdef0123456789abcdef";
#define KL (sizeof KEY - 1)

static void test_wrapped_id_round_trips_its_binding(void **st)
{
    char out[SESS_BINDING_ID_MAX + 1];
    const char *id = "chatcmpl-abc123";
    size_t n =
        sess_binding_wrap(KEY, KL, SESS_BINDING_CHAT, id, strlen(id), "big", "b1", out, sizeof out);
    assert_true(n > strlen(id));
    assert_int_equal(n, strlen(out));
    assert_memory_equal(out, id, strlen(id));
    assert_non_null(strstr(out, ".tb1."));
    for (size_t i = 0; i < n; i++) /* URL- and JSON-safe */
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", out[i]));
    sess_binding_t b;
    sess_binding_parse(KEY, KL, out, n, &b);
    assert_true(b.wrapped);
    assert_true(b.valid);
    assert_int_equal(b.kind, SESS_BINDING_CHAT);
    assert_int_equal(b.orig_len, strlen(id));
    assert_string_equal(b.model, "big");
    assert_string_equal(b.backend, "b1");
    /* an original that contains dots and even the mark itself */
    const char *odd = "resp.x.tb1.y.z";
    n = sess_binding_wrap(KEY, KL, SESS_BINDING_NATIVE, odd, strlen(odd), "m", "", out, sizeof out);
    sess_binding_parse(KEY, KL, out, n, &b);
    assert_true(b.valid);
    assert_int_equal(b.orig_len, strlen(odd));
    assert_string_equal(b.model, "m");
    assert_string_equal(b.backend, "");
    assert_int_equal(b.kind, SESS_BINDING_NATIVE);
}

static void test_altered_or_foreign_ids_are_unverified(void **st)
{
    char out[SESS_BINDING_ID_MAX + 1], forged[SESS_BINDING_ID_MAX + 1];
    const char *id = "resp_0123456789abcdef01234567";
    size_t n = sess_binding_wrap(KEY, KL, SESS_BINDING_EMULATED, id, strlen(id), "small", "s1", out,
                                 sizeof out);
    sess_binding_t b;
    /* every single-byte change after the original breaks the tag */
    for (size_t i = strlen(id); i < n; i++) {
        memcpy(forged, out, n + 1);
        forged[i] = forged[i] == 'A' ? 'B' : 'A';
        sess_binding_parse(KEY, KL, forged, n, &b);
        assert_false(b.valid);
        assert_string_equal(b.model, "");
    }
    /* a changed original keeps the suffix but not the tag */
    memcpy(forged, out, n + 1);
    forged[6] = forged[6] == '1' ? '2' : '1';
    sess_binding_parse(KEY, KL, forged, n, &b);
    assert_true(b.wrapped);
    assert_false(b.valid);
    assert_int_equal(b.orig_len, strlen(id));
    /* a payload naming another model, with the tag of the real one */
    char other[SESS_BINDING_ID_MAX + 1];
    size_t m = sess_binding_wrap(KEY, KL, SESS_BINDING_EMULATED, id, strlen(id), "big", "s1", other,
                                 sizeof other);
    const char *tag_real = out + n - 22;
    memcpy(other + m - 22, tag_real, 22);
    sess_binding_parse(KEY, KL, other, m, &b);
    assert_true(b.wrapped);
    assert_false(b.valid);
    /* another key */
    sess_binding_parse("another key of some length", 26, out, n, &b);
    assert_true(b.wrapped);
    assert_false(b.valid);
    assert_int_equal(b.orig_len, strlen(id));
}

static void test_plain_ids_are_not_wrapped(void **st)
{
    const char *ids[] = {"",
                         "chatcmpl-1",
                         "resp_abc.tb1.",
                         "resp_abc.tb1.YmlnAWIx",
                         "resp_abc.tb1.YmlnAWIx.short",
                         "resp_abc.tb1.!!!!.AAAAAAAAAAAAAAAAAAAAAA",
                         "resp_abc.tb2.YwFiaWcfYjE.AAAAAAAAAAAAAAAAAAAAAA",
                         ".tb1.YwFiaWcfYjE.AAAAAAAAAAAAAAAAAAAAA*",
                         "x.AAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        sess_binding_t b;
        sess_binding_parse(KEY, KL, ids[i], strlen(ids[i]), &b);
        assert_false(b.wrapped);
        assert_false(b.valid);
        assert_int_equal(b.orig_len, strlen(ids[i]));
    }
    sess_binding_t b;
    sess_binding_parse(KEY, KL, NULL, 0, &b);
    assert_false(b.wrapped);
}

static void test_process_key_when_none_is_configured(void **st)
{
    char out[SESS_BINDING_ID_MAX + 1];
    size_t n = sess_binding_wrap(NULL, 0, SESS_BINDING_CHAT, "id1", 3, "big", "b", out, sizeof out);
    sess_binding_t b;
    sess_binding_parse(NULL, 0, out, n, &b);
    assert_true(b.valid);
    /* a replica with a configured key cannot verify it */
    sess_binding_parse(KEY, KL, out, n, &b);
    assert_true(b.wrapped);
    assert_false(b.valid);
    size_t kl = 0;
    assert_non_null(sess_binding_process_key(&kl));
    assert_int_equal(kl, 32);
}

static void test_limits_and_in_place_wrap(void **st)
{
    char small[16];
    assert_int_equal(
        sess_binding_wrap(KEY, KL, SESS_BINDING_CHAT, "id", 2, "big", "b", small, sizeof small), 0);
    char longid[SESS_BINDING_ID_MAX + 64];
    memset(longid, 'x', SESS_BINDING_ID_MAX);
    assert_int_equal(sess_binding_wrap(KEY, KL, SESS_BINDING_CHAT, longid, SESS_BINDING_ID_MAX - 10,
                                       "big", "b", longid, sizeof longid),
                     0);
    /* names are truncated to SESS_NAME_MAX - 1 */
    char name[200];
    memset(name, 'm', sizeof name - 1);
    name[sizeof name - 1] = 0;
    char buf[SESS_BINDING_ID_MAX + 1] = "abc";
    size_t n = sess_binding_wrap(KEY, KL, SESS_BINDING_CHAT, buf, 3, name, name, buf, sizeof buf);
    assert_true(n > 0);
    assert_true(n - 3 <= SESS_BINDING_SUFFIX_MAX);
    sess_binding_t b;
    sess_binding_parse(KEY, KL, buf, n, &b);
    assert_true(b.valid);
    assert_int_equal(strlen(b.model), SESS_NAME_MAX - 1);
    assert_int_equal(b.orig_len, 3);
    assert_memory_equal(buf, "abc", 3);
}

/* Tool call ids: Anthropic requires ^[a-zA-Z0-9_-]+$, so the tool form has
 * no '.'; it parses from its end although '_' and '-' occur everywhere. */
static void test_tool_ids_use_only_the_tool_id_alphabet(void **st)
{
    const char *ids[] = {"toolu_01A09q90qw90lq917835lq9", "call_ff94b042f58f6dbe", "x",
                         "fc_tb1_a_tb1_", "id-with_tb1_AAAA"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char out[SESS_BINDING_ID_MAX + 1];
        const char *id = ids[i];
        size_t n = sess_binding_wrap(KEY, KL, SESS_BINDING_TOOL, id, strlen(id), "small", "s1", out,
                                     sizeof out);
        assert_true(n > strlen(id));
        assert_true(n - strlen(id) <= SESS_BINDING_SUFFIX_MAX);
        for (size_t k = 0; k < n; k++)
            assert_non_null(
                strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", out[k]));
        sess_binding_t b;
        sess_binding_parse_tool(KEY, KL, out, n, &b);
        assert_true(b.wrapped);
        assert_true(b.valid);
        assert_int_equal(b.kind, SESS_BINDING_TOOL);
        assert_int_equal(b.orig_len, strlen(id));
        assert_string_equal(b.model, "small");
        assert_string_equal(b.backend, "s1");
        /* the dotted parser does not take it, nor the tool parser a dotted id */
        sess_binding_parse(KEY, KL, out, n, &b);
        assert_false(b.wrapped);
        char dotted[SESS_BINDING_ID_MAX + 1];
        size_t m = sess_binding_wrap(KEY, KL, SESS_BINDING_CHAT, id, strlen(id), "small", "s1",
                                     dotted, sizeof dotted);
        sess_binding_parse_tool(KEY, KL, dotted, m, &b);
        assert_false(b.wrapped);
        /* any altered byte after the original: not valid */
        for (size_t k = strlen(id); k < n; k++) {
            char forged[SESS_BINDING_ID_MAX + 1];
            memcpy(forged, out, n + 1);
            forged[k] = forged[k] == 'A' ? 'B' : 'A';
            sess_binding_parse_tool(KEY, KL, forged, n, &b);
            assert_false(b.valid);
        }
        /* another key: still stripped, not valid */
        sess_binding_parse_tool("another key of some length", 26, out, n, &b);
        assert_true(b.wrapped);
        assert_false(b.valid);
        assert_int_equal(b.orig_len, strlen(id));
    }
    /* look-alikes are not wrapped */
    const char *plain[] = {"", "toolu_01", "x_tb1_", "x_tb1_AAAAAA", "x_tb1_YwFiaWcfYjE__AAAA"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        sess_binding_t b;
        sess_binding_parse_tool(KEY, KL, plain[i], strlen(plain[i]), &b);
        assert_false(b.wrapped);
        assert_int_equal(b.orig_len, strlen(plain[i]));
    }
    /* the tool form's own entry point */
    char out[SESS_BINDING_ID_MAX + 1];
    size_t n = sess_binding_wrap_tool(KEY, KL, "call_1", 6, "big", "b1", out, sizeof out);
    sess_binding_t b;
    sess_binding_parse_tool(KEY, KL, out, n, &b);
    assert_true(b.valid);
    assert_string_equal(b.model, "big");
}

/* Ids wrapped by tether at 1dafb56 (before the SHA-256 rounds were
 * rewritten), under both compressions: one block, two blocks, an empty
 * original, a one-byte key and a key longer than a block. */
static void test_wrapped_ids_match_known_outputs(void **st)
{
    static const char LONG_KEY[] =
        "a-key-longer-than-sixty-four-bytes-goes-through-sha256-first-0123456789";
    static const struct {
        sess_binding_kind_t kind;
        const char *key, *id, *model, *backend, *want;
    } tc[] = {
        {SESS_BINDING_CHAT, KEY, "chatcmpl-abc123", "big", "b1",
         "chatcmpl-abc123.tb1.Yx9iaWcfYjE.7ZfO1z57OI1xtOtXJPhREg"},
        {SESS_BINDING_CHAT, KEY, "chatcmpl-9f8e7d6c5b4a39281706f5e4d3c2b1a0", "gpt-4o-mini",
         "openai-primary",
         "chatcmpl-9f8e7d6c5b4a39281706f5e4d3c2b1a0.tb1.Yx9ncHQtNG8tbWluaR9vcGVuYWktcHJpbWFyeQ."
         "uInk_ATvCRrGceLmOajY9g"},
        {SESS_BINDING_NATIVE, KEY, "resp_0123456789abcdef0123456789abcdef0123456789abcdef",
         "claude-sonnet", "anthropic",
         "resp_0123456789abcdef0123456789abcdef0123456789abcdef.tb1."
         "bh9jbGF1ZGUtc29ubmV0H2FudGhyb3BpYw.t9hqibR1DVBhtf31swujEA"},
        {SESS_BINDING_EMULATED, "k", "resp.x.tb1.y.z", "m", "",
         "resp.x.tb1.y.z.tb1.ZR9tHw.g7XNTCVLI1StOWuVlgk9Mg"},
        {SESS_BINDING_TOOL, KEY, "call_Zx81kPq0", "small", "s1",
         "call_Zx81kPq0_tb1_dB9zbWFsbB9zMQAOxS9Ijht1NEMxIOcgzGrThw"},
        {SESS_BINDING_CHAT, LONG_KEY, "",
         "a-model-name-that-is-rather-long-for-two-blocks-0123456789", "backend-with-long-name",
         ".tb1."
         "Yx9hLW1vZGVsLW5hbWUtdGhhdC1pcy1yYXRoZXItbG9uZy1mb3ItdHdvLWJsb2Nrcy0wMTIzNDU2Nzg5H2JhY2tl"
         "bmQtd2l0aC1sb25nLW5hbWU.BXTeNAxGTX6aqnme9QZGrg"},
    };
    for (int pass = 0; pass < 2; pass++) {
        sha256_use_accel(pass == 0);
        for (size_t i = 0; i < sizeof tc / sizeof *tc; i++) {
            char out[SESS_BINDING_ID_MAX + 1];
            size_t n =
                sess_binding_wrap(tc[i].key, strlen(tc[i].key), tc[i].kind, tc[i].id,
                                  strlen(tc[i].id), tc[i].model, tc[i].backend, out, sizeof out);
            assert_int_equal(n, strlen(tc[i].want));
            assert_string_equal(out, tc[i].want);
        }
    }
    sha256_use_accel(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrapped_id_round_trips_its_binding),
        cmocka_unit_test(test_altered_or_foreign_ids_are_unverified),
        cmocka_unit_test(test_plain_ids_are_not_wrapped),
        cmocka_unit_test(test_process_key_when_none_is_configured),
        cmocka_unit_test(test_limits_and_in_place_wrap),
        cmocka_unit_test(test_tool_ids_use_only_the_tool_id_alphabet),
        cmocka_unit_test(test_wrapped_ids_match_known_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
