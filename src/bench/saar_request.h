/* saar_request.h - turns one generated benchmark turn into what a router
 * really receives: a chat-completions JSON body, its headers and a clock,
 * plus the base selector's scores (the only place demand shows). The policy
 * under test reads these and nothing else; the phase label never leaks.
 *
 * How phases look on the wire:
 *   tool_loop       the conversation ends in an assistant `tool_calls` message
 *                   followed by its `tool` results;
 *   provider_state  even turns carry `previous_response_id`, odd turns an
 *                   assistant message with an encrypted `reasoning_details`
 *                   item; both were issued by the session's current model;
 *   topic_drift     the user text is creative writing, while every other turn
 *                   is about code (two routing decisions: "coding", "writing");
 *   idle            the clock is more than the idle timeout after the
 *                   previous turn.
 * Provider-bound state tokens follow the benchmark provider's convention
 * "tb1:<model>:<session>:<turn>" (response ids are "resp_" + token), so a
 * checker can tell which model issued them, as a real provider would.
 * Not thread-safe per object; objects are independent. */
#ifndef TETHER_BENCH_SAAR_REQUEST_H
#define TETHER_BENCH_SAAR_REQUEST_H
#include "bench/saar_workload.h"
#include "core/buf.h"
#include <stdint.h>

#define SAAR_STATE_TOKEN_PREFIX "tb1:"
#define SAAR_CLOCK_EPOCH_MS     1780000000000ull /* first turn of a run's session 0 */
#define SAAR_TURN_GAP_MS        45000ull         /* an ordinary gap between turns */
#define SAAR_IDLE_GAP_MS        ((SAAR_IDLE_TIMEOUT_S + 120) * 1000ull)

typedef struct saar_header {
    const char *name;
    const char *value;
} saar_header_t;

typedef struct saar_request {
    buf_t body;          /* NUL-terminated JSON */
    char session_id[32]; /* "sess-%03d" */
    saar_header_t headers[2];
    size_t n_headers;
    uint64_t clock_ms;                 /* the turn's wall clock */
    double base_scores[SAAR_N_MODELS]; /* by model index; base choice is the strict max */
} saar_request_t;

void saar_request_init(saar_request_t *r);
void saar_request_deinit(saar_request_t *r);

/* Clock of a turn: SAAR_CLOCK_EPOCH_MS + session hours at turn 0, else the
 * previous turn's clock plus SAAR_TURN_GAP_MS, or SAAR_IDLE_GAP_MS on an
 * idle turn. */
uint64_t saar_turn_clock_ms(const saar_turn_t *turn, uint64_t prev_clock_ms);

/* Base selector scores for a demand: 1 - |demand - anchor(model)| with
 * anchors placed so the argmax is saar_base_choice(demand) (a tie is broken
 * towards the base choice by 1e-6). */
void saar_base_scores(double demand, double out[SAAR_N_MODELS]);

/* Build the request of `turn` (prev_turn: the same session's previous turn,
 * or NULL at its first). state_owner: the session's current model, which
 * issued any provider-bound state in this turn. Resets r first. */
void saar_request_build(saar_request_t *r, const saar_turn_t *turn, const saar_turn_t *prev_turn,
                        int state_owner, uint64_t clock_ms);

/* The user text of a turn, and whether it is the writing (drift) topic. */
const char *saar_turn_text(const saar_turn_t *turn);
#endif
