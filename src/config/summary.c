/* summary.c - the one-line count summary printed by `tether validate`. */
#include "config/family.h"

void cfg_summary(const cfg_t *c, buf_t *out)
{
    buf_printf(out, "%zu listener%s, %zu model%s", c->n_listeners, c->n_listeners == 1 ? "" : "s",
               c->providers.n_models, c->providers.n_models == 1 ? "" : "s");
    if (!c->routing) return;
    const cfg_routing_t *r = c->routing;
    size_t per[CFG_SIG_MAX] = {0}, nsig = 0, ndec = 0, nplug = 0;
    for (size_t i = 0; i < r->n_recipes; i++) {
        const cfg_recipe_t *rc = &r->recipes[i];
        for (size_t f = 0; f < cfg_signal_family_count(); f++)
            per[f] += rc->n_per_family[f];
        nsig += rc->n_signals;
        ndec += rc->n_decisions;
        for (size_t j = 0; j < rc->n_decisions; j++)
            nplug += rc->decisions[j].n_plugins;
    }
    buf_printf(out, ", %zu model card%s, %zu signal%s", r->n_cards, r->n_cards == 1 ? "" : "s",
               nsig, nsig == 1 ? "" : "s");
    if (nsig) {
        buf_puts(out, " (");
        bool first = true;
        for (size_t f = 0; f < cfg_signal_family_count(); f++)
            if (per[f]) {
                buf_printf(out, "%s%s %zu", first ? "" : ", ",
                           cfg_signal_family_name((cfg_signal_family_t)f), per[f]);
                first = false;
            }
        buf_putc(out, ')');
    }
    buf_printf(out, ", %zu decision%s, %zu plugin%s", ndec, ndec == 1 ? "" : "s", nplug,
               nplug == 1 ? "" : "s");
    if (r->n_recipes > 1) buf_printf(out, ", %zu recipes", r->n_recipes - 1);
}
