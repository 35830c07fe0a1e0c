/* migrate_tree.c - the toolkit every part of `tether config migrate` builds
 * with: new nodes for the v0.3 tree, the record of which old key each new
 * node came from (migrate.c turns it into diagnostic hints), reading and
 * consuming keys of the old tree, and the notes on what was dropped.
 * Neighbours: migrate_layout.c, migrate_providers.c, migrate_signals.c. */
#include "config/migrate_internal.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

cfg_node_t *mg_map(mg_t *g)
{
    return cfg_node_new(g->a, CFG_NODE_MAP, 0, 0);
}
cfg_node_t *mg_seq(mg_t *g)
{
    return cfg_node_new(g->a, CFG_NODE_SEQ, 0, 0);
}
cfg_node_t *mg_str(mg_t *g, const char *s)
{
    return cfg_node_scalar(g->a, s, false);
}

void mg_mark(mg_t *g, const cfg_node_t *n, const char *path, const cfg_node_t *old)
{
    if (!n || !path) return;
    if (g->n_orig == g->cap_orig) {
        g->cap_orig = g->cap_orig ? g->cap_orig * 2 : 64;
        g->orig = realloc(g->orig, g->cap_orig * sizeof(*g->orig));
        if (!g->orig) abort();
    }
    g->orig[g->n_orig++] = (origin_t){n, path, old ? old->line : 0, old ? old->col : 0};
}

/* Remember every node of a copied subtree with its old path, so a
 * diagnostic deep inside points at the exact old key. */
static void mark_tree(mg_t *g, const cfg_node_t *n, const cfg_node_t *old, const char *path,
                      int depth)
{
    mg_mark(g, n, path, old);
    if (depth > 64 || n->n != old->n || n->kind != old->kind) return;
    for (size_t i = 0; i < n->n; i++) {
        const char *cp;
        if (n->kind == CFG_NODE_MAP) {
            cp = arena_sprintf(g->a, "%s.%s", path, old->keys[i]->str);
            mg_mark(g, n->keys[i], cp, old->keys[i]);
        } else {
            cp = arena_sprintf(g->a, "%s[%zu]", path, i);
        }
        mark_tree(g, n->items[i], old->items[i], cp, depth + 1);
    }
}

/* Deep copy of an old node, remembered as coming from path. */
cfg_node_t *mg_take(mg_t *g, const cfg_node_t *old, const char *path)
{
    cfg_node_t *n = cfg_node_copy(g->a, old);
    mark_tree(g, n, old, path, 0);
    return n;
}

cfg_node_t *mg_child(mg_t *g, cfg_node_t *map, const char *key, cfg_node_kind_t kind)
{
    cfg_node_t *n = cfg_node_get(map, key);
    if (n && n->kind == kind) return n;
    n = cfg_node_new(g->a, kind, 0, 0);
    cfg_node_set(g->a, map, key, n);
    return n;
}

void mg_note(mg_t *g, const cfg_node_t *at, const char *path, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cfg_diags_add(g->notes, CFG_DIAG_WARNING, g->old_name, at ? at->line : 0, at ? at->col : 0,
                  path, "%s", b.data ? b.data : "");
    buf_free(&b);
}

const char *mg_pkey(mg_t *g, const char *parent, const char *key)
{
    return parent && *parent ? arena_sprintf(g->a, "%s.%s", parent, key) : arena_strdup(g->a, key);
}

/* parent[name] when the item has a plain name, else parent[i]. */
const char *mg_pitem(mg_t *g, const char *parent, const cfg_node_t *item, size_t i)
{
    const char *nm = cfg_node_text(cfg_node_get(item, "name"));
    if (nm && strlen(nm) < 100) return arena_sprintf(g->a, "%s[%s]", parent, nm);
    return arena_sprintf(g->a, "%s[%zu]", parent, i);
}

const char *mg_map_item(mg_t *g, const char *parent, const cfg_node_t *item, size_t i)
{
    const char *ip = mg_pitem(g, parent, item, i);
    if (item->kind == CFG_NODE_MAP) return ip;
    mg_note(g, item, ip, "expected a mapping; ignored");
    return NULL;
}

void mg_consume(mg_t *g, const char *key)
{
    for (size_t i = 0; i < g->old->n; i++)
        if (!strcmp(g->old->keys[i]->str, key)) g->consumed[i] = true;
}

const cfg_node_t *mg_old_get(mg_t *g, const char *key, const char **path)
{
    cfg_node_t *k = NULL;
    const cfg_node_t *v = cfg_node_get_pair(g->old, key, &k);
    if (v) mg_consume(g, key);
    if (path) *path = key;
    return v;
}

/* Copy the keys of old map src that schema s accepts into dst; report the
 * others as dropped (except those listed in used, which the caller maps). */
void mg_copy_known(mg_t *g, cfg_node_t *dst, const cfg_node_t *src, const char *path,
                   const cfg_schema_t *s, const char *const *used)
{
    if (!src || src->kind != CFG_NODE_MAP) return;
    for (size_t i = 0; i < src->n; i++) {
        const char *k = src->keys[i]->str;
        bool is_used = false;
        for (const char *const *u = used; u && *u; u++)
            is_used |= !strcmp(*u, k);
        if (is_used) continue;
        if (s && cfg_schema_field(s, k)) {
            cfg_node_t *v = mg_take(g, src->items[i], mg_pkey(g, path, k));
            cfg_node_set(g->a, dst, k, v);
            /* keep the comment above the old key */
            for (size_t j = 0; j < dst->n; j++)
                if (dst->items[j] == v) dst->keys[j]->comment_top = src->keys[i]->comment_top;
        } else {
            mg_note(g, src->keys[i], mg_pkey(g, path, k), "not supported by tether; dropped");
        }
    }
}

void mg_set_str(mg_t *g, cfg_node_t *map, const char *key, const char *val)
{
    cfg_node_set(g->a, map, key, mg_str(g, val));
}

bool mg_seq_has(const cfg_node_t *seq, const char *s)
{
    if (!seq || seq->kind != CFG_NODE_SEQ) return false;
    for (size_t i = 0; i < seq->n; i++)
        if (seq->items[i]->kind == CFG_NODE_SCALAR && !strcmp(seq->items[i]->str, s)) return true;
    return false;
}

cfg_node_t *mg_semantic_cache(mg_t *g, cfg_node_t *conf, const cfg_node_t *th, const char *parent,
                              const char *th_key)
{
    mg_set_str(g, conf, "mode", "semantic");
    if (th) {
        cfg_node_t *sem = mg_map(g);
        cfg_node_set(g->a, sem, "similarity_threshold", mg_take(g, th, mg_pkey(g, parent, th_key)));
        cfg_node_set(g->a, conf, "semantic", sem);
    }
    return mg_plugin(g, "response_cache", conf);
}

cfg_node_t *mg_plugin(mg_t *g, const char *type, cfg_node_t *conf)
{
    cfg_node_t *p = mg_map(g);
    mg_set_str(g, p, "type", type);
    if (conf) cfg_node_set(g->a, p, "configuration", conf);
    return p;
}

cfg_node_t *mg_find_plugin(cfg_node_t *plugins, const char *type)
{
    for (size_t i = 0; plugins && i < plugins->n; i++)
        if (cfg_node_text(cfg_node_get(plugins->items[i], "type")) &&
            !strcmp(cfg_node_text(cfg_node_get(plugins->items[i], "type")), type))
            return plugins->items[i];
    return NULL;
}
