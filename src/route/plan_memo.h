/* plan_memo.h - the routing parts of a replay record (the decision trace,
 * the signal results, the candidates) through a per-thread memo of their
 * JSON (issue 12). Requests that take the same path with the same signal
 * results render the same bytes (but for the signals' latencies), so the
 * worker remembers the last few renderings of each part and copies one
 * instead of rendering again.
 *
 * A rendering is remembered under a key holding everything the renderer
 * reads of the plan for that part (every string's bytes, every number's
 * bits, every flag), so equal keys give equal bytes whatever changed in
 * between: a config reload, other signal results, another session. The
 * signals' latencies are left out of the key and put into the remembered
 * template on every request (route_signals_json_fill).
 *
 * Output is byte for byte dec_result_json(&plan->dec),
 * route_signals_json(plan) and route_candidates_json(plan). Per thread, no
 * lock; the memory is allocated once per thread and freed at its exit. */
#ifndef TETHER_ROUTE_PLAN_MEMO_H
#define TETHER_ROUTE_PLAN_MEMO_H
#include "core/buf.h"
#include "route/pipeline.h"
#include <stdint.h>

typedef enum {
    ROUTE_PART_TRACE = 0,  /* dec_result_json(&plan->dec) (the plan ran a decision) */
    ROUTE_PART_SIGNALS,    /* route_signals_json(plan) */
    ROUTE_PART_CANDIDATES, /* route_candidates_json(plan) */
    ROUTE_PART__N
} route_part_t;

/* The part's JSON: *len bytes, in this thread's memo (valid until the next
 * call on this thread) or in scratch (reset first). */
const char *route_part_json(const route_plan_t *plan, route_part_t part, buf_t *scratch,
                            size_t *len);

/* Calls of route_part_json this thread answered from its memo (tests,
 * profiles), and forgetting every remembered part (tests). */
uint64_t route_part_memo_hits(void);
void route_part_memo_reset(void);
#endif
