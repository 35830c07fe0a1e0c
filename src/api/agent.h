/* agent.h - the agent endpoints (SPEC §4.1, §4.4, §4.5): POST /v1/messages,
 * POST /v1/messages/count_tokens, POST /v1/responses, GET/DELETE
 * /v1/responses/{id}, GET /v1/responses/{id}/input_items, and the
 * translated path of a chat-completions client whose routed model speaks
 * Anthropic (api_format: anthropic).
 *
 * Each request handler takes ownership of the config reference and releases
 * it when the response is finished. Worker-thread only. The response store
 * is process-wide (created from the first config's global.stores.responses). */
#ifndef TETHER_API_AGENT_H
#define TETHER_API_AGENT_H
#include "api/app.h"
#include "route/pipeline.h"

void api_messages(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref);
void api_messages_count_tokens(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref);
void api_responses(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref);
/* GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items */
void api_responses_item(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref);

/* A chat-completions request routed to an Anthropic-format model: chat.c
 * hands it over after routing (plan OK). Takes ownership of ref; copies
 * env, rin and plan (their pointers must live in the request arena). */
void api_agent_chat_to_anthropic(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref,
                                 const route_env_t *env, const route_in_t *rin,
                                 const route_plan_t *plan);

/* Scan a client's body (arena: build msgs, or NULL) with the configured
 * message cap and answer in the client's shape when it cannot be routed:
 * malformed JSON (400 invalid_json), not an object (400), too many messages
 * or input items (413 too_many_messages, logged and counted), a duplicated
 * top-level key tether reads (400 duplicate_key). Returns false after
 * answering (ref released). */
bool api_scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, arena_t *arena,
                     jreq_t *jr);

/* Anthropic-shaped error {"type":"error","error":{"type","message"}}. */
void api_error_anthropic(hsrv_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct rstore;
/* The process-wide response store (tests may read it). */
struct rstore *api_response_store(const cfg_t *cfg);
#endif
