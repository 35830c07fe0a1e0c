/* test_reply_scan.c - jreply_scan (json/reply_scan.h), the one walk over an
 * upstream reply, against the readers it replaces, on hand-written and on
 * many generated and mutated replies (chat completions, stream chunks,
 * Anthropic and Responses usage, escaped and duplicate keys, nulls,
 * strings ending in backslashes, broken documents): the usage equals
 * jscan_usage's, the id rid_wrap_top_id binds is the one it finds (the
 * bound bodies are byte-equal), and the text up_capture_chat_scanned keeps
 * is up_capture_chat_text's, for whole replies and deltas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/response_id.h"
#include "json/reply_scan.h"
#include "reply_scan_ref.h"
#include "upstream/proxy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_usage_eq(const jusage_t *a, const jusage_t *b)
{
    assert_int_equal(a->found, b->found);
    assert_int_equal(a->prompt_tokens, b->prompt_tokens);
    assert_int_equal(a->completion_tokens, b->completion_tokens);
    assert_int_equal(a->cached_tokens, b->cached_tokens);
    assert_int_equal(a->cache_creation_tokens, b->cache_creation_tokens);
    assert_int_equal(a->reasoning_tokens, b->reasoning_tokens);
    assert_int_equal(a->is_anthropic, b->is_anthropic);
}

/* The text each capture keeps for doc (delta or whole), in *old and *new. */
static void capture_both(const char *doc, size_t len, bool delta, buf_t *old, buf_t *neu)
{
    hsrv_req_t req;
    memset(&req, 0, sizeof req);
    arena_init(&req.arena, 4096);
    up_proxy_t *p = calloc(2, sizeof *p);
    for (int k = 0; k < 2; k++) {
        p[k].req = &req;
        p[k].env.store = (sess_store_t *)(uintptr_t)1; /* only tested for NULL */
        p[k].plan.id.found = true;
        p[k].reply.arena = &req.arena;
    }
    jreply_t r;
    jreply_scan(doc, len, delta, &r);
    up_capture_chat_text(&p[0], doc, len, delta);
    up_capture_chat_scanned(&p[1], doc, len, delta, &r);
    buf_reset(old);
    buf_reset(neu);
    if (p[0].reply.len) buf_append(old, p[0].reply.data, p[0].reply.len);
    if (p[1].reply.len) buf_append(neu, p[1].reply.data, p[1].reply.len);
    free(p);
    arena_deinit(&req.arena);
}

static unsigned n_valid, n_usage, n_id, n_text;

/* Everything jreply_scan answers for doc equals the old readers' answer,
 * and every field the former validate-then-pick walk's (reply_scan_ref.h). */
static void check_doc(const char *doc, size_t len)
{
    jreply_t r;
    jusage_t u;
    for (int delta = 0; delta < 2; delta++) {
        jreply_t ref;
        jreply_scan(doc, len, delta, &r);
        jreply_scan_ref(doc, len, delta, &ref);
        assert_int_equal(r.valid, ref.valid);
        assert_usage_eq(&r.usage, &ref.usage);
        assert_int_equal(r.id.off, ref.id.off);
        assert_int_equal(r.id.len, ref.id.len);
        assert_int_equal(r.text.off, ref.text.off);
        assert_int_equal(r.text.len, ref.text.len);
        assert_int_equal(r.escaped_key, ref.escaped_key);
    }
    for (int delta = 0; delta < 2; delta++) {
        jreply_scan(doc, len, delta, &r);
        jscan_usage(doc, len, &u);
        assert_usage_eq(&r.usage, &u);
        n_valid += r.valid;
        n_usage += u.found;
    }
    jreply_scan(doc, len, false, &r);
    /* the valid documents are the ones jscan_validate accepts, save lone
     * surrogates, which the reply helpers tolerate */
    if (!jscan_validate(doc, len, NULL)) {
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", doc[i]))
            i++;
        assert_int_equal(r.valid, i < len && doc[i] == '{');
    }
    /* the id: the same bound body */
    rid_wrapper_t w1, w2;
    rid_wrapper_init(&w1, NULL, SESS_BINDING_CHAT, "m", "b");
    rid_wrapper_init(&w2, NULL, SESS_BINDING_CHAT, "m", "b");
    buf_t a = BUF_INIT, b = BUF_INIT;
    bool x = rid_wrap_top_id(&w1, doc, len, &a);
    bool y = r.valid ? r.id.len && rid_wrap_span(&w2, doc, len, r.id, &b)
                     : rid_wrap_top_id(&w2, doc, len, &b);
    assert_int_equal(x, y);
    assert_int_equal(a.len, b.len);
    if (a.len) assert_memory_equal(a.data, b.data, a.len);
    n_id += x;
    /* the captured text, whole and delta */
    for (int delta = 0; delta < 2; delta++) {
        capture_both(doc, len, delta, &a, &b);
        assert_int_equal(a.len, b.len);
        if (a.len) assert_memory_equal(a.data, b.data, a.len);
        n_text += a.len > 0;
    }
    buf_free(&a);
    buf_free(&b);
}

static void check_str(const char *s)
{
    check_doc(s, strlen(s));
}

static void test_reply_scan_reads_a_chat_completion(void **st)
{
    (void)st;
    const char doc[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"hi \\\"there\\\"\\\\\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
        "\"prompt_tokens_details\":{\"cached_tokens\":4},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":1}}}";
    jreply_t r;
    jreply_scan(doc, sizeof doc - 1, false, &r);
    assert_true(r.valid);
    assert_false(r.escaped_key);
    assert_true(r.usage.found);
    assert_int_equal(r.usage.prompt_tokens, 12);
    assert_int_equal(r.usage.completion_tokens, 3);
    assert_int_equal(r.usage.cached_tokens, 4);
    assert_int_equal(r.usage.reasoning_tokens, 1);
    assert_int_equal(r.id.len, 12);
    assert_memory_equal(doc + r.id.off, "\"chatcmpl-1\"", 12);
    assert_memory_equal(doc + r.text.off, "\"hi \\\"there\\\"\\\\\"", r.text.len);
    check_doc(doc, sizeof doc - 1);
}

/* Anthropic prompt tokens are input + cache read + cache creation: counts
 * whose sum passes INT64_MAX read as INT64_MAX in both readers (the old one
 * overflowed a signed sum: undefined behaviour, found by fuzz_reply). */
/* Nesting at the depth limit inside the members the walk descends into
 * (usage, its details, message.usage, choices[0] and its message) and
 * elsewhere: valid and invalid exactly where the reference says. */
static void test_reply_scan_nesting_limit(void **st)
{
    (void)st;
    static const char *const heads[] = {
        "{\"usage\":{\"prompt_tokens\":1,\"x\":",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":",
        "{\"message\":{\"usage\":{\"input_tokens\":",
        "{\"choices\":[{\"message\":{\"content\":\"a\",\"y\":",
        "{\"choices\":[{\"delta\":{\"content\":",
        "{\"choices\":[1,",
        "{\"other\":",
    };
    buf_t b = BUF_INIT;
    unsigned n_ok = 0, n_deep = 0;
    for (size_t h = 0; h < sizeof heads / sizeof *heads; h++)
        for (int depth = 505; depth <= 515; depth++) {
            buf_reset(&b);
            buf_puts(&b, heads[h]);
            for (int d = 0; d < depth; d++)
                buf_puts(&b, d & 1 ? "{\"k\":" : "[");
            buf_puts(&b, "1");
            for (int d = depth - 1; d >= 0; d--)
                buf_puts(&b, d & 1 ? "}" : "]");
            for (const char *c = heads[h] + strlen(heads[h]); c-- > heads[h];)
                if (*c == '{' || *c == '[') buf_puts(&b, *c == '{' ? "}" : "]");
            check_doc(b.data, b.len);
            jreply_t r;
            jreply_scan(b.data, b.len, false, &r);
            n_ok += r.valid;
            n_deep += !r.valid;
        }
    assert_true(n_ok > 0 && n_deep > 0); /* both sides of the limit were met */
    buf_free(&b);
}

static void test_usage_sum_saturates(void **st)
{
    (void)st;
    const char doc[] = "{\"usage\":{\"input_tokens\":9223372036854775000,"
                       "\"cache_read_input_tokens\":5000,\"cache_creation_input_tokens\":7,"
                       "\"output_tokens\":2}}";
    jusage_t u;
    jscan_usage(doc, sizeof doc - 1, &u);
    assert_true(u.is_anthropic);
    assert_true(u.prompt_tokens == INT64_MAX);
    assert_int_equal(u.cached_tokens, 5000);
    jreply_t r;
    jreply_scan(doc, sizeof doc - 1, false, &r);
    assert_true(r.usage.prompt_tokens == INT64_MAX);
    const char small[] = "{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,"
                         "\"cache_creation_input_tokens\":7}}";
    jscan_usage(small, sizeof small - 1, &u);
    assert_int_equal(u.prompt_tokens, 22);
    check_doc(doc, sizeof doc - 1);
}

static void test_reply_scan_matches_the_old_readers_on_odd_shapes(void **st)
{
    (void)st;
    static const char *const docs[] = {
        "",
        " ",
        "{}",
        " { } ",
        "[]",
        "null",
        "{\"id\":\"a\"} x",
        "{\"id\":\"a\",}",
        "{\"id\":\"a\",\"x\":}",
        "{\"id\":\"a\",\"choices\":[{\"message\":{\"content\":\"t\"}}],\"z\":[1,}",
        "{\"id\":\"a\"",
        " {\"id\":\"a\",\"choices\":[{\"message\":{\"content\":\"leading space\"}}]}",
        "{\"id\":\"a\",\"id\":\"b\"}",
        "{\"\\u0069d\":\"esc\"}",
        "{\"id\":\"a\\\\\"}",
        "{\"id\":\"a\\u0041\"}",
        "{\"id\":null}",
        "{\"id\":7}",
        "{\"usage\":null,\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2,"
        "\"cache_read_input_tokens\":3}}}",
        "{\"usage\":[],\"response\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1,"
        "\"input_tokens_details\":{\"cached_tokens\":2},"
        "\"output_tokens_details\":{\"reasoning_tokens\":1}}}}",
        "{\"message\":{\"usage\":1},\"response\":{\"usage\":{\"input_tokens\":1}}}",
        "{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-3,"
        "\"prompt_tokens_details\":null}}",
        "{\"usage\":{\"prompt_tokens\":99999999999999999999}}",
        "{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":2,\"us\\u0061ge\":3}}",
        "{\"us\\u0061ge\":{\"prompt_tokens\":4}}",
        "{\"usage\":{\"output_tokens\":8}}",
        "{\"usage\":{\"cache_creation_input_tokens\":2,\"input_tokens\":1}}",
        "{\"choices\":[{\"delta\":{\"content\":\"d\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"d\"},\"message\":{\"content\":\"m\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":null}}]}",
        "{\"choices\":[{\"message\":{\"cont\\u0065nt\":\"escaped key\"}}]}",
        "{\"choices\":[{\"message\":{\"cont\\u0065nt\":\"e\",\"content\":\"raw\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"raw\",\"cont\\u0065nt\":\"e\"}}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}",
        "{\"choices\":[1,{\"message\":{\"content\":\"second\"}}]}",
        "{\"choices\":{\"message\":{\"content\":\"not an array\"}}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"choices\":[{\"message\":{}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"\\ud800 lone\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"\\\\\\\\\"}}]}",
        "{\"choices\" : [ { \"message\" : { \"content\" : \"spaced\" } } ] }\n",
        "{\"a\":{\"b\":[{\"c\":\"]}\\\"{[\"}]},\"id\":\"after-nesting\"}",
        "{\"id\":\"x\",\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"call_1\"}]}}]}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        check_str(docs[i]);
}

/* ---- generated replies ------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void gen_ws(buf_t *b)
{
    static const char *const w[] = {"", "", "", " ", "\n  ", "\t", "\r\n"};
    buf_puts(b, w[rnd(7)]);
}

static void gen_string(buf_t *b)
{
    static const char *const parts[] = {
        "hello",           " ",     "\\\"", "\\\\",      "\\n",    "\\u00e9",   "\\ud83d\\ude00",
        "\\ud800",         "été",   "日本", "\\/",       "]}{[,:", "x\\\\\\\"", "content",
        "\\\"content\\\"", "usage", "\\t",  "a\\\\\\\\",
    };
    buf_putc(b, '"');
    if (rnd(3) == 0) { /* a plain id-like string */
        buf_printf(b, "chatcmpl-%u\"", rnd(100000));
        return;
    }
    for (uint32_t k = rnd(6); k; k--)
        buf_puts(b, parts[rnd(sizeof parts / sizeof parts[0])]);
    buf_putc(b, '"');
}

static void gen_number(buf_t *b)
{
    static const char *const nums[] = {"0",
                                       "1",
                                       "-1",
                                       "42",
                                       "3.5",
                                       "1e3",
                                       "-0",
                                       "12",
                                       "7",
                                       "100",
                                       "2E-2",
                                       "9223372036854775807",
                                       "9223372036854775808"};
    buf_puts(b, nums[rnd(sizeof nums / sizeof nums[0])]);
}

static void gen_value(buf_t *b, int depth);

static void gen_key(buf_t *b, const char *const *keys, size_t nk)
{
    const char *k = keys[rnd((uint32_t)nk)];
    if (rnd(12) == 0 && strlen(k) > 1) { /* the same key with an escape */
        buf_putc(b, '"');
        buf_printf(b, "\\u%04x", (unsigned char)k[0]);
        buf_puts(b, k + 1);
        buf_putc(b, '"');
    } else
        buf_printf(b, "\"%s\"", k);
    gen_ws(b);
    buf_putc(b, ':');
    gen_ws(b);
}

static const char *const usage_keys[] = {"prompt_tokens",
                                         "completion_tokens",
                                         "input_tokens",
                                         "output_tokens",
                                         "cache_read_input_tokens",
                                         "cache_creation_input_tokens",
                                         "prompt_tokens_details",
                                         "completion_tokens_details",
                                         "input_tokens_details",
                                         "output_tokens_details",
                                         "total_tokens",
                                         "cached_tokens",
                                         "reasoning_tokens"};

static void gen_object(buf_t *b, int depth, const char *const *keys, size_t nk,
                       void (*val)(buf_t *, int, const char *))
{
    buf_putc(b, '{');
    gen_ws(b);
    for (uint32_t m = rnd(depth < 3 ? 6 : 4) + (depth < 3), i = 0; i < m; i++) {
        if (i) {
            buf_putc(b, ',');
            gen_ws(b);
        }
        size_t at = b->len;
        gen_key(b, keys, nk);
        char key[64];
        size_t kl = 0;
        for (size_t j = at + 1; j < b->len && b->data[j] != '"' && kl < 63; j++)
            key[kl++] = b->data[j];
        key[kl] = 0;
        val(b, depth + 1, key);
        gen_ws(b);
    }
    buf_putc(b, '}');
}

static void usage_val(buf_t *b, int depth, const char *key)
{
    if (strstr(key, "details") && rnd(4)) {
        gen_object(b, depth, usage_keys, sizeof usage_keys / sizeof usage_keys[0], usage_val);
        return;
    }
    if (rnd(6) == 0)
        gen_value(b, depth);
    else
        gen_number(b);
}

static const char *const msg_keys[] = {"role",    "content",    "content", "content",
                                       "refusal", "tool_calls", "usage"};

static void msg_val(buf_t *b, int depth, const char *key)
{
    if (!strcmp(key, "content") && rnd(5))
        gen_string(b);
    else if (!strcmp(key, "usage") && rnd(2))
        gen_object(b, depth, usage_keys, sizeof usage_keys / sizeof usage_keys[0], usage_val);
    else
        gen_value(b, depth);
}

static const char *const choice_keys[] = {"index", "message", "message",
                                          "delta", "delta",   "finish_reason"};

static void choice_val(buf_t *b, int depth, const char *key)
{
    if ((!strcmp(key, "message") || !strcmp(key, "delta")) && rnd(5))
        gen_object(b, depth, msg_keys, sizeof msg_keys / sizeof msg_keys[0], msg_val);
    else
        gen_value(b, depth);
}

static const char *const top_keys[] = {"id",      "id",       "object",   "created", "model",
                                       "choices", "choices",  "choices",  "usage",   "usage",
                                       "message", "response", "system_x", "type"};

static void top_val(buf_t *b, int depth, const char *key)
{
    if (!strcmp(key, "choices") && rnd(6)) {
        buf_putc(b, '[');
        gen_ws(b);
        for (uint32_t n = rnd(3), i = 0; i < n; i++) {
            if (i) buf_putc(b, ',');
            if (rnd(6))
                gen_object(b, depth + 1, choice_keys, sizeof choice_keys / sizeof choice_keys[0],
                           choice_val);
            else
                gen_value(b, depth + 1);
        }
        buf_putc(b, ']');
    } else if (!strcmp(key, "usage") && rnd(5))
        gen_object(b, depth, usage_keys, sizeof usage_keys / sizeof usage_keys[0], usage_val);
    else if ((!strcmp(key, "message") || !strcmp(key, "response")) && rnd(3))
        gen_object(b, depth, msg_keys, sizeof msg_keys / sizeof msg_keys[0], msg_val);
    else if (!strcmp(key, "id") && rnd(6))
        gen_string(b);
    else
        gen_value(b, depth);
}

static void any_val(buf_t *b, int depth, const char *key)
{
    (void)key;
    gen_value(b, depth);
}

static void gen_value(buf_t *b, int depth)
{
    uint32_t c = rnd(depth > 4 ? 5 : 7);
    switch (c) {
    case 0: gen_string(b); break;
    case 1: gen_number(b); break;
    case 2: buf_puts(b, "null"); break;
    case 3: buf_puts(b, rnd(2) ? "true" : "false"); break;
    case 4: gen_string(b); break;
    case 5: gen_object(b, depth, top_keys, sizeof top_keys / sizeof top_keys[0], any_val); break;
    default:
        buf_putc(b, '[');
        for (uint32_t n = rnd(4), i = 0; i < n; i++) {
            if (i) buf_putc(b, ',');
            gen_ws(b);
            gen_value(b, depth + 1);
        }
        buf_putc(b, ']');
    }
}

static void gen_reply(buf_t *b)
{
    buf_reset(b);
    gen_ws(b);
    gen_object(b, 0, top_keys, sizeof top_keys / sizeof top_keys[0], top_val);
    gen_ws(b);
}

static void mutate(buf_t *b)
{
    static const char bytes[] = "{}[]\",:\\ 0a-nu\x01\xff";
    if (!b->len) return;
    switch (rnd(5)) {
    case 0: b->len = rnd((uint32_t)b->len); break; /* truncated */
    case 1: b->data[rnd((uint32_t)b->len)] = bytes[rnd(sizeof bytes - 1)]; break;
    case 2: { /* a byte inserted */
        size_t at = rnd((uint32_t)b->len + 1);
        buf_putc(b, 0);
        memmove(b->data + at + 1, b->data + at, b->len - 1 - at);
        b->data[at] = bytes[rnd(sizeof bytes - 1)];
        break;
    }
    case 3: { /* a byte deleted */
        size_t at = rnd((uint32_t)b->len);
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
        break;
    }
    default: buf_puts(b, rnd(2) ? "}" : " x"); /* trailing data */
    }
}

static void test_reply_scan_matches_the_old_readers_on_generated_replies(void **st)
{
    (void)st;
    buf_t b = BUF_INIT;
    n_valid = n_usage = n_id = n_text = 0;
    for (int i = 0; i < 40000; i++) {
        gen_reply(&b);
        check_doc(b.data, b.len);
        for (int m = rnd(3) + 1; m; m--)
            mutate(&b);
        check_doc(b.data ? b.data : "", b.len);
    }
    buf_free(&b);
    print_message("valid %u usage %u id %u text %u\n", n_valid, n_usage, n_id, n_text);
    /* the generator reaches every answer, not only the empty ones */
    assert_true(n_valid > 20000);
    assert_true(n_usage > 10000);
    assert_true(n_id > 5000);
    assert_true(n_text > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_scan_reads_a_chat_completion),
        cmocka_unit_test(test_usage_sum_saturates),
        cmocka_unit_test(test_reply_scan_nesting_limit),
        cmocka_unit_test(test_reply_scan_matches_the_old_readers_on_odd_shapes),
        cmocka_unit_test(test_reply_scan_matches_the_old_readers_on_generated_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
