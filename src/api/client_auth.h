/* client_auth.h - the client (virtual) keys of a listener
 * (listeners[].api_keys, keys_file; config/api_keys.c): a listener with
 * keys answers 401 to a request on any client endpoint that carries none
 * of them, as `Authorization: Bearer <key>` or `x-api-key: <key>`, and to
 * a malformed credential (not Bearer, empty, longer than max_key_bytes,
 * bytes outside printable ASCII, two credentials that differ). The
 * credential is hashed once (SHA-256) and looked up in the listener's
 * table of key digests; digests are compared in constant time, and the
 * plaintext of a configured key is never held in memory. The matched
 * key's name, owner, team, tenant, user and groups travel with the request
 * (req->principal) to session identity, authz, limits and replay; a key
 * with `models` or `decisions` lists gets 403 for others. The credential
 * is not logged, and forward_headers.c never forwards the headers that
 * carried it. Worker-thread only. */
#ifndef TETHER_API_CLIENT_AUTH_H
#define TETHER_API_CLIENT_AUTH_H
#include "api/client_cred.h"
#include "config/config.h"
#include "http/server.h"
#include "replay/record.h"
#include "request/request.h"
#include "route/pipeline.h"
#include <stdbool.h>
#include <stddef.h>

/* Who a request is, after a listener key matched (request arena). */
typedef struct client_principal {
    const char *key_name;
    const char *tenant;
    const char *user;
    const char *team;  /* NULL when the key has none */
    const char *owner; /* NULL when the key has none */
    const char *listener;
    const char *const *groups;
    size_t n_groups;
    /* The key's config (allowed lists, metadata): valid only while the
     * request holds its config generation, i.e. until routing has been
     * applied (chat_routed / ag_routed). */
    const cfg_api_key_t *key;
} client_principal_t;

/* The metric label / log reason of r ("missing", "invalid", ...). */
const char *client_auth_reason(client_auth_result_t r);

/* Check req against the keys of its listener in cfg. true: go on
 * (req->principal set when a key matched). false: a 401 in the endpoint's
 * error shape was answered, logged and counted; req is gone. */
bool client_auth_check(const cfg_t *cfg, hsrv_req_t *req);

/* The keys of listener li against the request headers h; *key is the
 * matched key (NULL unless OK on a keyed listener). */
client_auth_result_t client_auth_match(const cfg_listener_t *li, const hsrv_header_t *h, size_t n,
                                       const cfg_api_key_t **key);

/* Whether the request's key may ask for model / be routed to decision
 * (true without a key or without the list). Call while the request holds
 * its config generation. */
bool client_auth_model_allowed(const hsrv_req_t *req, const char *model);
bool client_auth_decision_allowed(const hsrv_req_t *req, const char *decision);
/* Answer 403 in the client's shape for a refused model (is_decision
 * false) or decision named name; logs client_auth_forbidden and counts
 * auth_failures_total{reason=model_not_allowed|decision_not_allowed}. */
void client_auth_forbid(hsrv_req_t *req, rq_proto_t client, bool is_decision, const char *name);

/* The authenticated key's identity and metadata into the routing input
 * (nothing when the request carries no principal). */
void client_auth_route_in(const hsrv_req_t *req, route_in_t *in);

/* The key into a replay record: {"name","owner","team","metadata":{...}}
 * (never the secret or its digest); nothing without a principal. */
void client_auth_trace(const hsrv_req_t *req, replay_record_t *rec);
#endif
