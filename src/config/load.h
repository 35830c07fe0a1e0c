/* load.h - internal: the walking context and typed readers shared by the
 * section files (listeners.c, providers.c, global.c, routing.c, ...). Not part
 * of the public contract. A ld_t is used by one thread for one load. */
#ifndef TETHER_CONFIG_LOAD_H
#define TETHER_CONFIG_LOAD_H
#include "config/config.h"
#include "config/family.h"
#include "config/schema.h"
#include "config/yaml.h"
#include "core/arena.h"

typedef struct ld {
    arena_t *a;       /* the cfg_t's arena: everything loaded lives here */
    const char *file; /* for diagnostics */
    cfg_diags_t *d;
    char path[1024]; /* current YAML path, e.g. providers.models[x].backend_refs[0] */
    size_t plen;
    bool seal_env; /* cfg_load_opts_t.seal_env: never read the environment */
} ld_t;

/* Path stack: push returns the previous length for ld_pop. */
size_t ld_push_key(ld_t *l, const char *key);
size_t ld_push_index(ld_t *l, size_t i);
/* [name] when item is a map with a scalar name, else [i]. */
size_t ld_push_item(ld_t *l, const cfg_node_t *item, size_t i);
/* Append "[name]suffix" ("?" for a NULL name), whole or not at all. */
size_t ld_push_name(ld_t *l, const char *name, const char *suffix);
void ld_pop(ld_t *l, size_t saved);

void ld_err(ld_t *l, const cfg_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ld_warn(ld_t *l, const cfg_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with an explicit path suffix appended to the current path (".key"). */
void ld_err_key(ld_t *l, const cfg_node_t *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *ld_kind_name(const cfg_node_t *n);
/* Type checks that report "expected a mapping/list" and return false. */
bool ld_expect_map(ld_t *l, const cfg_node_t *n);
bool ld_expect_seq(ld_t *l, const cfg_node_t *n);

/* Typed readers: n is the value node, the current path names it. On error a
 * diagnostic is added and false returned (out untouched). */
bool ld_str(ld_t *l, const cfg_node_t *n, char **out);
bool ld_bool(ld_t *l, const cfg_node_t *n, bool *out);
bool ld_int(ld_t *l, const cfg_node_t *n, int64_t min, int64_t max, int64_t *out);
bool ld_double(ld_t *l, const cfg_node_t *n, double *out);
bool ld_strlist(ld_t *l, const cfg_node_t *n, char ***out, size_t *count);
/* map's key, a string among choices ("a|b|c"): its position; -1 when the
 * key is absent, or after an error (not a string, not one of choices). */
int ld_choice(ld_t *l, const cfg_node_t *map, const char *key, const char *choices);

/* Open the optional section n at key: false when it is absent or null, or
 * (after an error) not a mapping; true with key pushed (*mark, for ld_pop)
 * and its keys checked against sch. */
bool ld_open_map(ld_t *l, const cfg_node_t *n, const char *key, const cfg_schema_t *sch,
                 size_t *mark);
/* Warn on keys of map not in s (with did-you-mean). */
void ld_check_keys(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s);
/* Apply every default of s into out (generic field types only). */
void ld_defaults(ld_t *l, const cfg_schema_t *s, void *out);
/* Defaults, key check, then every generic field present in map. map may be
 * NULL (defaults only). Returns false when map is not a mapping. Required
 * fields (CFG_FF_REQUIRED) that are missing are reported. */
bool ld_section(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out);
/* The same with CFG_FF_OPT fields stored in opts (a family member's own
 * options block; such fields are skipped when opts is NULL). */
bool ld_section_opts(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out, void *opts);
/* The same without applying defaults first (per-decision overrides). */
bool ld_section_overlay(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out);

/* The options block of store k's backend `name` (family.h): map's key
 * <name> loaded with the backend's table into a block from the arena, its
 * defaults applied when the key is absent. NULL when the backend has no
 * options (stores.c). */
const void *cfg_store_load_opts(ld_t *l, cfg_store_kind_t k, const cfg_node_t *map,
                                const char *name);

/* The per-section loaders (one file each). */
void cfg_load_listeners(ld_t *l, const cfg_node_t *n, cfg_t *c);
/* The api_keys and keys_file of listener item into li (api_keys.c). */
void cfg_load_api_keys(ld_t *l, const cfg_node_t *item, cfg_listener_t *li);
/* Warn about key models / decisions that name nothing (after routing). */
void cfg_validate_api_keys(ld_t *l, const cfg_t *c);
void cfg_load_providers(ld_t *l, const cfg_node_t *n, cfg_t *c);
void cfg_load_global(ld_t *l, const cfg_node_t *n, cfg_t *c);
void cfg_load_global_ext(ld_t *l, const cfg_node_t *global, cfg_t *c);
void cfg_load_routing_all(ld_t *l, const cfg_node_t *root, cfg_t *c);
void cfg_validate_refs(ld_t *l, const cfg_node_t *root, cfg_t *c);
/* "<what> "x" is not a declared model (did you mean "y"?)" at at. */
void cfg_validate_unknown_model(ld_t *l, const cfg_t *c, const cfg_node_t *at, const char *what,
                                const char *name);

/* Expand ${VAR}, ${VAR:-default} and $$ in every scalar value (not keys) of
 * the tree, in place. Errors name the variable and its position. Every value
 * taken from the environment, and the value of every secret key, becomes a
 * secret of l->d (cfg_diags_add_secret). Sealed (l->seal_env): the
 * environment is not read; see cfg_load_opts_t. */
void cfg_env_expand_tree(ld_t *l, cfg_node_t *root);
/* The value of environment variable var for a *_env setting (a credential),
 * registered as a secret of l->d; NULL when unset or empty, and always NULL
 * when the environment is sealed (check l->seal_env before warning). */
const char *ld_env_secret(ld_t *l, const char *var);

extern const cfg_schema_t cfg_schema_root, cfg_schema_listener, cfg_schema_api_key,
    cfg_schema_providers, cfg_schema_provider_defaults, cfg_schema_reasoning_family,
    cfg_schema_model, cfg_schema_pricing, cfg_schema_backend_ref, cfg_schema_reliability,
    cfg_schema_timeouts, cfg_schema_health_check, cfg_schema_global, cfg_schema_router,
    cfg_schema_limits, cfg_schema_services, cfg_schema_logging, cfg_schema_session,
    cfg_schema_session_identity, cfg_schema_redis, cfg_schema_stores, cfg_schema_store_session,
    cfg_schema_store_responses, cfg_schema_store_cache, cfg_schema_replay, cfg_schema_metrics,
    cfg_schema_mgmt, cfg_schema_mgmt_token, cfg_schema_authz, cfg_schema_tracing,
    cfg_schema_classifier, cfg_schema_embeddings, cfg_schema_model_catalog, cfg_schema_rate_limit,
    cfg_schema_budget, cfg_schema_store_limits;

/* limits.c: global.services.rate_limits[] and budgets[] (services: the
 * global.services mapping or NULL), and their references to models and
 * decisions once routing is loaded. */
struct cfg_services;
void cfg_load_limits(ld_t *l, const cfg_node_t *services, struct cfg_services *sv);
void cfg_validate_limits(ld_t *l, const cfg_node_t *root, const cfg_t *c);
#endif
