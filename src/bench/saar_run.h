/* saar_run.h - the `bench saar` runner and its policy interface.
 *
 * A policy sees, per turn, exactly what a router sees (saar_turn_ctx_t): the
 * request body and headers, the base selector's scores for the candidates,
 * the clock, and the model that served the session's previous turn. It never
 * sees the phase label or demand. The runner builds every request, asks each
 * policy, has the independent checker judge the choice, and tallies metrics.
 *
 * Policies come from a registry (saar_policies.c). Names with no factory yet
 * (tether and its ablations, until the session policy of issue 5 lands) are
 * reported as skipped, never with made-up numbers.
 * A run is single-threaded; results are owned by the caller. */
#ifndef TETHER_BENCH_SAAR_RUN_H
#define TETHER_BENCH_SAAR_RUN_H
#include "bench/saar_metrics.h"
#include "bench/saar_request.h"
#include "bench/saar_workload.h"
#include <stdint.h>
#include <stdio.h>

typedef struct saar_turn_ctx {
    const char *body; /* chat-completions JSON, NUL-terminated */
    size_t body_len;
    const saar_header_t *headers; /* x-session-id, content-type */
    size_t n_headers;
    const double *base_scores;  /* [n_models]; the base choice has the top score */
    const saar_model_t *models; /* [n_models] candidates (names, quality, prices) */
    int n_models;
    uint64_t clock_ms; /* wall clock of this turn */
    int prev_model;    /* model that served this session's previous turn; -1 at its first */
    /* H: tokens of the conversation before this turn's new input. The body
     * carries only the last exchange (the workload's history is a token
     * count, not text), so this stands in for the estimate a router makes
     * from a client's full body. Policies that estimate H from the body
     * instead (the tether rows) ignore it. */
    int history_tokens;
} saar_turn_ctx_t;

/* Facts a router's config would hold for a run (never phase labels). */
typedef struct saar_run_info {
    const char *scenario;
    uint32_t seed;
    int sessions, turns;
    double remaining_turn_prior; /* the scenario's prior, as a config knob */
    int idle_timeout_s;          /* SAAR_IDLE_TIMEOUT_S */
} saar_run_info_t;

typedef struct saar_policy {
    const char *name;
    void *state;
    /* Optional: a fresh (scenario, seed) run starts; session ids repeat
     * across runs ("sess-000"...), so session memory must be dropped here. */
    int (*begin_run)(void *state, const saar_run_info_t *info);
    /* Return the chosen model index in [0, n_models), or -1 on error. */
    int (*choose)(void *state, const saar_turn_ctx_t *ctx);
    /* Optional: release state. */
    void (*free)(void *state);
} saar_policy_t;

/* Ablation switches for the tether policy (issue 5). */
enum {
    SAAR_TETHER_FULL = 0,
    SAAR_TETHER_NO_TOOL_LOCK = 1u << 0,
    SAAR_TETHER_NO_STATE_LOCK = 1u << 1,
    SAAR_TETHER_NO_DRIFT_RESET = 1u << 2,
    SAAR_TETHER_NO_IDLE_RESET = 1u << 3,
    SAAR_TETHER_NO_PRICE_MULTIPLIER = 1u << 4,
    /* not an ablation: the default session config with only the benchmark's
     * model cards (none of the benchmark's session keys) */
    SAAR_TETHER_DEFAULTS = 1u << 5,
};

/* Fill *out (state owned by *out, released with its free). variant: an
 * ablation mask for tether, 0 otherwise. Return 0, or -1 with err. */
typedef int (*saar_policy_factory_fn)(saar_policy_t *out, unsigned variant, char *err,
                                      size_t errlen);

typedef struct saar_policy_entry {
    const char *name;
    const char *about;
    saar_policy_factory_fn factory; /* NULL: not registered yet */
    unsigned variant;
} saar_policy_entry_t;

/* The registry, in report order. */
const saar_policy_entry_t *saar_policy_registry(size_t *n);
const saar_policy_entry_t *saar_policy_lookup(const char *name);
/* Built-in baselines. */
int saar_policy_prompt_level_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen);
int saar_policy_sticky_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen);

#define SAAR_DEFAULT_SEED     20260530u
#define SAAR_DEFAULT_N_SEEDS  5
#define SAAR_DEFAULT_SESSIONS 40
#define SAAR_DEFAULT_TURNS    18

typedef struct saar_options {
    const saar_scenario_t *scenarios; /* NULL: the six built-in ones */
    size_t n_scenarios;
    const uint32_t *seeds; /* NULL: 20260530..20260534 */
    size_t n_seeds;
    int sessions, turns;         /* 0: 40, 18 */
    const char *const *policies; /* NULL: every registry entry */
    size_t n_policies;
    /* Optional entries that replace registry entries of the same name, or add
     * new names (appended to the default list): for tests and experiments. */
    const saar_policy_entry_t *extra_policies;
    size_t n_extra_policies;
    FILE *per_turn_csv;                                /* optional: one row per turn and policy */
    void (*progress)(void *ud, long done, long total); /* optional */
    void *progress_ud;
} saar_options_t;

typedef struct saar_policy_result {
    char name[48];
    int ran; /* 0: skipped, see skip_reason */
    char skip_reason[200];
    saar_tally_t tally;        /* whole matrix */
    saar_tally_t *by_scenario; /* [n_scenarios] */
    saar_summary_t summary;    /* against prompt-level */
} saar_policy_result_t;

typedef struct saar_results {
    long turns; /* workload turns (per policy) */
    size_t n_scenarios;
    char (*scenario_names)[SAAR_NAME_MAX];
    size_t n_seeds;
    uint32_t *seeds;
    int sessions, turns_per_session;
    saar_tally_t baseline; /* prompt-level, always run even when not listed */
    saar_tally_t *baseline_by_scenario;
    size_t n;
    saar_policy_result_t *policy;
} saar_results_t;

/* Run the matrix. Returns 0, or -1 with err (unknown policy name, a policy
 * error, bad options); *out is then empty. Free with saar_results_free. */
int saar_run(const saar_options_t *o, saar_results_t *out, char *err, size_t errlen);
void saar_results_free(saar_results_t *r);

/* Header line of the per-turn CSV. */
extern const char saar_per_turn_csv_header[];
#endif
