/* fact_check.c - the `fact_check` family (SPEC §5.4): rules
 * needs_fact_check and no_fact_check_needed. Two banks shared by both
 * rules: the shipped factual questions plus every rule's examples, and the
 * shipped creative / opinion / code requests plus every counter_example.
 * The verdict is needs_fact_check when S_fact reaches the threshold (0.35)
 * and exceeds S_other; every result carries the verdict as its label and
 * the rule named like the verdict matches. */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/similarity.h"

#include <stdlib.h>
#include <string.h>

/* The state is a sig_sim_rules_t with two banks: needs a check (0), not (1). */
enum { FC_NEED, FC_OTHER, FC_N };

static int fact_check_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    sig_sim_rules_t *s = sig_sim_rules_new(b, diags, FC_N);
    if (!s) return -1;
    int rc = 0;
    size_t ne = 0, nc = 0;
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        if (strcmp(g->name, "needs_fact_check") && strcmp(g->name, "no_fact_check_needed")) {
            sig_rule_error(diags, b->cfg, g,
                           "fact_check rules are named needs_fact_check or no_fact_check_needed");
            rc = -1;
        }
        ne += g->examples.n;
        nc += g->counter_examples.n;
    }
    size_t sn = sig_bank_count(sig_bank_fact_needed), so = sig_bank_count(sig_bank_fact_not_needed);
    const char **vn = malloc(sizeof(char *) * (sn + ne + 1)),
               **vo = malloc(sizeof(char *) * (so + nc + 1));
    if (!vn || !vo) abort();
    memcpy(vn, sig_bank_fact_needed, sizeof(char *) * sn);
    memcpy(vo, sig_bank_fact_not_needed, sizeof(char *) * so);
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        for (size_t k = 0; k < g->examples.n; k++)
            vn[sn++] = g->examples.v[k];
        for (size_t k = 0; k < g->counter_examples.n; k++)
            vo[so++] = g->counter_examples.v[k];
    }
    sig_bank_init(&s->bank[FC_NEED], s->sim->emb, vn, sn);
    sig_bank_init(&s->bank[FC_OTHER], s->sim->emb, vo, so);
    free(vn);
    free(vo);
    *state = s;
    return rc;
}

static void fact_check_eval_heuristic(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_sim_rules_t *s = state;
    if (!s || !n) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    sig_bank_t *need_bank = &s->bank[FC_NEED], *other_bank = &s->bank[FC_OTHER];
    if (q && (!sig_sim_bank_ok(need_bank, &err) || !sig_sim_bank_ok(other_bank, &err))) q = NULL;
    double thr = 0.35;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(refs[i].rule->name, "needs_fact_check")) thr = sig_rule_thr(refs[i].rule, 0.35);
    double sf = q ? sig_bank_score(need_bank, q, SIG_AGG_MAX, 0) : 0;
    double so = q ? sig_bank_score(other_bank, q, SIG_AGG_MAX, 0) : 0;
    bool need = sf >= thr && sf > so;
    const char *verdict = need ? "needs_fact_check" : "no_fact_check_needed";
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        if (!q) {
            res->error = err;
            continue;
        }
        res->label = verdict;
        res->value = sf - so;
        res->has_value = true;
        res->matched = !strcmp(refs[i].rule->name, verdict);
        res->score = !res->matched ? 0 : need ? sf : 1 - sf;
    }
}

/* Rules naming an external classifier take its verdict (classify.h
 * sig_cls_verdict); the others, and those whose classifier failed, the
 * banks. */
static void fact_check_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_sim_eval_cls_first(state, cx, refs, n, 0.35, fact_check_eval_heuristic);
}

CFG_SIG_FAMILY(
    sig_fact_check_family, "fact_check", "fact_check", "fact-check rules",
    "Needs a fact check (rules needs_fact_check, no_fact_check_needed).", .threshold = "0.35",
    .fields = (const cfg_field_t[]){CFG_SIGF_EXAMPLES,
                                    CFG_FLIST(cfg_signal_t, "counter_examples", counter_examples,
                                              NULL, "texts that need no fact check"),
                                    CFG_SIGF_CLASSIFIER,
                                    {0}},
    .builtin_leaves = (const char *const[]){"needs_fact_check", "no_fact_check_needed", NULL},
    .flags = CFG_SIGFAM_CLASSIFIER,
    .ops = &(const sig_family_ops_t){
        .compile = fact_check_compile, .free = sig_sim_rules_free, .eval = fact_check_eval});
