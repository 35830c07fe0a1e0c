/* response_store_registry.h - the Responses store backends tether is built
 * with, one line each: the choices of global.stores.responses.backend, in
 * this order in the reference.
 *
 * RSTORE_BACKENDS(X) calls X(name) per backend; backend `name` is the
 * cfg_store_backend_t `rstore_<name>_store` (config/family.h) that its file
 * defines next to its rstore_backend_ops_t (response_store.h). Adding a
 * backend is that one file and one line here (docs/extending.md).
 * response_store_registry.c turns the list into the array the config and
 * the server (responses.c) read; a test binary may build its own array from
 * the same list plus a test-only backend. */
#ifndef TETHER_API_RESPONSE_STORE_REGISTRY_H
#define TETHER_API_RESPONSE_STORE_REGISTRY_H
#include "config/family.h"

#define RSTORE_BACKENDS(X)                                                                         \
    X(memory)                                                                                      \
    X(redis)

#define RSTORE_BACKEND_DECLARE(name) extern const cfg_store_backend_t rstore_##name##_store;
#define RSTORE_BACKEND_ENTRY(name)   &rstore_##name##_store,
RSTORE_BACKENDS(RSTORE_BACKEND_DECLARE)
#endif
