/* scan.c - the request scanner: validates a JSON body in one pass and records
 * the spans routing needs (scan.h), plus jscan_validate. No tree, no
 * allocation per byte: the only memory taken is the msgs array and each
 * message's tool-call array, from the request's arena.
 *
 * The byte-level lexers (strings, numbers, literals, the iterative value
 * skipper with its explicit container stack, so hostile nesting is an
 * error, never a stack overflow) are static inline in scan_lex.h; here are
 * the request-shaped walkers (top-level object, messages array, message
 * objects, their tool calls) built from the same pieces so that every error has the same
 * offset and message as jscan_validate. Helpers over the spans it records
 * are in scan_span.c. */
#include "json/scan_lex.h"

int jscan_validate(const char *body, size_t len, jscan_err_t *err)
{
    scanner_t s = {(const uint8_t *)body, len, err, true, false, 0};
    size_t i = skip_ws(s.p, 0, len);
    if (i >= len) return fail(&s, len, E_EOF);
    if (skip_value(&s, i, 0, &i)) return -1;
    i = skip_ws(s.p, i, len);
    if (i != len) return fail(&s, i, E_TRAIL);
    return 0;
}

/* ---- request walkers ------------------------------------------------- */

enum {
    K_NONE = 0,
    K_MODEL,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_MESSAGES,
    K_TOOLS,
    K_PREV_ID,
    K_INPUT,
    K_METADATA,
    K_PROMPT_CACHE_KEY,
    K_CONVERSATION,
    K_SYSTEM,
    K_INSTRUCTIONS,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_TOOL_CHOICE,
    K_REASONING,
    K_THINKING,
    K_STORE,
    K_USER,
    /* message members */
    K_ROLE,
    K_CONTENT,
    K_TOOL_CALLS,
    K_TOOL_CALL_ID,
    K_NAME,
    K_REASONING_DETAILS,
    K_REASONING_CONTENT,
    K_TYPE,
    /* tool call members */
    K_ID,
    K_FUNCTION,
};

/* The keys each walker reads, matched on the raw text of the key (between
 * its quotes, after unescaping when it has escapes) by length, then with a
 * word compare of that length (bytes_eq with a constant length: no call).
 * These switches are the lists of keys; tests/unit/json/test_scan_keys.c
 * checks every one, escaped and not, and near misses. */
typedef int (*key_match_fn)(const uint8_t *q, size_t len);
#define KEQ(q, lit) bytes_eq(q, (const uint8_t *)(lit), sizeof(lit) - 1)

static int top_key(const uint8_t *q, size_t len)
{
    switch (len) {
    case 4: return KEQ(q, "user") ? K_USER : K_NONE;
    case 5:
        return KEQ(q, "model")   ? K_MODEL
               : KEQ(q, "tools") ? K_TOOLS
               : KEQ(q, "input") ? K_INPUT
               : KEQ(q, "store") ? K_STORE
                                 : K_NONE;
    case 6: return KEQ(q, "stream") ? K_STREAM : KEQ(q, "system") ? K_SYSTEM : K_NONE;
    case 8:
        return KEQ(q, "messages")   ? K_MESSAGES
               : KEQ(q, "metadata") ? K_METADATA
               : KEQ(q, "thinking") ? K_THINKING
                                    : K_NONE;
    case 9: return KEQ(q, "reasoning") ? K_REASONING : K_NONE;
    case 10: return KEQ(q, "max_tokens") ? K_MAX_TOKENS : K_NONE;
    case 11: return KEQ(q, "tool_choice") ? K_TOOL_CHOICE : K_NONE;
    case 12:
        return KEQ(q, "instructions")   ? K_INSTRUCTIONS
               : KEQ(q, "conversation") ? K_CONVERSATION
                                        : K_NONE;
    case 14: return KEQ(q, "stream_options") ? K_STREAM_OPTIONS : K_NONE;
    case 16: return KEQ(q, "prompt_cache_key") ? K_PROMPT_CACHE_KEY : K_NONE;
    case 20: return KEQ(q, "previous_response_id") ? K_PREV_ID : K_NONE;
    case 21: return KEQ(q, "max_completion_tokens") ? K_MAX_COMPLETION_TOKENS : K_NONE;
    default: return K_NONE;
    }
}

static int msg_key(const uint8_t *q, size_t len)
{
    switch (len) {
    case 4:
        return KEQ(q, "role") ? K_ROLE : KEQ(q, "name") ? K_NAME : KEQ(q, "type") ? K_TYPE : K_NONE;
    case 7: return KEQ(q, "content") ? K_CONTENT : K_NONE;
    case 10: return KEQ(q, "tool_calls") ? K_TOOL_CALLS : K_NONE;
    case 12: return KEQ(q, "tool_call_id") ? K_TOOL_CALL_ID : K_NONE;
    case 17:
        return KEQ(q, "reasoning_details")   ? K_REASONING_DETAILS
               : KEQ(q, "reasoning_content") ? K_REASONING_CONTENT
                                             : K_NONE;
    default: return K_NONE;
    }
}

static int call_key(const uint8_t *q, size_t len)
{
    if (len == 2) return KEQ(q, "id") ? K_ID : K_NONE;
    if (len == 8) return KEQ(q, "function") ? K_FUNCTION : K_NONE;
    return K_NONE;
}

static int fn_key(const uint8_t *q, size_t len)
{
    return len == 4 && KEQ(q, "name") ? K_NAME : K_NONE;
}

/* The name of a top-level key (dup_key). */
static const char *const top_key_names[] = {
    [K_MODEL] = "model",
    [K_STREAM] = "stream",
    [K_STREAM_OPTIONS] = "stream_options",
    [K_MESSAGES] = "messages",
    [K_TOOLS] = "tools",
    [K_PREV_ID] = "previous_response_id",
    [K_INPUT] = "input",
    [K_METADATA] = "metadata",
    [K_PROMPT_CACHE_KEY] = "prompt_cache_key",
    [K_CONVERSATION] = "conversation",
    [K_SYSTEM] = "system",
    [K_INSTRUCTIONS] = "instructions",
    [K_MAX_TOKENS] = "max_tokens",
    [K_MAX_COMPLETION_TOKENS] = "max_completion_tokens",
    [K_TOOL_CHOICE] = "tool_choice",
    [K_REASONING] = "reasoning",
    [K_THINKING] = "thinking",
    [K_STORE] = "store",
    [K_USER] = "user",
};

static const char *key_name(int kid)
{
    return kid > K_NONE && kid <= K_USER && top_key_names[kid] ? top_key_names[kid] : "?";
}

/* A key with escapes: matched after unescaping (out of line: rare). */
static __attribute__((noinline)) int key_id_esc(const uint8_t *p, size_t ks, size_t ke,
                                                key_match_fn match)
{
    size_t i = ks + 1, end = ke - 1;
    uint8_t buf[32] = {0};
    size_t w = 0;
    while (i < end) {
        if (w + 4 > sizeof(buf)) return K_NONE; /* longer than any key we look for */
        if (p[i] != '\\') {
            buf[w++] = p[i++];
            continue;
        }
        int m = dec_escape(p, &i, end, buf + w);
        if (m < 0) return K_NONE;
        w += (size_t)m;
    }
    return match(buf, w);
}

/* Identify the key whose string (quotes included) is p[ks..ke). */
static inline __attribute__((always_inline)) int key_id(const uint8_t *p, size_t ks, size_t ke,
                                                        bool esc, key_match_fn match)
{
    return esc ? key_id_esc(p, ks, ke, match) : match(p + ks + 1, ke - ks - 2);
}

static jrole_t role_of(const uint8_t *p, size_t ks, size_t ke, bool esc)
{
    static const struct {
        const char *s;
        size_t len;
        jrole_t r;
    } roles[] = {{"system", 6, JROLE_SYSTEM}, {"developer", 9, JROLE_DEVELOPER},
                 {"user", 4, JROLE_USER},     {"assistant", 9, JROLE_ASSISTANT},
                 {"tool", 4, JROLE_TOOL},     {"function", 8, JROLE_FUNCTION}};
    if (!esc) { /* the common case, by length as the keys */
        const uint8_t *q = p + ks + 1;
        switch (ke - ks - 2) {
        case 4: return KEQ(q, "user") ? JROLE_USER : KEQ(q, "tool") ? JROLE_TOOL : JROLE_OTHER;
        case 6: return KEQ(q, "system") ? JROLE_SYSTEM : JROLE_OTHER;
        case 8: return KEQ(q, "function") ? JROLE_FUNCTION : JROLE_OTHER;
        case 9:
            return KEQ(q, "assistant")   ? JROLE_ASSISTANT
                   : KEQ(q, "developer") ? JROLE_DEVELOPER
                                         : JROLE_OTHER;
        default: return JROLE_OTHER;
        }
    }
    for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
        if (str_eq_raw(p, ks + 1, ke - 1, esc, roles[k].s, roles[k].len)) return roles[k].r;
    return JROLE_OTHER;
}

/* Parse "key": at p[i] (an opening quote is required). On success *i is at
 * the value's first byte and *kid identifies the key in tab. */
static inline __attribute__((always_inline)) int scan_member_key(scanner_t *s, size_t *i,
                                                                 key_match_fn match, int *kid)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    size_t ks = *i, ke;
    bool esc;
    if (ks >= n) return fail(s, n, E_EOF);
    if (p[ks] != '"') return fail(s, ks, p[ks] == '}' ? E_OCOMMA : E_KEY);
    if (scan_str(s, ks, &ke, &esc)) return -1;
    *kid = key_id(p, ks, ke, esc, match);
    if (n - ke > 1 && p[ke] == ':' && p[ke + 1] > ' ') { /* compact "key":value */
        *i = ke + 1;
        return 0;
    }
    size_t j = skip_ws(p, ke, n);
    if (j >= n) return fail(s, n, E_EOF);
    if (p[j] != ':') return fail(s, j, E_COLON);
    j = skip_ws(p, j + 1, n);
    if (j >= n) return fail(s, n, E_EOF);
    *i = j;
    return 0;
}

/* An array at p[i] whose enclosing depth is depth; counts its elements. */
static int scan_array_count(scanner_t *s, size_t i, int depth, size_t *end, uint32_t *count)
{
    uint32_t c = 0;
    i = skip_ws(s->p, i + 1, s->n);
    if (i < s->n && s->p[i] == ']') {
        *end = i + 1;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (skip_value(s, i, depth + 1, &i)) return -1;
        c++;
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    *count = c;
    return 0;
}

/* The "function" object of a tool call at p[i] (enclosed by depth
 * containers): *name is the value of its last "name" member. */
static int scan_call_fn(scanner_t *s, size_t i, int depth, jspan_t *name, size_t *end)
{
    const uint8_t *p = s->p;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == '}') {
        *end = i + 1;
        return 0;
    }
    for (;;) {
        int kid;
        if (scan_member_key(s, &i, fn_key, &kid)) return -1;
        size_t vs = i;
        bool esc;
        if (p[i] == '"') {
            if (scan_str(s, i, &i, &esc)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        if (kid == K_NAME) *name = span(vs, i);
        int r = scan_sep(s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    return 0;
}

/* One tool call object at p[i] (enclosed by depth containers): its last
 * "id" and the "name" of its last "function" (when that is an object). */
static int scan_call(scanner_t *s, size_t i, int depth, jcall_t *c, size_t *end)
{
    const uint8_t *p = s->p;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == '}') {
        *end = i + 1;
        return 0;
    }
    for (;;) {
        int kid;
        if (scan_member_key(s, &i, call_key, &kid)) return -1;
        size_t vs = i;
        bool esc;
        if (kid == K_FUNCTION) c->name = span(0, 0);
        if (kid == K_FUNCTION && p[i] == '{') {
            if (scan_call_fn(s, i, depth + 1, &c->name, &i)) return -1;
        } else if (p[i] == '"') {
            if (scan_str(s, i, &i, &esc)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        if (kid == K_ID) c->id = span(vs, i);
        int r = scan_sep(s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    return 0;
}

/* The tool calls of one messages array, in message order, while it is
 * scanned: on the stack first, so that nothing is taken from the arena
 * between two steps of the msgs array's growth (which then grows in place
 * at the top of its chunk), and from the arena past CALLS_STACK. Placed in
 * the arena in one block when the array is done (calls_place). */
#define CALLS_STACK 128
typedef struct callbuf {
    jcall_t *v;
    uint32_t n, cap;
    bool on_stack;
    arena_t *arena;
} callbuf_t;

static void calls_push(callbuf_t *cb, jcall_t c)
{
    if (cb->n == cb->cap) {
        uint32_t nc = cb->cap * 2;
        jcall_t *nv;
        if (cb->on_stack) {
            nv = arena_alloc(cb->arena, (size_t)nc * sizeof(*nv));
            memcpy(nv, cb->v, (size_t)cb->n * sizeof(*nv));
            cb->on_stack = false;
        } else
            nv = arena_grow(cb->arena, cb->v, (size_t)cb->cap * sizeof(*nv),
                            (size_t)nc * sizeof(*nv));
        cb->v = nv;
        cb->cap = nc;
    }
    cb->v[cb->n++] = c;
}

/* The "tool_calls" array at p[i] (enclosed by depth containers): counts its
 * elements as scan_array_count and appends each one's id and function name
 * to cb (m->calls is set by calls_place). */
static int scan_tool_calls(scanner_t *s, size_t i, int depth, callbuf_t *cb, jmsg_t *m, size_t *end)
{
    const uint8_t *p = s->p;
    uint32_t c = 0;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == ']') {
        i++;
        goto done;
    }
    for (;;) {
        jcall_t call = {{0, 0}, {0, 0}};
        if (i < s->n && p[i] == '{') {
            if (scan_call(s, i, depth + 1, &call, &i)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        calls_push(cb, call);
        c++;
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
done:
    m->n_tool_calls = c;
    m->calls_built = true;
    *end = i;
    return 0;
}

/* Point every message's calls at its run of cb, copied into the arena. */
static void calls_place(callbuf_t *cb, jmsg_t *msgs, uint32_t nm)
{
    jcall_t *v = cb->v;
    if (cb->on_stack && cb->n) {
        v = arena_alloc(cb->arena, (size_t)cb->n * sizeof(*v));
        memcpy(v, cb->v, (size_t)cb->n * sizeof(*v));
    }
    uint32_t at = 0;
    for (uint32_t k = 0; k < nm; k++) {
        if (!msgs[k].calls_built) continue;
        msgs[k].calls = msgs[k].n_tool_calls ? v + at : NULL;
        at += msgs[k].n_tool_calls;
    }
}

/* A message object at p[i], enclosed by depth containers. */
static int scan_message(scanner_t *s, size_t i, int depth, callbuf_t *cb, jmsg_t *m, size_t *end)
{
    const uint32_t mark = cb ? cb->n : 0; /* where this message's calls start in cb */
    const uint8_t *p = s->p;
    size_t start = i;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == '}') {
        i++;
        goto done;
    }
    for (;;) {
        int kid;
        if (scan_member_key(s, &i, msg_key, &kid)) return -1;
        size_t vs = i;
        bool esc = false;
        if (kid == K_TOOL_CALLS && p[i] == '[') {
            if (cb) {
                cb->n = mark; /* a later "tool_calls" replaces an earlier one */
                if (scan_tool_calls(s, i, depth + 1, cb, m, &i)) return -1;
            } else if (scan_array_count(s, i, depth + 1, &i, &m->n_tool_calls))
                return -1;
        } else if (p[i] == '"') {
            if (scan_str(s, i, &i, &esc)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        if (kid == K_TOOL_CALLS && p[vs] != '[') { /* replaces an earlier array */
            m->n_tool_calls = 0;
            m->calls_built = false;
            if (cb) cb->n = mark;
        }
        jspan_t v = span(vs, i);
        switch (kid) {
        case K_ROLE:
            m->role_span = v;
            m->role = p[vs] == '"' ? role_of(p, vs, i, esc) : JROLE_OTHER;
            break;
        case K_CONTENT: m->content = v; break;
        case K_TOOL_CALLS: m->tool_calls = v; break;
        case K_TOOL_CALL_ID: m->tool_call_id = v; break;
        case K_NAME: m->name = v; break;
        case K_REASONING_DETAILS: m->reasoning_details = v; break;
        case K_REASONING_CONTENT: m->reasoning_content = v; break;
        case K_TYPE: m->type = v; break;
        default: break;
        }
        int r = scan_sep(s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) break;
    }
done:
    m->value = span(start, i);
    *end = i;
    return 0;
}

/* The msgs array's first size: a power of two near one message per 192
 * bytes of what is left of the body (16 to 512). A long agent conversation
 * then takes its array in one block instead of being copied as it grows
 * (the tool calls taken from the arena past CALLS_STACK stop it growing in
 * place); a short body keeps the small first block. */
static uint32_t msgs_first_cap(size_t left)
{
    uint32_t c = 16;
    while (c < 512 && (size_t)c * 192 < left)
        c *= 2;
    return c;
}

/* The "messages" array at p[i] (inside the top-level object). */
static int scan_messages(scanner_t *s, size_t i, arena_t *arena, uint32_t max_items, jreq_t *out,
                         size_t *end)
{
    const uint8_t *p = s->p;
    uint32_t cap = 0, nm = 0;
    jmsg_t *msgs = NULL;
    jcall_t stack_calls[CALLS_STACK];
    callbuf_t calls = {stack_calls, 0, CALLS_STACK, true, arena};
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == ']') {
        i++;
        goto done;
    }
    for (;;) {
        jmsg_t local, *m = &local;
        if (i >= s->n) return fail(s, s->n, E_EOF);
        if (nm >= max_items) {
            fail(s, i, E_MANY);
            return JSCAN_ETOO_MANY;
        }
        if (arena) { /* scanned in place */
            if (nm == cap) {
                /* grown in place when the array has a chunk of its own, so
                 * a long list costs its final size, not the sum of copies */
                uint32_t nc = cap ? cap * 2 : msgs_first_cap(s->n - i);
                msgs = arena_grow(arena, msgs, (size_t)cap * sizeof(*msgs),
                                  (size_t)nc * sizeof(*msgs));
                cap = nc;
            }
            m = &msgs[nm];
        }
        memset(m, 0, sizeof(*m));
        const uint32_t hits = s->enc_hits;
        if (p[i] == '{') {
            if (scan_message(s, i, 2, arena ? &calls : NULL, m, &i)) return -1;
        } else {
            size_t vs = i;
            if (skip_value(s, i, 2, &i)) return -1;
            m->value = span(vs, i);
        }
        m->enc_marker = s->enc_hits != hits;
        nm++;
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
done:
    if (arena) calls_place(&calls, msgs, nm);
    out->msgs = msgs;
    out->n_msgs = nm;
    out->msgs_built = arena != NULL;
    *end = i;
    return 0;
}

int jscan_request(const char *body, size_t len, arena_t *arena, jreq_t *out, jscan_err_t *err)
{
    return jscan_request_max(body, len, arena, UINT32_MAX, out, err);
}

int jscan_request_max(const char *body, size_t len, arena_t *arena, uint32_t max_items, jreq_t *out,
                      jscan_err_t *err)
{
    scanner_t s = {(const uint8_t *)body, len, err, true, true, 0};
    const uint8_t *p = s.p;
    memset(out, 0, sizeof(*out));
    out->stream = -1;
    if (len >= UINT32_MAX) return fail(&s, 0, E_BIG);
    size_t i = skip_ws(p, 0, len);
    if (i >= len) return fail(&s, len, E_EOF);
    if (p[i] != '{') return jscan_validate(body, len, err) ? -1 : -2;
    out->obj_open = (uint32_t)i;
    uint32_t seen = 0; /* top_keys ids met so far (duplicates) */
    i = skip_ws(p, i + 1, len);
    if (i < len && p[i] == '}') {
        out->obj_close = (uint32_t)i;
        i++;
        goto tail;
    }
    for (;;) {
        int kid;
        if (scan_member_key(&s, &i, top_key, &kid)) return -1;
        size_t vs = i;
        if (kid != K_NONE && (seen & (1u << kid)) && !out->dup_key) {
            out->dup_key = key_name(kid);
            out->dup_off = (uint32_t)vs;
        }
        seen |= 1u << kid;
        if (kid == K_MESSAGES && p[i] == '[') {
            int rc = scan_messages(&s, i, arena, max_items, out, &i);
            if (rc) return rc;
        } else if (kid == K_TOOLS && p[i] == '[') {
            /* counted here so that the request view does not walk them again */
            if (scan_array_count(&s, i, 1, &i, &out->n_tools)) return -1;
        } else if (kid == K_INPUT && p[i] == '[') {
            uint32_t cnt;
            if (scan_array_count(&s, i, 1, &i, &cnt)) return -1;
            if (cnt > max_items) {
                fail(&s, vs, E_MANY);
                return JSCAN_ETOO_MANY;
            }
            out->n_input = cnt;
        } else if (skip_value(&s, i, 1, &i))
            return -1;
        jspan_t v = span(vs, i);
        out->n_top_keys++;
        switch (kid) {
        case K_MODEL:
            if (out->n_model >= JREQ_MAX_MODEL_KEYS) return fail(&s, vs, E_MODELS);
            out->model_all[out->n_model++] = v;
            out->model = v;
            out->model_is_string = p[vs] == '"';
            break;
        case K_STREAM:
            out->stream_value = v;
            out->stream = p[vs] == 't' ? 1 : p[vs] == 'f' ? 0 : -1;
            break;
        case K_STREAM_OPTIONS: out->stream_options = v; break;
        case K_MESSAGES:
            out->messages = v;
            out->has_messages = p[vs] == '[';
            if (!out->has_messages) {
                out->msgs = NULL;
                out->n_msgs = 0;
                out->msgs_built = false;
            }
            break;
        case K_TOOLS:
            out->tools = v;
            if (p[vs] != '[') out->n_tools = 0;
            break;
        case K_PREV_ID: out->previous_response_id = v; break;
        case K_INPUT:
            out->input = v;
            if (p[vs] != '[') out->n_input = 0;
            break;
        case K_METADATA: out->metadata = v; break;
        case K_PROMPT_CACHE_KEY: out->prompt_cache_key = v; break;
        case K_SYSTEM: out->system = v; break;
        case K_INSTRUCTIONS: out->instructions = v; break;
        case K_MAX_TOKENS: out->max_tokens = v; break;
        case K_MAX_COMPLETION_TOKENS: out->max_completion_tokens = v; break;
        case K_TOOL_CHOICE: out->tool_choice = v; break;
        case K_REASONING: out->reasoning = v; break;
        case K_THINKING: out->thinking = v; break;
        case K_STORE: out->store = v; break;
        case K_USER: out->user = v; break;
        case K_CONVERSATION: out->conversation = v; break;
        default: break;
        }
        int r = scan_sep(&s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) {
            out->obj_close = (uint32_t)(i - 1);
            break;
        }
    }
tail:
    i = skip_ws(p, i, len);
    if (i != len) return fail(&s, i, E_TRAIL);
    return 0;
}
