/* reload.h - hot reload of config.yaml for `tether serve` (SPEC 11).
 *
 * A watcher thread follows the file through an inotify watch on its
 * directory (so editors' rename-over and Kubernetes ConfigMap `..data`
 * symlink swaps are seen) and through cfg_reload_trigger (call it from the
 * SIGHUP handler: it is async-signal-safe). Events are debounced (250 ms);
 * an unchanged file (same bytes) is not reloaded. A new config is fully
 * loaded and validated first: when it has errors the old one keeps serving,
 * the diagnostics are logged (tlog, event config_reload_rejected) and
 * counted; when valid it is swapped into the snapshot. Changes that need a
 * restart (listeners, management listener, store backends) are logged
 * (config_reload_restart_required) and counted; the rest applies.
 *
 * Usage in serve:
 *   cfg_snapshot_t *snap = cfg_snapshot_new(cfg);
 *   cfg_reload_t *rl = cfg_reload_new(path, snap, &opts);
 *   cfg_reload_start(rl);          // watcher thread
 *   ... SIGHUP handler: cfg_reload_trigger(rl);
 *   ... per request: c = cfg_snapshot_acquire(snap); ...; cfg_snapshot_release(snap, c);
 *   shutdown: cfg_reload_free(rl); cfg_snapshot_free(snap);
 * Thread-safety: all functions may be called from any thread; new/free once. */
#ifndef TETHER_CONFIG_RELOAD_H
#define TETHER_CONFIG_RELOAD_H
#include "config/snapshot.h"

typedef struct cfg_reload cfg_reload_t;

typedef struct cfg_reload_stats {
    uint64_t applied;          /* successful swaps */
    uint64_t rejected;         /* configs refused because of errors */
    uint64_t unchanged;        /* triggers that found the same bytes */
    uint64_t restart_required; /* applied reloads that changed restart-only settings */
    uint64_t generation;       /* current snapshot generation */
} cfg_reload_stats_t;

typedef enum {
    CFG_RELOAD_APPLIED = 0,
    CFG_RELOAD_REJECTED,
    CFG_RELOAD_UNCHANGED
} cfg_reload_result_t;

cfg_reload_t *cfg_reload_new(const char *path, cfg_snapshot_t *snap, const cfg_load_opts_t *opts);

/* Optional hooks around a swap, for runtime state that lives beside a config
 * (compiled signal engines, ...). prepare runs on the loaded, validated next
 * config before it is published; returning -1 rejects the reload (with
 * diagnostics in d). install runs right after the swap with what prepare
 * produced. Both run on the reloading thread, serialised. */
typedef struct cfg_reload_hooks {
    int (*prepare)(const cfg_t *next, cfg_diags_t *d, void **runtime, void *ud);
    void (*install)(void *runtime, void *ud);
    void *ud;
} cfg_reload_hooks_t;
/* Set before cfg_reload_start. */
void cfg_reload_set_hooks(cfg_reload_t *r, const cfg_reload_hooks_t *h);
/* Start the watcher thread. 0 on success, -1 (errno set) on failure. */
int cfg_reload_start(cfg_reload_t *r);
/* Ask the watcher to reload now (debounced). Async-signal-safe. */
void cfg_reload_trigger(cfg_reload_t *r);
/* Reload synchronously in the caller's thread (POST /config/reload). diags,
 * when non-NULL, receives the diagnostics (caller frees). force reloads
 * even when the bytes are unchanged. */
cfg_reload_result_t cfg_reload_now(cfg_reload_t *r, bool force, cfg_diags_t *diags);
void cfg_reload_get_stats(cfg_reload_t *r, cfg_reload_stats_t *out);
/* The watched file's path (owned by r). */
const char *cfg_reload_path(const cfg_reload_t *r);
/* Stops and joins the thread; does not free the snapshot. */
void cfg_reload_free(cfg_reload_t *r);

/* Human-readable list of restart-only differences between a and b (empty
 * when none), appended to out. Returns the number of differences. */
size_t cfg_restart_changes(const cfg_t *a, const cfg_t *b, buf_t *out);
#endif
