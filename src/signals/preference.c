/* preference.c - the `preference` family (SPEC §5.4, YAML key
 * preferences): each rule's examples form a bank; only the best rule can
 * match, when it clears its threshold (0.40) and leads the runner-up by its
 * margin (0.03). */
#include "config/family.h"
#include "signals/similarity.h"

static int preference_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    sig_sim_rules_t *s = sig_sim_rules_new(b, diags);
    if (!s) return -1;
    const sig_sim_t *sim = s->sim;
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        const char *d[1] = {g->description};
        if (!g->examples.n && !g->description) {
            sig_rule_error(diags, b->cfg, g, "preference %s needs examples", g->name);
            rc = -1;
        }
        sig_sim_bank_from(&s->bank[i], sim, &g->examples, d, g->examples.n ? 0 : 1);
    }
    *state = s;
    return rc;
}

static void preference_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_sim_rules_eval_best(state, cx, refs, n, 0.40, false);
}

const cfg_sig_family_t sig_preference_family = {
    .name = "preference",
    .key = "preferences",
    .list_doc = "preference rules",
    .doc = "User preference (YAML key preferences, leaf type preference).",
    .threshold = "0.40",
    .fields =
        (const cfg_field_t[]){CFG_SIGF_EXAMPLES, CFG_SIGF_MARGIN("0.03"), CFG_SIGF_CLASSIFIER, {0}},
    .ops = &(const sig_family_ops_t){
        .compile = preference_compile, .free = sig_sim_rules_free, .eval = preference_eval}};
