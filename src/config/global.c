/* global.c - the `global` section: router behaviour and limits, logging,
 * and (in global_ext.c) stores, services, session policy and the model
 * catalog. */
#include "config/load.h"
#include <stddef.h>
#include <string.h>

extern const cfg_schema_t cfg_schema_session, cfg_schema_stores, cfg_schema_replay,
    cfg_schema_metrics, cfg_schema_mgmt, cfg_schema_authz, cfg_schema_tracing,
    cfg_schema_model_catalog;

CFG_SCHEMA(cfg_schema_limits, "global.router.limits", "Request limits and server timeouts.",
           CFG_FSIZE(cfg_limits_t, "max_body_bytes", max_body_bytes, "32MiB",
                     "largest request body accepted (413 above)"),
           CFG_FSIZE(cfg_limits_t, "max_header_bytes", max_header_bytes, "64KiB",
                     "largest request head accepted (431 above)"),
           CFG_FDUR(cfg_limits_t, "header_timeout", header_timeout_ms, "10s",
                    "time to receive a request head, from accept or from the "
                    "first byte of a request on a kept-alive connection"),
           CFG_FDUR(cfg_limits_t, "body_timeout", body_timeout_ms, "60s",
                    "time to receive the request body"),
           CFG_FI64(cfg_limits_t, "max_connections", max_connections, "4096", 1, 10000000,
                    "open client connections per process (each worker holds its "
                    "share); at the limit the oldest idle one, else the longest-"
                    "arriving request head, is closed to admit a new one"),
           CFG_FI64(cfg_limits_t, "max_connections_per_address", max_connections_per_address, "0",
                    0, 10000000,
                    "open client connections from one client address (IPv4, or IPv6); "
                    "a new one above it is answered 429 and closed. 0: no limit (a "
                    "proxy or NAT in front puts every client behind one address)"),
           CFG_FDUR(cfg_limits_t, "keepalive_timeout", keepalive_ms, "60s",
                    "idle time allowed between requests on a kept-alive "
                    "connection (at most the listener's timeout)"),
           CFG_FI64(cfg_limits_t, "max_empty_lines", max_empty_lines, "4", 1, 1000,
                    "empty lines tolerated before a request line (400 above)"),
           CFG_FDUR(cfg_limits_t, "signal_timeout", signal_timeout_ms, "250ms",
                    "deadline of a request's external classifier calls; "
                    "late ones fall back to the heuristic"),
           CFG_FDUR(cfg_limits_t, "shutdown_grace", shutdown_grace_ms, "30s",
                    "drain time on SIGTERM"),
           CFG_FI64(cfg_limits_t, "max_messages", max_messages, "10000", 1, 100000000,
                    "most messages (or Responses input items) in one request "
                    "(413 above)"));

CFG_SCHEMA(cfg_schema_router, "global.router", "Router behaviour.",
           CFG_FLISTN(cfg_router_t, "auto_model_names", auto_model_names, n_auto_model_names,
                      "[auto, MoM, tether/auto]", "model names that ask the router to choose"),
           CFG_FBOOL(cfg_router_t, "include_config_models_in_list", include_config_models_in_list,
                     "true", "GET /v1/models lists the configured models too"),
           CFG_FBOOL(cfg_router_t, "compat_headers", compat_headers, "true",
                     "emit the reference router's x-vsr-* response headers"),
           CFG_FBOOL(cfg_router_t, "debug_headers", debug_headers, "false",
                     "emit x-tether-debug-* headers"),
           CFG_FSUB(cfg_router_t, "limits", limits, cfg_schema_limits, "see global.router.limits"),
           CFG_FCUSTOM("session", &cfg_schema_session,
                       "session policy (see global.router.session)"));

CFG_SCHEMA(cfg_schema_logging, "global.services.logging",
           "Logs on stderr (serve reads them at start).",
           CFG_FENUM(cfg_logging_t, "level", level, "info", "debug|info|warn|error|off",
                     "minimum level logged"),
           CFG_FENUM(cfg_logging_t, "format", format, "json", "json|text",
                     "json: one JSON object per line; text: `<ts> <LEVEL> <event> "
                     "key=value ...` (values with spaces, quotes or = as JSON "
                     "strings)"),
           CFG_FBOOL(cfg_logging_t, "access_log", access_log, "true",
                     "one `access` line per request on the inference listeners "
                     "(request id, key name, decision, model, backend, status, "
                     "latency, tokens, cost; never headers, bodies or keys)"));

CFG_SCHEMA(cfg_schema_services, "global.services", "Services around the router.",
           CFG_FCUSTOM("router_replay", &cfg_schema_replay, "see global.services.router_replay"),
           CFG_FCUSTOM("metrics", &cfg_schema_metrics, "see global.services.metrics"),
           CFG_FCUSTOM("management_api", &cfg_schema_mgmt, "see global.services.management_api"),
           CFG_FCUSTOM("authz", &cfg_schema_authz, "see global.services.authz"),
           CFG_FCUSTOM("tracing", &cfg_schema_tracing, "see global.services.tracing"),
           CFG_FCUSTOM("logging", &cfg_schema_logging, "see global.services.logging"),
           CFG_FCUSTOM("rate_limits", &cfg_schema_rate_limit, "see global.services.rate_limits[]"),
           CFG_FCUSTOM("budgets", &cfg_schema_budget, "see global.services.budgets[]"));

CFG_SCHEMA(cfg_schema_global, "global", "Process-wide settings.",
           CFG_FCUSTOM("router", &cfg_schema_router, "see global.router"),
           CFG_FCUSTOM("stores", &cfg_schema_stores, "see global.stores"),
           CFG_FCUSTOM("services", &cfg_schema_services, "see global.services"),
           CFG_FCUSTOM("model_catalog", &cfg_schema_model_catalog, "see global.model_catalog"));

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
