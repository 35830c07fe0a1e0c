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
/* Bind global.services.management_api.listen. Returns the bound port, or -1
 * (logged; the router keeps serving without a management listener). */
int mgmt_listen(mgmt_t *m, const cfg_t *cfg);
void mgmt_stop(mgmt_t *m);
/* POST /api/v1/eval (eval_api.c). */
void mgmt_register_eval(mgmt_t *m, tether_app_t *app);
/* GET /v1/router_replay[/…] and POST /v1/router/feedback (replay_api.c). */
void mgmt_register_replay(mgmt_t *m, tether_app_t *app);
void mgmt_register_feedback(mgmt_t *m, tether_app_t *app);
/* Whether the caller's token has the admin role. */
bool mgmt_caller_is_admin(const hsrv_req_t *req, const cfg_t *cfg);
/* Whether the caller may read replay bodies and conversation content: the
 * admin role, or a token with role replay.detail (open listener: yes). */
bool mgmt_caller_sees_bodies(const hsrv_req_t *req, const cfg_t *cfg);

const char *mgmt_role_name(mgmt_role_t r);
void mgmt_json(hsrv_req_t *req, int status, const char *body, size_t len);
void mgmt_error(hsrv_req_t *req, int status, const char *code, const char *msg);
#endif
