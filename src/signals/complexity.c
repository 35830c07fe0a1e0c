/* complexity.c - the `complexity` family (SPEC §5.4): each rule has a hard
 * and an easy candidate bank; margin = S_hard − S_easy gives the label
 * `hard` above the threshold (0.05), `easy` below its negative, `medium`
 * otherwise, with score min(1, |margin|/0.2) and value = margin. The result
 * always matches with its label (leaves are written name:label); the
 * composer tree is the decision engine's business. */
#include "config/family.h"
#include "signals/similarity.h"

#include <math.h>
#include <stdlib.h>

/* The state is a sig_sim_rules_t with two banks per rule: hard at 2i,
 * easy at 2i + 1. */

/* {candidates: [text...]} -> list (pointers into the config tree). */
static size_t node_candidates(const cfg_node_t *side, const char ***out)
{
    const cfg_node_t *c = side ? cfg_node_get(side, "candidates") : NULL;
    *out = NULL;
    if (!c || c->kind != CFG_NODE_SEQ) return 0;
    const char **v = malloc(sizeof(char *) * (c->n + 1));
    if (!v) abort();
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i]->kind == CFG_NODE_SCALAR && c->items[i]->str) v[n++] = c->items[i]->str;
    *out = v;
    return n;
}

static int complexity_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    sig_sim_rules_t *s = sig_sim_rules_new(b, diags, 2 * b->n_rules);
    if (!s) return -1;
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        const char **h, **e;
        size_t nh = node_candidates(g->hard, &h), ne = node_candidates(g->easy, &e);
        if (!nh || !ne) {
            sig_rule_error(diags, b->cfg, g,
                           "complexity %s needs hard.candidates and easy.candidates", g->name);
            rc = -1;
        }
        sig_bank_init(&s->bank[2 * i], s->sim->emb, h, nh);
        sig_bank_init(&s->bank[2 * i + 1], s->sim->emb, e, ne);
        free(h);
        free(e);
    }
    *state = s;
    return rc;
}

static void complexity_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_sim_rules_t *s = state;
    if (!s || !n) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        sig_bank_t *hard = &s->bank[2 * refs[i].id], *easy = hard + 1;
        if (!q || !sig_sim_bank_ok(hard, &err) || !sig_sim_bank_ok(easy, &err)) {
            res->error = err;
            continue;
        }
        double m =
            sig_bank_score(hard, q, SIG_AGG_MAX, 0) - sig_bank_score(easy, q, SIG_AGG_MAX, 0);
        double t = sig_rule_thr(refs[i].rule, 0.05);
        res->label = m > t ? "hard" : m < -t ? "easy" : "medium";
        res->score = fmin(1.0, fabs(m) / 0.2);
        res->value = m;
        res->has_value = true;
        res->matched = true;
    }
}

CFG_SIG_FAMILY(
    sig_complexity_family, "complexity", "complexity", "complexity rules",
    "Task difficulty (labels easy, medium, hard).", .threshold = "0.05",
    .fields = (const cfg_field_t[]){CFG_FNODE(cfg_signal_t, "hard", hard, "{candidates[]}"),
                                    CFG_FNODE(cfg_signal_t, "easy", easy, "{candidates[]}"),
                                    CFG_FNODE(cfg_signal_t, "composer", composer,
                                              "rule tree that must also match"),
                                    CFG_SIGF_CLASSIFIER,
                                    {0}},
    .flags = CFG_SIGFAM_LABELS,
    .ops = &(const sig_family_ops_t){
        .compile = complexity_compile, .free = sig_sim_rules_free, .eval = complexity_eval});
