/* test_frag_check.c - the replay writer's one-pass fragment checks
 * (replay/frag_check.h): the fast validator says "valid" only for what
 * cJSON accepts; the credential pre-check says "nothing" only where the full
 * credential scan masks nothing (over the routed fragments, every recognizer
 * shape, and thousands of random mutations of both); the SSE2 and the
 * byte-at-a-time pre-checks agree; and fragments with a secret the old
 * keyword prefilter let through (authorization / cookie members, gho_ and
 * sk_live_ keys, mixed-case names) are now masked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay/frag_check.h"
#include "replay_fixture.h"

/* A routed record's fragments (make bench's routed config), shortened. */
static const char *const ROUTED[] = {
    "{\"outcome\":\"matched\",\"decision\":\"agentic\",\"confidence\":1,\"algorithm\":\"static\","
    "\"strategy\":\"priority\",\"ranking\":[\"agentic\"],\"trace\":[{\"name\":\"guarded\","
    "\"matched\":false,\"confidence\":0,\"catch_all\":false,\"root\":{\"kind\":\"OR\",\"signal\":"
    "null,\"label\":null,\"matched\":false,\"confidence\":0,\"skipped\":false,\"error\":null,"
    "\"children\":[{\"kind\":\"leaf\",\"signal\":\"jailbreak:injection\",\"label\":null,"
    "\"matched\":false,\"confidence\":0,\"skipped\":false,\"error\":null,\"children\":[]}]}}]}",
    "[{\"family\":\"keyword\",\"name\":\"code_terms\",\"matched\":false,\"score\":0.0000,"
    "\"value\":0.0000,\"latency_us\":392422},{\"family\":\"language\",\"name\":\"fr\","
    "\"matched\":false,\"score\":0.0000,\"label\":\"en\",\"value\":0.9900,\"latency_us\":444106}]",
    "[{\"model\":\"medium\",\"admissible\":true,\"available\":true,\"learned_quality\":0.000000,"
    "\"base\":1.0000,\"quality_gap\":0.0000,\"downgrade_credit\":-1.5e-3,\"handoff_penalty\":0,"
    "\"prefix_benefit\":0.0000,\"checkout_multiplier\":0.0000,\"final\":1.0000,"
    "\"net_switch_advantage\":0.0000}]",
    "[{\"backend\":\"mock-medium\",\"attempts\":1}]",
    "[\"upstream said: rate limited, retry in 2 s\", \"tab\\tand \\\"quote\\\" \\\\ \\/\"]",
};

/* One sample of every credential shape the scan masks, each in a string
 * value or as a member, as a misconfigured name or an error text would
 * bring it into a fragment. */
static const char *const SECRETS[] = {
    "{\"api_key\":\"zzzzzzzz\"}",
    "{\"AuThOrIzAtIoN\":\"Basic zzzzzzzz\"}",
    "{\"proxy-authorization\":\"zzzzzzzz\"}",
    "{\"cookie\":\"sid=zzzzzzzz\"}",
    "{\"Set-Cookie\":\"sid=zzzzzzzz\"}",
    "{\"refresh_tOkEn\":\"zzzzzzzz\"}",
    "{\"db_password\":\"zzzzzzzz\"}",
    "{\"client_SECRET\":\"zzzzzzzz\"}",
    "[\"x-api-key: zzzzzzzz\"]",
    "[\"Cookie: sid=zzzzzzzz\"]",
    "[\"upstream said: authorization: Basic zzzzzzzz\"]",
    "[\"BEARER zzzzzzzzzzzz\"]",
    "[\"key sk-zzzzzzzz1234zzzzzzzz5678zzzz\"]",
    "[\"sk-ant-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1234\"]",
    "[\"sk_live_zzzzzzzz1234zzzzzzzz\"]",
    "[\"ghp_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]",
    "[\"gho_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]",
    "[\"ghs_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]",
    "[\"github_pat_zzzzzzzzzzzzzzzzzzzzzz11\"]",
    "[\"xoxb-zzzzzzzz123\"]",
    "[\"AKIAZZZZZZZZZZZZZZZZ\"]",
    "[\"AIzazzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]",
    "[\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.zzzzzzzzzz\"]",
    "[\"-----BEGIN RSA PRIVATE KEY-----\\nzzzzzzzz\\n-----END RSA PRIVATE KEY-----\"]",
    "[\"the api key is Zz9Qm2Xv7Lp4Rt8Wk3Nb6Hc1Jd5Fg0Sa\"]",
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static bool cjson_ok(const char *s, size_t n)
{
    char *z = malloc(n + 1);
    assert_non_null(z);
    memcpy(z, s, n);
    z[n] = 0;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(z, n + 1, &end, true);
    cJSON_Delete(j);
    free(z);
    return j != NULL;
}

/* What the full credential scan leaves of s (redact off: credentials only). */
static bool scan_changes(const char *s, size_t n)
{
    buf_t b = BUF_INIT;
    replay_redact_text(s, n, false, &b);
    bool changed = b.len != n || (n && memcmp(b.data, s, n));
    buf_free(&b);
    return changed;
}

static void check_one(const char *s, size_t n)
{
    if (replay_frag_json_ok(s, n) && !cjson_ok(s, n))
        fail_msg("fast validator accepted what cJSON refuses: %.*s", (int)n, s);
    bool fast = replay_frag_may_hold_secret(s, n);
    if (fast != replay_frag_may_hold_secret_bytes(s, n))
        fail_msg("SSE2 and byte pre-checks differ on: %.*s", (int)n, s);
    if (!fast && n && scan_changes(s, n))
        fail_msg("pre-check missed what the scan masks: %.*s", (int)n, s);
}

/* A mutation of s: bytes flipped to JSON-ish or random bytes, deleted,
 * duplicated, or a secret sample spliced in. */
static size_t mutate(const char *s, size_t n, char *out, size_t cap)
{
    static const char alphabet[] = "\"\\:{}[],. -_0129eEaAbBkKsSgGhHxXoOyYJIzZ\t\n/+=";
    size_t len = n < cap ? n : cap;
    memcpy(out, s, len);
    int edits = 1 + (int)(next() % 4);
    for (int e = 0; e < edits && len; e++) {
        size_t at = next() % len;
        switch (next() % 5) {
        case 0: out[at] = alphabet[next() % (sizeof alphabet - 1)]; break;
        case 1: out[at] = (char)(next() & 0xff); break;
        case 2:
            memmove(out + at, out + at + 1, len - at - 1);
            len--;
            break;
        case 3:
            if (len < cap) {
                memmove(out + at + 1, out + at, len - at);
                len++;
            }
            break;
        default: {
            const char *sec = SECRETS[next() % (sizeof SECRETS / sizeof *SECRETS)];
            size_t k = strlen(sec);
            if (len + k <= cap) {
                memmove(out + at + k, out + at, len - at);
                memcpy(out + at, sec, k);
                len += k;
            }
        }
        }
    }
    return len;
}

static void test_fast_validator_accepts_the_routed_fragments(void **st)
{
    for (size_t i = 0; i < sizeof ROUTED / sizeof *ROUTED; i++) {
        assert_true(replay_frag_json_ok(ROUTED[i], strlen(ROUTED[i])));
        assert_true(cjson_ok(ROUTED[i], strlen(ROUTED[i])));
    }
    static const char *const bad[] = {"",        " ",      "[",          "{\"a\":}", "[1,]",
                                      "{\"a\"}", "01",     "1.",         "-",        "1e",
                                      "tru",     "nul",    "[1] x",      "\"a\tb\"", "\"\\x\"",
                                      "{,}",     "[\"a\"", "{\"a\":1,}", "[1 2]",    "\"abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(replay_frag_json_ok(bad[i], strlen(bad[i])));
    /* left to the reference: \u escapes, UTF-8, deep nesting, long numbers */
    static const char *const unsure[] = {"\"\\u00e9\"", "\"caf\xc3\xa9\"",
                                         "1234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof unsure / sizeof *unsure; i++)
        assert_false(replay_frag_json_ok(unsure[i], strlen(unsure[i])));
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_false(replay_frag_json_ok(deep, sizeof deep));
    assert_true(replay_frag_json_ok(deep + 40, 120)); /* 60 deep: fine */
}

static void test_precheck_is_quiet_on_routed_and_fires_on_every_shape(void **st)
{
    for (size_t i = 0; i < sizeof ROUTED / sizeof *ROUTED; i++)
        assert_false(replay_frag_may_hold_secret(ROUTED[i], strlen(ROUTED[i])));
    for (size_t i = 0; i < sizeof SECRETS / sizeof *SECRETS; i++) {
        const char *s = SECRETS[i];
        if (!replay_frag_may_hold_secret(s, strlen(s))) fail_msg("pre-check quiet on %s", s);
        if (!scan_changes(s, strlen(s))) fail_msg("the scan itself misses %s", s);
    }
}

/* A 32-byte token is found, a 31-byte one is not, wherever it sits against
 * the 16-byte blocks of the SSE2 pass. */
static void test_token_runs_at_every_offset(void **st)
{
    const char *tok = "Zz9Qm2Xv7Lp4Rt8Wk3Nb6Hc1Jd5Fg0Sa"; /* 32, no prefix pair */
    char buf[160];
    for (int pad = 0; pad < 48; pad++)
        for (int len = 31; len <= 32; len++) {
            int n = snprintf(buf, sizeof buf, "[\"%.*s%.*s\",1]", pad,
                             "................................................", len, tok);
            bool want = len == 32;
            assert_int_equal(replay_frag_may_hold_secret(buf, (size_t)n), want);
            assert_int_equal(replay_frag_may_hold_secret_bytes(buf, (size_t)n), want);
        }
}

static void test_random_mutations_agree_with_the_references(void **st)
{
    char buf[4096];
    const size_t nr = sizeof ROUTED / sizeof *ROUTED, ns = sizeof SECRETS / sizeof *SECRETS;
    for (int round = 0; round < 20000; round++) {
        size_t pick = next() % (nr + ns);
        const char *src = pick < nr ? ROUTED[pick] : SECRETS[pick - nr];
        size_t n = mutate(src, strlen(src), buf, sizeof buf);
        check_one(buf, n);
        /* and every suffix of it: the SIMD path's tail handling */
        size_t cut = n ? next() % n : 0;
        check_one(buf + cut, n - cut);
    }
}

/* Regression: the old prefilter looked for a few keywords (key, token,
 * secret, pass, earer, sk-, ghp_, ...) and skipped the scan otherwise, so
 * these left the writer unmasked. */
static void test_fragments_the_old_prefilter_let_through(void **st)
{
    static const char *const frags[] = {
        "[{\"backend\":\"b1\",\"headers\":{\"authorization\":\"Basic zzzzzzzz\"}}]",
        "[{\"backend\":\"b1\",\"headers\":{\"cookie\":\"sid=zzzzzzzz\"}}]",
        "[\"upstream said: gho_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]",
        "[\"upstream said: sk_live_zzzzzzzz1234zzzzzzzz\"]",
        "{\"apIkEy\":\"zzzzzzzz\"}",
    };
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        replay_record_t *r = fx_record(1, "s", 1, "d", "m", "cold_start");
        replay_record_set(&r->attempts_json, frags[i]);
        replay_redact_record(r, false);
        if (strstr(r->attempts_json, "zzzzzzzz")) fail_msg("not masked: %s", r->attempts_json);
        assert_int_equal(replay_record_validate(r, NULL), REPLAY_OK);
        replay_record_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_validator_accepts_the_routed_fragments),
        cmocka_unit_test(test_precheck_is_quiet_on_routed_and_fires_on_every_shape),
        cmocka_unit_test(test_token_runs_at_every_offset),
        cmocka_unit_test(test_random_mutations_agree_with_the_references),
        cmocka_unit_test(test_fragments_the_old_prefilter_let_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
