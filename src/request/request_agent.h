/* request_agent.h - request facts (rq_t) for the agent protocols: an
 * Anthropic Messages or Responses request is normalised to a chat body (the
 * chat IR, api/translate.h) and its facts are built from that IR, then the
 * protocol-specific facts are taken from the client's own body: proto, the
 * §9.4 bindings (signed/redacted thinking, encrypted reasoning, server tool
 * state, previous_response_id) and identity sources (metadata.user_id,
 * conversation). Same ownership and threading as request.h. */
#ifndef TETHER_REQUEST_REQUEST_AGENT_H
#define TETHER_REQUEST_REQUEST_AGENT_H
#include "request/request.h"

/* ir/jr_ir: the chat IR and its scan (jscan_request with the arena); client:
 * the client's body. Returns NULL when the IR has no messages. */
rq_t *rq_from_anthropic(arena_t *a, const char *client, size_t client_len, const char *ir,
                        size_t ir_len, const jreq_t *jr_ir, const rq_header_t *headers,
                        size_t n_headers);
rq_t *rq_from_responses(arena_t *a, const char *client, size_t client_len, const char *ir,
                        size_t ir_len, const jreq_t *jr_ir, const rq_header_t *headers,
                        size_t n_headers);
#endif
