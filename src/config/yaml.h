/* yaml.h - a small read-only YAML tree with 1-based line/column on every
 * node, built from libfyaml's event stream. The loader, migrate, import and
 * `config show` walk it; its emitter writes YAML or JSON back.
 *
 * Ownership: every node and string lives in the arena passed to
 * cfg_yaml_parse; free the arena to free the tree. Aliases share the
 * anchored node (the tree is a DAG; never mutate shared nodes).
 * Not thread-safe per tree; distinct trees are independent. */
#ifndef TETHER_CONFIG_YAML_H
#define TETHER_CONFIG_YAML_H
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum { CFG_NODE_SCALAR = 0, CFG_NODE_MAP, CFG_NODE_SEQ } cfg_node_kind_t;

typedef struct cfg_node cfg_node_t;
struct cfg_node {
    cfg_node_kind_t kind;
    int line, col; /* 1-based start of the node */
    char *str;     /* scalar text (NUL-terminated) */
    size_t len;
    bool quoted;        /* scalar was single/double quoted or a block scalar */
    cfg_node_t **keys;  /* map: key scalars, parallel to items */
    cfg_node_t **items; /* map values or sequence items */
    size_t n, cap;
    size_t weight;     /* node count of the subtree, aliases expanded */
    char *comment;     /* migrate keeps the line comment when present (may be NULL) */
    char *comment_top; /* comment lines above the node (no '#', '\n'-joined; may be NULL) */
    /* ${VAR} expansion (env.c): the scalar as written when its value took text
     * from the environment (else NULL); `config show` prints this instead. */
    char *env_raw;
    /* The environment was sealed (validation through the management API) and
     * the value depends on it: str is the text as written, not a real value. */
    bool env_opaque;
};

/* Parse the first document of text. Parse errors go to diags (as errors,
 * with position) and NULL is returned. An empty document yields an empty map. */
cfg_node_t *cfg_yaml_parse(arena_t *a, const char *file, const char *text, size_t len,
                           cfg_diags_t *diags);

/* The same, keeping comments (cfg_yaml_parse_comments: libfyaml's comment
 * parsing): a comment to the right of a scalar goes to its `comment`, lines
 * above a key or sequence item to `comment_top`; a comment right of a key
 * whose value is a mapping or list goes to the key's `comment`. Comments at
 * the end of the document and inside flow collections are not kept. */
cfg_node_t *cfg_yaml_parse_comments(arena_t *a, const char *file, const char *text, size_t len,
                                    cfg_diags_t *diags);

/* Lookups and builders (builders allocate in a). */
cfg_node_t *cfg_node_get(const cfg_node_t *map, const char *key);
cfg_node_t *cfg_node_get_pair(const cfg_node_t *map, const char *key, cfg_node_t **keynode);
bool cfg_node_is_null(const cfg_node_t *n); /* plain ~, null, Null, NULL or empty */
cfg_node_t *cfg_node_new(arena_t *a, cfg_node_kind_t kind, int line, int col);
cfg_node_t *cfg_node_scalar(arena_t *a, const char *s, bool quoted);
void cfg_node_append(arena_t *a, cfg_node_t *seq, cfg_node_t *item);
/* Set (replace or append) key in map. */
void cfg_node_set(arena_t *a, cfg_node_t *map, const char *key, cfg_node_t *val);
bool cfg_node_del(cfg_node_t *map, const char *key);
cfg_node_t *cfg_node_copy(arena_t *a, const cfg_node_t *n);

/* Tree editing (config import and migrate). The text of a scalar that is
 * not null, else NULL. */
const char *cfg_node_text(const cfg_node_t *n);
/* map[key], made an empty node of kind when absent or null; an existing
 * value of another kind is returned as is and sets *wrong_kind. */
cfg_node_t *cfg_node_child(arena_t *a, cfg_node_t *map, const char *key, cfg_node_kind_t kind,
                           bool *wrong_kind);
/* The index of the item of seq whose `name` is name; -1 when none. */
ssize_t cfg_node_find_named(const cfg_node_t *seq, const char *name);
void cfg_node_remove_at(cfg_node_t *seq, size_t i);
/* map[key] = a plain scalar copy of val. */
void cfg_node_set_str(arena_t *a, cfg_node_t *map, const char *key, const char *val);

/* Emit as block YAML (indent 2) or JSON. Scalars that YAML would read as
 * another type, or that need escaping, are quoted. json: plain scalars that
 * look like numbers/booleans/null are written bare. redact: values of secret
 * keys (see cfg_key_is_secret) become "<redacted>". Values that took text from
 * the environment are always written as in the file (${VAR}), never expanded. */
typedef struct cfg_emit_opts {
    bool json;
    bool redact;
} cfg_emit_opts_t;
void cfg_yaml_emit(buf_t *out, const cfg_node_t *root, const cfg_emit_opts_t *opts);

/* True for keys whose values are secrets: names ending in key, token,
 * password or secret (api_key_env and friends are names of variables, not
 * secrets, so *_env keys are not). For extra_headers entries pass
 * is_header=true: header names containing auth or key are secret. */
bool cfg_key_is_secret(const char *key, bool is_header);
#endif
