/* registry.c - the array of session store backends (config/family.h's
 * cfg_sess_store_registry) built from the list in registry.h. It defines
 * nothing else, so that a test binary can link its own array instead. */
#include "session/registry.h"

const cfg_store_backend_t *const cfg_sess_store_registry[] = {SESS_STORES(SESS_STORE_ENTRY) NULL};
