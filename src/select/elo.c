/* elo.c - the `elo` algorithm (SPEC §7): ratings R per (decision, model)
 * from sel_state_t (initial_rating, else 1000 + 1000·quality_score, else
 * 1500), B = 10^(R/400) / Σ 10^(R_j/400); with probability explore_epsilon
 * (0) a uniformly chosen candidate is lifted to 1.0. Feedback updates live
 * in state.c (sel_elo_feedback). */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "select/select.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sel_elo_initial(const cfg_t *cfg, const cfg_decision_t *d, const char *model)
{
    double v;
    if (d && dec_cfg_has_num(d->algorithm_block, "initial_rating", &v)) return v;
    const cfg_model_card_t *c = cfg && model ? cfg_find_card(cfg, model) : NULL;
    return c ? 1000.0 + 1000.0 * c->quality_score : 1500.0;
}

static double uniform01(void)
{
    static __thread unsigned seed;
    static __thread bool seeded;
    if (!seeded) {
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
        seeded = true;
    }
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

static int sel_elo(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_decision_t *d = in->decision;
    double *R = arena_alloc(a, r->n * sizeof(double)), mx = -INFINITY;
    for (size_t i = 0; i < r->n; i++) {
        R[i] = sel_elo_rating(in->state, d->name, r->models[i],
                              sel_elo_initial(in->cfg, d, r->models[i]));
        if (R[i] > mx) mx = R[i];
    }
    double sum = 0;
    for (size_t i = 0; i < r->n; i++)
        sum += r->scores[i] = pow(10.0, (R[i] - mx) / 400.0);
    for (size_t i = 0; i < r->n; i++)
        r->scores[i] /= sum;
    double eps = dec_cfg_num(d->algorithm_block, "explore_epsilon", 0);
    if (eps > 0 && uniform01() < eps) {
        size_t j = (size_t)(uniform01() * (double)r->n);
        if (j >= r->n) j = r->n - 1;
        r->scores[j] = 1.0;
        r->note = arena_sprintf(a, "explore: %s", r->models[j]);
    }
    return 0;
}

CFG_SELECTOR(sel_elo_algo, "elo", "Elo ratings from feedback.",
             .fields = (const cfg_field_t[]){CFG_FCUSTOM("initial_rating", NULL,
                                                         "1500 or 1000 + 1000*quality_score"),
                                             CFG_FCUSTOM("k_factor", NULL, "32"),
                                             CFG_FCUSTOM("explore_epsilon", NULL, "0"),
                                             {0}},
             .ops = &(const sel_algo_ops_t){.run = sel_elo});
