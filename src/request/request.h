/* request.h - the request facts (the "request view" of ARCHITECTURE.md):
 * one normalised, read-only picture of a routed request, built once from the
 * scanner's spans, that every later stage reads — signals, decisions, session
 * identity, the session policy, plugins and replay. No stage re-parses the
 * body. Texts are unescaped lazily (rq_msg_text) and cached.
 *
 * Built for chat completions today (rq_from_chat); the Responses and
 * Anthropic front-ends fill the same struct. Everything lives in the
 * request's arena. Not thread-safe (one request, one thread). */
#ifndef TETHER_REQUEST_REQUEST_H
#define TETHER_REQUEST_REQUEST_H
#include "core/arena.h"
#include "core/header.h"
#include "json/scan.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RQ_PROTO_CHAT = 0, RQ_PROTO_RESPONSES, RQ_PROTO_ANTHROPIC } rq_proto_t;

/* Provider-bound state kinds (SPEC §9.4), as a bitmask. */
enum {
    RQ_BIND_PREVIOUS_RESPONSE_ID = 1u << 0,
    RQ_BIND_ENCRYPTED_REASONING = 1u << 1,
    RQ_BIND_SIGNED_THINKING = 1u << 2,
    RQ_BIND_THOUGHT_SIGNATURE = 1u << 3,
    RQ_BIND_TOOL_CALL_ID_FORMAT = 1u << 4,
    RQ_BIND_SERVER_TOOL_STATE = 1u << 5,
};
/* "previous_response_id", "encrypted_reasoning", ... for bit b (one bit). */
const char *rq_binding_name(unsigned bit);

typedef struct rq_tool_call {
    const char *id;   /* unescaped; "" when absent */
    const char *name; /* function name; "" when absent */
} rq_tool_call_t;

typedef struct rq_msg {
    jrole_t role;     /* developer counts as system for routing */
    jspan_t content;  /* raw content value */
    jspan_t value;    /* the whole message */
    const char *text; /* cached unescaped text (NULL until rq_msg_text) */
    size_t text_len;
    uint32_t text_bytes; /* raw byte size of the content (estimate before unescape) */
    uint16_t n_images;
    uint16_t n_calls; /* assistant tool calls */
    rq_tool_call_t *calls;
    const char *tool_call_id; /* tool results: the id they answer ("" when absent) */
    unsigned bindings;        /* RQ_BIND_* found in this message */
} rq_msg_t;

/* The request view's header type (names lowercased); the server's
 * hsrv_header_t is the same core type. */
typedef hdr_field_t rq_header_t;

typedef struct rq {
    rq_proto_t proto;
    arena_t *arena;
    const char *body;
    size_t body_len;
    const jreq_t *jr;
    const rq_header_t *headers;
    size_t n_headers;
    const char *model; /* requested model name, unescaped */
    bool stream;

    rq_msg_t *msgs;
    size_t n_msgs;
    size_t n_user, n_assistant, n_tool_results, n_system;
    size_t n_tool_calls; /* assistant tool calls over the conversation */
    size_t n_images;
    size_t n_tools; /* tool definitions offered */
    jspan_t tools;

    /* §5.1 text windows */
    int query_msg;               /* index of the message whose text is the query, -1 none */
    int last_user_msg;           /* index of the latest user message, -1 none */
    bool ends_with_tool_results; /* last messages are tool results */

    /* §9.3 facts */
    bool active_tool_loop;
    unsigned bindings;                /* RQ_BIND_* across the request */
    const char *previous_response_id; /* unescaped, NULL when absent */
    /* previous_response_id names a chain in tether's Responses store (set
     * by the Responses endpoint; false elsewhere) */
    bool previous_response_stored;
    /* previous_response_id carried a session binding (session/binding_token.h,
     * set by api/response_id.c): the id to send upstream (suffix stripped;
     * NULL when not wrapped), and the model/backend when its tag verified */
    const char *previous_response_upstream;
    const char *bound_model, *bound_backend;
    /* the open tool calls' ids carried a valid binding naming bound_model
     * (api/response_id.c): the tool loop's issuer */
    bool tool_calls_bound;
    /* identity sources in the body (NULL when absent) */
    const char *prompt_cache_key;
    const char *metadata_session_id;
    const char *metadata_user_id;
    const char *conversation; /* Responses `conversation` (string or {id}) */
    int64_t max_tokens;       /* -1 when absent */
    /* rq_msg_text's memo: by a hash of a content's raw length, 1 + the index
     * of the last message whose text was decoded (0: none). Messages with
     * the same raw content (an agent reading the same file again) share
     * one decoded text. */
    uint32_t text_memo[32];
} rq_t;

/* Build the facts of a chat-completions request. jr must come from
 * jscan_request on body with an arena. Never fails on odd shapes: unknown
 * parts are skipped. Returns NULL only when jr has no messages (or they were
 * counted without an arena, so not built). */
rq_t *rq_from_chat(arena_t *a, const char *body, size_t len, const jreq_t *jr,
                   const rq_header_t *headers, size_t n_headers);

/* Lazily unescaped text of message i (text parts of array content joined
 * with '\n'). Never NULL; "" when there is no text. */
const char *rq_msg_text(rq_t *r, size_t i, size_t *len);
/* The query (§5.1): latest user text, or the most recent earlier user text
 * when the request ends in tool results. "" when none. */
const char *rq_query(rq_t *r, size_t *len);
/* Header value (name lowercased), NULL when absent; len may be NULL. */
const char *rq_header(const rq_t *r, const char *lname, size_t *len);
#endif
