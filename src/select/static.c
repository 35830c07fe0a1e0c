/* static.c - the `static` algorithm (SPEC §7) and the fallback of every
 * other one: scores from algorithm.static.model_scores, else from the
 * model_scores of the best matched domain signal, else by position (the
 * first candidate 1.0, each later one 0.001 less). */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "select/select.h"
#include <string.h>

static const cfg_node_t *domain_scores(const sig_results_t *s)
{
    const sig_result_t *best = NULL;
    for (size_t i = 0; s && i < s->n; i++) {
        const sig_result_t *x = &s->items[i];
        if (!x->rule || x->rule->family != CFG_SIG_DOMAIN || !x->matched || x->error ||
            !x->rule->model_scores || x->rule->model_scores->kind != CFG_NODE_MAP)
            continue;
        if (!best || x->score > best->score) best = x;
    }
    return best ? best->rule->model_scores : NULL;
}

int sel_static(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_node_t *ms = NULL;
    const cfg_decision_t *d = in->decision;
    if (d && d->algorithm && !strcmp(d->algorithm, "static") && d->algorithm_block) {
        const cfg_node_t *v = cfg_node_get(d->algorithm_block, "model_scores");
        if (v && v->kind == CFG_NODE_MAP) ms = v;
    }
    if (!ms) ms = domain_scores(in->sig);
    for (size_t i = 0; i < r->n; i++)
        r->scores[i] = ms ? dec_cfg_num(ms, r->models[i], 0.0) : 1.0 - 0.001 * (double)i;
    return 0;
}

CFG_SELECTOR(sel_static_algo, "static", "Fixed scores.",
             .fields = (const cfg_field_t[]){CFG_FCUSTOM("model_scores", NULL, "{model: score}"),
                                             {0}},
             .ops = &(const sel_algo_ops_t){.run = sel_static});
