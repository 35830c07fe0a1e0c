/* domain.c - the `domain` family (SPEC §5.4, YAML key domains): each rule's
 * bank holds its description, its examples and the shipped exemplars of
 * its mmlu_categories (sim_banks.c); a rule with none of these but named
 * after an MMLU-Pro category uses that category's bank. The best domain
 * matches when it clears its threshold (0.30) and leads the runner-up by
 * its margin (0.02); its result carries label = the domain's name. */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/similarity.h"

#include <stdlib.h>

/* Rule i's bank: its description, the bank named like it (when it has
 * nothing else), its mmlu_categories' banks, its examples. */
static int domain_bank(const sig_build_t *b, size_t i, sig_bank_t *bank, const sig_sim_t *sim,
                       cfg_diags_t *diags)
{
    const cfg_signal_t *g = b->rules[i];
    int rc = 0;
    size_t cap = 1 + g->examples.n, n = 0;
    for (size_t k = 0; k < g->mmlu_categories.n; k++) {
        size_t m;
        if (!sig_mmlu_bank(g->mmlu_categories.v[k], &m)) {
            sig_rule_error(diags, b->cfg, g, "unknown mmlu_categories entry %s",
                           g->mmlu_categories.v[k]);
            rc = -1;
        }
        cap += m;
    }
    size_t named = 0;
    const char *const *own = NULL;
    if (!g->examples.n && !g->mmlu_categories.n && !g->description) {
        own = sig_mmlu_bank(g->name, &named);
        if (!own) {
            sig_rule_error(diags, b->cfg, g,
                           "domain %s needs examples, a description or mmlu_categories", g->name);
            rc = -1;
        }
        cap += named;
    }
    const char **v = malloc(sizeof(char *) * (cap + 1));
    if (!v) abort();
    if (g->description) v[n++] = g->description;
    for (size_t k = 0; k < named; k++)
        v[n++] = own[k];
    for (size_t k = 0; k < g->mmlu_categories.n; k++) {
        size_t m;
        const char *const *mb = sig_mmlu_bank(g->mmlu_categories.v[k], &m);
        for (size_t j = 0; j < m; j++)
            v[n++] = mb[j];
    }
    sig_sim_bank_from(bank, sim, &g->examples, v, n);
    free(v);
    return rc;
}

static int domain_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    return sig_sim_rules_compile(b, state, diags, 0.30, true, domain_bank);
}

/* Rules naming an external classifier take its verdict (classify.h
 * sig_cls_verdict: the rule named like the top label matches). The others,
 * and those whose classifier failed (result.fallback), use the banks. */
static void domain_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_sim_eval_cls_first(state, cx, refs, n, 0.30, sig_sim_rules_eval_best);
}

CFG_SIG_FAMILY(sig_domain_family, "domain", "domains", "domain rules",
               "Subject domain (YAML key domains, leaf type domain).", .threshold = "0.30",
               .fields = (const cfg_field_t[]){CFG_SIGF_EXAMPLES,
                                               CFG_FLIST(cfg_signal_t, "mmlu_categories",
                                                         mmlu_categories, NULL,
                                                         "shipped MMLU-Pro banks to use"),
                                               CFG_FNODE(cfg_signal_t, "model_scores", model_scores,
                                                         "{model: score} for static selection"),
                                               CFG_SIGF_MARGIN("0.02"),
                                               CFG_SIGF_CLASSIFIER,
                                               {0}},
               .flags = CFG_SIGFAM_LABELS | CFG_SIGFAM_CLASSIFIER,
               .migrate_keys = (const char *const[]){"categories", NULL},
               .ops = &(const sig_family_ops_t){
                   .compile = domain_compile, .free = sig_sim_rules_free, .eval = domain_eval});
