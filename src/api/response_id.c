/* response_id.c - wrapping and unwrapping the session binding in the ids
 * tether hands to clients (see response_id.h; the codec is
 * session/binding_token.c). The relays call the wrappers on 2xx bodies and
 * stream events; the endpoints call rid_bind_request on every request that
 * carries a previous_response_id. Tool call ids get the same binding in
 * the dot-free tool form: wrapped in replies and stream events, stripped
 * from every occurrence in a request before it goes upstream, and the open
 * calls' binding names the tool loop's model (rid_bind_tool_calls). */
#include "api/response_id.h"
#include "config/global.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static met_family_t *g_met, *g_tool_met;
static pthread_once_t g_met_once = PTHREAD_ONCE_INIT;

static void met_init(void)
{
    static const char *const labels[] = {"result", NULL};
    g_met = met_counter("tether_session_bindings_total",
                        "previous_response_id values that carried a session binding, by whether "
                        "their tag verified",
                        labels);
    g_tool_met = met_counter("tether_session_tool_bindings_total",
                             "tool loops whose open tool call ids carried a session binding, by "
                             "whether it verified (and named one model)",
                             labels);
}

void rid_key(const cfg_t *cfg, const char **key, size_t *len)
{
    const char *k = cfg && cfg->global_ext ? cfg->global_ext->stores.session.binding_key : NULL;
    *key = k;
    *len = k ? strlen(k) : 0;
}

void rid_parse_prev(const cfg_t *cfg, const char *id, arena_t *a, const char *request_id,
                    rid_prev_t *out)
{
    memset(out, 0, sizeof *out);
    if (!id || !*id) return;
    const char *key;
    size_t kl;
    rid_key(cfg, &key, &kl);
    sess_binding_t b;
    sess_binding_parse(key, kl, id, strlen(id), &b);
    out->upstream = b.wrapped ? arena_strndup(a, id, b.orig_len) : id;
    if (!b.wrapped) return;
    out->wrapped = true;
    out->kind = b.kind;
    pthread_once(&g_met_once, met_init);
    met_inc(g_met, 1, b.valid ? "valid" : "invalid");
    if (!b.valid) {
        tlog(TLOG_INFO, "session_binding_invalid",
             "\"request_id\":\"%s\",\"reason\":\"tag does not verify under this key\"",
             request_id ? request_id : "");
        return;
    }
    out->valid = true;
    out->model = arena_strdup(a, b.model);
    out->backend = arena_strdup(a, b.backend);
}

void rid_apply_prev(rq_t *rq, const rid_prev_t *p)
{
    if (!rq || !p->wrapped) return;
    rq->previous_response_upstream = p->upstream;
    if (!p->valid) return;
    rq->bound_model = p->model;
    rq->bound_backend = p->backend;
}

bool rid_prev_is_native(const rid_prev_t *p)
{
    return p->valid && p->kind == SESS_BINDING_NATIVE;
}

size_t rid_store_key(const char *id, size_t len)
{
    sess_binding_t b;
    /* the tag is not needed to find the original: any key will do */
    sess_binding_parse(NULL, 0, id, len, &b);
    return b.orig_len;
}

void rid_bind_request(const cfg_t *cfg, rq_t *rq, arena_t *a, const char *request_id)
{
    rid_prev_t p;
    rid_parse_prev(cfg, rq->previous_response_id, a, request_id, &p);
    rid_apply_prev(rq, &p);
}

void rid_unwrap_prev(const rq_t *rq, const jreq_t *jr, jsplice_t *sp, arena_t *a)
{
    if (!rq || !rq->previous_response_upstream || !jr->previous_response_id.len) return;
    buf_t v = BUF_INIT;
    buf_json_str(&v, rq->previous_response_upstream, strlen(rq->previous_response_upstream));
    char *s = arena_strndup(a, v.data, v.len);
    jsplice_add(sp, jr->previous_response_id.off, jr->previous_response_id.len, s, (uint32_t)v.len);
    buf_free(&v);
}

void rid_wrapper_init(rid_wrapper_t *w, const cfg_t *cfg, sess_binding_kind_t kind,
                      const char *model, const char *backend)
{
    /* the two id buffers (about 0.5 KB) are read only up to their lengths:
     * no memset of them on every reply */
    rid_key(cfg, &w->key, &w->key_len);
    w->kind = kind;
    w->model = model;
    w->backend = backend;
    w->orig_len = w->wrapped_len = 0;
    w->orig[0] = w->wrapped[0] = 0;
}

const char *rid_wrap(rid_wrapper_t *w, const char *id, size_t id_len)
{
    if (id_len > SESS_BINDING_ID_MAX) return NULL;
    if (w->wrapped_len && id_len == w->orig_len && !memcmp(id, w->orig, id_len)) return w->wrapped;
    size_t n = sess_binding_wrap(w->key, w->key_len, w->kind, id, id_len, w->model, w->backend,
                                 w->wrapped, sizeof w->wrapped);
    if (!n) {
        w->wrapped_len = 0;
        return NULL;
    }
    memcpy(w->orig, id, id_len);
    w->orig[id_len] = 0;
    w->orig_len = id_len;
    w->wrapped_len = n;
    return w->wrapped;
}

bool rid_wrap_span(rid_wrapper_t *w, const char *doc, size_t len, jspan_t id, buf_t *out)
{
    if (jscan_type(doc, id) != '"' || id.len < 2 || (size_t)id.off + id.len > len) return false;
    const char *s = doc + id.off + 1;
    size_t n = id.len - 2;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\\' || (unsigned char)s[i] < 0x20) return false;
    const char *wrapped = rid_wrap(w, s, n);
    if (!wrapped) return false;
    buf_reserve(out, len - n + w->wrapped_len); /* one allocation for the three parts */
    buf_append(out, doc, id.off + 1);
    buf_append(out, wrapped, w->wrapped_len);
    buf_append(out, doc + id.off + 1 + n, len - (id.off + 1 + n));
    return true;
}

bool rid_wrap_top_id(rid_wrapper_t *w, const char *doc, size_t len, buf_t *out)
{
    jspan_t all = {0, (uint32_t)len}, id;
    if (len >= UINT32_MAX || jscan_type(doc, all) != '{') {
        /* leading whitespace: find the object */
        size_t i = 0;
        while (i < len && (doc[i] == ' ' || doc[i] == '\n' || doc[i] == '\r' || doc[i] == '\t'))
            i++;
        if (i >= len || doc[i] != '{' || len >= UINT32_MAX) return false;
        all.off = (uint32_t)i;
        all.len = (uint32_t)(len - i);
    }
    if (!jscan_obj_get(doc, all, "id", &id)) return false;
    return rid_wrap_span(w, doc, len, id, out);
}

/* ------------------------------------------------------------ Responses */

const char *rid_resp_bind(rid_resp_t *r, const cfg_t *cfg, bool native, const char *minted,
                          const char *model, const char *backend)
{
    rid_wrapper_init(&r->w, cfg, native ? SESS_BINDING_NATIVE : SESS_BINDING_EMULATED, model,
                     backend);
    r->on = true;
    r->native = native;
    if (native || !minted) return NULL;
    const char *w = rid_wrap(&r->w, minted, strlen(minted));
    snprintf(r->minted, sizeof r->minted, "%s", w ? w : minted);
    return r->minted;
}

bool rid_resp_wrap_event(rid_resp_t *r, const char *data, size_t len, buf_t *out)
{
    if (!r->on || !r->native || len >= UINT32_MAX) return false;
    jspan_t doc = {0, (uint32_t)len}, resp, id;
    if (jscan_type(data, doc) != '{' || !jscan_obj_get(data, doc, "response", &resp) ||
        jscan_type(data, resp) != '{' || !jscan_obj_get(data, resp, "id", &id))
        return false;
    return rid_wrap_span(&r->w, data, len, id, out);
}

bool rid_resp_wrap_body(rid_resp_t *r, const char *data, size_t len, buf_t *out)
{
    if (!r->on || !r->native) return false;
    return rid_wrap_top_id(&r->w, data, len, out);
}

/* ------------------------------------------------------------ tool calls */

#define RID_MAX_TOOL_IDS 64 /* tool call ids wrapped in one reply or event */

typedef struct spans {
    jspan_t s[RID_MAX_TOOL_IDS];
    int n;
} spans_t;

static void spans_add(spans_t *sp, const char *doc, jspan_t v)
{
    if (sp->n < RID_MAX_TOOL_IDS && jscan_type(doc, v) == '"') sp->s[sp->n++] = v;
}

static bool type_is(const char *doc, jspan_t obj, const char *t)
{
    jspan_t ty;
    return jscan_obj_get(doc, obj, "type", &ty) && jscan_str_eq(doc, ty, t);
}

/* o.key when o is an object of type t (an Anthropic tool_use block's id, a
 * Responses function_call item's call_id). */
static void typed_id(const char *doc, jspan_t o, const char *t, const char *key, spans_t *sp)
{
    jspan_t id;
    if (jscan_type(doc, o) == '{' && type_is(doc, o, t) && jscan_obj_get(doc, o, key, &id))
        spans_add(sp, doc, id);
}

/* typed_id over the items of array arr (nothing when arr is not one). */
static void typed_ids(const char *doc, jspan_t arr, const char *t, const char *key, spans_t *sp)
{
    uint32_t cur = 0;
    jspan_t it;
    if (jscan_type(doc, arr) != '[') return;
    while (jscan_arr_next(doc, arr, &cur, &it))
        typed_id(doc, it, t, key, sp);
}

static void responses_output(const char *doc, jspan_t obj, spans_t *sp)
{
    jspan_t out;
    if (jscan_obj_get(doc, obj, "output", &out))
        typed_ids(doc, out, "function_call", "call_id", sp);
}

/* The tool call ids a reply (or one stream event) of protocol proto issues. */
static void reply_tool_ids(rq_proto_t proto, const char *doc, jspan_t top, spans_t *sp)
{
    jspan_t v, w;
    if (proto == RQ_PROTO_CHAT) {
        uint32_t cur = 0;
        jspan_t ch;
        if (!jscan_obj_get(doc, top, "choices", &v) || jscan_type(doc, v) != '[') return;
        while (jscan_arr_next(doc, v, &cur, &ch)) {
            jspan_t m, tcs, tc, id;
            if (jscan_type(doc, ch) != '{' ||
                !(jscan_obj_get(doc, ch, "message", &m) || jscan_obj_get(doc, ch, "delta", &m)))
                continue;
            if (jscan_type(doc, m) != '{' || !jscan_obj_get(doc, m, "tool_calls", &tcs) ||
                jscan_type(doc, tcs) != '[')
                continue;
            uint32_t c2 = 0;
            while (jscan_arr_next(doc, tcs, &c2, &tc))
                if (jscan_type(doc, tc) == '{' && jscan_obj_get(doc, tc, "id", &id))
                    spans_add(sp, doc, id);
        }
    } else if (proto == RQ_PROTO_ANTHROPIC) {
        /* a whole message, content_block_start, or message_start's message */
        if (jscan_obj_get(doc, top, "content_block", &v)) typed_id(doc, v, "tool_use", "id", sp);
        if (jscan_obj_get(doc, top, "content", &v)) typed_ids(doc, v, "tool_use", "id", sp);
        if (jscan_obj_get(doc, top, "message", &v) && jscan_type(doc, v) == '{' &&
            jscan_obj_get(doc, v, "content", &w))
            typed_ids(doc, w, "tool_use", "id", sp);
    } else {
        /* a whole Response, output_item.added/.done, or an event's response */
        responses_output(doc, top, sp);
        if (jscan_obj_get(doc, top, "item", &v)) typed_id(doc, v, "function_call", "call_id", sp);
        if (jscan_obj_get(doc, top, "response", &v) && jscan_type(doc, v) == '{')
            responses_output(doc, v, sp);
    }
}

static int span_cmp(const void *a, const void *b)
{
    const jspan_t *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

bool rid_wrap_tool_ids(rid_wrapper_t *w, rq_proto_t proto, const char *doc, size_t len, buf_t *out)
{
    if (!w || !len || len >= UINT32_MAX) return false;
    static const char *const marks[] = {"\"tool_calls\"", "\"tool_use\"", "\"function_call\""};
    const char *mark = marks[proto == RQ_PROTO_CHAT ? 0 : proto == RQ_PROTO_ANTHROPIC ? 1 : 2];
    if (!jscan_contains(doc, len, mark, strlen(mark))) return false;
    jspan_t top = {0, (uint32_t)len};
    size_t i = 0;
    while (i < len && (doc[i] == ' ' || doc[i] == '\n' || doc[i] == '\r' || doc[i] == '\t'))
        i++;
    top.off = (uint32_t)i;
    top.len = (uint32_t)(len - i);
    if (jscan_type(doc, top) != '{') return false;
    spans_t sp = {.n = 0};
    reply_tool_ids(proto, doc, top, &sp);
    qsort(sp.s, (size_t)sp.n, sizeof sp.s[0], span_cmp);
    size_t at = 0, start = out->len;
    bool any = false;
    for (int k = 0; k < sp.n; k++) {
        jspan_t id = sp.s[k];
        const char *s = doc + id.off + 1;
        size_t n = id.len - 2;
        if (id.off < at || memchr(s, '\\', n)) continue;
        const char *wrapped = rid_wrap(w, s, n);
        if (!wrapped) continue;
        if (!any) /* one allocation when every id grows as much as this one */
            buf_reserve(out, len + (size_t)sp.n * (w->wrapped_len > n ? w->wrapped_len - n : 0));
        buf_append(out, doc + at, id.off + 1 - at);
        buf_append(out, wrapped, w->wrapped_len);
        at = id.off + 1 + n;
        any = true;
    }
    if (!any) {
        out->len = start;
        return false;
    }
    buf_append(out, doc + at, len - at);
    return true;
}

/* An edit that drops the binding suffix of the string at v, unless it
 * overlaps an edit already in sp. */
static size_t unwrap_span(const char *body, jspan_t v, jsplice_t *sp)
{
    if (jscan_type(body, v) != '"' || v.len < 2) return 0;
    const char *s = body + v.off + 1;
    size_t n = v.len - 2;
    if (memchr(s, '\\', n)) return 0;
    sess_binding_t b;
    sess_binding_parse_tool(NULL, 0, s, n, &b);
    if (!b.wrapped) return 0;
    uint32_t off = v.off + 1 + (uint32_t)b.orig_len, dl = (uint32_t)(n - b.orig_len);
    for (size_t i = 0; i < sp->n; i++) {
        const jsplice_edit_t *e = &sp->edits[i];
        if (e->off < off + dl && off < e->off + (e->len ? e->len : 1)) return 0;
    }
    jsplice_add(sp, off, dl, "", 0);
    return 1;
}

size_t rid_unwrap_tool_ids(rq_proto_t proto, const char *body, size_t len, jsplice_t *sp)
{
    /* most bodies hold no wrapped id: a fast search for the mark (memmem's
     * answer) before walking the messages */
    if (!len || len >= UINT32_MAX ||
        !jscan_contains(body, len, SESS_BINDING_TOOL_MARK, SESS_BINDING_TOOL_MARK_LEN))
        return 0;
    jspan_t top = {0, (uint32_t)len}, arr, el;
    uint32_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    top.off = i;
    top.len = (uint32_t)len - i;
    if (jscan_type(body, top) != '{') return 0;
    const char *list = proto == RQ_PROTO_RESPONSES ? "input" : "messages";
    if (!jscan_obj_get(body, top, list, &arr) || jscan_type(body, arr) != '[') return 0;
    size_t n = 0;
    uint32_t cur = 0;
    while (jscan_arr_next(body, arr, &cur, &el)) {
        jspan_t v, x;
        uint32_t c2 = 0;
        if (jscan_type(body, el) != '{') continue;
        if (proto == RQ_PROTO_RESPONSES) {
            /* function_call and function_call_output items */
            if (jscan_obj_get(body, el, "call_id", &v)) n += unwrap_span(body, v, sp);
        } else if (proto == RQ_PROTO_CHAT) {
            if (jscan_obj_get(body, el, "tool_call_id", &v)) n += unwrap_span(body, v, sp);
            if (jscan_obj_get(body, el, "tool_calls", &v) && jscan_type(body, v) == '[')
                while (jscan_arr_next(body, v, &c2, &x)) {
                    jspan_t id;
                    if (jscan_type(body, x) == '{' && jscan_obj_get(body, x, "id", &id))
                        n += unwrap_span(body, id, sp);
                }
        } else if (jscan_obj_get(body, el, "content", &v) && jscan_type(body, v) == '[') {
            /* tool_use blocks and the tool_result blocks answering them */
            while (jscan_arr_next(body, v, &c2, &x)) {
                jspan_t id;
                if (jscan_type(body, x) != '{') continue;
                if (jscan_obj_get(body, x, "tool_use_id", &id)) n += unwrap_span(body, id, sp);
                if (type_is(body, x, "tool_use") && jscan_obj_get(body, x, "id", &id))
                    n += unwrap_span(body, id, sp);
            }
        }
    }
    return n;
}

bool rid_unwrap_tool_ids_buf(rq_proto_t proto, buf_t *body)
{
    jsplice_t sp;
    jsplice_init(&sp);
    bool any = body->len && rid_unwrap_tool_ids(proto, body->data, body->len, &sp) > 0;
    if (any) {
        buf_t out = BUF_INIT;
        jsplice_sort(&sp);
        jsplice_to_buf(&sp, body->data, body->len, &out);
        buf_free(body);
        *body = out;
    }
    jsplice_free(&sp);
    return any;
}

/* The ids the open tool loop answers: the trailing tool results (before a
 * last user message), else the calls of a last assistant message. */
static size_t open_call_ids(const rq_t *rq, const char **ids, size_t max)
{
    size_t end = rq->n_msgs, k = 0;
    if (end >= 2 && rq->msgs[end - 1].role == JROLE_USER && rq->msgs[end - 2].role == JROLE_TOOL)
        end--;
    size_t i = end;
    while (i > 0 && rq->msgs[i - 1].role == JROLE_TOOL)
        i--;
    for (; i < end && k < max; i++)
        if (rq->msgs[i].tool_call_id && *rq->msgs[i].tool_call_id)
            ids[k++] = rq->msgs[i].tool_call_id;
    if (k || !rq->n_msgs) return k;
    const rq_msg_t *last = &rq->msgs[rq->n_msgs - 1];
    for (size_t c = 0; last->role == JROLE_ASSISTANT && c < last->n_calls && k < max; c++)
        if (last->calls[c].id && *last->calls[c].id) ids[k++] = last->calls[c].id;
    return k;
}

void rid_bind_tool_calls(const cfg_t *cfg, rq_t *rq, arena_t *a, const char *request_id)
{
    if (!rq || !rq->active_tool_loop) return;
    const char *ids[RID_MAX_TOOL_IDS];
    size_t n = open_call_ids(rq, ids, RID_MAX_TOOL_IDS);
    const char *key;
    size_t kl;
    rid_key(cfg, &key, &kl);
    sess_binding_t b, first = {0};
    bool agree = true;
    for (size_t i = 0; i < n; i++) {
        sess_binding_parse_tool(key, kl, ids[i], strlen(ids[i]), &b);
        if (!b.wrapped) continue;
        if (!b.valid) {
            agree = false; /* a forged or foreign id: memory decides */
            continue;
        }
        if (!first.valid)
            first = b;
        else if (strcmp(first.model, b.model))
            agree = false;
    }
    if (!first.valid && agree) return;
    pthread_once(&g_met_once, met_init);
    met_inc(g_tool_met, 1, first.valid && agree ? "valid" : "invalid");
    if (!first.valid || !agree) {
        tlog(TLOG_INFO, "session_binding_invalid",
             "\"request_id\":\"%s\",\"reason\":\"the open tool calls' ids do not verify under "
             "this key or name different models\"",
             request_id ? request_id : "");
        return;
    }
    rq->tool_calls_bound = true;
    if (rq->bound_model) return; /* a previous_response_id binding names the issuer too */
    rq->bound_model = arena_strdup(a, first.model);
    rq->bound_backend = arena_strdup(a, first.backend);
}
