/* client_auth.c - enforcement of the listener client keys (see
 * client_auth.h): the credential a request presents (client_cred.c), its
 * SHA-256 looked up in the listener's key table (config/api_keys.c), the 401 in the
 * endpoint's shape with its log line and metric, the 403 of a model or a
 * decision the key may not use, and the matched key's identity handed to
 * routing and replay. Called by app.c before the dispatch of every client
 * endpoint (not /health, /ready), by chat.c / agent.c around routing. */
#include "api/client_auth.h"
#include "api/agent.h"
#include "api/errors.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include <string.h>
#include <strings.h>

const char *client_auth_reason(client_auth_result_t r)
{
    switch (r) {
    case CLIENT_AUTH_OK: return "ok";
    case CLIENT_AUTH_MISSING: return "missing";
    case CLIENT_AUTH_INVALID: return "invalid";
    case CLIENT_AUTH_MALFORMED: return "malformed";
    case CLIENT_AUTH_TOO_LONG: return "too_long";
    case CLIENT_AUTH_CONFLICT: return "conflicting";
    }
    return "invalid";
}

client_auth_result_t client_auth_match(const cfg_listener_t *li, const hsrv_header_t *h, size_t n,
                                       const cfg_api_key_t **key)
{
    *key = NULL;
    if (!li || !li->n_api_keys) return CLIENT_AUTH_OK;
    size_t max = li->max_key_bytes > 0 ? (size_t)li->max_key_bytes : 512;
    const char *cred = NULL;
    size_t clen = 0;
    client_auth_result_t r = client_cred_get(h, n, max, &cred, &clen);
    if (r != CLIENT_AUTH_OK) return r;
    unsigned char d[32];
    hash_sha256(cred, clen, d);
    *key = cfg_api_key_find(li, d);
    return *key ? CLIENT_AUTH_OK : CLIENT_AUTH_INVALID;
}

static client_principal_t *principal_of(arena_t *a, const cfg_listener_t *li,
                                        const cfg_api_key_t *k)
{
    client_principal_t *p = arena_calloc(a, sizeof *p);
    p->listener = li->name ? arena_strdup(a, li->name) : "";
    /* copies: the config generation may be released before the request ends */
    p->key_name = k->name ? arena_strdup(a, k->name) : NULL;
    p->tenant = k->tenant ? arena_strdup(a, k->tenant) : p->key_name;
    p->user = k->user ? arena_strdup(a, k->user) : NULL;
    p->team = k->team ? arena_strdup(a, k->team) : NULL;
    p->owner = k->owner ? arena_strdup(a, k->owner) : NULL;
    if (k->n_groups) {
        const char **g = arena_calloc(a, k->n_groups * sizeof *g);
        for (size_t i = 0; i < k->n_groups; i++)
            g[i] = k->groups[i] ? arena_strdup(a, k->groups[i]) : "";
        p->groups = g;
        p->n_groups = k->n_groups;
    }
    p->key = k;
    return p;
}

static bool any_keyed(const cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].n_api_keys) return true;
    return false;
}

static const char *auth_message(client_auth_result_t r)
{
    switch (r) {
    case CLIENT_AUTH_MISSING:
        return "missing API key: send Authorization: Bearer <key> or x-api-key: <key>";
    case CLIENT_AUTH_MALFORMED:
        return "malformed API key: send Authorization: Bearer <key> or x-api-key: <key>, the key "
               "non-empty printable ASCII without spaces";
    case CLIENT_AUTH_TOO_LONG: return "malformed API key: longer than this listener accepts";
    case CLIENT_AUTH_CONFLICT:
        return "conflicting API keys: the Authorization and x-api-key credentials differ";
    default: return "invalid API key";
    }
}

static bool is_messages(const hsrv_req_t *req)
{
    return req->path && strncmp(req->path, "/v1/messages", 12) == 0;
}

bool client_auth_check(const cfg_t *cfg, hsrv_req_t *req)
{
    const cfg_listener_t *li = NULL;
    if (req->listener_index >= 0 && (size_t)req->listener_index < cfg->n_listeners)
        li = &cfg->listeners[req->listener_index];
    client_auth_result_t r;
    const cfg_api_key_t *key = NULL;
    if (li)
        r = client_auth_match(li, req->headers, req->n_headers, &key);
    else /* a listener a reload removed (restart pending): closed if any has keys */
        r = any_keyed(cfg) ? CLIENT_AUTH_INVALID : CLIENT_AUTH_OK;
    if (r == CLIENT_AUTH_OK) {
        if (key) req->principal = principal_of(&req->arena, li, key);
        return true;
    }
    const char *reason = client_auth_reason(r);
    const char *lname = li && li->name ? li->name : "";
    met_inc(tmet.auth_failures_total, 1, lname, reason);
    buf_t ln = BUF_INIT;
    buf_json_str(&ln, lname, strlen(lname));
    tlog(TLOG_WARN, "client_auth_failed", "\"request_id\":\"%s\",\"listener\":%s,\"reason\":\"%s\"",
         req->request_id, ln.data, reason);
    buf_free(&ln);
    const char *msg = auth_message(r);
    if (is_messages(req))
        api_error_anthropic(req, 401, "%s", msg);
    else
        api_error_openai(req, 401, "invalid_request_error", "invalid_api_key", NULL, "%s", msg);
    return false;
}

static bool listed(char *const *v, size_t n, const char *name)
{
    if (!n) return true;
    for (size_t i = 0; i < n && name; i++)
        if (v[i] && !strcmp(v[i], name)) return true;
    return false;
}

bool client_auth_model_allowed(const hsrv_req_t *req, const char *model)
{
    const client_principal_t *p = req->principal;
    return !p || !p->key || listed(p->key->models, p->key->n_models, model);
}

bool client_auth_decision_allowed(const hsrv_req_t *req, const char *decision)
{
    const client_principal_t *p = req->principal;
    return !p || !p->key || listed(p->key->decisions, p->key->n_decisions, decision);
}

void client_auth_forbid(hsrv_req_t *req, rq_proto_t client, bool is_decision, const char *name)
{
    const client_principal_t *p = req->principal;
    const char *kname = p && p->key_name ? p->key_name : "";
    const char *what = is_decision ? "decision" : "model";
    const char *reason = is_decision ? "decision_not_allowed" : "model_not_allowed";
    met_inc(tmet.auth_failures_total, 1, p && p->listener ? p->listener : "", reason);
    buf_t b = BUF_INIT;
    buf_puts(&b, "\"key\":");
    buf_json_str(&b, kname, strlen(kname));
    buf_printf(&b, ",\"%s\":", what);
    buf_json_str(&b, name ? name : "", name ? strlen(name) : 0);
    tlog(TLOG_WARN, "client_auth_forbidden", "\"request_id\":\"%s\",\"reason\":\"%s\",%s",
         req->request_id, reason, b.data);
    buf_free(&b);
    char msg[512];
    if (is_decision)
        snprintf(msg, sizeof msg, "API key '%.100s' may not use decision '%.200s'", kname,
                 name ? name : "");
    else
        snprintf(msg, sizeof msg, "API key '%.100s' may not use model '%.200s'", kname,
                 name ? name : "");
    if (client == RQ_PROTO_ANTHROPIC)
        api_error_anthropic(req, 403, "%s", msg);
    else
        api_error_openai(req, 403, "permission_error", reason, is_decision ? NULL : "model", "%s",
                         msg);
}

void client_auth_route_in(const hsrv_req_t *req, route_in_t *in)
{
    const client_principal_t *p = req->principal;
    if (!p) return;
    in->key_tenant = p->tenant;
    in->key_user = p->user;
    in->key_groups = p->groups;
    in->n_key_groups = p->n_groups;
    in->key_name = p->key_name;
    in->key_team = p->team;
    if (p->key) {
        in->key_metadata = p->key->metadata;
        in->n_key_metadata = p->key->n_metadata;
    }
}

void client_auth_trace(const hsrv_req_t *req, replay_record_t *rec)
{
    const client_principal_t *p = req->principal;
    if (!p || !rec) return;
    buf_t b = BUF_INIT;
    const char *f[][2] = {{"name", p->key_name}, {"owner", p->owner}, {"team", p->team}};
    buf_putc(&b, '{');
    for (size_t i = 0; i < 3; i++) {
        buf_printf(&b, "%s\"%s\":", i ? "," : "", f[i][0]);
        if (f[i][1])
            buf_json_str(&b, f[i][1], strlen(f[i][1]));
        else
            buf_puts(&b, "null");
    }
    buf_puts(&b, ",\"metadata\":{");
    for (size_t i = 0; p->key && i < p->key->n_metadata; i++) {
        const cfg_kv_t *kv = &p->key->metadata[i];
        if (i) buf_putc(&b, ',');
        buf_json_str(&b, kv->name, strlen(kv->name));
        buf_putc(&b, ':');
        buf_json_str(&b, kv->value, strlen(kv->value));
    }
    buf_puts(&b, "}}");
    replay_record_set(&rec->client_key_json, b.data);
    buf_free(&b);
}
