/* signals.c - routing.modelCards, and routing.signals loaded family by
 * family from the registry (family.h): each family's own table gives the
 * unknown-key checks, defaults and docs of its rules. */
#include "config/family.h"
#include "config/load.h"
#include <stddef.h>
#include <string.h>

#define M cfg_model_card_t
CFG_SCHEMA(cfg_schema_model_card, "routing.modelCards[]", "What the router knows about each model.",
           CFG_FSTR_REQ(M, "name", name, "a providers.models[] name"),
           CFG_FSTR(M, "description", description, NULL,
                    "what the model is good at (router_dc embeds it)"),
           CFG_FLIST(M, "capabilities", capabilities, NULL, "capability words"),
           CFG_FUNIT(M, "quality_score", quality_score, "0.5", "quality in [0, 1]"),
           CFG_FTOK(M, "context_window_size", context_window_size, "context window in tokens"),
           CFG_FSTR(M, "param_size", param_size, NULL, "parameter count, e.g. 8B"),
           CFG_FSTR(M, "modality", modality, NULL, "text|image|..."),
           CFG_FLIST(M, "tags", tags, NULL, "free tags"),
           CFG_FLIST(M, "loras", loras, NULL, "LoRA adapter names"));
#undef M

void cfg_load_cards(ld_t *l, const cfg_node_t *n, cfg_routing_t *r)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "modelCards");
    if (ld_expect_seq(l, n)) {
        r->cards = arena_calloc(l->a, (n->n + 1) * sizeof(cfg_model_card_t));
        for (size_t i = 0; i < n->n; i++) {
            size_t s = ld_push_item(l, n->items[i], i);
            cfg_model_card_t *c = &r->cards[r->n_cards++];
            ld_section(l, n->items[i], &cfg_schema_model_card, c);
            for (size_t j = 0; j + 1 < r->n_cards && c->name; j++)
                if (r->cards[j].name && !strcmp(r->cards[j].name, c->name))
                    ld_err(l, cfg_node_get(n->items[i], "name"), "duplicate model card \"%s\"",
                           c->name);
            ld_pop(l, s);
        }
    }
    ld_pop(l, s0);
}

void cfg_load_signals(ld_t *l, const cfg_node_t *n, cfg_recipe_t *rc)
{
    size_t s0;
    if (!ld_open_map(l, n, "signals", &cfg_schema_signals, &s0)) return;
    size_t total = 0;
    for (size_t i = 0; i < n->n; i++)
        if (n->items[i]->kind == CFG_NODE_SEQ) total += n->items[i]->n;
    rc->signals = arena_calloc(l->a, (total + 1) * sizeof(cfg_signal_t));
    for (size_t f = 0; f < cfg_signal_family_count(); f++) {
        const cfg_sig_family_t *fam = cfg_signal_family((cfg_signal_family_t)f);
        const cfg_node_t *list = cfg_node_get(n, fam->key);
        if (!list || cfg_node_is_null(list)) continue;
        size_t s1 = ld_push_key(l, fam->key);
        if (ld_expect_seq(l, list)) {
            size_t first = rc->n_signals;
            for (size_t i = 0; i < list->n; i++) {
                const cfg_node_t *it = list->items[i];
                size_t s = ld_push_item(l, it, i);
                cfg_signal_t *sg = &rc->signals[rc->n_signals++];
                sg->family = (cfg_signal_family_t)f;
                sg->line = it->line;
                sg->col = it->col;
                if (fam->opts_size) sg->opts = arena_calloc(l->a, fam->opts_size);
                ld_section_opts(l, it, cfg_signal_schema(sg->family), sg, sg->opts);
                const char *why = fam->check && it->kind == CFG_NODE_MAP ? fam->check(sg) : NULL;
                if (why) ld_err(l, it, "%s", why);
                for (size_t j = first; j + 1 < rc->n_signals && sg->name; j++)
                    if (rc->signals[j].name && !strcmp(rc->signals[j].name, sg->name))
                        ld_err(l, cfg_node_get(it, "name"), "duplicate %s signal \"%s\"", fam->name,
                               sg->name);
                rc->n_per_family[f]++;
                ld_pop(l, s);
            }
        }
        ld_pop(l, s1);
    }
    ld_pop(l, s0);
}
