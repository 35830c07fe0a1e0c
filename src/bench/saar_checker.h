/* saar_checker.h - the benchmark's independent continuity checker. It reads a
 * request body (cJSON tree, its own code: nothing shared with tether's request
 * scanner or any session policy) and the model a policy chose, and judges
 * whether serving that request on that model breaks continuity:
 *   tool loop       a switch while an assistant tool call has no result, or
 *                   while tool results are the latest messages;
 *   provider state  a switch while the request carries state only the previous
 *                   model's provider can read (previous_response_id, encrypted
 *                   reasoning, signed/redacted thinking, thought signatures).
 * Understands chat completions (tool_calls / tool messages, reasoning_details)
 * and Anthropic blocks (tool_use / tool_result, thinking / redacted_thinking).
 * Thread-safe (no shared state). */
#ifndef TETHER_BENCH_SAAR_CHECKER_H
#define TETHER_BENCH_SAAR_CHECKER_H
#include <stddef.h>

typedef enum {
    SAAR_SAFE = 0,
    SAAR_UNSAFE_TOOL_LOOP,
    SAAR_UNSAFE_PROVIDER_STATE,
} saar_verdict_t;

typedef struct saar_check {
    int is_switch;            /* chosen differs from previous */
    int tool_call_unanswered; /* some assistant tool call has no result */
    int tool_results_latest;  /* the last message(s) are tool results */
    int has_provider_state;
    char state_owner[64]; /* issuing model from a "tb1:" token, else "" */
    saar_verdict_t verdict;
} saar_check_t;

/* Judge one turn. prev_model: the model that served the session's previous
 * turn; chosen_model: the model picked for this request. Returns 0, or -1
 * when the body is not a JSON object (out->verdict is then SAAR_SAFE and the
 * caller should count an error). */
int saar_check_turn(const char *body, size_t len, const char *prev_model, const char *chosen_model,
                    saar_check_t *out);

/* The two halves of saar_check_turn, for callers that judge one body against
 * several choices: scan the body once (facts only; is_switch and verdict are
 * left 0), then judge a (previous, chosen) pair on those facts. */
int saar_check_scan(const char *body, size_t len, saar_check_t *facts);
void saar_check_judge(saar_check_t *c, const char *prev_model, const char *chosen_model);

const char *saar_verdict_name(saar_verdict_t v);
#endif
