/* user_feedback.c - the `user_feedback` family (SPEC §5.4, YAML key
 * user_feedbacks): the user's reaction to the last answer. Runs only when an
 * assistant message precedes the query. Four shipped banks (satisfied,
 * need_clarification, wrong_answer, want_different), each extended by the
 * examples of the rule of that name. The verdict is the best of the three
 * complaints when it reaches the threshold (0.40) and beats the satisfied
 * bank, else satisfied. Results carry the verdict as label; the rule named
 * like the verdict matches. */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/similarity.h"

#include <stdlib.h>
#include <string.h>

enum { FB_SATISFIED = 0, FB_CLARIFY, FB_WRONG, FB_DIFFERENT, FB_N };
static const char *const fb_names[FB_N] = {"satisfied", "need_clarification", "wrong_answer",
                                           "want_different"};

/* The state is a sig_sim_rules_t with FB_N banks, one per verdict. */

static int user_feedback_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    sig_sim_rules_t *s = sig_sim_rules_new(b, diags, FB_N);
    if (!s) return -1;
    static const char *const *const shipped[FB_N] = {
        sig_bank_fb_satisfied, sig_bank_fb_need_clarification, sig_bank_fb_wrong_answer,
        sig_bank_fb_want_different};
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++) {
        int k = 0;
        while (k < FB_N && strcmp(b->rules[i]->name, fb_names[k]))
            k++;
        if (k == FB_N) {
            sig_rule_error(diags, b->cfg, b->rules[i],
                           "user_feedback rules are satisfied, need_clarification, wrong_answer or "
                           "want_different");
            rc = -1;
        }
    }
    for (int k = 0; k < FB_N; k++) {
        size_t ns = sig_bank_count(shipped[k]), extra = 0;
        for (size_t i = 0; i < b->n_rules; i++)
            if (!strcmp(b->rules[i]->name, fb_names[k])) extra += b->rules[i]->examples.n;
        const char **v = malloc(sizeof(char *) * (ns + extra + 1));
        if (!v) abort();
        memcpy(v, shipped[k], sizeof(char *) * ns);
        for (size_t i = 0; i < b->n_rules; i++)
            if (!strcmp(b->rules[i]->name, fb_names[k]))
                for (size_t j = 0; j < b->rules[i]->examples.n; j++)
                    v[ns++] = b->rules[i]->examples.v[j];
        sig_bank_init(&s->bank[k], s->sim->emb, v, ns);
        free(v);
    }
    *state = s;
    return rc;
}

static bool after_assistant(const rq_t *r)
{
    if (!r || r->query_msg < 0) return false;
    for (int i = 0; i < r->query_msg; i++)
        if (r->msgs[i].role == JROLE_ASSISTANT) return true;
    return false;
}

static void user_feedback_eval_heuristic(const void *state, sig_ctx_t *cx, sig_ref_t *refs,
                                         size_t n)
{
    const sig_sim_rules_t *s = state;
    if (!s || !n || !after_assistant(cx->rq)) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    double sc[FB_N] = {0};
    for (int k = 0; q && k < FB_N; k++) {
        if (!sig_sim_bank_ok(&s->bank[k], &err))
            q = NULL;
        else
            sc[k] = sig_bank_score(&s->bank[k], q, SIG_AGG_MAX, 0);
    }
    double thr = 0.40;
    if (n) thr = sig_rule_thr(refs[0].rule, 0.40);
    int v = FB_SATISFIED;
    for (int k = FB_CLARIFY; k < FB_N; k++)
        if (sc[k] >= thr && sc[k] > sc[FB_SATISFIED] && (v == FB_SATISFIED || sc[k] > sc[v])) v = k;
    double best_complaint = 0;
    for (int k = FB_CLARIFY; k < FB_N; k++)
        if (sc[k] > best_complaint) best_complaint = sc[k];
    double score = v != FB_SATISFIED         ? sc[v]
                   : sc[FB_SATISFIED] >= thr ? sc[FB_SATISFIED]
                                             : 1 - best_complaint;
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        if (!q) {
            res->error = err;
            continue;
        }
        res->label = fb_names[v];
        res->value = sc[v];
        res->has_value = true;
        res->matched = !strcmp(refs[i].rule->name, fb_names[v]);
        res->score = res->matched ? score : 0;
    }
}

/* Rules naming an external classifier take its verdict (classify.h
 * sig_cls_verdict); the others, and those whose classifier failed, the
 * banks. */
static void user_feedback_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_sim_eval_cls_first(state, cx, refs, n, 0.40, user_feedback_eval_heuristic);
}

CFG_SIG_FAMILY(sig_user_feedback_family, "user_feedback", "user_feedbacks", "user-feedback rules",
               "Feedback on the last answer (YAML key user_feedbacks, leaf type user_feedback).",
               .threshold = "0.40",
               .fields = (const cfg_field_t[]){CFG_SIGF_EXAMPLES, CFG_SIGF_CLASSIFIER, {0}},
               .flags = CFG_SIGFAM_CLASSIFIER,
               .builtin_leaves = (const char *const[]){"satisfied", "need_clarification",
                                                       "wrong_answer", "want_different", NULL},
               .ops = &(const sig_family_ops_t){.compile = user_feedback_compile,
                                                .free = sig_sim_rules_free,
                                                .eval = user_feedback_eval});
