/* registry.h - the plugins tether is built with, one line each, in the
 * order they run (plugins.c: the PLG_PRE ones before selection, the
 * PLG_POST ones after it); the types users may write are listed in this
 * order in the reference.
 *
 * PLG_PLUGINS(X) calls X(name) per plugin; plugin `name` is the
 * cfg_plugin_kind_t `plg_<name>_plugin` (config/family.h) that its file
 * defines next to its plg_ops_t. Adding a plugin is that one file and one
 * line here. registry.c turns the list into the array the config and the
 * pipeline read; a test binary may build its own array from the same list
 * plus a test-only member. */
#ifndef TETHER_PLUGINS_REGISTRY_H
#define TETHER_PLUGINS_REGISTRY_H
#include "config/family.h"

#define PLG_PLUGINS(X)                                                                             \
    X(system_prompt)                                                                               \
    X(reasoning)                                                                                   \
    X(header_mutation)                                                                             \
    X(retention)                                                                                   \
    X(fast_response)                                                                               \
    X(request_params)                                                                              \
    X(response_cache)                                                                              \
    X(router_replay)

#define PLG_PLUGIN_DECLARE(name) extern const cfg_plugin_kind_t plg_##name##_plugin;
#define PLG_PLUGIN_ENTRY(name)   &plg_##name##_plugin,
PLG_PLUGINS(PLG_PLUGIN_DECLARE)
#endif
