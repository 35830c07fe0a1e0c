/* request.c - build the request facts from the scanner's spans: roles,
 * tool calls and results, images, provider-bound state, identity fields,
 * the active-tool-loop fact and the query window. One walk over the message
 * spans; texts are unescaped only when asked for. */
#include "request/request.h"
#include <string.h>

const char *rq_binding_name(unsigned bit)
{
    switch (bit) {
    case RQ_BIND_PREVIOUS_RESPONSE_ID: return "previous_response_id";
    case RQ_BIND_ENCRYPTED_REASONING: return "encrypted_reasoning";
    case RQ_BIND_SIGNED_THINKING: return "signed_thinking";
    case RQ_BIND_THOUGHT_SIGNATURE: return "thought_signature";
    case RQ_BIND_TOOL_CALL_ID_FORMAT: return "tool_call_id_format";
    case RQ_BIND_SERVER_TOOL_STATE: return "server_tool_state";
    }
    return "unknown";
}

static bool span_has(const char *body, jspan_t s, const char *needle)
{
    return s.len && jscan_contains(body + s.off, s.len, needle, strlen(needle));
}

static const char *str_or_null(arena_t *a, const char *body, jspan_t s)
{
    if (!s.len || jscan_type(body, s) != '"') return NULL;
    return jscan_unescape(a, body, s, NULL);
}

/* Content parts: count images, detect signed thinking / server tools. */
static void scan_parts(rq_msg_t *m, const char *body, jspan_t content)
{
    uint32_t cur = 0;
    jspan_t part;
    while (jscan_arr_next(body, content, &cur, &part)) {
        jspan_t t;
        if (jscan_type(body, part) != '{' || !jscan_obj_get(body, part, "type", &t)) continue;
        if (jscan_str_eq(body, t, "image_url") || jscan_str_eq(body, t, "input_image") ||
            jscan_str_eq(body, t, "image")) {
            m->n_images++;
        } else if (jscan_str_eq(body, t, "thinking")) {
            jspan_t sig;
            if (jscan_obj_get(body, part, "signature", &sig) && jscan_type(body, sig) == '"' &&
                sig.len > 2)
                m->bindings |= RQ_BIND_SIGNED_THINKING;
        } else if (jscan_str_eq(body, t, "redacted_thinking")) {
            m->bindings |= RQ_BIND_SIGNED_THINKING;
        } else if (jscan_str_eq(body, t, "server_tool_use") ||
                   jscan_str_eq(body, t, "web_search_tool_result") ||
                   jscan_str_eq(body, t, "code_execution_tool_result") ||
                   jscan_str_eq(body, t, "container_upload")) {
            m->bindings |= RQ_BIND_SERVER_TOOL_STATE;
        }
    }
}

/* The calls of one assistant message as the scanner recorded them while
 * it counted them (scan.h jcall_t): no second walk of the calls. */
static void calls_from_scan(rq_t *r, rq_msg_t *m, const jmsg_t *jm, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        rq_tool_call_t *tc = &m->calls[m->n_calls++];
        const char *id = str_or_null(r->arena, r->body, jm->calls[c].id);
        const char *name = str_or_null(r->arena, r->body, jm->calls[c].name);
        tc->id = id ? id : "";
        tc->name = name ? name : "";
    }
}

/* The same from the spans (a jreq_t scanned without the records). */
static void calls_from_walk(rq_t *r, rq_msg_t *m, const jmsg_t *jm, size_t n)
{
    const char *body = r->body;
    static const char *const keys[] = {"id", "function"};
    uint32_t cur = 0;
    jspan_t call;
    while (jscan_arr_next(body, jm->tool_calls, &cur, &call) && m->n_calls < n) {
        rq_tool_call_t *tc = &m->calls[m->n_calls++];
        jspan_t v, kv[2]; /* one walk of the call for both */
        jscan_obj_pick(body, call, keys, 2, kv);
        tc->id = kv[0].len ? str_or_null(r->arena, body, kv[0]) : NULL;
        tc->name = NULL;
        if (kv[1].len && jscan_obj_get(body, kv[1], "name", &v))
            tc->name = str_or_null(r->arena, body, v);
        if (!tc->id) tc->id = "";
        if (!tc->name) tc->name = "";
    }
}

static void scan_tool_calls(rq_t *r, rq_msg_t *m, const jmsg_t *jm)
{
    const char *body = r->body;
    if (!jm->tool_calls.len || jscan_type(body, jm->tool_calls) != '[') return;
    size_t n = jm->n_tool_calls; /* counted by the scanner: no second walk of the calls */
    if (!n) return;
    if (jm->calls_built) { /* all n filled */
        m->calls = arena_alloc(r->arena, n * sizeof *m->calls);
        calls_from_scan(r, m, jm, n);
    } else {
        m->calls = arena_calloc(r->arena, n * sizeof *m->calls);
        calls_from_walk(r, m, jm, n);
    }
    /* one probe for both spellings first (tool calls are a small part of a
     * long agent body: no pass over the whole message list for them) */
    if (span_has(body, jm->tool_calls, "hought") &&
        (span_has(body, jm->tool_calls, "thought_signature") ||
         span_has(body, jm->tool_calls, "thoughtSignature")))
        m->bindings |= RQ_BIND_THOUGHT_SIGNATURE;
}

const char *rq_header(const rq_t *r, const char *lname, size_t *len)
{
    size_t n = strlen(lname);
    for (size_t i = 0; i < r->n_headers; i++)
        if (r->headers[i].name_len == n && memcmp(r->headers[i].name, lname, n) == 0) {
            if (len) *len = r->headers[i].value_len;
            return r->headers[i].value;
        }
    return NULL;
}

rq_t *rq_from_chat(arena_t *a, const char *body, size_t len, const jreq_t *jr,
                   const rq_header_t *headers, size_t n_headers)
{
    if (!jr->has_messages || (jr->n_msgs && !jr->msgs_built)) return NULL; /* needs an arena scan */
    rq_t *r = arena_calloc(a, sizeof *r);
    r->proto = RQ_PROTO_CHAT;
    r->arena = a;
    r->body = body;
    r->body_len = len;
    r->jr = jr;
    r->headers = headers;
    r->n_headers = n_headers;
    r->stream = jr->stream == 1;
    r->model = jr->model_is_string ? jscan_unescape(a, body, jr->model, NULL) : NULL;
    r->max_tokens = -1;
    int64_t mt;
    if ((jr->max_completion_tokens.len && jscan_int(body, jr->max_completion_tokens, &mt)) ||
        (jr->max_tokens.len && jscan_int(body, jr->max_tokens, &mt)))
        r->max_tokens = mt;
    r->tools = jr->tools;
    r->n_tools = jr->n_tools; /* counted by the scanner: no second walk */

    r->n_msgs = jr->n_msgs;
    /* every field of each message is set below: no clearing of the array
     * first (a long agent body has hundreds) */
    r->msgs =
        r->n_msgs ? arena_alloc(a, r->n_msgs * sizeof *r->msgs) : arena_calloc(a, sizeof *r->msgs);
    r->query_msg = -1;
    r->last_user_msg = -1;
    for (size_t i = 0; i < r->n_msgs; i++) {
        const jmsg_t *jm = &jr->msgs[i];
        rq_msg_t *m = &r->msgs[i];
        jrole_t role = jm->role == JROLE_DEVELOPER ? JROLE_SYSTEM : jm->role;
        *m = (rq_msg_t){
            .role = role == JROLE_FUNCTION ? JROLE_TOOL : role,
            .content = jm->content,
            .value = jm->value,
            .text_bytes = jm->content.len,
            .tool_call_id = "",
        };
        char ct = jscan_type(body, jm->content);
        if (ct == '[') scan_parts(m, body, jm->content);
        if (m->role == JROLE_ASSISTANT) scan_tool_calls(r, m, jm);
        if (m->role == JROLE_TOOL && jm->tool_call_id.len) {
            const char *id = str_or_null(a, body, jm->tool_call_id);
            m->tool_call_id = id ? id : "";
        }
        if (jm->reasoning_details.len && (span_has(body, jm->reasoning_details, "encrypted") ||
                                          span_has(body, jm->reasoning_details, "\"signature\"")))
            m->bindings |= RQ_BIND_ENCRYPTED_REASONING;
        /* the scan noted the raw "encrypted_content" (quotes included) in
         * the strings it ended: no search of the message list */
        if (jm->enc_marker) m->bindings |= RQ_BIND_ENCRYPTED_REASONING;
        switch (m->role) {
        case JROLE_USER:
            r->n_user++;
            r->last_user_msg = (int)i;
            break;
        case JROLE_ASSISTANT: r->n_assistant++; break;
        case JROLE_TOOL: r->n_tool_results++; break;
        case JROLE_SYSTEM: r->n_system++; break;
        default: break;
        }
        r->n_tool_calls += m->n_calls;
        r->n_images += m->n_images;
        r->bindings |= m->bindings;
    }

    /* tool loop (§9.3): an unanswered call, trailing results, or a user
     * message directly after results */
    size_t n = r->n_msgs;
    r->ends_with_tool_results = n > 0 && r->msgs[n - 1].role == JROLE_TOOL;
    bool active = r->ends_with_tool_results;
    if (!active && r->last_user_msg > 0 && (size_t)r->last_user_msg == n - 1 &&
        r->msgs[r->last_user_msg - 1].role == JROLE_TOOL)
        active = true;
    for (size_t i = 0; !active && i < n; i++) {
        const rq_msg_t *m = &r->msgs[i];
        for (size_t c = 0; !active && c < m->n_calls; c++) {
            const char *id = m->calls[c].id;
            bool answered = false;
            for (size_t j = i + 1; j < n && !answered; j++)
                if (r->msgs[j].role == JROLE_TOOL &&
                    (!*id || strcmp(r->msgs[j].tool_call_id, id) == 0))
                    answered = true;
            if (!answered) active = true;
        }
    }
    r->active_tool_loop = active;

    /* identity fields and provider state in the body */
    r->previous_response_id = str_or_null(a, body, jr->previous_response_id);
    if (r->previous_response_id && *r->previous_response_id)
        r->bindings |= RQ_BIND_PREVIOUS_RESPONSE_ID;
    r->prompt_cache_key = str_or_null(a, body, jr->prompt_cache_key);
    if (jr->metadata.len && jscan_type(body, jr->metadata) == '{') {
        jspan_t v;
        if (jscan_obj_get(body, jr->metadata, "session_id", &v))
            r->metadata_session_id = str_or_null(a, body, v);
        if (jscan_obj_get(body, jr->metadata, "user_id", &v))
            r->metadata_user_id = str_or_null(a, body, v);
    }
    jspan_t conv = jr->conversation;
    if (conv.len) {
        jspan_t id;
        if (jscan_type(body, conv) == '"')
            r->conversation = str_or_null(a, body, conv);
        else if (jscan_type(body, conv) == '{' && jscan_obj_get(body, conv, "id", &id))
            r->conversation = str_or_null(a, body, id);
    }

    /* the query: the latest user message with text */
    for (int i = r->last_user_msg; i >= 0; i--) {
        if (r->msgs[i].role != JROLE_USER) continue;
        size_t tl = 0;
        rq_msg_text(r, (size_t)i, &tl);
        if (tl) {
            r->query_msg = i;
            break;
        }
    }
    return r;
}

/* Contents shorter than this are decoded each time (a compare would cost
 * about as much). */
#define RQ_MEMO_MIN 64

const char *rq_msg_text(rq_t *r, size_t i, size_t *len)
{
    rq_msg_t *m = &r->msgs[i];
    if (m->text) {
        if (len) *len = m->text_len;
        return m->text;
    }
    const char *body = r->body;
    /* the same raw content as a message decoded before: the same text */
    uint32_t rl = m->content.len, *memo = NULL;
    if (rl >= RQ_MEMO_MIN) {
        memo = &r->text_memo[(rl * 2654435761u) >> 27];
        const rq_msg_t *o = *memo ? &r->msgs[*memo - 1] : NULL;
        if (o && o->text && o->content.len == rl &&
            memcmp(body + o->content.off, body + m->content.off, rl) == 0) {
            m->text = o->text;
            m->text_len = o->text_len;
            if (len) *len = m->text_len;
            return m->text;
        }
        *memo = (uint32_t)i + 1;
    }
    char t = jscan_type(body, m->content);
    if (t == '"') {
        size_t n = 0;
        char *s = jscan_unescape(r->arena, body, m->content, &n);
        m->text = s ? s : "";
        m->text_len = s ? n : 0;
    } else if (t == '[') {
        /* join the text parts with '\n' */
        size_t total = 0, parts = 0;
        uint32_t cur = 0;
        jspan_t part, v;
        while (jscan_arr_next(body, m->content, &cur, &part))
            if (jscan_type(body, part) == '{' && jscan_obj_get(body, part, "text", &v) &&
                jscan_type(body, v) == '"') {
                total += v.len + 1;
                parts++;
            } else if (jscan_type(body, part) == '"') {
                total += part.len + 1;
                parts++;
            }
        char *out = arena_alloc(r->arena, total + 1);
        size_t o = 0;
        cur = 0;
        while (jscan_arr_next(body, m->content, &cur, &part)) {
            jspan_t s = {0, 0};
            if (jscan_type(body, part) == '{' && jscan_obj_get(body, part, "text", &v) &&
                jscan_type(body, v) == '"')
                s = v;
            else if (jscan_type(body, part) == '"')
                s = part;
            if (!s.len) continue;
            size_t n = 0;
            char *u = jscan_unescape(r->arena, body, s, &n);
            if (!u) continue;
            if (o) out[o++] = '\n';
            memcpy(out + o, u, n);
            o += n;
        }
        out[o] = 0;
        m->text = out;
        m->text_len = o;
    } else {
        m->text = "";
        m->text_len = 0;
    }
    if (len) *len = m->text_len;
    return m->text;
}

const char *rq_query(rq_t *r, size_t *len)
{
    if (r->query_msg < 0) {
        if (len) *len = 0;
        return "";
    }
    return rq_msg_text(r, (size_t)r->query_msg, len);
}
