/* apply_guard.c - the changes an operator's config apply may not make
 * (apply_guard.h): both texts are parsed as YAML trees, the management
 * section compared whole, and every mapping of the new text that names the
 * environment or a file looked up, identical, in the running one. */
#include "admin/apply_guard.h"
#include "config/yaml.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool node_eq(const cfg_node_t *a, const cfg_node_t *b)
{
    if (a == b) return true;
    if (!a || !b || a->kind != b->kind) return false;
    if (a->kind == CFG_NODE_SCALAR)
        return a->len == b->len && !memcmp(a->str, b->str, a->len) &&
               cfg_node_is_null(a) == cfg_node_is_null(b);
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        if (a->kind == CFG_NODE_SEQ) {
            if (!node_eq(a->items[i], b->items[i])) return false;
            continue;
        }
        /* a mapping: the same keys with equal values, in any order (the
         * dashboard edits the JSON of GET /config, not the file's text) */
        const cfg_node_t *bv = NULL;
        for (size_t j = 0; j < b->n && !bv; j++)
            if (node_eq(a->keys[i], b->keys[j])) bv = b->items[j];
        if (!bv || !node_eq(a->items[i], bv)) return false;
    }
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

static bool names_env(const cfg_node_t *v)
{
    if (v->kind == CFG_NODE_SCALAR) return v->len && memmem(v->str, v->len, "${", 2);
    if (v->kind != CFG_NODE_SEQ) return false;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind == CFG_NODE_SCALAR && names_env(v->items[i])) return true;
    return false;
}

/* A mapping that names the environment or a file. */
static bool sensitive(const cfg_node_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const cfg_node_t *k = m->keys[i];
        if (k->kind == CFG_NODE_SCALAR &&
            (ends_with(k->str, k->len, "_env") || ends_with(k->str, k->len, "_file") ||
             (k->len == 4 && !memcmp(k->str, "path", 4))))
            return true;
        if (names_env(m->items[i])) return true;
    }
    return false;
}

/* Whether tree holds a mapping equal to m (depth-bounded: aliases make the
 * tree a DAG, never a cycle). */
static bool holds(const cfg_node_t *tree, const cfg_node_t *m, int depth)
{
    if (!tree || depth > 64) return false;
    if (tree->kind == CFG_NODE_MAP && node_eq(tree, m)) return true;
    if (tree->kind == CFG_NODE_SCALAR) return false;
    for (size_t i = 0; i < tree->n; i++)
        if (holds(tree->items[i], m, depth + 1)) return true;
    return false;
}

/* The first sensitive mapping of next that cur does not hold, or NULL. */
static const cfg_node_t *first_new(const cfg_node_t *cur, const cfg_node_t *next, int depth)
{
    if (!next || next->kind == CFG_NODE_SCALAR || depth > 64) return NULL;
    if (next->kind == CFG_NODE_MAP && sensitive(next) && !holds(cur, next, 0)) return next;
    for (size_t i = 0; i < next->n; i++) {
        const cfg_node_t *f = first_new(cur, next->items[i], depth + 1);
        if (f) return f;
    }
    return NULL;
}

static const cfg_node_t *mgmt_section(const cfg_node_t *root)
{
    const cfg_node_t *g = root && root->kind == CFG_NODE_MAP ? cfg_node_get(root, "global") : NULL;
    const cfg_node_t *s = g && g->kind == CFG_NODE_MAP ? cfg_node_get(g, "services") : NULL;
    return s && s->kind == CFG_NODE_MAP ? cfg_node_get(s, "management_api") : NULL;
}

int mgmt_apply_guard(const char *cur, size_t cur_len, const char *next, size_t next_len, char *why,
                     size_t whylen)
{
    arena_t a;
    arena_init(&a, 16384);
    cfg_diags_t d;
    cfg_diags_init(&d);
    const cfg_node_t *nt = cfg_yaml_parse(&a, "request", next, next_len, &d);
    const cfg_node_t *ct = cfg_yaml_parse(&a, "current", cur ? cur : "", cur_len, &d);
    int rc = 0;
    if (nt) {
        const cfg_node_t *nm = mgmt_section(nt), *cm = ct ? mgmt_section(ct) : NULL;
        const cfg_node_t *f;
        if (!node_eq(nm, cm) && !(cfg_node_is_null(nm) && cfg_node_is_null(cm))) {
            snprintf(why, whylen,
                     "request:%d: global.services.management_api changed: only the admin role "
                     "may change the management listener and its tokens",
                     nm ? nm->line : 1);
            rc = -1;
        } else if ((f = first_new(ct, nt, 0))) {
            snprintf(why, whylen,
                     "request:%d: this mapping names an environment variable or a file and is "
                     "not in the running config as it stands: only the admin role may add or "
                     "change such references (an applied config is read with the router's "
                     "environment)",
                     f->line);
            rc = -1;
        }
    }
    cfg_diags_free(&d);
    arena_deinit(&a);
    return rc;
}
