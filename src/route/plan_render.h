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
/* The signal results the plan's JSON shows (after the projections when the
 * decision ran). */
static inline const sig_results_t *route_plan_signals(const route_plan_t *p)
{
    return p->ran_decision ? &p->dec.proj.sig : &p->sig;
}
/* route_signals_json in two steps, for a memo of its bytes (plan_memo.h):
 * _cut renders everything but the latency values (which change on every
 * request) and sets cuts[i] (one per signal) to the offset where signal
 * i's digits go; _fill appends that template with the latencies of plan's
 * signals put in, which is route_signals_json's bytes for a plan whose
 * signal results equal, but for the latencies, those the template came
 * from. */
void route_signals_json_cut(buf_t *out, const route_plan_t *plan, size_t *cuts);
void route_signals_json_fill(buf_t *out, const char *tmpl, size_t len, const size_t *cuts,
                             const route_plan_t *plan);
/* Text form for `tether eval` (signals, decision trace, selection, session). */
void route_plan_text(buf_t *out, const route_plan_t *plan, bool with_trace);
#endif
