/* signal.h - the signal engine's one interface (SPEC §5): a config is
 * compiled once into a sig_engine_t (automata, regexes, prototype banks,
 * embedder), then every routed request is evaluated against one recipe,
 * running only the families that the recipe's decisions and projections
 * reference, and producing one sig_result_t per rule.
 *
 * One file per family (signals/<family>.c) declaring itself (config/
 * family.h) and its sig_family_ops_t, listed in one registry
 * (signals/registry.h): adding a family is one new file and one line. An engine is immutable after
 * sig_engine_new and may be shared by every worker thread; sig_eval is thread-safe and allocates
 * only from the caller's arena. */
#ifndef TETHER_SIGNALS_SIGNAL_H
#define TETHER_SIGNALS_SIGNAL_H
#include "config/global.h"
#include "config/routing.h"
#include "core/arena.h"
#include "request/request.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sig_result {
    const cfg_signal_t *rule; /* family and name come from the rule */
    bool matched;
    double score;      /* [0, 1] */
    const char *label; /* label-producing families (complexity, domain, ...), else NULL */
    double value;      /* raw number predicates compare (token count, count, density) */
    bool has_value;
    uint32_t latency_us;
    const char *error; /* NULL, or e.g. "timeout", "no_identity", "embedding_unavailable" */
    /* NULL, or why the rule's external classifier was not used and the
     * family fell back to its heuristic ("classifier_timeout", ...) */
    const char *fallback;
} sig_result_t;

typedef struct sig_results {
    sig_result_t *items; /* one per rule of the recipe, in recipe->signals order */
    size_t n;
    bool family_ran[CFG_SIG_MAX]; /* per family id */
    uint32_t family_latency_us[CFG_SIG_MAX];
    /* Family-level outcome for families whose leaves may name built-in
     * rules without a declared signal: language (detected ISO code and its
     * confidence) and modality (AR | DIFFUSION | BOTH and its score). NULL
     * when the family did not run or has no such outcome. */
    const char *family_label[CFG_SIG_MAX];
    double family_score[CFG_SIG_MAX];
} sig_results_t;

/* Error strings results carry (compare by strcmp). */
#define SIG_ERR_UNAVAILABLE "family_not_available" /* no family file registered */
#define SIG_ERR_NO_IDENTITY "no_identity"          /* authz without user or groups */

/* Runtime inputs beyond the request itself. All optional. */
typedef struct sig_env {
    const char *user; /* authz identity (listener key or trusted headers) */
    const char *const *groups;
    size_t n_groups;
    const char *key_name, *team; /* the client key's name and team, or NULL */
    const cfg_kv_t *metadata;    /* the client key's metadata */
    size_t n_metadata;
    /* router memory, for conversation sources session_turns / _switches / _idle_seconds */
    bool has_session;
    int64_t session_turns, session_switches, session_idle_seconds;
    const char *calibration_model; /* context: model whose usage calibrates the estimate */
    /* external classifiers' outcomes fetched before the signals ran
     * (signals/classify.h); NULL: none fetched, families use heuristics */
    const struct sig_cls_results *cls;
    /* remote embedder's vectors fetched before the signals ran
     * (signals/embed_async.h); NULL: the embedder is called directly */
    const struct sig_emb_results *emb;
} sig_env_t;

typedef struct sig_engine sig_engine_t;

/* Compile every recipe of cfg. Errors (bad regex, unreadable kb file,
 * unavailable embedder with failure_mode closed...) go to diags with the
 * rule's position; returns NULL when there is any error. */
sig_engine_t *sig_engine_new(const cfg_t *cfg, cfg_diags_t *diags);
void sig_engine_free(sig_engine_t *e);
/* The config the engine was compiled from. */
const cfg_t *sig_engine_cfg(const sig_engine_t *e);

/* Evaluate the families the recipe references. Returns 0. */
int sig_eval(const sig_engine_t *e, const cfg_recipe_t *recipe, rq_t *rq, const sig_env_t *env,
             arena_t *a, sig_results_t *out);

/* The result of rule `name` of family f, or NULL. For authz, name is the
 * role (the leaf's name); bindings sharing a role share one outcome. */
const sig_result_t *sig_results_find(const sig_results_t *r, cfg_signal_family_t f,
                                     const char *name);

/* Does the recipe reference family f (decision leaves, projection score
 * inputs and partition members, complexity composers)? Only those run. */
bool sig_recipe_uses(const sig_engine_t *e, const cfg_recipe_t *recipe, cfg_signal_family_t f);

/* context: per-model calibration (SPEC §5.4 context). Record one observed
 * upstream usage.prompt_tokens for a request whose estimate was `estimate`.
 * After 10 samples the estimate for that model is scaled by an EMA
 * (alpha 0.1) of prompt_tokens/estimate clamped to [0.5, 2]. Thread-safe. */
void sig_context_observe(sig_engine_t *e, const char *model, double estimate, double prompt_tokens);
/* Current factor for model (1.0 before 10 samples); samples may be NULL. */
double sig_context_factor(const sig_engine_t *e, const char *model, uint64_t *samples);
/* Copy the calibration table of `from` into `to` (hot reload keeps what
 * was learnt). Thread-safe. */
void sig_context_carry(sig_engine_t *to, const sig_engine_t *from);
/* The uncalibrated token estimate of a request (text bytes/4 + 4 per
 * message + tool definitions + 765 per image). */
double sig_context_estimate(const rq_t *rq);
#endif
