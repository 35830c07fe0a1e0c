/* dashboard.c - the dashboard on the management listener (issue 14): its
 * files under /dashboard/ (embedded at build time, dashboard_assets.h),
 * / and /dashboard redirecting to /dashboard/, and the two small JSON
 * endpoints the pages need beside the management API (mgmt.c, eval_api.c,
 * replay_api.c): GET /api/v1/whoami (who the presented token is),
 * GET /api/v1/status (generation, reloads, session store and replay queue
 * health) and GET /api/v1/history (the last hour of the Overview's
 * counters, dashboard_history.c). Everything else the pages show comes from
 * the existing API.
 *
 * The files themselves hold no data and are served to anyone while
 * global.services.management_api.dashboard is true (the login form must
 * load before a token is known); every call they make carries the bearer
 * token and is role-checked like any API call. The setting is read per
 * request, so a reload that turns it off answers 404 at once. */
#include "admin/dashboard_assets.h"
#include "admin/dashboard_history.h"
#include "admin/mgmt.h"
#include "config/global.h"
#include "core/buf.h"
#include "replay/queue.h"
#include "session/store.h"
#include <stdio.h>
#include <string.h>

static bool dash_enabled(const cfg_t *cfg)
{
    return cfg->global_ext->services.management_api.dashboard;
}

static void dash_not_found(hsrv_req_t *req)
{
    mgmt_error(req, 404, "not_found", "unknown management path");
}

static void dash_redirect(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    if (!dash_enabled(cfg)) return dash_not_found(req);
    hsrv_header_t h[2] = {{"location", 8, "/dashboard/", 11},
                          {"content-type", 12, "text/plain; charset=utf-8", 25}};
    hsrv_respond(req, 302, h, 2, "/dashboard/\n", 12);
}

static const dash_asset_t *dash_find(const char *name)
{
    for (size_t i = 0; i < dash_n_assets; i++)
        if (!strcmp(dash_assets[i].path, name)) return &dash_assets[i];
    return NULL;
}

/* The pages load only their own files and talk only to this listener. */
#define DASH_CSP                                                                                   \
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static void dash_asset(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    if (!dash_enabled(cfg)) return dash_not_found(req);
    const char *name = req->path + strlen("/dashboard/");
    if (!*name) name = "index.html";
    const dash_asset_t *a = dash_find(name);
    if (!a) return dash_not_found(req);
    hsrv_header_t h[5] = {
        {"content-type", 12, a->type, strlen(a->type)},
        {"cache-control", 13, "no-cache", 8},
        {"content-security-policy", 23, DASH_CSP, sizeof DASH_CSP - 1},
        {"x-content-type-options", 22, "nosniff", 7},
        {"referrer-policy", 15, "no-referrer", 11},
    };
    hsrv_respond(req, 200, h, 5, (const char *)a->data, a->len);
}

/* GET /api/v1/whoami: the role (and token name) the presented token
 * carries; "anonymous" for none or a wrong one. Anyone may ask: the login
 * form uses it to check a token. */
static void dash_whoami(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    const cfg_services_t *sv = &cfg->global_ext->services;
    mgmt_role_t role = mgmt_caller_role(req, cfg);
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"role\":\"%s\",\"open\":%s,\"dashboard\":%s,\"generation\":%llu",
               mgmt_role_name(role), sv->management_api.n_tokens == 0 ? "true" : "false",
               dash_enabled(cfg) ? "true" : "false", (unsigned long long)cfg->generation);
    buf_putc(&b, '}');
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

/* GET /api/v1/status: what /metrics does not say in one read - the serving
 * generation, reload counts, session store and replay queue health. */
static void dash_status(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"generation\":%llu,\"ready\":%s", (unsigned long long)cfg->generation,
               app->ready ? "true" : "false");
    if (app->reload) {
        cfg_reload_stats_t st;
        cfg_reload_get_stats(app->reload, &st);
        buf_printf(&b, ",\"reloads\":{\"applied\":%llu,\"rejected\":%llu,\"unchanged\":%llu}",
                   (unsigned long long)st.applied, (unsigned long long)st.rejected,
                   (unsigned long long)st.unchanged);
    } else {
        buf_puts(&b, ",\"reloads\":null");
    }
    int degraded = 0, redis = 0;
    uint64_t errors = 0, fallbacks = 0, pending = 0;
    for (int i = 0; i < 64; i++) {
        sess_store_t *st = app->worker_stores[i];
        if (!st) continue;
        sess_store_stats_t ss;
        sess_store_stats(st, &ss);
        redis = 1;
        degraded |= ss.degraded;
        errors += ss.errors;
        fallbacks += ss.fallbacks;
        pending += ss.writeback_pending;
    }
    buf_printf(&b,
               ",\"session_store\":{\"shared\":%s,\"degraded\":%s,\"errors\":%llu,"
               "\"fallbacks\":%llu,\"writeback_pending\":%llu}",
               redis ? "true" : "false", degraded ? "true" : "false", (unsigned long long)errors,
               (unsigned long long)fallbacks, (unsigned long long)pending);
    if (app->replay) {
        replay_stats_t rs;
        replay_queue_stats(app->replay, &rs);
        buf_printf(&b,
                   ",\"replay\":{\"enabled\":true,\"written\":%llu,\"dropped\":%llu,"
                   "\"errors\":%llu,\"swept\":%llu,\"queue_depth\":%zu}",
                   (unsigned long long)rs.written, (unsigned long long)rs.dropped,
                   (unsigned long long)rs.errors, (unsigned long long)rs.swept, rs.depth);
    } else {
        buf_puts(&b, ",\"replay\":{\"enabled\":false}");
    }
    buf_putc(&b, '}');
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

/* GET /api/v1/history: the sampled counters of the last hour. */
static void dash_history(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t b = BUF_INIT;
    dash_history_json(&b);
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void mgmt_register_dashboard(mgmt_t *m, tether_app_t *app)
{
    dash_history_start();
    mgmt_route_add(m, HSRV_GET, "/api/v1/history", MGMT_VIEWER, dash_history, app);
    mgmt_route_add_exact(m, HSRV_GET, "/", MGMT_ANONYMOUS, dash_redirect, app);
    mgmt_route_add(m, HSRV_GET, "/dashboard", MGMT_ANONYMOUS, dash_redirect, app);
    mgmt_route_add_exact(m, HSRV_GET, "/dashboard/", MGMT_ANONYMOUS, dash_asset, app);
    mgmt_route_add(m, HSRV_GET, "/dashboard/", MGMT_ANONYMOUS, dash_asset, app);
    mgmt_route_add(m, HSRV_GET, "/api/v1/whoami", MGMT_ANONYMOUS, dash_whoami, app);
    mgmt_route_add(m, HSRV_GET, "/api/v1/status", MGMT_VIEWER, dash_status, app);
}
