/* validate.c - cross-reference checks that need the whole config loaded:
 * default_model, reasoning_family, model cards, decision references,
 * entrypoints. Reference errors suggest the nearest declared name. */
#include "config/load.h"
#include "config/routing.h"
#include <stdlib.h>
#include <string.h>

/* Position of a value inside the tree, by a dotted list of keys. */
static const cfg_node_t *node_at(const cfg_node_t *root, const char *const *keys)
{
    const cfg_node_t *n = root;
    for (; *keys && n; keys++)
        n = cfg_node_get(n, *keys);
    return n;
}

static const char *nearest_model(const cfg_t *c, const char *name)
{
    const char **cands = calloc(c->providers.n_models + 1, sizeof(char *));
    if (!cands) abort();
    for (size_t i = 0; i < c->providers.n_models; i++)
        cands[i] = c->providers.models[i].name;
    const char *s = cfg_suggest(name, cands, c->providers.n_models);
    free(cands);
    return s;
}

void cfg_validate_unknown_model(ld_t *l, const cfg_t *c, const cfg_node_t *at, const char *what,
                                const char *name)
{
    const char *sug = nearest_model(c, name);
    if (sug)
        ld_err(l, at, "%s \"%s\" is not a declared model (did you mean \"%s\"?)", what, name, sug);
    else
        ld_err(l, at, "%s \"%s\" is not a declared model", what, name);
}

void cfg_validate_refs(ld_t *l, const cfg_node_t *root, cfg_t *c)
{
    const char *dm = c->providers.default_model;
    if (dm && !cfg_find_model(c, dm, strlen(dm))) {
        static const char *const k[] = {"providers", "defaults", "default_model", NULL};
        size_t s = ld_push_key(l, "providers.defaults.default_model");
        cfg_validate_unknown_model(l, c, node_at(root, k), "default_model", dm);
        ld_pop(l, s);
    }
    const cfg_node_t *ms = node_at(root, (const char *const[]){"providers", "models", NULL});
    for (size_t i = 0; i < c->providers.n_models; i++) {
        const cfg_model_t *m = &c->providers.models[i];
        if (!m->reasoning_family) continue;
        bool found = false;
        const char **cands = calloc(c->providers.n_reasoning_families + 1, sizeof(char *));
        if (!cands) abort();
        for (size_t j = 0; j < c->providers.n_reasoning_families; j++) {
            cands[j] = c->providers.reasoning_families[j].name;
            if (!strcmp(cands[j], m->reasoning_family)) found = true;
        }
        if (!found) {
            const cfg_node_t *mn =
                ms && ms->kind == CFG_NODE_SEQ && i < ms->n ? ms->items[i] : NULL;
            size_t s = ld_push_key(l, "providers.models");
            ld_push_item(l, mn, i);
            ld_push_key(l, "reasoning_family");
            const char *sug =
                cfg_suggest(m->reasoning_family, cands, c->providers.n_reasoning_families);
            ld_err(l, cfg_node_get(mn, "reasoning_family"),
                   "reasoning_family \"%s\" is not declared in "
                   "providers.defaults.reasoning_families%s%s%s",
                   m->reasoning_family, sug ? " (did you mean \"" : "", sug ? sug : "",
                   sug ? "\"?)" : "");
            ld_pop(l, s);
        }
        free(cands);
    }

    /* endpoints: what routes chat must serve chat */
    for (size_t i = 0; i < c->providers.n_models; i++) {
        const cfg_model_t *m = &c->providers.models[i];
        if (!m->name || cfg_model_serves(m, CFG_EP_CHAT)) continue;
        const char *by = NULL;
        if (dm && !strcmp(dm, m->name)) by = "providers.defaults.default_model";
        for (size_t r = 0; !by && c->routing && r < c->routing->n_recipes; r++)
            for (size_t d = 0; !by && d < c->routing->recipes[r].n_decisions; d++) {
                const cfg_decision_t *dc = &c->routing->recipes[r].decisions[d];
                for (size_t j = 0; !by && j < dc->n_model_refs; j++)
                    if (dc->model_refs[j].model && !strcmp(dc->model_refs[j].model, m->name))
                        by = dc->name ? dc->name : "a decision";
            }
        if (!by) continue;
        const cfg_node_t *mn = ms && ms->kind == CFG_NODE_SEQ && i < ms->n ? ms->items[i] : NULL;
        size_t s = ld_push_key(l, "providers.models");
        ld_push_item(l, mn, i);
        ld_push_key(l, "endpoints");
        ld_err(l, cfg_node_get(mn, "endpoints"),
               "model \"%s\" routes chat (%s) but its endpoints do not list chat", m->name, by);
        ld_pop(l, s);
    }

    /* model cards: every provider model needs one; a card without a model warns */
    const cfg_node_t *cards = node_at(root, (const char *const[]){"routing", "modelCards", NULL});
    for (size_t i = 0; i < c->providers.n_models; i++) {
        const cfg_model_t *m = &c->providers.models[i];
        if (!m->name || cfg_find_card(c, m->name)) continue;
        const cfg_node_t *mn = ms && ms->kind == CFG_NODE_SEQ && i < ms->n ? ms->items[i] : NULL;
        size_t s = ld_push_key(l, "providers.models");
        ld_push_item(l, mn, i);
        ld_err(l, cfg_node_get(mn, "name"),
               "model \"%s\" has no model card (add {name: %s} to routing.modelCards)", m->name,
               m->name);
        ld_pop(l, s);
    }
    if (c->routing)
        for (size_t i = 0; i < c->routing->n_cards; i++) {
            const cfg_model_card_t *k = &c->routing->cards[i];
            if (!k->name || cfg_find_model(c, k->name, strlen(k->name))) continue;
            const cfg_node_t *kn =
                cards && cards->kind == CFG_NODE_SEQ && i < cards->n ? cards->items[i] : NULL;
            size_t s = ld_push_key(l, "routing.modelCards");
            ld_push_item(l, kn, i);
            ld_warn(l, cfg_node_get(kn, "name"), "model card \"%s\" has no provider model",
                    k->name);
            ld_pop(l, s);
        }
    /* something must answer when no decision matches */
    if (c->providers.n_models > 0 && !dm && c->routing) {
        const cfg_recipe_t *rc = &c->routing->recipes[0];
        bool catch_all = false;
        for (size_t i = 0; i < rc->n_decisions; i++)
            catch_all |= rc->decisions[i].is_catch_all;
        if (!catch_all) {
            size_t s = ld_push_key(l, "providers.defaults");
            ld_err(
                l, node_at(root, (const char *const[]){"providers", NULL}),
                "no default_model and no catch-all decision: set providers.defaults.default_model");
            ld_pop(l, s);
        }
    }
}
