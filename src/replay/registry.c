/* registry.c - the array of replay store backends (config/family.h's
 * cfg_replay_store_registry) built from the list in registry.h. It defines
 * nothing else, so that a test binary can link its own array instead. */
#include "replay/registry.h"

const cfg_store_backend_t *const cfg_replay_store_registry[] = {REPLAY_STORES(REPLAY_STORE_ENTRY)
                                                                    NULL};
