/* policy_start.h - where a session starts (issue 19, "start high, step
 * down"): with card-derived quality gaps, the session's first free choice
 * goes to its highest-quality candidate when the turn asks for more than the
 * cheapest one. Used by session/policy.c only; pure, like the policy. */
#ifndef TETHER_SESSION_POLICY_START_H
#define TETHER_SESSION_POLICY_START_H
#include "session/policy.h"
#include <stdbool.h>
#include <stdint.h>

/* QG comes from the cards: quality_gaps_from_cards is on and there is no
 * operator quality_gaps table (a table replaces the derived gaps). */
bool sess_policy_derived_gaps(const cfg_session_t *k);

/* The session has made no free choice yet: it has turns, and every one of
 * them was locked (one lock episode, begun at turn 0 and still running), as
 * when its provider state or tool loop began before tether saw it. */
bool sess_policy_never_free(const sess_state_t *s);

/* The start choice: `top` (the base top choice, an admissible available
 * candidate), or, when cold_start_step_up applies (derived gaps, and the
 * conversation is younger than step_down_after_turns, when that is set: an
 * older one would step down again at once) and the turn's required quality
 * (top's card quality plus learned adjustment) is above the cheapest
 * admissible available candidate's, the highest-quality admissible available
 * candidate (ties to modelRefs order). T: the turn index (policy out T). */
int sess_policy_start_pick(const sess_policy_in_t *in, int top, uint32_t T);
#endif
