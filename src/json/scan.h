/* scan.h - the request scanner: one pass over a client's JSON body that
 * validates it and records the byte spans routing needs, never a tree.
 *
 * Spans point into the caller's body, which must outlive the jreq_t. Strings
 * are unescaped lazily (jscan_unescape) only when a consumer needs the text.
 * Thread-safe (no globals); allocations come from the caller's arena.
 *
 * Validation is full RFC 8259 plus UTF-8 (no overlongs, no UTF-8-encoded
 * surrogates, nothing above U+10FFFF), nesting at most JSCAN_MAX_DEPTH.
 * A lone \uD800-\uDFFF escape (a high surrogate not followed by a low one,
 * or a low one alone) is REJECTED ("lone surrogate in \u escape", I-JSON,
 * RFC 7493 §2.1), so every endpoint and cJSON downstream agree; the span
 * helpers, which also read upstream replies, tolerate them, and
 * jscan_unescape turns each one into U+FFFD.
 * docs/json-scanner.md lists every error message and where its offset points. */
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

/* One element of a message's "tool_calls" array, recorded while the
 * scanner counts them (so the request view does not walk them again):
 * the raw values of its "id" and of the "name" of its "function" object
 * (the last of each, as jscan_obj_get; len 0 when absent, when the element
 * is not an object or when "function" is not one). */
typedef struct jcall {
    jspan_t id;
    jspan_t name;
} jcall_t;

typedef struct jmsg {
    jrole_t role;
    jspan_t value;      /* the whole message object */
    jspan_t content;    /* raw value of "content" (string, array, or null) */
    jspan_t tool_calls; /* raw array value of "tool_calls" */
    uint32_t n_tool_calls;
    jspan_t tool_call_id; /* string, for role tool */
    /* additions */
    jspan_t role_span;         /* raw value of "role" */
    jspan_t name;              /* raw value of "name" */
    jspan_t reasoning_details; /* raw value (chat reasoning_details array) */
    jspan_t reasoning_content; /* raw value (chat reasoning_content) */
    jspan_t type;              /* raw value of "type" (Responses input items) */
    /* the n_tool_calls elements of tool_calls (arena; only when calls_built,
     * i.e. the scan had an arena and tool_calls is an array) */
    jcall_t *calls;
    bool calls_built;
    /* the raw text of value holds "encrypted_content" with its quotes (as
     * jscan_contains would find it; Responses reasoning items) */
    bool enc_marker;
} jmsg_t;

/* Deepest nesting of arrays/objects accepted; deeper input is an error. */
#define JSCAN_MAX_DEPTH 512

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
    jmsg_t *msgs;     /* arena-allocated, n_msgs entries (only when msgs_built) */
    uint32_t n_msgs;  /* elements of the messages array (counted with or without arena) */
    bool msgs_built;  /* msgs was built (an arena was given) */
    uint32_t n_input; /* elements of "input" when it is an array */
    /* the first top-level key tether reads (any key of the list above and
     * below) that occurs twice: its name (static) and the offset of the
     * second value; NULL when none. Endpoints reject such bodies. */
    const char *dup_key;
    uint32_t dup_off;
    jspan_t tools;
    uint32_t n_tools; /* elements of "tools" when it is an array (else 0) */
    jspan_t previous_response_id;
    jspan_t input; /* Responses API */
    jspan_t metadata;
    jspan_t prompt_cache_key;
    uint32_t obj_open;   /* offset of the top-level '{' */
    uint32_t obj_close;  /* offset of the top-level '}' */
    uint32_t n_top_keys; /* members of the top-level object */
    /* additions: raw value spans of more top-level keys (last one wins) */
    jspan_t stream_value; /* raw value of "stream" */
    jspan_t system;       /* Anthropic */
    jspan_t instructions; /* Responses */
    jspan_t max_tokens;
    jspan_t max_completion_tokens;
    jspan_t tool_choice;
    jspan_t reasoning; /* Responses "reasoning" parameter */
    jspan_t thinking;  /* Anthropic "thinking" parameter */
    jspan_t store;
    jspan_t user;
    jspan_t conversation; /* Responses: a string or {id} */
} jreq_t;

typedef struct jscan_err {
    size_t offset;       /* byte offset of the problem */
    const char *message; /* static string, e.g. "unexpected character" */
} jscan_err_t;

/* Scan a request body. Returns 0 on success; -1 on malformed JSON (err set),
 * -2 when the top-level value is not an object (valid JSON otherwise).
 * Also -1 ("too many \"model\" keys") when the top level has more than
 * JREQ_MAX_MODEL_KEYS "model" members, so that a rewrite can never leave one
 * behind. "messages" is only broken into msgs when its value is an array
 * (has_messages true); a later duplicate "messages" replaces an earlier one.
 * arena may be NULL: then msgs is not built (n_msgs stays 0). Bodies must be
 * shorter than 4 GiB (offsets are 32-bit). err may be NULL. */
int jscan_request(const char *body, size_t len, arena_t *arena, jreq_t *out, jscan_err_t *err);
/* jscan_request with a cap on the elements of "messages" and of an "input"
 * array: one more is JSCAN_ETOO_MANY (err points at it), found before the
 * msgs array grows past the cap. */
#define JSCAN_ETOO_MANY (-4)
int jscan_request_max(const char *body, size_t len, arena_t *arena, uint32_t max_items, jreq_t *out,
                      jscan_err_t *err);

/* The string lexer under every scan: by default the fastest this CPU runs
 * (AVX2, else SSE2, else portable), all with the same answers. Tests and
 * fuzzing force one to compare them; not to be called while other threads
 * scan. jscan_lexer_force returns -1 (nothing changed) when the CPU lacks
 * it. */
typedef enum {
    JSCAN_LEX_AUTO = 0,
    JSCAN_LEX_PORTABLE, /* byte at a time, no SIMD anywhere in string lexing */
    JSCAN_LEX_SSE2,
    JSCAN_LEX_AVX2,
} jscan_lexer_t;
int jscan_lexer_force(jscan_lexer_t which);
jscan_lexer_t jscan_lexer_current(void);

/* Validate any JSON value (used by tests and the mock). 0 ok, -1 error. */
int jscan_validate(const char *body, size_t len, jscan_err_t *err);

/* Unescape a string span (quotes included) into NUL-terminated UTF-8 in the
 * arena. Returns NULL when the span is not a (well-formed) string. */
char *jscan_unescape(arena_t *a, const char *body, jspan_t s, size_t *out_len);

/* Span text equality against a plain C string (unescaping as needed). */
bool jscan_str_eq(const char *body, jspan_t s, const char *lit);

/* Helpers over spans of a body. They re-check what they walk (so they never
 * read outside the span) and simply return false on malformed input. */

/* First byte of the value: '"', '{', '[', 't', 'f', 'n', or '-'/digit for a
 * number; 0 for an empty span. */
char jscan_type(const char *body, jspan_t v);
/* Iterate the members of an object value. *cursor starts at 0; returns
 * false after the last member. key includes its quotes. */
bool jscan_obj_next(const char *body, jspan_t obj, uint32_t *cursor, jspan_t *key, jspan_t *val);
/* Iterate the elements of an array value. *cursor starts at 0. */
bool jscan_arr_next(const char *body, jspan_t arr, uint32_t *cursor, jspan_t *elem);
/* Value of member key (compared after unescaping; the last occurrence wins). */
bool jscan_obj_get(const char *body, jspan_t obj, const char *key, jspan_t *val);
/* Several members in one walk: out[i] is the value of the last member named
 * keys[i] (len 0 when absent), as jscan_obj_get would give key by key. At
 * most JSCAN_PICK_MAX keys (more are ignored). */
#define JSCAN_PICK_MAX 16
void jscan_obj_pick(const char *body, jspan_t obj, const char *const *keys, size_t n, jspan_t *out);
/* Does s[0..n) contain the m bytes of lit? (memmem's answer, several times
 * faster on long texts: only positions whose first and last bytes match
 * are compared.) */
bool jscan_contains(const char *s, size_t n, const char *lit, size_t m);
/* An integer number value (no fraction or exponent) that fits in int64. */
bool jscan_int(const char *body, jspan_t v, int64_t *out);

/* Token usage found in a response document or SSE chunk. */
typedef struct jusage {
    bool found;
    int64_t prompt_tokens, completion_tokens, cached_tokens; /* -1 when absent */
    /* additions */
    int64_t cache_creation_tokens; /* Anthropic cache_creation_input_tokens, -1 absent */
    int64_t reasoning_tokens;      /* completion/output_tokens_details.reasoning_tokens */
    bool is_anthropic;             /* cache_*_input_tokens seen: input excludes cache */
} jusage_t;
/* Find a top-level "usage" object and read prompt_tokens, completion_tokens
 * and prompt_tokens_details.cached_tokens (also Anthropic input_tokens /
 * output_tokens / cache_read_input_tokens). Never fails on bad JSON; just
 * reports found=false.
 * When there is no top-level "usage" (or it is null), "message.usage"
 * (Anthropic message_start) and "response.usage" (Responses
 * response.completed) are looked at. Responses usage (input_tokens,
 * output_tokens, input_tokens_details.cached_tokens) maps to prompt /
 * completion / cached. Anthropic usage maps as in SPEC §4.4:
 * prompt_tokens = input_tokens + cache_read_input_tokens +
 * cache_creation_input_tokens (absent parts count 0), cached_tokens =
 * cache_read_input_tokens; a message_delta carrying only output_tokens gives
 * prompt_tokens -1. */
void jscan_usage(const char *doc, size_t len, jusage_t *u);
/* The members of a usage object both readers pick (jscan_usage here and
 * jreply_scan, json/reply_scan.c), in jusage_keys's order: six counts, then
 * the four details objects. */
enum { JU_PT, JU_CT, JU_IT, JU_OT, JU_CR, JU_CC, JU_PTD, JU_CTD, JU_ITD, JU_OTD, JU_N };
extern const char *const jusage_keys[JU_N];
/* The usage mapping above, from a usage object's six counts n[JU_PT..JU_CC]
 * (-1: absent or not an integer): sets found, is_anthropic (the object has
 * a cache_* member), prompt, completion and Anthropic's cache counts, and
 * returns where cached_tokens and reasoning_tokens come from: the details
 * objects JU_PTD + d (cached) and JU_PTD + d + 1 (reasoning), d being 0
 * (prompt/completion_tokens_details) or 2 (input/output_tokens_details),
 * or -1 when there are none to read. */
int jusage_from_counts(jusage_t *u, const int64_t *n, bool anthropic);
#endif
