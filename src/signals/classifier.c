/* classifier.c - the generic `classifier` family (YAML key classifiers,
 * leaf type classifier): a rule reads one external classifier of
 * global.model_catalog.classifiers (signals/classify.h) and matches on its
 * label and score. With `labels`, it matches when the classifier's top label
 * is one of them with a probability of at least the threshold (0.5);
 * without, when the probability of the classifier's positive_labels reaches
 * the threshold. The result carries the classifier's label, so leaves may
 * narrow further with `label:`. There is no heuristic to fall back to: a
 * classifier that timed out or failed is the rule's error (on_error). */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/family.h"

#include <stddef.h>
#include <strings.h>

typedef struct cls_opts {
    cfg_strlist_t labels;
} cls_opts_t;

static const char *cls_check(const cfg_signal_t *r)
{
    return r->classifier ? NULL : "a classifier rule needs `classifier:` (a model_catalog name)";
}

static void cls_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    (void)state;
    for (size_t i = 0; i < n; i++) {
        const cfg_signal_t *sg = refs[i].rule;
        sig_result_t *res = refs[i].res;
        const sig_cls_out_t *o = sig_cls_rule(cx, sg, res);
        if (!o) {
            if (!res->error) res->error = res->fallback; /* nothing to fall back to */
            res->fallback = NULL;
            continue;
        }
        const cls_opts_t *op = sg->opts;
        double th = sg->has_threshold ? sg->threshold : 0.5;
        res->label = o->label;
        res->latency_us = o->latency_us;
        res->value = o->score;
        res->has_value = true;
        if (op && op->labels.n) {
            bool in = false;
            for (size_t k = 0; o->label && k < op->labels.n; k++)
                if (!strcasecmp(op->labels.v[k], o->label)) in = true;
            res->score = in ? o->score : 0;
        } else {
            res->score = o->positive;
        }
        res->matched = res->score >= th && res->score > 0;
    }
}

CFG_SIG_FAMILY(sig_classifier_family, "classifier", "classifiers", "external classifier rules",
               "An external classifier's label and score (YAML key classifiers, leaf type "
               "classifier; docs/signals.md).",
               .threshold = "0.5",
               .fields =
                   (const cfg_field_t[]){
                       CFG_FSTR(cfg_signal_t, "classifier", classifier, NULL,
                                "the model_catalog.classifiers[] name (required)"),
                       {.key = "labels",
                        .type = CFG_F_STRLIST,
                        .off = offsetof(cls_opts_t, labels.v),
                        .off2 = offsetof(cls_opts_t, labels.n),
                        .flags = CFG_FF_OPT,
                        .doc = "labels that match (default: the classifier's positive_labels)"},
                       {0}},
               .opts_size = sizeof(cls_opts_t), .flags = CFG_SIGFAM_LABELS | CFG_SIGFAM_CLASSIFIER,
               .check = cls_check, .ops = &(const sig_family_ops_t){.eval = cls_eval});
