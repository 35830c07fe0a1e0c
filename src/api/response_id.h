/* response_id.h - the session binding in the ids tether hands to clients
 * (codec: session/binding_token.h). Wrapped: chat completion ids (the
 * provider's "id", in a 2xx body and every stream chunk; chat_adapter.c) and
 * Responses ids (native: the provider's id in the relayed reply and in the
 * stream events' response.id; emulate: the id tether mints, bound at the
 * first 2xx headers once the serving model is known; agent_relay.c). And
 * where they are unwrapped: a previous_response_id that comes back is
 * parsed once per request (rid_parse_prev), its tag verified under the
 * shared key (global.stores.session.binding_key_env), the suffix stripped
 * before the id goes upstream or to the response store, and a verified
 * model becomes the policy's bound model, so any replica routes the
 * continuation to its issuer with no store lookup (a native Responses chain
 * skips the response store too). GET/DELETE /v1/responses/{id} accept the
 * wrapped form (rid_store_key). Worker-thread only; no global state but a
 * metric. */
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

/* A previous_response_id as the client sent it, parsed. */
typedef struct rid_prev {
    const char *upstream;        /* the id without its suffix (arena); NULL without an id */
    bool wrapped, valid;         /* a well-formed suffix; whose tag verified */
    char kind;                   /* sess_binding_kind_t when wrapped */
    const char *model, *backend; /* when valid (arena) */
} rid_prev_t;

/* Parse id (NUL-terminated, may be NULL); a wrapped id is counted
 * (tether_session_bindings_total) and an invalid one logged. */
void rid_parse_prev(const cfg_t *cfg, const char *id, arena_t *a, const char *request_id,
                    rid_prev_t *out);
/* Its binding into the request view (previous_response_upstream,
 * bound_model, bound_backend). */
void rid_apply_prev(rq_t *rq, const rid_prev_t *p);
/* Responses: a valid native binding names the provider that holds the
 * chain's state: the continuation needs no response store lookup. */
bool rid_prev_is_native(const rid_prev_t *p);
/* The part of a client's Responses id that keys the response store: len
 * without the binding suffix (whether or not its tag verifies; the
 * original id grants the same access). */
size_t rid_store_key(const char *id, size_t len);

/* Parse rq->previous_response_id (when present): sets
 * rq->previous_response_upstream when it was wrapped, and rq->bound_model /
 * bound_backend when its tag verified. An id that fails verification is
 * treated as unbound (a log line and tether_session_bindings_total
 * {result="invalid"}); routing then uses session memory. */
void rid_bind_request(const cfg_t *cfg, rq_t *rq, arena_t *a, const char *request_id);

/* A splice edit that replaces the client's top-level previous_response_id
 * value (jr, of the body being spliced) by the upstream id (nothing when
 * not wrapped). Chat completions and native Responses bodies. */
void rid_unwrap_prev(const rq_t *rq, const jreq_t *jr, jsplice_t *sp, arena_t *a);

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

/* The ids of one Responses reply. */
typedef struct rid_resp {
    bool on;     /* bound (a 2xx reply) */
    bool native; /* the provider's ids, else the minted one */
    rid_wrapper_t w;
    char minted[SESS_BINDING_ID_MAX + 1]; /* emulate: the minted id as clients see it */
} rid_resp_t;

/* At the first 2xx headers of an attempt (the serving model is known):
 * bind the reply's ids to model/backend. Emulate: returns the minted id
 * wrapped (the minted id itself when it cannot be); native: NULL. */
const char *rid_resp_bind(rid_resp_t *r, const cfg_t *cfg, bool native, const char *minted,
                          const char *model, const char *backend);
/* Native: a stream event whose response.id (response.created,
 * .in_progress, .completed, ...) is wrapped, into out; false (out
 * untouched): relay the event as it is. */
bool rid_resp_wrap_event(rid_resp_t *r, const char *data, size_t len, buf_t *out);
/* Native: a whole Response object with its top-level id wrapped. */
bool rid_resp_wrap_body(rid_resp_t *r, const char *data, size_t len, buf_t *out);
/* ---- tool call ids (the tool form of binding_token.h) ----
 * Wrapped in 2xx replies and stream events (a wrapper of kind
 * SESS_BINDING_TOOL): chat choices[].message/delta.tool_calls[].id,
 * Messages tool_use blocks' id (content[], content_block_start), Responses
 * function_call items' call_id (output[], output_item events, an event's
 * response). Unwrapped in every request body before it goes upstream:
 * chat messages[].tool_calls[].id and tool_call_id, Messages tool_use id
 * and tool_result tool_use_id, Responses input[].call_id. */

/* doc (a whole reply or one event's data, protocol proto) with its tool
 * call ids wrapped, into out; false (out untouched): none to wrap. */
bool rid_wrap_tool_ids(rid_wrapper_t *w, rq_proto_t proto, const char *doc, size_t len, buf_t *out);
/* Splice edits into sp that strip the binding from every tool call id of
 * body (a request of protocol proto); edits that would overlap one already
 * in sp are skipped. Returns the count. */
size_t rid_unwrap_tool_ids(rq_proto_t proto, const char *body, size_t len, jsplice_t *sp);
/* The same, applied to a buffer; true when it changed. */
bool rid_unwrap_tool_ids_buf(rq_proto_t proto, buf_t *body);
/* In a tool loop, the ids of the open calls (the trailing results, else a
 * last assistant's calls): when they verify and name one model, rq is
 * bound to it (rq->tool_calls_bound; bound_model unless a
 * previous_response_id set it), so any replica locks the loop to the
 * issuing model with no store lookup. Counted in
 * tether_session_tool_bindings_total{result}. */
void rid_bind_tool_calls(const cfg_t *cfg, rq_t *rq, arena_t *a, const char *request_id);
#endif
