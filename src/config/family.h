/* family.h - what a member of a family (a signal family, a selection
 * algorithm, a plugin, a store backend) declares about itself for the config: its name, its
 * YAML key, its field table and docs, its flags, its migrate hints, and a
 * pointer to its operations, whose type belongs to the member's own folder.
 *
 * Each member is one file in its folder (signals/, select/, plugins/,
 * replay/, session/, api/) that defines one descriptor next to its
 * operations; each family lists its members, one line each, in one registry
 * (signals/registry.h, select/registry.h, plugins/registry.h,
 * replay/registry.h, session/registry.h, api/response_store_registry.h,
 * plugins/response_cache_registry.h). Those folders sit above config/ in
 * the layer order, so config/ never includes them: it reads the registries
 * through the extern arrays declared here, which the registry files define
 * (a link-time dependency). Loading, unknown-key checks with did-you-mean,
 * migrate, the DSL and the generated reference all read the registries.
 *
 * Every rule table starts with `name`, `description` and, when the family
 * sets `threshold`, `threshold` (fields of cfg_signal_t the config adds
 * itself). A family's other options may live in its own struct: set
 * opts_size and mark their fields CFG_FF_OPT; their offsets are then
 * relative to a block of that size the loader allocates per rule
 * (cfg_signal_t.opts). Options several families share (examples, margin,
 * classifier, ...) stay in cfg_signal_t and have ready-made entries below.
 *
 * Descriptors and registries are static and immutable; the derived tables
 * (routing.signals, algorithm, plugin types, the stores' tables) are built
 * once before main. */
#ifndef TETHER_CONFIG_FAMILY_H
#define TETHER_CONFIG_FAMILY_H
#include "config/routing.h"
#include "config/schema.h"
#include <stddef.h>

/* Tables derived from the registries: routing.signals (one key per
 * family), routing.decisions[].algorithm (one key per algorithm),
 * routing.decisions[].plugins[] (the type list). */
extern const cfg_schema_t cfg_schema_signals, cfg_schema_algorithm, cfg_schema_plugin;

/* ---- signal families ---- */

enum {
    CFG_SIGFAM_LABELS = 1u << 0,      /* leaves may carry `label:` */
    CFG_SIGFAM_ROLE_LEAVES = 1u << 1, /* leaves name the rule's `role`, not its name (authz) */
    CFG_SIGFAM_ANY_LEAF = 1u << 2,    /* leaves may name rules that are not declared (language) */
    CFG_SIGFAM_CLASSIFIER = 1u << 3,  /* rules may name an external `classifier:` (classify.h) */
};

struct sig_family_ops; /* signals/family.h */

typedef struct cfg_sig_family {
    const char *name;     /* leaf `type`: keyword */
    const char *key;      /* YAML key under routing.signals: keywords */
    const char *list_doc; /* the key's line in routing.signals: "keyword rules" */
    const char *doc;      /* the rule table's paragraph in the reference */
    /* Default of the rules' `threshold` ("0.8"); CFG_SIG_THRESHOLD_UNSET: the
     * key without a default; NULL: the family takes no threshold. */
    const char *threshold;
    const cfg_field_t *fields; /* a rule's other keys, terminated by {0} */
    size_t opts_size;          /* the member's options struct (CFG_FF_OPT fields); 0: none */
    unsigned flags;            /* CFG_SIGFAM_* */
    const char *const *builtin_leaves; /* rule names leaves may use undeclared; NULL-terminated */
    const char *const *migrate_keys;   /* old flat-layout keys besides <key> and <name>_rules */
    /* Extra check of one loaded rule: NULL, or the error to report at it. */
    const char *(*check)(const cfg_signal_t *rule);
    const struct sig_family_ops *ops; /* the implementation */
} cfg_sig_family_t;
/* Declare a family: leaf type, YAML key, its line in routing.signals and
 * its paragraph in the reference, then the other members by name. */
#define CFG_SIG_FAMILY(var, nm, k, ldoc, dc, ...)                                                  \
    const cfg_sig_family_t var = {.name = nm, .key = k, .list_doc = ldoc, .doc = dc, __VA_ARGS__}

/* signals/registry.c: every family, NULL-terminated. A family's id
 * (cfg_signal_family_t) is its position; the built-in ids of routing.h are
 * the first positions. */
extern const cfg_sig_family_t *const cfg_sig_registry[];

/* Number of registered families (<= CFG_SIG_MAX). */
size_t cfg_signal_family_count(void);
/* The family with id f, or NULL. */
const cfg_sig_family_t *cfg_signal_family(cfg_signal_family_t f);
/* -1 when unknown. */
int cfg_signal_family_by_key(const char *key);
/* routing.signals.<key>[]: the table of family f (NULL when unknown). */
const cfg_schema_t *cfg_signal_schema(cfg_signal_family_t f);
bool cfg_signal_family_has_labels(cfg_signal_family_t f);
/* Does a leaf of family f naming `name` need a declared rule? */
bool cfg_signal_leaf_is_builtin(cfg_signal_family_t f, const char *name);
/* The name leaves use for rule r (its role for CFG_SIGFAM_ROLE_LEAVES). */
const char *cfg_signal_leaf_name(const cfg_signal_t *r);
/* Family names, in id order, NULL-terminated (for did-you-mean). */
const char *const *cfg_signal_family_names(size_t *n);
/* What a rule leaf's `type` may be: the family names, then "projection". */
const char *const *cfg_signal_leaf_types(size_t *n);

#define CFG_SIG_THRESHOLD_UNSET ""

/* Options several families share (their storage is cfg_signal_t). */
#define CFG_SIGF_HISTORY                                                                           \
    CFG_FBOOL(cfg_signal_t, "include_history", include_history, "false",                           \
              "also read earlier user messages")
#define CFG_SIGF_CLASSIFIER                                                                        \
    CFG_FSTR(cfg_signal_t, "classifier", classifier, NULL, "a model_catalog.classifiers[] name")
#define CFG_SIGF_EXAMPLES  CFG_FLIST(cfg_signal_t, "examples", examples, NULL, "prototype texts")
#define CFG_SIGF_MARGIN(d) CFG_FNUM(cfg_signal_t, "margin", margin, d, "lead over the runner-up")
#define CFG_SIGF_FEATURE   CFG_FNODE(cfg_signal_t, "feature", feature, "{type, source{type, ...}}")
#define CFG_SIGF_PREDICATE                                                                         \
    CFG_FNODE(cfg_signal_t, "predicate", predicate, "{gt|gte|lt|lte|eq: number}")

/* ---- selection algorithms ---- */

struct sel_algo_ops; /* select/select.h */

typedef struct cfg_selector {
    const char *name;          /* algorithm.type, and the key of its block */
    const char *doc;           /* the block table's paragraph in the reference */
    const cfg_field_t *fields; /* keys of algorithm.<name>, terminated by {0} */
    const struct sel_algo_ops *ops;
} cfg_selector_t;
/* Declare an algorithm: its name and paragraph, then the other members by
 * name (like CFG_SIG_FAMILY). */
#define CFG_SELECTOR(var, nm, dc, ...)                                                             \
    const cfg_selector_t var = {.name = nm, .doc = dc, __VA_ARGS__}

/* select/registry.c: every algorithm, NULL-terminated. */
extern const cfg_selector_t *const cfg_sel_registry[];

size_t cfg_selector_count(void);
const cfg_selector_t *cfg_selector_at(size_t i);
/* Algorithm names, registry order, NULL-terminated. */
const char *const *cfg_selector_names(size_t *n);
/* The algorithm named name, or NULL. */
const cfg_selector_t *cfg_selector_find(const char *name);
/* routing.decisions[].algorithm.<name>: the block table of algorithm i. */
const cfg_schema_t *cfg_selector_schema(size_t i);
/* "static|weighted|..." (the registry order). */
const char *cfg_selector_choices(void);

/* ---- plugins ---- */

enum {
    CFG_PLG_IMPLICIT = 1u << 0, /* a step of every decision, not a `type` users write */
};

struct plg_ops; /* plugins/plugins.h */

typedef struct cfg_plugin_kind {
    const char *name; /* plugins[].type */
    unsigned flags;   /* CFG_PLG_* */
    /* Keys of its configuration: checked (unknown-key warnings) and
     * documented when set; NULL leaves the configuration to the plugin. */
    const cfg_field_t *fields;
    const char *doc;           /* the configuration table's paragraph (with fields) */
    const struct plg_ops *ops; /* NULL: run by its own caller (response_cache, router_replay) */
} cfg_plugin_kind_t;

/* plugins/registry.c: every plugin, NULL-terminated, in pipeline order. */
extern const cfg_plugin_kind_t *const cfg_plg_registry[];

/* The plugin users may name as `type` (not CFG_PLG_IMPLICIT), or NULL. */
const cfg_plugin_kind_t *cfg_plugin_kind_find(const char *type);
/* The types users may write, registry order, NULL-terminated. */
const char *const *cfg_plugin_types(size_t *n);
/* routing.decisions[].plugins[].configuration table of type, or NULL. */
const cfg_schema_t *cfg_plugin_schema(const char *type);

/* ---- store backends ---- */

/* The stores whose backend comes from a registry, and the key that names
 * it: global.services.router_replay.store, global.stores.session.backend,
 * global.stores.responses.backend, global.stores.response_cache.backend. */
typedef enum cfg_store_kind {
    CFG_STORE_REPLAY,         /* replay/registry.h */
    CFG_STORE_SESSION,        /* session/registry.h */
    CFG_STORE_RESPONSES,      /* api/response_store_registry.h */
    CFG_STORE_RESPONSE_CACHE, /* plugins/response_cache_registry.h */
    CFG_STORE_KINDS
} cfg_store_kind_t;

struct replay_store_ops;   /* replay/store.h */
struct sess_backend_ops;   /* session/store.h */
struct rstore_backend_ops; /* api/response_store.h */
struct rc_backend_ops;     /* plugins/response_cache.h */

typedef struct cfg_store_backend {
    const char *name; /* the value of the store's backend key: store: sqlite */
    unsigned flags;   /* CFG_STORE_* */
    /* Its own options: the keys of the block <store>.<name> (e.g.
     * global.services.router_replay.<name>), loaded into a block of
     * opts_size the loader allocates (offsets relative to it) and handed to
     * the backend when it opens. NULL: no block. */
    const cfg_field_t *fields;
    size_t opts_size;
    const char *doc; /* the block table's paragraph (with fields) */
    /* Optional load-time check of the loaded block (opts): NULL when it is
     * good, else the error text (the loader reports it at the block). */
    const char *(*check)(const void *opts);
    union { /* the implementation, by store kind */
        const struct replay_store_ops *replay;
        const struct sess_backend_ops *session;
        const struct rstore_backend_ops *responses;
        const struct rc_backend_ops *response_cache;
    } ops;
} cfg_store_backend_t;

enum {
    /* Shared by the replicas of a deployment (session: response ids then
     * need a binding key every replica knows). */
    CFG_STORE_SHARED = 1u << 0,
    /* Reads the store's global.stores.<store>.redis block: the loader
     * requires its address (or borrows the session store's) and reads its
     * password_env. */
    CFG_STORE_REDIS = 1u << 1,
};

/* replay/registry.c, session/registry.c, api/response_store_registry.c and
 * plugins/response_cache_registry.c: every backend, NULL-terminated, in the
 * order the reference lists them. */
extern const cfg_store_backend_t *const cfg_replay_store_registry[];
extern const cfg_store_backend_t *const cfg_sess_store_registry[];
extern const cfg_store_backend_t *const cfg_rstore_registry[];
extern const cfg_store_backend_t *const cfg_rc_store_registry[];

/* The backend of store k named name, or NULL. */
const cfg_store_backend_t *cfg_store_backend_find(cfg_store_kind_t k, const char *name);
/* Backend names of store k, registry order, NULL-terminated. */
const char *const *cfg_store_backend_names(cfg_store_kind_t k, size_t *n);
/* "sqlite, jsonl or memory" (for messages). */
const char *cfg_store_backend_list(cfg_store_kind_t k);
/* The options table of backend name of store k, or NULL when it has none. */
const cfg_schema_t *cfg_store_backend_schema(cfg_store_kind_t k, const char *name);

/* The store tables built from their base fields (global_ext.c) and the
 * registries: the backend key's choices are the registry's names, and each
 * backend with options adds its block key. */
extern cfg_field_t cfg_store_fields[CFG_STORE_KINDS][32];
extern const cfg_field_t cfg_replay_base_fields[], cfg_store_session_base_fields[],
    cfg_store_responses_base_fields[], cfg_store_cache_base_fields[];
#endif
