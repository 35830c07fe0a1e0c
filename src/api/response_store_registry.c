/* response_store_registry.c - the array of Responses store backends
 * (config/family.h's cfg_rstore_registry) built from the list in
 * response_store_registry.h. It defines nothing else, so that a test binary
 * can link its own array instead. */
#include "api/response_store_registry.h"

const cfg_store_backend_t *const cfg_rstore_registry[] = {RSTORE_BACKENDS(RSTORE_BACKEND_ENTRY)
                                                              NULL};
