/* translate.h - protocol translation between OpenAI chat completions,
 * Anthropic Messages and the OpenAI Responses API (SPEC §4.4, §4.5).
 *
 * The hub is OpenAI chat: Anthropic and Responses clients are normalised to a
 * chat body (the "chat IR"), and replies from an Anthropic backend are turned
 * into chat replies before they are shaped for the client. Request
 * translation builds a new body (cJSON, only on translated paths; the
 * same-protocol path splices the client's bytes and never comes here).
 *
 * Everything that cannot be carried over is recorded in a tr_warn_t (codes
 * such as "thinking_dropped", "cache_control_dropped",
 * "unknown_block:server_tool_use") which the proxy reports in
 * x-tether-warnings and the translation_warnings_total metric.
 *
 * Thread-safety: all functions are reentrant; a tr_stream_t belongs to one
 * request. Outputs are caller-owned buffers. */
#ifndef TETHER_API_TRANSLATE_H
#define TETHER_API_TRANSLATE_H
#include "core/buf.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A de-duplicated, comma-separated list of warning codes. */
typedef struct tr_warn {
    char list[512];
    size_t len;
    int n;
} tr_warn_t;
void tr_warn_add(tr_warn_t *w, const char *code);
bool tr_warn_has(const tr_warn_t *w, const char *code);

/* Tool-call id rewrite for Anthropic (^[A-Za-z0-9_-]+$): ids that match are
 * copied; others get every bad byte replaced by '_' and "_" + the first 8 hex
 * digits of hex16(xxh64(id)) appended. Deterministic, so a call and its
 * result stay paired. out is NUL-terminated. */
void tr_tool_id_anthropic(const char *id, char *out, size_t outlen);
bool tr_tool_id_ok_anthropic(const char *id);

/* finish_reason <-> stop_reason */
const char *tr_stop_to_finish(const char *stop_reason);
const char *tr_finish_to_stop(const char *finish_reason);

/* ------------------------------------------------------------ requests */

/* Anthropic Messages request -> chat IR. model: the model to write (NULL =
 * keep the client's). When the request streams, stream_options.include_usage
 * is set. Returns 0, or -1 with err filled (invalid shape: every message an
 * object with role user or assistant and content a string or an array of
 * objects with a string "type"). Built from spans: no tree. */
int tr_req_anthropic_to_chat(const char *body, size_t len, const char *model, buf_t *out,
                             tr_warn_t *w, char *err, size_t errlen);
/* Chat request (the IR, or a client's chat body) -> Anthropic Messages
 * request for model. max_tokens defaults to 4096. */
int tr_req_chat_to_anthropic(const char *body, size_t len, const char *model, buf_t *out,
                             tr_warn_t *w, char *err, size_t errlen);
/* Append the chat messages for Responses input (a string or an items array)
 * or output items to msgs (a cJSON array). */
void tr_items_to_messages(const cJSON *items, cJSON *msgs, tr_warn_t *w);
/* Responses request body -> chat IR: history (chat messages of the expanded
 * chain, may be NULL), instructions (already inherited; may be NULL), then
 * the request's input (items checked: objects; message roles user,
 * assistant, system or developer; content a string or an array).
 * tools/tool_choice/max_output_tokens/temperature/top_p /stream map across. Returns 0 or -1 with
 * err. */
int tr_req_responses_to_chat(const char *body, size_t len, const cJSON *history,
                             const char *instructions, const char *model, buf_t *out, tr_warn_t *w,
                             char *err, size_t errlen);

/* ----------------------------------------------------- whole responses */

/* Anthropic message -> chat.completion. */
int tr_resp_anthropic_to_chat(const char *body, size_t len, buf_t *out, tr_warn_t *w);
/* chat.completion -> Anthropic message (model: name to report). */
int tr_resp_chat_to_anthropic(const char *body, size_t len, const char *model, buf_t *out,
                              tr_warn_t *w);
/* chat.completion -> Response object. Fills *output (a new cJSON array of
 * the output items, caller frees) and the usage when given. */
typedef struct tr_resp_meta {
    const char *id; /* resp_... */
    const char *model;
    const char *previous_response_id; /* NULL when none */
    const char *instructions;         /* NULL when none */
    int64_t created_at;
} tr_resp_meta_t;
int tr_resp_chat_to_responses(const char *body, size_t len, const tr_resp_meta_t *m, buf_t *out,
                              cJSON **output, tr_warn_t *w);
/* Error body of any protocol -> (status kept by the caller) message text. */
void tr_error_message(const char *body, size_t len, char *msg, size_t msglen);
/* Anthropic error type for an HTTP status (SPEC §4.6). */
const char *tr_anthropic_error_type(int status);

/* -------------------------------------------------------------- streams */

typedef enum {
    TR_S_A2C = 1, /* Anthropic events -> chat chunks */
    TR_S_C2A,     /* chat chunks -> Anthropic events */
    TR_S_C2R,     /* chat chunks -> Responses events */
} tr_stream_kind_t;

/* One output event: event name (NULL for chat chunks) and data. */
typedef void (*tr_emit_fn)(void *ud, const char *event, const char *data, size_t len);

typedef struct tr_tool_slot {
    int block;       /* Anthropic block index / Responses output index */
    char *id, *name; /* malloc'd */
    buf_t args;
} tr_tool_slot_t;

typedef struct tr_stream {
    tr_stream_kind_t kind;
    tr_emit_fn emit;
    void *ud;
    tr_warn_t *warn;
    char *model; /* malloc'd */
    char id[64];
    int64_t created;
    bool include_usage; /* A2C: emit the usage chunk */
    bool started, finished;
    /* usage */
    int64_t in_tok, out_tok, cache_read, cache_write, reasoning_tok;
    char finish[32];
    /* A2C: block index -> kind / tool slot */
    int blk_kind[64]; /* 0 none, 1 text, 2 tool, 3 thinking, 4 other */
    int blk_tool[64];
    int n_tools;
    /* C2A / C2R */
    int open_block; /* -1 none */
    int open_kind;  /* 1 text, 2 tool */
    int next_block;
    tr_tool_slot_t tools[32];
    buf_t text;     /* C2R: accumulated text */
    int text_index; /* C2R: output index of the message item, -1 none */
    char msg_id[40];
    int seq;                    /* C2R sequence_number */
    const tr_resp_meta_t *meta; /* C2R */
    cJSON *output;              /* C2R: final output items (owned until taken) */
} tr_stream_t;

/* A chat stream assembled into one chat.completion (translate_assemble.c),
 * for a non-stream client whose upstream streamed anyway. */
typedef struct tr_asm {
    char *id, *model; /* malloc'd, from the first chunk */
    int64_t created;
    buf_t text;
    bool has_text;
    tr_tool_slot_t tools[32]; /* by the chunks' tool-call index (block) */
    int n_tools;
    char finish[32];
    cJSON *usage; /* the last usage object seen */
    int chunks;   /* chunks that were JSON objects */
} tr_asm_t;
void tr_asm_init(tr_asm_t *a);
/* Feed one chat.completion.chunk (data of an SSE event; "[DONE]" ignored). */
void tr_asm_chunk(tr_asm_t *a, const char *data, size_t len);
/* Append the assembled chat.completion JSON to out. */
void tr_asm_finish(tr_asm_t *a, buf_t *out);
void tr_asm_deinit(tr_asm_t *a);

void tr_stream_init(tr_stream_t *s, tr_stream_kind_t kind, const char *model, tr_emit_fn emit,
                    void *ud, tr_warn_t *w);
/* Feed one upstream event (event name may be NULL/""). */
void tr_stream_event(tr_stream_t *s, const char *event, const char *data, size_t len);
/* Upstream ended: emit whatever closes the client's stream (idempotent). */
void tr_stream_end(tr_stream_t *s);
void tr_stream_deinit(tr_stream_t *s);
#endif
