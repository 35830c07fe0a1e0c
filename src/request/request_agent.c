/* request_agent.c - rq_t for Anthropic Messages and Responses requests:
 * chat facts from the IR, protocol facts and bindings from the client body. */
#include "request/request_agent.h"
#include <string.h>

static bool has(const char *b, size_t n, const char *lit)
{
    return jscan_contains(b, n, lit, strlen(lit));
}

static const char *top_str(arena_t *a, const char *body, size_t len, const char *key,
                           const char *sub)
{
    jspan_t doc = {0, (uint32_t)len}, v, v2;
    if (!jscan_obj_get(body, doc, key, &v)) return NULL;
    if (sub) {
        if (jscan_type(body, v) != '{' || !jscan_obj_get(body, v, sub, &v2)) return NULL;
        v = v2;
    }
    if (jscan_type(body, v) != '"') return NULL;
    return jscan_unescape(a, body, v, NULL);
}

static rq_t *agent_common(rq_proto_t proto, arena_t *a, const char *client, size_t client_len,
                          const char *ir, size_t ir_len, const jreq_t *jr_ir,
                          const rq_header_t *headers, size_t n_headers)
{
    rq_t *r = rq_from_chat(a, ir, ir_len, jr_ir, headers, n_headers);
    if (!r) return NULL;
    r->proto = proto;
    /* bindings: cheap byte probes first, which only ever add state */
    if (has(client, client_len, "\"redacted_thinking\"") ||
        (has(client, client_len, "\"thinking\"") && has(client, client_len, "\"signature\"")))
        r->bindings |= RQ_BIND_SIGNED_THINKING;
    if (has(client, client_len, "\"encrypted_content\""))
        r->bindings |= RQ_BIND_ENCRYPTED_REASONING;
    if (has(client, client_len, "\"server_tool_use\"") ||
        has(client, client_len, "\"container\"") ||
        has(client, client_len, "\"web_search_call\"") ||
        has(client, client_len, "\"code_interpreter_call\"") ||
        has(client, client_len, "\"computer_call\"") ||
        has(client, client_len, "\"mcp_approval_request\""))
        r->bindings |= RQ_BIND_SERVER_TOOL_STATE;
    return r;
}

rq_t *rq_from_anthropic(arena_t *a, const char *client, size_t client_len, const char *ir,
                        size_t ir_len, const jreq_t *jr_ir, const rq_header_t *headers,
                        size_t n_headers)
{
    rq_t *r = agent_common(RQ_PROTO_ANTHROPIC, a, client, client_len, ir, ir_len, jr_ir, headers,
                           n_headers);
    if (!r) return NULL;
    const char *u = top_str(a, client, client_len, "metadata", "user_id");
    if (u) r->metadata_user_id = u;
    return r;
}

rq_t *rq_from_responses(arena_t *a, const char *client, size_t client_len, const char *ir,
                        size_t ir_len, const jreq_t *jr_ir, const rq_header_t *headers,
                        size_t n_headers)
{
    rq_t *r = agent_common(RQ_PROTO_RESPONSES, a, client, client_len, ir, ir_len, jr_ir, headers,
                           n_headers);
    if (!r) return NULL;
    const char *p = top_str(a, client, client_len, "previous_response_id", NULL);
    if (p) {
        r->previous_response_id = p;
        r->bindings |= RQ_BIND_PREVIOUS_RESPONSE_ID;
    }
    const char *c = top_str(a, client, client_len, "conversation", NULL);
    if (!c) c = top_str(a, client, client_len, "conversation", "id");
    if (c) r->conversation = c;
    const char *k = top_str(a, client, client_len, "prompt_cache_key", NULL);
    if (k) r->prompt_cache_key = k;
    const char *sid = top_str(a, client, client_len, "metadata", "session_id");
    if (sid) r->metadata_session_id = sid;
    return r;
}
