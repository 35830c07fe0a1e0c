/* mock_reply.c - deterministic replies of `tether mock`: canonical text of a
 * chat request, token counting, the reply (text, tool call, reasoning state)
 * and its rendering as a chat completion body or SSE chunks; also the hashed
 * embeddings. Every choice derives from one hash of the canonical text and
 * the seed, so the same request always gets the same reply. The server
 * (mock_server.c) calls this; the registry (mock_strict.c) remembers the ids
 * it hands out. */
#include "mock/mock_reply.h"
#include "core/hash.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First element of an array/object (NULL for anything else or NULL). */
static const cJSON *cj_child(const cJSON *x)
{
    return x ? x->child : NULL;
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void mock_content_text(const cJSON *content, buf_t *out)
{
    if (cJSON_IsString(content)) {
        buf_puts(out, content->valuestring);
        return;
    }
    if (!cJSON_IsArray(content)) return;
    const cJSON *part;
    bool first = true;
    for (part = cj_child(content); part; part = part->next) {
        if (!first) buf_putc(out, '\n');
        first = false;
        if (cJSON_IsString(part)) {
            buf_puts(out, part->valuestring);
            continue;
        }
        const char *text = str_of(part, "text");
        if (text)
            buf_puts(out, text);
        else
            buf_puts(out, "[image]");
    }
}

static void canon_message(const cJSON *m, buf_t *out)
{
    const char *role = str_of(m, "role");
    buf_puts(out, role ? role : "?");
    buf_putc(out, '\n');
    mock_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), out);
    buf_putc(out, '\n');
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    const cJSON *tc;
    for (tc = cj_child((cJSON_IsArray(tcs) ? tcs : NULL)); tc; tc = tc->next) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const char *id = str_of(tc, "id"), *name = str_of(fn, "name"),
                   *args = str_of(fn, "arguments");
        buf_printf(out, "[tool_call %s %s %s]\n", id ? id : "", name ? name : "", args ? args : "");
    }
    const char *tcid = str_of(m, "tool_call_id");
    if (tcid) buf_printf(out, "[tool_result %s]\n", tcid);
}

int mock_chat_init(mock_chat_t *c, const cJSON *root, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->root = root;
    c->first_user = "";
    c->last_text = "";
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "request body must be a JSON object");
        return -1;
    }
    c->model = str_of(root, "model");
    c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(root, "reasoning_effort");
    const cJSON *ro = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
    c->wants_reasoning = (re && !cJSON_IsNull(re)) || cJSON_IsObject(ro);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) c->tools = tools;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs)) {
        snprintf(err, errlen, "'messages' must be an array");
        return -1;
    }
    c->messages = msgs;
    const cJSON *m, *last = NULL;
    bool have_first = false;
    for (m = cj_child(msgs); m; m = m->next) {
        if (!cJSON_IsObject(m)) {
            snprintf(err, errlen, "each message must be an object");
            mock_chat_deinit(c);
            return -1;
        }
        canon_message(m, &c->canon);
        const char *role = str_of(m, "role");
        if (!have_first && role && !strcmp(role, "user")) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (cJSON_IsString(content)) {
                c->first_user = content->valuestring;
                have_first = true;
            } else if (cJSON_IsArray(content)) {
                /* first text part */
                const cJSON *p;
                for (p = cj_child(content); p; p = p->next) {
                    const char *t = str_of(p, "text");
                    if (t) {
                        c->first_user = t;
                        have_first = true;
                        break;
                    }
                }
            }
        }
        last = m;
    }
    if (!c->canon.data) buf_puts(&c->canon, "");
    if (last) {
        const char *role = str_of(last, "role");
        c->last_is_user = role && !strcmp(role, "user");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
        if (cJSON_IsString(content)) {
            c->last_text = content->valuestring;
        } else if (cJSON_IsArray(content)) {
            const cJSON *p;
            for (p = cj_child(content); p; p = p->next) {
                const char *t = str_of(p, "text");
                if (t) c->last_text = t; /* the last text part */
            }
        }
    }
    return 0;
}

void mock_chat_deinit(mock_chat_t *c)
{
    buf_free(&c->canon);
}

bool mock_asks_for_tool(const char *text)
{
    if (!text) return false;
    if (strcasestr(text, "use the tool") || strcasestr(text, "call the tool")) return true;
    for (const char *p = text; (p = strcasestr(p, "run ")) != NULL; p++)
        if (p == text || !isalpha((unsigned char)p[-1])) return true;
    return false;
}

static const char *const WORDS[] = {
    "the",     "session", "router",  "keeps", "context", "across",  "turns",     "and",
    "model",   "answers", "with",    "a",     "short",   "note",    "about",     "cache",
    "prefix",  "tokens",  "stream",  "chunk", "reply",   "is",      "simulated", "by",
    "mock",    "backend", "for",     "tests", "of",      "routing", "while",     "tools",
    "run",     "in",      "order",   "to",    "check",   "state",   "that",      "each",
    "request", "carries", "forward", "from",  "one",     "step",    "next",      "signal",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

static char *make_words(uint64_t *st, int n, size_t *len_out)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < n; i++) {
        const char *w = WORDS[mix(st) % N_WORDS];
        if (i == 0) {
            buf_putc(&b, (char)toupper((unsigned char)w[0]));
            buf_puts(&b, w + 1);
        } else {
            buf_putc(&b, ' ');
            buf_puts(&b, w);
        }
    }
    buf_putc(&b, '.');
    *len_out = b.len;
    return buf_steal(&b);
}

static char *fixed_text(size_t n)
{
    static const char pat[] = "lorem ipsum dolor sit amet ";
    char *s = malloc(n + 1);
    if (!s) abort();
    for (size_t i = 0; i < n; i++)
        s[i] = pat[i % (sizeof pat - 1)];
    s[n] = 0;
    return s;
}

/* Arguments for the first tool: one value per declared property. */
static char *tool_args(const cJSON *tool, uint64_t *st)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn ? fn : tool, "parameters");
    if (!params) params = cJSON_GetObjectItemCaseSensitive(tool, "input_schema");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
    buf_t b = BUF_INIT;
    buf_putc(&b, '{');
    const cJSON *p;
    bool first = true;
    for (p = cj_child((cJSON_IsObject(props) ? props : NULL)); p; p = p->next) {
        if (!p->string) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        buf_json_str(&b, p->string, strlen(p->string));
        buf_putc(&b, ':');
        const char *type = str_of(p, "type");
        uint64_t v = mix(st);
        if (type && (!strcmp(type, "integer") || !strcmp(type, "number")))
            buf_printf(&b, "%llu", (unsigned long long)(v % 100));
        else if (type && !strcmp(type, "boolean"))
            buf_puts(&b, (v & 1) ? "true" : "false");
        else if (type && !strcmp(type, "array"))
            buf_puts(&b, "[]");
        else if (type && !strcmp(type, "object"))
            buf_puts(&b, "{}");
        else
            buf_printf(&b, "\"mock-%04llx\"", (unsigned long long)(v & 0xffff));
    }
    buf_putc(&b, '}');
    return buf_steal(&b);
}

static const char *tool_name(const cJSON *tool)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const char *name = str_of(fn ? fn : tool, "name");
    return name ? name : "tool";
}

void mock_reply_build(mock_reply_t *r, const mock_chat_t *c, uint64_t seed, size_t reply_bytes)
{
    memset(r, 0, sizeof *r);
    r->hash = hash_xxh64(c->canon.data, c->canon.len, seed);
    uint64_t st = r->hash;
    snprintf(r->id, sizeof r->id, "chatcmpl-%016llx", (unsigned long long)mix(&st));
    r->prompt_tokens = mock_tokens(c->canon.len);
    if (c->tools && c->last_is_user && mock_asks_for_tool(c->last_text)) {
        const cJSON *tool = cJSON_GetArrayItem(c->tools, 0);
        r->is_tool_call = true;
        snprintf(r->call_id, sizeof r->call_id, "call_%016llx", (unsigned long long)mix(&st));
        r->tool_name = strdup(tool_name(tool));
        r->tool_args = tool_args(tool, &st);
        r->finish_reason = "tool_calls";
        r->completion_tokens = mock_tokens(strlen(r->tool_name) + strlen(r->tool_args));
    } else {
        if (reply_bytes > 0) {
            r->content = fixed_text(reply_bytes);
            r->content_len = reply_bytes;
        } else {
            r->content = make_words(&st, 8 + (int)(mix(&st) % 24), &r->content_len);
        }
        r->finish_reason = "stop";
        r->completion_tokens = mock_tokens(r->content_len);
    }
    if (c->wants_reasoning) {
        size_t n;
        r->has_reasoning = true;
        r->reasoning_text = make_words(&st, 6, &n);
        snprintf(r->reasoning_sig, sizeof r->reasoning_sig, "sig_%016llx",
                 (unsigned long long)mix(&st));
        snprintf(r->reasoning_enc, sizeof r->reasoning_enc, "enc_%016llx",
                 (unsigned long long)mix(&st));
        r->completion_tokens += mock_tokens(n);
    }
}

void mock_reply_fixed(mock_reply_t *r, uint64_t hash, uint64_t prompt_tokens, size_t reply_bytes)
{
    memset(r, 0, sizeof *r);
    r->hash = hash;
    uint64_t st = hash;
    snprintf(r->id, sizeof r->id, "chatcmpl-%016llx", (unsigned long long)mix(&st));
    r->prompt_tokens = prompt_tokens;
    r->content = fixed_text(reply_bytes);
    r->content_len = reply_bytes;
    r->finish_reason = "stop";
    r->completion_tokens = mock_tokens(reply_bytes);
}

/* ---- light top-level scan (fast path) ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns past the closing quote or NULL. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
    p++;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        /* count the backslashes right before the quote */
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0) {
            if (escaped && memchr(p, '\\', (size_t)(q - p))) *escaped = true;
            return q + 1;
        }
        p = q + 1;
    }
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char ch = *p;
            if (ch == '"') {
                p = skip_string(p, end, NULL);
                if (!p) return NULL;
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if (ch == '}' || ch == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\r' && *p != '\t')
        p++;
    return p > s ? p : NULL;
}

static bool key_is(const char *k, size_t klen, const char *lit)
{
    size_t n = strlen(lit);
    return klen == n && !memcmp(k, lit, n);
}

int mock_peek(const char *body, size_t len, mock_peek_t *pk)
{
    memset(pk, 0, sizeof *pk);
    const char *p = body, *end = body + len;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return 0;
    for (;;) {
        if (p >= end || *p != '"') return -1;
        const char *k = p + 1;
        const char *ke = skip_string(p, end, NULL);
        if (!ke) return -1;
        size_t klen = (size_t)(ke - 1 - k);
        p = skip_ws(ke, end);
        if (p >= end || *p != ':') return -1;
        p = skip_ws(p + 1, end);
        const char *v = p;
        bool esc = false;
        const char *ve = *p == '"' ? skip_string(p, end, &esc) : skip_value(p, end);
        if (!ve) return -1;
        size_t vlen = (size_t)(ve - v);
        if (key_is(k, klen, "model")) {
            pk->model = NULL;
            pk->model_escaped = esc;
            if (*v == '"' && !esc) {
                pk->model = v + 1;
                pk->model_len = vlen - 2;
            }
        } else if (key_is(k, klen, "stream")) {
            pk->stream = vlen == 4 && !memcmp(v, "true", 4);
        } else if (key_is(k, klen, "stream_options")) {
            pk->include_usage =
                memmem(v, vlen, "\"include_usage\"", 15) && memmem(v, vlen, "true", 4);
        } else if (key_is(k, klen, "messages")) {
            pk->messages = v;
            pk->messages_len = vlen;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') return skip_ws(p + 1, end) == end ? 0 : -1;
        return -1;
    }
}

void mock_reply_deinit(mock_reply_t *r)
{
    free(r->content);
    free(r->tool_name);
    free(r->tool_args);
    free(r->reasoning_text);
    memset(r, 0, sizeof *r);
}

static void put_reasoning_details(const mock_reply_t *r, buf_t *b)
{
    buf_puts(b, "\"reasoning_details\":[{\"type\":\"reasoning.text\",\"index\":0,\"text\":");
    buf_json_str(b, r->reasoning_text, strlen(r->reasoning_text));
    buf_printf(b,
               ",\"signature\":\"%s\"},{\"type\":\"reasoning.encrypted\",\"index\":1,"
               "\"data\":\"%s\"}]",
               r->reasoning_sig, r->reasoning_enc);
}

static void put_usage(const mock_reply_t *r, uint64_t cached, buf_t *b)
{
    buf_printf(b,
               "\"usage\":{\"prompt_tokens\":%llu,\"completion_tokens\":%llu,"
               "\"total_tokens\":%llu,\"prompt_tokens_details\":{\"cached_tokens\":%llu}}",
               (unsigned long long)r->prompt_tokens, (unsigned long long)r->completion_tokens,
               (unsigned long long)(r->prompt_tokens + r->completion_tokens),
               (unsigned long long)cached);
}

void mock_render_chat_json(const mock_reply_t *r, const char *model, uint64_t created,
                           uint64_t cached_tokens, buf_t *out)
{
    buf_printf(out,
               "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%llu,\"model\":", r->id,
               (unsigned long long)created);
    buf_json_str(out, model, strlen(model));
    buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (r->is_tool_call) {
        buf_printf(out,
                   "null,\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\",\"function\":"
                   "{\"name\":",
                   r->call_id);
        buf_json_str(out, r->tool_name, strlen(r->tool_name));
        buf_puts(out, ",\"arguments\":");
        buf_json_str(out, r->tool_args, strlen(r->tool_args));
        buf_puts(out, "}}]");
    } else {
        buf_json_str(out, r->content, r->content_len);
    }
    if (r->has_reasoning) {
        buf_puts(out, ",\"reasoning\":");
        buf_json_str(out, r->reasoning_text, strlen(r->reasoning_text));
        buf_putc(out, ',');
        put_reasoning_details(r, out);
    }
    buf_printf(out, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],", r->finish_reason);
    put_usage(r, cached_tokens, out);
    buf_puts(out, "}");
}

static void chunk_head(buf_t *b, const mock_reply_t *r, const char *model, uint64_t created)
{
    buf_printf(b,
               "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%llu,"
               "\"model\":",
               r->id, (unsigned long long)created);
    buf_json_str(b, model, strlen(model));
}

#define MAX_CONTENT_CHUNKS 64

size_t mock_render_chat_sse(const mock_reply_t *r, const char *model, uint64_t created,
                            uint64_t cached_tokens, bool include_usage, buf_t **chunks)
{
    size_t cap = MAX_CONTENT_CHUNKS + 8, n = 0;
    buf_t *c = calloc(cap, sizeof *c);
    if (!c) abort();
    /* role (and reasoning) delta */
    chunk_head(&c[n], r, model, created);
    buf_puts(&c[n],
             ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"");
    if (r->has_reasoning) {
        buf_puts(&c[n], ",\"reasoning\":");
        buf_json_str(&c[n], r->reasoning_text, strlen(r->reasoning_text));
        buf_putc(&c[n], ',');
        put_reasoning_details(r, &c[n]);
    }
    buf_puts(&c[n], "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    n++;
    if (r->is_tool_call) {
        chunk_head(&c[n], r, model, created);
        buf_printf(&c[n],
                   ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                   "\"%s\",\"type\":\"function\",\"function\":{\"name\":",
                   r->call_id);
        buf_json_str(&c[n], r->tool_name, strlen(r->tool_name));
        buf_puts(&c[n], ",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        n++;
        /* arguments in two halves */
        size_t alen = strlen(r->tool_args), half = alen / 2;
        size_t cuts[3] = {0, half, alen};
        for (int i = 0; i < 2; i++) {
            if (cuts[i + 1] == cuts[i]) continue;
            chunk_head(&c[n], r, model, created);
            buf_puts(&c[n], ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                            "\"function\":{\"arguments\":");
            buf_json_str(&c[n], r->tool_args + cuts[i], cuts[i + 1] - cuts[i]);
            buf_puts(&c[n], "}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            n++;
        }
    } else {
        /* content deltas: about three words each, at most MAX_CONTENT_CHUNKS */
        size_t len = r->content_len;
        size_t piece = len / MAX_CONTENT_CHUNKS + 1;
        if (piece < 16) piece = 16;
        size_t pos = 0;
        while (pos < len) {
            size_t end = pos + piece;
            if (end + 8 >= len) { /* no tiny tail chunk */
                end = len;
            } else {
                /* cut after a space when one is near, never inside UTF-8 */
                size_t k = end;
                while (k < len && k < end + 8 && r->content[k - 1] != ' ')
                    k++;
                if (k < len && r->content[k - 1] == ' ') end = k;
                while (end < len && ((unsigned char)r->content[end] & 0xC0) == 0x80)
                    end++;
            }
            chunk_head(&c[n], r, model, created);
            buf_puts(&c[n], ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
            buf_json_str(&c[n], r->content + pos, end - pos);
            buf_puts(&c[n], "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            n++;
            pos = end;
        }
    }
    chunk_head(&c[n], r, model, created);
    buf_printf(&c[n],
               ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
               "\"finish_reason\":\"%s\"}]}\n\n",
               r->finish_reason);
    n++;
    if (include_usage) {
        chunk_head(&c[n], r, model, created);
        buf_puts(&c[n], ",\"choices\":[],");
        put_usage(r, cached_tokens, &c[n]);
        buf_puts(&c[n], "}\n\n");
        n++;
    }
    buf_puts(&c[n], "data: [DONE]\n\n");
    n++;
    *chunks = c;
    return n;
}

void mock_chunks_free(buf_t *chunks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_free(&chunks[i]);
    free(chunks);
}

void mock_render_error(buf_t *out, const char *type, const char *code, const char *message)
{
    buf_puts(out, "{\"error\":{\"message\":");
    buf_json_str(out, message, strlen(message));
    buf_printf(out, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
    if (code)
        buf_printf(out, "\"%s\"", code);
    else
        buf_puts(out, "null");
    buf_puts(out, "}}");
}

static void embed_add(float *vec, int dims, uint64_t h, float w)
{
    vec[h % (uint64_t)dims] += (h >> 63) ? -w : w;
}

void mock_embed(const char *text, size_t len, uint64_t seed, float *vec, int dims)
{
    for (int i = 0; i < dims; i++)
        vec[i] = 0;
    /* lowercase alnum projection; other bytes separate words */
    char word[64];
    size_t wl = 0;
    char tri[3] = {' ', ' ', ' '};
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = i < len ? (unsigned char)text[i] : ' ';
        bool alnum = isalnum(ch) || ch >= 0x80;
        char lc = alnum ? (char)tolower(ch) : ' ';
        tri[0] = tri[1];
        tri[1] = tri[2];
        tri[2] = lc;
        if (!(tri[0] == ' ' && tri[1] == ' ' && tri[2] == ' '))
            embed_add(vec, dims, hash_xxh64(tri, 3, seed ^ 0x7472690000000000ull), 0.5f);
        if (alnum) {
            if (wl < sizeof word) word[wl++] = lc;
        } else if (wl > 0) {
            embed_add(vec, dims, hash_xxh64(word, wl, seed), 1.0f);
            wl = 0;
        }
    }
    double norm = 0;
    for (int i = 0; i < dims; i++)
        norm += (double)vec[i] * vec[i];
    if (norm <= 0) {
        vec[0] = 1.0f;
        return;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (int i = 0; i < dims; i++)
        vec[i] *= inv;
}
