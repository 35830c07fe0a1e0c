/* scan.h - the request scanner: one pass over a client's JSON body that
 * validates it and records the byte spans routing needs, never a tree.
 *
 * Spans point into the caller's body, which must outlive the jreq_t. Strings
 * are unescaped lazily (jscan_unescape) only when a consumer needs the text.
 * Thread-safe (no globals); allocations come from the caller's arena. */
#ifndef TETHER_JSON_SCAN_H
#define TETHER_JSON_SCAN_H
#include "core/arena.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte range [off, off+len) of the body. len == 0 means absent. For
 * strings the span includes the quotes. */
typedef struct jspan {
    uint32_t off, len;
} jspan_t;

typedef enum {
    JROLE_OTHER = 0,
    JROLE_SYSTEM,
    JROLE_DEVELOPER,
    JROLE_USER,
    JROLE_ASSISTANT,
    JROLE_TOOL,
    JROLE_FUNCTION,
} jrole_t;

typedef struct jmsg {
    jrole_t role;
    jspan_t value;        /* the whole message object */
    jspan_t content;      /* raw value of "content" (string, array, or null) */
    jspan_t tool_calls;   /* raw array value of "tool_calls" */
    uint32_t n_tool_calls;
    jspan_t tool_call_id; /* string, for role tool */
} jmsg_t;

#define JREQ_MAX_MODEL_KEYS 8

typedef struct jreq {
    /* "model" at the top level: the last one wins (as in most parsers); every
     * occurrence is recorded so a rewrite can replace them all. */
    jspan_t model;                          /* the value (last occurrence) */
    jspan_t model_all[JREQ_MAX_MODEL_KEYS]; /* every value span, in order */
    uint32_t n_model;
    bool model_is_string;
    int8_t stream;          /* -1 absent, 0 false, 1 true */
    jspan_t stream_options; /* raw value */
    jspan_t messages;       /* raw array value */
    bool has_messages;
    jmsg_t *msgs;           /* arena-allocated, n_msgs entries */
    uint32_t n_msgs;
    jspan_t tools;
    jspan_t previous_response_id;
    jspan_t input;          /* Responses API */
    jspan_t metadata;
    jspan_t prompt_cache_key;
    uint32_t obj_open;      /* offset of the top-level '{' */
    uint32_t obj_close;     /* offset of the top-level '}' */
    uint32_t n_top_keys;    /* members of the top-level object */
} jreq_t;

typedef struct jscan_err {
    size_t offset;       /* byte offset of the problem */
    const char *message; /* static string, e.g. "unexpected character" */
} jscan_err_t;

/* Scan a request body. Returns 0 on success; -1 on malformed JSON (err set),
 * -2 when the top-level value is not an object. */
int jscan_request(const char *body, size_t len, arena_t *arena, jreq_t *out, jscan_err_t *err);

/* Validate any JSON value (used by tests and the mock). 0 ok, -1 error. */
int jscan_validate(const char *body, size_t len, jscan_err_t *err);

/* Unescape a string span (quotes included) into NUL-terminated UTF-8 in the
 * arena. Returns NULL when the span is not a string. */
char *jscan_unescape(arena_t *a, const char *body, jspan_t s, size_t *out_len);

/* Span text equality against a plain C string (unescaping as needed). */
bool jscan_str_eq(const char *body, jspan_t s, const char *lit);

/* Token usage found in a response document or SSE chunk. */
typedef struct jusage {
    bool found;
    int64_t prompt_tokens, completion_tokens, cached_tokens; /* -1 when absent */
} jusage_t;
/* Find a top-level "usage" object and read prompt_tokens, completion_tokens
 * and prompt_tokens_details.cached_tokens (also Anthropic input_tokens /
 * output_tokens / cache_read_input_tokens). Never fails on bad JSON; just
 * reports found=false. */
void jscan_usage(const char *doc, size_t len, jusage_t *u);
#endif
