/* saar_metrics.h - the BENCH_SAAR.md metrics: per-turn costs (reference and
 * fair), tallies per policy, and the summary against the prompt-level router.
 * Reads ground truth (phase, history) that policies never see. Pure
 * functions over caller-owned structs; thread-safe. */
#ifndef TETHER_BENCH_SAAR_METRICS_H
#define TETHER_BENCH_SAAR_METRICS_H
#include "bench/saar_checker.h"
#include "bench/saar_workload.h"

typedef struct saar_tally {
    long turns;
    long switches;
    long unsafe_tool_loop, unsafe_provider_state;
    long under_served;
    long check_errors;     /* bodies the checker could not parse (should be 0) */
    double reference_cost; /* dollars */
    double fair_cost;      /* dollars */
    double quality_sum;
} saar_tally_t;

/* What happened on one turn under one policy. */
typedef struct saar_outcome {
    int chosen;             /* model index */
    int prev_model;         /* previous turn's model; qwen3-8b before turn 0 */
    int prev_prompt_tokens; /* previous turn's P, or -1 on the first turn */
    saar_verdict_t verdict;
    int reference_uncached; /* 1 for the prompt-level router: r = 0 */
} saar_outcome_t;

/* The spec's price formula. */
double saar_price(int model, long prompt, long cached, long completion);
/* Cache ratio r of the reference cost for a session policy (not prompt-level). */
double saar_reference_ratio(const saar_turn_t *turn, int model, int switched);
double saar_reference_cost(const saar_turn_t *turn, const saar_outcome_t *o);
double saar_fair_cost(const saar_turn_t *turn, const saar_outcome_t *o);

void saar_tally_add(saar_tally_t *t, const saar_turn_t *turn, const saar_outcome_t *o);
void saar_tally_merge(saar_tally_t *into, const saar_tally_t *from);

typedef struct saar_summary {
    long turns, switches, unsafe, unsafe_tool_loop, unsafe_provider_state, under_served;
    double switch_reduction_pct;
    double reference_cost, reference_cost_cut_pct;
    double fair_cost, fair_cost_cut_pct;
    double under_served_pct;
    double mean_quality, quality_delta;
} saar_summary_t;

/* Summarise t against the prompt-level baseline (cuts and deltas are 0 when
 * t is the baseline itself). */
void saar_summarize(const saar_tally_t *t, const saar_tally_t *baseline, saar_summary_t *out);
#endif
