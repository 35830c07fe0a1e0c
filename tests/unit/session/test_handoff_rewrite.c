/* test_handoff_rewrite.c - the forced handoff's byte conversion (SPEC §9.7)
 * on chat bodies: each conversion (previous_response_id, encrypted
 * reasoning with and without summaries, signed and redacted thinking,
 * thought signatures at every depth, tool-call id rewrite, the pending tool
 * loop as plain history), the validity of every output (jscan_validate),
 * id consistency between calls and results, no edits on bodies with nothing
 * to convert and on converted outputs (idempotence), and the helpers for
 * unavailability by failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "json/scan.h"
#include "request/request.h"
#include "session/handoff_rewrite.h"
#include "session/policy.h"

static const sess_conversion_t ALL[] = {
    SESS_CONV_DROP_ENCRYPTED_REASONING, SESS_CONV_DROP_SIGNED_THINKING,
    SESS_CONV_DROP_THOUGHT_SIGNATURES,  SESS_CONV_REWRITE_TOOL_CALL_IDS,
    SESS_CONV_TOOL_LOOP_AS_HISTORY,
};

typedef struct out {
    arena_t a;
    buf_t body;
    size_t n_edits;
    int rc;
    sess_handoff_result_t res;
    cJSON *doc;
} out_t;

static sess_handoff_t plan(const sess_conversion_t *c, size_t n)
{
    sess_handoff_t h;
    memset(&h, 0, sizeof h);
    h.from = "a", h.to = "b", h.possible = true;
    for (size_t i = 0; i < n; i++)
        h.conversions[h.n_conversions++] = c[i];
    return h;
}

/* Rewrite body; the output must be valid JSON. */
static void run_opts(out_t *o, const char *body, const sess_conversion_t *c, size_t n,
                     const sess_handoff_opts_t *opts)
{
    memset(o, 0, sizeof *o);
    arena_init(&o->a, 4096);
    jreq_t *jr = arena_calloc(&o->a, sizeof *jr);
    assert_int_equal(jscan_request(body, strlen(body), &o->a, jr, NULL), 0);
    rq_t *rq = rq_from_chat(&o->a, body, strlen(body), jr, NULL, 0);
    assert_non_null(rq);
    sess_handoff_t h = plan(c, n);
    jsplice_t s;
    jsplice_init(&s);
    o->rc = sess_handoff_rewrite(rq, &h, opts, &o->a, &s, &o->res);
    o->n_edits = s.n;
    jsplice_sort(&s);
    jsplice_to_buf(&s, body, strlen(body), &o->body);
    jsplice_free(&s);
    jscan_err_t err = {0};
    if (jscan_validate(o->body.data, o->body.len, &err) != 0)
        fail_msg("invalid output (%s at %zu): %s", err.message, err.offset, o->body.data);
    o->doc = cJSON_Parse(o->body.data);
    assert_non_null(o->doc);
}

static void run(out_t *o, const char *body, const sess_conversion_t *c, size_t n)
{
    run_opts(o, body, c, n, NULL);
}

static void done(out_t *o)
{
    cJSON_Delete(o->doc);
    buf_free(&o->body);
    arena_deinit(&o->a);
}

static const cJSON *msg(const out_t *o, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(o->doc, "messages"), i);
}

static bool applied(const out_t *o, sess_conversion_t c)
{
    for (size_t i = 0; i < o->res.n_applied; i++)
        if (o->res.applied[i] == c) return true;
    return false;
}

/* Rewriting the output again with every conversion must change nothing. */
static void assert_idempotent(const char *body)
{
    out_t o;
    run(&o, body, ALL, sizeof ALL / sizeof ALL[0]);
    out_t again;
    run(&again, o.body.data, ALL, sizeof ALL / sizeof ALL[0]);
    if (again.n_edits) fail_msg("second rewrite changed %s into %s", o.body.data, again.body.data);
    done(&again);
    done(&o);
}

/* ---- encrypted reasoning ----------------------------------------------------- */

/* the mock's reasoning reply sent back (docs/mock.md) */
static const char REASONING[] =
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"think\"},"
    "{\"role\":\"assistant\",\"content\":\"ok\",\"reasoning\":\"alpha beta\","
    "\"reasoning_details\":[{\"type\":\"reasoning.text\",\"index\":0,\"text\":\"alpha beta\","
    "\"signature\":\"sig_0123456789abcdef\"},{\"type\":\"reasoning.encrypted\",\"index\":1,"
    "\"data\":\"enc_0123456789abcdef\"}]},"
    "{\"role\":\"user\",\"content\":\"more\"}],\"reasoning_effort\":\"high\"}";

static void test_encrypted_reasoning_dropped(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_DROP_ENCRYPTED_REASONING};
    out_t o;
    run(&o, REASONING, c, 1);
    assert_int_equal(o.rc, 0);
    const cJSON *m = msg(&o, 1);
    assert_null(cJSON_GetObjectItem(m, "reasoning_details"));
    assert_null(cJSON_GetObjectItem(m, "reasoning"));
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring, "assistant");
    assert_null(strstr(o.body.data, "enc_"));
    assert_null(strstr(o.body.data, "sig_"));
    assert_non_null(strstr(o.body.data, "\"reasoning_effort\":\"high\"")); /* a parameter, kept */
    assert_int_equal(o.res.n_applied, 1);
    assert_true(applied(&o, SESS_CONV_DROP_ENCRYPTED_REASONING));
    assert_int_equal(o.res.n_warnings, 0);
    done(&o);
    assert_idempotent(REASONING);
}

static void test_encrypted_reasoning_summaries_kept(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_DROP_ENCRYPTED_REASONING,
                             SESS_CONV_KEEP_REASONING_SUMMARIES};
    out_t o;
    run(&o, REASONING, c, 2);
    const cJSON *m = msg(&o, 1);
    const cJSON *rd = cJSON_GetObjectItem(m, "reasoning_details");
    assert_int_equal(cJSON_GetArraySize(rd), 1);
    const cJSON *e = cJSON_GetArrayItem(rd, 0);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "reasoning.text");
    assert_string_equal(cJSON_GetObjectItem(e, "text")->valuestring, "alpha beta");
    assert_null(cJSON_GetObjectItem(e, "signature"));
    assert_string_equal(cJSON_GetObjectItem(m, "reasoning")->valuestring, "alpha beta");
    assert_null(strstr(o.body.data, "enc_"));
    assert_null(strstr(o.body.data, "sig_"));
    assert_true(applied(&o, SESS_CONV_DROP_ENCRYPTED_REASONING));
    assert_true(applied(&o, SESS_CONV_KEEP_REASONING_SUMMARIES));
    done(&o);
}

static void test_encrypted_content_and_reasoning_content(void **st)
{
    (void)st;
    const char *body =
        "{\"messages\":[{\"role\":\"assistant\",\"encrypted_content\":\"gAAA\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"hi\",\"encrypted_content\":\"x\"}],"
        "\"reasoning_content\":\"visible\"},{\"role\":\"user\",\"content\":\"go\"}],"
        "\"model\":\"m\"}";
    sess_conversion_t c[] = {SESS_CONV_DROP_ENCRYPTED_REASONING};
    out_t o;
    run(&o, body, c, 1);
    assert_null(strstr(o.body.data, "encrypted_content"));
    assert_null(cJSON_GetObjectItem(msg(&o, 0), "reasoning_content"));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg(&o, 0), "content"), 0),
                            "text")
            ->valuestring,
        "hi");
    done(&o);
    /* with summaries kept, reasoning_content stays */
    sess_conversion_t k[] = {SESS_CONV_DROP_ENCRYPTED_REASONING,
                             SESS_CONV_KEEP_REASONING_SUMMARIES};
    run(&o, body, k, 2);
    assert_null(strstr(o.body.data, "encrypted_content"));
    assert_string_equal(cJSON_GetObjectItem(msg(&o, 0), "reasoning_content")->valuestring,
                        "visible");
    done(&o);
    assert_idempotent(body);
}

/* ---- signed thinking ------------------------------------------------------------ */

static const char THINKING[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"step one\","
    "\"signature\":\"EqQBsig\"},{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgB\"},"
    "{\"type\":\"text\",\"text\":\"answer\"}]},"
    "{\"role\":\"assistant\",\"content\":[ {\"type\":\"redacted_thinking\",\"data\":\"Z\"} ]},"
    "{\"role\":\"user\",\"content\":\"next\"}]}";

static void test_signed_thinking_dropped(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_DROP_SIGNED_THINKING};
    out_t o;
    run(&o, THINKING, c, 1);
    const cJSON *parts = cJSON_GetObjectItem(msg(&o, 1), "content");
    assert_int_equal(cJSON_GetArraySize(parts), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "text")->valuestring,
                        "answer");
    /* every part gone: the content becomes "" */
    assert_string_equal(cJSON_GetObjectItem(msg(&o, 2), "content")->valuestring, "");
    assert_null(strstr(o.body.data, "thinking"));
    assert_null(strstr(o.body.data, "EqQBsig"));
    assert_true(applied(&o, SESS_CONV_DROP_SIGNED_THINKING));
    done(&o);
    assert_idempotent(THINKING);
}

static void test_signed_thinking_summary_as_text(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_DROP_SIGNED_THINKING, SESS_CONV_KEEP_REASONING_SUMMARIES};
    out_t o;
    run(&o, THINKING, c, 2);
    const cJSON *parts = cJSON_GetObjectItem(msg(&o, 1), "content");
    assert_int_equal(cJSON_GetArraySize(parts), 2);
    const cJSON *p0 = cJSON_GetArrayItem(parts, 0);
    assert_string_equal(cJSON_GetObjectItem(p0, "type")->valuestring, "text");
    assert_string_equal(cJSON_GetObjectItem(p0, "text")->valuestring, "step one");
    assert_null(cJSON_GetObjectItem(p0, "signature"));
    assert_null(strstr(o.body.data, "redacted_thinking"));
    assert_null(strstr(o.body.data, "EqQBsig"));
    assert_true(applied(&o, SESS_CONV_KEEP_REASONING_SUMMARIES));
    done(&o);
}

/* ---- thought signatures ------------------------------------------------------------ */

static const char GEMINI[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
    "{\"role\":\"assistant\",\"content\":null,\"thoughtSignature\":\"TS0\",\"tool_calls\":["
    "{\"id\":\"c1\",\"type\":\"function\",\"thought_signature\":\"TS1\",\"function\":"
    "{\"name\":\"f\",\"arguments\":\"{}\"},\"extra_content\":{\"google\":"
    "{\"thought_signature\":\"TS2\"}}},"
    "{\"extra_content\":{\"google\":{\"thought_signature\":\"TS3\",\"other\":1}},\"id\":\"c2\","
    "\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r1\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"r2\"},"
    "{\"role\":\"assistant\",\"content\":\"done\"},{\"role\":\"user\",\"content\":\"go\"}]}";

static void test_thought_signatures_dropped(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_DROP_THOUGHT_SIGNATURES};
    out_t o;
    run(&o, GEMINI, c, 1);
    assert_null(strstr(o.body.data, "TS0"));
    assert_null(strstr(o.body.data, "TS1"));
    assert_null(strstr(o.body.data, "TS2"));
    assert_null(strstr(o.body.data, "TS3"));
    assert_null(strstr(o.body.data, "hought"));
    const cJSON *calls = cJSON_GetObjectItem(msg(&o, 1), "tool_calls");
    assert_int_equal(cJSON_GetArraySize(calls), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "id")->valuestring, "c1");
    const cJSON *g = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 1), "extra_content"), "google");
    assert_int_equal(cJSON_GetObjectItem(g, "other")->valueint, 1);
    assert_true(applied(&o, SESS_CONV_DROP_THOUGHT_SIGNATURES));
    done(&o);
    assert_idempotent(GEMINI);
}

/* ---- tool-call ids ------------------------------------------------------------ */

static bool id_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

static const char IDS[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
    "{\"id\":\"functions.read:0\",\"type\":\"function\",\"function\":{\"name\":\"read\","
    "\"arguments\":\"{}\"}},{\"id\":\"call_ok-1\",\"type\":\"function\",\"function\":"
    "{\"name\":\"ls\",\"arguments\":\"{}\"}},{\"id\":\"x\\u00e9/2\",\"type\":\"function\","
    "\"function\":{\"name\":\"cat\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"functions.read:0\",\"content\":\"a\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_ok-1\",\"content\":\"b\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"x\\u00e9/2\",\"content\":\"c\"},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"tu:1\",\"name\":\"f\","
    "\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
    "\"tool_use_id\":\"tu:1\",\"content\":\"ok\"}]},"
    "{\"role\":\"assistant\",\"content\":\"done\"},{\"role\":\"user\",\"content\":\"go\"}]}";

static void test_tool_ids_rewritten_consistently(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_REWRITE_TOOL_CALL_IDS};
    out_t o;
    run(&o, IDS, c, 1);
    assert_int_equal(o.rc, 0);
    const cJSON *calls = cJSON_GetObjectItem(msg(&o, 1), "tool_calls");
    for (int i = 0; i < 3; i++) {
        const char *cid = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, i), "id")->valuestring;
        const char *rid = cJSON_GetObjectItem(msg(&o, 2 + i), "tool_call_id")->valuestring;
        assert_true(id_ok(cid));
        assert_string_equal(cid, rid); /* results stay paired with their calls */
    }
    const char *c0 = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "id")->valuestring;
    /* bad bytes -> '_', then "_" + 8 hex digits of the hash */
    assert_int_equal(strncmp(c0, "functions_read_0_", 17), 0);
    assert_int_equal(strlen(c0), 17 + 8);
    assert_string_equal(sess_handoff_tool_id(&o.a, "functions.read:0"), c0);
    /* a valid id is left alone */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 1), "id")->valuestring,
                        "call_ok-1");
    /* é is two bytes, each becomes '_' */
    const char *c2 = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 2), "id")->valuestring;
    assert_int_equal(strncmp(c2, "x___2_", 6), 0);
    /* Anthropic-shaped parts */
    const char *tu =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg(&o, 5), "content"), 0), "id")
            ->valuestring;
    const char *tr =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg(&o, 6), "content"), 0),
                            "tool_use_id")
            ->valuestring;
    assert_true(id_ok(tu));
    assert_string_equal(tu, tr);
    assert_int_equal(o.res.ids_rewritten, 6);
    assert_true(applied(&o, SESS_CONV_REWRITE_TOOL_CALL_IDS));
    done(&o);
    assert_idempotent(IDS);
    /* the mapping is a function of the id alone */
    arena_t a;
    arena_init(&a, 1024);
    assert_string_equal(sess_handoff_tool_id(&a, "a.b"), sess_handoff_tool_id(&a, "a.b"));
    assert_string_not_equal(sess_handoff_tool_id(&a, "a.b"), sess_handoff_tool_id(&a, "a:b"));
    assert_string_equal(sess_handoff_tool_id(&a, ""), "");
    arena_deinit(&a);
}

/* ---- the pending tool loop ----------------------------------------------------- */

static const char LOOP[] =
    "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"run_tests\"}}],"
    "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
    "{\"role\":\"user\",\"content\":\"look\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_old\",\"type\":"
    "\"function\",\"function\":{\"name\":\"ls\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_old\",\"content\":\"a.c b.c\"},"
    "{\"role\":\"assistant\",\"content\":\"two files\"},"
    "{\"role\":\"user\",\"content\":\"please run tests\"},"
    "{\"role\":\"assistant\",\"content\":\"running\",\"tool_calls\":[{\"id\":\"call:1\",\"type\":"
    "\"function\",\"function\":{\"name\":\"run_tests\",\"arguments\":\"{\\\"suite\\\":\\\"all\\\"}"
    "\"}},"
    "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"ls\",\"arguments\":\"{}\"}}]"
    "},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call:1\",\"content\":\"3 passed\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"x.c\"}]}]}";

static void test_tool_loop_as_history(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_REWRITE_TOOL_CALL_IDS, SESS_CONV_TOOL_LOOP_AS_HISTORY};
    out_t o;
    run(&o, LOOP, c, 2);
    assert_int_equal(o.rc, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o.doc, "messages")), 9);
    /* the closed loop before the plain answer stays structured */
    assert_non_null(cJSON_GetObjectItem(msg(&o, 2), "tool_calls"));
    assert_string_equal(cJSON_GetObjectItem(msg(&o, 3), "role")->valuestring, "tool");
    /* the pending loop is text, each result after its call */
    const cJSON *a = msg(&o, 6);
    assert_string_equal(cJSON_GetObjectItem(a, "role")->valuestring, "assistant");
    assert_null(cJSON_GetObjectItem(a, "tool_calls"));
    const char *want_id = sess_handoff_tool_id(&o.a, "call:1");
    char want[256];
    snprintf(
        want, sizeof want,
        "running\n[tool call run_tests id=%s] {\"suite\":\"all\"}\n[tool call ls id=call_2] {}",
        want_id);
    assert_string_equal(cJSON_GetObjectItem(a, "content")->valuestring, want);
    const cJSON *r1 = msg(&o, 7), *r2 = msg(&o, 8);
    assert_string_equal(cJSON_GetObjectItem(r1, "role")->valuestring, "user");
    assert_null(cJSON_GetObjectItem(r1, "tool_call_id"));
    snprintf(want, sizeof want, "[tool result id=%s (run_tests)] 3 passed", want_id);
    assert_string_equal(cJSON_GetObjectItem(r1, "content")->valuestring, want);
    assert_string_equal(cJSON_GetObjectItem(r2, "content")->valuestring,
                        "[tool result id=call_2 (ls)] x.c");
    assert_int_equal(o.res.messages_flattened, 3);
    assert_true(applied(&o, SESS_CONV_TOOL_LOOP_AS_HISTORY));
    /* nothing else moved: system prompt and tools are byte-identical */
    assert_non_null(strstr(o.body.data, "{\"role\":\"system\",\"content\":\"be brief\"}"));
    assert_non_null(strstr(o.body.data, "\"tools\":[{\"type\":\"function\",\"function\":"
                                        "{\"name\":\"run_tests\"}}]"));
    done(&o);
    assert_idempotent(LOOP);
}

/* a loop still waiting for its result, with signatures in the call */
static void test_tool_loop_unanswered_call(void **st)
{
    (void)st;
    const char *body =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"run it\"},{\"role\":\"assistant\","
        "\"content\":null,\"reasoning_details\":[{\"type\":\"reasoning.encrypted\",\"data\":\"E\"}]"
        ","
        "\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"function\",\"thought_signature\":\"T\","
        "\"function\":{\"name\":\"run\",\"arguments\":\"{}\"}}]}],\"model\":\"m\"}";
    out_t o;
    run(&o, body, ALL, sizeof ALL / sizeof ALL[0]);
    assert_string_equal(cJSON_GetObjectItem(msg(&o, 1), "content")->valuestring,
                        "[tool call run id=call_9] {}");
    assert_null(strstr(o.body.data, "reasoning_details"));
    assert_null(strstr(o.body.data, "thought_signature"));
    /* state dropped with the message's old shape counts as converted */
    assert_true(applied(&o, SESS_CONV_TOOL_LOOP_AS_HISTORY));
    assert_true(applied(&o, SESS_CONV_DROP_ENCRYPTED_REASONING));
    assert_true(applied(&o, SESS_CONV_DROP_THOUGHT_SIGNATURES));
    done(&o);
    assert_idempotent(body);
}

/* ---- previous_response_id ------------------------------------------------------------ */

static int chain_ok(void *ud, const char *prid, buf_t *out)
{
    (void)ud;
    assert_string_equal(prid, "resp_1");
    buf_puts(out, "{\"role\":\"user\",\"content\":\"earlier\"},{\"role\":\"assistant\","
                  "\"content\":\"reply\"}");
    return 0;
}

static int chain_missing(void *ud, const char *prid, buf_t *out)
{
    (void)ud, (void)prid, (void)out;
    return -1;
}

static int chain_bad(void *ud, const char *prid, buf_t *out)
{
    (void)ud, (void)prid;
    buf_puts(out, "{\"role\":");
    return 0;
}

static void test_previous_response_id(void **st)
{
    (void)st;
    sess_conversion_t c[] = {SESS_CONV_EXPAND_RESPONSE_CHAIN};
    const char *bodies[] = {
        "{\"previous_response_id\":\"resp_1\",\"model\":\"m\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"now\"}]}",
        "{\"model\":\"m\", \"previous_response_id\" : \"resp_1\" , \"messages\":[{\"role\":"
        "\"user\",\"content\":\"now\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"now\"}],"
        "\"previous_response_id\":\"resp_1\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        out_t o;
        /* no store: impossible, naming the binding */
        run(&o, bodies[i], c, 1);
        assert_int_equal(o.rc, -1);
        assert_int_equal(o.res.blocking_binding, RQ_BIND_PREVIOUS_RESPONSE_ID);
        assert_non_null(o.res.error);
        done(&o);
        sess_handoff_opts_t miss = {.expand_chain = chain_missing};
        run_opts(&o, bodies[i], c, 1, &miss);
        assert_int_equal(o.rc, -1);
        done(&o);
        sess_handoff_opts_t bad = {.expand_chain = chain_bad};
        run_opts(&o, bodies[i], c, 1, &bad);
        assert_int_equal(o.rc, -1);
        done(&o);
        /* a stored chain: expanded ahead of the messages, the field removed */
        sess_handoff_opts_t ok = {.expand_chain = chain_ok};
        run_opts(&o, bodies[i], c, 1, &ok);
        assert_int_equal(o.rc, 0);
        assert_null(cJSON_GetObjectItem(o.doc, "previous_response_id"));
        assert_string_equal(cJSON_GetObjectItem(o.doc, "model")->valuestring, "m");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o.doc, "messages")), 3);
        assert_string_equal(cJSON_GetObjectItem(msg(&o, 0), "content")->valuestring, "earlier");
        assert_string_equal(cJSON_GetObjectItem(msg(&o, 2), "content")->valuestring, "now");
        assert_true(applied(&o, SESS_CONV_EXPAND_RESPONSE_CHAIN));
        done(&o);
    }
    /* a null previous_response_id is just removed */
    out_t o;
    run(&o, "{\"model\":\"m\",\"previous_response_id\":null,\"messages\":[]}", c, 1);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.body.data, "{\"model\":\"m\",\"messages\":[]}");
    done(&o);
}

/* ---- nothing to convert ------------------------------------------------------------ */

static void test_nothing_to_convert(void **st)
{
    (void)st;
    const char *bodies[] = {
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":"
        "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
        "\"tool_call_id\":\"call_1\",\"content\":\"r\"},{\"role\":\"assistant\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"done\"}]},{\"role\":\"user\",\"content\":\"thanks\"}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        out_t o;
        run(&o, bodies[i], ALL, sizeof ALL / sizeof ALL[0]);
        assert_int_equal(o.rc, 0);
        assert_int_equal(o.n_edits, 0);
        assert_string_equal(o.body.data, bodies[i]);
        assert_int_equal(o.res.n_applied, 0);
        /* every requested conversion reports that it found nothing */
        assert_int_equal(o.res.n_warnings, sizeof ALL / sizeof ALL[0]);
        done(&o);
    }
}

/* sess_handoff_apply: the same bytes as splicing */
static void test_apply(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    jreq_t jr;
    assert_int_equal(jscan_request(LOOP, strlen(LOOP), &a, &jr, NULL), 0);
    rq_t *rq = rq_from_chat(&a, LOOP, strlen(LOOP), &jr, NULL, 0);
    sess_handoff_t h = plan(ALL, sizeof ALL / sizeof ALL[0]);
    const char *nb;
    size_t nl;
    sess_handoff_result_t res;
    assert_int_equal(sess_handoff_apply(rq, &h, NULL, &a, &nb, &nl, &res), 0);
    out_t o;
    run(&o, LOOP, ALL, sizeof ALL / sizeof ALL[0]);
    assert_int_equal(nl, o.body.len);
    assert_memory_equal(nb, o.body.data, nl);
    done(&o);
    arena_deinit(&a);
}

/* ---- unavailability by failures ------------------------------------------------------ */

static void test_after_failures(void **st)
{
    (void)st;
    sess_policy_out_t p;
    memset(&p, 0, sizeof p);
    p.reason = SESS_REASON_HARD_LOCK_TOOL_LOOP;
    assert_true(sess_handoff_after_failures(&p, 2, 2, false));
    assert_false(sess_handoff_after_failures(&p, 2, 1, false));
    assert_false(sess_handoff_after_failures(&p, 2, 2, true));
    p.reason = SESS_REASON_HARD_LOCK_PROVIDER_STATE;
    assert_true(sess_handoff_after_failures(&p, 1, 1, false));
    p.reason = SESS_REASON_STAY_BEST_ADJUSTED; /* not locked: ordinary fallback */
    assert_false(sess_handoff_after_failures(&p, 1, 1, false));
    assert_false(sess_handoff_after_failures(NULL, 1, 1, false));
}

static void test_decide_without_current(void **st)
{
    (void)st;
    cfg_session_t k;
    memset(&k, 0, sizeof k);
    k.enabled = k.tool_loop_hard_lock = k.context_portability_hard_lock = true;
    k.handoff_on_unavailable = true;
    k.min_turns_before_switch = 1;
    sess_state_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.last_model, sizeof s.last_model, "a");
    s.turn_count = 3;
    sess_facts_t f;
    memset(&f, 0, sizeof f);
    f.has_identity = true;
    f.active_tool_loop = true;
    f.current_available = true;
    f.remaining_turn_prior = -1;
    f.C = 100;
    sess_candidate_t cands[2] = {
        {.model = "a", .base = 0.9, .quality = 0.5, .available = true, .admissible = true},
        {.model = "b", .base = 0.5, .quality = 0.5, .available = true, .admissible = true},
    };
    sess_policy_in_t in = {.knobs = &k, .state = &s, .facts = &f, .cands = cands, .n_cands = 2};
    sess_policy_out_t out;
    memset(&out, 0, sizeof out);
    assert_int_equal(sess_policy_decide(&in, &out), 0);
    assert_int_equal(out.reason, SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_string_equal(out.model, "a");
    /* every backend of a failed before the first byte: decide again */
    assert_true(sess_handoff_after_failures(&out, 1, 1, false));
    sess_facts_t fs;
    sess_candidate_t cs[2];
    memset(&out, 0, sizeof out);
    assert_int_equal(sess_policy_decide_without_current(&in, "a", &fs, cs, &out), 0);
    assert_int_equal(out.reason, SESS_REASON_FORCED_HANDOFF);
    assert_string_equal(out.model, "b");
    assert_true(out.has_handoff && out.handoff.possible);
    assert_true(cands[0].available && f.current_available); /* inputs untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encrypted_reasoning_dropped),
        cmocka_unit_test(test_encrypted_reasoning_summaries_kept),
        cmocka_unit_test(test_encrypted_content_and_reasoning_content),
        cmocka_unit_test(test_signed_thinking_dropped),
        cmocka_unit_test(test_signed_thinking_summary_as_text),
        cmocka_unit_test(test_thought_signatures_dropped),
        cmocka_unit_test(test_tool_ids_rewritten_consistently),
        cmocka_unit_test(test_tool_loop_as_history),
        cmocka_unit_test(test_tool_loop_unanswered_call),
        cmocka_unit_test(test_previous_response_id),
        cmocka_unit_test(test_nothing_to_convert),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_after_failures),
        cmocka_unit_test(test_decide_without_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
