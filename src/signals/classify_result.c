/* classify_result.c - what the signal families read of the remote signal
 * inputs fetched before they run (route/fetch_classify.c,
 * route/fetch_embed.c): a classifier's outcome for a rule, with the reason
 * of a fallback or an error, and a fetched embedding vector. No I/O here. */
#include "signals/classify.h"
#include "signals/embed_async.h"
#include "core/hash.h"
#include "signals/family.h"
#include "signals/signal.h"
#include <string.h>
#include <strings.h>

int sig_cls_index(const cfg_t *cfg, const char *name)
{
    const cfg_model_catalog_t *m = cfg->global_ext ? &cfg->global_ext->model_catalog : NULL;
    for (size_t i = 0; m && name && i < m->n_classifiers; i++)
        if (m->classifiers[i].name && !strcmp(m->classifiers[i].name, name)) return (int)i;
    return -1;
}

const sig_cls_out_t *sig_cls_lookup(const cfg_t *cfg, const sig_cls_results_t *r, const char *name,
                                    const char **why)
{
    int i = sig_cls_index(cfg, name);
    if (i < 0) {
        *why = "classifier_unknown";
        return NULL;
    }
    if (!r || (size_t)i >= r->n || !r->items[i].asked) {
        *why = "classifier_not_called";
        return NULL;
    }
    const sig_cls_out_t *o = &r->items[i];
    if (o->ok) return o;
    static const struct {
        const char *outcome, *why;
    } map[] = {{"timeout", "classifier_timeout"},
               {"http_error", "classifier_http_error"},
               {"bad_response", "classifier_bad_response"},
               {"unreachable", "classifier_unreachable"},
               {"circuit_open", "classifier_circuit_open"}};
    *why = "classifier_error";
    for (size_t k = 0; k < sizeof map / sizeof *map; k++)
        if (o->outcome && !strcmp(o->outcome, map[k].outcome)) *why = map[k].why;
    return NULL;
}

const sig_cls_out_t *sig_cls_rule(sig_ctx_t *cx, const cfg_signal_t *sg, sig_result_t *res)
{
    if (!sg->classifier) return NULL;
    const cfg_t *cfg = sig_engine_cfg(cx->e);
    const char *why = NULL;
    const sig_cls_out_t *o =
        sig_cls_lookup(cfg, cx->env ? cx->env->cls : NULL, sg->classifier, &why);
    if (o) return o;
    int i = sig_cls_index(cfg, sg->classifier);
    const cfg_classifier_t *k = i >= 0 ? &cfg->global_ext->model_catalog.classifiers[i] : NULL;
    if (k && k->failure_mode && !strcmp(k->failure_mode, "closed"))
        res->error = why;
    else
        res->fallback = why;
    return NULL;
}

bool sig_cls_verdict(sig_ctx_t *cx, const sig_ref_t *ref, double def_thr)
{
    const cfg_signal_t *sg = ref->rule;
    sig_result_t *res = ref->res;
    const sig_cls_out_t *o = sig_cls_rule(cx, sg, res);
    if (!o) return res->error != NULL; /* an error is final; a fallback is not */
    double th = sg->has_threshold ? sg->threshold : def_thr;
    bool mine = o->label && sg->name && !strcasecmp(o->label, sg->name);
    res->label = o->label;
    res->value = o->score;
    res->has_value = true;
    res->latency_us = o->latency_us;
    res->matched = mine && o->score >= th;
    res->score = mine ? o->score : 0;
    return true;
}

const float *sig_emb_lookup(const sig_emb_results_t *r, const char *w, size_t wn, const char **why)
{
    uint64_t key = hash_xxh64(w, wn, (uint64_t)wn);
    for (size_t i = 0; i < r->n; i++)
        if (r->keys[i] == key && r->lens[i] == wn) {
            if (r->vecs[i]) return r->vecs[i];
            *why = r->why ? r->why : "embedding_unavailable";
            return NULL;
        }
    *why = "embedding_not_fetched";
    return NULL;
}
