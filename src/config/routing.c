/* routing.c - `routing` (recipe `default`), `recipes[]` and `entrypoints[]`:
 * loads them (signals.c, decisions.c do the parts) and resolves references:
 * leaves to signals, modelRefs to models, models to cards, classifiers,
 * strategies, entrypoints to recipes, and the default_model/catch-all rule. */
#include "config/family.h"
#include "config/global.h"
#include "config/load.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_load_cards(ld_t *l, const cfg_node_t *n, cfg_routing_t *r);
void cfg_load_signals(ld_t *l, const cfg_node_t *n, cfg_recipe_t *rc);
void cfg_load_projections(ld_t *l, const cfg_node_t *n, cfg_projections_t *p);
void cfg_load_rule_tree(ld_t *l, const cfg_node_t *n, cfg_rule_t *r);
void cfg_load_decision(ld_t *l, const cfg_node_t *n, cfg_decision_t *d,
                       const cfg_session_t *global);

#define NKEY(k, dc)                                                                                \
    {                                                                                              \
        .key = k, .type = CFG_F_CUSTOM, .doc = dc                                                  \
    }
extern const cfg_schema_t cfg_schema_model_card, cfg_schema_decision, cfg_schema_projections;

CFG_SCHEMA(
    cfg_schema_routing, "routing", "Routing: the recipe named default.",
    NKEY("strategy",
         "priority | confidence | tiers (tiers when any decision has a tier, else priority)"),
    CFG_FCUSTOM("modelCards", &cfg_schema_model_card, "see routing.modelCards[]"),
    CFG_FCUSTOM("signals", &cfg_schema_signals, "see routing.signals"),
    CFG_FCUSTOM("projections", &cfg_schema_projections, "see routing.projections"),
    CFG_FCUSTOM("decisions", &cfg_schema_decision, "see routing.decisions[]"));

CFG_SCHEMA(cfg_schema_recipe_routing, "recipes[].routing",
           "A recipe's routing; recipes share routing.modelCards.",
           NKEY("strategy", "as routing.strategy"), NKEY("signals", "as routing.signals"),
           NKEY("projections", "as routing.projections"),
           NKEY("decisions", "as routing.decisions"));

#define RC cfg_recipe_t
CFG_SCHEMA(cfg_schema_recipe, "recipes[]", "Alternative routing programs selected by entrypoints.",
           CFG_FSTR_REQ(RC, "name", name, "recipe name"),
           CFG_FSTR(RC, "description", description, NULL, "free text"),
           CFG_FCUSTOM("routing", &cfg_schema_recipe_routing, "see recipes[].routing"));
#undef RC

CFG_SCHEMA(cfg_schema_entrypoint, "entrypoints[]", "Model names bound to recipes.",
           CFG_FLIST(cfg_entrypoint_t, "model_names", model_names, NULL,
                     "model names that select the recipe"),
           CFG_FSTR_REQ(cfg_entrypoint_t, "recipe", recipe, "a recipes[] name (or default)"));

static void load_recipe_routing(ld_t *l, const cfg_node_t *n, cfg_recipe_t *rc, const cfg_t *c,
                                const cfg_schema_t *sch)
{
    if (!n || cfg_node_is_null(n)) return;
    if (!ld_expect_map(l, n)) return;
    ld_check_keys(l, n, sch);
    const cfg_node_t *st = cfg_node_get(n, "strategy");
    if (st) {
        size_t s = ld_push_key(l, "strategy");
        char *v = NULL;
        if (ld_str(l, st, &v) && v) {
            if (strcmp(v, "priority") && strcmp(v, "confidence") && strcmp(v, "tiers"))
                ld_err(l, st, "\"%s\" is not one of priority|confidence|tiers", v);
            else
                rc->strategy = v;
        }
        ld_pop(l, s);
    }
    cfg_load_signals(l, cfg_node_get(n, "signals"), rc);
    cfg_load_projections(l, cfg_node_get(n, "projections"), &rc->projections);
    const cfg_node_t *ds = cfg_node_get(n, "decisions");
    size_t s = ld_push_key(l, "decisions");
    if (ds && !cfg_node_is_null(ds) && ld_expect_seq(l, ds)) {
        rc->decisions = arena_calloc(l->a, (ds->n + 1) * sizeof(cfg_decision_t));
        for (size_t i = 0; i < ds->n; i++) {
            size_t s2 = ld_push_item(l, ds->items[i], i);
            cfg_decision_t *d = &rc->decisions[rc->n_decisions++];
            cfg_load_decision(l, ds->items[i], d, &c->global_ext->session);
            for (size_t j = 0; j + 1 < rc->n_decisions && d->name; j++)
                if (rc->decisions[j].name && !strcmp(rc->decisions[j].name, d->name))
                    ld_err(l, cfg_node_get(ds->items[i], "name"), "duplicate decision name \"%s\"",
                           d->name);
            ld_pop(l, s2);
        }
    }
    ld_pop(l, s);
}

/* ---- reference resolution ---- */

typedef struct names {
    const char **v;
    size_t n;
} names_t;

static void names_add(names_t *ns, const char *s)
{
    const char **v = realloc(ns->v, (ns->n + 1) * sizeof(char *));
    if (!v) abort();
    ns->v = v;
    ns->v[ns->n++] = s;
}

static void projection_outputs(const cfg_recipe_t *rc, names_t *out)
{
    const cfg_node_t *m = rc->projections.mappings;
    if (m && m->kind == CFG_NODE_SEQ)
        for (size_t i = 0; i < m->n; i++) {
            const cfg_node_t *outs = cfg_node_get(m->items[i], "outputs");
            if (outs && outs->kind == CFG_NODE_SEQ)
                for (size_t j = 0; j < outs->n; j++) {
                    const cfg_node_t *nm = cfg_node_get(outs->items[j], "name");
                    if (nm && nm->kind == CFG_NODE_SCALAR) names_add(out, nm->str);
                }
        }
    const cfg_node_t *p = rc->projections.partitions;
    if (p && p->kind == CFG_NODE_SEQ)
        for (size_t i = 0; i < p->n; i++) {
            const cfg_node_t *nm = cfg_node_get(p->items[i], "name");
            if (nm && nm->kind == CFG_NODE_SCALAR) names_add(out, nm->str);
        }
}

static void resolve_rule(ld_t *l, cfg_rule_t *r, cfg_recipe_t *rc, const names_t *proj)
{
    for (size_t i = 0; i < r->n_children; i++)
        resolve_rule(l, &r->children[i], rc, proj);
    if (r->kind != CFG_RULE_LEAF || !r->type || !r->name) return;
    cfg_node_t at = {.line = r->line, .col = r->col};
    if (!strcmp(r->type, "projection")) {
        for (size_t i = 0; i < proj->n; i++)
            if (!strcmp(proj->v[i], r->name)) return;
        const char *sug = cfg_suggest(r->name, proj->v, proj->n);
        ld_err(l, &at, "projection output \"%s\" is not declared%s%s%s", r->name,
               sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
        return;
    }
    int fam = cfg_signal_family_by_name(r->type);
    if (fam < 0) {
        size_t nt;
        const char *const *types = cfg_signal_leaf_types(&nt);
        const char *sug = cfg_suggest(r->type, types, nt);
        ld_err(l, &at, "unknown signal type \"%s\"%s%s%s", r->type, sug ? " (did you mean \"" : "",
               sug ? sug : "", sug ? "\"?)" : "");
        return;
    }
    names_t same = {0};
    for (size_t i = 0; i < rc->n_signals; i++) {
        cfg_signal_t *sg = &rc->signals[i];
        if ((int)sg->family != fam || !sg->name) continue;
        const char *nm = cfg_signal_leaf_name(sg); /* authz leaves name the role */
        if (!strcmp(nm, r->name)) {
            r->signal = sg;
            sg->referenced = true;
        }
        names_add(&same, nm);
    }
    if (!r->signal && !cfg_signal_leaf_is_builtin((cfg_signal_family_t)fam, r->name)) {
        const char *sug = cfg_suggest(r->name, same.v, same.n);
        ld_err(l, &at, "%s signal \"%s\" is not declared in routing.signals.%s%s%s%s", r->type,
               r->name, cfg_signal_family_key((cfg_signal_family_t)fam),
               sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
    }
    free(same.v);
    if (r->label && !cfg_signal_family_has_labels((cfg_signal_family_t)fam))
        ld_err(l, &at, "%s signals have no labels (remove label \"%s\")", r->type, r->label);
}

static bool rule_uses_family(const cfg_rule_t *r, cfg_signal_family_t fam)
{
    for (size_t i = 0; i < r->n_children; i++)
        if (rule_uses_family(&r->children[i], fam)) return true;
    return r->kind == CFG_RULE_LEAF && r->type && cfg_signal_family_by_name(r->type) == (int)fam;
}

static const cfg_node_t *item_node(const cfg_node_t *seq, size_t i)
{
    return seq && seq->kind == CFG_NODE_SEQ && i < seq->n ? seq->items[i] : NULL;
}

static void resolve_recipe(ld_t *l, cfg_recipe_t *rc, const cfg_node_t *routing_node, cfg_t *c)
{
    names_t proj = {0};
    projection_outputs(rc, &proj);
    const cfg_node_t *ds = cfg_node_get(routing_node, "decisions");
    bool any_tier = false;
    for (size_t i = 0; i < rc->n_decisions; i++)
        any_tier |= rc->decisions[i].tier > 0;
    if (!rc->strategy)
        rc->strategy = arena_strdup(l->a, any_tier ? "tiers" : "priority");
    else if (any_tier && strcmp(rc->strategy, "tiers")) {
        size_t s = ld_push_key(l, "strategy");
        ld_warn(l, cfg_node_get(routing_node, "strategy"),
                "strategy %s ignores the tiers set on decisions", rc->strategy);
        ld_pop(l, s);
    }
    size_t s0 = ld_push_key(l, "decisions");
    for (size_t i = 0; i < rc->n_decisions; i++) {
        cfg_decision_t *d = &rc->decisions[i];
        const cfg_node_t *dn = item_node(ds, i);
        size_t s = ld_push_item(l, dn, i);
        resolve_rule(l, &d->rules, rc, &proj);
        const cfg_node_t *mrs = cfg_node_get(dn, "modelRefs");
        for (size_t j = 0; j < d->n_model_refs; j++) {
            const char *m = d->model_refs[j].model;
            if (!m || cfg_find_model(c, m, strlen(m))) continue;
            size_t s2 = ld_push_key(l, "modelRefs");
            ld_push_index(l, j);
            ld_push_key(l, "model");
            cfg_validate_unknown_model(l, c, cfg_node_get(item_node(mrs, j), "model"), "model", m);
            ld_pop(l, s2);
        }
        ld_pop(l, s);
    }
    ld_pop(l, s0);
    /* complexity composers: a rule tree that must also match for the rule's
     * leaves to match (decision/rules.c); compiled and resolved like a
     * decision's rules, before the unreferenced-signal check */
    for (size_t i = 0; i < rc->n_signals; i++) {
        cfg_signal_t *sg = &rc->signals[i];
        if (!sg->composer || cfg_node_is_null(sg->composer)) continue;
        size_t s = ld_push_key(l, "signals.complexity");
        ld_push_name(l, sg->name, ".composer");
        cfg_rule_t *r = arena_calloc(l->a, sizeof *r);
        size_t errs = l->d ? l->d->n_errors : 0;
        cfg_load_rule_tree(l, sg->composer, r);
        resolve_rule(l, r, rc, &proj);
        if (rule_uses_family(r, CFG_SIG_COMPLEXITY))
            ld_err(l, sg->composer, "a composer cannot reference complexity rules");
        else if (!l->d || l->d->n_errors == errs)
            sg->composer_rule = r;
        ld_pop(l, s);
    }
    /* signals: classifier references and unreferenced rules */
    const cfg_model_catalog_t *mc = &c->global_ext->model_catalog;
    const cfg_node_t *sigs = cfg_node_get(routing_node, "signals");
    for (size_t i = 0; i < rc->n_signals; i++) {
        cfg_signal_t *sg = &rc->signals[i];
        cfg_node_t at = {.line = sg->line, .col = sg->col};
        size_t s = ld_push_key(l, "signals");
        ld_push_key(l, cfg_signal_family_key(sg->family));
        ld_push_name(l, sg->name, "");
        const cfg_sig_family_t *sf = cfg_signal_family(sg->family);
        if (sg->classifier && sf && !(sf->flags & CFG_SIGFAM_CLASSIFIER)) {
            size_t s2 = ld_push_key(l, "classifier");
            ld_err(l, &at,
                   "%s rules cannot use an external classifier yet (jailbreak, pii, domains, "
                   "modality, "
                   "fact_check, user_feedbacks and classifiers rules can): remove "
                   "classifier: \"%s\"",
                   cfg_signal_family_key(sg->family), sg->classifier);
            ld_pop(l, s2);
        } else if (sg->classifier) {
            bool found = false;
            for (size_t k = 0; k < mc->n_classifiers; k++)
                if (mc->classifiers[k].name && !strcmp(mc->classifiers[k].name, sg->classifier))
                    found = true;
            if (!found) {
                size_t s2 = ld_push_key(l, "classifier");
                const cfg_node_t *fam = cfg_node_get(sigs, cfg_signal_family_key(sg->family));
                const cfg_node_t *cn = NULL;
                if (fam && fam->kind == CFG_NODE_SEQ)
                    for (size_t k = 0; k < fam->n; k++)
                        if (fam->items[k]->line == sg->line && fam->items[k]->col == sg->col)
                            cn = cfg_node_get(fam->items[k], "classifier");
                ld_err(l, cn ? cn : &at,
                       "classifier \"%s\" is not declared in global.model_catalog.classifiers",
                       sg->classifier);
                ld_pop(l, s2);
            }
        }
        if (!sg->referenced)
            ld_warn(l, &at, "signal \"%s\" is not used by any decision", sg->name ? sg->name : "");
        ld_pop(l, s);
    }
    free(proj.v);
}

void cfg_load_routing_all(ld_t *l, const cfg_node_t *root, cfg_t *c)
{
    cfg_routing_t *r = arena_calloc(l->a, sizeof(*r));
    c->routing = r;
    const cfg_node_t *routing = cfg_node_get(root, "routing");
    const cfg_node_t *recipes = cfg_node_get(root, "recipes");
    size_t nrec = 1 + (recipes && recipes->kind == CFG_NODE_SEQ ? recipes->n : 0);
    r->recipes = arena_calloc(l->a, nrec * sizeof(cfg_recipe_t));
    r->n_recipes = 1;
    r->recipes[0].name = arena_strdup(l->a, "default");
    size_t s = ld_push_key(l, "routing");
    if (routing && !cfg_node_is_null(routing) && ld_expect_map(l, routing))
        cfg_load_cards(l, cfg_node_get(routing, "modelCards"), r);
    load_recipe_routing(l, routing, &r->recipes[0], c, &cfg_schema_routing);
    resolve_recipe(l, &r->recipes[0], routing, c);
    ld_pop(l, s);

    s = ld_push_key(l, "recipes");
    if (recipes && !cfg_node_is_null(recipes) && ld_expect_seq(l, recipes))
        for (size_t i = 0; i < recipes->n; i++) {
            const cfg_node_t *it = recipes->items[i];
            size_t s2 = ld_push_item(l, it, i);
            cfg_recipe_t *rc = &r->recipes[r->n_recipes++];
            ld_section(l, it, &cfg_schema_recipe, rc);
            for (size_t j = 0; j + 1 < r->n_recipes && rc->name; j++)
                if (r->recipes[j].name && !strcmp(r->recipes[j].name, rc->name))
                    ld_err(l, cfg_node_get(it, "name"), "duplicate recipe name \"%s\"", rc->name);
            const cfg_node_t *rr = cfg_node_get(it, "routing");
            size_t s3 = ld_push_key(l, "routing");
            load_recipe_routing(l, rr, rc, c, &cfg_schema_recipe_routing);
            resolve_recipe(l, rc, rr, c);
            ld_pop(l, s3);
            ld_pop(l, s2);
        }
    ld_pop(l, s);

    const cfg_node_t *eps = cfg_node_get(root, "entrypoints");
    s = ld_push_key(l, "entrypoints");
    if (eps && !cfg_node_is_null(eps) && ld_expect_seq(l, eps)) {
        r->entrypoints = arena_calloc(l->a, (eps->n + 1) * sizeof(cfg_entrypoint_t));
        for (size_t i = 0; i < eps->n; i++) {
            const cfg_node_t *it = eps->items[i];
            size_t s2 = ld_push_index(l, i);
            cfg_entrypoint_t *e = &r->entrypoints[r->n_entrypoints++];
            ld_section(l, it, &cfg_schema_entrypoint, e);
            if (e->recipe) {
                e->target = cfg_find_recipe(c, e->recipe);
                if (!e->target) {
                    const char **cands = calloc(r->n_recipes + 1, sizeof(char *));
                    if (!cands) abort();
                    for (size_t k = 0; k < r->n_recipes; k++)
                        cands[k] = r->recipes[k].name;
                    const char *sug = cfg_suggest(e->recipe, cands, r->n_recipes);
                    size_t s3 = ld_push_key(l, "recipe");
                    ld_err(l, cfg_node_get(it, "recipe"), "recipe \"%s\" is not declared%s%s%s",
                           e->recipe, sug ? " (did you mean \"" : "", sug ? sug : "",
                           sug ? "\"?)" : "");
                    ld_pop(l, s3);
                    free(cands);
                }
            }
            const cfg_node_t *mn = cfg_node_get(it, "model_names");
            for (size_t k = 0; k < e->model_names.n; k++) {
                const char *nm = e->model_names.v[k];
                if (!nm) continue;
                const char *clash = cfg_is_auto_name(c, nm, strlen(nm)) ? "an auto model name"
                                    : cfg_find_model(c, nm, strlen(nm)) ? "a model name"
                                                                        : NULL;
                if (clash) {
                    size_t s3 = ld_push_key(l, "model_names");
                    ld_push_index(l, k);
                    ld_err(l, item_node(mn, k), "entrypoint name \"%s\" collides with %s", nm,
                           clash);
                    ld_pop(l, s3);
                }
            }
            ld_pop(l, s2);
        }
    }
    ld_pop(l, s);
}

/* The element of v[0..n) (size bytes each) whose name (a char * at
 * name_off) is name, or NULL. */
static const void *find_named(const void *v, size_t n, size_t size, size_t name_off,
                              const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = (const char *)v + i * size;
        const char *nm = *(const char *const *)(e + name_off);
        if (nm && !strcmp(nm, name)) return e;
    }
    return NULL;
}

const cfg_model_card_t *cfg_find_card(const cfg_t *c, const char *name)
{
    const cfg_routing_t *r = c->routing;
    return r ? find_named(r->cards, r->n_cards, sizeof *r->cards, offsetof(cfg_model_card_t, name),
                          name)
             : NULL;
}

const cfg_recipe_t *cfg_find_recipe(const cfg_t *c, const char *name)
{
    const cfg_routing_t *r = c->routing;
    return r ? find_named(r->recipes, r->n_recipes, sizeof *r->recipes,
                          offsetof(cfg_recipe_t, name), name)
             : NULL;
}

const cfg_recipe_t *cfg_recipe_for_model(const cfg_t *c, const char *name, size_t len)
{
    if (!c->routing) return NULL;
    for (size_t i = 0; i < c->routing->n_entrypoints; i++) {
        const cfg_entrypoint_t *e = &c->routing->entrypoints[i];
        for (size_t k = 0; k < e->model_names.n; k++)
            if (e->model_names.v[k] && strlen(e->model_names.v[k]) == len &&
                !memcmp(e->model_names.v[k], name, len))
                return e->target;
    }
    return NULL;
}
