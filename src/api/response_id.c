/* response_id.c - wrapping and unwrapping the session binding in the ids
 * tether hands to clients (see response_id.h; the codec is
 * session/binding_token.c). The relays call the wrappers on 2xx bodies and
 * stream events; the endpoints call rid_bind_request on every request that
 * carries a previous_response_id. */
#include "api/response_id.h"
#include "config/global.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static met_family_t *g_met;
static pthread_once_t g_met_once = PTHREAD_ONCE_INIT;

static void met_init(void)
{
    static const char *const labels[] = {"result", NULL};
    g_met = met_counter("tether_session_bindings_total",
                        "previous_response_id values that carried a session binding, by whether "
                        "their tag verified",
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
    memset(w, 0, sizeof *w);
    rid_key(cfg, &w->key, &w->key_len);
    w->kind = kind;
    w->model = model;
    w->backend = backend;
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
