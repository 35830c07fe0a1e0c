/* test_policy.c - the session policy (SPEC §9.3-§9.7) as a pure function:
 * every lock outcome, locks outliving decisions and resets, the min-turns
 * lock and its lifting, inheritance, EMIT keep_current_model, each
 * economics term against values computed by hand, downgrade credit rules,
 * ties, fallback, forced handoff and its impossible cases, and the
 * no_session / passthrough paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/yaml.h"
#include "core/arena.h"
#include "json/scan.h"
#include "request/request.h"
#include "session/policy.h"

#define EPS 1e-9

/* SPEC §9.10 defaults, set here so the hand-computed values below do not
 * move when the loader's table is retuned. */
static cfg_session_t knobs(void)
{
    cfg_session_t k;
    memset(&k, 0, sizeof k);
    k.enabled = true;
    k.idle_timeout_seconds = 300;
    k.min_turns_before_switch = 1;
    k.switch_margin = 0.05;
    k.stay_bias = 0.10;
    k.tool_loop_hard_lock = true;
    k.context_portability_hard_lock = true;
    k.decision_drift_reset = true;
    k.tool_loop_stay_bias = 0.35;
    k.prefix_cache_weight = 0.20;
    k.handoff_penalty_weight = 1.0;
    k.default_handoff_penalty = 0.05;
    k.max_cache_cost_multiplier = 2.5;
    k.switch_history_weight = 0.04;
    k.quality_gap_multiplier = 1.0;
    k.reset_warmth_factor = 0.2;
    k.allow_downgrade = true;
    k.downgrade_savings_weight = 0.10;
    k.inherit_decision_when_unmatched = true;
    k.handoff_on_unavailable = true;
    k.remaining_turn_prior_weight = 1.0;
    k.remaining_turn_prior_horizon = 8;
    return k;
}

/* Two priced models: cheap (checkout 0.5) and big (checkout 9 = the max). */
static const sess_pricing_t CHEAP = {1.0, 0.5, 0, 2.0, false, true};
static const sess_pricing_t BIG = {10.0, 1.0, 0, 30.0, false, true};

typedef struct fixture {
    cfg_session_t k;
    sess_state_t st;
    sess_facts_t f;
    sess_candidate_t c[3];
    size_t nc;
    sess_model_price_t prices[3];
    sess_terms_t terms[3];
    sess_policy_out_t out;
} fixture_t;

static void add_stats(sess_state_t *s, int slot, const char *model, uint32_t turns,
                      uint64_t last_prompt)
{
    snprintf(s->models[slot].model, SESS_NAME_MAX, "%s", model);
    s->models[slot].turns = turns;
    s->models[slot].responses_with_usage = turns;
    s->models[slot].responses_with_cached = turns ? 1 : 0;
    s->models[slot].last_prompt_tokens = last_prompt;
}

/* A warm session on "cheap" (4 turns, 2 switches, 500 last prompt tokens),
 * decision "coding", last seen 60 s ago; candidates cheap (B 0.6) and big
 * (B 0.9); facts H 600, C 1000, 2 assistant messages. */
static void setup(fixture_t *x)
{
    memset(x, 0, sizeof *x);
    x->k = knobs();
    sess_state_t *s = &x->st;
    snprintf(s->last_model, sizeof s->last_model, "cheap");
    snprintf(s->last_decision, sizeof s->last_decision, "coding");
    s->turn_count = 4;
    s->switch_count = 2;
    s->prompt_tokens = 4000;
    s->completion_tokens = 1200;
    s->last_seen_ms = 1000000;
    add_stats(s, 0, "cheap", 4, 500);
    x->f = (sess_facts_t){.has_identity = true,
                          .H = 600,
                          .C = 1000,
                          .n_assistant = 2,
                          .decision = "coding",
                          .last_decision_inheritable = true,
                          .current_available = true,
                          .default_model = "cheap",
                          .default_model_available = true,
                          .now_ms = 1000000 + 60000,
                          .remaining_turn_prior = -1};
    x->c[0] = (sess_candidate_t){"cheap", 0.6, 0.6, CHEAP, true, true, NULL, 0};
    x->c[1] = (sess_candidate_t){"big", 0.9, 0.9, BIG, true, true, NULL, 0};
    x->nc = 2;
    x->prices[0] = (sess_model_price_t){"cheap", 0.6, CHEAP};
    x->prices[1] = (sess_model_price_t){"big", 0.9, BIG};
    x->prices[2] = (sess_model_price_t){"gone", 0.7, CHEAP};
}

static sess_policy_out_t *run(fixture_t *x, bool with_state)
{
    sess_policy_in_t in = {&x->k, with_state ? &x->st : NULL, &x->f, x->c, x->nc, x->prices, 3};
    x->out.terms = x->terms;
    assert_int_equal(sess_policy_decide(&in, &x->out), 0);
    return &x->out;
}

static void expect(const sess_policy_out_t *o, const char *model, sess_reason_t reason)
{
    assert_int_equal(o->verdict, SESS_VERDICT_OK);
    assert_non_null(o->model);
    assert_string_equal(o->model, model);
    assert_string_equal(sess_reason_name(o->reason), sess_reason_name(reason));
}

/* ---- no_session, passthrough, cold start ---- */

static void test_no_identity_takes_base_top(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.has_identity = false;
    sess_policy_out_t *o = run(&x, false);
    expect(o, "big", SESS_REASON_NO_SESSION);
    assert_int_equal(o->phase, SESS_PHASE_NONE);
    assert_false(o->switched);
}

static void test_affinity_off_ignores_memory_and_locks(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.affinity_off = true;
    x.f.active_tool_loop = true; /* would lock with a session */
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_NO_SESSION);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
}

static void test_no_session_skips_unavailable_top(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.has_identity = false;
    x.c[1].available = false;
    sess_policy_out_t *o = run(&x, false);
    expect(o, "cheap", SESS_REASON_NO_SESSION);
    assert_true(o->fallback);
}

static void test_passthrough_obeys_client_through_a_lock(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.passthrough = true;
    x.f.requested_model = "big";
    x.f.active_tool_loop = true;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_PASSTHROUGH);
    assert_true(o->switched);
    assert_true(o->lock_overridden_by_client);
    assert_int_equal(o->phase, SESS_PHASE_TOOL_LOOP);
    /* same model: nothing overridden */
    x.f.requested_model = "cheap";
    o = run(&x, true);
    assert_false(o->lock_overridden_by_client);
    /* a model outside the candidates is still obeyed */
    x.f.requested_model = "elsewhere";
    o = run(&x, true);
    expect(o, "elsewhere", SESS_REASON_PASSTHROUGH);
    assert_int_equal(o->chosen, -1);
}

static void test_cold_start_best_admissible_base(void **st)
{
    fixture_t x;
    setup(&x);
    x.c[1].admissible = false;
    x.c[1].excluded_reason = "api_format";
    sess_policy_out_t *o = run(&x, false);
    expect(o, "cheap", SESS_REASON_COLD_START);
    assert_int_equal(o->phase, SESS_PHASE_USER_TURN);
    /* an empty record is cold too */
    x.c[1].admissible = true;
    memset(&x.st, 0, sizeof x.st);
    o = run(&x, true);
    expect(o, "big", SESS_REASON_COLD_START);
}

static void test_state_without_memory_binds_to_its_model(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.bindings = RQ_BIND_ENCRYPTED_REASONING;
    x.f.bound_model = "cheap"; /* from the response store / chain index */
    sess_policy_out_t *o = run(&x, false);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
    assert_string_equal(o->previous_model, "cheap");
    /* unknown issuer: an ordinary cold start */
    x.f.bound_model = NULL;
    expect(run(&x, false), "big", SESS_REASON_COLD_START);
}

/* ---- locks ---- */

static void test_tool_loop_lock_holds(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.active_tool_loop = true;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_TOOL_LOOP);
    assert_int_equal(o->phase, SESS_PHASE_TOOL_LOOP);
    assert_false(o->switched);
}

/* The open tool calls' ids carry the issuer's signed binding: the loop is
 * locked to it, over a stale last_model and without any memory; a signed
 * tool binding outside a tool loop locks nothing. */
static void test_tool_loop_locks_to_the_calls_signed_issuer(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.active_tool_loop = true;
    x.f.bound_model = "big";
    x.f.bound_model_signed = true;
    x.f.bound_by_tool_calls = true;
    sess_policy_out_t *o = run(&x, true); /* memory says cheap (stale) */
    expect(o, "big", SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_string_equal(o->previous_model, "big");
    expect(run(&x, false), "big", SESS_REASON_HARD_LOCK_TOOL_LOOP); /* no memory at all */
    x.f.active_tool_loop = false;
    o = run(&x, true);
    assert_string_equal(o->previous_model, "cheap");
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
}

static void test_tool_loop_lock_off_uses_tool_loop_bias(void **st)
{
    fixture_t x;
    setup(&x);
    x.k.tool_loop_hard_lock = false;
    x.f.active_tool_loop = true;
    x.c[1].base = 1.5; /* a lead of 0.9 is not enough: λ = 0.35 on both sides */
    expect(run(&x, true), "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
    x.c[1].base = 2.0;
    sess_policy_out_t *o = run(&x, true);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
    assert_true(fabs(x.terms[0].tool_loop_term - 0.35) < EPS);
    assert_true(fabs(x.terms[1].tool_loop_term + 0.35) < EPS);
    assert_true(fabs(x.terms[1].net_switch_advantage - (x.terms[1].final - x.terms[0].final)) <
                EPS);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
}

static void test_provider_state_lock_each_binding(void **st)
{
    const unsigned bits[] = {RQ_BIND_PREVIOUS_RESPONSE_ID, RQ_BIND_ENCRYPTED_REASONING,
                             RQ_BIND_SIGNED_THINKING, RQ_BIND_THOUGHT_SIGNATURE,
                             RQ_BIND_SERVER_TOOL_STATE};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        fixture_t x;
        setup(&x);
        x.f.bindings = bits[i];
        x.c[1].base = 5; /* scoring would switch */
        sess_policy_out_t *o = run(&x, true);
        expect(o, "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
        assert_int_equal(o->bindings, bits[i]);
        assert_int_equal(o->phase, SESS_PHASE_PROVIDER_STATE);
    }
}

static void test_stored_chain_counts_unless_portable(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.bindings = RQ_BIND_PREVIOUS_RESPONSE_ID;
    x.f.previous_response_stored = true;
    x.c[1].base = 5;
    expect(run(&x, true), "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
    x.k.treat_stored_chains_as_portable = true;
    sess_policy_out_t *o = run(&x, true);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
}

static void test_portability_lock_off_lets_state_go(void **st)
{
    fixture_t x;
    setup(&x);
    x.k.context_portability_hard_lock = false;
    x.f.bindings = RQ_BIND_ENCRYPTED_REASONING;
    x.c[1].base = 5;
    expect(run(&x, true), "big", SESS_REASON_SWITCH_ALLOWED);
}

static void test_tool_call_id_format_excludes_then_locks(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.bindings = RQ_BIND_TOOL_CALL_ID_FORMAT;
    x.c[2] = (sess_candidate_t){"mid", 2.0, 0.7, CHEAP, true, false, "tool_call_id_format", 0};
    x.nc = 3;
    x.c[1].base = 5;
    /* big remains admissible: no lock, mid is never scored */
    sess_policy_out_t *o = run(&x, true);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
    assert_false(x.terms[2].scored);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
    /* only c remains admissible: provider-state lock on tool_call_id_format */
    x.c[1].admissible = false;
    x.c[1].excluded_reason = "tool_call_id_format";
    o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
    assert_int_equal(o->bindings, RQ_BIND_TOOL_CALL_ID_FORMAT);
}

static void test_lock_holds_when_decision_changes(void **st)
{
    fixture_t x;
    setup(&x);
    /* the new decision lists only "big"; c = "cheap" is not a candidate */
    x.f.decision = "writing";
    x.c[0] = x.c[1];
    x.nc = 1;
    x.f.active_tool_loop = true;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_int_equal(o->chosen, -1);
    assert_true(o->current_not_in_candidates);
    assert_true(o->drift_reset); /* a reset applies, the lock still holds */
    assert_false(o->switched);
    /* same for provider state */
    x.f.active_tool_loop = false;
    x.f.bindings = RQ_BIND_SIGNED_THINKING;
    o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
    assert_true(o->current_not_in_candidates);
    /* without a lock the session leaves c for the decision's candidate */
    x.f.bindings = 0;
    o = run(&x, true);
    expect(o, "big", SESS_REASON_DRIFT_RESET);
    assert_true(o->switched);
}

static void test_resets_never_lift_hard_locks(void **st)
{
    for (int lock = 0; lock < 2; lock++) {
        for (int reset = 0; reset < 2; reset++) {
            fixture_t x;
            setup(&x);
            x.c[1].base = 5;
            if (lock == 0)
                x.f.active_tool_loop = true;
            else
                x.f.bindings = RQ_BIND_ENCRYPTED_REASONING;
            if (reset == 0)
                x.f.now_ms = x.st.last_seen_ms + 301000; /* idle */
            else
                x.f.decision = "writing"; /* drift */
            sess_policy_out_t *o = run(&x, true);
            expect(o, "cheap",
                   lock == 0 ? SESS_REASON_HARD_LOCK_TOOL_LOOP
                             : SESS_REASON_HARD_LOCK_PROVIDER_STATE);
            assert_true(reset == 0 ? o->idle_reset : o->drift_reset);
        }
    }
}

static void test_min_turns_lock_and_resets_lift_it(void **st)
{
    fixture_t x;
    setup(&x);
    x.k.min_turns_before_switch = 6; /* T = max(4, 2) = 4 */
    x.c[1].base = 5;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_MIN_TURNS);
    assert_int_equal(o->T, 4);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_MIN_TURNS);
    /* T counts assistant messages too */
    x.f.n_assistant = 6;
    expect(run(&x, true), "big", SESS_REASON_SWITCH_ALLOWED);
    x.f.n_assistant = 2;
    /* idle lifts it */
    x.f.now_ms = x.st.last_seen_ms + 300000; /* exactly the timeout */
    o = run(&x, true);
    expect(o, "big", SESS_REASON_IDLE_RESET);
    assert_true(o->idle_reset);
    assert_true(fabs(o->idle_for_s - 300) < EPS);
    /* drift lifts it */
    x.f.now_ms = x.st.last_seen_ms + 1000;
    x.f.decision = "writing";
    expect(run(&x, true), "big", SESS_REASON_DRIFT_RESET);
}

static void test_locked_c_unavailable_forced_handoff(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.active_tool_loop = true;
    x.f.bindings = RQ_BIND_ENCRYPTED_REASONING | RQ_BIND_THOUGHT_SIGNATURE;
    x.f.current_available = false;
    x.c[0].available = false;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_FORCED_HANDOFF);
    assert_true(o->has_handoff);
    assert_true(o->handoff.possible);
    assert_string_equal(o->handoff.from, "cheap");
    assert_string_equal(o->handoff.to, "big");
    const sess_conversion_t want[] = {
        SESS_CONV_DROP_ENCRYPTED_REASONING, SESS_CONV_DROP_THOUGHT_SIGNATURES,
        SESS_CONV_REWRITE_TOOL_CALL_IDS, SESS_CONV_TOOL_LOOP_AS_HISTORY};
    assert_int_equal(o->handoff.n_conversions, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(sess_conversion_name(o->handoff.conversions[i]),
                            sess_conversion_name(want[i]));
}

static void test_forced_handoff_picks_best_admissible_by_base(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.bindings = RQ_BIND_PREVIOUS_RESPONSE_ID;
    x.f.previous_response_stored = true;
    x.f.current_available = false;
    x.c[2] = (sess_candidate_t){"mid", 2.0, 0.7, CHEAP, true, false, "api_format", 0};
    x.c[1].base = 0.1;
    x.nc = 3;
    x.k.handoff_keep_reasoning_summaries = true;
    sess_policy_out_t *o = run(&x, true);
    /* mid has the best B but is not admissible; big is the best admissible */
    expect(o, "big", SESS_REASON_FORCED_HANDOFF);
    assert_int_equal(o->handoff.n_conversions, 1);
    assert_int_equal(o->handoff.conversions[0], SESS_CONV_EXPAND_RESPONSE_CHAIN);
    /* nothing admissible: the default model */
    x.c[1].admissible = false;
    x.f.default_model = "gone";
    o = run(&x, true);
    expect(o, "gone", SESS_REASON_FORCED_HANDOFF);
    assert_int_equal(o->chosen, -1);
}

static void test_forced_handoff_impossible_is_an_error(void **st)
{
    /* native / unknown previous_response_id */
    fixture_t x;
    setup(&x);
    x.f.bindings = RQ_BIND_PREVIOUS_RESPONSE_ID;
    x.f.current_available = false;
    sess_policy_out_t *o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_ERROR);
    assert_null(o->model);
    assert_string_equal(o->error_code, "session_model_unavailable");
    assert_int_equal(o->error_binding, RQ_BIND_PREVIOUS_RESPONSE_ID);
    assert_non_null(strstr(o->error_message, "previous_response_id"));
    assert_int_equal(o->reason, SESS_REASON_FORCED_HANDOFF);
    /* server-tool state */
    x.f.bindings = RQ_BIND_SERVER_TOOL_STATE;
    o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_ERROR);
    assert_int_equal(o->error_binding, RQ_BIND_SERVER_TOOL_STATE);
    /* handoff disabled */
    x.f.bindings = RQ_BIND_ENCRYPTED_REASONING;
    x.k.handoff_on_unavailable = false;
    o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_ERROR);
    assert_non_null(strstr(o->error_message, "handoff_on_unavailable"));
    /* no target at all */
    x.k.handoff_on_unavailable = true;
    x.c[1].available = false;
    x.f.default_model_available = false;
    o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_ERROR);
}

static void test_min_turns_with_c_unavailable_scores(void **st)
{
    fixture_t x;
    setup(&x);
    x.k.min_turns_before_switch = 10;
    x.f.current_available = false;
    x.c[0].available = false;
    sess_policy_out_t *o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_OK);
    assert_string_equal(o->model, "big");
    assert_false(o->has_handoff);
}

/* ---- resets, inheritance, EMIT ---- */

static void test_idle_reset_zeroes_session_terms(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.now_ms = x.st.last_seen_ms + 400000;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_IDLE_RESET);
    assert_true(fabs(x.terms[0].final - 0.6) < EPS); /* no stay bias, no prefix benefit */
    assert_true(fabs(x.terms[1].final - 0.9) < EPS); /* no handoff/prefix/history/margin */
    assert_true(fabs(o->cache_warmth - 0.5 * 0.2) < EPS);
    /* idle timeout 0 disables it */
    x.k.idle_timeout_seconds = 0;
    o = run(&x, true);
    assert_false(o->idle_reset);
    expect(o, "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
}

static void test_drift_reset_rules(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.decision = "writing";
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_DRIFT_RESET);
    assert_true(o->drift_reset);
    /* off */
    x.k.decision_drift_reset = false;
    o = run(&x, true);
    assert_false(o->drift_reset);
    expect(o, "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
    /* an empty last decision is never drift */
    x.k.decision_drift_reset = true;
    x.st.last_decision[0] = 0;
    assert_false(run(&x, true)->drift_reset);
}

static void test_inheritance(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.decision = NULL; /* nothing matched */
    sess_policy_out_t *o = run(&x, true);
    assert_true(o->decision_inherited);
    assert_string_equal(o->decision, "coding");
    assert_false(o->drift_reset);
    /* a catch-all match inherits too, and is then not drift */
    x.f.decision = "default";
    x.f.decision_is_catch_all = true;
    o = run(&x, true);
    assert_true(o->decision_inherited);
    assert_false(o->drift_reset);
    assert_string_equal(o->decision, "coding");
    /* not after an idle reset: the catch-all stands (and is drift) */
    x.f.now_ms = x.st.last_seen_ms + 500000;
    o = run(&x, true);
    assert_false(o->decision_inherited);
    assert_string_equal(o->decision, "default");
    /* not when the last decision is gone or has fast_response */
    x.f.now_ms = x.st.last_seen_ms + 1000;
    x.f.last_decision_inheritable = false;
    assert_false(run(&x, true)->decision_inherited);
    /* not when switched off */
    x.f.last_decision_inheritable = true;
    x.k.inherit_decision_when_unmatched = false;
    o = run(&x, true);
    assert_false(o->decision_inherited);
    assert_true(o->drift_reset);
    /* a real (non catch-all) match is never replaced */
    x.k.inherit_decision_when_unmatched = true;
    x.f.decision_is_catch_all = false;
    x.f.decision = "writing";
    assert_false(run(&x, true)->decision_inherited);
    /* the resolver gives the same answer to the caller */
    bool inh;
    x.f.decision = NULL;
    assert_string_equal(sess_policy_resolve_decision(&x.k, &x.st, &x.f, &inh), "coding");
    assert_true(inh);
}

static void test_emit_keep_current_model(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.keep_current_model = true;
    x.c[1].base = 5;
    x.f.now_ms = x.st.last_seen_ms + 500000; /* even after a reset */
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
    assert_true(o->retention_keep_current_model);
    /* an unavailable c is not kept */
    x.f.current_available = false;
    o = run(&x, true);
    assert_string_equal(o->model, "big");
    assert_false(o->retention_keep_current_model);
}

/* ---- economics ---- */

/* The fixture by hand: M0 = 0.45·0.6 + 0.35·600/8192 + 0.2·4/8, W = 0.5,
 * P(cheap) = 0.5/9, P(big) = 1, K(c,c) = 1 + 1.5·P(cheap), K(c,big) = 2.5. */
static void test_economics_terms_by_hand(void **st)
{
    fixture_t x;
    setup(&x);
    sess_policy_out_t *o = run(&x, true);
    double M = 0.45 * 0.6 + 0.35 * (600.0 / 8192.0) + 0.2 * 0.5;
    double W = 0.5;
    double Kcc = 1 + 1.5 * (0.5 / 9.0), Kcm = 2.5;
    assert_true(fabs(o->continuation_mass - M) < EPS);
    assert_true(fabs(o->cache_warmth - W) < EPS);
    const sess_terms_t *c = &x.terms[0], *m = &x.terms[1];
    assert_true(c->is_current && c->scored);
    assert_true(fabs(c->checkout_multiplier - Kcc) < EPS);
    assert_true(fabs(c->stay_bias - 0.10) < EPS);
    assert_true(fabs(c->prefix_benefit - 0.2 * M * W * Kcc) < EPS);
    assert_true(fabs(c->final - (0.6 + 0.10 + 0.2 * M * W * Kcc)) < EPS);
    assert_true(fabs(m->checkout_multiplier - Kcm) < EPS);
    assert_true(fabs(m->handoff_penalty - 0.05) < EPS);
    assert_true(fabs(m->prefix_penalty - 0.2 * M * W * Kcm) < EPS);
    assert_true(fabs(m->history_penalty - 0.04 * (2.0 / 8.0)) < EPS);
    assert_true(fabs(m->switch_margin - 0.05) < EPS);
    assert_true(fabs(m->stay_bias) < EPS);        /* B(big) > B(cheap) */
    assert_true(fabs(m->downgrade_credit) < EPS); /* an upgrade */
    double Sm = 0.9 - 0.05 - 0.2 * M * W * Kcm - 0.01 - 0.05;
    assert_true(fabs(m->final - Sm) < EPS);
    assert_true(fabs(m->net_switch_advantage - (Sm - c->final)) < EPS);
    expect(o, "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
    /* confidence = 0.5 + min(0.5, S_best − S_second) */
    assert_true(fabs(o->confidence - (0.5 + fmin(0.5, c->final - Sm))) < EPS);
}

static void test_cache_warmth_cold_model_and_kappa(void **st)
{
    fixture_t x;
    setup(&x);
    /* no completed turn on c: W = 0.5 */
    x.st.models[0].turns = 0;
    assert_true(fabs(run(&x, true)->cache_warmth - 0.5) < EPS);
    /* 16 responses with usage and none cached: κ = 0.25 */
    x.st.models[0].turns = 16;
    x.st.models[0].responses_with_usage = 16;
    x.st.models[0].responses_with_cached = 0;
    x.st.models[0].last_prompt_tokens = 2000; /* clamped to 1 */
    assert_true(fabs(run(&x, true)->cache_warmth - 0.25) < EPS);
    x.st.models[0].responses_with_cached = 1;
    assert_true(fabs(run(&x, true)->cache_warmth - 1.0) < EPS);
}

static void test_remaining_turn_prior_raises_mass(void **st)
{
    fixture_t x;
    setup(&x);
    double M0 = 0.45 * 0.6 + 0.35 * (600.0 / 8192.0) + 0.2 * 0.5;
    x.f.remaining_turn_prior = 12; /* pm = (12 − 4)/8 = 1 */
    assert_true(fabs(run(&x, true)->continuation_mass - 1.0) < EPS);
    x.k.remaining_turn_prior_weight = 0.5;
    assert_true(fabs(run(&x, true)->continuation_mass - (M0 + (1 - M0) * 0.5)) < EPS);
    x.f.remaining_turn_prior = 5; /* pm = 1/8 < M0: no change */
    assert_true(fabs(run(&x, true)->continuation_mass - M0) < EPS);
}

static void test_prefer_prefix_retention_doubles_weight(void **st)
{
    fixture_t x;
    setup(&x);
    run(&x, true);
    double before = x.terms[0].prefix_benefit, pen = x.terms[1].prefix_penalty;
    x.f.prefer_prefix_retention = true;
    run(&x, true);
    assert_true(fabs(x.terms[0].prefix_benefit - 2 * before) < EPS);
    assert_true(fabs(x.terms[1].prefix_penalty - 2 * pen) < EPS);
}

static void test_no_price_multiplier_and_unpriced_levels(void **st)
{
    fixture_t x;
    setup(&x);
    x.k.max_cache_cost_multiplier = 1;
    run(&x, true);
    assert_true(fabs(x.terms[0].checkout_multiplier - 1) < EPS);
    assert_true(fabs(x.terms[1].checkout_multiplier - 1) < EPS);
    /* unpriced: P = quality_score; cache_write_per_1m wins over prompt − cached */
    setup(&x);
    x.c[1].pricing.priced = false;
    x.prices[1].pricing.priced = false;
    x.c[0].pricing.has_cache_write = true;
    x.c[0].pricing.cache_write_per_1m = 0.25;
    x.prices[0].pricing = x.c[0].pricing;
    x.prices[2].pricing.priced = false;
    run(&x, true);
    /* max checkout is now cheap's own 0.25: P(cheap) = 1, P(big) = 0.9 */
    assert_true(fabs(x.terms[0].checkout_multiplier - 2.5) < EPS);
    assert_true(fabs(x.terms[1].checkout_multiplier - 2.5) < EPS);
}

/* Issue 19: with no quality_gaps table, QG comes from the cards against the
 * turn's required quality (the top-B candidate's), discounted by the
 * target's price level, plus the learned quality adjustment. */
static void test_quality_gaps_derived_from_cards(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.k.quality_gaps_from_cards = true;
    x.k.card_quality_gap_weight = 6;
    x.k.card_gap_price_discount = 0.6;
    x.k.card_gap_keep_weight = 1.0;
    /* c = cheap (0.6), big (0.9) has the top B: required 0.9; P(big) = 1 */
    sess_policy_out_t *o = run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap - 6 * 0.3 * (1 - 0.6)) < EPS);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
    /* a learned adjustment lowers big's quality (and the requirement) */
    x.c[1].learned_quality = -0.1;
    run(&x, true);
    assert_true(fabs(x.terms[1].learned_quality + 0.1) < EPS);
    assert_true(fabs(x.terms[1].quality_gap - 6 * 0.2 * (1 - 0.6)) < EPS);
    x.c[1].learned_quality = 0;
    /* off: no gap (the SPEC 1.0 behaviour) */
    x.k.quality_gaps_from_cards = false;
    run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap) < EPS);
    x.k.quality_gaps_from_cards = true;
    /* an operator table replaces the derived gaps altogether */
    arena_t a;
    arena_init(&a, 4096);
    cfg_diags_t d;
    cfg_diags_init(&d);
    const char *qg = "[{decision: '*', from: big, to: cheap, value: -0.1}]";
    x.k.quality_gaps = cfg_yaml_parse(&a, "qg", qg, strlen(qg), &d);
    run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap) < EPS);
    x.k.quality_gaps = NULL;
    /* leaving a better model when the turn asks little: the card difference
       times the continuation mass M */
    snprintf(x.st.last_model, sizeof x.st.last_model, "big");
    add_stats(&x.st, 0, "big", 4, 500);
    x.c[0].base = 0.95;
    o = run(&x, true);
    assert_true(o->continuation_mass > 0);
    assert_true(fabs(x.terms[0].quality_gap + 6 * 0.3 * o->continuation_mass) < EPS);
    cfg_diags_free(&d);
    arena_deinit(&a);
}

/* Issue 19: the learned term changes the choice. Close base scores: the
 * card-derived gap moves the session up to big; once big has failed enough
 * (learned quality -0.25), it no longer does. */
static void test_learned_quality_changes_the_choice(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.k.quality_gaps_from_cards = true;
    x.k.card_quality_gap_weight = 6;
    x.k.card_gap_price_discount = 0.6;
    x.k.card_gap_keep_weight = 1.0;
    x.c[0].base = 0.85;
    expect(run(&x, true), "big", SESS_REASON_SWITCH_ALLOWED);
    x.c[1].learned_quality = -0.25;
    expect(run(&x, true), "cheap", SESS_REASON_STAY_BEST_ADJUSTED);
    assert_true(fabs(x.terms[1].learned_quality + 0.25) < EPS);
    assert_true(x.terms[1].net_switch_advantage < 0);
}

/* Issue 19: the session's lock trajectory. A turn before a lock episode the
 * trajectory predicts asks for lock_escalation_weight of what the earlier
 * locks asked for above its own required quality; other turns do not. */
static void test_lock_trajectory_raises_required_quality(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.k.quality_gaps_from_cards = true;
    x.k.card_quality_gap_weight = 6;
    x.k.card_gap_price_discount = 0.6;
    x.k.lock_escalation_weight = 0.5;
    /* the turn asks for cheap (top B): no gain in moving up */
    x.c[0].base = 0.95;
    x.c[1].base = 0.5;
    sess_policy_out_t *o = run(&x, true);
    assert_true(fabs(o->required_quality - 0.6) < EPS);
    assert_false(o->lock_predicted);
    assert_true(fabs(x.terms[1].quality_gap) < EPS);
    /* locks began at turns 1 and 5 (period 4) and asked for 0.9: T = 4, the
       next turn (5) is predicted... */
    x.st.lock_episodes = 2;
    x.st.lock_episode_turn = 1;
    x.st.lock_episode_period = 4;
    x.st.lock_required_quality = 0.9;
    o = run(&x, true);
    assert_true(o->lock_predicted);
    assert_true(fabs(o->lock_escalation - 0.15) < EPS);
    /* required 0.75: big gains 0.15, times 1 - 0.6 P(big), times 6 */
    assert_true(fabs(x.terms[1].quality_gap - 6 * 0.15 * 0.4) < EPS);
    /* ...the turn after it is not */
    x.st.turn_count = 5;
    o = run(&x, true);
    assert_false(o->lock_predicted);
    assert_true(fabs(x.terms[1].quality_gap) < EPS);
    /* after a single episode the period is unknown: every turn may open the next */
    x.st.lock_episodes = 1;
    x.st.lock_episode_period = 0;
    assert_true(run(&x, true)->lock_predicted);
    /* weight 0: off */
    x.k.lock_escalation_weight = 0;
    o = run(&x, true);
    assert_false(o->lock_predicted);
    assert_true(fabs(x.terms[1].quality_gap) < EPS);
    /* a locked turn still reports its required quality (the commit records it) */
    x.f.active_tool_loop = true;
    o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_true(fabs(o->required_quality - 0.6) < EPS);
}

/* Issue 19, third pass: start high, step down. With derived gaps a session
 * whose first turn asks for more than its cheapest candidate starts on its
 * best one (cold_start_step_up); an upgrade's price discount grows with the
 * session's age T until the gap is an entry cost (upgrade_age_turns); from
 * step_down_after_turns on, a cheaper candidate that meets the turn's
 * required quality gains step_down_weight x the price-level difference. */
static void test_start_high_then_step_down(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.k.quality_gaps_from_cards = true;
    x.k.card_quality_gap_weight = 6;
    x.k.card_gap_price_discount = 0.6;
    x.k.cold_start_step_up = true;
    /* cold start: mid has the top B and asks for 0.75 > 0.6 (cheap): start on big */
    x.c[2] = (sess_candidate_t){"mid", 0.95, 0.75, CHEAP, true, true, NULL, 0};
    x.nc = 3;
    sess_policy_out_t *o = run(&x, false);
    expect(o, "big", SESS_REASON_COLD_START);
    assert_false(o->switched);
    /* a conversation new to tether but already 12 turns long would step down
       again at once (step_down_after_turns 9): the base top choice */
    x.k.step_down_after_turns = 9;
    x.f.n_assistant = 12;
    expect(run(&x, false), "mid", SESS_REASON_COLD_START);
    x.f.n_assistant = 8;
    expect(run(&x, false), "big", SESS_REASON_COLD_START);
    x.f.n_assistant = 2;
    x.k.step_down_after_turns = 0;
    /* a first turn that asks for the cheapest candidate starts there */
    x.c[0].base = 0.99;
    expect(run(&x, false), "cheap", SESS_REASON_COLD_START);
    x.c[0].base = 0.6;
    /* off, or an operator table: the base top choice */
    x.k.cold_start_step_up = false;
    expect(run(&x, false), "mid", SESS_REASON_COLD_START);
    x.k.cold_start_step_up = true;
    arena_t a;
    arena_init(&a, 4096);
    cfg_diags_t d;
    cfg_diags_init(&d);
    const char *qg = "[{decision: '*', from: big, to: cheap, value: -0.1}]";
    x.k.quality_gaps = cfg_yaml_parse(&a, "qg", qg, strlen(qg), &d);
    expect(run(&x, false), "mid", SESS_REASON_COLD_START);
    x.k.quality_gaps = NULL;
    /* a best candidate without a backend is not started on */
    x.c[1].available = false;
    expect(run(&x, false), "mid", SESS_REASON_COLD_START);
    x.c[1].available = true;
    x.nc = 2;

    /* age: on cheap at T = 4, the turn asks for big (0.9). A flat discount
       gains 6 * 0.3 * (1 - 0.6); aged by 1 + 4/8 it gains 6 * 0.3 * (1 - 0.9);
       aged by 1 + 4/1 the gap is an entry cost of the whole gain */
    o = run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap - 6 * 0.3 * 0.4) < EPS);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
    x.k.upgrade_age_turns = 8;
    run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap - 6 * 0.3 * 0.1) < 1e-6);
    x.k.upgrade_age_turns = 1;
    o = run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap + 6 * 0.3) < EPS);
    expect(o, "cheap", SESS_REASON_STAY_BEST_ADJUSTED);

    /* step down: on big, the turn asks for cheap (top B); before turn 9 big
       holds, from turn 9 cheap gains P(big) - P(cheap) = 1 - 0.5/9 */
    snprintf(x.st.last_model, sizeof x.st.last_model, "big");
    add_stats(&x.st, 0, "big", 4, 500);
    x.c[0].base = 0.95;
    x.k.step_down_after_turns = 9;
    x.k.step_down_weight = 1.0;
    o = run(&x, true);
    expect(o, "big", SESS_REASON_STAY_BEST_ADJUSTED);
    double before = x.terms[0].downgrade_credit;
    x.st.turn_count = 9;
    o = run(&x, true);
    expect(o, "cheap", SESS_REASON_SWITCH_ALLOWED);
    assert_true(fabs(x.terms[0].downgrade_credit - before - (1 - 0.5 / 9)) < EPS);
    /* a turn that asks for big gives cheap no step-down credit */
    x.c[0].base = 0.6;
    o = run(&x, true);
    expect(o, "big", SESS_REASON_STAY_BEST_ADJUSTED);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    /* allow_downgrade off: none either */
    x.c[0].base = 0.95;
    x.k.allow_downgrade = false;
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    cfg_diags_free(&d);
    arena_deinit(&a);
}

/* Issue 19: a session whose every turn so far was locked (its provider
 * state came from before tether saw it) makes its first free choice the way
 * a cold start does: up to its best candidate, aging notwithstanding. */
static void test_first_free_turn_starts_high(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.k.quality_gaps_from_cards = true;
    x.k.card_quality_gap_weight = 6;
    x.k.card_gap_price_discount = 0.6;
    x.k.cold_start_step_up = true;
    x.k.upgrade_age_turns = 1;
    x.c[2] = (sess_candidate_t){"mid", 0.95, 0.75, CHEAP, true, true, NULL, 0};
    x.nc = 3;
    /* turns 0..3 locked on cheap, one episode begun at turn 0 and still running */
    x.st.lock_episodes = 1;
    x.st.lock_episode_turn = 0;
    x.st.lock_kind = SESS_LOCK_PROVIDER_STATE;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_SWITCH_ALLOWED);
    assert_true(o->switched);
    /* still locked this turn: the lock holds */
    x.f.bindings = RQ_BIND_ENCRYPTED_REASONING;
    expect(run(&x, true), "cheap", SESS_REASON_HARD_LOCK_PROVIDER_STATE);
    x.f.bindings = 0;
    /* a free turn already happened (the last turn was unlocked): scoring, and
       at T = 4 the aged upgrade into big is an entry cost */
    x.st.lock_kind = SESS_LOCK_NONE;
    o = run(&x, true);
    assert_string_not_equal(o->model, "big");
    /* an episode that began after turn 0: scoring too */
    x.st.lock_kind = SESS_LOCK_PROVIDER_STATE;
    x.st.lock_episode_turn = 1;
    assert_string_not_equal(run(&x, true)->model, "big");
    /* off: scoring */
    x.st.lock_episode_turn = 0;
    x.k.cold_start_step_up = false;
    assert_string_not_equal(run(&x, true)->model, "big");
}

/* Issue 19: the session setting mode. observe_only computes the verdict
 * (here a tool-loop lock on cheap) and traces it, but the turn goes to the
 * per-request choice (big, the top B); bypass skips the policy. */
static void test_modes_observe_only_and_bypass(void **st)
{
    (void)st;
    fixture_t x;
    setup(&x);
    x.f.active_tool_loop = true;
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_int_equal(o->mode, SESS_MODE_ENFORCE);
    assert_string_equal(o->verdict_model, "cheap");
    x.k.mode = "observe_only";
    o = run(&x, true);
    assert_int_equal(o->mode, SESS_MODE_OBSERVE);
    assert_int_equal(o->verdict, SESS_VERDICT_OK);
    assert_string_equal(o->model, "big");
    assert_int_equal(o->chosen, 1);
    assert_true(o->switched);
    assert_string_equal(o->verdict_model, "cheap");
    assert_int_equal(o->reason, SESS_REASON_HARD_LOCK_TOOL_LOOP);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_TOOL_LOOP);
    /* a verdict that would be an error (lock on an unavailable model, handoff off) is
       reported, not enforced */
    x.k.handoff_on_unavailable = false;
    x.c[0].available = false;
    x.f.current_available = false;
    o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_OK);
    assert_string_equal(o->model, "big");
    assert_null(o->verdict_model);
    assert_string_equal(o->error_code, "session_model_unavailable");
    assert_false(o->has_handoff);
    x.c[0].available = true;
    x.f.current_available = true;
    x.k.handoff_on_unavailable = true;
    x.k.mode = "bypass";
    o = run(&x, true);
    assert_int_equal(o->mode, SESS_MODE_BYPASS);
    expect(o, "big", SESS_REASON_NO_SESSION);
    assert_int_equal(o->phase, SESS_PHASE_NONE);
    assert_int_equal(o->hard_lock, SESS_HARD_LOCK_NONE);
    assert_string_equal(o->previous_model, "cheap");
    assert_true(o->switched);
    /* passthrough is obeyed in every mode */
    x.f.passthrough = true;
    x.f.requested_model = "cheap";
    expect(run(&x, true), "cheap", SESS_REASON_PASSTHROUGH);
    assert_int_equal(sess_mode_of("observe_only"), SESS_MODE_OBSERVE);
    assert_int_equal(sess_mode_of(NULL), SESS_MODE_ENFORCE);
    assert_string_equal(sess_mode_name(SESS_MODE_BYPASS), "bypass");
}

static void test_quality_gap_and_handoff_penalty_lookups(void **st)
{
    arena_t a;
    arena_init(&a, 4096);
    cfg_diags_t d;
    cfg_diags_init(&d);
    const char *qg = "[{decision: writing, from: cheap, to: big, value: 0.7},\n"
                     " {decision: '*', from: cheap, to: big, value: 0.3}]";
    const char *hp = "[{from: cheap, to: big, value: 0.2}]";
    fixture_t x;
    setup(&x);
    x.k.quality_gaps = cfg_yaml_parse(&a, "qg", qg, strlen(qg), &d);
    x.k.handoff_penalties = cfg_yaml_parse(&a, "hp", hp, strlen(hp), &d);
    assert_int_equal(d.n, 0);
    x.k.quality_gap_multiplier = 2;
    run(&x, true);
    /* decision coding: the "*" entry */
    assert_true(fabs(x.terms[1].quality_gap - 0.6) < EPS);
    assert_true(fabs(x.terms[1].handoff_penalty - 0.2) < EPS);
    /* decision writing (drift: N = 0, so the penalty vanishes, the gap stays) */
    x.f.decision = "writing";
    run(&x, true);
    assert_true(fabs(x.terms[1].quality_gap - 1.4) < EPS);
    assert_true(fabs(x.terms[1].handoff_penalty) < EPS);
    /* the other direction has no entry: QG 0, default HP; B(cheap) <= B(big) and QG <= 0
       charge the stay bias */
    x.f.decision = "coding";
    snprintf(x.st.last_model, sizeof x.st.last_model, "big");
    add_stats(&x.st, 0, "big", 4, 500);
    run(&x, true);
    assert_true(fabs(x.terms[0].quality_gap) < EPS);
    assert_true(fabs(x.terms[0].handoff_penalty - 0.05) < EPS);
    assert_true(fabs(x.terms[0].stay_bias + 0.10) < EPS);
    cfg_diags_free(&d);
    arena_deinit(&a);
}

/* c = big (B 0.8), m = cheap (B 0.9): D = 0.1·(1 − E(cheap)/E(big)) with
 * P̄ = 1000, Ĉ = 300: E(cheap) = 1600, E(big) = 19000. */
static void setup_downgrade(fixture_t *x)
{
    setup(x);
    snprintf(x->st.last_model, sizeof x->st.last_model, "big");
    add_stats(&x->st, 0, "big", 4, 500);
    x->c[0].base = 0.9;
    x->c[1].base = 0.8;
}

static void test_downgrade_credit_conditions(void **st)
{
    fixture_t x;
    setup_downgrade(&x);
    double D = 0.1 * (1 - 1600.0 / 19000.0);
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit - D) < EPS);
    /* equal base still qualifies */
    x.c[0].base = 0.8;
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit - D) < EPS);
    /* B(m) < B(c): none */
    x.c[0].base = 0.79;
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    /* switched off */
    setup_downgrade(&x);
    x.k.allow_downgrade = false;
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    /* under a reset (N = 0) */
    setup_downgrade(&x);
    x.f.decision = "writing";
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    /* an unpriced model */
    setup_downgrade(&x);
    x.c[0].pricing.priced = false;
    x.prices[0].pricing.priced = false;
    run(&x, true);
    assert_true(fabs(x.terms[0].downgrade_credit) < EPS);
    /* never for a more expensive model (an upgrade with B ahead) */
    setup(&x);
    x.c[1].base = 0.95;
    run(&x, true);
    assert_true(fabs(x.terms[1].downgrade_credit) < EPS);
    /* first turns use P̄ = 2000, Ĉ = 300 */
    setup_downgrade(&x);
    x.st.prompt_tokens = 0;
    run(&x, true);
    double E1 = 2000 * 1.0 + 300 * 2.0, E2 = 2000 * 10.0 + 300 * 30.0;
    assert_true(fabs(x.terms[0].downgrade_credit - 0.1 * (1 - E1 / E2)) < EPS);
}

static void test_downgrade_credit_moves_a_session_down(void **st)
{
    fixture_t x;
    setup_downgrade(&x);
    x.k.downgrade_savings_weight = 2.0; /* big enough to beat the stay terms */
    sess_policy_out_t *o = run(&x, true);
    expect(o, "cheap", SESS_REASON_SWITCH_ALLOWED);
    assert_true(o->switched);
    x.k.allow_downgrade = false;
    expect(run(&x, true), "big", SESS_REASON_STAY_BEST_ADJUSTED);
}

static void test_ties_go_to_current_then_model_refs(void **st)
{
    fixture_t x;
    setup(&x);
    x.f.now_ms = x.st.last_seen_ms + 400000; /* idle: S = B */
    x.c[1].base = 0.6;                       /* tie with c */
    expect(run(&x, true), "cheap", SESS_REASON_IDLE_RESET);
    /* c listed second still wins the tie */
    sess_candidate_t t = x.c[0];
    x.c[0] = x.c[1];
    x.c[1] = t;
    expect(run(&x, true), "cheap", SESS_REASON_IDLE_RESET);
    /* c not a candidate: the earlier modelRef wins */
    x.c[1] = (sess_candidate_t){"other", 0.6, 0.6, CHEAP, true, true, NULL, 0};
    sess_policy_out_t *o = run(&x, true);
    expect(o, "big", SESS_REASON_IDLE_RESET);
    assert_true(fabs(o->confidence - 0.5) < EPS);
}

static void test_fallback_when_winner_unavailable(void **st)
{
    fixture_t x;
    setup(&x);
    x.c[2] = (sess_candidate_t){"mid", 0.8, 0.7, CHEAP, true, true, NULL, 0};
    x.nc = 3;
    x.f.now_ms = x.st.last_seen_ms + 400000;
    x.c[1].available = false; /* big wins on S but has no backend */
    sess_policy_out_t *o = run(&x, true);
    expect(o, "mid", SESS_REASON_IDLE_RESET);
    assert_true(o->fallback);
    /* nothing available: an error, not a crash */
    x.c[0].available = x.c[2].available = false;
    x.f.current_available = false;
    o = run(&x, true);
    assert_int_equal(o->verdict, SESS_VERDICT_ERROR);
    assert_string_equal(o->error_code, "no_available_model");
}

/* ---- facts ---- */

static void test_facts_from_request(void **st)
{
    const char *body =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"12345678\"},"
        "{\"role\":\"user\",\"content\":\"1234\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"123456789012\"}]}";
    arena_t a;
    arena_init(&a, 8192);
    jreq_t jr;
    assert_int_equal(jscan_request(body, strlen(body), &a, &jr, NULL), 0);
    rq_t *r = rq_from_chat(&a, body, strlen(body), &jr, NULL, 0);
    assert_non_null(r);
    sess_facts_t f = {0};
    sess_facts_from_rq(r, &f);
    assert_true(f.active_tool_loop);
    assert_int_equal(f.n_assistant, 1);
    /* per message ceil(bytes/4) + 4, on the raw content bytes */
    double m[4];
    for (size_t i = 0; i < 4; i++)
        m[i] = (double)((r->msgs[i].text_bytes + 3) / 4) + 4;
    assert_true(fabs(f.C - (m[0] + m[1] + m[2] + m[3])) < EPS);
    /* H stops before the trailing tool-result block */
    assert_true(fabs(f.H - (m[0] + m[1] + m[2])) < EPS);
    assert_true(f.H < f.C);
    arena_deinit(&a);
}

static void test_names(void **st)
{
    assert_string_equal(sess_reason_name(SESS_REASON_HARD_LOCK_MIN_TURNS), "hard_lock_min_turns");
    assert_string_equal(sess_reason_name(SESS_REASON_NO_SESSION), "no_session");
    assert_string_equal(sess_phase_name(SESS_PHASE_PROVIDER_STATE), "provider_state");
    assert_string_equal(sess_hard_lock_name(SESS_HARD_LOCK_TOOL_LOOP), "tool_loop");
    assert_string_equal(sess_conversion_name(SESS_CONV_REWRITE_TOOL_CALL_IDS),
                        "rewrite_tool_call_ids");
    assert_string_equal(sess_reason_name((sess_reason_t)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_identity_takes_base_top),
        cmocka_unit_test(test_affinity_off_ignores_memory_and_locks),
        cmocka_unit_test(test_no_session_skips_unavailable_top),
        cmocka_unit_test(test_passthrough_obeys_client_through_a_lock),
        cmocka_unit_test(test_cold_start_best_admissible_base),
        cmocka_unit_test(test_state_without_memory_binds_to_its_model),
        cmocka_unit_test(test_tool_loop_lock_holds),
        cmocka_unit_test(test_tool_loop_locks_to_the_calls_signed_issuer),
        cmocka_unit_test(test_tool_loop_lock_off_uses_tool_loop_bias),
        cmocka_unit_test(test_provider_state_lock_each_binding),
        cmocka_unit_test(test_stored_chain_counts_unless_portable),
        cmocka_unit_test(test_portability_lock_off_lets_state_go),
        cmocka_unit_test(test_tool_call_id_format_excludes_then_locks),
        cmocka_unit_test(test_lock_holds_when_decision_changes),
        cmocka_unit_test(test_resets_never_lift_hard_locks),
        cmocka_unit_test(test_min_turns_lock_and_resets_lift_it),
        cmocka_unit_test(test_locked_c_unavailable_forced_handoff),
        cmocka_unit_test(test_forced_handoff_picks_best_admissible_by_base),
        cmocka_unit_test(test_forced_handoff_impossible_is_an_error),
        cmocka_unit_test(test_min_turns_with_c_unavailable_scores),
        cmocka_unit_test(test_idle_reset_zeroes_session_terms),
        cmocka_unit_test(test_drift_reset_rules),
        cmocka_unit_test(test_inheritance),
        cmocka_unit_test(test_emit_keep_current_model),
        cmocka_unit_test(test_economics_terms_by_hand),
        cmocka_unit_test(test_cache_warmth_cold_model_and_kappa),
        cmocka_unit_test(test_remaining_turn_prior_raises_mass),
        cmocka_unit_test(test_prefer_prefix_retention_doubles_weight),
        cmocka_unit_test(test_no_price_multiplier_and_unpriced_levels),
        cmocka_unit_test(test_quality_gap_and_handoff_penalty_lookups),
        cmocka_unit_test(test_quality_gaps_derived_from_cards),
        cmocka_unit_test(test_learned_quality_changes_the_choice),
        cmocka_unit_test(test_downgrade_credit_conditions),
        cmocka_unit_test(test_downgrade_credit_moves_a_session_down),
        cmocka_unit_test(test_ties_go_to_current_then_model_refs),
        cmocka_unit_test(test_fallback_when_winner_unavailable),
        cmocka_unit_test(test_facts_from_request),
        cmocka_unit_test(test_lock_trajectory_raises_required_quality),
        cmocka_unit_test(test_start_high_then_step_down),
        cmocka_unit_test(test_first_free_turn_starts_high),
        cmocka_unit_test(test_modes_observe_only_and_bypass),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
