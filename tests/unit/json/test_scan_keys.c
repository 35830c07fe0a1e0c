/* test_scan_keys.c - the keys and roles the request scanner reads
 * (json/scan.c's matchers, by length then a word compare): every top-level
 * key, message key, tool-call key and role is found as written and with
 * an escape in it, and is recorded in its own field; near misses (one
 * byte changed, added or removed, another case) are not, so no key is
 * matched on a prefix or on its length alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "json/scan.h"

#define FIELD(name, f)                                                                             \
    {                                                                                              \
        name, offsetof(jreq_t, f)                                                                  \
    }
static const struct {
    const char *name;
    size_t off; /* the jspan_t of jreq_t holding its value */
} top[] = {
    FIELD("model", model),
    FIELD("stream", stream_value),
    FIELD("stream_options", stream_options),
    FIELD("messages", messages),
    FIELD("tools", tools),
    FIELD("previous_response_id", previous_response_id),
    FIELD("input", input),
    FIELD("metadata", metadata),
    FIELD("prompt_cache_key", prompt_cache_key),
    FIELD("system", system),
    FIELD("instructions", instructions),
    FIELD("max_tokens", max_tokens),
    FIELD("max_completion_tokens", max_completion_tokens),
    FIELD("tool_choice", tool_choice),
    FIELD("reasoning", reasoning),
    FIELD("thinking", thinking),
    FIELD("store", store),
    FIELD("user", user),
    FIELD("conversation", conversation),
};
#undef FIELD

#define FIELD(name, f)                                                                             \
    {                                                                                              \
        name, offsetof(jmsg_t, f)                                                                  \
    }
static const struct {
    const char *name;
    size_t off;
} msg[] = {
    FIELD("role", role_span),
    FIELD("content", content),
    FIELD("tool_calls", tool_calls),
    FIELD("tool_call_id", tool_call_id),
    FIELD("name", name),
    FIELD("reasoning_details", reasoning_details),
    FIELD("reasoning_content", reasoning_content),
    FIELD("type", type),
};
#undef FIELD

static const struct {
    const char *name;
    jrole_t role;
} roles[] = {
    {"system", JROLE_SYSTEM},       {"developer", JROLE_DEVELOPER}, {"user", JROLE_USER},
    {"assistant", JROLE_ASSISTANT}, {"tool", JROLE_TOOL},           {"function", JROLE_FUNCTION},
};

static jspan_t at(const void *base, size_t off)
{
    jspan_t s;
    memcpy(&s, (const char *)base + off, sizeof s);
    return s;
}

/* The JSON text of a key written three ways: as is (0), with its first
 * byte as a \u escape (1), with its last byte as a \u escape (2). */
static void key_text(char *o, const char *k, int how)
{
    size_t L = strlen(k);
    if (how == 0)
        sprintf(o, "%s", k);
    else if (how == 1)
        sprintf(o, "\\u%04x%s", (unsigned char)k[0], k + 1);
    else
        sprintf(o, "%.*s\\u%04X", (int)(L - 1), k, (unsigned char)k[L - 1]);
}

static bool is_name(const char *k, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, names[i])) return true;
    return false;
}

/* Near misses of k: each byte changed, one added at each end, the last
 * removed, the first upper-cased. Returns how many were written. */
static int near_misses(const char *k, char out[][64])
{
    size_t L = strlen(k);
    int n = 0;
    for (size_t i = 0; i < L; i++) {
        strcpy(out[n], k);
        out[n][i] = k[i] == 'x' ? 'y' : 'x';
        n++;
    }
    sprintf(out[n++], "%sx", k);
    sprintf(out[n++], "x%s", k);
    sprintf(out[n++], "%.*s", (int)(L - 1), k);
    strcpy(out[n], k);
    out[n][0] = (char)(k[0] - 32);
    n++;
    return n;
}

static void test_every_top_level_key(void **state)
{
    (void)state;
    const char *names[sizeof top / sizeof top[0]];
    for (size_t t = 0; t < sizeof top / sizeof top[0]; t++)
        names[t] = top[t].name;
    for (size_t t = 0; t < sizeof top / sizeof top[0]; t++)
        for (int how = 0; how < 3; how++) {
            char k[64], b[12800];
            key_text(k, top[t].name, how);
            snprintf(b, sizeof b, "{\"%s\":1,\"%s\":2}", top[t].name, k);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
            /* the second one is the same key: a duplicate, and its value wins */
            assert_non_null(r.dup_key);
            assert_string_equal(r.dup_key, top[t].name);
            assert_int_equal(r.dup_off, strlen(b) - 2);
            jspan_t v = at(&r, top[t].off);
            assert_int_equal(v.off, strlen(b) - 2);
            assert_int_equal(v.len, 1);
            assert_int_equal(r.n_top_keys, 2);
        }
    for (size_t t = 0; t < sizeof top / sizeof top[0]; t++) {
        char miss[64][64];
        int nm = near_misses(top[t].name, miss);
        for (int i = 0; i < nm; i++) {
            if (is_name(miss[i], names, sizeof names / sizeof names[0])) continue;
            char b[12800];
            snprintf(b, sizeof b, "{\"%s\":1,\"%s\":2}", miss[i], miss[i]);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
            if (r.dup_key) fail_msg("near miss \"%s\" read as \"%s\"", miss[i], r.dup_key);
            for (size_t f = 0; f < sizeof top / sizeof top[0]; f++)
                assert_int_equal(at(&r, top[f].off).len, 0);
        }
    }
}

static void test_every_message_key(void **state)
{
    (void)state;
    const char *names[sizeof msg / sizeof msg[0]];
    for (size_t t = 0; t < sizeof msg / sizeof msg[0]; t++)
        names[t] = msg[t].name;
    arena_t a;
    arena_init(&a, 0);
    for (size_t t = 0; t < sizeof msg / sizeof msg[0]; t++)
        for (int how = 0; how < 3; how++) {
            char k[64], b[12800];
            key_text(k, msg[t].name, how);
            snprintf(b, sizeof b, "{\"messages\":[{\"%s\":\"v\"}]}", k);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
            assert_int_equal(r.n_msgs, 1);
            for (size_t f = 0; f < sizeof msg / sizeof msg[0]; f++) {
                jspan_t v = at(&r.msgs[0], msg[f].off);
                if (f == t) {
                    assert_int_equal(v.off, strlen(b) - 6);
                    assert_int_equal(v.len, 3);
                } else
                    assert_int_equal(v.len, 0);
            }
        }
    for (size_t t = 0; t < sizeof msg / sizeof msg[0]; t++) {
        char miss[64][64];
        int nm = near_misses(msg[t].name, miss);
        for (int i = 0; i < nm; i++) {
            if (is_name(miss[i], names, sizeof names / sizeof names[0])) continue;
            char b[12800];
            snprintf(b, sizeof b, "{\"messages\":[{\"%s\":\"v\"}]}", miss[i]);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
            for (size_t f = 0; f < sizeof msg / sizeof msg[0]; f++)
                if (at(&r.msgs[0], msg[f].off).len)
                    fail_msg("near miss \"%s\" read as \"%s\"", miss[i], msg[f].name);
        }
    }
    arena_deinit(&a);
}

static void test_tool_call_keys(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 0);
    for (int how = 0; how < 3; how++) {
        char id[64], fn[64], nm[64], b[12800];
        key_text(id, "id", how);
        key_text(fn, "function", how);
        key_text(nm, "name", how);
        snprintf(b, sizeof b,
                 "{\"messages\":[{\"tool_calls\":[{\"%s\":\"c1\",\"%s\":{\"%s\":\"f1\"}}]}]}", id,
                 fn, nm);
        jreq_t r;
        assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
        assert_int_equal(r.msgs[0].n_tool_calls, 1);
        jcall_t c = r.msgs[0].calls[0];
        assert_int_equal(c.id.off, strstr(b, "\"c1\"") - b);
        assert_int_equal(c.id.len, 4);
        assert_int_equal(c.name.off, strstr(b, "\"f1\"") - b);
        assert_int_equal(c.name.len, 4);
    }
    static const char *const keys[] = {"id", "function", "name"};
    for (size_t t = 0; t < 3; t++) {
        char miss[64][64];
        int n = near_misses(keys[t], miss);
        for (int i = 0; i < n; i++) {
            if (is_name(miss[i], keys, 3)) continue;
            char b[12800];
            snprintf(b, sizeof b,
                     "{\"messages\":[{\"tool_calls\":[{\"%s\":\"c1\",\"%s\":{\"%s\":\"f1\"}}]}]}",
                     t == 0 ? miss[i] : "id", t == 1 ? miss[i] : "function",
                     t == 2 ? miss[i] : "name");
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
            jcall_t c = r.msgs[0].calls[0];
            assert_int_equal(c.id.len, t == 0 ? 0 : 4);
            assert_int_equal(c.name.len, t == 0 ? 4 : 0);
        }
    }
    arena_deinit(&a);
}

static void test_every_role(void **state)
{
    (void)state;
    const char *names[sizeof roles / sizeof roles[0]];
    for (size_t t = 0; t < sizeof roles / sizeof roles[0]; t++)
        names[t] = roles[t].name;
    arena_t a;
    arena_init(&a, 0);
    for (size_t t = 0; t < sizeof roles / sizeof roles[0]; t++) {
        for (int how = 0; how < 3; how++) {
            char v[64], b[12800];
            key_text(v, roles[t].name, how);
            snprintf(b, sizeof b, "{\"messages\":[{\"role\":\"%s\"}]}", v);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
            assert_int_equal(r.msgs[0].role, roles[t].role);
        }
        char miss[64][64];
        int n = near_misses(roles[t].name, miss);
        for (int i = 0; i < n; i++) {
            if (is_name(miss[i], names, sizeof names / sizeof names[0])) continue;
            char b[12800];
            snprintf(b, sizeof b, "{\"messages\":[{\"role\":\"%s\"}]}", miss[i]);
            jreq_t r;
            assert_int_equal(jscan_request(b, strlen(b), &a, &r, NULL), 0);
            if (r.msgs[0].role != JROLE_OTHER)
                fail_msg("near miss \"%s\" read as role %d", miss[i], (int)r.msgs[0].role);
        }
    }
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_top_level_key),
        cmocka_unit_test(test_every_message_key),
        cmocka_unit_test(test_tool_call_keys),
        cmocka_unit_test(test_every_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
