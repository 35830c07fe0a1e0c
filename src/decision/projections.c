/* projections.c - projections (SPEC §6.3), run between the signals and the
 * rule trees: partitions make a group of domain/embedding signals exclusive
 * (rewriting a copy of the signal results), scores are weighted sums of
 * signals, mappings turn a score into named bands that rule leaves reference
 * with `type: projection`. Reads the key-checked trees the loader kept in
 * cfg_projections_t; rules.c reads what this file produces. */
#include "decision/cfgnode.h"
#include "decision/decision.h"
#include <math.h>
#include <string.h>

static sig_result_t *find_member(sig_results_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        const cfg_signal_t *g = s->items[i].rule;
        if (g && (g->family == CFG_SIG_DOMAIN || g->family == CFG_SIG_EMBEDDING) && g->name &&
            !strcmp(g->name, name))
            return &s->items[i];
    }
    return NULL;
}

static const sig_result_t *find_input(const sig_results_t *s, const char *type, const char *name,
                                      const char *kb, const char *metric)
{
    int fam = type ? cfg_signal_family_by_name(type) : -1;
    if (kb) fam = CFG_SIG_KB;
    if (fam < 0) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const cfg_signal_t *g = s->items[i].rule;
        if (!g || (int)g->family != fam) continue;
        if (kb) {
            if (g->kb && !strcmp(g->kb, kb) &&
                (!metric || (g->name && !strcmp(g->name, metric)) ||
                 (s->items[i].label && !strcmp(s->items[i].label, metric))))
                return &s->items[i];
        } else if (name && g->name && !strcmp(g->name, name)) {
            return &s->items[i];
        }
    }
    return NULL;
}

static void run_partition(const cfg_node_t *p, dec_proj_t *out, arena_t *a)
{
    const char *name = dec_cfg_str(p, "name", NULL);
    const char *sem = dec_cfg_str(p, "semantics", "exclusive");
    double temp = dec_cfg_num(p, "temperature", 1.0);
    if (temp <= 0) temp = 1.0;
    const char *def = dec_cfg_str(p, "default", NULL);
    const cfg_node_t *mem = dec_cfg_seq(p, "members");
    size_t nm = mem ? mem->n : 0;
    sig_result_t **r = arena_calloc(a, (nm + 1) * sizeof *r);
    const char **names = arena_calloc(a, (nm + 1) * sizeof *names);
    bool any = false;
    for (size_t i = 0; i < nm; i++) {
        if (mem->items[i]->kind != CFG_NODE_SCALAR) continue;
        names[i] = mem->items[i]->str;
        r[i] = find_member(&out->sig, names[i]);
        if (r[i] && r[i]->matched && !r[i]->error) any = true;
    }
    bool soft = !strcmp(sem, "softmax_exclusive");
    long win = -1;
    double conf = 0;
    if (any) {
        for (size_t i = 0; i < nm; i++) {
            if (!r[i] || r[i]->error || (!soft && !r[i]->matched)) continue;
            if (win < 0 || r[i]->score > r[win]->score) win = (long)i;
        }
        conf = r[win]->score;
        if (soft) {
            double mx = r[win]->score / temp, sum = 0;
            for (size_t i = 0; i < nm; i++)
                if (r[i] && !r[i]->error) sum += exp(r[i]->score / temp - mx);
            conf = 1.0 / sum; /* exp(s_w/T - mx) is 1 */
        }
    }
    for (size_t i = 0; i < nm; i++) {
        if (!r[i]) continue;
        if ((long)i == win) {
            r[i]->matched = true;
            r[i]->score = conf;
        } else {
            r[i]->matched = false;
        }
    }
    const char *label = win >= 0 ? names[win] : NULL;
    bool matched = win >= 0;
    if (!any && def) {
        sig_result_t *d = find_member(&out->sig, def);
        if (d) {
            d->matched = true;
            d->score = 0;
        }
        label = def;
        matched = true;
        conf = 0;
    }
    if (name) {
        dec_proj_out_t *o = &out->outs[out->n_outs++];
        o->name = name;
        o->label = label;
        o->matched = matched;
        o->confidence = conf;
    }
}

static void run_score(const cfg_node_t *sc, dec_proj_t *out)
{
    const char *name = dec_cfg_str(sc, "name", NULL);
    if (!name) return;
    const cfg_node_t *in = dec_cfg_seq(sc, "inputs");
    double total = 0;
    for (size_t i = 0; in && i < in->n; i++) {
        const cfg_node_t *x = in->items[i];
        const char *type = dec_cfg_str(x, "type", NULL);
        const char *nm = dec_cfg_str(x, "name", NULL);
        double w = dec_cfg_num(x, "weight", 1.0);
        const char *src = dec_cfg_str(x, "value_source", "binary");
        double match = dec_cfg_num(x, "match", 1.0), miss = dec_cfg_num(x, "miss", 0.0);
        bool matched = false, has_value = false;
        double score = 0, value = 0;
        if (type && !strcmp(type, "projection")) {
            const dec_proj_out_t *o = nm ? dec_proj_find(out, nm) : NULL;
            const dec_proj_score_t *s = nm ? dec_proj_score(out, nm) : NULL;
            if (o) {
                matched = o->matched;
                score = o->confidence;
            }
            if (s) {
                has_value = true;
                value = s->value;
            }
        } else {
            const sig_result_t *r = find_input(&out->sig, type, nm, dec_cfg_str(x, "kb", NULL),
                                               dec_cfg_str(x, "metric", NULL));
            if (r && !r->error) {
                matched = r->matched;
                score = r->score;
                has_value = r->has_value;
                value = r->value;
            }
        }
        double v;
        if (!strcmp(src, "confidence"))
            v = matched ? score : miss;
        else if (!strcmp(src, "raw"))
            v = has_value ? value : miss;
        else
            v = matched ? match : miss;
        total += w * v;
    }
    dec_proj_score_t *s = &out->scores[out->n_scores++];
    s->name = name;
    s->value = total;
}

static void run_mapping(const cfg_node_t *m, dec_proj_t *out)
{
    const char *src = dec_cfg_str(m, "source", NULL);
    const dec_proj_score_t *s = src ? dec_proj_score(out, src) : NULL;
    const cfg_node_t *cal = m->kind == CFG_NODE_MAP ? cfg_node_get(m, "calibration") : NULL;
    bool sigmoid =
        cal && !strcmp(dec_cfg_str(cal, "method", "sigmoid_distance"), "sigmoid_distance");
    double slope = dec_cfg_num(cal, "slope", 10.0);
    const cfg_node_t *outs = dec_cfg_seq(m, "outputs");
    for (size_t i = 0; outs && i < outs->n; i++) {
        const cfg_node_t *o = outs->items[i];
        const char *name = dec_cfg_str(o, "name", NULL);
        if (!name) continue;
        dec_proj_out_t *po = &out->outs[out->n_outs++];
        po->name = name;
        if (!s) continue;
        double x = s->value, b, d = INFINITY;
        bool in = true;
        if (dec_cfg_has_num(o, "gt", &b)) in &= x > b, d = fmin(d, fabs(x - b));
        if (dec_cfg_has_num(o, "gte", &b)) in &= x >= b, d = fmin(d, fabs(x - b));
        if (dec_cfg_has_num(o, "lt", &b)) in &= x < b, d = fmin(d, fabs(x - b));
        if (dec_cfg_has_num(o, "lte", &b)) in &= x <= b, d = fmin(d, fabs(x - b));
        po->matched = in;
        if (in) po->confidence = sigmoid && isfinite(d) ? 1.0 / (1.0 + exp(-slope * d)) : 1.0;
    }
}

int dec_project(const cfg_recipe_t *rc, const sig_results_t *in, arena_t *a, dec_proj_t *out)
{
    memset(out, 0, sizeof *out);
    if (in) {
        out->sig = *in;
        if (in->n) {
            out->sig.items = arena_alloc(a, in->n * sizeof(sig_result_t));
            memcpy(out->sig.items, in->items, in->n * sizeof(sig_result_t));
        }
    }
    if (!rc) return 0;
    const cfg_node_t *parts = rc->projections.partitions, *scores = rc->projections.scores,
                     *maps = rc->projections.mappings;
    size_t np = parts && parts->kind == CFG_NODE_SEQ ? parts->n : 0;
    size_t ns = scores && scores->kind == CFG_NODE_SEQ ? scores->n : 0;
    size_t nm = maps && maps->kind == CFG_NODE_SEQ ? maps->n : 0;
    size_t nouts = np;
    for (size_t i = 0; i < nm; i++) {
        const cfg_node_t *o = dec_cfg_seq(maps->items[i], "outputs");
        nouts += o ? o->n : 0;
    }
    if (!np && !ns && !nm) return 0;
    out->outs = arena_calloc(a, (nouts + 1) * sizeof(dec_proj_out_t));
    out->scores = arena_calloc(a, (ns + 1) * sizeof(dec_proj_score_t));
    for (size_t i = 0; i < np; i++)
        if (parts->items[i]->kind == CFG_NODE_MAP) run_partition(parts->items[i], out, a);
    for (size_t i = 0; i < ns; i++)
        if (scores->items[i]->kind == CFG_NODE_MAP) run_score(scores->items[i], out);
    for (size_t i = 0; i < nm; i++)
        if (maps->items[i]->kind == CFG_NODE_MAP) run_mapping(maps->items[i], out);
    return 0;
}

const dec_proj_out_t *dec_proj_find(const dec_proj_t *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n_outs; i++)
        if (!strcmp(p->outs[i].name, name)) return &p->outs[i];
    return NULL;
}

const dec_proj_score_t *dec_proj_score(const dec_proj_t *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n_scores; i++)
        if (!strcmp(p->scores[i].name, name)) return &p->scores[i];
    return NULL;
}
