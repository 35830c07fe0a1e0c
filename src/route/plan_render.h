/* plan_render.h - a routing plan as JSON (eval API, replay, traces) and as
 * text (`tether eval`). Reads only; the plan comes from route_decide. */
#ifndef TETHER_ROUTE_PLAN_RENDER_H
#define TETHER_ROUTE_PLAN_RENDER_H
#include "core/buf.h"
#include "route/pipeline.h"

/* The whole plan as JSON: {"signals":…,"decision":{name,confidence,…},
 * "model":…,"selection":…,"session":{…},"trace":…} (eval, replay). */
void route_plan_json(buf_t *out, const route_plan_t *plan, bool with_trace);
/* The signal results ([{family, name, matched, score, label?, value?,
 * latency_us, error?}]) and the candidates with their §9.5 terms
 * ([{model, admissible, available, excluded_reason?, base, …, final}]). */
void route_signals_json(buf_t *out, const route_plan_t *plan);
void route_candidates_json(buf_t *out, const route_plan_t *plan);
/* Text form for `tether eval` (signals, decision trace, selection, session). */
void route_plan_text(buf_t *out, const route_plan_t *plan, bool with_trace);
#endif
