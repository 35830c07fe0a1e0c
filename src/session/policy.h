/* policy.h - the session policy (SPEC §9.3-§9.7): one pure function that
 * decides whether a session stays on its current model, switches, is held
 * by a hard lock, or must be handed off, plus the trace of every term that
 * led there (§9.9).
 *
 * sess_policy_decide reads only its inputs: no I/O, no globals, no clock
 * (the caller passes now_ms). So `tether serve`, `tether eval` and
 * `tether bench saar` run exactly the same code. Everything is borrowed:
 * the output points into the inputs (model names) and into caller-provided
 * trace storage. Thread-safe (no shared state).
 *
 * Typical use (the route pipeline, and src/bench/saar_tether.c):
 *   sess_facts_from_rq(rq, &facts)            -- H, C, tool loop, bindings
 *   sess_policy_resolve_decision(...)          -- §9.6 step 4: which decision's
 *                                                candidates to score
 *   build candidates (base scores B from the selector, admissibility)
 *   sess_policy_decide(&in, &out)
 *   sess_handoff_plan(...) when out.reason == SESS_REASON_FORCED_HANDOFF
 *                                                (already filled in out.handoff) */
#ifndef TETHER_SESSION_POLICY_H
#define TETHER_SESSION_POLICY_H
#include "config/global.h"
#include "session/state.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rq;

/* §9.9 reason codes (fixed enum; names via sess_reason_name). */
typedef enum {
    SESS_REASON_COLD_START = 0,
    SESS_REASON_STAY_BEST_ADJUSTED,
    SESS_REASON_SWITCH_ALLOWED,
    SESS_REASON_HARD_LOCK_TOOL_LOOP,
    SESS_REASON_HARD_LOCK_PROVIDER_STATE,
    SESS_REASON_HARD_LOCK_MIN_TURNS,
    SESS_REASON_IDLE_RESET,
    SESS_REASON_DRIFT_RESET,
    SESS_REASON_FORCED_HANDOFF,
    SESS_REASON_PASSTHROUGH,
    SESS_REASON_NO_SESSION,
    SESS_REASON__N
} sess_reason_t;
const char *sess_reason_name(sess_reason_t r); /* "cold_start", ... */
/* The names in enum order (the one table; replay validates against it). */
extern const char *const sess_reason_names[SESS_REASON__N];

typedef enum {
    SESS_PHASE_NONE = 0,
    SESS_PHASE_USER_TURN,
    SESS_PHASE_TOOL_LOOP,
    SESS_PHASE_PROVIDER_STATE,
} sess_phase_t;
const char *sess_phase_name(sess_phase_t p); /* "none", "user_turn", ... */

typedef enum {
    SESS_HARD_LOCK_NONE = 0,
    SESS_HARD_LOCK_TOOL_LOOP,
    SESS_HARD_LOCK_PROVIDER_STATE,
    SESS_HARD_LOCK_MIN_TURNS,
} sess_hard_lock_t;
const char *sess_hard_lock_name(sess_hard_lock_t k); /* "none", "tool_loop", ... */

/* The session setting `mode` (global.router.session or a decision's
 * algorithm.session). */
typedef enum {
    SESS_MODE_ENFORCE = 0, /* the policy's verdict routes the turn */
    SESS_MODE_OBSERVE,     /* "observe_only": the verdict is computed and traced, the turn is
                              routed per request (the base top choice) */
    SESS_MODE_BYPASS,      /* the policy is skipped: the turn is routed per request */
} sess_mode_t;
sess_mode_t sess_mode_of(const char *mode); /* NULL / unknown: enforce */
const char *sess_mode_name(sess_mode_t m);  /* "enforce", "observe_only", "bypass" */

typedef enum {
    SESS_VERDICT_OK = 0, /* out.model is the model to call */
    SESS_VERDICT_ERROR,  /* answer 503 out.error_code, naming out.error_binding */
} sess_verdict_t;

/* Prices per 1M tokens. priced: prompt and completion prices are known. */
typedef struct sess_pricing {
    double prompt_per_1m, cached_input_per_1m, cache_write_per_1m, completion_per_1m;
    bool has_cache_write;
    bool priced;
} sess_pricing_t;

/* One model of the global price table (every configured model): P(x) is
 * normalised by the largest checkout price over this table, and the current
 * model's price and quality are looked up here when it is not a candidate. */
typedef struct sess_model_price {
    const char *model;
    double quality; /* card quality_score (0.5 when no card) */
    sess_pricing_t pricing;
} sess_model_price_t;

/* One candidate of the matched decision, in modelRefs order. */
typedef struct sess_candidate {
    const char *model;
    double base;    /* B: the selector's score */
    double quality; /* card quality_score */
    sess_pricing_t pricing;
    bool available;              /* has a healthy backend */
    bool admissible;             /* survived §9.4 exclusions */
    const char *excluded_reason; /* "tool_call_id_format" | "api_format" when !admissible */
    double learned_quality;      /* bounded adjustment learned from outcomes
                                    (session/outcomes.h), 0 when none; added to quality
                                    wherever QG is derived from the cards */
} sess_candidate_t;

/* Request facts the policy needs (§9.3), plus the routing context. */
typedef struct sess_facts {
    bool has_identity;
    bool affinity_off;           /* x-tether-session-affinity: off */
    bool passthrough;            /* the client named a concrete model */
    const char *requested_model; /* for passthrough */
    bool active_tool_loop;
    unsigned bindings;             /* RQ_BIND_* found in the request */
    bool previous_response_stored; /* previous_response_id is a chain in tether's store
                                      (not native, not unknown) */
    const char *bound_model;       /* the model the request's provider state is bound to, from the
                                      response store or chain index; used when the session has no
                                      last_model (§9.4). NULL when unknown */
    bool bound_model_signed;       /* bound_model comes from a signed id (binding_token.h): it
                                      names the issuer, so it is current even over last_model */
    bool bound_by_tool_calls;      /* ... from the open tool calls' ids: it locks a tool loop */
    double H;             /* estimated tokens before the final user message / tool results */
    double C;             /* the request's estimated tokens */
    uint32_t n_assistant; /* assistant messages in the request */
    /* the matched decision (§9.6 step 4) */
    const char *decision; /* matched decision name; NULL/"" when nothing matched */
    bool decision_is_catch_all;
    bool last_decision_inheritable; /* last_decision exists in the config and has no
                                       fast_response (the caller checks the config) */
    /* EMIT retention of the effective decision */
    bool keep_current_model;
    bool prefer_prefix_retention;
    bool current_available;    /* the session's current model has a healthy backend */
    const char *default_model; /* providers.defaults.default_model (handoff target of last
                                  resort), may be NULL */
    bool default_model_available;
    uint64_t now_ms;
    double remaining_turn_prior; /* r; < 0 when there is none */
} sess_facts_t;

/* Per-candidate terms (§9.5 "Trace terms"). Penalties are stored as the
 * positive amount subtracted; bonuses as the amount added. */
typedef struct sess_terms {
    bool scored; /* false: not admissible (see excluded_reason) */
    bool is_current;
    double base;                 /* B */
    double quality_gap;          /* g·QG(c→m), or the card-derived QG scaled by its weight */
    double learned_quality;      /* m's learned quality adjustment inside a derived QG */
    double downgrade_credit;     /* D(c→m) */
    double handoff_penalty;      /* N·w_h·HP(c→m) */
    double prefix_benefit;       /* c: N·w_p·M·W·K(c,c) */
    double prefix_penalty;       /* m: N·w_p·M·W·K(c,m) */
    double history_penalty;      /* N·w_s·min(n_sw/8,1) */
    double switch_margin;        /* N·μ */
    double stay_bias;            /* c: +N·σ; m: −N·[B(m)≤B(c) ∧ QG≤0]·σ (signed) */
    double tool_loop_term;       /* c: +L·λ; m: −L·λ (signed) */
    double checkout_multiplier;  /* K(c,c) for c, K(c,m) for m */
    double final;                /* S */
    double net_switch_advantage; /* S(m) − S(c); 0 for c or when c is not scored */
} sess_terms_t;

#define SESS_MAX_CONVERSIONS 8
typedef enum {
    SESS_CONV_EXPAND_RESPONSE_CHAIN = 0, /* expand a stored previous_response_id chain */
    SESS_CONV_DROP_ENCRYPTED_REASONING,
    SESS_CONV_DROP_SIGNED_THINKING,
    SESS_CONV_DROP_THOUGHT_SIGNATURES,
    SESS_CONV_KEEP_REASONING_SUMMARIES, /* visible summaries kept as text */
    SESS_CONV_REWRITE_TOOL_CALL_IDS,
    SESS_CONV_TOOL_LOOP_AS_HISTORY, /* pending tool loop kept as plain history */
} sess_conversion_t;
const char *sess_conversion_name(sess_conversion_t c);

/* A forced handoff: what must be converted, by binding kind (§9.7). */
typedef struct sess_handoff {
    const char *from, *to;
    sess_conversion_t conversions[SESS_MAX_CONVERSIONS];
    size_t n_conversions;
    bool possible;
    unsigned blocking_binding;  /* RQ_BIND_* bit that makes it impossible; 0 = handoff disabled
                                   or no target */
    const char *impossible_why; /* sentence for the 503, NULL when possible */
} sess_handoff_t;

/* Plan the conversions that let `to` read a request carrying `bindings`
 * (and a pending tool loop) that `from` served. Touches no bytes.
 * Impossible: a native or unknown previous_response_id, server-tool state,
 * or handoff_on_unavailable off. Pure. */
void sess_handoff_plan(const cfg_session_t *knobs, const sess_facts_t *f, const char *from,
                       const char *to, sess_handoff_t *out);

typedef struct sess_policy_in {
    const cfg_session_t *knobs; /* global policy with per-decision overrides merged */
    const sess_state_t *state;  /* NULL: no memory (cold) */
    const sess_facts_t *facts;
    const sess_candidate_t *cands; /* [n_cands], modelRefs order */
    size_t n_cands;
    const sess_model_price_t *prices; /* [n_prices]: every configured model */
    size_t n_prices;
} sess_policy_in_t;

typedef struct sess_policy_out {
    sess_mode_t mode; /* the knobs' mode this turn ran under */
    /* observe_only: the model the policy's verdict chose (NULL when the verdict was an error,
     * whose error_code / error_message stay set for the trace), while model / chosen are the
     * per-request choice that routes. reason, phase, hard_lock and the terms describe the
     * verdict. In the other modes verdict_model == model. */
    const char *verdict_model;
    sess_verdict_t verdict;
    int chosen;        /* index into cands, -1 when the model is not a candidate
                          (lock on c outside the decision, passthrough, default model) */
    const char *model; /* the model to call (borrowed); NULL on error */
    sess_reason_t reason;
    sess_phase_t phase;
    const char *error_code;    /* "session_model_unavailable" | "no_available_model" */
    const char *error_message; /* one sentence naming the binding */
    unsigned error_binding;    /* RQ_BIND_* bit or 0 */
    /* trace */
    const char *decision;       /* effective decision (inherited or matched) */
    const char *previous_model; /* c, NULL when cold */
    bool switched;
    sess_hard_lock_t hard_lock;
    unsigned bindings; /* bindings that locked (RQ_BIND_*) */
    bool idle_reset, drift_reset, decision_inherited, current_not_in_candidates;
    bool retention_keep_current_model, lock_overridden_by_client;
    double idle_for_s; /* −1 when no previous turn */
    uint32_t T;
    double continuation_mass; /* M */
    double cache_warmth;      /* W (after the reset factor) */
    double confidence;
    double required_quality; /* the quality the turn asks for: the card quality (+ learned
                                adjustment) of the admissible candidate with the top B; 0 when
                                there is none. The commit records it into the session's lock
                                trajectory (sess_state_note_lock) */
    bool lock_predicted;     /* the session's trajectory predicts a lock episode next turn, and
                                the derived gaps used its required quality (lock_escalation) */
    double lock_escalation;  /* what that prediction added to the required quality */
    bool fallback;           /* step 9: the winner had no available backend */
    bool has_handoff;
    sess_handoff_t handoff;
    /* Per-candidate terms: caller-provided storage of n_cands entries, or
     * NULL for no per-candidate trace. */
    sess_terms_t *terms;
} sess_policy_out_t;

/* §9.6 step 4: the decision whose candidates should be scored. Returns
 * facts->decision, or the state's last_decision when it is inherited (then
 * *inherited is true). Idle is judged against facts->now_ms. Pure. */
const char *sess_policy_resolve_decision(const cfg_session_t *knobs, const sess_state_t *state,
                                         const sess_facts_t *facts, bool *inherited);

/* The per-turn procedure §9.6 (steps 1-9) with §9.4, §9.5 and §9.7.
 * out->terms must be NULL or point to in->n_cands entries. Returns 0, or
 * -1 on a programmer error (no knobs/facts). Pure. */
int sess_policy_decide(const sess_policy_in_t *in, sess_policy_out_t *out);

/* Token estimate used for H and C: ceil(bytes/4) of every message's content
 * bytes + 4 per message, plus the tools definitions (they are part of the
 * cacheable prefix). A BPE count may replace it later. */
double sess_estimate_tokens(size_t bytes);
/* Fill the §9.3 request facts (active_tool_loop, bindings, H, C,
 * n_assistant) from a request view; leaves the other fields untouched. */
void sess_facts_from_rq(const struct rq *r, sess_facts_t *f);
#endif
