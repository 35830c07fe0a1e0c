/* limits_api.c - the rate limit and budget endpoints of the management
 * listener: GET /v1/rate_limits (every rule: scope, match, window, limits,
 * and per subject the requests and tokens used in the current window) and
 * GET /v1/budgets (every budget: period, max_spend, policy, and per subject
 * the spend so far). The counts are this process's view: with Redis they
 * include what the replicas counted as far as this process has seen it.
 * Viewer role. */
#include "admin/mgmt.h"
#include "core/clock.h"
#include "limits/limits.h"

static void h_limits(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, bool budgets, void *ud)
{
    tether_app_t *app = ud;
    buf_t b = BUF_INIT;
    if (app->limits)
        lim_json(app->limits, cfg, budgets, clock_wall_ms(), &b);
    else
        buf_puts(&b, budgets ? "{\"budgets\":[]}" : "{\"rate_limits\":[]}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void h_rate_limits(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    h_limits(req, m, cfg, false, ud);
}

static void h_budgets(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    h_limits(req, m, cfg, true, ud);
}

void mgmt_register_limits(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_GET, "/v1/rate_limits", MGMT_VIEWER, h_rate_limits, app);
    mgmt_route_add(m, HSRV_GET, "/v1/budgets", MGMT_VIEWER, h_budgets, app);
}
