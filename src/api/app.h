/* app.h - the router application behind the HTTP server: the active config,
 * per-worker state (upstream pools, backend pickers), and the request
 * dispatcher. One tether_app_t per process; one app_worker_t per worker.
 * The config pointer is read on each request through app_config_acquire and
 * released when the request ends, so a reload can swap it safely. */
#ifndef TETHER_API_APP_H
#define TETHER_API_APP_H
#include "config/config.h"
#include "config/reload.h"
#include "config/snapshot.h"
#include "http/server.h"
#include "http/upstream.h"
#include "http/wrr.h"
#include "session/store.h"
#include <pthread.h>
#include <stdatomic.h>

typedef struct tether_app tether_app_t;

typedef struct app_model_state {
    wrr_t wrr; /* backend_refs picker */
} app_model_state_t;

typedef struct app_worker {
    int index;
    tether_app_t *app;
    struct event_base *base;
    hup_pools_t *pools;
    uint64_t generation;       /* config generation the model states match */
    app_model_state_t *models; /* one per config model */
    size_t n_models;
    struct sess_store *store;   /* redis session store on this worker's loop, or NULL */
    void *mem_trim;             /* worker 0: the malloc_trim ticker (mem_trim.c) */
    struct sig_cls_client *cls; /* external classifiers on this loop (signals/classify.h) */
} app_worker_t;

/* mem_trim.c: note a request body (large ones ask for a trim), and the
 * ticker that returns freed memory to the system (one per process). */
void api_mem_note_body(size_t body_len);
void *api_mem_trim_start(struct event_base *base);
void api_mem_trim_stop(void *state);

/* Runtime state built beside one config generation (compiled engines...). */
typedef struct app_runtime app_runtime_t;
struct route_env;
struct app_config_ref;
/* Fill the pipeline's services for a request on this generation. */
void app_route_env(const struct app_config_ref *ref, struct route_env *env);

/* One config generation as requests see it: the config (one snapshot
 * reference held) plus the runtime state built for it. */
typedef struct app_config_ref {
    const cfg_t *cfg;
    app_runtime_t *rt;
    struct tether_app *app;
    atomic_long refs;
} app_config_ref_t;

struct sess_store;
struct sel_state;
struct replay_store;
struct replay_queue;
struct rc_cache;
struct tel_tracer;

struct tether_app {
    cfg_snapshot_t *snap;
    struct sess_store *store;          /* session memory (process-wide) */
    struct sel_state *sel;             /* selection runtime state (process-wide) */
    struct replay_store *replay_store; /* router_replay store (restart to change) */
    struct replay_queue *replay;       /* its bounded writer queue, NULL when disabled */
    struct rc_cache *rcache;           /* response cache (process-wide) */
    struct lim *limits; /* rate limit and budget counters (process-wide; the store: restart) */
    struct tel_tracer *tracer;    /* OpenTelemetry exporter, NULL when off (restart to change) */
    struct app_config_ref *first; /* the first generation, kept for the cache's embedder */
    cfg_reload_t *reload;
    _Atomic(app_config_ref_t *) current;
    pthread_mutex_t swap_lock;
    hsrv_server_t *server;
    atomic_long requests_total;
    int ready;
    bool access_log;                      /* global.services.logging.access_log, read at start */
    struct sess_store *worker_stores[64]; /* redis stores, one per worker (metrics) */
    atomic_int n_worker_stores;
    sess_writeback_token_t writeback; /* one worker writes outage records back */
    char *learned_file; /* global.router.session.learned_state_file at start, or NULL */
    /* outcome estimates shared through the session store's Redis (shared sessions), or NULL */
    struct sess_learned_redis *learned_redis;
};

/* Takes ownership of cfg. Returns NULL (diags filled) when the runtime
 * state for cfg cannot be built. */
tether_app_t *app_new(cfg_t *cfg, cfg_diags_t *diags);
void app_free(tether_app_t *app);
/* Watch path for changes (inotify + app_reload_trigger) and apply valid
 * configs atomically. 0 on success. */
int app_reload_start(tether_app_t *app, const char *path);
/* Async-signal-safe (SIGHUP). */
void app_reload_trigger(tether_app_t *app);
app_config_ref_t *app_config_acquire(tether_app_t *app);
void app_config_release(app_config_ref_t *ref);

/* HTTP server hooks */
void app_handle(hsrv_req_t *req, void *ud);
void app_on_server_error(hsrv_req_t *req, int status, const char *code, const char *message,
                         void *ud);
/* A request ended: its access-log line (access_log.h). */
void app_on_done(hsrv_req_t *req, int status, void *ud);
void *app_worker_start(int index, struct event_base *base, void *ud);
void app_worker_stop(int index, void *worker_ctx, void *ud);
/* Refresh the worker's per-model state if the config generation changed. */
void app_worker_sync(app_worker_t *w, const cfg_t *cfg, uint64_t generation);
/* The worker's services for the upstream proxy (upstream/proxy.h): pools,
 * backend pickers, the response cache and replay queue, and the release of
 * an app_config_ref_t. */
struct up_host;
void app_upstream_host(app_worker_t *w, struct up_host *h);

/* Endpoints */
void api_chat_completions(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref);
void api_models_list(hsrv_req_t *req, const cfg_t *cfg);
#endif
