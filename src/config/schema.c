/* schema.c - the list of field tables, with the family members' tables
 * spliced in from their registries (family.h), and the markdown reference
 * that docs/configuration.md embeds (a unit test keeps the two identical). */
#include "config/family.h"
#include "config/load.h"
#include <pthread.h>
#include <string.h>

extern const cfg_schema_t cfg_schema_routing, cfg_schema_model_card, cfg_schema_projections,
    cfg_schema_partition, cfg_schema_score, cfg_schema_mapping, cfg_schema_decision,
    cfg_schema_rule, cfg_schema_model_ref, cfg_schema_emit, cfg_schema_retention,
    cfg_schema_entrypoint, cfg_schema_recipe, cfg_schema_recipe_routing;

/* Markers: where the members' tables go, each after the table that lists
 * them (replaced by build_all). */
static const cfg_schema_t signal_families = {"signal families", NULL, NULL},
                          algorithms = {"algorithms", NULL, NULL},
                          plugin_kinds = {"plugin kinds", NULL, NULL},
                          session_backends = {"session store backends", NULL, NULL},
                          responses_backends = {"Responses store backends", NULL, NULL},
                          cache_backends = {"response cache backends", NULL, NULL},
                          replay_backends = {"replay store backends", NULL, NULL};

static const cfg_schema_t *const order[] = {
    &cfg_schema_root,
    &cfg_schema_listener,
    &cfg_schema_api_key,
    &cfg_schema_providers,
    &cfg_schema_provider_defaults,
    &cfg_schema_reasoning_family,
    &cfg_schema_model,
    &cfg_schema_pricing,
    &cfg_schema_backend_ref,
    &cfg_schema_reliability,
    &cfg_schema_timeouts,
    &cfg_schema_health_check,
    &cfg_schema_routing,
    &cfg_schema_model_card,
    &cfg_schema_signals,
    &signal_families,
    &cfg_schema_projections,
    &cfg_schema_partition,
    &cfg_schema_score,
    &cfg_schema_mapping,
    &cfg_schema_decision,
    &cfg_schema_rule,
    &cfg_schema_model_ref,
    &cfg_schema_algorithm,
    &algorithms,
    &cfg_schema_plugin,
    &plugin_kinds,
    &cfg_schema_emit,
    &cfg_schema_retention,
    &cfg_schema_entrypoint,
    &cfg_schema_recipe,
    &cfg_schema_recipe_routing,
    &cfg_schema_global,
    &cfg_schema_router,
    &cfg_schema_limits,
    &cfg_schema_session,
    &cfg_schema_session_identity,
    &cfg_schema_stores,
    &cfg_schema_store_session,
    &session_backends,
    &cfg_schema_store_responses,
    &responses_backends,
    &cfg_schema_store_cache,
    &cache_backends,
    &cfg_schema_store_limits,
    &cfg_schema_redis,
    &cfg_schema_services,
    &cfg_schema_replay,
    &replay_backends,
    &cfg_schema_metrics,
    &cfg_schema_mgmt,
    &cfg_schema_mgmt_token,
    &cfg_schema_authz,
    &cfg_schema_tracing,
    &cfg_schema_logging,
    &cfg_schema_rate_limit,
    &cfg_schema_budget,
    &cfg_schema_model_catalog,
    &cfg_schema_embeddings,
    &cfg_schema_classifier,
    NULL,
};

static const cfg_schema_t *all[sizeof order / sizeof *order + CFG_SIG_MAX + 96];
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

/* The options tables of store k's backends that declare options. */
static void add_backends(cfg_store_kind_t k, size_t *n)
{
    size_t nb;
    const char *const *names = cfg_store_backend_names(k, &nb);
    for (size_t i = 0; i < nb; i++) {
        const cfg_schema_t *b = cfg_store_backend_schema(k, names[i]);
        if (b) all[(*n)++] = b;
    }
}

static void build_all(void)
{
    size_t n = 0, n_types;
    const char *const *types = cfg_plugin_types(&n_types);
    for (const cfg_schema_t *const *s = order; *s; s++) {
        if (*s == &signal_families)
            for (size_t k = 0; k < cfg_signal_family_count(); k++)
                all[n++] = cfg_signal_schema((cfg_signal_family_t)k);
        else if (*s == &algorithms)
            for (size_t k = 0; k < cfg_selector_count(); k++)
                all[n++] = cfg_selector_schema(k);
        else if (*s == &plugin_kinds)
            for (size_t k = 0; k < n_types; k++) {
                const cfg_schema_t *p = cfg_plugin_schema(types[k]);
                if (p) all[n++] = p; /* only plugins that declare their keys */
            }
        else if (*s == &session_backends)
            add_backends(CFG_STORE_SESSION, &n);
        else if (*s == &responses_backends)
            add_backends(CFG_STORE_RESPONSES, &n);
        else if (*s == &cache_backends)
            add_backends(CFG_STORE_RESPONSE_CACHE, &n);
        else if (*s == &replay_backends)
            add_backends(CFG_STORE_REPLAY, &n);
        else
            all[n++] = *s;
    }
    all[n] = NULL;
}

const cfg_schema_t *const *cfg_schema_all(void)
{
    pthread_once(&all_once, build_all);
    return all;
}

const cfg_field_t *cfg_schema_field(const cfg_schema_t *s, const char *key)
{
    for (const cfg_field_t *f = s->fields; f->key; f++)
        if (!strcmp(f->key, key)) return f;
    return NULL;
}

static const char *type_name(const cfg_field_t *f)
{
    switch (f->type) {
    case CFG_F_STR: return "string";
    case CFG_F_ENUM: return "enum";
    case CFG_F_BOOL: return "bool";
    case CFG_F_INT:
    case CFG_F_U64: return "integer";
    case CFG_F_DOUBLE: return "number";
    case CFG_F_DURATION: return "duration";
    case CFG_F_SIZE: return "size";
    case CFG_F_TOKENS: return "tokens";
    case CFG_F_STRLIST: return "list of strings";
    case CFG_F_SECTION: return "mapping";
    case CFG_F_NODE: return "free-form";
    case CFG_F_CUSTOM: return f->sub ? "mapping/list" : "see text";
    }
    return "?";
}

static void cell(buf_t *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            buf_puts(out, "\\|");
        else
            buf_putc(out, *s);
    }
}

void cfg_schema_markdown(buf_t *out)
{
    for (const cfg_schema_t *const *s = cfg_schema_all(); *s; s++) {
        buf_printf(out, "### `%s`\n\n", (*s)->path);
        if ((*s)->doc) buf_printf(out, "%s\n\n", (*s)->doc);
        buf_puts(out, "| key | type | default | description |\n|---|---|---|---|\n");
        for (const cfg_field_t *f = (*s)->fields; f->key; f++) {
            buf_printf(out, "| `%s` | %s | ", f->key, type_name(f));
            if (f->def) {
                buf_putc(out, '`');
                cell(out, f->def);
                buf_putc(out, '`');
            } else if (f->flags & CFG_FF_REQUIRED) {
                buf_puts(out, "required");
            } else {
                buf_puts(out, "-");
            }
            buf_puts(out, " | ");
            cell(out, f->doc);
            if (f->type == CFG_F_ENUM && f->choices) {
                buf_puts(out, " (");
                cell(out, f->choices);
                buf_putc(out, ')');
            }
            if (f->min < f->max) buf_printf(out, " [%g..%g]", f->min, f->max);
            if (f->flags & CFG_FF_UNIT) buf_puts(out, " [0..1]");
            if (f->flags & CFG_FF_NONNEG) buf_puts(out, " (>= 0)");
            buf_puts(out, " |\n");
        }
        buf_putc(out, '\n');
    }
}
