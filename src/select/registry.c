/* registry.c - the array of selection algorithms (config/family.h's
 * cfg_sel_registry) built from the list in registry.h. It defines nothing
 * else, so that a test binary can link its own array instead. */
#include "select/registry.h"

const cfg_selector_t *const cfg_sel_registry[] = {SEL_ALGORITHMS(SEL_ALGO_ENTRY) NULL};
