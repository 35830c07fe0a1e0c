/* embedding.c - the `embedding` family (SPEC §5.4, YAML key embeddings):
 * each rule's candidates form one prototype bank; a rule matches when its
 * bank score (aggregation_method, top_k) reaches its threshold (0.45). Soft
 * matching: when no rule of the recipe reaches its threshold, the best rule
 * whose score reaches its min_score_threshold (when set) matches. */
#include "config/family.h"
#include "signals/similarity.h"

#include <stdlib.h>

typedef struct emb_rule {
    sig_bank_t bank;
    int agg;
} emb_rule_t;

typedef struct emb_state {
    sig_sim_t *sim;
    emb_rule_t *r;
    size_t n;
} emb_state_t;

static void embedding_free(void *p)
{
    emb_state_t *s = p;
    for (size_t i = 0; i < s->n; i++)
        sig_bank_deinit(&s->r[i].bank);
    free(s->r);
    free(s);
}

static int embedding_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) {
        sig_sim_get(b, diags); /* sets up jailbreak contrastive */
        return 0;
    }
    emb_state_t *s = sig_sim_state_new(b, diags, sizeof *s);
    if (!s) return -1;
    s->r = calloc(b->n_rules, sizeof *s->r);
    if (!s->r) abort();
    s->n = b->n_rules;
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        s->r[i].agg = sig_agg_parse(g->aggregation_method);
        if (s->r[i].agg < 0) {
            sig_rule_error(diags, b->cfg, g, "aggregation_method must be max, mean or any");
            rc = -1;
            s->r[i].agg = SIG_AGG_MAX;
        }
        if (!g->candidates.n) {
            sig_rule_error(diags, b->cfg, g, "embedding rule %s has no candidates", g->name);
            rc = -1;
        }
        sig_sim_bank_from(&s->r[i].bank, s->sim, &g->candidates, NULL, 0);
    }
    *state = s;
    return rc;
}

static void embedding_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const emb_state_t *s = state;
    if (!s || !n) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    bool any = false;
    int soft = -1;
    double soft_score = -1;
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        const cfg_signal_t *g = refs[i].rule;
        emb_rule_t *r = &s->r[refs[i].id];
        if (!q || !sig_sim_bank_ok(&r->bank, &err)) {
            res->error = err;
            continue;
        }
        res->score = sig_bank_score(&r->bank, q, (sig_agg_t)r->agg, g->top_k);
        res->value = res->score;
        res->has_value = true;
        res->matched = res->score >= sig_rule_thr(g, 0.45);
        any |= res->matched;
        if (g->min_score_threshold > 0 && res->score >= g->min_score_threshold &&
            res->score > soft_score) {
            soft = (int)i;
            soft_score = res->score;
        }
    }
    if (!any && soft >= 0) refs[soft].res->matched = true;
}

CFG_SIG_FAMILY(sig_embedding_family, "embedding", "embeddings", "embedding rules",
               "Similarity to prototype texts (YAML key embeddings, leaf type embedding).",
               .threshold = "0.45",
               .fields =
                   (const cfg_field_t[]){
                       CFG_FLIST(cfg_signal_t, "candidates", candidates, NULL, "prototype texts"),
                       CFG_FENUM(cfg_signal_t, "aggregation_method", aggregation_method, "max",
                                 "max|mean|any", "bank aggregation"),
                       CFG_FINT(cfg_signal_t, "top_k", top_k, "0", 0, 1000, "0 = all"),
                       CFG_FUNIT(cfg_signal_t, "min_score_threshold", min_score_threshold, NULL,
                                 "soft matching floor"),
                       {0}},
               .ops = &(const sig_family_ops_t){
                   .compile = embedding_compile, .free = embedding_free, .eval = embedding_eval});
