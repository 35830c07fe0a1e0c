/* handoff_rewrite.c - the forced handoff's request conversion (SPEC §9.7):
 * splice edits over a chat-completions body that remove state only the
 * unavailable model could read (previous_response_id, encrypted reasoning,
 * signed thinking, thought signatures), rewrite tool-call ids to a portable
 * format and turn a pending tool loop into plain history. Rules and the
 * proxy's call are documented in handoff_rewrite.h. */
#include "session/handoff_rewrite.h"
#include "core/hash.h"
#include "json/splice_del.h"
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64

typedef enum { OBJ_GENERIC = 0, OBJ_TOOL_CALL, OBJ_PART } obj_kind_t;

typedef struct hctx {
    rq_t *rq;
    const char *body;
    arena_t *a;
    jsplice_t *ed;
    unsigned want; /* 1u << sess_conversion_t requested */
    unsigned done; /* ... that changed bytes */
    sess_handoff_result_t *res;
} hctx_t;

static bool want(const hctx_t *h, sess_conversion_t c)
{
    return h->want & (1u << c);
}
static void did(hctx_t *h, sess_conversion_t c)
{
    h->done |= 1u << c;
}

static bool key_is(const hctx_t *h, jspan_t k, const char *lit)
{
    return jscan_str_eq(h->body, k, lit);
}

static bool is_sig_key(const hctx_t *h, jspan_t k)
{
    return key_is(h, k, "thought_signature") || key_is(h, k, "thoughtSignature");
}

static bool str_is(const hctx_t *h, jspan_t v, const char *lit)
{
    return jscan_type(h->body, v) == '"' && jscan_str_eq(h->body, v, lit);
}

static bool str_contains(const hctx_t *h, jspan_t v, const char *needle)
{
    if (jscan_type(h->body, v) != '"') return false;
    const char *s = jscan_unescape(h->a, h->body, v, NULL);
    return s && strstr(s, needle);
}

/* member `key` of obj as a string type check */
static bool type_is(const hctx_t *h, jspan_t obj, const char *lit)
{
    jspan_t t;
    return jscan_type(h->body, obj) == '{' && jscan_obj_get(h->body, obj, "type", &t) &&
           str_is(h, t, lit);
}

static void replace(hctx_t *h, jspan_t span, const char *txt, size_t n)
{
    char *copy = arena_strndup(h->a, txt, n);
    jsplice_add(h->ed, span.off, span.len, copy, (uint32_t)n);
}

static void delete_marked(hctx_t *h, jspan_t c, const bool *del, size_t n)
{
    int k = jsplice_delete_entries(h->ed, h->body, c, del, n);
    if (k > 0) h->res->entries_dropped += (size_t)k;
}

static void warn(hctx_t *h, const char *fmt, const char *arg)
{
    if (h->res->n_warnings < SESS_HANDOFF_MAX_WARNINGS)
        h->res->warnings[h->res->n_warnings++] = arena_sprintf(h->a, fmt, arg);
}

/* ---- tool-call ids ------------------------------------------------------- */

static bool id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

const char *sess_handoff_tool_id(arena_t *a, const char *id)
{
    if (!id) return "";
    bool ok = true;
    for (const unsigned char *p = (const unsigned char *)id; *p && ok; p++)
        ok = id_char_ok(*p);
    if (ok) return id;
    /* the Anthropic translator's mapping (src/api/translate_req.c), so an id
     * maps the same whichever path rewrites it */
    char hex[17];
    size_t n = strlen(id);
    hash_hex16(hash_xxh64(id, n, 0), hex);
    if (n > 245) n = 245;
    char *out = arena_alloc(a, n + 10);
    for (size_t i = 0; i < n; i++)
        out[i] = id_char_ok((unsigned char)id[i]) ? id[i] : '_';
    snprintf(out + n, 10, "_%.8s", hex);
    return out;
}

static void rewrite_id_value(hctx_t *h, jspan_t v)
{
    if (jscan_type(h->body, v) != '"') return;
    const char *id = jscan_unescape(h->a, h->body, v, NULL);
    if (!id) return;
    const char *nid = sess_handoff_tool_id(h->a, id);
    if (nid == id) return;
    buf_t b = BUF_INIT;
    buf_json_str(&b, nid, strlen(nid));
    replace(h, v, b.data, b.len);
    buf_free(&b);
    h->res->ids_rewritten++;
    did(h, SESS_CONV_REWRITE_TOOL_CALL_IDS);
}

/* ---- generic walk: signatures, encrypted_content, ids --------------------- */

static void walk_obj(hctx_t *h, jspan_t obj, obj_kind_t kind, int depth);

static void walk_value(hctx_t *h, jspan_t v, int depth)
{
    char t = jscan_type(h->body, v);
    if (depth > MAX_DEPTH) return;
    if (t == '{') {
        walk_obj(h, v, OBJ_GENERIC, depth);
    } else if (t == '[') {
        uint32_t cur = 0;
        jspan_t e;
        while (jscan_arr_next(h->body, v, &cur, &e))
            walk_value(h, e, depth + 1);
    }
}

static void walk_obj(hctx_t *h, jspan_t obj, obj_kind_t kind, int depth)
{
    if (depth > MAX_DEPTH) return;
    size_t n = jsplice_count_entries(h->body, obj);
    if (!n) return;
    bool tool_use = kind == OBJ_PART && type_is(h, obj, "tool_use");
    bool tool_result = kind == OBJ_PART && type_is(h, obj, "tool_result");
    bool *del = arena_calloc(h->a, n);
    bool any = false;
    uint32_t cur = 0;
    jspan_t k, v;
    for (size_t i = 0; i < n && jscan_obj_next(h->body, obj, &cur, &k, &v); i++) {
        if (want(h, SESS_CONV_DROP_THOUGHT_SIGNATURES) && is_sig_key(h, k)) {
            del[i] = any = true;
            did(h, SESS_CONV_DROP_THOUGHT_SIGNATURES);
        } else if (want(h, SESS_CONV_DROP_ENCRYPTED_REASONING) &&
                   key_is(h, k, "encrypted_content")) {
            del[i] = any = true;
            did(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
        } else if (want(h, SESS_CONV_REWRITE_TOOL_CALL_IDS) &&
                   (((kind == OBJ_TOOL_CALL || tool_use) && key_is(h, k, "id")) ||
                    (tool_result && key_is(h, k, "tool_use_id")))) {
            rewrite_id_value(h, v);
        } else {
            walk_value(h, v, depth + 1);
        }
    }
    if (any) delete_marked(h, obj, del, n);
}

/* ---- reasoning_details and content arrays ---------------------------------- */

/* With summaries kept: drop the encrypted entries and the signatures of the
 * others. Returns RD_DROP_ALL when every entry goes (the caller drops the
 * member; nothing was added then), RD_CHANGED, or RD_SAME. */
enum { RD_SAME = 0, RD_CHANGED, RD_DROP_ALL };
static int filter_reasoning_details(hctx_t *h, jspan_t arr)
{
    size_t n = jsplice_count_entries(h->body, arr);
    if (!n || jscan_type(h->body, arr) != '[') return RD_SAME;
    bool *del = arena_calloc(h->a, n);
    size_t ndel = 0;
    uint32_t cur = 0;
    jspan_t e, t;
    for (size_t i = 0; i < n && jscan_arr_next(h->body, arr, &cur, &e); i++)
        if (jscan_type(h->body, e) == '{' && jscan_obj_get(h->body, e, "type", &t) &&
            str_contains(h, t, "encrypted"))
            del[i] = true, ndel++;
    if (ndel == n) return RD_DROP_ALL;
    bool changed = ndel > 0;
    cur = 0;
    for (size_t i = 0; i < n && jscan_arr_next(h->body, arr, &cur, &e); i++) {
        if (del[i] || jscan_type(h->body, e) != '{') continue;
        size_t m = jsplice_count_entries(h->body, e);
        bool *mdel = arena_calloc(h->a, m ? m : 1);
        bool any = false;
        uint32_t c2 = 0;
        jspan_t k, v;
        for (size_t j = 0; j < m && jscan_obj_next(h->body, e, &c2, &k, &v); j++) {
            if (key_is(h, k, "signature") || key_is(h, k, "encrypted_content") || is_sig_key(h, k))
                mdel[j] = any = true;
            else
                walk_value(h, v, 2);
        }
        if (any) delete_marked(h, e, mdel, m);
        changed |= any;
    }
    if (ndel) delete_marked(h, arr, del, n);
    return changed ? RD_CHANGED : RD_SAME;
}

enum { PART_WALK = 0, PART_DEL, PART_TEXT };

/* Content parts: thinking -> text (summaries kept) or removed,
 * redacted_thinking removed, the rest walked. An array left empty becomes "". */
static void filter_content(hctx_t *h, jspan_t arr)
{
    size_t n = jsplice_count_entries(h->body, arr);
    if (!n) return;
    bool keep = want(h, SESS_CONV_KEEP_REASONING_SUMMARIES);
    unsigned char *cls = arena_calloc(h->a, n);
    bool *del = arena_calloc(h->a, n);
    size_t ndel = 0;
    uint32_t cur = 0;
    jspan_t p, th;
    for (size_t i = 0; i < n && jscan_arr_next(h->body, arr, &cur, &p); i++) {
        if (!want(h, SESS_CONV_DROP_SIGNED_THINKING)) break;
        if (type_is(h, p, "thinking")) {
            cls[i] =
                keep && jscan_obj_get(h->body, p, "thinking", &th) && jscan_type(h->body, th) == '"'
                    ? PART_TEXT
                    : PART_DEL;
        } else if (type_is(h, p, "redacted_thinking")) {
            cls[i] = PART_DEL;
        }
        if (cls[i] == PART_DEL) del[i] = true, ndel++;
        if (cls[i] != PART_WALK) did(h, SESS_CONV_DROP_SIGNED_THINKING);
    }
    if (ndel == n) {
        replace(h, arr, "\"\"", 2);
        h->res->entries_dropped += n;
        return;
    }
    cur = 0;
    for (size_t i = 0; i < n && jscan_arr_next(h->body, arr, &cur, &p); i++) {
        if (cls[i] == PART_TEXT) {
            jscan_obj_get(h->body, p, "thinking", &th);
            buf_t b = BUF_INIT;
            buf_puts(&b, "{\"type\":\"text\",\"text\":");
            buf_append(&b, h->body + th.off, th.len);
            buf_putc(&b, '}');
            replace(h, p, b.data, b.len);
            buf_free(&b);
        } else if (cls[i] == PART_WALK) {
            if (jscan_type(h->body, p) == '{')
                walk_obj(h, p, OBJ_PART, 2);
            else
                walk_value(h, p, 2);
        }
    }
    if (ndel) delete_marked(h, arr, del, n);
}

/* ---- the pending tool loop as text ----------------------------------------- */

static const char *str_val(hctx_t *h, jspan_t obj, const char *key)
{
    jspan_t v;
    if (jscan_type(h->body, obj) != '{' || !jscan_obj_get(h->body, obj, key, &v)) return NULL;
    if (jscan_type(h->body, v) != '"') return NULL;
    return jscan_unescape(h->a, h->body, v, NULL);
}

static const char *shown_id(hctx_t *h, const char *id)
{
    if (!id) return "";
    return want(h, SESS_CONV_REWRITE_TOOL_CALL_IDS) ? sess_handoff_tool_id(h->a, id) : id;
}

/* the function name of the call that `id` answers, searched before message mi */
static const char *call_name(const hctx_t *h, size_t mi, const char *id)
{
    for (size_t i = mi; id && *id && i-- > 0;)
        for (size_t c = 0; c < h->rq->msgs[i].n_calls; c++)
            if (!strcmp(h->rq->msgs[i].calls[c].id, id)) return h->rq->msgs[i].calls[c].name;
    return NULL;
}

static void flatten(hctx_t *h, size_t mi)
{
    const jmsg_t *jm = &h->rq->jr->msgs[mi];
    rq_msg_t *m = &h->rq->msgs[mi];
    size_t tl = 0;
    const char *txt = rq_msg_text(h->rq, mi, &tl);
    buf_t t = BUF_INIT, o = BUF_INIT;
    if (m->role == JROLE_ASSISTANT) {
        buf_append(&t, txt, tl);
        uint32_t cur = 0;
        jspan_t call, fn, args;
        while (jscan_arr_next(h->body, jm->tool_calls, &cur, &call)) {
            const char *name = NULL, *a = NULL;
            if (jscan_type(h->body, call) == '{' && jscan_obj_get(h->body, call, "function", &fn)) {
                name = str_val(h, fn, "name");
                if (jscan_type(h->body, fn) == '{' &&
                    jscan_obj_get(h->body, fn, "arguments", &args))
                    a = jscan_type(h->body, args) == '"'
                            ? jscan_unescape(h->a, h->body, args, NULL)
                            : arena_strndup(h->a, h->body + args.off, args.len);
            }
            if (t.len) buf_putc(&t, '\n');
            buf_printf(&t, "[tool call %s id=%s] %s", name ? name : "",
                       shown_id(h, str_val(h, call, "id")), a ? a : "");
        }
        buf_puts(&o, "{\"role\":\"assistant\",\"content\":");
        buf_json_str(&o, t.data ? t.data : "", t.len);
        jspan_t rc;
        bool drop_text = (want(h, SESS_CONV_DROP_ENCRYPTED_REASONING) ||
                          want(h, SESS_CONV_DROP_SIGNED_THINKING)) &&
                         !want(h, SESS_CONV_KEEP_REASONING_SUMMARIES);
        if (!drop_text && jscan_obj_get(h->body, jm->value, "reasoning_content", &rc) &&
            jscan_type(h->body, rc) == '"') {
            buf_puts(&o, ",\"reasoning_content\":");
            buf_append(&o, h->body + rc.off, rc.len);
        }
        buf_putc(&o, '}');
    } else {
        const char *id = m->tool_call_id;
        const char *name = call_name(h, mi, id);
        if (!name) name = str_val(h, jm->value, "name");
        if (!name && id && *id) warn(h, "tool result id=%s has no matching call", id);
        buf_printf(&t, "[tool result id=%s", shown_id(h, id));
        if (name && *name) buf_printf(&t, " (%s)", name);
        buf_puts(&t, "] ");
        buf_append(&t, txt, tl);
        buf_puts(&o, "{\"role\":\"user\",\"content\":");
        buf_json_str(&o, t.data, t.len);
        buf_putc(&o, '}');
    }
    replace(h, jm->value, o.data, o.len);
    buf_free(&t);
    buf_free(&o);
    h->res->messages_flattened++;
    did(h, SESS_CONV_TOOL_LOOP_AS_HISTORY);
    /* the state the message carried went with its old shape */
    if ((m->bindings & RQ_BIND_ENCRYPTED_REASONING) && want(h, SESS_CONV_DROP_ENCRYPTED_REASONING))
        did(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
    if ((m->bindings & RQ_BIND_SIGNED_THINKING) && want(h, SESS_CONV_DROP_SIGNED_THINKING))
        did(h, SESS_CONV_DROP_SIGNED_THINKING);
    if ((m->bindings & RQ_BIND_THOUGHT_SIGNATURE) && want(h, SESS_CONV_DROP_THOUGHT_SIGNATURES))
        did(h, SESS_CONV_DROP_THOUGHT_SIGNATURES);
}

/* ---- one message ------------------------------------------------------------ */

static void walk_message(hctx_t *h, size_t mi)
{
    const jmsg_t *jm = &h->rq->jr->msgs[mi];
    jspan_t obj = jm->value;
    size_t n = jsplice_count_entries(h->body, obj);
    if (!n || jscan_type(h->body, obj) != '{') return;
    bool keep = want(h, SESS_CONV_KEEP_REASONING_SUMMARIES);
    bool enc = want(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
    bool drop_text = (enc || want(h, SESS_CONV_DROP_SIGNED_THINKING)) && !keep;
    bool *del = arena_calloc(h->a, n);
    bool any = false;
    uint32_t cur = 0;
    jspan_t k, v;
    for (size_t i = 0; i < n && jscan_obj_next(h->body, obj, &cur, &k, &v); i++) {
        if (key_is(h, k, "reasoning_details") && enc) {
            int r = keep ? filter_reasoning_details(h, v) : RD_DROP_ALL;
            if (r == RD_DROP_ALL) del[i] = any = true;
            if (r != RD_SAME) did(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
        } else if (drop_text && (key_is(h, k, "reasoning_content") ||
                                 (key_is(h, k, "reasoning") && jscan_type(h->body, v) == '"'))) {
            del[i] = any = true;
            did(h, enc ? SESS_CONV_DROP_ENCRYPTED_REASONING : SESS_CONV_DROP_SIGNED_THINKING);
        } else if (want(h, SESS_CONV_DROP_THOUGHT_SIGNATURES) && is_sig_key(h, k)) {
            del[i] = any = true;
            did(h, SESS_CONV_DROP_THOUGHT_SIGNATURES);
        } else if (enc && key_is(h, k, "encrypted_content")) {
            del[i] = any = true;
            did(h, SESS_CONV_DROP_ENCRYPTED_REASONING);
        } else if (key_is(h, k, "tool_call_id") && h->rq->msgs[mi].role == JROLE_TOOL) {
            if (want(h, SESS_CONV_REWRITE_TOOL_CALL_IDS)) rewrite_id_value(h, v);
        } else if (key_is(h, k, "tool_calls") && jscan_type(h->body, v) == '[') {
            uint32_t c2 = 0;
            jspan_t call;
            while (jscan_arr_next(h->body, v, &c2, &call))
                if (jscan_type(h->body, call) == '{') walk_obj(h, call, OBJ_TOOL_CALL, 1);
        } else if (key_is(h, k, "content") && jscan_type(h->body, v) == '[') {
            filter_content(h, v);
        } else {
            walk_value(h, v, 1);
        }
    }
    if (any) delete_marked(h, obj, del, n);
}

/* ---- previous_response_id --------------------------------------------------- */

static int previous_response(hctx_t *h, const sess_handoff_opts_t *opts)
{
    const jreq_t *jr = h->rq->jr;
    if (!jr->previous_response_id.len) return 0;
    if (jscan_type(h->body, jr->previous_response_id) != 'n') {
        buf_t chain = BUF_INIT;
        const char *prid = h->rq->previous_response_id ? h->rq->previous_response_id : "";
        int rc = opts && opts->expand_chain ? opts->expand_chain(opts->ud, prid, &chain) : -1;
        if (rc == 0 && chain.len) {
            buf_t chk = BUF_INIT;
            buf_putc(&chk, '[');
            buf_append(&chk, chain.data, chain.len);
            buf_putc(&chk, ']');
            if (jscan_validate(chk.data, chk.len, NULL) != 0) rc = -1;
            buf_free(&chk);
        }
        if (rc != 0) {
            buf_free(&chain);
            h->res->blocking_binding = RQ_BIND_PREVIOUS_RESPONSE_ID;
            h->res->error = "previous_response_id names a conversation stored only by the "
                            "unavailable model's provider (or nowhere), so it cannot be expanded "
                            "for the model taking the session over";
            return -1;
        }
        if (chain.len && jr->has_messages) {
            if (jr->n_msgs) buf_putc(&chain, ',');
            replace(h, (jspan_t){jr->messages.off + 1, 0}, chain.data, chain.len);
        }
        buf_free(&chain);
        did(h, SESS_CONV_EXPAND_RESPONSE_CHAIN);
    }
    jspan_t top = {jr->obj_open, jr->obj_close - jr->obj_open + 1}, k, v;
    size_t n = jsplice_count_entries(h->body, top);
    bool *del = arena_calloc(h->a, n ? n : 1);
    uint32_t cur = 0;
    for (size_t i = 0; i < n && jscan_obj_next(h->body, top, &cur, &k, &v); i++)
        del[i] = key_is(h, k, "previous_response_id");
    delete_marked(h, top, del, n);
    return 0;
}

/* ---- entry points ------------------------------------------------------------ */

int sess_handoff_rewrite(rq_t *rq, const sess_handoff_t *handoff, const sess_handoff_opts_t *opts,
                         arena_t *a, jsplice_t *edits, sess_handoff_result_t *res)
{
    memset(res, 0, sizeof *res);
    hctx_t h = {.rq = rq, .body = rq->body, .a = a, .ed = edits, .res = res};
    for (size_t i = 0; i < handoff->n_conversions; i++)
        h.want |= 1u << handoff->conversions[i];
    if (previous_response(&h, opts) != 0) return -1;

    const jreq_t *jr = rq->jr;
    size_t n = jr->n_msgs < rq->n_msgs ? jr->n_msgs : rq->n_msgs;
    int last_plain = -1;
    for (size_t i = 0; i < n; i++)
        if (rq->msgs[i].role == JROLE_ASSISTANT && rq->msgs[i].n_calls == 0) last_plain = (int)i;
    for (size_t i = 0; i < n; i++) {
        const rq_msg_t *m = &rq->msgs[i];
        bool in_loop = (int)i > last_plain &&
                       ((m->role == JROLE_ASSISTANT && m->n_calls > 0) || m->role == JROLE_TOOL);
        if (in_loop && want(&h, SESS_CONV_TOOL_LOOP_AS_HISTORY))
            flatten(&h, i);
        else
            walk_message(&h, i);
    }

    if ((h.done &
         ((1u << SESS_CONV_DROP_ENCRYPTED_REASONING) | (1u << SESS_CONV_DROP_SIGNED_THINKING))) &&
        want(&h, SESS_CONV_KEEP_REASONING_SUMMARIES))
        did(&h, SESS_CONV_KEEP_REASONING_SUMMARIES);
    for (size_t i = 0; i < handoff->n_conversions; i++) {
        sess_conversion_t c = handoff->conversions[i];
        if ((h.done & (1u << c)) && res->n_applied < SESS_MAX_CONVERSIONS)
            res->applied[res->n_applied++] = c;
        else if (!(h.done & (1u << c)))
            warn(&h, "%s: nothing to convert in the request", sess_conversion_name(c));
    }
    if ((h.done & (1u << SESS_CONV_EXPAND_RESPONSE_CHAIN)) &&
        !want(&h, SESS_CONV_EXPAND_RESPONSE_CHAIN) && res->n_applied < SESS_MAX_CONVERSIONS)
        res->applied[res->n_applied++] = SESS_CONV_EXPAND_RESPONSE_CHAIN;
    return 0;
}

int sess_handoff_apply(rq_t *rq, const sess_handoff_t *handoff, const sess_handoff_opts_t *opts,
                       arena_t *a, const char **out, size_t *out_len, sess_handoff_result_t *res)
{
    jsplice_t s;
    jsplice_init(&s);
    *out = rq->body;
    *out_len = rq->body_len;
    int rc = sess_handoff_rewrite(rq, handoff, opts, a, &s, res);
    if (rc == 0 && s.n) {
        jsplice_sort(&s);
        buf_t b = BUF_INIT;
        jsplice_to_buf(&s, rq->body, rq->body_len, &b);
        *out = arena_strndup(a, b.data ? b.data : "", b.len);
        *out_len = b.len;
        buf_free(&b);
    }
    jsplice_free(&s);
    return rc;
}

/* ---- unavailability by failures ----------------------------------------------- */

bool sess_handoff_after_failures(const sess_policy_out_t *pol, size_t n_backend_refs,
                                 size_t n_failed_before_first_byte, bool client_got_bytes)
{
    if (!pol || client_got_bytes || n_backend_refs == 0) return false;
    if (pol->mode != SESS_MODE_ENFORCE) return false; /* observe_only: a lock is not enforced */
    if (pol->reason != SESS_REASON_HARD_LOCK_TOOL_LOOP &&
        pol->reason != SESS_REASON_HARD_LOCK_PROVIDER_STATE)
        return false;
    return n_failed_before_first_byte >= n_backend_refs;
}

int sess_policy_decide_without_current(const sess_policy_in_t *in, const char *current,
                                       sess_facts_t *facts_scratch, sess_candidate_t *cands_scratch,
                                       sess_policy_out_t *out)
{
    if (!in || !in->facts) return -1;
    *facts_scratch = *in->facts;
    facts_scratch->current_available = false;
    for (size_t i = 0; i < in->n_cands; i++) {
        cands_scratch[i] = in->cands[i];
        if (current && in->cands[i].model && !strcmp(in->cands[i].model, current))
            cands_scratch[i].available = false;
    }
    sess_policy_in_t again = *in;
    again.facts = facts_scratch;
    again.cands = cands_scratch;
    return sess_policy_decide(&again, out);
}
