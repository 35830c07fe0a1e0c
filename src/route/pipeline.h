/* pipeline.h - the routing pipeline of ARCHITECTURE.md §1 as one explicit
 * list of stages: resolve the model name, identify the session and load its
 * memory, run the signals, projections and decisions, select base scores,
 * let the session policy keep, switch or lock, and produce a plan that the
 * proxy executes. The same function serves `tether serve`, `tether eval` and
 * `dsl test`, so what is tested is what serves traffic.
 *
 * Stages only read the request facts and earlier stages' results, and write
 * their own result into the plan; everything lives in the request arena.
 * Identity and the memory load may complete later (Redis), so route_decide
 * reports through a callback (inline with the memory store). */
#ifndef TETHER_ROUTE_PIPELINE_H
#define TETHER_ROUTE_PIPELINE_H
#include "config/config.h"
#include "config/global.h"
#include "core/arena.h"
#include "core/buf.h"
#include "decision/decision.h"
#include "request/request.h"
#include "select/select.h"
#include "session/identity.h"
#include "session/policy.h"
#include "session/store.h"
#include "signals/classify.h"
#include "signals/embed_async.h"
#include "signals/signal.h"

/* Process-wide services the pipeline uses (all optional). */
typedef struct route_env {
    const sig_engine_t *sig;        /* the config generation's compiled signals */
    sel_state_t *sel;               /* latency windows, in-flight, elo */
    const sel_embedder_t *embedder; /* router_dc */
    sess_store_t *store;            /* session memory; NULL = no memory */
    /* external classifiers on this worker's loop; NULL: rules that name one
     * fall back to their heuristic (eval, dsl test) */
    sig_cls_client_t *cls;
} route_env_t;

typedef struct route_in {
    const cfg_t *cfg;
    rq_t *rq;
    const char *request_id;
    const char *key_tenant; /* tenant of the listener key that matched, or NULL */
    const char *key_user;   /* that key's authz user and groups (NULL / 0 when none) */
    const char *const *key_groups;
    size_t n_key_groups;
    const char *key_name, *key_team; /* that key's name and team (authz kinds Key, Team) */
    const cfg_kv_t *key_metadata;    /* that key's metadata (authz kind Metadata) */
    size_t n_key_metadata;
    uint64_t now_ms; /* wall clock */
    /* eval / dsl test: use this memory instead of the store (no store I/O) */
    const sess_state_t *seed_state;
    const char *seed_session_key;
    bool no_session; /* ignore identity entirely */
} route_in_t;

typedef enum {
    ROUTE_OK = 0,
    ROUTE_ERR_MODEL_NOT_FOUND, /* 400 */
    ROUTE_ERR_NO_DEFAULT,      /* 503 no_backend_available */
    ROUTE_ERR_SIGNAL,          /* 503 signal_unavailable */
    ROUTE_ERR_SELECTION,       /* 503 no_backend_available */
    ROUTE_ERR_SESSION,         /* 503 session_model_unavailable */
} route_status_t;

typedef struct route_plan {
    route_status_t status;
    const char *error_code; /* OpenAI error code when status != OK */
    char error_message[256];
    /* resolution */
    bool passthrough;
    const cfg_recipe_t *recipe;
    const char *recipe_name;
    const cfg_model_t *model; /* the model to call */
    size_t model_index;       /* into cfg->providers.models */
    /* stages */
    bool ran_signals;
    sig_results_t sig;
    sig_cls_results_t cls; /* external classifiers' outcomes (n 0: none called) */
    sig_emb_results_t emb; /* remote embedder's vectors (n 0: none fetched) */
    bool ran_decision;
    dec_result_t dec;
    const cfg_decision_t *decision; /* effective decision (after inheritance), NULL = default */
    const char *decision_name;      /* "" when none */
    double confidence;
    bool ran_selection;
    sel_result_t sel;
    const char *algorithm;
    /* session */
    sess_identity_t id;
    bool has_state;
    sess_state_t state;
    sess_facts_t facts;
    sess_candidate_t *cands;
    size_t n_cands;
    sess_terms_t *terms;
    sess_policy_out_t pol;
    bool ran_policy;
    /* the policy's input, kept to re-decide the same turn (forced handoff
     * after every backend of the current model failed) */
    const cfg_session_t *knobs;
    sess_model_price_t *prices;
    size_t n_prices;
    uint64_t started_ms;
    uint64_t routing_us;
    /* stage boundaries (clock_mono_us, 0: not reached) for the trace spans:
     * start, signals begin (identity, memory and classifiers done), signals
     * done, selection done (policy begins), end */
    uint64_t mark_us[5];
} route_plan_t;

typedef void (*route_done_fn)(void *ud, route_plan_t *plan);

/* Run the pipeline. done runs exactly once (inline for the memory store, or
 * later on the caller's event loop). in->rq and the arena must outlive it. */
void route_decide(const route_env_t *env, const route_in_t *in, arena_t *a, route_plan_t *plan,
                  route_done_fn done, void *ud);

/* After the first 2xx upstream headers: commit the session memory (§9.8)
 * with the model that actually served. done (may be NULL) runs once when the
 * store acknowledged (inline for the memory store, or when there is nothing
 * to commit): the proxy sends the client its headers only then, so the next
 * turn — on any replica — reads this one's outcome. The wait's state comes
 * from the arena a (the request's: it must outlive done), or the heap when a
 * is NULL. */
void route_commit(const route_env_t *env, const route_in_t *in, const route_plan_t *plan,
                  const char *backend, const char *trace_id, arena_t *a, void (*done)(void *ud),
                  void *ud);
/* After the body: add usage and index the prefix chain with the reply. */
void route_finish(const route_env_t *env, const route_plan_t *plan, const sess_usage_t *usage,
                  const char *reply_text, size_t reply_len);

/* The selectors' embedder (router_dc, semantic cache) over the signal
 * engine's embedder; false when the config has none. A remote embedder is
 * called blocking: for tools (eval, dsl test), not for a worker. */
bool route_embedder_of(const sig_engine_t *sig, sel_embedder_t *out);
/* The same for a worker (serve: router_dc, the semantic cache): with a
 * remote embedder it never calls it, it reads the vectors the classify
 * stage fetched (route/fetch_embed.c) or the shared LRU, and fails (the
 * selector falls back to static, the semantic lookup misses) without one. */
bool route_embedder_nonblocking_of(const sig_engine_t *sig, sel_embedder_t *out);
/* Whether the model has a usable backend (weight > 0 and its credential). */
bool route_model_available(const cfg_model_t *m);
#endif
