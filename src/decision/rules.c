/* rules.c - rule-tree evaluation (SPEC §6.1) over the signal results as the
 * projections left them. Leaves read one sig_result_t (or one projection
 * output); AND stops at its first failing child and traces the rest as
 * skipped; OR evaluates every child; NOT inverts its one child. The trace
 * nodes it fills are printed by trace.c; strategy.c calls it per decision. */
#include "decision/decision.h"
#include "decision/cfgnode.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The result a signal leaf reads. Leaves resolved at load carry their rule;
 * built-in names (language codes, modality AR/DIFFUSION/BOTH, feedback
 * verdicts, fact-check) are found by family and name, then by label. *via_label
 * says the latter: the leaf then requires that label. */
static const sig_result_t *leaf_result(const cfg_rule_t *r, const cfg_recipe_t *rc,
                                       const sig_results_t *s, bool *via_label)
{
    *via_label = false;
    if (!s) return NULL;
    if (r->signal) {
        if (rc && rc->signals && (uintptr_t)r->signal >= (uintptr_t)rc->signals &&
            (uintptr_t)r->signal < (uintptr_t)(rc->signals + rc->n_signals)) {
            size_t i = (size_t)(r->signal - rc->signals);
            if (i < s->n && s->items[i].rule == r->signal) return &s->items[i];
        }
        for (size_t i = 0; i < s->n; i++)
            if (s->items[i].rule == r->signal) return &s->items[i];
        return NULL;
    }
    int fam = r->type ? cfg_signal_family_by_name(r->type) : -1;
    if (fam < 0 || !r->name) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const cfg_signal_t *g = s->items[i].rule;
        if (g && (int)g->family == fam && g->name && !strcmp(g->name, r->name)) return &s->items[i];
    }
    const sig_result_t *any = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const cfg_signal_t *g = s->items[i].rule;
        if (!g || (int)g->family != fam) continue;
        if (s->items[i].label && !strcmp(s->items[i].label, r->name)) {
            *via_label = true;
            return &s->items[i];
        }
        if (!any) any = &s->items[i];
    }
    /* The family ran but labelled something else: read its error, never match. */
    if (any) *via_label = true;
    return any;
}

static bool predicate_holds(const cfg_node_t *pred, double v)
{
    if (!pred || pred->kind != CFG_NODE_MAP) return true;
    for (size_t i = 0; i < pred->n; i++) {
        const char *k = pred->keys[i]->str;
        double x = 0;
        if (!dec_cfg_has_num_raw(pred->items[i], &x)) return false;
        bool ok = !strcmp(k, "gt")    ? v > x
                  : !strcmp(k, "gte") ? v >= x
                  : !strcmp(k, "lt")  ? v < x
                  : !strcmp(k, "lte") ? v <= x
                  : !strcmp(k, "eq")  ? fabs(v - x) <= 1e-9 * (fabs(x) > 1 ? fabs(x) : 1)
                                      : false;
        if (!ok) return false;
    }
    return true;
}

/* "<type>:<name>" (printf's "%s:%s" bytes, without printf): the one the
 * loader built (cfg_rule_t.leaf_name), else built here (hand-built rules) */
static const char *kind_leaf_name(arena_t *a, const cfg_rule_t *r)
{
    return r->leaf_name ? r->leaf_name : cfg_rule_leaf_name(a, r);
}

/* Fill the shape of a subtree that was not evaluated. */
static void mark_skipped(const cfg_rule_t *r, arena_t *a, dec_node_t *n)
{
    memset(n, 0, sizeof *n);
    n->kind = r->kind;
    n->skipped = true;
    if (r->kind == CFG_RULE_LEAF) {
        n->signal = kind_leaf_name(a, r);
        n->label = r->label;
        return;
    }
    if (!r->n_children) return;
    n->children = arena_calloc(a, r->n_children * sizeof(dec_node_t));
    n->n_children = r->n_children;
    for (size_t i = 0; i < r->n_children; i++)
        mark_skipped(&r->children[i], a, &n->children[i]);
}

static int eval_leaf(const cfg_rule_t *r, const cfg_recipe_t *rc, const dec_proj_t *proj,
                     arena_t *a, dec_node_t *n, const char **failed)
{
    n->signal = kind_leaf_name(a, r);
    n->label = r->label;
    /* compiled rules know their kind of leaf; hand-built ones are asked */
    if (r->leaf_name ? r->is_projection : r->type && !strcmp(r->type, "projection")) {
        const dec_proj_out_t *o = proj ? dec_proj_find(proj, r->name) : NULL;
        n->matched = o && o->matched && (!r->label || (o->label && !strcmp(o->label, r->label)));
        n->confidence = n->matched ? o->confidence : 0;
        return 0;
    }
    bool via_label;
    const sig_result_t *res = leaf_result(r, rc, proj ? &proj->sig : NULL, &via_label);
    if (!res) return 0; /* the family did not run: no match */
    n->fallback = res->fallback;
    if (res->error) {
        n->error = res->error;
        switch (r->on_error) {
        case CFG_ONERR_MATCH:
            n->matched = true;
            n->confidence = 1.0;
            return 0;
        case CFG_ONERR_FAIL: *failed = n->signal; return -1;
        default: return 0;
        }
    }
    bool ok;
    if (r->predicate)
        ok = res->has_value && predicate_holds(r->predicate, res->value);
    else
        ok = res->matched;
    if (ok && via_label) ok = res->label && !strcmp(res->label, r->name);
    if (ok && r->label) ok = res->label && !strcmp(res->label, r->label);
    if (ok && r->signal && r->signal->composer_rule) {
        /* a complexity rule's composer must also match (it never names a
         * complexity rule, so this recursion ends) */
        dec_node_t sub;
        if (dec_rules_eval(r->signal->composer_rule, rc, proj, a, &sub, failed) != 0) return -1;
        ok = sub.matched;
    }
    n->matched = ok;
    /* A predicate decides on the value, so its match is certain; otherwise
     * the leaf is as confident as its rule. */
    n->confidence = !ok ? 0 : r->predicate ? 1.0 : res->score;
    return 0;
}

int dec_rules_eval(const cfg_rule_t *r, const cfg_recipe_t *rc, const dec_proj_t *proj, arena_t *a,
                   dec_node_t *n, const char **failed)
{
    memset(n, 0, sizeof *n);
    n->kind = r->kind;
    if (r->kind == CFG_RULE_LEAF) return eval_leaf(r, rc, proj, a, n, failed);
    if (r->n_children) {
        n->children = arena_calloc(a, r->n_children * sizeof(dec_node_t));
        n->n_children = r->n_children;
    }
    switch (r->kind) {
    case CFG_RULE_AND: {
        double sum = 0;
        n->matched = true;
        for (size_t i = 0; i < r->n_children; i++) {
            if (!n->matched) {
                mark_skipped(&r->children[i], a, &n->children[i]);
                continue;
            }
            if (dec_rules_eval(&r->children[i], rc, proj, a, &n->children[i], failed)) return -1;
            if (n->children[i].matched)
                sum += n->children[i].confidence;
            else
                n->matched = false;
        }
        /* an empty AND is a catch-all: matched, confidence 0 */
        n->confidence = n->matched && r->n_children ? sum / (double)r->n_children : 0;
        return 0;
    }
    case CFG_RULE_OR: {
        for (size_t i = 0; i < r->n_children; i++) {
            if (dec_rules_eval(&r->children[i], rc, proj, a, &n->children[i], failed)) return -1;
            if (n->children[i].matched) {
                if (!n->matched || n->children[i].confidence > n->confidence)
                    n->confidence = n->children[i].confidence;
                n->matched = true;
            }
        }
        return 0;
    }
    case CFG_RULE_NOT: {
        if (r->n_children != 1) return 0; /* the loader rejects this; never match */
        if (dec_rules_eval(&r->children[0], rc, proj, a, &n->children[0], failed)) return -1;
        n->matched = !n->children[0].matched;
        n->confidence = n->matched ? 1.0 : 0;
        return 0;
    }
    default: return 0;
    }
}
