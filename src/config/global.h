/* global.h - typed `global` beyond router/limits/logging (which live in
 * config.h): session policy (SPEC 9.10), stores, services and the model
 * catalog (SPEC 3.4, 5.2, 5.3). Reached through cfg_t.global_ext; immutable. */
#ifndef TETHER_CONFIG_GLOBAL_H
#define TETHER_CONFIG_GLOBAL_H
#include "config/limits.h"
#include "config/routing.h"

struct cfg_session {
    bool enabled; /* true */
    char *mode;   /* "enforce" (default) | "observe_only" | "bypass" (sess_mode_of) */
    struct {
        cfg_strlist_t headers; /* [x-session-id, x-conversation-id, x-claude-code-session-id] */
        char *codex_metadata_header; /* x-codex-turn-metadata */
        cfg_strlist_t body_fields;   /* [prompt_cache_key, metadata.session_id, metadata.user_id] */
        bool fingerprint;            /* true */
        int64_t max_id_bytes;        /* 256 */
    } identity;
    int64_t ttl_seconds;                      /* 86400 */
    int64_t max_sessions;                     /* 100000 */
    int64_t idle_timeout_seconds;             /* 300; 0 disables */
    int64_t min_turns_before_switch;          /* 1 */
    double switch_margin;                     /* 0.05 */
    double stay_bias;                         /* 0.10 */
    bool tool_loop_hard_lock;                 /* true */
    bool context_portability_hard_lock;       /* true */
    bool decision_drift_reset;                /* true */
    double tool_loop_stay_bias;               /* 0.35 */
    double prefix_cache_weight;               /* 0.20 */
    double handoff_penalty_weight;            /* 1.0 */
    double default_handoff_penalty;           /* 0.05 */
    double max_cache_cost_multiplier;         /* 2.5, >= 1 */
    double switch_history_weight;             /* 0.04 */
    double quality_gap_multiplier;            /* 1.0 */
    double reset_warmth_factor;               /* 0.2 */
    bool allow_downgrade;                     /* true */
    double downgrade_savings_weight;          /* 0.10 */
    bool inherit_decision_when_unmatched;     /* true */
    bool handoff_on_unavailable;              /* true */
    bool handoff_keep_reasoning_summaries;    /* false */
    bool treat_stored_chains_as_portable;     /* false */
    const cfg_node_t *quality_gaps;           /* [{decision|"*", from, to, value}] */
    const cfg_node_t *handoff_penalties;      /* [{from, to, value}] */
    const cfg_node_t *remaining_turn_priors;  /* {decision: turns} */
    double remaining_turn_prior_weight;       /* 1.0 */
    double remaining_turn_prior_horizon;      /* 8, > 0 */
    bool learn_remaining_turn_priors;         /* true */
    int64_t min_remaining_turn_prior_samples; /* 3 */
    bool quality_gaps_from_cards;             /* true: QG from cards when no entry applies */
    double card_quality_gap_weight;           /* 6.0: scale of the derived QG */
    double card_gap_price_discount;           /* 0.6: upgrade gap x (1 - this x P(m)) */
    double card_gap_keep_weight;              /* 0: downgrade loss x M */
    double lock_escalation_weight; /* 0.5: share of the locks' required quality a turn before a
                                      predicted lock asks for */
    bool cold_start_step_up;       /* true: with derived gaps, a first turn that asks for more than
                                      the cheapest candidate starts on the best one */
    double upgrade_age_turns;      /* 1: derived upgrade discount x (1 + T/this); 0 flat */
    int64_t step_down_after_turns; /* 9: from this turn a cheaper model meeting the turn's required
                                      quality gains step_down_weight x the price-level gap; 0 off */
    double step_down_weight;       /* 1.0 */
    double outcome_quality_bound;  /* 0.05: |learned quality adjustment| cap */
    double outcome_prior_weight;   /* 10: outcomes before half the bound */
    char *learned_state_file;      /* NULL: learned state is per process */
};

typedef struct cfg_redis {
    char *address, *password_env, *password, *key_prefix;
    int64_t db, timeout_ms;
} cfg_redis_t;

typedef struct cfg_stores {
    struct {
        char *backend;            /* session/registry.h: memory|redis */
        const void *backend_opts; /* the backend's own options block (config/family.h), or NULL */
        cfg_redis_t redis;
        char *binding_key_env; /* variable holding the key that signs bindings in ids */
        char *binding_key;     /* its value; NULL: a per-process key */
    } session;
    struct {
        char *backend;            /* api/response_store_registry.h: memory|redis */
        const void *backend_opts; /* the backend's own options block, or NULL */
        int64_t ttl_seconds, max_responses;
        cfg_redis_t redis;
    } responses;
    struct {
        char *backend;            /* plugins/response_cache_registry.h: memory|redis */
        const void *backend_opts; /* the backend's own options block, or NULL */
        int64_t max_entries, ttl_seconds;
        uint64_t max_entry_bytes;
        cfg_redis_t redis;
    } response_cache;
    struct {
        char *backend; /* memory|redis: the counters of rate limits and budgets */
        cfg_redis_t redis;
    } limits;
} cfg_stores_t;

typedef struct cfg_mgmt_token {
    char *name, *token_env, *role, *token;
} cfg_mgmt_token_t;

typedef struct cfg_services {
    struct {
        bool enabled, capture_bodies, redact;
        char *store, *path; /* store: replay/registry.h */
        const void
            *store_opts; /* the store backend's own options block (config/family.h), or NULL */
        int64_t max_records, ttl_seconds, queue_size;
        uint64_t max_body_bytes, max_bytes;
    } router_replay;
    struct {
        bool enabled;
        char *path;
    } metrics;
    struct { /* global.services.tracing (telemetry/tracer.c) */
        bool enabled;
        char *endpoint, *service_name, *headers_env;
        char *headers; /* the value of headers_env, read at load (a secret) */
        double sample_ratio;
        int64_t queue_size, batch_size;
        uint64_t flush_interval_ms, timeout_ms;
    } tracing;
    struct {
        char *listen;
        bool dashboard;
        cfg_mgmt_token_t *tokens;
        size_t n_tokens;
    } management_api;
    struct {
        bool trust_identity_headers;
        char *user_header, *groups_header;
    } authz;
    cfg_rate_limit_t *rate_limits; /* global.services.rate_limits[] (config/limits.c) */
    size_t n_rate_limits;
    cfg_budget_t *budgets; /* global.services.budgets[] */
    size_t n_budgets;
} cfg_services_t;

typedef struct cfg_classifier {
    char *name, *type, *endpoint, *base_url, *model, *api_key_env, *api_key, *prompt, *failure_mode;
    char *window; /* sample|chunks */
    char *task;   /* http_pooling: the "task" sent (classify) */
    cfg_strlist_t labels, positive_labels;
    cfg_strlist_t label_texts; /* http_score: the text scored per label (default: the label) */
    int64_t timeout_ms, max_input_chars;
    /* http_classify, http_pooling: concurrent requests' inputs gathered into
     * one call (route/fetch_classify_batch.c): at most batch_max inputs per
     * call (1: every request its own call); gathered only while
     * batch_inflight calls to it are in flight on the worker */
    int64_t batch_max, batch_inflight;
} cfg_classifier_t;

typedef struct cfg_embeddings {
    char *backend;      /* builtin|static|openai_compatible */
    int64_t dimensions; /* builtin: 1024 (256-4096) */
    const cfg_node_t *builtin, *static_, *openai_compatible;
} cfg_embeddings_t;

typedef struct cfg_model_catalog {
    cfg_embeddings_t embeddings;
    cfg_classifier_t *classifiers;
    size_t n_classifiers;
    const cfg_node_t *kbs;
} cfg_model_catalog_t;

struct cfg_global_ext {
    cfg_session_t session;
    cfg_stores_t stores;
    cfg_services_t services;
    cfg_model_catalog_t model_catalog;
};
#endif
