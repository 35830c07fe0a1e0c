/* client_auth.c - enforcement of the listener API keys (see client_auth.h):
 * the credential a request presents (every Bearer authorization and every
 * x-api-key), the constant-time match against the listener's enabled keys,
 * the 401 in the endpoint's shape with its log line and metric, and the
 * matched key's identity handed to routing. Called by app.c before the
 * dispatch of every client endpoint (not /health, /ready). */
#include "api/client_auth.h"
#include "api/agent.h"
#include "api/errors.h"
#include "core/buf.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include <string.h>
#include <strings.h>

bool client_auth_equal(const char *a, size_t an, const char *b, size_t bn)
{
    /* every byte of a is compared, against b repeated, so the time depends
     * on the presented length only; the length difference joins at the end.
     * No division per byte (b's index wraps by a select); the barrier makes
     * d opaque so the result cannot be decided before the loop ends. */
    unsigned char d = 0;
    size_t j = 0;
    for (size_t i = 0; i < an; i++) {
        d |= (unsigned char)(a[i] ^ (bn ? b[j] : 0));
        j = j + 1 == bn ? 0 : j + 1;
    }
    __asm__ volatile("" : "+r"(d));
    return (d | (unsigned char)(an != bn) | (unsigned char)(an == 0)) == 0;
}

static const char *trim(const char *v, size_t *len)
{
    while (*len && (*v == ' ' || *v == '\t'))
        v++, (*len)--;
    while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
        (*len)--;
    return v;
}

/* The key a header presents, or NULL: `authorization: Bearer <key>` (the
 * scheme case-insensitive) or `x-api-key: <key>`. */
static const char *presented(const hsrv_header_t *h, size_t *len)
{
    *len = h->value_len;
    const char *v = h->value ? trim(h->value, len) : NULL;
    if (!v) return NULL;
    if (h->name_len == 9 && !strncasecmp(h->name, "x-api-key", 9)) return v;
    if (h->name_len != 13 || strncasecmp(h->name, "authorization", 13)) return NULL;
    if (*len < 7 || strncasecmp(v, "bearer", 6) || (v[6] != ' ' && v[6] != '\t')) return NULL;
    v += 7;
    *len -= 7;
    return trim(v, len);
}

client_auth_result_t client_auth_match(const cfg_listener_t *li, const hsrv_header_t *h, size_t n,
                                       const cfg_api_key_t **key)
{
    *key = NULL;
    if (!li || !li->n_api_keys) return CLIENT_AUTH_OK;
    bool any = false;
    const cfg_api_key_t *hit = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *v = presented(&h[i], &len);
        if (!v) continue;
        any = true;
        /* no early exit: every enabled key is compared with every credential */
        for (size_t k = 0; k < li->n_api_keys; k++) {
            const cfg_api_key_t *ak = &li->api_keys[k];
            if (!ak->key) continue; /* its variable was unset at load: disabled */
            if (client_auth_equal(v, len, ak->key, strlen(ak->key)) && !hit) hit = ak;
        }
    }
    *key = hit;
    return hit ? CLIENT_AUTH_OK : any ? CLIENT_AUTH_INVALID : CLIENT_AUTH_MISSING;
}

static client_principal_t *principal_of(arena_t *a, const cfg_api_key_t *k)
{
    client_principal_t *p = arena_calloc(a, sizeof *p);
    /* copies: the config generation may be released before the request ends */
    p->key_name = k->name ? arena_strdup(a, k->name) : NULL;
    p->tenant = k->tenant ? arena_strdup(a, k->tenant) : p->key_name;
    p->user = k->user ? arena_strdup(a, k->user) : NULL;
    if (k->n_groups) {
        const char **g = arena_calloc(a, k->n_groups * sizeof *g);
        for (size_t i = 0; i < k->n_groups; i++)
            g[i] = k->groups[i] ? arena_strdup(a, k->groups[i]) : "";
        p->groups = g;
        p->n_groups = k->n_groups;
    }
    return p;
}

static bool any_keyed(const cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].n_api_keys) return true;
    return false;
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
        if (key) req->principal = principal_of(&req->arena, key);
        return true;
    }
    const char *reason = r == CLIENT_AUTH_MISSING ? "missing" : "invalid";
    const char *lname = li && li->name ? li->name : "";
    met_inc(tmet.auth_failures_total, 1, lname, reason);
    buf_t ln = BUF_INIT;
    buf_json_str(&ln, lname, strlen(lname));
    tlog(TLOG_WARN, "client_auth_failed", "\"request_id\":\"%s\",\"listener\":%s,\"reason\":\"%s\"",
         req->request_id, ln.data, reason);
    buf_free(&ln);
    const char *msg = r == CLIENT_AUTH_MISSING
                          ? "missing API key: send Authorization: Bearer <key> or x-api-key: <key>"
                          : "invalid API key";
    if (req->path && strncmp(req->path, "/v1/messages", 12) == 0)
        api_error_anthropic(req, 401, "%s", msg);
    else
        api_error_openai(req, 401, "invalid_request_error", "invalid_api_key", NULL, "%s", msg);
    return false;
}

void client_auth_route_in(const hsrv_req_t *req, route_in_t *in)
{
    const client_principal_t *p = req->principal;
    if (!p) return;
    in->key_tenant = p->tenant;
    in->key_user = p->user;
    in->key_groups = p->groups;
    in->n_key_groups = p->n_groups;
}
