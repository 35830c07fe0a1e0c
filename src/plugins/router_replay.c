/* router_replay.c - the router_replay plugin type: accepted so that
 * decisions written for the original router load unchanged (`tether config
 * migrate` keeps it). It has no per-decision effect in tether: replay
 * records are configured once, in global.services.router_replay
 * (docs/replay.md). */
#include "config/family.h"

const cfg_plugin_kind_t plg_router_replay_plugin = {.name = "router_replay"};
