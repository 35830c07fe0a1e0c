/* app.c - the router application: config reference counting and swap,
 * per-worker state, and the path dispatcher for the inference listener.
 * Neighbours: chat.c (POST /v1/chat/completions), passthrough.c (embeddings,
 * completions), models.c, errors.c, access_log.c (the line app_on_done writes). */
#include "route/fetch.h"
#include "api/app.h"
#include "upstream/proxy.h"
#include "api/agent.h"
#include "api/access_log.h"
#include "api/client_auth.h"
#include "api/errors.h"
#include "api/passthrough.h"
#include "config/family.h"
#include "core/log.h"
#include "core/clock.h"
#include "limits/limits.h"
#include "plugins/response_cache.h"
#include "replay/queue.h"
#include "replay/store.h"
#include "route/pipeline.h"
#include "session/learned_file.h"
#include "session/learned_redis.h"
#include "telemetry/tracer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app_runtime {
    sig_engine_t *sig;             /* compiled signals of this generation */
    sel_embedder_t embedder;       /* router_dc through the engine's embedder */
    sel_embedder_t cache_embedder; /* the semantic cache's: never blocks (route/pipeline.h) */
    bool has_embedder;
};

static app_runtime_t *runtime_new(const cfg_t *cfg, cfg_diags_t *d)
{
    app_runtime_t *rt = calloc(1, sizeof *rt);
    rt->sig = sig_engine_new(cfg, d);
    if (!rt->sig) {
        free(rt);
        return NULL;
    }
    rt->has_embedder = route_embedder_of(rt->sig, &rt->embedder);
    route_embedder_nonblocking_of(rt->sig, &rt->cache_embedder);
    return rt;
}

static void runtime_free(app_runtime_t *rt)
{
    if (!rt) return;
    sig_engine_free(rt->sig);
    free(rt);
}

void app_route_env(const app_config_ref_t *ref, route_env_t *env)
{
    memset(env, 0, sizeof *env);
    env->sig = ref->rt ? ref->rt->sig : NULL;
    env->embedder = ref->rt && ref->rt->has_embedder ? &ref->rt->embedder : NULL;
    env->sel = ref->app->sel;
    env->store = ref->app->store;
}

/* Publish rt for the snapshot's current config. */
static void install_current(tether_app_t *app, app_runtime_t *rt)
{
    app_config_ref_t *ref = calloc(1, sizeof *ref);
    ref->app = app;
    ref->cfg = cfg_snapshot_acquire(app->snap); /* held until the ref dies */
    ref->rt = rt;
    atomic_init(&ref->refs, 1); /* the app's own reference */
    pthread_mutex_lock(&app->swap_lock);
    app_config_ref_t *old = atomic_exchange(&app->current, ref);
    pthread_mutex_unlock(&app->swap_lock);
    if (old) app_config_release(old);
}

static int hook_prepare(const cfg_t *next, cfg_diags_t *d, void **runtime, void *ud)
{
    app_runtime_t *rt = runtime_new(next, d);
    *runtime = rt;
    return rt ? 0 : -1;
}

static void hook_install(void *runtime, void *ud)
{
    install_current(ud, runtime);
}

tether_app_t *app_new(cfg_t *cfg, cfg_diags_t *diags)
{
    app_runtime_t *rt = runtime_new(cfg, diags);
    if (!rt) {
        cfg_free(cfg);
        return NULL;
    }
    tether_app_t *app = calloc(1, sizeof *app);
    pthread_mutex_init(&app->swap_lock, NULL);
    app->sel = sel_state_new();
    {
        const cfg_session_t *k = cfg->global_ext ? &cfg->global_ext->session : NULL;
        sess_memory_opts_t mo = {0};
        if (k) {
            mo.ttl_ms = k->ttl_seconds > 0 ? (uint64_t)k->ttl_seconds * 1000 : 0;
            mo.max_sessions = k->max_sessions > 0 ? (uint64_t)k->max_sessions : 0;
        }
        app->store = sess_store_memory_new(&mo);
        /* learned priors, outcome estimates and elo ratings survive a restart in a file */
        if (k && k->learned_state_file && *k->learned_state_file) {
            app->learned_file = strdup(k->learned_state_file);
            char err[300] = "";
            size_t skipped = 0;
            if (sess_learned_load(app->learned_file, sess_priors_shared(), sess_outcomes_shared(),
                                  app->sel, &skipped, err, sizeof err) != 0)
                tlog(TLOG_ERROR, "learned_state_unreadable", "\"error\":\"%s\"", err);
            else if (skipped)
                tlog(TLOG_WARN, "learned_state_lines_skipped", "\"lines\":%zu", skipped);
        }
        /* shared sessions: every replica learns from the same outcomes, kept in the session
         * store's Redis (restored from it on start, read back every second) */
        const cfg_global_ext_t *gx = cfg->global_ext;
        const cfg_store_backend_t *be =
            gx ? cfg_store_backend_find(CFG_STORE_SESSION, gx->stores.session.backend) : NULL;
        if (be && (be->flags & CFG_STORE_SHARED) && gx->stores.session.redis.address) {
            char err[300] = "";
            app->learned_redis = sess_learned_redis_start(
                &gx->stores.session.redis, gx->stores.session.redis.key_prefix,
                sess_outcomes_shared(), sess_priors_shared(), app->sel, 1000, err, sizeof err);
            if (!app->learned_redis)
                tlog(TLOG_ERROR, "learned_state_redis_unavailable", "\"error\":\"%s\"", err);
            sess_learned_redis_set_shared(app->learned_redis);
        }
    }
    {
        replay_config_t rc;
        replay_config_from_cfg(cfg, &rc);
        if (rc.enabled) {
            buf_t err = BUF_INIT;
            app->replay_store = replay_store_open(&rc, &err);
            if (app->replay_store)
                app->replay = replay_queue_new(app->replay_store, &rc);
            else
                tlog(TLOG_ERROR, "replay_store_unavailable", "\"error\":\"%s\"",
                     err.data ? err.data : "");
            buf_free(&err);
        }
    }
    {
        char err[256] = "";
        app->limits = lim_new(cfg, err, sizeof err);
        if (!app->limits) {
            /* the address was checked at load: only a malformed one gets here */
            tlog(TLOG_ERROR, "limits_store_unavailable", "\"error\":\"%s\"", err);
            app->limits = lim_new(NULL, err, sizeof err); /* local counters */
        }
    }
    {
        tel_config_t tc;
        tel_config_from_cfg(cfg, &tc);
        app->tracer = tel_tracer_new(&tc);
    }
    app->access_log = cfg->logging.access_log;
    app->snap = cfg_snapshot_new(cfg);
    install_current(app, rt);
    /* the response cache's semantic lookups embed with the first generation's
     * embedder, kept alive for the process (restart to change embedders) */
    app->rcache = rc_cache_new(cfg);
    app->first = app_config_acquire(app);
    if (app->first->rt && app->first->rt->has_embedder)
        rc_cache_set_embedder(app->rcache, &app->first->rt->cache_embedder);
    app->ready = 1;
    return app;
}

int app_reload_start(tether_app_t *app, const char *path)
{
    cfg_load_opts_t o = {0};
    app->reload = cfg_reload_new(path, app->snap, &o);
    if (!app->reload) return -1;
    cfg_reload_hooks_t h = {hook_prepare, hook_install, app};
    cfg_reload_set_hooks(app->reload, &h);
    return cfg_reload_start(app->reload);
}

void app_reload_trigger(tether_app_t *app)
{
    if (app->reload) cfg_reload_trigger(app->reload);
}

void app_config_release(app_config_ref_t *ref)
{
    if (ref && atomic_fetch_sub(&ref->refs, 1) == 1) {
        runtime_free(ref->rt);
        cfg_snapshot_release(ref->app->snap, ref->cfg);
        free(ref);
    }
}

app_config_ref_t *app_config_acquire(tether_app_t *app)
{
    /* The swap lock makes load+increment atomic with respect to a swap, so a
     * reference is never taken on a generation whose last reference is gone.
     * It is held for a few instructions only. */
    pthread_mutex_lock(&app->swap_lock);
    app_config_ref_t *ref = atomic_load(&app->current);
    atomic_fetch_add(&ref->refs, 1);
    pthread_mutex_unlock(&app->swap_lock);
    return ref;
}

void app_free(tether_app_t *app)
{
    if (!app) return;
    if (app->reload) cfg_reload_free(app->reload);
    app_config_release(atomic_exchange(&app->current, NULL));
    rc_cache_free(app->rcache);
    lim_free(app->limits);
    app_config_release(app->first);
    cfg_snapshot_free(app->snap);
    sess_store_free(app->store);
    sess_learned_redis_set_shared(NULL);
    sess_learned_redis_stop(app->learned_redis);
    if (app->learned_file) {
        char err[300] = "";
        if (sess_learned_save(app->learned_file, sess_priors_shared(), sess_outcomes_shared(),
                              app->sel, err, sizeof err) != 0)
            tlog(TLOG_ERROR, "learned_state_unwritable", "\"error\":\"%s\"", err);
        free(app->learned_file);
    }
    sel_state_free(app->sel); /* after the learned state, which reads its elo ratings */
    if (app->replay) {
        replay_stats_t fin;
        replay_queue_free(app->replay, 5000, &fin); /* flush for up to 5 s */
    }
    if (app->replay_store) replay_store_close(app->replay_store);
    tel_tracer_free(app->tracer, 2000); /* export what is queued for up to 2 s */
    pthread_mutex_destroy(&app->swap_lock);
    free(app);
}

void *app_worker_start(int index, struct event_base *base, void *ud)
{
    tether_app_t *app = ud;
    app_worker_t *w = calloc(1, sizeof *w);
    w->index = index;
    w->app = app;
    w->base = base;
    w->pools = hup_pools_new(base, true);
    w->cls = fetch_cls_client_new(base, w->pools);
    app_config_ref_t *r0 = app_config_acquire(app);
    const cfg_global_ext_t *gx = r0->cfg->global_ext;
    const cfg_store_backend_t *be =
        gx ? cfg_store_backend_find(CFG_STORE_SESSION, gx->stores.session.backend) : NULL;
    if (be && be->ops.session && be->ops.session->open_worker) {
        char err[256] = "";
        w->store = be->ops.session->open_worker(base, r0->cfg, app->store, &app->writeback, err,
                                                sizeof err);
        if (index == 0 && (be->flags & CFG_STORE_SHARED) && !gx->stores.session.binding_key)
            tlog(TLOG_WARN, "session_binding_key_unset",
                 "\"detail\":\"global.stores.session.binding_key_env is not set: response ids "
                 "are signed with a per-process key that other replicas cannot verify, so during a "
                 "Redis outage they route continuations from session memory only\"");
        if (!w->store)
            tlog(TLOG_ERROR, "session_store_unavailable", "\"backend\":\"%s\",\"error\":\"%s\"",
                 be->name, err);
        else {
            int i = atomic_fetch_add(&app->n_worker_stores, 1);
            if (i < 64) app->worker_stores[i] = w->store;
        }
    }
    app_config_release(r0);
    app_config_ref_t *ref = app_config_acquire(app);
    app_worker_sync(w, ref->cfg, ref->cfg->generation);
    app_config_release(ref);
    if (index == 0) w->mem_trim = api_mem_trim_start(base);
    return w;
}

void app_worker_stop(int index, void *worker_ctx, void *ud)
{
    app_worker_t *w = worker_ctx;
    if (!w) return;
    fetch_cls_client_free(w->cls);
    hup_pools_free(w->pools);
    api_mem_trim_stop(w->mem_trim);
    lim_loop_close(((tether_app_t *)ud)->limits, w->base);
    if (w->store) {
        tether_app_t *app = ud;
        for (int i = 0; i < 64; i++)
            if (app->worker_stores[i] == w->store) app->worker_stores[i] = NULL;
        sess_store_free(w->store);
    }
    free(w->models);
    free(w);
}

static wrr_t *worker_picker(void *worker, size_t model_index)
{
    return &((app_worker_t *)worker)->models[model_index].wrr;
}

static void worker_sync(void *worker, const cfg_t *cfg, uint64_t generation)
{
    app_worker_sync(worker, cfg, generation);
}

static void ref_release(void *ref)
{
    app_config_release(ref);
}

void app_upstream_host(app_worker_t *w, up_host_t *h)
{
    *h = (up_host_t){.pools = w->pools,
                     .worker = w,
                     .picker = worker_picker,
                     .sync = worker_sync,
                     .release = ref_release,
                     .rcache = w->app->rcache,
                     .replay = w->app->replay,
                     .limits = w->app->limits,
                     .tracer = w->app->tracer};
}

void app_worker_sync(app_worker_t *w, const cfg_t *cfg, uint64_t generation)
{
    if (w->models && w->generation == generation) return;
    free(w->models);
    w->n_models = cfg->providers.n_models;
    w->models = calloc(w->n_models ? w->n_models : 1, sizeof *w->models);
    for (size_t i = 0; i < w->n_models; i++) {
        const cfg_model_t *m = &cfg->providers.models[i];
        int weights[WRR_MAX];
        size_t n = m->n_backend_refs > WRR_MAX ? WRR_MAX : m->n_backend_refs;
        for (size_t j = 0; j < n; j++)
            weights[j] = m->backend_refs[j].weight;
        wrr_init(&w->models[i].wrr, weights, n);
        /* start each worker at a different point of the rotation */
        for (int k = 0; k < w->index; k++)
            wrr_next(&w->models[i].wrr, 0);
    }
    w->generation = generation;
}

static int path_is(const hsrv_req_t *req, const char *p)
{
    return strcmp(req->path, p) == 0;
}

static void respond_text(hsrv_req_t *req, int status, const char *body)
{
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, status, h, 2, body, strlen(body));
}

static void method_not_allowed(hsrv_req_t *req, const char *allow)
{
    api_error_openai(req, 405, "invalid_request_error", "method_not_allowed", NULL,
                     "method %s is not allowed on %s; use %s", req->method_str, req->path, allow);
}

void app_handle(hsrv_req_t *req, void *ud)
{
    tether_app_t *app = ud;
    app_worker_t *w = req->worker_ctx;
    atomic_fetch_add(&app->requests_total, 1);
    if (!path_is(req, "/health") && !path_is(req, "/ready")) {
        /* the listener's api_keys guard every other path, known or not */
        app_config_ref_t *aref = app_config_acquire(app);
        bool allowed = client_auth_check(aref->cfg, req);
        app_config_release(aref);
        if (!allowed) return; /* answered 401 */
    }
    if (path_is(req, "/v1/chat/completions")) {
        api_access_note(req, "chat", NULL, NULL);
        if (req->method != HSRV_POST) return method_not_allowed(req, "POST");
        app_config_ref_t *ref = app_config_acquire(app);
        app_worker_sync(w, ref->cfg, ref->cfg->generation);
        api_chat_completions(req, w, ref); /* releases ref when the request ends */
        return;
    }
    if (path_is(req, "/v1/messages") || path_is(req, "/v1/messages/count_tokens") ||
        path_is(req, "/v1/responses") || strncmp(req->path, "/v1/responses/", 14) == 0) {
        bool msgs = strncmp(req->path, "/v1/messages", 12) == 0;
        bool item = strncmp(req->path, "/v1/responses/", 14) == 0;
        api_access_note(req, msgs ? "messages" : "responses", NULL, NULL);
        if (msgs && req->method != HSRV_POST)
            return api_error_anthropic(req, 405, "method %s is not allowed on %s; use POST",
                                       req->method_str, req->path);
        if (!msgs && !item && req->method != HSRV_POST) return method_not_allowed(req, "POST");
        app_config_ref_t *ref = app_config_acquire(app);
        app_worker_sync(w, ref->cfg, ref->cfg->generation);
        if (item) return api_responses_item(req, w, ref); /* each releases ref */
        if (!msgs) return api_responses(req, w, ref);
        if (req->path[12] == '/') return api_messages_count_tokens(req, w, ref);
        return api_messages(req, w, ref);
    }
    if (path_is(req, "/v1/embeddings") || path_is(req, "/v1/completions")) {
        api_access_note(req, req->path[4] == 'e' ? "embeddings" : "completions", NULL, NULL);
        if (req->method != HSRV_POST) return method_not_allowed(req, "POST");
        app_config_ref_t *ref = app_config_acquire(app);
        app_worker_sync(w, ref->cfg, ref->cfg->generation);
        /* releases ref when the request ends */
        api_passthrough(req, w, ref, req->path[4] == 'e' ? CFG_EP_EMBEDDINGS : CFG_EP_COMPLETIONS);
        return;
    }
    if (path_is(req, "/v1/models")) {
        api_access_note(req, "models", NULL, NULL);
        if (req->method != HSRV_GET && req->method != HSRV_HEAD)
            return method_not_allowed(req, "GET");
        app_config_ref_t *ref = app_config_acquire(app);
        api_models_list(req, ref->cfg);
        app_config_release(ref);
        return;
    }
    if (path_is(req, "/health")) {
        if (req->method != HSRV_GET && req->method != HSRV_HEAD)
            return method_not_allowed(req, "GET");
        return respond_text(req, 200, "{\"status\":\"ok\"}");
    }
    if (path_is(req, "/ready")) {
        if (req->method != HSRV_GET && req->method != HSRV_HEAD)
            return method_not_allowed(req, "GET");
        if (!app->ready) return respond_text(req, 503, "{\"status\":\"not_ready\"}");
        return respond_text(req, 200, "{\"status\":\"ready\"}");
    }
    api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                     "unknown path %s (routed endpoints: POST /v1/chat/completions, /v1/messages, "
                     "/v1/responses, /v1/embeddings, /v1/completions; GET /v1/models, "
                     "/health, /ready)",
                     req->path);
}

void app_on_server_error(hsrv_req_t *req, int status, const char *code, const char *message,
                         void *ud)
{
    const char *c = code;
    if (status == 413) c = "body_too_large";
    if (status == 408) c = strcmp(code, "header_timeout") == 0 ? "header_timeout" : "body_timeout";
    char msg[256];
    if (status == 431 && !strcmp(code, "headers_too_large")) {
        /* name the limit and its setting (the server's limits are the
         * first generation's: they apply until a restart) */
        tether_app_t *app = ud;
        const cfg_t *cfg = app && app->first ? app->first->cfg : NULL;
        unsigned long long max = cfg ? (unsigned long long)cfg->router.limits.max_header_bytes : 0;
        snprintf(msg, sizeof msg,
                 "request headers are larger than the limit of %llu bytes "
                 "(global.router.limits.max_header_bytes): send fewer or smaller headers",
                 max ? max : 65536ULL);
        message = msg;
    }
    if (req->path && strncmp(req->path, "/v1/messages", 12) == 0)
        return api_error_anthropic(req, status, "%s", message);
    api_error_openai(req, status, "invalid_request_error", c, NULL, "%s", message);
}

void app_on_done(hsrv_req_t *req, int status, void *ud)
{
    tether_app_t *app = ud;
    if (!app->access_log || !req->path) return;
    if (path_is(req, "/health") || path_is(req, "/ready")) return; /* probes */
    api_access_log(req, status);
}
