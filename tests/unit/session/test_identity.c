/* test_identity.c - session identity (SPEC §9.1): each source in order of
 * precedence, tenant scoping, hashing of long and non-printable ids, the
 * prefix chain across turns of one conversation (with and without tool
 * calls, retries, whitespace changes), no merging of distinct conversations
 * that share a system prompt and first message, the opener fallback with low
 * confidence, tenants kept apart, and fingerprinting switched off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/global.h"
#include "core/buf.h"
#include "core/hash.h"
#include "session/identity.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct hdrs {
    rq_header_t h[8];
    size_t n;
} hdrs_t;

static void hdr(hdrs_t *hs, const char *name, const char *value)
{
    hs->h[hs->n++] = (rq_header_t){name, strlen(name), value, strlen(value)};
}

static rq_t *facts(arena_t *a, const char *body, const hdrs_t *hs)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    jscan_err_t e;
    char *copy = arena_strdup(a, body);
    assert_int_equal(jscan_request(copy, strlen(copy), a, jr, &e), 0);
    rq_t *r = rq_from_chat(a, copy, strlen(copy), jr, hs ? hs->h : NULL, hs ? hs->n : 0);
    assert_non_null(r);
    return r;
}

typedef struct got {
    int calls;
    sess_identity_t id;
} got_t;

static void on_id(void *ud, const sess_identity_t *id)
{
    got_t *g = ud;
    g->calls++;
    g->id = *id;
}

/* A response store stand-in: "resp_known" belongs to a session of tenant anon. */
static void prev_lookup(void *ud, const char *resp_id, sess_prev_done_fn done, void *done_ud)
{
    (void)ud;
    done(done_ud,
         strcmp(resp_id, "resp_known") == 0 ? "anon\x1fprompt_cache_key\x1fpck-old" : NULL);
}

static sess_identity_t resolve_full(sess_store_t *st, const char *body, const hdrs_t *hs,
                                    const char *req_id, const sess_tenant_in_t *ten,
                                    const cfg_session_t *cfg)
{
    arena_t a;
    arena_init(&a, 8192);
    rq_t *r = facts(&a, body, hs);
    sess_identity_in_t in = {
        .cfg = cfg, .request_id = req_id, .store = st, .prev_lookup = prev_lookup};
    if (ten) in.tenant = *ten;
    got_t g = {0};
    sess_identity_resolve(&in, r, on_id, &g);
    assert_int_equal(g.calls, 1); /* memory store: inline, exactly once */
    arena_deinit(&a);
    return g.id;
}

static sess_identity_t resolve(sess_store_t *st, const char *body, const char *req_id)
{
    return resolve_full(st, body, NULL, req_id, NULL, NULL);
}

/* ---- explicit sources ---- */

static const char *body_with(bool pck, bool msid, bool muid, bool conv, bool prev)
{
    static char b[1024];
    snprintf(b, sizeof b,
             "{\"model\":\"auto\",%s%s%s"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             pck ? "\"prompt_cache_key\":\"pck-1\"," : "",
             (msid || muid)
                 ? (msid && muid ? "\"metadata\":{\"session_id\":\"ms-1\",\"user_id\":\"mu-1\"},"
                    : msid       ? "\"metadata\":{\"session_id\":\"ms-1\"},"
                                 : "\"metadata\":{\"user_id\":\"mu-1\"},")
                 : "",
             conv   ? "\"conversation\":{\"id\":\"conv_1\"},"
             : prev ? "\"previous_response_id\":\"resp_known\","
                    : "");
    return b;
}

static void test_sources_in_order_of_precedence(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    struct {
        int headers; /* how many of the 4 header sources are present, from the last */
        bool pck, msid, muid, conv, prev;
        const char *source, *id;
    } cases[] = {
        {4, 1, 1, 1, 1, 0, "x-session-id", "sid-1"},
        {3, 1, 1, 1, 1, 0, "x-conversation-id", "cid-1"},
        {2, 1, 1, 1, 1, 0, "x-claude-code-session-id", "cc-1"},
        {1, 1, 1, 1, 1, 0, "x-codex-turn-metadata", "codex-1"},
        {0, 1, 1, 1, 1, 0, "prompt_cache_key", "pck-1"},
        {0, 0, 1, 1, 1, 0, "metadata.session_id", "ms-1"},
        {0, 0, 0, 1, 1, 0, "metadata.user_id", "mu-1"},
        {0, 0, 0, 0, 1, 0, "conversation", "conv_1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hdrs_t hs = {0};
        if (cases[i].headers >= 4) hdr(&hs, "x-session-id", "sid-1");
        if (cases[i].headers >= 3) hdr(&hs, "x-conversation-id", "cid-1");
        if (cases[i].headers >= 2) hdr(&hs, "x-claude-code-session-id", "cc-1");
        if (cases[i].headers >= 1)
            hdr(&hs, "x-codex-turn-metadata", "{\"turn\":3,\"session_id\":\"codex-1\"}");
        sess_identity_t id = resolve_full(
            st, body_with(cases[i].pck, cases[i].msid, cases[i].muid, cases[i].conv, cases[i].prev),
            &hs, "req", NULL, NULL);
        assert_true(id.found);
        assert_string_equal(id.source, cases[i].source);
        char want[256];
        snprintf(want, sizeof want, "anon\x1f%s\x1f%s", cases[i].source, cases[i].id);
        assert_string_equal(id.key, want);
        assert_false(id.low_confidence);
    }
    /* previous_response_id known to the response store: its session */
    sess_identity_t id = resolve(st, body_with(0, 0, 0, 0, 1), "req");
    assert_string_equal(id.source, "previous_response_id");
    assert_string_equal(id.key, "anon\x1fprompt_cache_key\x1fpck-old");
    /* unknown previous_response_id falls through to the fingerprint */
    id = resolve(st,
                 "{\"model\":\"a\",\"previous_response_id\":\"resp_other\","
                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                 "req");
    assert_string_equal(id.source, "fingerprint");
    /* nothing explicit: the fingerprint */
    id = resolve(st, body_with(0, 0, 0, 0, 0), "req");
    assert_string_equal(id.source, "fingerprint");
    assert_true(id.is_new);
    assert_non_null(strstr(id.key, "\x1f"
                                   "fingerprint\x1f"
                                   "fp:"));
    sess_store_free(st);
}

static void test_empty_or_bad_sources_are_skipped(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    hdrs_t hs = {0};
    hdr(&hs, "x-session-id", "");
    hdr(&hs, "x-codex-turn-metadata", "{not json");
    sess_identity_t id = resolve_full(st,
                                      "{\"model\":\"a\",\"prompt_cache_key\":\"\","
                                      "\"metadata\":{\"user_id\":\"u9\"},"
                                      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                                      &hs, "r", NULL, NULL);
    assert_string_equal(id.source, "metadata.user_id");
    assert_string_equal(id.key, "anon\x1fmetadata.user_id\x1fu9");
    sess_store_free(st);
}

static void test_tenant_scoping(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    const char *body = "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    hdrs_t hs = {0};
    hdr(&hs, "x-session-id", "s1");
    hdr(&hs, "x-authz-tenant-id", "acme");
    hdr(&hs, "authorization", "Bearer sk-secret");

    /* the listener key's tenant wins */
    sess_tenant_in_t t = {.key_tenant = "team-a", .trust_identity_headers = true};
    sess_identity_t id = resolve_full(st, body, &hs, "r", &t, NULL);
    assert_string_equal(id.key, "team-a\x1fx-session-id\x1fs1");
    /* then a trusted x-authz-tenant-id */
    t.key_tenant = NULL;
    id = resolve_full(st, body, &hs, "r", &t, NULL);
    assert_string_equal(id.key, "acme\x1fx-session-id\x1fs1");
    /* untrusted: hex16 of the credential (Bearer prefix removed) */
    t.trust_identity_headers = false;
    id = resolve_full(st, body, &hs, "r", &t, NULL);
    char hex[17], want[128];
    hash_hex16(hash_xxh64("sk-secret", 9, 0), hex);
    snprintf(want, sizeof want, "%s\x1fx-session-id\x1fs1", hex);
    assert_string_equal(id.key, want);
    assert_null(strstr(id.key, "sk-secret"));
    /* the same credential through x-api-key scopes alike */
    hdrs_t hs2 = {0};
    hdr(&hs2, "x-session-id", "s1");
    hdr(&hs2, "x-api-key", "sk-secret");
    id = resolve_full(st, body, &hs2, "r", &t, NULL);
    assert_string_equal(id.key, want);
    /* nothing: anon */
    hdrs_t hs3 = {0};
    hdr(&hs3, "x-session-id", "s1");
    id = resolve_full(st, body, &hs3, "r", &t, NULL);
    assert_string_equal(id.key, "anon\x1fx-session-id\x1fs1");
    sess_store_free(st);
}

static void test_long_and_nonprintable_ids_are_hashed(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    const char *body = "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    char id256[257], id257[258];
    memset(id256, 'a', 256);
    id256[256] = 0;
    memset(id257, 'a', 257);
    id257[257] = 0;
    char hex[17], want[400];

    hdrs_t hs = {0};
    hdr(&hs, "x-session-id", id256);
    sess_identity_t id = resolve_full(st, body, &hs, "r", NULL, NULL);
    snprintf(want, sizeof want, "anon\x1fx-session-id\x1f%s", id256);
    assert_string_equal(id.key, want);

    hs.n = 0;
    hdr(&hs, "x-session-id", id257);
    id = resolve_full(st, body, &hs, "r", NULL, NULL);
    hash_hex16(hash_xxh64(id257, 257, 0), hex);
    snprintf(want, sizeof want, "anon\x1fx-session-id\x1fh:%s", hex);
    assert_string_equal(id.key, want);

    hs.n = 0;
    hdr(&hs, "x-session-id", "caf\xc3\xa9");
    id = resolve_full(st, body, &hs, "r", NULL, NULL);
    hash_hex16(hash_xxh64("caf\xc3\xa9", 5, 0), hex);
    snprintf(want, sizeof want, "anon\x1fx-session-id\x1fh:%s", hex);
    assert_string_equal(id.key, want);

    /* a separator inside an id cannot forge another key */
    hs.n = 0;
    hdr(&hs, "x-session-id",
        "a\x1f"
        "b");
    id = resolve_full(st, body, &hs, "r", NULL, NULL);
    assert_non_null(strstr(id.key, "\x1fh:"));

    /* max_id_bytes from config */
    static char *hnames[] = {"x-session-id"};
    cfg_session_t cfg = {0};
    cfg.identity.headers = (cfg_strlist_t){hnames, 1};
    cfg.identity.fingerprint = true;
    cfg.identity.max_id_bytes = 4;
    hs.n = 0;
    hdr(&hs, "x-session-id", "abcde");
    id = resolve_full(st, body, &hs, "r", NULL, &cfg);
    assert_string_equal(id.source, "x-session-id");
    assert_non_null(strstr(id.key, "\x1fh:"));
    hs.n = 0;
    hdr(&hs, "x-session-id", "abcd");
    id = resolve_full(st, body, &hs, "r", NULL, &cfg);
    assert_string_equal(id.key, "anon\x1fx-session-id\x1f"
                                "abcd");
    sess_store_free(st);
}

/* ---- prefix chain ---- */

#define SYS "{\"role\":\"system\",\"content\":\"You are a coding agent.\"}"

static void turn_done(sess_store_t *st, const sess_identity_t *id, const char *reply,
                      const rq_tool_call_t *calls, size_t n_calls)
{
    sess_outcome_t o = {.model = "m", .now_ms = 1000, .started_at_ms = 1000, .opener = id->opener};
    sess_commit_result_t res;
    assert_int_equal(sess_store_commit_wait(st, id->key, &o, &res, NULL), SESS_OK);
    sess_identity_index_turn(st, id, reply, strlen(reply), calls, n_calls, NULL, NULL);
}

static void test_chain_follows_one_conversation_over_turns(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    sess_identity_t t1 = resolve(st,
                                 "{\"model\":\"auto\",\"messages\":[" SYS
                                 ",{\"role\":\"user\",\"content\":\"fix the bug\"}]}",
                                 "req-1");
    assert_true(t1.found);
    assert_true(t1.is_new);
    assert_false(t1.low_confidence);
    assert_string_equal(t1.source, "fingerprint");
    turn_done(st, &t1, "Looking at it.\n\nWhich file?", NULL, 0);

    /* turn 2 re-sends the reply with different whitespace */
    sess_identity_t t2 = resolve(
        st,
        "{\"model\":\"auto\",\"messages\":[" SYS ",{\"role\":\"user\",\"content\":\"fix the bug\"},"
        "{\"role\":\"assistant\",\"content\":\"Looking at it. Which   file?\"},"
        "{\"role\":\"user\",\"content\":\"main.c\"}]}",
        "req-2");
    assert_string_equal(t2.key, t1.key);
    assert_false(t2.is_new);
    assert_false(t2.low_confidence);
    rq_tool_call_t call = {"call_1", "read_file"};
    turn_done(st, &t2, "", &call, 1);

    /* turn 3: the tool result follows the assistant tool call */
    const char *b3 =
        "{\"model\":\"auto\",\"messages\":[" SYS ",{\"role\":\"user\",\"content\":\"fix the bug\"},"
        "{\"role\":\"assistant\",\"content\":\"Looking at it. Which file?\"},"
        "{\"role\":\"user\",\"content\":\"main.c\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"int main(){}\"}]}";
    sess_identity_t t3 = resolve(st, b3, "req-3");
    assert_string_equal(t3.key, t1.key);
    assert_false(t3.low_confidence);
    turn_done(st, &t3, "Fixed.", NULL, 0);

    /* a retry of turn 3 (same messages) maps back through p_n */
    sess_identity_t t3r = resolve(st, b3, "req-3-retry");
    assert_string_equal(t3r.key, t1.key);
    assert_false(t3r.low_confidence);

    /* turn 4 */
    sess_identity_t t4 = resolve(
        st,
        "{\"model\":\"auto\",\"messages\":[" SYS ",{\"role\":\"user\",\"content\":\"fix the bug\"},"
        "{\"role\":\"assistant\",\"content\":\"Looking at it. Which file?\"},"
        "{\"role\":\"user\",\"content\":\"main.c\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"int main(){}\"},"
        "{\"role\":\"assistant\",\"content\":\"Fixed.\"},"
        "{\"role\":\"user\",\"content\":\"thanks, now add a test\"}]}",
        "req-4");
    assert_string_equal(t4.key, t1.key);
    assert_false(t4.is_new);
    assert_false(t4.low_confidence);
    assert_int_equal(t4.n, 7);
    assert_true(t4.has_assistant);
    sess_store_free(st);
}

static void test_two_conversations_with_same_opening_stay_apart(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    const char *open =
        "{\"model\":\"auto\",\"messages\":[" SYS ",{\"role\":\"user\",\"content\":\"hello\"}]}";
    sess_identity_t a1 = resolve(st, open, "req-a");
    turn_done(st, &a1, "Hi A", NULL, 0);
    sess_identity_t b1 = resolve(st, open, "req-b");
    turn_done(st, &b1, "Hi B", NULL, 0);
    assert_true(a1.is_new);
    assert_true(b1.is_new);
    assert_string_not_equal(a1.key, b1.key);
    assert_true(a1.opener == b1.opener);

    sess_identity_t a2 = resolve(st,
                                 "{\"model\":\"auto\",\"messages\":[" SYS
                                 ",{\"role\":\"user\",\"content\":\"hello\"},"
                                 "{\"role\":\"assistant\",\"content\":\"Hi A\"},"
                                 "{\"role\":\"user\",\"content\":\"next\"}]}",
                                 "req-a2");
    sess_identity_t b2 = resolve(st,
                                 "{\"model\":\"auto\",\"messages\":[" SYS
                                 ",{\"role\":\"user\",\"content\":\"hello\"},"
                                 "{\"role\":\"assistant\",\"content\":\"Hi B\"},"
                                 "{\"role\":\"user\",\"content\":\"next\"}]}",
                                 "req-b2");
    assert_string_equal(a2.key, a1.key);
    assert_string_equal(b2.key, b1.key);
    assert_false(a2.low_confidence);
    assert_false(b2.low_confidence);

    /* a different system prompt is a different conversation even with the
     * same history */
    sess_identity_t c = resolve(st,
                                "{\"model\":\"auto\",\"messages\":["
                                "{\"role\":\"system\",\"content\":\"Other prompt\"},"
                                "{\"role\":\"user\",\"content\":\"hello\"},"
                                "{\"role\":\"assistant\",\"content\":\"Hi A\"},"
                                "{\"role\":\"user\",\"content\":\"next\"}]}",
                                "req-c");
    assert_true(c.is_new);
    assert_string_not_equal(c.key, a1.key);
    sess_store_free(st);
}

static void test_opener_fallback_has_low_confidence(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    sess_identity_t a1 = resolve(st,
                                 "{\"model\":\"auto\",\"messages\":[" SYS
                                 ",{\"role\":\"user\",\"content\":\"plan a trip\"}]}",
                                 "req-1");
    turn_done(st, &a1, "Where to?", NULL, 0);
    /* the client rewrote the assistant turn (e.g. compaction): no chain hit,
     * but the opener matches and there is an assistant message */
    sess_identity_t a2 = resolve(
        st,
        "{\"model\":\"auto\",\"messages\":[" SYS ",{\"role\":\"user\",\"content\":\"plan a trip\"},"
        "{\"role\":\"assistant\",\"content\":\"[summary of earlier turns]\"},"
        "{\"role\":\"user\",\"content\":\"Lisbon\"}]}",
        "req-2");
    assert_string_equal(a2.key, a1.key);
    assert_true(a2.low_confidence);
    assert_false(a2.is_new);
    /* without an assistant message the opener is not used: a new session */
    sess_identity_t b = resolve(st,
                                "{\"model\":\"auto\",\"messages\":[" SYS
                                ",{\"role\":\"user\",\"content\":\"plan a trip\"}]}",
                                "req-3");
    assert_true(b.is_new);
    assert_false(b.low_confidence);
    assert_string_not_equal(b.key, a1.key);
    sess_store_free(st);
}

static void test_tenants_do_not_share_chains(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    sess_tenant_in_t ta = {.key_tenant = "ta"}, tb = {.key_tenant = "tb"};
    const char *b1 = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
    sess_identity_t a = resolve_full(st, b1, NULL, "r1", &ta, NULL);
    turn_done(st, &a, "ans", NULL, 0);
    const char *b2 = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                     "{\"role\":\"assistant\",\"content\":\"ans\"},"
                     "{\"role\":\"user\",\"content\":\"more\"}]}";
    sess_identity_t same = resolve_full(st, b2, NULL, "r2", &ta, NULL);
    assert_string_equal(same.key, a.key);
    sess_identity_t other = resolve_full(st, b2, NULL, "r3", &tb, NULL);
    assert_true(other.is_new);
    assert_int_equal(strncmp(other.key, "tb\x1f", 3), 0);
    sess_store_free(st);
}

static void test_fingerprint_disabled_gives_no_identity(void **state)
{
    sess_store_t *st = sess_store_memory_new(NULL);
    static char *hnames[] = {"x-session-id"};
    cfg_session_t cfg = {0};
    cfg.identity.headers = (cfg_strlist_t){hnames, 1};
    cfg.identity.fingerprint = false;
    cfg.identity.max_id_bytes = 256;
    const char *b = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
    sess_identity_t id = resolve_full(st, b, NULL, "r", NULL, &cfg);
    assert_false(id.found);
    /* configured lists replace the defaults: x-conversation-id is not a source here */
    hdrs_t hs = {0};
    hdr(&hs, "x-conversation-id", "c1");
    id = resolve_full(st, b, &hs, "r", NULL, &cfg);
    assert_false(id.found);
    hs.n = 0;
    hdr(&hs, "x-session-id", "s1");
    id = resolve_full(st, b, &hs, "r", NULL, &cfg);
    assert_true(id.found);
    assert_string_equal(id.source, "x-session-id");
    sess_store_free(st);
}

static void test_normalisation(void **state)
{
    /* whitespace runs collapse and trim; role, call ids and names count */
    uint64_t a = sess_identity_msg_hash(JROLE_USER, "  a \n\t b ", 9, NULL, 0, NULL);
    uint64_t b = sess_identity_msg_hash(JROLE_USER, "a b", 3, NULL, 0, NULL);
    uint64_t c = sess_identity_msg_hash(JROLE_ASSISTANT, "a b", 3, NULL, 0, NULL);
    uint64_t d = sess_identity_msg_hash(JROLE_USER, "ab", 2, NULL, 0, NULL);
    assert_true(a == b);
    assert_true(b != c);
    assert_true(b != d);
    rq_tool_call_t k1 = {"id1", "f"}, k2 = {"id2", "f"}, k3 = {"id1", "g"};
    uint64_t h1 = sess_identity_msg_hash(JROLE_ASSISTANT, "", 0, &k1, 1, NULL);
    assert_true(h1 != sess_identity_msg_hash(JROLE_ASSISTANT, "", 0, &k2, 1, NULL));
    assert_true(h1 != sess_identity_msg_hash(JROLE_ASSISTANT, "", 0, &k3, 1, NULL));
    assert_true(sess_identity_msg_hash(JROLE_TOOL, "x", 1, NULL, 0, "id1") !=
                sess_identity_msg_hash(JROLE_TOOL, "x", 1, NULL, 0, "id2"));
    /* developer counts as system */
    assert_true(sess_identity_msg_hash(JROLE_DEVELOPER, "s", 1, NULL, 0, NULL) ==
                sess_identity_msg_hash(JROLE_SYSTEM, "s", 1, NULL, 0, NULL));

    /* reasoning is not part of a message; tools JSON whitespace does not matter */
    arena_t ar;
    arena_init(&ar, 8192);
    rq_t *r1 =
        facts(&ar,
              "{\"model\":\"a\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
              "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
              "{\"role\":\"assistant\",\"content\":\"x\",\"reasoning_content\":\"hmm\"}]}",
              NULL);
    rq_t *r2 = facts(
        &ar,
        "{\"model\":\"a\",\"tools\": [ {\"type\": \"function\", \"function\": {\"name\": \"f\"}} ],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"x\"}]}",
        NULL);
    rq_t *r3 =
        facts(&ar,
              "{\"model\":\"a\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"g\"}}],"
              "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
              "{\"role\":\"assistant\",\"content\":\"x\"}]}",
              NULL);
    sess_identity_t i1 = {0}, i2 = {0}, i3 = {0};
    sess_identity_chain(r1, &i1);
    sess_identity_chain(r2, &i2);
    sess_identity_chain(r3, &i3);
    assert_true(i1.pn == i2.pn);
    assert_true(i1.opener == i2.opener);
    assert_true(i1.p0 != i3.p0);
    assert_true(i1.pn != i3.pn);
    arena_deinit(&ar);
}

/* The reference normalisation, byte by byte: whitespace runs to one space,
 * trimmed. */
static size_t ref_collapse(const char *s, size_t n, char *out)
{
    size_t o = 0;
    bool pending = false, any = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            pending = any;
            continue;
        }
        if (pending) out[o++] = ' ';
        pending = false;
        any = true;
        out[o++] = (char)c;
    }
    return o;
}

static void test_collapse_matches_reference(void **state)
{
    /* random texts over a small alphabet heavy in whitespace, every length
     * around the 64-byte block edges, and long runs */
    static const char alpha[] = "ab  \t\n\r\v\f x\x0e\x1f\x08!";
    static char t[4096], want[4096];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 3000; round++) {
        size_t n = round < 300 ? (size_t)round : (size_t)(seed >> 40) % sizeof t;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int mode = round % 3; /* 0: mixed, 1: mostly words, 2: mostly spaces */
            unsigned k = (unsigned)(seed >> 33);
            t[i] = mode == 1   ? (k % 7 ? 'w' : alpha[k % (sizeof alpha - 1)])
                   : mode == 2 ? (k % 5 ? ' ' : alpha[k % (sizeof alpha - 1)])
                               : alpha[k % (sizeof alpha - 1)];
        }
        size_t wn = ref_collapse(t, n, want);
        uint64_t got = sess_identity_msg_hash(JROLE_USER, t, n, NULL, 0, NULL);
        uint64_t exp = sess_identity_msg_hash(JROLE_USER, want, wn, NULL, 0, NULL);
        if (got != exp) fail_msg("round %d, length %zu: collapsed hash differs", round, n);
        /* and the collapsed text is what gets hashed: one byte changed differs */
        if (wn) {
            want[wn / 2] = want[wn / 2] == 'a' ? 'b' : 'a';
            assert_true(exp != sess_identity_msg_hash(JROLE_USER, want, wn, NULL, 0, NULL));
        }
    }
    /* a single space never disappears, a run of them is one */
    assert_true(sess_identity_msg_hash(JROLE_USER, "a b", 3, NULL, 0, NULL) !=
                sess_identity_msg_hash(JROLE_USER, "ab", 2, NULL, 0, NULL));
    assert_true(sess_identity_msg_hash(JROLE_USER, "a     b", 7, NULL, 0, NULL) ==
                sess_identity_msg_hash(JROLE_USER, "a\tb", 3, NULL, 0, NULL));
}

static void test_tools_json_whitespace_only_outside_strings(void **state)
{
    arena_t ar;
    arena_init(&ar, 8192);
    const char *bodies[] = {
        "{\"model\":\"a\",\"tools\":[{\"d\":\"two  words \\\" q \\\\\",\"n\":[1,2]}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        "{\"model\":\"a\",\"tools\":\n[ {\n\t\"d\" : \"two  words \\\" q \\\\\" ,\r\n  \"n\": [ 1 "
        ", 2 ] } ]  ,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        /* whitespace inside the string is kept */
        "{\"model\":\"a\",\"tools\":[{\"d\":\"two words \\\" q \\\\\",\"n\":[1,2]}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        "{\"model\":\"a\",\"tools\":[{\"d\":\"two  words \\\" q \\\\\",\"n\":[12]}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
    };
    sess_identity_t id[4];
    for (int i = 0; i < 4; i++) {
        memset(&id[i], 0, sizeof id[i]);
        sess_identity_chain(facts(&ar, bodies[i], NULL), &id[i]);
    }
    assert_true(id[0].p0 == id[1].p0);
    assert_true(id[0].p0 != id[2].p0);
    assert_true(id[0].p0 != id[3].p0);
    arena_deinit(&ar);
}

static void test_chain_only_when_it_can_be_used(void **state)
{
    const char *b = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
    hdrs_t hs = {0};
    hdr(&hs, "x-session-id", "s1");
    /* a header won and there is no store to index into: no chain */
    sess_identity_t id = resolve_full(NULL, b, &hs, "r", NULL, NULL);
    assert_true(id.found);
    assert_false(id.has_chain);
    /* with a store the chain is there for sess_identity_index_turn */
    sess_store_t *st = sess_store_memory_new(NULL);
    id = resolve_full(st, b, &hs, "r", NULL, NULL);
    assert_true(id.has_chain);
    assert_true(id.n == 1);
    sess_identity_t plain = {0};
    arena_t ar;
    arena_init(&ar, 8192);
    sess_identity_chain(facts(&ar, b, NULL), &plain);
    assert_true(plain.pn == id.pn);
    assert_true(plain.opener == id.opener);
    arena_deinit(&ar);
    /* fingerprinting without a store still resolves (a new session) */
    id = resolve_full(NULL, b, NULL, "r", NULL, NULL);
    assert_true(id.found && id.is_new && id.has_chain);
    sess_store_free(st);
}

/* ---- the per-thread chain memo ---- */

/* Turn k of a long agent conversation: a system prompt, then k rounds of
 * user text, an assistant tool call, its result and an assistant reply
 * (whitespace varied, so normalisation matters). Written into out. */
static void agent_body(char *out, size_t cap, int k, const char *sys)
{
    size_t o = (size_t)snprintf(out, cap,
                                "{\"model\":\"auto\",\"messages\":["
                                "{\"role\":\"system\",\"content\":\"%s\"}",
                                sys);
    for (int i = 0; i < k; i++)
        o += (size_t)snprintf(
            out + o, cap - o,
            ",{\"role\":\"user\",\"content\":\"step %d:  do  it\\n\"}"
            ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%d\","
            "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{}\"}}]}"
            ",{\"role\":\"tool\",\"tool_call_id\":\"call_%d\",\"content\":\"line %d\\tok\"}"
            ",{\"role\":\"assistant\",\"content\":\"done %d\"}",
            i, i, i, i, i);
    snprintf(out + o, cap - o, "]}");
}

typedef struct cold {
    const char *body;
    sess_identity_t id;
    size_t normalised;
} cold_t;

/* The chain computed on a fresh thread: an empty memo. */
static void *cold_chain(void *arg)
{
    cold_t *c = arg;
    arena_t ar;
    arena_init(&ar, 8192);
    size_t before = sess_identity_chain_normalised();
    sess_identity_chain(facts(&ar, c->body, NULL), &c->id);
    c->normalised = sess_identity_chain_normalised() - before;
    arena_deinit(&ar);
    return NULL;
}

static void test_next_turn_normalises_only_new_messages(void **state)
{
    static char body[65536];
    arena_t ar;
    arena_init(&ar, 8192);
    for (int k = 1; k <= 24; k++) {
        agent_body(body, sizeof body, k, "memo test agent");
        size_t before = sess_identity_chain_normalised();
        sess_identity_t warm = {0};
        sess_identity_chain(facts(&ar, body, NULL), &warm);
        size_t hashed = sess_identity_chain_normalised() - before;
        /* turn 1 starts cold; every later turn adds 4 messages */
        assert_int_equal(hashed, 4);
        cold_t c = {.body = body};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cold_chain, &c), 0);
        pthread_join(t, NULL);
        assert_int_equal(c.normalised, (size_t)(4 * k));
        assert_true(warm.p0 == c.id.p0);
        assert_true(warm.pn == c.id.pn);
        assert_true(warm.opener == c.id.opener);
        assert_int_equal(warm.n, c.id.n);
        assert_int_equal(warm.has_assistant, c.id.has_assistant);
        arena_reset(&ar);
    }
    /* a retry of the same turn normalises nothing */
    size_t before = sess_identity_chain_normalised();
    sess_identity_t again = {0};
    sess_identity_chain(facts(&ar, body, NULL), &again);
    assert_int_equal(sess_identity_chain_normalised() - before, 0);
    /* another system prompt is another chain: all of it is normalised */
    agent_body(body, sizeof body, 3, "another agent");
    before = sess_identity_chain_normalised();
    sess_identity_chain(facts(&ar, body, NULL), &again);
    assert_int_equal(sess_identity_chain_normalised() - before, 12);
    arena_deinit(&ar);
}

/* A session indexed at one turn is still found several turns later, through
 * the chain hashes the memo kept (the lookback ring), not only the newest. */
static void test_memo_keeps_the_lookback_chain(void **state)
{
    static char body[65536];
    sess_store_t *st = sess_store_memory_new(NULL);
    agent_body(body, sizeof body, 2, "lookback agent");
    sess_identity_t t = resolve(st, body, "req-1");
    assert_true(t.is_new);
    rq_tool_call_t call = {"call_2", "read_file"};
    turn_done(st, &t, "", &call, 1);
    /* turns 3..5 go unindexed (answered elsewhere), each one memoised here */
    arena_t ar;
    arena_init(&ar, 8192);
    for (int k = 3; k <= 5; k++) {
        agent_body(body, sizeof body, k, "lookback agent");
        sess_identity_t x = {0};
        snprintf(x.tenant, sizeof x.tenant, "anon");
        sess_identity_chain(facts(&ar, body, NULL), &x);
        arena_reset(&ar);
    }
    arena_deinit(&ar);
    agent_body(body, sizeof body, 6, "lookback agent");
    size_t before = sess_identity_chain_normalised();
    sess_identity_t t6 = resolve(st, body, "req-6");
    assert_int_equal(sess_identity_chain_normalised() - before, 4);
    assert_false(t6.is_new);
    assert_false(t6.low_confidence); /* the chain found it, not the opener */
    assert_string_equal(t6.key, t.key);
    sess_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_in_order_of_precedence),
        cmocka_unit_test(test_empty_or_bad_sources_are_skipped),
        cmocka_unit_test(test_tenant_scoping),
        cmocka_unit_test(test_long_and_nonprintable_ids_are_hashed),
        cmocka_unit_test(test_chain_follows_one_conversation_over_turns),
        cmocka_unit_test(test_two_conversations_with_same_opening_stay_apart),
        cmocka_unit_test(test_opener_fallback_has_low_confidence),
        cmocka_unit_test(test_tenants_do_not_share_chains),
        cmocka_unit_test(test_fingerprint_disabled_gives_no_identity),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_collapse_matches_reference),
        cmocka_unit_test(test_tools_json_whitespace_only_outside_strings),
        cmocka_unit_test(test_chain_only_when_it_can_be_used),
        cmocka_unit_test(test_next_turn_normalises_only_new_messages),
        cmocka_unit_test(test_memo_keeps_the_lookback_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
