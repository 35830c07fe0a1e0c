/* keys_api.c - GET /v1/keys on the management listener (viewer role): the
 * client keys of every listener with their name, owner, team, tenant, user,
 * groups, allowed models and decisions, metadata, where they came from
 * (config or the keys_file) and whether they are enabled. Never the secret
 * nor its digest, and never the variable's value. Read-only: keys change
 * through the config or the keys_file and a reload. */
#include "admin/mgmt.h"
#include "core/buf.h"
#include <string.h>

static void str_or_null(buf_t *b, const char *k, const char *v)
{
    buf_printf(b, ",\"%s\":", k);
    if (v)
        buf_json_str(b, v, strlen(v));
    else
        buf_puts(b, "null");
}

static void str_list(buf_t *b, const char *k, char *const *v, size_t n)
{
    buf_printf(b, ",\"%s\":[", k);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
    }
    buf_putc(b, ']');
}

static void key_json(buf_t *b, const cfg_listener_t *li, const cfg_api_key_t *k)
{
    buf_puts(b, "{\"listener\":");
    buf_json_str(b, li->name ? li->name : "", li->name ? strlen(li->name) : 0);
    str_or_null(b, "name", k->name);
    str_or_null(b, "owner", k->owner);
    str_or_null(b, "team", k->team);
    str_or_null(b, "tenant", k->tenant);
    str_or_null(b, "user", k->user);
    str_list(b, "groups", k->groups, k->n_groups);
    str_list(b, "models", k->models, k->n_models);
    str_list(b, "decisions", k->decisions, k->n_decisions);
    buf_puts(b, ",\"metadata\":{");
    for (size_t i = 0; i < k->n_metadata; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, k->metadata[i].name, strlen(k->metadata[i].name));
        buf_putc(b, ':');
        buf_json_str(b, k->metadata[i].value, strlen(k->metadata[i].value));
    }
    buf_putc(b, '}');
    str_or_null(b, "source", k->source);
    buf_printf(b, ",\"enabled\":%s}", k->has_digest ? "true" : "false");
}

static void h_keys(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"generation\":%llu,\"keys\":[", (unsigned long long)cfg->generation);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const cfg_listener_t *li = &cfg->listeners[i];
        for (size_t j = 0; j < li->n_api_keys; j++) {
            if (n++) buf_putc(&b, ',');
            key_json(&b, li, &li->api_keys[j]);
        }
    }
    buf_puts(&b, "]}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void mgmt_register_keys(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_GET, "/v1/keys", MGMT_VIEWER, h_keys, app);
}
