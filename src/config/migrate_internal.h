/* migrate_internal.h - private to `tether config migrate` (migrate*.c): the
 * state of one migration and the helpers its parts share. Not for other
 * modules; the public API is config/migrate.h. */
#ifndef TETHER_CONFIG_MIGRATE_INTERNAL_H
#define TETHER_CONFIG_MIGRATE_INTERNAL_H
#include "config/load.h"
#include "config/migrate.h"
#include "config/yaml.h"
#include "core/arena.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct origin {
    const cfg_node_t *node; /* node of the new tree */
    const char *path;       /* old path */
    int line, col;          /* in the old file */
} origin_t;

typedef struct endpoint {
    const cfg_node_t *node;
    char *name, *endpoint, *base_url, *profile;
    const cfg_node_t *weight, *models;
    size_t index;
} endpoint_t;

typedef struct mg {
    arena_t *a;
    const char *old_name;
    cfg_diags_t *notes;
    const cfg_node_t *old;
    origin_t *orig;
    size_t n_orig, cap_orig;
    endpoint_t *eps;
    size_t n_eps;
    const cfg_node_t *profiles; /* provider_profiles */
    cfg_node_t *root, *providers, *defaults, *models, *routing, *cards, *signals, *decisions,
        *global;
    const char *default_model;
    bool *consumed; /* per top-level key of old */
} mg_t;

/* migrate_tree.c: new nodes (arena of g), origins, the old tree, notes */
cfg_node_t *mg_map(mg_t *g);
cfg_node_t *mg_seq(mg_t *g);
cfg_node_t *mg_str(mg_t *g, const char *s);
/* Remember that new node n came from old path (at old's position). */
void mg_mark(mg_t *g, const cfg_node_t *n, const char *path, const cfg_node_t *old);
/* Deep copy of an old node, every node remembered as coming from path. */
cfg_node_t *mg_take(mg_t *g, const cfg_node_t *old, const char *path);
/* map[key] of the given kind, created (replacing another kind) when missing. */
cfg_node_t *mg_child(mg_t *g, cfg_node_t *map, const char *key, cfg_node_kind_t kind);
/* A warning at the old node at (path in the old file). */
void mg_note(mg_t *g, const cfg_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* parent.key */
const char *mg_pkey(mg_t *g, const char *parent, const char *key);
/* parent[name] when the item has a plain name, else parent[i]. */
const char *mg_pitem(mg_t *g, const char *parent, const cfg_node_t *item, size_t i);
/* mg_pitem's path of item when it is a mapping, else NULL after noting
 * "expected a mapping; ignored". */
const char *mg_map_item(mg_t *g, const char *parent, const cfg_node_t *item, size_t i);
/* Mark top-level key of the old file as handled (not a loose key). */
void mg_consume(mg_t *g, const char *key);
/* Top-level old[key], consumed; *path (when given) is set to key. */
const cfg_node_t *mg_old_get(mg_t *g, const char *key, const char **path);
/* Copy the keys of old map src that schema s accepts into dst; note the
 * others as dropped (except those listed in used, which the caller maps). */
void mg_copy_known(mg_t *g, cfg_node_t *dst, const cfg_node_t *src, const char *path,
                   const cfg_schema_t *s, const char *const *used);
void mg_set_str(mg_t *g, cfg_node_t *map, const char *key, const char *val);
/* seq is a list holding the scalar s. */
bool mg_seq_has(const cfg_node_t *seq, const char *s);
/* A decision plugin {type, configuration: conf}. */
cfg_node_t *mg_plugin(mg_t *g, const char *type, cfg_node_t *conf);
/* A response_cache plugin in semantic mode with configuration conf, taking
 * the old similarity_threshold th (at parent.th_key) when there is one. */
cfg_node_t *mg_semantic_cache(mg_t *g, cfg_node_t *conf, const cfg_node_t *th, const char *parent,
                              const char *th_key);
/* The plugin of that type in list plugins, or NULL. */
cfg_node_t *mg_find_plugin(cfg_node_t *plugins, const char *type);

/* migrate_providers.c */
void mg_read_endpoints(mg_t *g); /* vllm_endpoints into g->eps; before mg_migrate_models */
void mg_migrate_models(mg_t *g); /* model_config -> providers.models + routing.modelCards */

/* migrate_signals.c */
void mg_migrate_signals(mg_t *g);      /* signals, X_rules, categories, decisions */
void mg_migrate_prompt_guard(mg_t *g); /* prompt_guard -> a jailbreak rule + decision */

/* migrate_layout.c: build g->root from g->old */
void mg_convert(mg_t *g);
#endif
