/* preference.c - the `preference` family (SPEC §5.4, YAML key
 * preferences): each rule's examples form a bank; only the best rule can
 * match, when it clears its threshold (0.40) and leads the runner-up by its
 * margin (0.03). */
#include "config/family.h"
#include "signals/similarity.h"

/* Rule i's bank: its examples, or its description when it has none. */
static int preference_bank(const sig_build_t *b, size_t i, sig_bank_t *bank, const sig_sim_t *sim,
                           cfg_diags_t *diags)
{
    const cfg_signal_t *g = b->rules[i];
    const char *d[1] = {g->description};
    int rc = 0;
    if (!g->examples.n && !g->description) {
        sig_rule_error(diags, b->cfg, g, "preference %s needs examples", g->name);
        rc = -1;
    }
    sig_sim_bank_from(bank, sim, &g->examples, d, g->examples.n ? 0 : 1);
    return rc;
}

static int preference_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    return sig_sim_rules_compile(b, state, diags, 0.40, false, preference_bank);
}

CFG_SIG_FAMILY(sig_preference_family, "preference", "preferences", "preference rules",
               "User preference (YAML key preferences, leaf type preference).", .threshold = "0.40",
               .fields = (const cfg_field_t[]){CFG_SIGF_EXAMPLES,
                                               CFG_SIGF_MARGIN("0.03"),
                                               CFG_SIGF_CLASSIFIER,
                                               {0}},
               .ops = &(const sig_family_ops_t){.compile = preference_compile,
                                                .free = sig_sim_rules_free,
                                                .eval = sig_sim_rules_eval_best});
