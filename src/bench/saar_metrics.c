/* saar_metrics.c - per-turn costs and per-policy tallies for `bench saar`,
 * exactly as BENCH_SAAR.md defines them. "Switched" is always against the
 * previous turn's model (qwen3-8b before turn 0), for both cost rules. */
#include "bench/saar_metrics.h"
#include <string.h>

double saar_price(int model, long prompt, long cached, long completion)
{
    const saar_model_t *m = &saar_models[model];
    return ((double)(prompt - cached) * m->prompt_per_1m + (double)cached * m->cached_per_1m +
            (double)completion * m->completion_per_1m) /
           1e6;
}

double saar_reference_ratio(const saar_turn_t *turn, int model, int switched)
{
    double h = turn->history / 48000.0;
    double r = h < 0.72 ? h : 0.72;
    if (r < 0.5) r = 0.5;
    if (turn->phase == SAAR_PHASE_TOOL_LOOP) r += 0.12;
    if (turn->phase == SAAR_PHASE_PROVIDER_STATE) r += 0.08;
    if (model == SAAR_FRONTIER) r += 0.06;
    if (switched) r *= 0.2;
    return r < 0.85 ? r : 0.85;
}

double saar_reference_cost(const saar_turn_t *turn, const saar_outcome_t *o)
{
    long P = turn->prompt_tokens, cached = 0;
    if (!o->reference_uncached)
        cached = (long)(P * saar_reference_ratio(turn, o->chosen, o->chosen != o->prev_model));
    return saar_price(o->chosen, P, cached, turn->completion_tokens);
}

double saar_fair_cost(const saar_turn_t *turn, const saar_outcome_t *o)
{
    long P = turn->prompt_tokens, cached = 0;
    if (o->prev_prompt_tokens >= 0 && o->chosen == o->prev_model && !turn->is_idle)
        cached = P < o->prev_prompt_tokens ? P : o->prev_prompt_tokens;
    return saar_price(o->chosen, P, cached, turn->completion_tokens);
}

void saar_tally_add(saar_tally_t *t, const saar_turn_t *turn, const saar_outcome_t *o)
{
    t->turns++;
    if (o->chosen != o->prev_model) t->switches++;
    if (o->verdict == SAAR_UNSAFE_TOOL_LOOP) t->unsafe_tool_loop++;
    if (o->verdict == SAAR_UNSAFE_PROVIDER_STATE) t->unsafe_provider_state++;
    if (saar_models[o->chosen].quality < saar_models[turn->base_model].quality) t->under_served++;
    t->reference_cost += saar_reference_cost(turn, o);
    t->fair_cost += saar_fair_cost(turn, o);
    t->quality_sum += saar_models[o->chosen].quality;
}

void saar_tally_merge(saar_tally_t *into, const saar_tally_t *from)
{
    into->turns += from->turns;
    into->switches += from->switches;
    into->unsafe_tool_loop += from->unsafe_tool_loop;
    into->unsafe_provider_state += from->unsafe_provider_state;
    into->under_served += from->under_served;
    into->check_errors += from->check_errors;
    into->reference_cost += from->reference_cost;
    into->fair_cost += from->fair_cost;
    into->quality_sum += from->quality_sum;
}

static double pct_cut(double v, double base)
{
    return base > 0 ? 100.0 * (1.0 - v / base) : 0.0;
}

void saar_summarize(const saar_tally_t *t, const saar_tally_t *b, saar_summary_t *s)
{
    memset(s, 0, sizeof *s);
    s->turns = t->turns;
    s->switches = t->switches;
    s->unsafe_tool_loop = t->unsafe_tool_loop;
    s->unsafe_provider_state = t->unsafe_provider_state;
    s->unsafe = t->unsafe_tool_loop + t->unsafe_provider_state;
    s->under_served = t->under_served;
    s->switch_reduction_pct = pct_cut((double)t->switches, (double)b->switches);
    s->reference_cost = t->reference_cost;
    s->reference_cost_cut_pct = pct_cut(t->reference_cost, b->reference_cost);
    s->fair_cost = t->fair_cost;
    s->fair_cost_cut_pct = pct_cut(t->fair_cost, b->fair_cost);
    s->under_served_pct = t->turns ? 100.0 * (double)t->under_served / (double)t->turns : 0.0;
    s->mean_quality = t->turns ? t->quality_sum / (double)t->turns : 0.0;
    double bq = b->turns ? b->quality_sum / (double)b->turns : 0.0;
    s->quality_delta = s->mean_quality - bq;
}
