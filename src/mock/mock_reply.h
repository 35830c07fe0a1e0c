/* mock_reply.h - the pure half of `tether mock`: read a chat request (cJSON
 * tree), build its canonical text, count tokens, decide the deterministic
 * reply (text or a tool call, plus reasoning state when asked), and render it
 * as an OpenAI chat completion body or as SSE chunks. Also the hashed
 * embedding vectors of /v1/embeddings.
 *
 * Token unit: one token = 4 bytes of canonical text, prompt_tokens =
 * ceil(len/4). Canonical text of a message list: for each message,
 * "<role>\n<content>\n" where content is the string content, or the text parts
 * of an array content joined ("[image]" for other parts), followed by one
 * line "[tool_call <id> <name> <arguments>]" per assistant tool call and
 * "[tool_result <tool_call_id>]" for tool messages.
 *
 * Nothing here is shared with the router: the mock judges sessions by itself.
 * Thread-safety: all functions are pure/reentrant; structs are owned by the
 * caller. */
#ifndef TETHER_MOCK_REPLY_H
#define TETHER_MOCK_REPLY_H
#include "core/buf.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOCK_TOKEN_BYTES 4

/* View of a parsed chat-completions request. Pointers point into `root`,
 * which the view does not own. */
typedef struct mock_chat {
    const cJSON *root;
    const char *model; /* NULL when missing or not a string */
    bool stream;
    bool include_usage;     /* stream_options.include_usage */
    bool wants_reasoning;   /* reasoning_effort or reasoning{} present */
    const cJSON *tools;     /* non-empty array, else NULL */
    const cJSON *messages;  /* array, else NULL */
    const char *first_user; /* text of the first user message ("" if none) */
    const char *last_text;  /* text of the last message */
    bool last_is_user;      /* the last message has role "user" */
    buf_t canon;            /* canonical text (owned; mock_chat_deinit) */
} mock_chat_t;

/* Fill `c` from a parsed request. Returns 0, or -1 with a message in err
 * ("messages must be an array", ...) for an unusable request. */
int mock_chat_init(mock_chat_t *c, const cJSON *root, char *err, size_t errlen);
void mock_chat_deinit(mock_chat_t *c);

/* Text of a message content (string, or text parts joined) appended to out. */
void mock_content_text(const cJSON *content, buf_t *out);

/* ceil(n / MOCK_TOKEN_BYTES) */
static inline uint64_t mock_tokens(size_t n)
{
    return (n + MOCK_TOKEN_BYTES - 1) / MOCK_TOKEN_BYTES;
}

/* True when the text asks for a tool: contains "use the tool" or "call the
 * tool" (case-insensitive), or the word "run" followed by a space. */
bool mock_asks_for_tool(const char *text);

typedef struct mock_reply {
    uint64_t hash; /* of canonical text + seed: every choice derives from it */
    char id[48];   /* chatcmpl-<16 hex> */
    char *content; /* malloc'd; NULL when the reply is a tool call */
    size_t content_len;
    /* tool call (when is_tool_call) */
    bool is_tool_call;
    char call_id[40]; /* call_<16 hex> */
    char *tool_name;  /* malloc'd */
    char *tool_args;  /* malloc'd JSON text */
    /* reasoning state (when has_reasoning) */
    bool has_reasoning;
    char *reasoning_text;   /* malloc'd */
    char reasoning_sig[40]; /* sig_<16 hex> (thinking signature) */
    char reasoning_enc[40]; /* enc_<16 hex> (encrypted reasoning item) */
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
    const char *finish_reason; /* "stop" | "tool_calls" */
} mock_reply_t;

/* Decide the reply to a chat request. reply_bytes > 0 forces a fixed text of
 * that many bytes (benchmarks), still a tool call when one is asked for. */
void mock_reply_build(mock_reply_t *r, const mock_chat_t *c, uint64_t seed, size_t reply_bytes);
void mock_reply_deinit(mock_reply_t *r);

/* Benchmark fast path (--reply-bytes without --strict): a light scan of the
 * top level of a chat request, no tree. Not a validating parser: it only
 * checks brackets and strings well enough to find the keys. */
typedef struct mock_peek {
    const char *model; /* NULL when missing, not a string, or escaped */
    size_t model_len;
    bool model_escaped;
    bool stream;
    bool include_usage;
    const char *messages; /* raw JSON span of the messages value, or NULL */
    size_t messages_len;
} mock_peek_t;

/* Returns 0, or -1 when the body is not a JSON object. */
int mock_peek(const char *body, size_t len, mock_peek_t *p);

/* A fixed text reply of reply_bytes (> 0) for the fast path: the id derives
 * from hash, prompt tokens are given. */
void mock_reply_fixed(mock_reply_t *r, uint64_t hash, uint64_t prompt_tokens, size_t reply_bytes);

/* Full non-streaming body. */
void mock_render_chat_json(const mock_reply_t *r, const char *model, uint64_t created,
                           uint64_t cached_tokens, buf_t *out);

/* Streaming: the SSE events ("data: {...}\n\n"), one buf per chunk, in order:
 * role delta, content deltas (or tool-call deltas), finish chunk, usage chunk
 * (when include_usage), "data: [DONE]\n\n". Returns the number of chunks and
 * sets *chunks (malloc'd array of buf_t; free with mock_chunks_free). */
size_t mock_render_chat_sse(const mock_reply_t *r, const char *model, uint64_t created,
                            uint64_t cached_tokens, bool include_usage, buf_t **chunks);
void mock_chunks_free(buf_t *chunks, size_t n);

/* OpenAI error body {"error":{"message","type","param":null,"code"}}. */
void mock_render_error(buf_t *out, const char *type, const char *code, const char *message);

/* Deterministic embedding of text: hashed word unigrams and character
 * trigrams (lowercased ASCII), signed, L2-normalised. dims >= 1. */
void mock_embed(const char *text, size_t len, uint64_t seed, float *vec, int dims);
#endif
