/* routing.h - typed `routing`, `entrypoints` and `recipes` (SPEC 3.3, 5, 6,
 * 7, 8). Built by the loader inside the cfg_t arena; immutable afterwards.
 * Family-specific nested shapes that later stages interpret (conversation
 * features, predicates, algorithm blocks, plugin configuration, ...) are kept
 * as read-only cfg_node_t trees (config/yaml.h) after their keys have been
 * checked here. */
#ifndef TETHER_CONFIG_ROUTING_H
#define TETHER_CONFIG_ROUTING_H
#include "config/config.h"
#include "core/arena.h"
#include "config/yaml.h"

typedef struct cfg_strlist {
    char **v;
    size_t n;
} cfg_strlist_t;

typedef struct cfg_model_card {
    char *name, *description, *modality;
    cfg_strlist_t capabilities, tags, loras;
    double quality_score;         /* 0.5 */
    uint64_t context_window_size; /* tokens; 0 unknown */
    char *param_size;
} cfg_model_card_t;

/* Signal families are registered members (config/family.h); a family's id
 * is its position in signals/registry.h. These are the ids of the families
 * built into tether, in SPEC 5.4 order, for the code that must name one;
 * a new family needs no entry here. */
typedef enum {
    CFG_SIG_KEYWORD = 0,
    CFG_SIG_PII,
    CFG_SIG_JAILBREAK,
    CFG_SIG_LANGUAGE,
    CFG_SIG_CONTEXT,
    CFG_SIG_CONVERSATION,
    CFG_SIG_STRUCTURE,
    CFG_SIG_EVENT,
    CFG_SIG_MODALITY,
    CFG_SIG_AUTHZ,
    CFG_SIG_EMBEDDING,
    CFG_SIG_DOMAIN,
    CFG_SIG_COMPLEXITY,
    CFG_SIG_KB,
    CFG_SIG_PREFERENCE,
    CFG_SIG_REASK,
    CFG_SIG_FACT_CHECK,
    CFG_SIG_USER_FEEDBACK,
} cfg_signal_family_t;
/* Most families a registry may hold (per-family arrays, a 32-bit mask). */
#define CFG_SIG_MAX 32

/* Leaf `type` name (keyword, pii, ...) and YAML key (keywords, pii, ...);
 * "?" when f is not registered. */
const char *cfg_signal_family_name(cfg_signal_family_t f);
const char *cfg_signal_family_key(cfg_signal_family_t f);
/* -1 when unknown. Accepts the leaf type name. */
int cfg_signal_family_by_name(const char *s);

/* One rule of one family. Only the fields of its family's table are set
 * (others keep zero values); see docs/configuration.md for which apply. A
 * family may keep its own options in its own struct instead: opts then
 * points at one, allocated at load with the family's opts_size. */
typedef struct cfg_signal {
    cfg_signal_family_t family;
    void *opts; /* the family's options block (config/family.h), or NULL */
    char *name, *description;
    double threshold; /* family default when unset */
    bool has_threshold;
    /* keyword / modality / event */
    char *op; /* AND|OR|NOR (OR) */
    cfg_strlist_t keywords, both_keywords;
    bool case_sensitive, fuzzy_match;
    char *method;
    int fuzzy_threshold, ngram_arity;
    double bm25_threshold, ngram_threshold;
    /* pii / jailbreak */
    cfg_strlist_t pii_types_allowed, jailbreak_patterns, benign_patterns;
    bool include_history, include_tool_results;
    bool fail_open;   /* authz: no identity is "no match", not an error */
    char *classifier; /* model_catalog.classifiers[] name */
    /* context */
    uint64_t min_tokens, max_tokens;
    bool has_min_tokens, has_max_tokens;
    /* similarity families */
    cfg_strlist_t candidates, examples, counter_examples, mmlu_categories;
    char *aggregation_method; /* max|mean|any */
    int top_k;
    double min_score_threshold, margin;
    int lookback_turns;
    const cfg_node_t *model_scores; /* {model: score} */
    /* conversation / structure */
    const cfg_node_t *feature, *predicate;
    /* event */
    cfg_strlist_t event_types, severities, action_codes;
    const cfg_node_t *temporal, *patterns;
    /* authz */
    char *role;
    const cfg_node_t *subjects;
    /* complexity */
    const cfg_node_t *hard, *easy, *composer;
    const struct cfg_rule *composer_rule; /* composer compiled at load (NULL: none) */
    /* kb */
    char *kb, *match;
    const cfg_node_t *target;
    int line, col;   /* where the rule is declared */
    bool referenced; /* set by validation */
} cfg_signal_t;

/* Rule tree (SPEC 6.1). Leaves reference a signal (or projection output). */
typedef enum { CFG_RULE_LEAF = 0, CFG_RULE_AND, CFG_RULE_OR, CFG_RULE_NOT } cfg_rule_kind_t;
typedef enum { CFG_ONERR_NO_MATCH = 0, CFG_ONERR_MATCH, CFG_ONERR_FAIL } cfg_on_error_t;
typedef struct cfg_rule cfg_rule_t;
struct cfg_rule {
    cfg_rule_kind_t kind;
    /* leaf */
    char *type; /* family name or "projection" */
    char *name, *label;
    const cfg_node_t *predicate; /* {gt|gte|lt|lte|eq} */
    cfg_on_error_t on_error;
    const cfg_signal_t *signal; /* resolved at load (NULL for projection leaves) */
    char *leaf_name;            /* "<type>:<name>" ("?" for a missing one), built at load for
                                   the decision trace; NULL in hand-built rules */
    bool is_projection;         /* type is "projection" (set with leaf_name) */
    /* inner */
    cfg_rule_t *children;
    size_t n_children;
    int line, col;
};

typedef struct cfg_model_ref {
    char *model, *reasoning_effort, *lora_name;
    double weight; /* 1 */
    bool use_reasoning, has_use_reasoning;
} cfg_model_ref_t;

typedef struct cfg_plugin {
    char *type;
    const cfg_node_t *configuration;
} cfg_plugin_t;

typedef struct cfg_retention {
    bool drop, keep_current_model, prefer_prefix_retention;
    int64_t ttl_turns;
    bool has_drop, has_ttl_turns, has_keep_current_model, has_prefer_prefix_retention;
} cfg_retention_t;

typedef struct cfg_session cfg_session_t; /* global.h */

typedef struct cfg_decision {
    char *name, *description;
    int64_t priority; /* 0 */
    int64_t tier;     /* 0 = no tier */
    cfg_rule_t rules; /* catch-all when AND without children */
    bool is_catch_all;
    cfg_model_ref_t *model_refs;
    size_t n_model_refs;
    char *algorithm; /* static|weighted|multi_factor|latency_aware|router_dc|elo */
    const cfg_node_t *algorithm_block;   /* algorithm.<type> */
    const cfg_node_t *session_overrides; /* algorithm.session (checked keys) */
    cfg_session_t *session;              /* effective session policy (global + overrides) */
    cfg_plugin_t *plugins;
    size_t n_plugins;
    cfg_retention_t retention;
    bool has_retention;
    int line, col;
} cfg_decision_t;

typedef struct cfg_projections {
    const cfg_node_t *partitions, *scores, *mappings; /* key-checked trees */
} cfg_projections_t;

typedef struct cfg_recipe {
    char *name, *description;
    char *strategy; /* priority|confidence|tiers (resolved) */
    cfg_signal_t *signals;
    size_t n_signals;
    size_t n_per_family[CFG_SIG_MAX];
    cfg_projections_t projections;
    cfg_decision_t *decisions;
    size_t n_decisions;
} cfg_recipe_t;

typedef struct cfg_entrypoint {
    cfg_strlist_t model_names;
    char *recipe;
    const cfg_recipe_t *target;
} cfg_entrypoint_t;

struct cfg_routing {
    cfg_model_card_t *cards;
    size_t n_cards;
    cfg_recipe_t *recipes; /* [0] is `default` (the top-level routing) */
    size_t n_recipes;
    cfg_entrypoint_t *entrypoints;
    size_t n_entrypoints;
};

/* A rule leaf's "<type>:<name>" as the decision trace names it ("?" for a
 * missing part), in a: the loader builds it once per leaf (leaf_name), the
 * decision evaluator for hand-built rules that have none. */
char *cfg_rule_leaf_name(arena_t *a, const cfg_rule_t *r);
const cfg_model_card_t *cfg_find_card(const cfg_t *c, const char *name);
const cfg_recipe_t *cfg_find_recipe(const cfg_t *c, const char *name);
/* The recipe a requested model name selects (entrypoints), else NULL. */
const cfg_recipe_t *cfg_recipe_for_model(const cfg_t *c, const char *name, size_t len);
#endif
