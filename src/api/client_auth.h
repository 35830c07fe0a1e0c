/* client_auth.h - the inbound API keys of a listener (listeners[].api_keys):
 * a listener with keys answers 401 to a request on any client endpoint that
 * carries none of them, as `Authorization: Bearer <key>` or
 * `x-api-key: <key>`. The comparison runs in constant time with respect to
 * the key (no early exit on a length or a byte). A key whose variable is
 * unset at load never matches, so a listener whose keys are all unset
 * refuses every request (fail closed). The matched key's name, tenant, user
 * and groups travel with the request (req->principal) to session identity
 * and authz; the key itself never leaves this file: it is not logged, and
 * forward_headers.c never forwards the headers that carried it.
 * Issue 16 (virtual keys, limits, budgets) builds on this file.
 * Worker-thread only. */
#ifndef TETHER_API_CLIENT_AUTH_H
#define TETHER_API_CLIENT_AUTH_H
#include "config/config.h"
#include "http/server.h"
#include "route/pipeline.h"
#include <stdbool.h>
#include <stddef.h>

/* Who a request is, after a listener key matched (request arena). */
typedef struct client_principal {
    const char *key_name;
    const char *tenant;
    const char *team;
    const char *user;
    const char *const *groups;
    size_t n_groups;
} client_principal_t;

typedef enum {
    CLIENT_AUTH_OK = 0,  /* a key matched, or the listener has no keys */
    CLIENT_AUTH_MISSING, /* no Bearer authorization and no x-api-key */
    CLIENT_AUTH_INVALID, /* a credential, but no enabled key equals it */
} client_auth_result_t;

/* Check req against the keys of its listener in cfg. true: go on
 * (req->principal set when a key matched). false: a 401 in the endpoint's
 * error shape was answered, logged and counted; req is gone. */
bool client_auth_check(const cfg_t *cfg, hsrv_req_t *req);

/* The keys of listener li against the request headers h; *key is the
 * matched key (NULL unless OK on a keyed listener). */
client_auth_result_t client_auth_match(const cfg_listener_t *li, const hsrv_header_t *h, size_t n,
                                       const cfg_api_key_t **key);

/* a == b, in time that depends only on an (the presented length). */
bool client_auth_equal(const char *a, size_t an, const char *b, size_t bn);

/* The authenticated key's tenant, user and groups into the routing input
 * (nothing when the request carries no principal). */
void client_auth_route_in(const hsrv_req_t *req, route_in_t *in);
#endif
