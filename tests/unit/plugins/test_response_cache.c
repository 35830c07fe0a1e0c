/* test_response_cache.c - the response_cache plugin (SPEC §8): exact hits
 * and misses by each key component (and none by whitespace or `stream`),
 * scope isolation, TTL, LRU eviction, the entry size cap, semantic hits
 * above and misses below the threshold with a toy embedder, context-hash
 * separation, never storing errors / aborted streams / no-store / drop,
 * no-cache, streamed responses assembled into JSON (chat, Anthropic
 * Messages, Responses), and SSE replay in each protocol checked
 * through the SSE parser with every data payload validated as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/yaml.h"
#include "http/sse.h"
#include "plugins/response_cache.h"

typedef struct fx {
    arena_t a;
    cfg_plugin_t plugin;
    cfg_decision_t dec;
    rc_cache_t *c;
    jreq_t jr;
    rc_key_in_t in;
    rc_key_t k;
    bool has_key;
} fx_t;

static const cfg_node_t *yaml(arena_t *a, const char *y)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    const cfg_node_t *n = cfg_yaml_parse(a, "t", y, strlen(y), &d);
    assert_int_equal(d.n_errors, 0);
    cfg_diags_free(&d);
    return n;
}

static void fx_init(fx_t *f, const char *conf, const rc_opts_t *o)
{
    memset(f, 0, sizeof *f);
    arena_init(&f->a, 4096);
    f->plugin = (cfg_plugin_t){"response_cache", conf ? yaml(&f->a, conf) : NULL};
    f->dec = (cfg_decision_t){.name = "d1", .plugins = &f->plugin, .n_plugins = 1};
    rc_opts_t def = {.max_entries = 100, .ttl_seconds = 3600, .max_entry_bytes = 1 << 20};
    f->c = rc_cache_new_opts(o ? o : &def);
}

static void fx_deinit(fx_t *f)
{
    if (f->has_key) rc_key_deinit(&f->k);
    rc_cache_free(f->c);
    arena_deinit(&f->a);
}

/* Prepare the key of body (and the other inputs in f->in). Returns rc_key_init's result. */
static int key(fx_t *f, const char *body)
{
    if (f->has_key) rc_key_deinit(&f->k);
    memset(&f->jr, 0, sizeof f->jr);
    assert_int_equal(jscan_request(body, strlen(body), &f->a, &f->jr, NULL), 0);
    f->in.decision = f->in.decision ? f->in.decision : &f->dec;
    f->in.body = body;
    f->in.body_len = strlen(body);
    f->in.jr = &f->jr;
    if (!f->in.now_ms) f->in.now_ms = 1000;
    if (!f->in.tenant) f->in.tenant = "tenant-a";
    f->has_key = true;
    return rc_key_init(&f->k, f->c, &f->in);
}

static const char *REPLY =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"m1\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Paris \\\"is\\\" "
    "it.\\n\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_"
    "tokens\":13}}";

static rc_store_result_t store_json(fx_t *f, int status, const char *body)
{
    rc_response_t r = {.status = status, .body = body, .len = strlen(body), .complete = true};
    return rc_store(f->c, &f->k, &r);
}

static int lookup(fx_t *f, const char *body)
{
    assert_int_equal(key(f, body), 0);
    rc_hit_t h;
    int kind = rc_lookup(f->c, &f->k, &h);
    if (kind) {
        assert_non_null(h.body);
        assert_memory_equal(h.body, REPLY, strlen(REPLY) < h.len ? strlen(REPLY) : h.len);
    }
    rc_hit_free(&h);
    return kind;
}

#define BASE                                                                                       \
    "{\"model\":\"auto\",\"temperature\":0.2,\"messages\":[{\"role\":\"system\",\"content\":\"be " \
    "brief\"},"                                                                                    \
    "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}"

static void test_exact_key_components(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    assert_int_equal(key(&f, BASE), 0);
    assert_int_equal(rc_lookup(f.c, &f.k, &(rc_hit_t){0}), RC_MISS);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORED);
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    /* whitespace outside strings and `stream` do not matter */
    assert_int_equal(
        lookup(&f,
               "{ \"model\": \"auto\", \"temperature\": 0.2, \"stream\": true, \"messages\": [\n"
               "  {\"role\": \"system\", \"content\": \"be brief\"},\n"
               "  {\"role\": \"user\", \"content\": \"What is the capital of France?\"}]}"),
        RC_HIT_EXACT);
    /* every component changes the key */
    const char *variants[] = {
        "{\"model\":\"auto\",\"temperature\":0.3,\"messages\":[{\"role\":\"system\",\"content\":"
        "\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}",
        "{\"model\":\"auto\",\"temperature\":0.2,\"messages\":[{\"role\":\"system\",\"content\":"
        "\"be  brief\"},"
        "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}",
        "{\"model\":\"auto\",\"temperature\":0.2,\"messages\":[{\"role\":\"system\",\"content\":"
        "\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"What is the capital of Spain?\"}]}",
        "{\"model\":\"other\",\"temperature\":0.2,\"messages\":[{\"role\":\"system\",\"content\":"
        "\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (lookup(&f, variants[i]) != RC_MISS) fail_msg("variant %zu hit", i);
    const char *params[] = {"\"top_p\":0.5",
                            "\"max_tokens\":10",
                            "\"max_completion_tokens\":10",
                            "\"n\":2",
                            "\"stop\":[\"x\"]",
                            "\"seed\":7",
                            "\"response_format\":{\"type\":\"json_object\"}",
                            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
                            "\"tool_choice\":\"none\"",
                            "\"presence_penalty\":1"};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char b[512];
        snprintf(b, sizeof b, "{%s,%s", params[i], BASE + 1);
        if (lookup(&f, b) != RC_MISS) fail_msg("param %s hit", params[i]);
    }
    /* recipe and decision */
    f.in.recipe = "r2";
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    f.in.recipe = NULL;
    cfg_decision_t d2 = f.dec;
    d2.name = "d2";
    f.in.decision = &d2;
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    f.in.decision = &f.dec;
    /* protocol */
    f.in.proto = RQ_PROTO_ANTHROPIC;
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    f.in.proto = RQ_PROTO_CHAT;
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    rc_stats_t s;
    rc_stats(f.c, &s);
    assert_int_equal(s.lookups[RC_MODE_EXACT][RC_HIT_EXACT], 3);
    assert_int_equal(s.stores, 1);
    assert_int_equal(s.entries, 1);
    fx_deinit(&f);
}

static void test_no_plugin_no_cache(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    cfg_plugin_t other = {"system_prompt", NULL};
    cfg_decision_t d = {.name = "d1", .plugins = &other, .n_plugins = 1};
    f.in.decision = &d;
    assert_int_equal(key(&f, BASE), 1);
    assert_false(f.k.enabled);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORE_SKIPPED);
    assert_int_equal(rc_cache_size(f.c), 0);
    fx_deinit(&f);
}

static void test_scopes(void **st)
{
    fx_t f;
    fx_init(&f, "{scope: tenant}", NULL);
    key(&f, BASE);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORED);
    f.in.tenant = "tenant-b";
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    f.in.tenant = "tenant-a";
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    fx_deinit(&f);

    fx_init(&f, "{scope: global}", NULL);
    key(&f, BASE);
    store_json(&f, 200, REPLY);
    f.in.tenant = "tenant-b";
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    fx_deinit(&f);

    fx_init(&f, "{scope: session}", NULL);
    assert_int_equal(key(&f, BASE), 1); /* no session: no caching */
    f.in.session_key = "anon\x1fx-session-id\x1fs1";
    assert_int_equal(key(&f, BASE), 0);
    store_json(&f, 200, REPLY);
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    f.in.session_key = "anon\x1fx-session-id\x1fs2";
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    fx_deinit(&f);
}

static void test_ttl(void **st)
{
    fx_t f;
    fx_init(&f, "{ttl_seconds: 10}", NULL);
    f.in.now_ms = 1000;
    key(&f, BASE);
    store_json(&f, 200, REPLY);
    f.in.now_ms = 10999;
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    f.in.now_ms = 11000;
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    rc_stats_t s;
    rc_stats(f.c, &s);
    assert_int_equal(s.expirations, 1);
    assert_int_equal(s.entries, 0);
    fx_deinit(&f);

    /* without the plugin's ttl the store's applies */
    rc_opts_t o = {.max_entries = 10, .ttl_seconds = 5, .max_entry_bytes = 1 << 20};
    fx_init(&f, NULL, &o);
    f.in.now_ms = 1000;
    key(&f, BASE);
    store_json(&f, 200, REPLY);
    f.in.now_ms = 5999;
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    f.in.now_ms = 6000;
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    fx_deinit(&f);
}

static const char *body_q(char *b, size_t cap, const char *sys, const char *q)
{
    snprintf(b, cap,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
             "{\"role\":\"user\",\"content\":\"%s\"}]}",
             sys, q);
    return b;
}

static void test_lru_eviction(void **st)
{
    rc_opts_t o = {.max_entries = 2, .ttl_seconds = 0, .max_entry_bytes = 1 << 20};
    fx_t f;
    fx_init(&f, NULL, &o);
    char a[256], b[256], c[256];
    body_q(a, sizeof a, "s", "A");
    body_q(b, sizeof b, "s", "B");
    body_q(c, sizeof c, "s", "C");
    key(&f, a);
    store_json(&f, 200, REPLY);
    key(&f, b);
    store_json(&f, 200, REPLY);
    assert_int_equal(lookup(&f, a), RC_HIT_EXACT); /* A is now the most recent */
    key(&f, c);
    store_json(&f, 200, REPLY);
    assert_int_equal(rc_cache_size(f.c), 2);
    assert_int_equal(lookup(&f, b), RC_MISS);
    assert_int_equal(lookup(&f, a), RC_HIT_EXACT);
    assert_int_equal(lookup(&f, c), RC_HIT_EXACT);
    rc_stats_t s;
    rc_stats(f.c, &s);
    assert_int_equal(s.evictions, 1);
    /* storing the same key again replaces, it does not evict */
    key(&f, c);
    store_json(&f, 200, REPLY);
    rc_stats(f.c, &s);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(rc_cache_size(f.c), 2);
    fx_deinit(&f);

    /* sharded: the total never exceeds max_entries */
    o.max_entries = 300;
    fx_init(&f, NULL, &o);
    for (int i = 0; i < 1000; i++) {
        char q[32];
        snprintf(q, sizeof q, "q%d", i);
        key(&f, body_q(a, sizeof a, "s", q));
        assert_int_equal(store_json(&f, 200, REPLY), RC_STORED);
    }
    assert_int_equal(rc_cache_size(f.c), 300);
    fx_deinit(&f);
}

static void test_size_cap(void **st)
{
    rc_opts_t o = {.max_entries = 10, .ttl_seconds = 0, .max_entry_bytes = 100};
    fx_t f;
    fx_init(&f, NULL, &o);
    key(&f, BASE);
    assert_true(strlen(REPLY) > 100);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORE_TOO_LARGE);
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    const char *small = "{\"id\":\"x\",\"choices\":[]}";
    assert_int_equal(store_json(&f, 200, small), RC_STORED);
    rc_stats_t s;
    rc_stats(f.c, &s);
    assert_int_equal(s.writes[RC_STORE_TOO_LARGE], 1);
    assert_int_equal(s.writes[RC_STORED], 1);
    fx_deinit(&f);
}

/* A toy embedder: 2 dimensions, a few known texts at chosen angles. */
static int calls;
static int toy_embed(void *ctx, const char *t, size_t n, float *out)
{
    calls++;
    static const struct {
        const char *text;
        double deg;
    } known[] = {
        {"What is the capital of France?", 0},
        {"what's the capital of France", 20}, /* cos 0.940 */
        {"capital of France, please", 25},    /* cos 0.906 */
        {"Tell me a joke", 90},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].text) == n && memcmp(known[i].text, t, n) == 0) {
            out[0] = (float)cos(known[i].deg * M_PI / 180);
            out[1] = (float)sin(known[i].deg * M_PI / 180);
            return 0;
        }
    return -1;
}

static void test_semantic(void **st)
{
    fx_t f;
    fx_init(&f, "{mode: exact_then_semantic, semantic: {similarity_threshold: 0.92}}", NULL);
    sel_embedder_t e = {toy_embed, 2, NULL};
    rc_cache_set_embedder(f.c, &e);
    char b[512];
    key(&f, body_q(b, sizeof b, "be brief", "What is the capital of France?"));
    calls = 0;
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORED);
    assert_int_equal(calls, 1);
    /* exact first: no embedding needed */
    calls = 0;
    assert_int_equal(lookup(&f, b), RC_HIT_EXACT);
    assert_int_equal(calls, 0);
    /* above the threshold */
    key(&f, body_q(b, sizeof b, "be brief", "what's the capital of France"));
    rc_hit_t h;
    assert_int_equal(rc_lookup(f.c, &f.k, &h), RC_HIT_SEMANTIC);
    assert_true(h.similarity > 0.93 && h.similarity < 0.95);
    rc_hit_free(&h);
    /* below it */
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be brief", "capital of France, please")),
                     RC_MISS);
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be brief", "Tell me a joke")), RC_MISS);
    /* a different context (system prompt, parameters) is never compared */
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be verbose", "what's the capital of France")),
                     RC_MISS);
    char b2[600];
    snprintf(b2, sizeof b2, "{\"seed\":1,%s",
             body_q(b, sizeof b, "be brief", "what's the capital of France") + 1);
    assert_int_equal(lookup(&f, b2), RC_MISS);
    /* an embedder failure is a miss */
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be brief", "unknown text")), RC_MISS);
    rc_stats_t s;
    rc_stats(f.c, &s);
    assert_int_equal(s.lookups[RC_MODE_EXACT_THEN_SEMANTIC][RC_HIT_SEMANTIC], 1);
    assert_int_equal(s.lookups[RC_MODE_EXACT_THEN_SEMANTIC][RC_HIT_EXACT], 1);
    assert_int_equal(s.lookups[RC_MODE_EXACT_THEN_SEMANTIC][RC_MISS], 5);
    fx_deinit(&f);

    /* a stricter threshold */
    fx_init(&f, "{mode: semantic, semantic: {similarity_threshold: 0.95}}", NULL);
    rc_cache_set_embedder(f.c, &e);
    key(&f, body_q(b, sizeof b, "be brief", "What is the capital of France?"));
    store_json(&f, 200, REPLY);
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be brief", "what's the capital of France")),
                     RC_MISS);
    fx_deinit(&f);

    /* exact mode never embeds */
    fx_init(&f, NULL, NULL);
    rc_cache_set_embedder(f.c, &e);
    calls = 0;
    key(&f, body_q(b, sizeof b, "be brief", "What is the capital of France?"));
    store_json(&f, 200, REPLY);
    assert_int_equal(lookup(&f, body_q(b, sizeof b, "be brief", "what's the capital of France")),
                     RC_MISS);
    assert_int_equal(calls, 0);
    fx_deinit(&f);
}

static void test_never_stored(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    key(&f, BASE);
    assert_int_equal(store_json(&f, 500, REPLY), RC_STORE_SKIPPED);
    assert_int_equal(store_json(&f, 429, "{\"error\":{\"message\":\"slow down\"}}"),
                     RC_STORE_SKIPPED);
    assert_int_equal(store_json(&f, 200, "{\"error\":{\"message\":\"in a 200\"}}"),
                     RC_STORE_INVALID);
    assert_int_equal(store_json(&f, 200, "{\"choices\":[{\"message\""), RC_STORE_INVALID);
    rc_response_t aborted = {.status = 200, .body = REPLY, .len = strlen(REPLY), .complete = false};
    assert_int_equal(rc_store(f.c, &f.k, &aborted), RC_STORE_SKIPPED);
    /* a stream cut before its finish chunk */
    const char *cut =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"role\":\"assistant\",\"content\":\"Par\"},\"finish_reason\":null}]}\n\n";
    rc_response_t sc = {
        .status = 200, .body = cut, .len = strlen(cut), .streamed = true, .complete = true};
    assert_int_equal(rc_store(f.c, &f.k, &sc), RC_STORE_INVALID);
    assert_int_equal(lookup(&f, BASE), RC_MISS);

    f.in.cache_control = "no-store";
    key(&f, BASE);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORE_SKIPPED);
    f.in.cache_control = "max-age=0, No-Store";
    key(&f, BASE);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORE_SKIPPED);
    f.in.cache_control = NULL;
    f.in.drop = true;
    key(&f, BASE);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORE_SKIPPED);
    f.in.drop = false;
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    assert_int_equal(rc_cache_size(f.c), 0);

    /* no-cache: no lookup, but the response is stored */
    f.in.cache_control = "no-cache";
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    assert_int_equal(store_json(&f, 200, REPLY), RC_STORED);
    assert_int_equal(lookup(&f, BASE), RC_MISS);
    f.in.cache_control = NULL;
    assert_int_equal(lookup(&f, BASE), RC_HIT_EXACT);
    fx_deinit(&f);
}

/* ---- SSE replay ---- */

typedef struct events {
    int n, n_done;
    buf_t content, args;
    bool saw_role, saw_usage, saw_finish;
    char finish[32];
} events_t;

static void on_event(void *ud, const char *event, size_t el, const char *data, size_t len)
{
    events_t *e = ud;
    e->n++;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        e->n_done++;
        return;
    }
    assert_int_equal(e->n_done, 0); /* nothing after [DONE] */
    assert_int_equal(jscan_validate(data, len, NULL), 0);
    arena_t a;
    arena_init(&a, 1024);
    jreq_t jr;
    jspan_t top = {0, (uint32_t)len}, v, chs, ch, d, x;
    assert_true(jscan_obj_get(data, top, "object", &v) &&
                jscan_str_eq(data, v, "chat.completion.chunk"));
    assert_true(jscan_obj_get(data, top, "id", &v));
    assert_true(jscan_obj_get(data, top, "choices", &chs));
    if (jscan_obj_get(data, top, "usage", &v) && jscan_type(data, v) == '{') e->saw_usage = true;
    uint32_t cur = 0;
    while (jscan_arr_next(data, chs, &cur, &ch)) {
        assert_true(jscan_obj_get(data, ch, "delta", &d));
        if (jscan_obj_get(data, d, "role", &x)) e->saw_role = true;
        if (jscan_obj_get(data, d, "content", &x) && jscan_type(data, x) == '"') {
            size_t n;
            char *s = jscan_unescape(&a, data, x, &n);
            buf_append(&e->content, s, n);
        }
        jspan_t tcs, tc, fn, ar;
        if (jscan_obj_get(data, d, "tool_calls", &tcs)) {
            uint32_t c2 = 0;
            while (jscan_arr_next(data, tcs, &c2, &tc))
                if (jscan_obj_get(data, tc, "function", &fn) &&
                    jscan_obj_get(data, fn, "arguments", &ar)) {
                    size_t n;
                    char *s = jscan_unescape(&a, data, ar, &n);
                    buf_append(&e->args, s, n);
                }
        }
        if (jscan_obj_get(data, ch, "finish_reason", &x) && jscan_type(data, x) == '"') {
            e->saw_finish = true;
            size_t n;
            char *s = jscan_unescape(&a, data, x, &n);
            snprintf(e->finish, sizeof e->finish, "%s", s);
        }
    }
    (void)jr;
    arena_deinit(&a);
}

static void parse_sse(const char *s, size_t n, events_t *e)
{
    memset(e, 0, sizeof *e);
    sse_parser_t p;
    sse_parser_init(&p, on_event, e);
    /* in uneven pieces, as a client would read it */
    for (size_t i = 0; i < n; i += 7)
        sse_parser_feed(&p, s + i, n - i < 7 ? n - i : 7);
    sse_parser_deinit(&p);
}

static void test_sse_replay(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    key(&f, BASE);
    store_json(&f, 200, REPLY);
    f.in.stream = true;
    assert_int_equal(key(&f, BASE), 0);
    rc_hit_t h;
    assert_int_equal(rc_lookup(f.c, &f.k, &h), RC_HIT_EXACT);
    buf_t out = BUF_INIT;
    const char *ct;
    assert_int_equal(rc_render_hit(&h, true, true, &out, &ct), 0);
    assert_string_equal(ct, "text/event-stream");
    events_t e;
    parse_sse(out.data, out.len, &e);
    assert_int_equal(e.n, 5); /* role, content, finish, usage, [DONE] */
    assert_int_equal(e.n_done, 1);
    assert_true(e.saw_role && e.saw_usage && e.saw_finish);
    assert_string_equal(e.content.data, "Paris \"is\" it.\n");
    assert_string_equal(e.finish, "stop");
    buf_free(&e.content);
    buf_free(&e.args);
    /* without include_usage there is no usage chunk */
    buf_reset(&out);
    assert_int_equal(rc_render_hit(&h, true, false, &out, &ct), 0);
    parse_sse(out.data, out.len, &e);
    assert_int_equal(e.n, 4);
    assert_false(e.saw_usage);
    buf_free(&e.content);
    buf_free(&e.args);
    /* a JSON client gets the stored JSON */
    buf_reset(&out);
    assert_int_equal(rc_render_hit(&h, false, false, &out, &ct), 0);
    assert_string_equal(ct, "application/json");
    assert_string_equal(out.data, REPLY);
    rc_hit_free(&h);
    buf_free(&out);
    fx_deinit(&f);
}

static void test_streamed_response_is_assembled(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    f.in.stream = true;
    key(&f, BASE);
    const char *sse =
        "data: "
        "{\"id\":\"c9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m1\","
        "\"choices\":[{"
        "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}"
        "\n\n"
        "data: "
        "{\"id\":\"c9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m1\","
        "\"choices\":[{"
        "\"index\":0,\"delta\":{\"content\":\"Let me \"},\"finish_reason\":null}]}\r\n\r\n"
        "data: "
        "{\"id\":\"c9\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m1\","
        "\"choices\":[{"
        "\"index\":0,\"delta\":{\"content\":\"check.\"},\"finish_reason\":null}]}\n\n"
        "data: "
        "{\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
        "\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"pa\"}}]},"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"th\\\":1}\"}}]},\"finish_reason\":null}]}\n\n"
        "data: "
        "{\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"
        "\n\n"
        "data: "
        "{\"id\":\"c9\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
        "\"total_tokens\":5}}\n\n"
        "data: [DONE]\n\n";
    rc_response_t r = {.status = 200,
                       .body = sse,
                       .len = strlen(sse),
                       .streamed = true,
                       .complete = true,
                       .content_type = "text/event-stream"};
    assert_int_equal(rc_store(f.c, &f.k, &r), RC_STORED);
    /* a JSON client now gets the assembled completion */
    f.in.stream = false;
    key(&f, BASE);
    rc_hit_t h;
    assert_int_equal(rc_lookup(f.c, &f.k, &h), RC_HIT_EXACT);
    assert_int_equal(jscan_validate(h.body, h.len, NULL), 0);
    assert_non_null(strstr(h.body, "\"object\":\"chat.completion\""));
    assert_non_null(strstr(h.body, "\"content\":\"Let me check.\""));
    assert_non_null(strstr(h.body, "\"arguments\":\"{\\\"path\\\":1}\""));
    assert_non_null(strstr(h.body, "\"id\":\"call_1\""));
    assert_non_null(strstr(h.body, "\"finish_reason\":\"tool_calls\""));
    assert_non_null(strstr(h.body, "\"total_tokens\":5"));
    /* and a streaming client gets it back as chunks */
    buf_t out = BUF_INIT;
    const char *ct;
    assert_int_equal(rc_render_hit(&h, true, true, &out, &ct), 0);
    events_t e;
    parse_sse(out.data, out.len, &e);
    assert_string_equal(e.content.data, "Let me check.");
    assert_string_equal(e.args.data, "{\"path\":1}");
    assert_string_equal(e.finish, "tool_calls");
    assert_true(e.saw_usage);
    assert_int_equal(e.n_done, 1);
    buf_free(&e.content);
    buf_free(&e.args);
    buf_free(&out);
    rc_hit_free(&h);
    fx_deinit(&f);
}

static rc_store_result_t store_sse(fx_t *f, const char *sse)
{
    rc_response_t r = {
        .status = 200, .body = sse, .len = strlen(sse), .streamed = true, .complete = true};
    return rc_store(f->c, &f->k, &r);
}

/* Streamed Anthropic Messages and Responses replies are assembled into
 * their JSON object, served as is to JSON clients and replayed as their
 * protocol's SSE events to streaming ones; unfinished or failed streams
 * are refused. */
static void test_non_chat_streams_are_cached_and_replayed(void **st)
{
    fx_t f;
    fx_init(&f, NULL, NULL);
    f.in.proto = RQ_PROTO_ANTHROPIC;
    f.in.stream = true;
    const char *b = "{\"model\":\"auto\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"hi\"}]}";
    assert_int_equal(key(&f, b), 0);
    static const char msgs[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"yo \"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\","
        "\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n";
    /* cut before message_stop: refused */
    assert_int_equal(store_sse(&f, msgs), RC_STORE_INVALID);
    char whole[sizeof msgs + 64];
    snprintf(whole, sizeof whole, "%sevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
             msgs);
    assert_int_equal(store_sse(&f, whole), RC_STORED);
    rc_hit_t h;
    key(&f, b);
    assert_int_equal(rc_lookup(f.c, &f.k, &h), RC_HIT_EXACT);
    buf_t out = BUF_INIT;
    const char *ct;
    assert_int_equal(rc_render_hit(&h, false, false, &out, &ct), 0);
    assert_string_equal(ct, "application/json");
    assert_string_equal(out.data,
                        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                        "\"c\",\"content\":[{\"type\":\"text\",\"text\":\"yo there\"},{\"type\":"
                        "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{\"a\":1}}],"
                        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{"
                        "\"input_tokens\":3,\"output_tokens\":9}}");
    buf_reset(&out);
    /* replayed as Messages events, which assemble into the same Message */
    assert_int_equal(rc_render_hit(&h, true, false, &out, &ct), 0);
    assert_string_equal(ct, "text/event-stream");
    assert_true(!strncmp(out.data, "event: message_start\n", 21));
    assert_non_null(strstr(out.data, "\"text_delta\",\"text\":\"yo there\""));
    assert_non_null(strstr(out.data, "event: message_stop\n"));
    buf_t again = BUF_INIT;
    rc_hit_t h2 = {.kind = RC_HIT_EXACT, .proto = RQ_PROTO_ANTHROPIC};
    fx_t g;
    fx_init(&g, NULL, NULL);
    g.in.proto = RQ_PROTO_ANTHROPIC;
    g.in.stream = true;
    assert_int_equal(key(&g, b), 0);
    assert_int_equal(store_sse(&g, out.data), RC_STORED);
    key(&g, b);
    assert_int_equal(rc_lookup(g.c, &g.k, &h2), RC_HIT_EXACT);
    assert_int_equal(rc_render_hit(&h2, false, false, &again, &ct), 0);
    assert_int_equal(again.len, h.len);
    assert_memory_equal(again.data, h.body, h.len);
    rc_hit_free(&h2);
    fx_deinit(&g);
    buf_free(&again);
    buf_free(&out);
    rc_hit_free(&h);
    /* an error event: refused */
    static const char err[] = "event: message_start\ndata: {\"type\":\"message_start\","
                              "\"message\":{\"id\":\"m\",\"content\":[]}}\n\n"
                              "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                              "\"overloaded_error\",\"message\":\"x\"}}\n\n"
                              "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_int_equal(store_sse(&f, err), RC_STORE_INVALID);

    /* Responses: the Response of response.completed */
    f.in.proto = RQ_PROTO_RESPONSES;
    const char *rb = "{\"model\":\"auto\",\"input\":\"hi\",\"stream\":true}";
    assert_int_equal(key(&f, rb), 0);
    static const char resp[] =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":"
        "\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"delta\":\"hello\"}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":"
        "\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"error\":null,\"output\":[{"
        "\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\",\"role\":\"assistant\","
        "\"content\":[{\"type\":\"output_text\",\"text\":\"hello\",\"annotations\":[]}]},{\"type\":"
        "\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":"
        "\"{}\",\"status\":\"completed\"}],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}"
        "\n\n";
    static const char failed[] =
        "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":"
        "\"resp_2\",\"status\":\"failed\",\"output\":[]}}\n\n";
    assert_int_equal(store_sse(&f, failed), RC_STORE_INVALID);
    assert_int_equal(store_sse(&f, resp), RC_STORED);
    key(&f, rb);
    assert_int_equal(rc_lookup(f.c, &f.k, &h), RC_HIT_EXACT);
    assert_int_equal(rc_render_hit(&h, false, false, &out, &ct), 0);
    assert_non_null(strstr(out.data, "\"id\":\"resp_1\""));
    assert_null(strstr(out.data, "response.completed"));
    buf_reset(&out);
    assert_int_equal(rc_render_hit(&h, true, false, &out, &ct), 0);
    assert_string_equal(ct, "text/event-stream");
    assert_true(!strncmp(out.data, "event: response.created\n", 24));
    const char *order[] = {"response.in_progress",
                           "response.output_item.added",
                           "response.content_part.added",
                           "\"delta\":\"hello\"",
                           "response.output_text.done",
                           "response.content_part.done",
                           "response.output_item.done",
                           "response.function_call_arguments.delta",
                           "response.function_call_arguments.done",
                           "event: response.completed\n"};
    const char *at = out.data;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *n = strstr(at, order[i]);
        if (!n) fail_msg("missing %s after %s", order[i], i ? order[i - 1] : "start");
        at = n;
    }
    buf_free(&out);
    rc_hit_free(&h);
    fx_deinit(&f);
}

static void test_conf_read(void **st)
{
    arena_t a;
    arena_init(&a, 1024);
    rc_conf_t c;
    rc_conf_read(NULL, &c);
    assert_int_equal(c.mode, RC_MODE_EXACT);
    assert_int_equal(c.scope, RC_SCOPE_TENANT);
    assert_int_equal(c.ttl_seconds, -1);
    assert_true(fabs(c.threshold - 0.92) < 1e-9);
    rc_conf_read(yaml(&a, "{mode: semantic, scope: global, ttl_seconds: 60, semantic: "
                          "{similarity_threshold: 0.8}}"),
                 &c);
    assert_int_equal(c.mode, RC_MODE_SEMANTIC);
    assert_int_equal(c.scope, RC_SCOPE_GLOBAL);
    assert_int_equal(c.ttl_seconds, 60);
    assert_true(fabs(c.threshold - 0.8) < 1e-9);
    arena_deinit(&a);
    /* the store's limits from the global config defaults */
    rc_cache_t *rc = rc_cache_new(NULL);
    assert_int_equal(rc_cache_size(rc), 0);
    rc_cache_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_key_components),
        cmocka_unit_test(test_no_plugin_no_cache),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_semantic),
        cmocka_unit_test(test_never_stored),
        cmocka_unit_test(test_sse_replay),
        cmocka_unit_test(test_streamed_response_is_assembled),
        cmocka_unit_test(test_non_chat_streams_are_cached_and_replayed),
        cmocka_unit_test(test_conf_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
