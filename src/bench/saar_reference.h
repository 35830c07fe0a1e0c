/* saar_reference.h - the reference session policy of BENCH_SAAR.md (the
 * published policy whose figures the benchmark quotes) as `bench saar` rows,
 * so that workloads without published figures can be compared with it.
 *
 * The rule, per turn of a session (current model c, base choice b):
 *   1. the session's first turn: b (provider state in the request binds it
 *      to the state's issuer instead);
 *   2. an active tool loop in the request: stay on c (tool-loop lock);
 *   3. provider-bound state in the request: stay on c (portability lock);
 *   4. the matched decision differs from the session's first one (the topic
 *      it opened with): b (drift reset). This is the rule behind the
 *      published figures, which reset on every turn of a drift episode;
 *      SAAR_REF_DRIFT_VS_PREVIOUS compares with the previous turn's decision
 *      instead (SPEC §9.5), resetting only where an episode starts or ends;
 *   5. more than the idle timeout since the previous turn: b (idle boundary);
 *   6. b = c: stay; otherwise switch to b only when its quality gain
 *      q(b) - q(c) exceeds the switch cost
 *        0.05 + 0.20 * M * W * F + 0.04 * min(switches / 8, 1)
 *      M = max(min(1, H / 16000), min(1, max(0, r - turn) / 8)) with H the
 *          history tokens and r the remaining-turn prior (0: none);
 *      W = min(0.85, clamp(H / 48000, 0.5, 0.72) + 0.12 in a tool loop +
 *          0.08 with provider state + 0.06 when c is frontier-reasoner);
 *      F = 1 + 1.6 * max(P(b), P(c)), P = (prompt - cached price) / max over
 *          the models.
 * It never downgrades outside a reset (a negative gain never clears the
 * cost). Facts come from the request as a router sees it (tether's scanner
 * and request facts, the benchmark's keyword decisions, the clock, the base
 * scores, ctx->history_tokens); never from the phase label.
 * Single-threaded, like every bench policy. */
#ifndef TETHER_BENCH_SAAR_REFERENCE_H
#define TETHER_BENCH_SAAR_REFERENCE_H
#include "bench/saar_run.h"

/* Variants (the published ablations, plus the spec's locks-only row). */
enum {
    SAAR_REF_FULL = 0,
    SAAR_REF_NO_IDLE_BOUNDARY = 1u << 0,
    SAAR_REF_NO_DRIFT_RESET = 1u << 1,
    SAAR_REF_LOCKS_ONLY = 1u << 2,        /* locks, otherwise the base choice */
    SAAR_REF_DRIFT_VS_PREVIOUS = 1u << 3, /* drift against the previous turn (see 4.) */
};

/* What the rule reads on one turn. */
typedef struct saar_ref_turn {
    int first_turn;              /* no earlier turn of this session */
    int turn;                    /* turns of this session before this one */
    int current;                 /* the session's model (qwen3-8b before its first turn) */
    int base;                    /* the base choice (top base score) */
    int tool_loop;               /* the request has an active tool loop */
    int provider_state;          /* the request carries provider-bound state */
    int state_issuer;            /* the model that issued it, -1 when unknown */
    int drift;                   /* the matched decision differs from the anchor (see 4.) */
    int idle;                    /* the idle timeout passed since the previous turn */
    int switches;                /* the session's switches so far */
    int history_tokens;          /* H */
    double remaining_turn_prior; /* r; <= 0: none */
} saar_ref_turn_t;

/* The rule above: the chosen model index. reason (optional) gets a static
 * name: cold_select, tool_loop_hard_lock, context_portability_hard_lock,
 * decision_drift_select, idle_select, base_selects_current,
 * quality_gain_clears_switch_cost, continuity_cost_blocks_switch, locks_only. */
int saar_reference_decide(const saar_ref_turn_t *in, unsigned variant, const char **reason);

/* The switch cost of step 6, for tests and traces. */
double saar_reference_switch_cost(const saar_ref_turn_t *in);

/* A `bench saar` row running the rule (variant: SAAR_REF_* bits). */
int saar_reference_policy_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen);
#endif
