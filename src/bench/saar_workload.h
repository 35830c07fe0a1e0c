/* saar_workload.h - the session-routing benchmark's workload (BENCH_SAAR.md):
 * the three priced models, the scenario table (six built in, more from a JSON
 * scenario file) and the bit-exact generation of one run's turns.
 * Pure data and functions; no globals mutated; thread-safe. */
#ifndef TETHER_BENCH_SAAR_WORKLOAD_H
#define TETHER_BENCH_SAAR_WORKLOAD_H
#include <stddef.h>
#include <stdint.h>

#define SAAR_N_MODELS  3
#define SAAR_MAX_SLOTS 16
#define SAAR_NAME_MAX  64

enum { SAAR_QWEN3_8B = 0, SAAR_QWEN3_32B = 1, SAAR_FRONTIER = 2 };

typedef struct saar_model {
    const char *name;
    double quality;
    double prompt_per_1m, completion_per_1m, cached_per_1m;
} saar_model_t;

/* The three models of the spec, index = SAAR_QWEN3_8B.. (cheapest first). */
extern const saar_model_t saar_models[SAAR_N_MODELS];
/* Model index by name, or -1. */
int saar_model_index(const char *name);
/* Per-turn base choice (what a prompt-level router picks) for a demand. */
int saar_base_choice(double demand);

typedef enum { SAAR_IDLE_SINGLE = 0, SAAR_IDLE_RARE, SAAR_IDLE_FREQUENT } saar_idle_mode_t;

typedef enum {
    SAAR_PHASE_USER = 0,
    SAAR_PHASE_TOOL_LOOP,
    SAAR_PHASE_PROVIDER_STATE,
    SAAR_PHASE_TOPIC_DRIFT,
} saar_phase_t;
const char *saar_phase_name(saar_phase_t p);

typedef struct saar_slots {
    int cycle;                /* 0: the feature is absent */
    int n;                    /* slots used */
    int slot[SAAR_MAX_SLOTS]; /* each in [0, cycle) */
} saar_slots_t;

/* One row of the scenario table; field names follow the scenario-file keys. */
typedef struct saar_scenario {
    char name[SAAR_NAME_MAX];
    double base_demand, progress_weight, phase_bonus, wave_amplitude, noise;
    saar_slots_t tool; /* tool_cycle / tool_slots */
    int history_min, history_max;
    saar_idle_mode_t idle_mode;
    double remaining_turn_prior;
    double token_growth;
    saar_slots_t state; /* state_cycle / state_slots (cycle 0 = none) */
    saar_slots_t drift; /* drift_cycle / drift_slots (cycle 0 = none) */
} saar_scenario_t;

#define SAAR_N_BUILTIN 6
extern const saar_scenario_t saar_builtin_scenarios[SAAR_N_BUILTIN];
/* Built-in scenario by name, or NULL. */
const saar_scenario_t *saar_scenario_find(const char *name);

/* Parse a scenario file: one object, an array of objects, or
 * {"scenarios": [...]}. On success *out is a malloc'd array the caller frees
 * and *n its length; on failure returns -1 and writes a message naming the
 * scenario and field into err. */
int saar_scenarios_parse(const char *json, size_t len, saar_scenario_t **out, size_t *n, char *err,
                         size_t errlen);
int saar_scenarios_load(const char *path, saar_scenario_t **out, size_t *n, char *err,
                        size_t errlen);
/* Semantic checks of one scenario (cycles, slots, ranges); -1 + err on error. */
int saar_scenario_validate(const saar_scenario_t *s, char *err, size_t errlen);

/* One generated turn. Everything here is ground truth for metrics; a policy
 * never sees it (it sees the request built from it, see saar_request.h). */
typedef struct saar_turn {
    int session; /* 0..sessions-1, id "sess-%03d" */
    int t;       /* turn within the session */
    saar_phase_t phase;
    int is_idle;
    double demand;
    int history;           /* history tokens before this turn */
    int prompt_tokens;     /* P = 800 + history */
    int completion_tokens; /* C = 220 + int(180 * demand) */
    int base_model;        /* saar_base_choice(demand) */
} saar_turn_t;

#define SAAR_IDLE_TIMEOUT_S 300

/* Generate one (scenario, seed) run: sessions*turns records, session-major,
 * into out (caller-sized). One MT19937 generator per run, seeded with seed. */
void saar_generate(const saar_scenario_t *s, uint32_t seed, int sessions, int turns,
                   saar_turn_t *out);
/* Format an error into err (n bytes; nothing when err is NULL or n is 0)
 * and return -1: the error convention of the saar_* functions. */
int saar_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
