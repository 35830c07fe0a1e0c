/* reask.c - the `reask` family (SPEC §5.4, YAML key reasks): the user asks
 * again. A rule matches when each of the last lookback_turns (1) user turns
 * before the query reaches the threshold (0.80) in cosine with the query;
 * the score is the smallest of those cosines. Needs no banks: earlier turns
 * are embedded per request (each once, whatever the number of rules). */
#include "config/family.h"
#include "signals/similarity.h"

#include <stdlib.h>

/* The state is a sig_sim_rules_t without banks. */

static int reask_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    *state = sig_sim_rules_new(b, diags, 0);
    return *state ? 0 : -1;
}

static void reask_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_sim_rules_t *s = state;
    if (!s || !n) return;
    const size_t *idx;
    size_t nh = sig_ctx_history(cx, &idx);
    int need = 1;
    for (size_t i = 0; i < n; i++)
        if (refs[i].rule->lookback_turns > need) need = refs[i].rule->lookback_turns;
    if ((size_t)need > nh) need = (int)nh;
    const char *err = NULL;
    const float *q = nh ? sig_sim_query(s->sim, cx, &err) : NULL;
    double *cos = arena_alloc(cx->a, sizeof(double) * (size_t)(need + 1));
    int d = emb_dims(s->sim->emb);
    /* cos[k]: similarity of the k-th user turn back from the query */
    for (int k = 0; q && k < need; k++) {
        sig_text_t t = sig_ctx_msg(cx, idx[nh - 1 - (size_t)k]);
        const float *v = sig_sim_embed_cx(s->sim, cx, t.s, t.n, &err);
        if (!v) {
            q = NULL;
            break;
        }
        double c = emb_dot(q, v, d);
        cos[k] = c < 0 ? 0 : c > 1 ? 1 : c;
    }
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        int lb = refs[i].rule->lookback_turns > 0 ? refs[i].rule->lookback_turns : 1;
        if (!nh || (size_t)lb > nh) continue; /* not enough earlier turns: no match */
        if (!q) {
            res->error = err;
            continue;
        }
        double m = 1;
        for (int k = 0; k < lb; k++)
            if (cos[k] < m) m = cos[k];
        res->score = res->value = m;
        res->has_value = true;
        res->matched = m >= sig_rule_thr(refs[i].rule, 0.80);
    }
}

CFG_SIG_FAMILY(sig_reask_family, "reask", "reasks", "re-ask rules",
               "Repeated questions (YAML key reasks, leaf type reask).", .threshold = "0.80",
               .fields = (const cfg_field_t[]){CFG_FINT(cfg_signal_t, "lookback_turns",
                                                        lookback_turns, "1", 1, 100,
                                                        "earlier user turns compared"),
                                               {0}},
               .ops = &(const sig_family_ops_t){
                   .compile = reask_compile, .free = sig_sim_rules_free, .eval = reask_eval});
