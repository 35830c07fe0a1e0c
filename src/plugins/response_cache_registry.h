/* response_cache_registry.h - the response cache's store backends tether is
 * built with, one line each: the choices of
 * global.stores.response_cache.backend, in this order in the reference.
 *
 * RC_BACKENDS(X) calls X(name) per backend; backend `name` is the
 * cfg_store_backend_t `rc_<name>_store` (config/family.h) that its file
 * defines next to its rc_backend_ops_t (response_cache.h). Adding a backend
 * is that one file and one line here (docs/extending.md).
 * response_cache_registry.c turns the list into the array the config and
 * rc_cache_new read; a test binary may build its own array from the same
 * list plus a test-only backend. */
#ifndef TETHER_PLUGINS_RESPONSE_CACHE_REGISTRY_H
#define TETHER_PLUGINS_RESPONSE_CACHE_REGISTRY_H
#include "config/family.h"

#define RC_BACKENDS(X)                                                                             \
    X(memory)                                                                                      \
    X(redis)

#define RC_BACKEND_DECLARE(name) extern const cfg_store_backend_t rc_##name##_store;
#define RC_BACKEND_ENTRY(name)   &rc_##name##_store,
RC_BACKENDS(RC_BACKEND_DECLARE)
#endif
