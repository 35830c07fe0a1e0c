/* summary.c - the one-line count summary printed by `tether validate`. */
#include "config/config.h"

void cfg_summary(const cfg_t *c, buf_t *out)
{
    buf_printf(out, "%zu listener%s, %zu model%s", c->n_listeners, c->n_listeners == 1 ? "" : "s",
               c->providers.n_models, c->providers.n_models == 1 ? "" : "s");
}
