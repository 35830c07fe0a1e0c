/* select.h - selection algorithms (SPEC §7): given the decision that won,
 * compute base scores B(m) in [0, 1] for its candidates (the decision's
 * modelRefs, in order); the session policy (§9) consumes them.
 *
 * One file per algorithm (static.c, weighted.c, multi_factor.c,
 * latency_aware.c, router_dc.c, elo.c) behind sel_algo_ops_t, listed in one
 * registry (registry.h). A failing algorithm, or one without data, falls back
 * to static and the result says why.
 *
 * Runtime state the algorithms read (latency windows, in-flight counts, elo
 * ratings, card embeddings) lives in a sel_state_t beside the config: one per
 * process, shared by every worker, internally locked (state.c). The proxy
 * feeds it with the sel_observe_* / sel_inflight_add calls; feedback
 * (POST /v1/router/feedback) calls sel_elo_feedback.
 *
 * Use on a request, after dec_eval returned DEC_MATCHED or DEC_CATCH_ALL:
 *
 *     sel_input_t in = {.cfg = cfg, .decision = d.decision, .session_key = key,
 *                       .query = q, .query_len = qn, .sig = &d.proj.sig,
 *                       .state = st, .embedder = emb};
 *     sel_result_t r;
 *     if (sel_run(&in, arena, &r)) -> 503 (multi_factor on_no_candidates: fail)
 *     r.scores[i] is B(r.models[i]); r.best is the argmax.
 *
 * (DEC_DEFAULT needs no selection: the model is default_model, algorithm
 * static, B = 1.) sel_run is thread-safe; results live in the caller's arena. */
#ifndef TETHER_SELECT_SELECT_H
#define TETHER_SELECT_SELECT_H
#include "config/routing.h"
#include "core/arena.h"
#include "core/buf.h"
#include "signals/signal.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the embedder router_dc needs (provided by the embedder work) ---- */

/* Embed text into out[dim] as an L2-normalised vector. Returns 0, or -1 on
 * failure (timeout, remote error). Must be thread-safe. */
typedef int (*sel_embed_fn)(void *ctx, const char *text, size_t len, float *out);
typedef struct sel_embedder {
    sel_embed_fn embed;
    size_t dim;
    void *ctx;
} sel_embedder_t;

/* The text router_dc embeds for the card of model in decision d (its
 * description, plus its capabilities unless use_capabilities is false), or
 * NULL when the card has none. The route pipeline prefetches these. */
char *sel_router_dc_card_text(arena_t *a, const cfg_t *cfg, const cfg_decision_t *d,
                              const char *model);

/* ---- runtime state (state.c) ---- */

typedef struct sel_state sel_state_t;
sel_state_t *sel_state_new(void);
void sel_state_free(sel_state_t *st);

typedef enum { SEL_TTFT = 0, SEL_TPOT } sel_metric_t;
/* Record one observation (milliseconds) at time now_ms (clock_mono_ms()).
 * Each model keeps its latest SEL_WINDOW_SAMPLES samples per metric. */
#define SEL_WINDOW_SAMPLES 256
void sel_observe(sel_state_t *st, const char *model, sel_metric_t m, double ms, uint64_t now_ms);
void sel_observe_ttft(sel_state_t *st, const char *model, double ms, uint64_t now_ms);
void sel_observe_tpot(sel_state_t *st, const char *model, double ms, uint64_t now_ms);
/* In-flight requests per model: +1 when a request is sent, -1 when it ends. */
void sel_inflight_add(sel_state_t *st, const char *model, int delta);
int64_t sel_inflight(sel_state_t *st, const char *model);
/* Nearest-rank percentile pct (0-100] of the samples newer than window_ms;
 * false when fewer than min_samples. */
bool sel_latency_percentile(sel_state_t *st, const char *model, sel_metric_t m, double pct,
                            uint64_t window_ms, uint64_t now_ms, size_t min_samples, double *out);

/* Elo ratings per (decision, model). */
double sel_elo_rating(sel_state_t *st, const char *decision, const char *model, double initial);
void sel_elo_set(sel_state_t *st, const char *decision, const char *model, double rating);
/* Ratings learned elsewhere (session/learned_*: a file, Redis) at most this
 * many (decision, model) pairs; feedback itself only rates configured
 * candidates. */
#define SEL_ELO_MAX 4096
/* Set a restored rating: false (nothing set) when rating is not finite, a
 * name is empty, or the pair is new and the table holds SEL_ELO_MAX. */
bool sel_elo_restore(sel_state_t *st, const char *decision, const char *model, double rating);
/* Every rating: cb(ud, decision, model, rating), called with the state's
 * lock held (cb must not call back into st). */
typedef void (*sel_elo_each_fn)(void *ud, const char *decision, const char *model, double rating);
void sel_elo_each(sel_state_t *st, sel_elo_each_fn cb, void *ud);

typedef enum { SEL_FB_GOOD = 0, SEL_FB_BAD, SEL_FB_WIN, SEL_FB_LOSS, SEL_FB_TIE } sel_feedback_t;
/* "good" | "bad" | "win" | "loss" | "tie"; false when unknown. */
bool sel_feedback_parse(const char *s, sel_feedback_t *out);
/* Apply one verdict on model in decision d (K = elo.k_factor, 32). good/bad
 * count as a win/loss against the mean rating of d's other candidates (only
 * model's rating moves); win/loss/tie are against `other` (both move).
 * Returns 0, or -1 with *err when model (or other) is not a candidate of d. */
int sel_elo_feedback(sel_state_t *st, const cfg_t *cfg, const cfg_decision_t *d, const char *model,
                     sel_feedback_t verdict, const char *other, const char **err);
/* One rating's move by a verdict: the model (a pointer into the caller's
 * model / other arguments), the change, and the model's initial rating. */
typedef struct sel_elo_delta {
    const char *model;
    double delta, initial;
} sel_elo_delta_t;
/* sel_elo_feedback that also reports the moves (1 for good/bad, 2 for
 * win/loss/tie) in out[0..*n_out), so they can be shared (session/
 * learned_redis.h adds them to the ratings every replica reads). */
int sel_elo_feedback_deltas(sel_state_t *st, const cfg_t *cfg, const cfg_decision_t *d,
                            const char *model, sel_feedback_t verdict, const char *other,
                            const char **err, sel_elo_delta_t out[2], size_t *n_out);
/* The initial rating of model in d: elo.initial_rating, else
 * 1000 + 1000·quality_score of its card, else 1500. */
double sel_elo_initial(const cfg_t *cfg, const cfg_decision_t *d, const char *model);

/* Card embedding cache (router_dc): get copies into out, put stores a copy. */
bool sel_state_vec_get(sel_state_t *st, const char *key, float *out, size_t dim);
void sel_state_vec_put(sel_state_t *st, const char *key, const float *v, size_t dim);

/* ---- one selection ---- */

typedef struct sel_input {
    const cfg_t *cfg;
    const cfg_decision_t *decision; /* candidates = decision->model_refs */
    const char *session_key;        /* weighted: the session key, or the request id */
    const char *query;              /* router_dc: the query text (§5.1) */
    size_t query_len;
    const sig_results_t *sig; /* static: a matched domain's model_scores (dec_result.proj.sig) */
    sel_state_t *state;       /* NULL: no runtime data */
    const sel_embedder_t *embedder; /* NULL: router_dc falls back to static */
    uint64_t now_ms;                /* clock_mono_ms(); 0 = read the clock */
} sel_input_t;

typedef struct sel_result {
    size_t n;
    const char **models;         /* the candidates, modelRefs order */
    double *scores;              /* B(m) in [0, 1] */
    bool *excluded;              /* multi_factor filters (B = 0) */
    size_t best;                 /* argmax of scores over non-excluded (first on ties) */
    const char *algorithm;       /* as configured */
    const char *used;            /* what produced the scores: algorithm, or "static" */
    const char *fallback_reason; /* why static was used, else NULL */
    const char *note;            /* extra trace (e.g. elo exploration), else NULL */
    const char *error;           /* sel_run returned -1: why */
} sel_result_t;

/* Returns 0, or -1 (r->error set) when no candidate may be used:
 * multi_factor with on_no_candidates: fail, or a decision without modelRefs. */
int sel_run(const sel_input_t *in, arena_t *a, sel_result_t *r);
/* {"algorithm","used","fallback_reason"?,"note"?,"best","scores":{model: B}} */
void sel_result_json(buf_t *out, const sel_result_t *r);

/* ---- the member interface (one file each) ---- */

/* An algorithm is one file (select/<name>.c) defining its descriptor (a
 * cfg_selector_t, config/family.h: name, block keys, docs) that points at
 * its sel_algo_ops_t, and one line in select/registry.h.
 *
 * run fills r->scores (r->n, r->models, r->excluded are set, scores
 * zeroed). Return 0; -1 with *why to fall back to static; -2 with *why when
 * the request must fail. */
typedef int (*sel_algo_fn)(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why);
typedef struct sel_algo_ops {
    sel_algo_fn run;
} sel_algo_ops_t;
/* static is also every algorithm's fallback. */
int sel_static(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why);
/* weighted: u in [0, 1) from SHA-256(key "\x1f" decision). */
double sel_weighted_unit(const char *key, const char *decision);
/* The registered algorithm named name, or NULL. */
sel_algo_fn sel_algo_find(const char *name);
#endif
