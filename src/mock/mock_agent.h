/* mock_agent.h - `tether mock` for the agent protocols: read an Anthropic
 * Messages or Responses request as a chat request (the mock's own small
 * reading, nothing shared with the router), and render the deterministic
 * reply as an Anthropic message / Anthropic SSE events, or as a Response /
 * Responses SSE events. Signed thinking blocks when `thinking` is enabled;
 * prefix-cache hits as cache_read_input_tokens / cached_tokens.
 * Pure functions; caller owns every output. */
#ifndef TETHER_MOCK_AGENT_H
#define TETHER_MOCK_AGENT_H
#include "mock/mock_reply.h"

typedef enum { MOCK_SHAPE_CHAT = 0, MOCK_SHAPE_ANTHROPIC, MOCK_SHAPE_RESPONSES } mock_shape_t;

/* A chat-request tree equivalent to an Anthropic or Responses request (new
 * tree, caller deletes). Returns NULL with err on an unusable request. */
cJSON *mock_agent_to_chat(const cJSON *root, mock_shape_t shape, char *err, size_t errlen);

void mock_render_anthropic_json(const mock_reply_t *r, const char *model, uint64_t cached,
                                buf_t *out);
size_t mock_render_anthropic_sse(const mock_reply_t *r, const char *model, uint64_t cached,
                                 buf_t **chunks);
/* resp_id: "resp_<16 hex>"; prev may be NULL. */
void mock_render_responses_json(const mock_reply_t *r, const char *model, uint64_t created,
                                uint64_t cached, const char *resp_id, const char *prev, buf_t *out);
size_t mock_render_responses_sse(const mock_reply_t *r, const char *model, uint64_t created,
                                 uint64_t cached, const char *resp_id, const char *prev,
                                 buf_t **chunks);
/* Anthropic error body. */
void mock_render_anthropic_error(buf_t *out, const char *type, const char *message);
#endif
