/* listeners.c - the `listeners[]` section: addresses, ports, timeouts and
 * client keys (api_keys.c loads them). No listeners means one
 * default listener on 127.0.0.1:8899. */
#include "config/load.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const cfg_schema_t cfg_schema_listener = {
    "listeners[]",
    (const cfg_field_t[]){
        CFG_FSTR(cfg_listener_t, "name", name, NULL, "listener name (default listener-N)"),
        CFG_FSTR(cfg_listener_t, "address", address, "127.0.0.1", "bind address"),
        CFG_FINT(cfg_listener_t, "port", port, "8899", 1, 65535, "TCP port"),
        CFG_FDUR(cfg_listener_t, "timeout", timeout_ms, "300s",
                 "whole-request deadline; also caps the keep-alive idle time"),
        CFG_FCUSTOM("api_keys", &cfg_schema_api_key, "client keys (see listeners[].api_keys[])"),
        CFG_FSTR(cfg_listener_t, "keys_file", keys_file, NULL,
                 "more keys: a YAML/JSON list of api_keys items (relative to the config); "
                 "re-read on reload"),
        CFG_FSTR(cfg_listener_t, "keys_env", keys_env, NULL,
                 "more keys: an environment variable holding a YAML/JSON list of api_keys items"),
        CFG_FINT(cfg_listener_t, "max_key_bytes", max_key_bytes, "512", 16, 65536,
                 "longest credential accepted (a longer one is a 401 too_long)"),
        {0}},
    "HTTP listeners. No listeners means one on 127.0.0.1:8899.",
};

/* Whether a listener's address is unknown (a sealed load, env.c). */
static bool address_unknown(const cfg_node_t *item)
{
    const cfg_node_t *a = cfg_node_get(item, "address"), *p = cfg_node_get(item, "port");
    return (a && a->env_opaque) || (p && p->env_opaque);
}

void cfg_load_listeners(ld_t *l, const cfg_node_t *n, cfg_t *c)
{
    if (!n || cfg_node_is_null(n) || (n->kind == CFG_NODE_SEQ && n->n == 0)) {
        c->listeners = arena_calloc(l->a, sizeof(cfg_listener_t));
        c->n_listeners = 1;
        ld_defaults(l, &cfg_schema_listener, &c->listeners[0]);
        c->listeners[0].name = arena_strdup(l->a, "default");
        return;
    }
    size_t s0 = ld_push_key(l, "listeners");
    if (!ld_expect_seq(l, n)) {
        ld_pop(l, s0);
        return;
    }
    c->listeners = arena_calloc(l->a, n->n * sizeof(cfg_listener_t));
    for (size_t i = 0; i < n->n; i++) {
        size_t s = ld_push_item(l, n->items[i], i);
        cfg_listener_t *li = &c->listeners[c->n_listeners++];
        ld_section(l, n->items[i], &cfg_schema_listener, li);
        if (!li->name) li->name = arena_sprintf(l->a, "listener-%zu", i + 1);
        if (n->items[i]->kind == CFG_NODE_MAP) cfg_load_api_keys(l, n->items[i], li);
        for (size_t j = 0; j < i; j++) {
            const cfg_listener_t *o = &c->listeners[j];
            const cfg_node_t *nn = cfg_node_get(n->items[i], "name");
            if (o->name && li->name && !strcmp(o->name, li->name))
                ld_err(l, nn ? nn : n->items[i], "duplicate listener name \"%s\"", li->name);
            else if (o->port == li->port && o->address && li->address &&
                     !strcmp(o->address, li->address) && !address_unknown(n->items[i]) &&
                     !address_unknown(n->items[j]))
                ld_err(l, n->items[i], "listener \"%s\" uses the same address %s:%d as \"%s\"",
                       li->name, li->address, li->port, o->name);
        }
        ld_pop(l, s);
    }
    ld_pop(l, s0);
}
