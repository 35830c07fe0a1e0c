/* policy_start.c - where a session starts (issue 19): the first free turn
 * of a session is the cheapest moment to be on a dear model, because it
 * re-reads no history (or the least it ever will), while a later step up
 * pays the dear model's uncached prompt of the whole history and a step
 * down costs only the cheaper model's. So with card-derived gaps a session
 * whose first free turn asks for more than its cheapest candidate starts on
 * its best one, and the policy's step-down credit (policy.c) brings it down
 * once it is older. See policy_start.h and docs/sessions.md. */
#include "session/policy_start.h"
#include <math.h>

bool sess_policy_derived_gaps(const cfg_session_t *k)
{
    bool table = k->quality_gaps && k->quality_gaps->kind == CFG_NODE_SEQ && k->quality_gaps->n;
    return k->quality_gaps_from_cards && !table;
}

bool sess_policy_never_free(const sess_state_t *s)
{
    return s && s->turn_count > 0 && s->lock_episodes == 1 && s->lock_episode_turn == 0 &&
           s->lock_kind != SESS_LOCK_NONE;
}

static double quality(const sess_candidate_t *m)
{
    return m->quality + m->learned_quality;
}

int sess_policy_start_pick(const sess_policy_in_t *in, int top, uint32_t T)
{
    const cfg_session_t *k = in->knobs;
    if (top < 0 || !k->cold_start_step_up || !sess_policy_derived_gaps(k)) return top;
    if (k->step_down_after_turns > 0 && (int64_t)T >= k->step_down_after_turns) return top;
    int hi = -1;
    double qmin = INFINITY;
    for (size_t i = 0; i < in->n_cands; i++) {
        const sess_candidate_t *m = &in->cands[i];
        if (!m->admissible || !m->available) continue;
        if (quality(m) < qmin) qmin = quality(m);
        if (hi < 0 || quality(m) > quality(&in->cands[hi])) hi = (int)i;
    }
    return hi >= 0 && quality(&in->cands[top]) > qmin ? hi : top;
}
