/* registry.h - the replay store backends tether is built with, one line
 * each: the choices of global.services.router_replay.store, in this order
 * in the reference.
 *
 * REPLAY_STORES(X) calls X(name) per backend; backend `name` is the
 * cfg_store_backend_t `replay_<name>_store` (config/family.h) that its file,
 * replay/store_<name>.c, defines next to its replay_store_ops_t. Adding a
 * backend is that one file and one line here (docs/extending.md).
 * registry.c turns the list into the array the config and
 * replay_store_open read; a test binary may build its own array from the
 * same list plus a test-only backend. */
#ifndef TETHER_REPLAY_REGISTRY_H
#define TETHER_REPLAY_REGISTRY_H
#include "config/family.h"

#define REPLAY_STORES(X)                                                                           \
    X(sqlite)                                                                                      \
    X(jsonl)                                                                                       \
    X(memory)                                                                                      \
    X(redis)                                                                                       \
    X(postgres)

#define REPLAY_STORE_DECLARE(name) extern const cfg_store_backend_t replay_##name##_store;
#define REPLAY_STORE_ENTRY(name)   &replay_##name##_store,
REPLAY_STORES(REPLAY_STORE_DECLARE)
#endif
