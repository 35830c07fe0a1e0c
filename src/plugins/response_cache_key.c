/* response_cache_key.c - the response_cache plugin's keys (SPEC §8): the
 * plugin's per-decision configuration, and for one request the exact key
 * (128-bit) and context hash (64-bit) over the client's request spans: the
 * canonical parameters, the scope, and the conversation with whitespace
 * outside strings removed. The context hash leaves out the last user
 * message, whose text is kept as the query for semantic lookups; its
 * embedding is computed here, once per key. The store that uses these keys
 * is response_cache.c. */
#include "plugins/response_cache.h"
#include "config/family.h"
#include "core/arena.h"
#include "core/clock.h"
#include "decision/cfgnode.h"
#include "plugins/plugins.h"
#include "plugins/response_cache_internal.h"
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* ------------------------------------------------------------ configuration */

const char *rc_mode_name(rc_mode_t m)
{
    return m == RC_MODE_SEMANTIC              ? "semantic"
           : m == RC_MODE_EXACT_THEN_SEMANTIC ? "exact_then_semantic"
                                              : "exact";
}

void rc_conf_read(const cfg_node_t *conf, rc_conf_t *out)
{
    const char *mode = dec_cfg_str(conf, "mode", "exact");
    const char *scope = dec_cfg_str(conf, "scope", "tenant");
    out->mode = strcmp(mode, "semantic") == 0              ? RC_MODE_SEMANTIC
                : strcmp(mode, "exact_then_semantic") == 0 ? RC_MODE_EXACT_THEN_SEMANTIC
                                                           : RC_MODE_EXACT;
    out->scope = strcmp(scope, "global") == 0    ? RC_SCOPE_GLOBAL
                 : strcmp(scope, "session") == 0 ? RC_SCOPE_SESSION
                                                 : RC_SCOPE_TENANT;
    double ttl;
    out->ttl_seconds = dec_cfg_has_num(conf, "ttl_seconds", &ttl) && ttl >= 0 ? (int64_t)ttl : -1;
    const cfg_node_t *sem =
        conf && conf->kind == CFG_NODE_MAP ? cfg_node_get(conf, "semantic") : NULL;
    out->threshold = dec_cfg_num(sem, "similarity_threshold", 0.92);
}

/* ------------------------------------------------------------ keys */

typedef struct hpair {
    XXH3_state_t ex, ctx;
} hpair_t;

static void hp_put(hpair_t *h, const void *p, size_t n, bool ctx_too)
{
    XXH3_128bits_update(&h->ex, p, n);
    if (ctx_too) XXH3_64bits_update(&h->ctx, p, n);
}

/* A length-delimited tag, so fields cannot run into each other. */
static void hp_tag(hpair_t *h, const char *s, bool ctx_too)
{
    size_t n = strlen(s);
    uint32_t l = (uint32_t)n;
    hp_put(h, &l, sizeof l, ctx_too);
    hp_put(h, s, n, ctx_too);
}

/* A JSON value with whitespace outside strings removed. */
static void hp_json(hpair_t *h, const char *body, jspan_t v, bool ctx_too)
{
    const char *s = body + v.off;
    size_t n = v.len, span = 0;
    bool in_str = false, esc = false;
    uint32_t l = v.len ? 1 : 0;
    hp_put(h, &l, sizeof l, ctx_too); /* present / absent */
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (i > span) hp_put(h, s + span, i - span, ctx_too);
            span = i + 1;
        }
    }
    if (n > span) hp_put(h, s + span, n - span, ctx_too);
    hp_put(h, "\x1e", 1, ctx_too);
}

static const char *const key_params[] = {
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "stop",
    "stop_sequences",
    "seed",
    "response_format",
    "text",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "top_k",
    "reasoning_effort",
    "reasoning",
    "thinking",
    "system",
    "instructions",
    "modalities",
    "audio",
};

static bool is_user(const char *body, jspan_t elem)
{
    jspan_t r;
    return jscan_type(body, elem) == '{' && jscan_obj_get(body, elem, "role", &r) &&
           jscan_type(body, r) == '"' && jscan_str_eq(body, r, "user");
}

/* The text of a message's content: a string, or the text parts joined with
 * '\n'. Heap, NUL-terminated; NULL when there is none. */
static char *content_text(const char *body, jspan_t content, size_t *len)
{
    arena_t a;
    arena_init(&a, 4096);
    buf_t b = BUF_INIT;
    if (jscan_type(body, content) == '"') {
        size_t n = 0;
        char *s = jscan_unescape(&a, body, content, &n);
        if (s) buf_append(&b, s, n);
    } else if (jscan_type(body, content) == '[') {
        uint32_t cur = 0;
        jspan_t part, v;
        while (jscan_arr_next(body, content, &cur, &part)) {
            jspan_t s = {0, 0};
            if (jscan_type(body, part) == '{' && jscan_obj_get(body, part, "text", &v) &&
                jscan_type(body, v) == '"')
                s = v;
            else if (jscan_type(body, part) == '"')
                s = part;
            if (!s.len) continue;
            size_t n = 0;
            char *u = jscan_unescape(&a, body, s, &n);
            if (!u) continue;
            if (b.len) buf_putc(&b, '\n');
            buf_append(&b, u, n);
        }
    }
    arena_deinit(&a);
    *len = b.len;
    if (!b.len) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static bool cc_has(const char *v, const char *token)
{
    if (!v) return false;
    size_t tl = strlen(token);
    for (const char *p = v; (p = strcasestr(p, token)); p += tl) {
        bool left = p == v || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t';
        char r = p[tl];
        if (left && (r == 0 || r == ',' || r == ' ' || r == '\t' || r == ';')) return true;
    }
    return false;
}

int rc_key_init(rc_key_t *k, rc_cache_t *c, const rc_key_in_t *in)
{
    memset(k, 0, sizeof *k);
    const cfg_plugin_t *p = in->decision ? plg_find(in->decision, "response_cache") : NULL;
    if (!p || !in->body || !in->jr) return 1;
    rc_conf_read(p->configuration, &k->conf);
    const char *scope_id = "";
    if (k->conf.scope == RC_SCOPE_TENANT)
        scope_id = in->tenant && *in->tenant ? in->tenant : "anon";
    if (k->conf.scope == RC_SCOPE_SESSION) {
        if (!in->session_key || !*in->session_key) return 1;
        scope_id = in->session_key;
    }
    k->proto = in->proto;
    k->stream = in->stream;
    k->evb = in->evb;
    k->now_ms = in->now_ms ? in->now_ms : clock_mono_ms();
    k->enabled = true;
    k->lookup = !cc_has(in->cache_control, "no-cache");
    k->store = !cc_has(in->cache_control, "no-store") && !in->drop;

    const char *body = in->body;
    const jreq_t *jr = in->jr;
    hpair_t h;
    XXH3_INITSTATE(&h.ex);
    XXH3_INITSTATE(&h.ctx);
    XXH3_128bits_reset_withSeed(&h.ex, 0x7263);
    XXH3_64bits_reset_withSeed(&h.ctx, 0x7263);
    char proto = (char)('0' + in->proto);
    hp_put(&h, &proto, 1, true);
    hp_tag(&h, in->recipe ? in->recipe : "", true);
    hp_tag(&h, in->decision->name ? in->decision->name : "", true);
    hp_tag(&h,
           k->conf.scope == RC_SCOPE_GLOBAL   ? "g"
           : k->conf.scope == RC_SCOPE_TENANT ? "t"
                                              : "s",
           true);
    hp_tag(&h, scope_id, true);
    jspan_t top = {jr->obj_open, jr->obj_close - jr->obj_open + 1};
    for (size_t i = 0; i < sizeof key_params / sizeof key_params[0]; i++) {
        jspan_t v = {0, 0};
        hp_tag(&h, key_params[i], true);
        if (!jscan_obj_get(body, top, key_params[i], &v)) v.len = 0;
        hp_json(&h, body, v, true);
    }
    if (in->proto == RQ_PROTO_RESPONSES) {
        /* a continuation depends on the stored chain it continues */
        jspan_t prev = {0, 0};
        hp_tag(&h, "previous_response_id", true);
        if (!jscan_obj_get(body, top, "previous_response_id", &prev)) prev.len = 0;
        hp_json(&h, body, prev, true);
    }
    /* the conversation: messages (chat, Anthropic) or input (Responses) */
    jspan_t conv = {0, 0};
    if (!jscan_obj_get(body, top, in->proto == RQ_PROTO_RESPONSES ? "input" : "messages", &conv))
        conv.len = 0;
    hp_tag(&h, "conversation", true);
    if (jscan_type(body, conv) == '[') {
        uint32_t cur = 0, idx = 0;
        jspan_t e;
        long last = -1;
        while (jscan_arr_next(body, conv, &cur, &e)) {
            if (is_user(body, e)) last = idx;
            idx++;
        }
        cur = 0;
        idx = 0;
        while (jscan_arr_next(body, conv, &cur, &e)) {
            bool q = (long)idx++ == last;
            if (q) {
                jspan_t content;
                if (jscan_obj_get(body, e, "content", &content))
                    k->query = content_text(body, content, &k->query_len);
                hp_put(&h, "\x1dQ", 2, true); /* the slot of the last user message */
            }
            hp_json(&h, body, e, !q);
        }
    } else if (jscan_type(body, conv) == '"') { /* Responses input as one user text */
        k->query = content_text(body, conv, &k->query_len);
        hp_put(&h, "\x1dQ", 2, true);
        hp_json(&h, body, conv, false);
    } else {
        hp_json(&h, body, conv, true);
    }
    XXH128_hash_t ex = XXH3_128bits_digest(&h.ex);
    k->exact[0] = ex.low64;
    k->exact[1] = ex.high64;
    k->ctx = XXH3_64bits_digest(&h.ctx);
    return 0;
}

void rc_key_deinit(rc_key_t *k)
{
    free(k->query);
    free(k->emb);
    k->query = NULL;
    k->emb = NULL;
}

bool rc_key_is_semantic(const rc_key_t *k)
{
    return k->conf.mode != RC_MODE_EXACT;
}

/* The query embedding, computed once per key. */
const float *rc_key_embedding(rc_key_t *k, const sel_embedder_t *emb)
{
    if (k->emb) return k->emb;
    if (k->emb_failed || !emb || !emb->embed || !emb->dim || !k->query) return NULL;
    float *v = malloc(emb->dim * sizeof *v);
    if (emb->embed(emb->ctx, k->query, k->query_len, v) != 0) {
        free(v);
        k->emb_failed = true;
        return NULL;
    }
    k->emb = v;
    return v;
}

/* The member (config/family.h): run by the proxy between plg_run_pre and
 * plg_run_post (rc_key_init, then the cache), not by the plugin pipeline. */
const cfg_plugin_kind_t plg_response_cache_plugin = {.name = "response_cache"};
