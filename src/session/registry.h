/* registry.h - the session store backends tether is built with, one line
 * each: the choices of global.stores.session.backend, in this order in the
 * reference.
 *
 * SESS_STORES(X) calls X(name) per backend; backend `name` is the
 * cfg_store_backend_t `sess_<name>_store` (config/family.h) that its file
 * defines next to its sess_backend_ops_t (store.h). Adding a backend is that
 * one file and one line here (docs/extending.md). registry.c turns the list
 * into the array the config and the workers (api/app.c) read; a test binary
 * may build its own array from the same list plus a test-only backend. */
#ifndef TETHER_SESSION_REGISTRY_H
#define TETHER_SESSION_REGISTRY_H
#include "config/family.h"

#define SESS_STORES(X)                                                                             \
    X(memory)                                                                                      \
    X(redis)

#define SESS_STORE_DECLARE(name) extern const cfg_store_backend_t sess_##name##_store;
#define SESS_STORE_ENTRY(name)   &sess_##name##_store,
SESS_STORES(SESS_STORE_DECLARE)
#endif
