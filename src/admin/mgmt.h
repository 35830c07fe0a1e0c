/* mgmt.h - the management listener (SPEC §11): its own HTTP server with
 * role-checked routes. Modules with management endpoints (eval, replay,
 * feedback, dsl) register them with mgmt_route_add before mgmt_listen.
 * Handlers run on the management worker thread. */
#ifndef TETHER_ADMIN_MGMT_H
#define TETHER_ADMIN_MGMT_H
#include "api/app.h"
#include "http/server.h"

typedef enum { MGMT_ANONYMOUS = 0, MGMT_VIEWER, MGMT_OPERATOR, MGMT_ADMIN } mgmt_role_t;
typedef struct mgmt mgmt_t;
/* cfg is the config generation the request started with (held for it). */
typedef void (*mgmt_handler_fn)(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud);

mgmt_t *mgmt_start(tether_app_t *app, const cfg_t *cfg);
/* path ending in '/' matches by prefix (e.g. "/v1/router_replay/"). */
void mgmt_route_add(mgmt_t *m, hsrv_method_t method, const char *path, mgmt_role_t role,
                    mgmt_handler_fn fn, void *ud);
/* Like mgmt_route_add, but path matches only itself (even when it ends in '/'). */
void mgmt_route_add_exact(mgmt_t *m, hsrv_method_t method, const char *path, mgmt_role_t role,
                          mgmt_handler_fn fn, void *ud);
/* Bind global.services.management_api.listen. Returns the bound port, or -1
 * (logged; the router keeps serving without a management listener). */
int mgmt_listen(mgmt_t *m, const cfg_t *cfg);
void mgmt_stop(mgmt_t *m);
/* POST /api/v1/eval (eval_api.c). */
void mgmt_register_eval(mgmt_t *m, tether_app_t *app);
/* GET /v1/router_replay[/…] and POST /v1/router/feedback (replay_api.c). */
void mgmt_register_replay(mgmt_t *m, tether_app_t *app);
void mgmt_register_feedback(mgmt_t *m, tether_app_t *app);
/* POST /v1/router/outcomes (outcomes_api.c) */
void mgmt_register_outcomes(mgmt_t *m, tether_app_t *app);
/* GET /v1/keys: the listeners' client keys, never their secrets (keys_api.c). */
void mgmt_register_keys(mgmt_t *m, tether_app_t *app);
/* limits_api.c: GET /v1/rate_limits and /v1/budgets */
void mgmt_register_limits(mgmt_t *m, tether_app_t *app);
/* The dashboard (dashboard.c): /dashboard/ assets, / redirect, whoami and
 * the overview status. */
void mgmt_register_dashboard(mgmt_t *m, tether_app_t *app);
/* The role the caller's bearer token carries (admin when no token is
 * configured: the open, loopback-only mode). */
mgmt_role_t mgmt_caller_role(const hsrv_req_t *req, const cfg_t *cfg);
/* The name of the caller's token (config names, never the token), "open"
 * when no token is configured, NULL when none matches. */
const char *mgmt_caller_name(const hsrv_req_t *req, const cfg_t *cfg);
/* POST /api/v1/config/apply, GET /api/v1/config/audit and
 * GET /api/v1/config/source (config_apply.c). */
void mgmt_register_config_apply(mgmt_t *m, tether_app_t *app);
/* Whether the caller's token has the admin role. */
bool mgmt_caller_is_admin(const hsrv_req_t *req, const cfg_t *cfg);
/* Whether the caller may read replay bodies and conversation content: the
 * admin role, or a token with role replay.detail (open listener: yes). */
bool mgmt_caller_sees_bodies(const hsrv_req_t *req, const cfg_t *cfg);

const char *mgmt_role_name(mgmt_role_t r);
void mgmt_json(hsrv_req_t *req, int status, const char *body, size_t len);
void mgmt_error(hsrv_req_t *req, int status, const char *code, const char *msg);
/* Load the request body as a config, sealed (no byte of the outcome depends on
 * the router's environment, where the admin token lives); diagnostics into d
 * (initialised here, sorted). NULL when it is invalid. */
cfg_t *mgmt_load_body(const hsrv_req_t *req, cfg_diags_t *d);
#endif
