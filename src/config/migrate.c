/* migrate.c - `tether config migrate`: rewrite the older flat layout (top-level
 * signals/decisions/X_rules/categories, model_config + vllm_endpoints +
 * provider_profiles, top-level default_model/reasoning_families, loose
 * global keys, semantic_cache, prompt_guard) as v0.3, keep comments, report
 * what was dropped, and validate the result with the real loader, pointing
 * every diagnostic back at the old key it came from (SPEC 3.5).
 *
 * This file is the driver: it parses the old file, has migrate_layout.c build
 * the new tree, emits it as YAML, loads it, and adds the "(migrated from ...)"
 * hints from the origins migrate_tree.c recorded. */
#include "config/migrate_internal.h"
#include "config/load.h"
#include "config/yaml.h"
#include <stdlib.h>
#include <string.h>

static bool is_flat_key(const char *k)
{
    size_t l = strlen(k);
    return !strcmp(k, "signals") || !strcmp(k, "decisions") || !strcmp(k, "model_config") ||
           !strcmp(k, "vllm_endpoints") || (l > 6 && !strcmp(k + l - 6, "_rules")) ||
           !strcmp(k, "categories") || !strcmp(k, "default_model") ||
           !strcmp(k, "reasoning_families") || !strcmp(k, "provider_profiles");
}

/* Walk the built tree and its re-parsed emission side by side: every output
 * position gets the nearest old origin. */
typedef struct pos {
    int line, col;
    const origin_t *o;
} pos_t;

typedef struct poslist {
    pos_t *v;
    size_t n, cap;
} poslist_t;

static const origin_t *origin_of(const mg_t *g, const cfg_node_t *n)
{
    for (size_t i = g->n_orig; i-- > 0;)
        if (g->orig[i].node == n) return &g->orig[i];
    return NULL;
}

static void walk(const mg_t *g, const cfg_node_t *built, const cfg_node_t *parsed,
                 const origin_t *inh, poslist_t *pl, int depth)
{
    if (!built || !parsed || depth > 200) return;
    const origin_t *o = origin_of(g, built);
    if (!o) o = inh;
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 256;
        pl->v = realloc(pl->v, pl->cap * sizeof(*pl->v));
        if (!pl->v) abort();
    }
    pl->v[pl->n++] = (pos_t){parsed->line, parsed->col, o};
    if (built->kind != parsed->kind || built->n != parsed->n) return;
    for (size_t i = 0; i < built->n; i++) {
        if (built->kind == CFG_NODE_MAP) walk(g, built->keys[i], parsed->keys[i], o, pl, depth + 1);
        walk(g, built->items[i], parsed->items[i], o, pl, depth + 1);
    }
}

static void add_hints(mg_t *g, cfg_migrate_t *m, const char *out_name, const char *text, size_t len)
{
    arena_t a;
    arena_init(&a, 16384);
    cfg_diags_t tmp;
    cfg_diags_init(&tmp);
    cfg_node_t *parsed = cfg_yaml_parse(&a, out_name, text, len, &tmp);
    poslist_t pl = {0};
    if (parsed) walk(g, g->root, parsed, NULL, &pl, 0);
    for (size_t i = 0; i < m->diags.n; i++) {
        cfg_diag_t *d = &m->diags.items[i];
        const origin_t *best = NULL;
        int bl = -1, bc = -1;
        for (size_t j = 0; j < pl.n; j++) {
            const pos_t *p = &pl.v[j];
            if (p->line > d->line || (p->line == d->line && p->col > d->col)) continue;
            if (p->line > bl || (p->line == bl && p->col >= bc)) {
                bl = p->line;
                bc = p->col;
                best = p->o;
            }
        }
        if (!best) continue;
        buf_t b = BUF_INIT;
        buf_printf(&b, "%s (migrated from `%s`", d->message, best->path);
        if (best->line) buf_printf(&b, " at %s:%d:%d", g->old_name, best->line, best->col);
        buf_putc(&b, ')');
        free(d->message);
        d->message = buf_steal(&b);
    }
    free(pl.v);
    cfg_diags_free(&tmp);
    arena_deinit(&a);
}

void cfg_migrate_init(cfg_migrate_t *m)
{
    memset(m, 0, sizeof(*m));
    cfg_diags_init(&m->notes);
    cfg_diags_init(&m->diags);
}

void cfg_migrate_deinit(cfg_migrate_t *m)
{
    buf_free(&m->out);
    cfg_diags_free(&m->notes);
    cfg_diags_free(&m->diags);
}

bool cfg_migrate_run(cfg_migrate_t *m, const char *old_name, const char *text, size_t len,
                     const char *out_name)
{
    arena_t a;
    arena_init(&a, 65536);
    mg_t g = {.a = &a, .old_name = old_name, .notes = &m->notes};
    cfg_node_t *old = cfg_yaml_parse_comments(&a, old_name, text, len, &m->notes);
    if (!old) goto done;
    if (old->kind != CFG_NODE_MAP) {
        cfg_diags_add(&m->notes, CFG_DIAG_ERROR, old_name, old->line, old->col, "",
                      "the configuration must be a mapping");
        goto done;
    }
    const char *ver = cfg_node_text(cfg_node_get(old, "version"));
    bool flat = false;
    for (size_t i = 0; i < old->n; i++)
        flat |= is_flat_key(old->keys[i]->str);
    if (ver && !strcmp(ver, "v0.3") && !flat) {
        cfg_diags_add(
            &m->notes, CFG_DIAG_ERROR, old_name, 1, 1, "",
            "already in the v0.3 layout: nothing to migrate (check it with tether validate)");
        goto done;
    }
    g.old = old;
    g.consumed = arena_calloc(&a, (old->n + 1) * sizeof(bool));
    mg_convert(&g);
    cfg_yaml_emit(&m->out, g.root, NULL);
    m->converted = true;
    cfg_t *c =
        cfg_load_string(out_name, m->out.data ? m->out.data : "", m->out.len, NULL, &m->diags);
    m->valid = c != NULL;
    cfg_free(c);
    add_hints(&g, m, out_name, m->out.data ? m->out.data : "", m->out.len);
done:
    cfg_diags_sort(&m->notes);
    free(g.orig);
    arena_deinit(&a);
    return m->converted && m->valid;
}
