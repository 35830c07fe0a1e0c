/* saar_heldout.h - `bench saar --held-out` (issue 19): tether and
 * tether-defaults against the reference session policy on workloads the
 * policy was not tuned on (other seeds, scenario files of our own, shifted
 * demand, longer sessions), with a verdict per workload and per scenario:
 * is the tether row dominated by the reference?
 *
 * Dominated: the reference is at least as good on every column (fewer or
 * equal under-served turns, an equal or larger fair cost cut, fewer or equal
 * unsafe switches, fewer or equal switches) and strictly better on at least
 * one. The harness runs whatever session policy the build has; nothing here
 * is tied to today's figures. Single-threaded; results owned by the caller. */
#ifndef TETHER_BENCH_SAAR_HELDOUT_H
#define TETHER_BENCH_SAAR_HELDOUT_H
#include "bench/saar_metrics.h"
#include "bench/saar_workload.h"
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

/* 1 when a is dominated by b (see above), else 0. Same workload assumed. */
int saar_dominated(const saar_summary_t *a, const saar_summary_t *b);
/* 1 when a and b are equal on all four columns (not dominated, but no lead). */
int saar_tied(const saar_summary_t *a, const saar_summary_t *b);

/* The policies compared: subjects (tether rows) and references. */
#define SAAR_HO_SUBJECTS   2 /* tether, tether-defaults */
#define SAAR_HO_REFERENCES 2 /* reference-session, reference-drift-vs-previous */
#define SAAR_HO_POLICIES   (SAAR_HO_SUBJECTS + SAAR_HO_REFERENCES)
extern const char *const saar_heldout_policies[SAAR_HO_POLICIES]; /* subjects first */

typedef struct saar_heldout_workload {
    char name[96];
    saar_scenario_t *scenarios; /* owned by the list (see saar_heldout_list_free) */
    size_t n_scenarios;
    uint32_t seeds[64];
    size_t n_seeds;
    int sessions, turns; /* 0: 40, 18 */
} saar_heldout_workload_t;

/* The built-in held-out list: the six scenarios on seeds 1,2,3 and on the
 * five seeds after the tuned ones; our scenario files (mixed-agent, and
 * long-agent / cheap-chat / hard-reasoning) on the tuned and other seeds;
 * the six with base demand shifted by +-0.08; the six with 30-turn
 * sessions. sessions/turns > 0 override every workload's. Returns a malloc'd
 * array (*n entries); free with saar_heldout_list_free. */
saar_heldout_workload_t *saar_heldout_default_list(size_t *n, int sessions, int turns);
void saar_heldout_list_free(saar_heldout_workload_t *w, size_t n);

typedef struct saar_heldout_row {
    char workload[96];
    char scenario[SAAR_NAME_MAX]; /* "" for the whole workload */
    long turns;
    saar_summary_t s[SAAR_HO_POLICIES];                  /* saar_heldout_policies order */
    int dominated[SAAR_HO_SUBJECTS][SAAR_HO_REFERENCES]; /* subject by reference */
    int tied[SAAR_HO_SUBJECTS][SAAR_HO_REFERENCES];
} saar_heldout_row_t;

typedef struct saar_heldout_results {
    saar_heldout_row_t *rows;
    size_t n;
} saar_heldout_results_t;

/* Run each workload (all four policies plus the prompt-level baseline) and
 * fill one row per workload, then one per scenario of workloads with more
 * than one. Returns 0, or -1 with err. Free with saar_heldout_free. */
int saar_heldout_run(const saar_heldout_workload_t *w, size_t n, saar_heldout_results_t *out,
                     char *err, size_t errlen);
void saar_heldout_free(saar_heldout_results_t *r);

/* Renderings: a text table (workloads, then scenarios, then a count of
 * dominated rows) and JSON. */
void saar_heldout_table(const saar_heldout_results_t *r, buf_t *out);
void saar_heldout_json(const saar_heldout_results_t *r, buf_t *out);
#endif
