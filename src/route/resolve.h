/* resolve.h - resolve a request's `model` to a configured model (SPEC §4.1):
 * an auto name routes (for now to providers.defaults.default_model), a
 * configured model name passes through, anything else is unknown.
 * Pure functions over an immutable config; thread-safe. */
#ifndef TETHER_ROUTE_RESOLVE_H
#define TETHER_ROUTE_RESOLVE_H
#include "config/config.h"
#include "core/buf.h"

typedef enum {
    ROUTE_RESOLVE_AUTO = 1,    /* auto name: routed */
    ROUTE_RESOLVE_PASSTHROUGH, /* a configured model name */
    ROUTE_RESOLVE_UNKNOWN,
    ROUTE_RESOLVE_NO_DEFAULT, /* auto name but no usable default model */
} route_resolve_t;

/* name is the unescaped model string. On AUTO/PASSTHROUGH *out is the model. */
route_resolve_t route_resolve_model(const cfg_t *cfg, const char *name, size_t len,
                                    const cfg_model_t **out);
/* "auto, MoM, tether/auto, model-a, model-b" */
void route_valid_names(const cfg_t *cfg, buf_t *out);
#endif
