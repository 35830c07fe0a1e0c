/* registry.c - the array of plugins (config/family.h's cfg_plg_registry)
 * built from the list in registry.h. It defines nothing else, so that a
 * test binary can link its own array instead. */
#include "plugins/registry.h"

const cfg_plugin_kind_t *const cfg_plg_registry[] = {PLG_PLUGINS(PLG_PLUGIN_ENTRY) NULL};
