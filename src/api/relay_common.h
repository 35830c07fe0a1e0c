/* relay_common.h - helpers shared by the two proxies (chat_relay.c /
 * chat.c for chat completions, agent.c / agent_relay.c for the agent
 * endpoints): response header building, the routing headers of a plan, the
 * fallback choice after a model failed, and the policy re-decision without
 * the current model. Worker-thread only; nothing here answers the client. */
#ifndef TETHER_API_RELAY_COMMON_H
#define TETHER_API_RELAY_COMMON_H
#include "core/arena.h"
#include "http/server.h"
#include "route/pipeline.h"
#include <stdbool.h>

/* Append one response header (pointers are kept, not copied); returns n+1. */
int relay_add_h(hsrv_header_t *h, int n, const char *name, const char *value);

/* The session phase label of a plan ("none" when the policy did not run). */
const char *relay_phase_label(const route_plan_t *pl);

/* The routing headers of a plan: x-tether-decision, -algorithm,
 * -confidence, -recipe, -session-phase, -session-reason, -session and
 * -session-source. Returns the new count. */
int relay_plan_headers(hsrv_header_t *h, int n, const route_plan_t *pl, const char *conf);

/* §4.6 / §9.6 step 9: the model `current` failed for this request and
 * nothing locks the session: the next admissible, available candidate by
 * session score that is neither `current` nor in tried[], else the default
 * model. On a choice, logs the fallback, counts it and sets
 * pl->pol.fallback. NULL when there is nothing to fall back to. */
const cfg_model_t *relay_fallback_model(const cfg_t *cfg, route_plan_t *pl, const char *request_id,
                                        const char *current, const char *const *tried, int n_tried);

/* §9.4 after failures: re-run the session policy of pl without its current
 * model (facts may differ from pl->facts). Fills *out and *current (an arena
 * copy of the model given up on); true when out names another model. */
bool relay_redecide_without_current(const route_plan_t *pl, const sess_facts_t *facts, arena_t *a,
                                    const char **current, sess_policy_out_t *out);
#endif
