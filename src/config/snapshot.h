/* snapshot.h - the live configuration: an immutable cfg_t behind one atomic
 * pointer with a reference count. A request acquires the current snapshot
 * once and releases it when done, so a reload never changes a request's
 * config under it; the old cfg_t is freed when its last holder releases.
 *
 * Thread-safety: every function is safe to call from any thread. */
#ifndef TETHER_CONFIG_SNAPSHOT_H
#define TETHER_CONFIG_SNAPSHOT_H
#include "config/config.h"

typedef struct cfg_snapshot cfg_snapshot_t; /* opaque; one per process */

/* Takes ownership of initial (must be non-NULL); its generation becomes 1. */
cfg_snapshot_t *cfg_snapshot_new(cfg_t *initial);
/* Frees the holder; the current cfg_t is freed once no reference remains.
 * Callers must have released every acquired reference first. */
void cfg_snapshot_free(cfg_snapshot_t *s);
/* The current config with one reference held: never NULL. Lock-free apart
 * from a short spin when it races a swap. */
const cfg_t *cfg_snapshot_acquire(cfg_snapshot_t *s);
void cfg_snapshot_release(cfg_snapshot_t *s, const cfg_t *c);
/* Install next (ownership taken); sets next->generation and returns it. The
 * previous config lives on until its holders release it. */
uint64_t cfg_snapshot_swap(cfg_snapshot_t *s, cfg_t *next);
uint64_t cfg_snapshot_generation(cfg_snapshot_t *s);
#endif
