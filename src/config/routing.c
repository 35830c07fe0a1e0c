/* routing.c - the `routing` section, `entrypoints` and `recipes` (typed in
 * routing.h). */
#include "config/load.h"

void cfg_load_routing_all(ld_t *l, const cfg_node_t *root, cfg_t *c)
{
    (void)l;
    (void)root;
    (void)c;
}
