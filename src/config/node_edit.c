/* node_edit.c - editing a parsed config tree in place, for the commands that
 * rewrite configs (config import, migrate): scalar text, get-or-create
 * children, named sequence items. The tree type and its parser are in
 * yaml.c; the declarations are in yaml.h. */
#include "config/yaml.h"
#include <string.h>

const char *cfg_node_text(const cfg_node_t *n)
{
    return n && n->kind == CFG_NODE_SCALAR && !cfg_node_is_null(n) ? n->str : NULL;
}

cfg_node_t *cfg_node_child(arena_t *a, cfg_node_t *map, const char *key, cfg_node_kind_t kind,
                           bool *wrong_kind)
{
    cfg_node_t *n = cfg_node_get(map, key);
    if (n && !cfg_node_is_null(n)) {
        if (n->kind != kind) *wrong_kind = true;
        return n;
    }
    n = cfg_node_new(a, kind, 0, 0);
    cfg_node_set(a, map, key, n);
    return n;
}

ssize_t cfg_node_find_named(const cfg_node_t *seq, const char *name)
{
    for (size_t i = 0; seq && i < seq->n; i++) {
        const char *n = cfg_node_text(cfg_node_get(seq->items[i], "name"));
        if (n && !strcmp(n, name)) return (ssize_t)i;
    }
    return -1;
}

void cfg_node_remove_at(cfg_node_t *seq, size_t i)
{
    memmove(&seq->items[i], &seq->items[i + 1], (seq->n - i - 1) * sizeof(cfg_node_t *));
    seq->n--;
}

void cfg_node_set_str(arena_t *a, cfg_node_t *map, const char *key, const char *val)
{
    cfg_node_set(a, map, key, cfg_node_scalar(a, val, false));
}
