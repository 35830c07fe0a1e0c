/* mgmt.c - the management listener (SPEC §11): health and readiness
 * (anonymous), Prometheus metrics, the redacted config, validate and reload,
 * with bearer tokens carrying roles viewer < operator < admin. With no tokens
 * configured everything is open, which the config loader allows only on
 * loopback. Runs its own one-worker HTTP server beside the inference one.
 * Routes that need the routing engine (eval, replay) are registered by
 * their modules through mgmt_route_add. */
#include "admin/mgmt.h"
#include "admin/dashboard_history.h"
#include "admin/mgmt_origin.h"
#include "config/global.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "replay/queue.h"
#include "select/health.h"
#include "session/store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MGMT_MAX_ROUTES 32

typedef struct mgmt_route {
    hsrv_method_t method;
    const char *prefix; /* exact path, or prefix when it ends with '/' */
    bool exact;         /* match prefix exactly even when it ends with '/' */
    mgmt_role_t role;
    mgmt_handler_fn fn;
    void *ud;
} mgmt_route_t;

struct mgmt {
    tether_app_t *app;
    hsrv_server_t *srv;
    mgmt_route_t routes[MGMT_MAX_ROUTES];
    size_t n_routes;
    char metrics_path[128]; /* owned copy: configs come and go */
};

const char *mgmt_role_name(mgmt_role_t r)
{
    static const char *n[] = {"anonymous", "viewer", "operator", "admin"};
    return r <= MGMT_ADMIN ? n[r] : "unknown";
}

void mgmt_json(hsrv_req_t *req, int status, const char *body, size_t len)
{
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, status, h, 2, body, len);
}

void mgmt_error(hsrv_req_t *req, int status, const char *code, const char *msg)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"error\":{\"message\":");
    buf_json_str(&b, msg, strlen(msg));
    buf_printf(&b, ",\"code\":\"%s\"}}", code);
    mgmt_json(req, status, b.data, b.len);
    buf_free(&b);
}

/* Constant-time comparison of a presented token. */
static int token_eq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char d = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen && i < blen; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* The configured token the caller presents with the highest role (its role
 * in *role), or NULL (*role anonymous). With no token configured every
 * caller is admin (open mode, loopback only) and NULL is returned. */
static const cfg_mgmt_token_t *caller_token(const cfg_t *cfg, const hsrv_req_t *req,
                                            mgmt_role_t *role)
{
    const cfg_services_t *sv = &cfg->global_ext->services;
    *role = MGMT_ANONYMOUS;
    if (sv->management_api.n_tokens == 0) {
        *role = MGMT_ADMIN; /* open: loopback only */
        return NULL;
    }
    const hsrv_header_t *h = hsrv_req_header(req, "authorization");
    if (!h || h->value_len < 8 || strncasecmp(h->value, "bearer ", 7) != 0) return NULL;
    const char *tok = h->value + 7;
    size_t tlen = h->value_len - 7;
    const cfg_mgmt_token_t *best = NULL;
    for (size_t i = 0; i < sv->management_api.n_tokens; i++) {
        const cfg_mgmt_token_t *t = &sv->management_api.tokens[i];
        if (!t->token || !token_eq(tok, tlen, t->token)) continue;
        mgmt_role_t r = !t->role                           ? MGMT_VIEWER
                        : strcmp(t->role, "admin") == 0    ? MGMT_ADMIN
                        : strcmp(t->role, "operator") == 0 ? MGMT_OPERATOR
                                                           : MGMT_VIEWER;
        if (!best || r > *role) {
            *role = r;
            best = t;
        }
    }
    return best;
}

static mgmt_role_t caller_role(const cfg_t *cfg, const hsrv_req_t *req)
{
    mgmt_role_t r;
    caller_token(cfg, req, &r);
    return r;
}

const char *mgmt_caller_name(const hsrv_req_t *req, const cfg_t *cfg)
{
    mgmt_role_t r;
    const cfg_mgmt_token_t *t = caller_token(cfg, req, &r);
    return t ? t->name : r == MGMT_ADMIN ? "open" : NULL;
}

mgmt_role_t mgmt_caller_role(const hsrv_req_t *req, const cfg_t *cfg)
{
    return caller_role(cfg, req);
}

bool mgmt_caller_is_admin(const hsrv_req_t *req, const cfg_t *cfg)
{
    return caller_role(cfg, req) >= MGMT_ADMIN;
}

bool mgmt_caller_sees_bodies(const hsrv_req_t *req, const cfg_t *cfg)
{
    if (caller_role(cfg, req) >= MGMT_ADMIN) return true;
    const cfg_services_t *sv = &cfg->global_ext->services;
    const hsrv_header_t *h = hsrv_req_header(req, "authorization");
    if (!h || h->value_len < 8 || strncasecmp(h->value, "bearer ", 7) != 0) return false;
    for (size_t i = 0; i < sv->management_api.n_tokens; i++) {
        const cfg_mgmt_token_t *t = &sv->management_api.tokens[i];
        if (t->token && t->role && !strcmp(t->role, "replay.detail") &&
            token_eq(h->value + 7, h->value_len - 7, t->token))
            return true;
    }
    return false;
}

static void h_health(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    mgmt_json(req, 200, "{\"status\":\"ok\"}", 15);
}

static void h_ready(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    if (!m->app->ready) return mgmt_json(req, 503, "{\"status\":\"not_ready\"}", 22);
    mgmt_json(req, 200, "{\"status\":\"ready\"}", 18);
}

static void h_metrics(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    if (m->app->reload) {
        cfg_reload_stats_t st;
        cfg_reload_get_stats(m->app->reload, &st);
        met_set(tmet.config_reloads_total, (double)st.applied, "applied");
        met_set(tmet.config_reloads_total, (double)st.rejected, "rejected");
        met_set(tmet.config_reloads_total, (double)st.unchanged, "unchanged");
    }
    met_set(tmet.config_generation, (double)cfg->generation);
    if (m->app->replay) { /* the replay queue: what the writer stored, lost, holds */
        replay_stats_t rs;
        replay_queue_stats(m->app->replay, &rs);
        met_set(tmet.replay_writes_total, (double)rs.written, "written");
        met_set(tmet.replay_writes_total, (double)rs.dropped, "dropped");
        met_set(tmet.replay_writes_total, (double)rs.errors, "error");
        met_set(tmet.replay_queue_depth, (double)rs.depth);
    }
    {
        int degraded = 0;
        uint64_t errors = 0, fallbacks = 0, wb_pushed = 0, wb_pending = 0;
        for (int i = 0; i < 64; i++) {
            sess_store_t *st = m->app->worker_stores[i];
            if (!st) continue;
            sess_store_stats_t ss;
            sess_store_stats(st, &ss);
            degraded |= ss.degraded;
            errors += ss.errors;
            fallbacks += ss.fallbacks;
            wb_pushed += ss.writeback_pushed;
            wb_pending += ss.writeback_pending;
        }
        met_set(tmet.session_store_degraded, degraded ? 1 : 0);
        met_set(tmet.session_store_errors_total, (double)errors, "redis", "call");
        met_set(tmet.session_store_errors_total, (double)fallbacks, "redis", "fallback");
        met_set(tmet.session_writeback_pending, (double)wb_pending);
        met_set(tmet.session_writeback_total, (double)wb_pushed);
    }
    buf_t b = BUF_INIT;
    met_expose(&b);
    hsrv_header_t h[1] = {{"content-type", 12, "text/plain; version=0.0.4; charset=utf-8", 40}};
    hsrv_respond(req, 200, h, 1, b.data, b.len);
    buf_free(&b);
}

/* GET /backends: every backend's health (select/health.h). */
static void h_backends(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"backends\":");
    sel_health_json(&b, clock_mono_ms());
    buf_puts(&b, "}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void h_config(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t shown = BUF_INIT, b = BUF_INIT;
    cfg_show(cfg, true, &shown);
    buf_printf(&b, "{\"generation\":%llu,\"config\":", (unsigned long long)cfg->generation);
    if (shown.len)
        buf_append(&b, shown.data, shown.len);
    else
        buf_puts(&b, "null");
    buf_puts(&b, "}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&shown);
    buf_free(&b);
}

cfg_t *mgmt_load_body(const hsrv_req_t *req, cfg_diags_t *d)
{
    cfg_diags_init(d);
    cfg_load_opts_t o = {.seal_env = true};
    cfg_t *c = cfg_load_string("request", req->body, req->body_len, &o, d);
    cfg_diags_sort(d);
    return c;
}

/* The caller may be an operator, who must not read the router's environment
 * (the admin token lives there): the load is sealed, so no byte of the
 * response depends on an environment variable (cfg_load_opts_t.seal_env). */
static void h_config_validate(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    cfg_diags_t d;
    cfg_t *c = mgmt_load_body(req, &d);
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"valid\":%s,\"errors\":[", c ? "true" : "false");
    cfg_diags_json_strings(&b, &d, CFG_DIAG_ERROR);
    buf_puts(&b, "],\"warnings\":[");
    cfg_diags_json_strings(&b, &d, CFG_DIAG_WARNING);
    buf_puts(&b, "]}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void h_config_reload(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    if (!m->app->reload) return mgmt_error(req, 503, "reload_unavailable", "no config file watch");
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_reload_result_t r = cfg_reload_now(m->app->reload, true, &d);
    cfg_diags_sort(&d);
    cfg_reload_stats_t st;
    cfg_reload_get_stats(m->app->reload, &st);
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"result\":\"%s\",\"generation\":%llu,\"errors\":[",
               r == CFG_RELOAD_REJECTED ? "rejected" : "applied",
               (unsigned long long)st.generation);
    cfg_diags_json_strings(&b, &d, CFG_DIAG_ERROR);
    buf_puts(&b, "]}");
    mgmt_json(req, r == CFG_RELOAD_REJECTED ? 422 : 200, b.data, b.len);
    buf_free(&b);
    cfg_diags_free(&d);
}

void mgmt_route_add(mgmt_t *m, hsrv_method_t method, const char *path, mgmt_role_t role,
                    mgmt_handler_fn fn, void *ud)
{
    if (m->n_routes >= MGMT_MAX_ROUTES) return;
    m->routes[m->n_routes++] = (mgmt_route_t){method, path, false, role, fn, ud};
}

void mgmt_route_add_exact(mgmt_t *m, hsrv_method_t method, const char *path, mgmt_role_t role,
                          mgmt_handler_fn fn, void *ud)
{
    if (m->n_routes >= MGMT_MAX_ROUTES) return;
    m->routes[m->n_routes++] = (mgmt_route_t){method, path, true, role, fn, ud};
}

static void mgmt_handle(hsrv_req_t *req, void *ud)
{
    mgmt_t *m = ud;
    app_config_ref_t *ref = app_config_acquire(m->app);
    const mgmt_route_t *match = NULL;
    int path_known = 0;
    for (size_t i = 0; i < m->n_routes; i++) {
        const mgmt_route_t *r = &m->routes[i];
        size_t pl = strlen(r->prefix);
        int hit = r->prefix[pl - 1] == '/' && !r->exact
                      ? strncmp(req->path, r->prefix, pl) == 0 && req->path_len > pl
                      : strcmp(req->path, r->prefix) == 0;
        if (!hit) continue;
        path_known = 1;
        if (r->method == req->method || (r->method == HSRV_GET && req->method == HSRV_HEAD)) {
            match = r;
            break;
        }
    }
    if (!match) {
        if (path_known)
            mgmt_error(req, 405, "method_not_allowed", "method not allowed on this path");
        else
            mgmt_error(req, 404, "not_found", "unknown management path");
        app_config_release(ref);
        return;
    }
    const char *ocode, *omsg;
    if (mgmt_origin_check(req, ref->cfg->global_ext->services.management_api.n_tokens == 0, &ocode,
                          &omsg) != 0) {
        tlog(TLOG_WARN, "mgmt_denied", "\"reason\":\"%s\"", ocode);
        mgmt_error(req, 403, ocode, omsg);
        app_config_release(ref);
        return;
    }
    mgmt_role_t have = caller_role(ref->cfg, req);
    if (have < match->role) {
        tlog(TLOG_WARN, "mgmt_denied", "\"path\":\"%s\",\"needs\":\"%s\",\"has\":\"%s\"", req->path,
             mgmt_role_name(match->role), mgmt_role_name(have));
        if (have == MGMT_ANONYMOUS)
            mgmt_error(req, 401, "unauthorized", "a bearer token is required");
        else
            mgmt_error(req, 403, "forbidden", "this token's role cannot do that");
        app_config_release(ref);
        return;
    }
    match->fn(req, m, ref->cfg, match->ud);
    app_config_release(ref);
}

static int parse_listen(const char *s, char *host, size_t hl, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return -1;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n >= hl) return -1;
    memcpy(host, s, n);
    host[n] = 0;
    *port = atoi(colon + 1);
    return *port >= 0 && *port <= 65535 ? 0 : -1;
}

mgmt_t *mgmt_start(tether_app_t *app, const cfg_t *cfg)
{
    mgmt_t *m = calloc(1, sizeof *m);
    m->app = app;
    mgmt_route_add(m, HSRV_GET, "/health", MGMT_ANONYMOUS, h_health, NULL);
    mgmt_route_add(m, HSRV_GET, "/ready", MGMT_ANONYMOUS, h_ready, NULL);
    const char *mpath = cfg->global_ext->services.metrics.path
                            ? cfg->global_ext->services.metrics.path
                            : "/metrics";
    snprintf(m->metrics_path, sizeof m->metrics_path, "%s", mpath);
    if (cfg->global_ext->services.metrics.enabled)
        mgmt_route_add(m, HSRV_GET, m->metrics_path, MGMT_VIEWER, h_metrics, NULL);
    mgmt_route_add(m, HSRV_GET, "/config", MGMT_VIEWER, h_config, NULL);
    mgmt_route_add(m, HSRV_GET, "/backends", MGMT_VIEWER, h_backends, NULL);
    mgmt_route_add(m, HSRV_POST, "/config/validate", MGMT_OPERATOR, h_config_validate, NULL);
    mgmt_route_add(m, HSRV_POST, "/config/reload", MGMT_ADMIN, h_config_reload, NULL);
    mgmt_register_eval(m, app);
    mgmt_register_replay(m, app);
    mgmt_register_feedback(m, app);
    mgmt_register_outcomes(m, app);
    mgmt_register_keys(m, app);
    mgmt_register_limits(m, app);
    mgmt_register_dashboard(m, app);
    mgmt_register_config_apply(m, app);
    return m;
}

int mgmt_listen(mgmt_t *m, const cfg_t *cfg)
{
    const char *listen = cfg->global_ext->services.management_api.listen;
    if (!listen) listen = "127.0.0.1:8080";
    char host[256];
    int port;
    if (parse_listen(listen, host, sizeof host, &port) != 0) {
        tlog(TLOG_ERROR, "mgmt_bad_listen", "\"listen\":\"%s\"", listen);
        return -1;
    }
    hsrv_listen_t l = {host, port, 60000};
    hsrv_config_t hc = {.listeners = &l,
                        .n_listeners = 1,
                        .workers = 1,
                        .limits = {.max_header_bytes = 64 * 1024,
                                   .max_body_bytes = 4u << 20,
                                   .header_timeout_ms = 10000,
                                   .body_timeout_ms = 30000,
                                   .max_connections = 256},
                        .handler = mgmt_handle,
                        .ud = m,
                        .thread_name = "mgmt"};
    char err[256];
    m->srv = hsrv_server_start(&hc, err, sizeof err);
    if (!m->srv) {
        tlog(TLOG_WARN, "mgmt_unavailable", "\"listen\":\"%s\",\"error\":\"%s\"", listen, err);
        return -1;
    }
    tlog(TLOG_INFO, "mgmt_listening", "\"address\":\"%s\",\"port\":%d", host,
         hsrv_server_port(m->srv, 0));
    return hsrv_server_port(m->srv, 0);
}

void mgmt_stop(mgmt_t *m)
{
    if (!m) return;
    dash_history_stop();
    if (m->srv) {
        hsrv_server_stop(m->srv, 2000);
        hsrv_server_free(m->srv);
    }
    free(m);
}
