/* strategy.c - choosing among matched decisions (SPEC §6.2) and the whole
 * decision step (dec_eval): projections, every decision's rule tree (rules.c),
 * the strategy's sort, and the catch-all / default_model outcomes that let
 * the session layer apply inheritance first (§9.6). */
#include "decision/decision.h"
#include <string.h>

dec_strategy_t dec_strategy_of(const cfg_recipe_t *rc)
{
    if (rc && rc->strategy) {
        if (!strcmp(rc->strategy, "confidence")) return DEC_STRATEGY_CONFIDENCE;
        if (!strcmp(rc->strategy, "tiers")) return DEC_STRATEGY_TIERS;
        return DEC_STRATEGY_PRIORITY;
    }
    for (size_t i = 0; rc && i < rc->n_decisions; i++)
        if (rc->decisions[i].tier > 0) return DEC_STRATEGY_TIERS;
    return DEC_STRATEGY_PRIORITY;
}

const char *dec_strategy_name(dec_strategy_t s)
{
    switch (s) {
    case DEC_STRATEGY_CONFIDENCE: return "confidence";
    case DEC_STRATEGY_TIERS: return "tiers";
    default: return "priority";
    }
}

const char *dec_outcome_name(dec_outcome_t o)
{
    switch (o) {
    case DEC_MATCHED: return "matched";
    case DEC_CATCH_ALL: return "catch_all";
    case DEC_DEFAULT: return "default";
    default: return "fail";
    }
}

/* <0 when x sorts before y. */
static int cmp(const cfg_recipe_t *rc, dec_strategy_t s, const dec_match_t *x, const dec_match_t *y)
{
    const cfg_decision_t *a = &rc->decisions[x->index], *b = &rc->decisions[y->index];
    int by_pri = a->priority > b->priority ? -1 : a->priority < b->priority ? 1 : 0;
    int by_conf = x->confidence > y->confidence ? -1 : x->confidence < y->confidence ? 1 : 0;
    int c = 0;
    switch (s) {
    case DEC_STRATEGY_TIERS: {
        /* a missing tier sorts after every tier */
        int64_t ta = a->tier > 0 ? a->tier : INT64_MAX, tb = b->tier > 0 ? b->tier : INT64_MAX;
        c = ta < tb ? -1 : ta > tb ? 1 : 0;
        if (!c) c = by_conf;
        if (!c) c = by_pri;
        break;
    }
    case DEC_STRATEGY_CONFIDENCE: c = by_conf ? by_conf : by_pri; break;
    default: c = by_pri ? by_pri : by_conf; break;
    }
    if (!c) c = x->index < y->index ? -1 : x->index > y->index ? 1 : 0;
    return c;
}

void dec_strategy_sort(const cfg_recipe_t *rc, dec_strategy_t s, dec_match_t *m, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        dec_match_t v = m[i];
        size_t j = i;
        while (j > 0 && cmp(rc, s, &v, &m[j - 1]) < 0) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = v;
    }
}

int dec_eval(const cfg_t *cfg, const cfg_recipe_t *rc, const sig_results_t *sig, arena_t *a,
             dec_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->name = "";
    out->strategy = dec_strategy_of(rc);
    dec_project(rc, sig, a, &out->proj);
    size_t nd = rc ? rc->n_decisions : 0;
    out->traces = arena_calloc(a, (nd + 1) * sizeof(dec_trace_t));
    out->ranking = arena_calloc(a, (nd + 1) * sizeof(dec_match_t));
    for (size_t i = 0; i < nd; i++) {
        const cfg_decision_t *d = &rc->decisions[i];
        dec_trace_t *t = &out->traces[out->n_traces++];
        t->name = d->name;
        t->is_catch_all =
            d->is_catch_all || (d->rules.kind == CFG_RULE_AND && d->rules.n_children == 0);
        const char *failed = NULL;
        if (dec_rules_eval(&d->rules, rc, &out->proj, a, &t->root, &failed)) {
            out->outcome = DEC_FAIL;
            out->failed_leaf = failed;
            out->n_ranking = 0;
            return -1;
        }
        t->matched = t->root.matched;
        t->confidence = t->root.confidence;
        if (t->matched) out->ranking[out->n_ranking++] = (dec_match_t){i, t->confidence};
    }
    dec_strategy_sort(rc, out->strategy, out->ranking, out->n_ranking);
    /* A catch-all is the fallback: any decision with a rule tree that matched
     * wins over it, whatever the sort keys say. */
    long pick = -1;
    for (size_t k = 0; k < out->n_ranking && pick < 0; k++)
        if (!out->traces[out->ranking[k].index].is_catch_all) pick = (long)k;
    if (pick >= 0 || out->n_ranking) {
        const dec_match_t *m = &out->ranking[pick >= 0 ? pick : 0];
        out->outcome = pick >= 0 ? DEC_MATCHED : DEC_CATCH_ALL;
        out->decision = &rc->decisions[m->index];
        out->name = out->decision->name;
        out->confidence = m->confidence;
        out->algorithm = out->decision->algorithm ? out->decision->algorithm : "static";
        out->may_inherit = pick < 0;
        return 0;
    }
    out->outcome = DEC_DEFAULT;
    out->algorithm = "static";
    out->default_model = cfg ? cfg->providers.default_model : NULL;
    out->may_inherit = true;
    return 0;
}
