/* trace.h - replay records for routed requests (see trace.c). Worker-thread
 * only; the queue push is thread-safe and never blocks. */
#ifndef TETHER_UPSTREAM_TRACE_H
#define TETHER_UPSTREAM_TRACE_H
#include "core/clock.h"
#include "replay/queue.h"
#include "replay/record.h"
#include "route/pipeline.h"

typedef struct up_trace_rec_outcome {
    const char *backend;
    const char *response_path; /* upstream | fast_response | error */
    int status;
    int attempts;
    int64_t prompt_tokens, cached_tokens, completion_tokens;
    const char *currency;
    double cost, baseline_cost;
    double ttft_ms, total_ms;
    const char *plugins_json;
} up_trace_rec_outcome_t;

/* A record with the routing part filled; its id goes in x-tether-replay-id. */
replay_record_t *up_trace_rec_begin(const route_plan_t *plan, const char *request_id,
                                    const char *endpoint, const char *client_protocol,
                                    const char *upstream_protocol);
/* Fill the outcome and push (or free when q is NULL). Takes ownership of r. */
void up_trace_rec_finish(replay_record_t *r, const up_trace_rec_outcome_t *o, replay_queue_t *q);
#endif
