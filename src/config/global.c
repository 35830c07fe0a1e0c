/* global.c - the `global` section: router behaviour and limits, logging,
 * and (in global_ext.c) stores, services, session policy and the model
 * catalog. */
#include "config/load.h"
#include <stddef.h>
#include <string.h>

extern const cfg_schema_t cfg_schema_session, cfg_schema_stores, cfg_schema_replay,
    cfg_schema_metrics, cfg_schema_mgmt, cfg_schema_authz, cfg_schema_model_catalog;

const cfg_schema_t cfg_schema_limits = {
    "global.router.limits",
    (const cfg_field_t[]){{.key = "max_body_bytes",
                           .type = CFG_F_SIZE,
                           .off = offsetof(cfg_limits_t, max_body_bytes),
                           .def = "32MiB",
                           .doc = "largest request body accepted (413 above)"},
                          {.key = "max_header_bytes",
                           .type = CFG_F_SIZE,
                           .off = offsetof(cfg_limits_t, max_header_bytes),
                           .def = "64KiB",
                           .doc = "largest request head accepted (431 above)"},
                          {.key = "header_timeout",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_limits_t, header_timeout_ms),
                           .def = "10s",
                           .doc = "time to receive a request head, from accept or from the "
                                  "first byte of a request on a kept-alive connection"},
                          {.key = "body_timeout",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_limits_t, body_timeout_ms),
                           .def = "60s",
                           .doc = "time to receive the request body"},
                          {.key = "max_connections",
                           .type = CFG_F_U64,
                           .off = offsetof(cfg_limits_t, max_connections),
                           .def = "4096",
                           .min = 1,
                           .max = 10000000,
                           .doc = "open client connections per process; at the limit the "
                                  "oldest idle one is closed to admit a new one"},
                          {.key = "keepalive_timeout",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_limits_t, keepalive_ms),
                           .def = "60s",
                           .doc = "idle time allowed between requests on a kept-alive "
                                  "connection (at most the listener's timeout)"},
                          {.key = "max_empty_lines",
                           .type = CFG_F_U64,
                           .off = offsetof(cfg_limits_t, max_empty_lines),
                           .def = "4",
                           .min = 1,
                           .max = 1000,
                           .doc = "empty lines tolerated before a request line (400 above)"},
                          {.key = "signal_timeout",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_limits_t, signal_timeout_ms),
                           .def = "250ms",
                           .doc = "not supported yet (setting it warns): signals run to "
                                  "completion"},
                          {.key = "shutdown_grace",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_limits_t, shutdown_grace_ms),
                           .def = "30s",
                           .doc = "drain time on SIGTERM"},
                          {.key = "max_messages",
                           .type = CFG_F_U64,
                           .off = offsetof(cfg_limits_t, max_messages),
                           .def = "10000",
                           .min = 1,
                           .max = 100000000,
                           .doc = "most messages (or Responses input items) in one request "
                                  "(413 above)"},
                          {0}},
    "Request limits and server timeouts.",
};

const cfg_schema_t cfg_schema_router = {
    "global.router",
    (const cfg_field_t[]){{.key = "auto_model_names",
                           .type = CFG_F_STRLIST,
                           .off = offsetof(cfg_router_t, auto_model_names),
                           .off2 = offsetof(cfg_router_t, n_auto_model_names),
                           .def = "[auto, MoM, tether/auto]",
                           .doc = "model names that ask the router to choose"},
                          {.key = "include_config_models_in_list",
                           .type = CFG_F_BOOL,
                           .off = offsetof(cfg_router_t, include_config_models_in_list),
                           .def = "true",
                           .doc = "GET /v1/models lists the configured models too"},
                          {.key = "compat_headers",
                           .type = CFG_F_BOOL,
                           .off = offsetof(cfg_router_t, compat_headers),
                           .def = "true",
                           .doc = "emit the reference router's x-vsr-* response headers"},
                          {.key = "debug_headers",
                           .type = CFG_F_BOOL,
                           .off = offsetof(cfg_router_t, debug_headers),
                           .def = "false",
                           .doc = "emit x-tether-debug-* headers"},
                          {.key = "limits",
                           .type = CFG_F_SECTION,
                           .off = offsetof(cfg_router_t, limits),
                           .sub = &cfg_schema_limits,
                           .doc = "see global.router.limits"},
                          {.key = "session",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_session,
                           .doc = "session policy (see global.router.session)"},
                          {0}},
    "Router behaviour.",
};

const cfg_schema_t cfg_schema_logging = {
    "global.services.logging",
    (const cfg_field_t[]){{.key = "level",
                           .type = CFG_F_ENUM,
                           .off = offsetof(cfg_logging_t, level),
                           .def = "info",
                           .choices = "debug|info|warn|error|off",
                           .doc = "minimum level logged"},
                          {.key = "format",
                           .type = CFG_F_ENUM,
                           .off = offsetof(cfg_logging_t, format),
                           .def = "json",
                           .choices = "json|text",
                           .doc = "json: one JSON object per line; text: `<ts> <LEVEL> <event> "
                                  "key=value ...` (values with spaces, quotes or = as JSON "
                                  "strings)"},
                          {0}},
    "Logs on stderr (serve reads them at start).",
};

const cfg_schema_t cfg_schema_services = {
    "global.services",
    (const cfg_field_t[]){{.key = "router_replay",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_replay,
                           .doc = "see global.services.router_replay"},
                          {.key = "metrics",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_metrics,
                           .doc = "see global.services.metrics"},
                          {.key = "management_api",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_mgmt,
                           .doc = "see global.services.management_api"},
                          {.key = "authz",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_authz,
                           .doc = "see global.services.authz"},
                          {.key = "logging",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_logging,
                           .doc = "see global.services.logging"},
                          {0}},
    "Services around the router.",
};

const cfg_schema_t cfg_schema_global = {
    "global",
    (const cfg_field_t[]){{.key = "router",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_router,
                           .doc = "see global.router"},
                          {.key = "stores",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_stores,
                           .doc = "see global.stores"},
                          {.key = "services",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_services,
                           .doc = "see global.services"},
                          {.key = "model_catalog",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_model_catalog,
                           .doc = "see global.model_catalog"},
                          {0}},
    "Process-wide settings.",
};

void cfg_load_global(ld_t *l, const cfg_node_t *n, cfg_t *c)
{
    size_t s0 = ld_push_key(l, "global");
    ld_defaults(l, &cfg_schema_router, &c->router);
    ld_defaults(l, &cfg_schema_logging, &c->logging);
    if (n && !cfg_node_is_null(n) && ld_expect_map(l, n)) {
        ld_check_keys(l, n, &cfg_schema_global);
        const cfg_node_t *r = cfg_node_get(n, "router");
        size_t s = ld_push_key(l, "router");
        ld_section(l, r, &cfg_schema_router, &c->router);
        const cfg_node_t *st = cfg_node_get(cfg_node_get(r, "limits"), "signal_timeout");
        if (st) {
            size_t s2 = ld_push_key(l, "limits.signal_timeout");
            ld_warn(l, st,
                    "not supported yet: signals run to completion (the value is kept, not "
                    "enforced)");
            ld_pop(l, s2);
        }
        ld_pop(l, s);
        const cfg_node_t *sv = cfg_node_get(n, "services");
        s = ld_push_key(l, "services");
        if (sv && !cfg_node_is_null(sv) && ld_expect_map(l, sv)) {
            ld_check_keys(l, sv, &cfg_schema_services);
            size_t s2 = ld_push_key(l, "logging");
            ld_section(l, cfg_node_get(sv, "logging"), &cfg_schema_logging, &c->logging);
            ld_pop(l, s2);
        }
        ld_pop(l, s);
    }
    cfg_load_global_ext(l, n && n->kind == CFG_NODE_MAP ? n : NULL, c);
    if (c->router.n_auto_model_names == 0)
        ld_warn(l, n, "auto_model_names is empty: clients cannot ask the router to choose");
    ld_pop(l, s0);
}
