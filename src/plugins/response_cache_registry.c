/* response_cache_registry.c - the array of response cache backends
 * (config/family.h's cfg_rc_store_registry) built from the list in
 * response_cache_registry.h. It defines nothing else, so that a test binary
 * can link its own array instead. */
#include "plugins/response_cache_registry.h"

const cfg_store_backend_t *const cfg_rc_store_registry[] = {RC_BACKENDS(RC_BACKEND_ENTRY) NULL};
