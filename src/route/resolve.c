/* resolve.c - model-name resolution for routed endpoints. */
#include "route/resolve.h"
#include <string.h>

route_resolve_t route_resolve_model(const cfg_t *cfg, const char *name, size_t len,
                                    const cfg_model_t **out)
{
    *out = NULL;
    if (cfg_is_auto_name(cfg, name, len)) {
        const char *d = cfg->providers.default_model;
        if (!d) return ROUTE_RESOLVE_NO_DEFAULT;
        *out = cfg_find_model(cfg, d, strlen(d));
        return *out ? ROUTE_RESOLVE_AUTO : ROUTE_RESOLVE_NO_DEFAULT;
    }
    *out = cfg_find_model(cfg, name, len);
    return *out ? ROUTE_RESOLVE_PASSTHROUGH : ROUTE_RESOLVE_UNKNOWN;
}

void route_valid_names(const cfg_t *cfg, buf_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < cfg->router.n_auto_model_names; i++, k++) {
        if (k) buf_puts(out, ", ");
        buf_puts(out, cfg->router.auto_model_names[i]);
    }
    for (size_t i = 0; i < cfg->providers.n_models; i++, k++) {
        if (k) buf_puts(out, ", ");
        buf_puts(out, cfg->providers.models[i].name);
    }
}
