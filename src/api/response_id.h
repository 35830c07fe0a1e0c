/* response_id.h - the session binding in the ids tether hands to clients
 * (codec: session/binding_token.h). Today chat completion ids carry one
 * (the provider's "id", in a 2xx body and every stream chunk; chat_relay.c);
 * Responses ids do not yet. And where they are unwrapped: a previous_response_id that comes back is
 * parsed once per request (rid_bind_request), its tag verified under the
 * shared key (global.stores.session.binding_key_env), the suffix stripped
 * before the id goes upstream, and a verified model becomes the policy's
 * bound model, so any replica routes the continuation to its issuer with no
 * store lookup. Worker-thread only; no global state but a metric. */
#ifndef TETHER_API_RESPONSE_ID_H
#define TETHER_API_RESPONSE_ID_H
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "json/scan.h"
#include "json/splice.h"
#include "request/request.h"
#include "session/binding_token.h"

/* The key of cfg's generation (NULL, 0: the per-process key). */
void rid_key(const cfg_t *cfg, const char **key, size_t *len);

/* Parse rq->previous_response_id (when present): sets
 * rq->previous_response_upstream when it was wrapped, and rq->bound_model /
 * bound_backend when its tag verified. An id that fails verification is
 * treated as unbound (a log line and tether_session_bindings_total
 * {result="invalid"}); routing then uses session memory. */
void rid_bind_request(const cfg_t *cfg, rq_t *rq, arena_t *a, const char *request_id);

/* Chat completions: a splice edit that replaces the client's
 * previous_response_id value by the upstream id (nothing when not wrapped). */
void rid_chat_unwrap(const rq_t *rq, const jreq_t *jr, jsplice_t *sp, arena_t *a);

/* Wraps ids for one response: the binding and a cache of the last id (every
 * chunk of a stream repeats it). */
typedef struct rid_wrapper {
    const char *key;
    size_t key_len;
    sess_binding_kind_t kind;
    const char *model, *backend;
    size_t orig_len, wrapped_len;
    char orig[SESS_BINDING_ID_MAX + 1];
    char wrapped[SESS_BINDING_ID_MAX + 1];
} rid_wrapper_t;

void rid_wrapper_init(rid_wrapper_t *w, const cfg_t *cfg, sess_binding_kind_t kind,
                      const char *model, const char *backend);
/* id (NUL-terminated) wrapped; NULL when it cannot be (too long). */
const char *rid_wrap(rid_wrapper_t *w, const char *id, size_t id_len);
/* doc with the string at span id replaced by its wrapped form, appended to
 * out. False (out untouched) when the span is not a plain string (escapes,
 * control bytes) or the id is too long. */
bool rid_wrap_span(rid_wrapper_t *w, const char *doc, size_t len, jspan_t id, buf_t *out);
/* The same for the top-level "id" of a JSON object. */
bool rid_wrap_top_id(rid_wrapper_t *w, const char *doc, size_t len, buf_t *out);
#endif
