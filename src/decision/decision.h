/* decision.h - decisions (SPEC §6): projections over the signal results,
 * rule-tree evaluation, the strategy that picks one decision among the
 * matches, and the decision trace that explains it.
 *
 * Order of use on a request (the signals stage has already filled a
 * sig_results_t):
 *
 *     dec_result_t d;
 *     dec_eval(cfg, recipe, &sigs, arena, &d);   // projections + rules + strategy
 *     switch (d.outcome) { ... }                  // see dec_outcome_t
 *
 * dec_eval runs dec_project itself; d.proj holds the projection outputs and
 * the signal results as the partitions left them (selection reads those).
 *
 * Everything a result points to lives in the caller's arena or in the
 * (immutable) config. All functions are thread-safe: they only read the
 * config and the signal results, and write the caller's arena. */
#ifndef TETHER_DECISION_DECISION_H
#define TETHER_DECISION_DECISION_H
#include "config/routing.h"
#include "core/arena.h"
#include "core/buf.h"
#include "signals/signal.h"
#include <stdbool.h>
#include <stddef.h>

/* ---- projections (projections.c, SPEC §6.3) ---- */

/* One named projection output a rule leaf can reference with
 * `type: projection`: a mapping output, or a partition (label = winner). */
typedef struct dec_proj_out {
    const char *name;
    const char *label; /* partitions: the winning member's name; else NULL */
    bool matched;
    double confidence;
} dec_proj_out_t;

typedef struct dec_proj_score {
    const char *name;
    double value; /* Σ weight·v */
} dec_proj_score_t;

typedef struct dec_proj {
    sig_results_t sig; /* the signal results after partitions (a copy in the arena) */
    dec_proj_out_t *outs;
    size_t n_outs;
    dec_proj_score_t *scores;
    size_t n_scores;
} dec_proj_t;

/* Apply the recipe's partitions, then scores, then mappings. in is not
 * modified (out->sig is an arena copy). Never fails: malformed entries (which
 * the loader already rejects) are skipped. Returns 0. */
int dec_project(const cfg_recipe_t *recipe, const sig_results_t *in, arena_t *a, dec_proj_t *out);
/* The output named name, or NULL. */
const dec_proj_out_t *dec_proj_find(const dec_proj_t *p, const char *name);
/* The score named name (NULL when absent). */
const dec_proj_score_t *dec_proj_score(const dec_proj_t *p, const char *name);

/* ---- rule trees (rules.c, SPEC §6.1) and their trace (trace.c) ---- */

typedef struct dec_node dec_node_t;
struct dec_node {
    cfg_rule_kind_t kind;
    const char *signal; /* leaves: "<type>:<name>" (e.g. "keyword:code_terms"); else NULL */
    const char *label;  /* leaves: the required label, else NULL */
    bool matched, skipped;
    double confidence;
    const char *error; /* leaves: the signal's error ("timeout", ...), else NULL */
    /* leaves: why the signal's external classifier was not used and its
     * family fell back to the heuristic ("classifier_timeout", ...), else NULL */
    const char *fallback;
    dec_node_t *children;
    size_t n_children;
};

/* One evaluated decision. */
typedef struct dec_trace {
    const char *name;
    bool matched;
    bool is_catch_all;
    double confidence;
    dec_node_t root;
} dec_trace_t;

/* Evaluate one rule tree. Returns 0, or -1 when a leaf with on_error: fail
 * saw a signal error (*failed_leaf then names it as "<type>:<name>"). */
int dec_rules_eval(const cfg_rule_t *rule, const cfg_recipe_t *recipe, const dec_proj_t *proj,
                   arena_t *a, dec_node_t *out, const char **failed_leaf);

/* "✓ decision coding 0.850" then the tree, two spaces per level, one node a
 * line: "✓ OR 0.850", "✗ keyword:code_terms 0.000 (error: timeout)",
 * "· context:long_ctx (skipped)". Appends to out. */
void dec_trace_text(buf_t *out, const dec_trace_t *t);
/* {"name","matched","confidence","root":{kind, signal, label, matched,
 * confidence, skipped, error, children}}; kind is leaf|AND|OR|NOT. */
void dec_trace_json(buf_t *out, const dec_trace_t *t);
void dec_node_json(buf_t *out, const dec_node_t *n);

/* ---- strategies (strategy.c, SPEC §6.2) ---- */

typedef enum {
    DEC_STRATEGY_PRIORITY = 0,
    DEC_STRATEGY_CONFIDENCE,
    DEC_STRATEGY_TIERS
} dec_strategy_t;

/* The recipe's effective strategy: its `strategy`, else tiers when any
 * decision has a tier, else priority. */
dec_strategy_t dec_strategy_of(const cfg_recipe_t *recipe);
const char *dec_strategy_name(dec_strategy_t s);

typedef struct dec_match {
    size_t index; /* into recipe->decisions */
    double confidence;
} dec_match_t;

/* Sort matches best first by the strategy's keys (ties: config order). */
void dec_strategy_sort(const cfg_recipe_t *recipe, dec_strategy_t s, dec_match_t *m, size_t n);

/* ---- the whole step (strategy.c) ---- */

typedef enum {
    DEC_MATCHED = 0, /* a decision with a rule tree matched: use it */
    DEC_CATCH_ALL,   /* only catch-alls matched: session inheritance first (§9.6), else use it */
    DEC_DEFAULT,     /* nothing matched: inheritance first, else default_model with decision ""
                        and algorithm static (default_model may be NULL: no default configured) */
    DEC_FAIL,        /* a leaf with on_error: fail saw an error: answer 503 signal_unavailable */
} dec_outcome_t;

typedef struct dec_result {
    dec_outcome_t outcome;
    const cfg_decision_t *decision; /* MATCHED / CATCH_ALL; NULL otherwise */
    const char *name;               /* decision name, "" for DEFAULT and FAIL */
    double confidence;
    const char *algorithm;     /* the decision's algorithm; "static" for DEFAULT */
    const char *default_model; /* providers.defaults.default_model (DEFAULT only) */
    bool may_inherit;          /* CATCH_ALL or DEFAULT: the session layer may inherit */
    dec_strategy_t strategy;
    const char *failed_leaf; /* FAIL: "<type>:<name>" of the failing leaf */
    dec_trace_t *traces;     /* every evaluated decision, in config order */
    size_t n_traces;
    dec_match_t *ranking; /* the matched decisions, best first */
    size_t n_ranking;
    dec_proj_t proj;
} dec_result_t;

/* Projections, every decision's rule tree, then the strategy. Returns 0, or
 * -1 with outcome DEC_FAIL. cfg may be NULL (no default_model). */
int dec_eval(const cfg_t *cfg, const cfg_recipe_t *recipe, const sig_results_t *sig, arena_t *a,
             dec_result_t *out);

const char *dec_outcome_name(dec_outcome_t o); /* matched|catch_all|default|fail */
/* {"outcome","decision","confidence","algorithm","strategy","model"?,
 *  "failed_leaf"?,"ranking":[names],"trace":[dec_trace_json...]} */
void dec_result_json(buf_t *out, const dec_result_t *r);
/* Every trace as text, one after another. */
void dec_result_text(buf_t *out, const dec_result_t *r);
#endif
