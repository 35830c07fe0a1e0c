/* decompile.c - v0.3 YAML -> DSL program (`tether dsl decompile`): the
 * inverse of compile.c's mapping table. Accepts a whole config or a document
 * holding only routing/recipes/entrypoints. Plugin configurations used by
 * two or more decisions become PLUGIN templates. Scalars keep their kind:
 * quoted -> string, plain numbers/booleans -> numbers/booleans, plain names
 * -> bare names, so compile(decompile(y)) reproduces y's scalars. */
#include "config/family.h"
#include "dsl/compile.h"
#include <string.h>

typedef struct dx {
    arena_t *a;
    dsl_diags_t *d;
    /* plugin templates: configuration text -> template name */
    char **tpl_key, **tpl_name;
    const cfg_node_t **tpl_type, **tpl_conf;
    int *tpl_uses;
    size_t n_tpl, cap_tpl;
} dx_t;

static bool json_number(const char *s)
{
    const char *p = s;
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == 0;
}

static dsl_value_t *val(dx_t *x, const cfg_node_t *n)
{
    if (!n) return dsl_value_new(x->a, DSL_V_NULL, NULL);
    if (n->kind == CFG_NODE_SEQ) {
        dsl_value_t *v = dsl_value_new(x->a, DSL_V_LIST, NULL);
        v->items = arena_alloc(x->a, (n->n ? n->n : 1) * sizeof *v->items);
        for (size_t i = 0; i < n->n; i++)
            v->items[v->n++] = val(x, n->items[i]);
        return v;
    }
    if (n->kind == CFG_NODE_MAP) {
        dsl_value_t *v = dsl_value_new(x->a, DSL_V_BLOCK, NULL);
        v->fields = arena_alloc(x->a, (n->n ? n->n : 1) * sizeof *v->fields);
        for (size_t i = 0; i < n->n; i++)
            v->fields[v->nf++] = (dsl_field_t){arena_strdup(x->a, n->keys[i]->str), false,
                                               val(x, n->items[i]), 0, 0};
        return v;
    }
    const char *s = n->str ? n->str : "";
    if (n->quoted) return dsl_value_new(x->a, DSL_V_STR, s);
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        dsl_value_t *v = dsl_value_new(x->a, DSL_V_BOOL, NULL);
        v->b = s[0] == 't';
        return v;
    }
    if (cfg_node_is_null(n)) return dsl_value_new(x->a, DSL_V_NULL, NULL);
    if (json_number(s)) return dsl_value_new(x->a, DSL_V_NUM, s);
    if (dsl_is_ident(s)) return dsl_value_new(x->a, DSL_V_IDENT, s);
    return dsl_value_new(x->a, DSL_V_STR, s);
}

/* a block of every key of map except `skip` */
static dsl_value_t *block_except(dx_t *x, const cfg_node_t *map, const char *skip)
{
    dsl_value_t *v = dsl_value_new(x->a, DSL_V_BLOCK, NULL);
    v->fields = arena_alloc(x->a, (map && map->n ? map->n : 1) * sizeof *v->fields);
    for (size_t i = 0; map && map->kind == CFG_NODE_MAP && i < map->n; i++) {
        if (skip && !strcmp(map->keys[i]->str, skip)) continue;
        v->fields[v->nf++] = (dsl_field_t){arena_strdup(x->a, map->keys[i]->str), false,
                                           val(x, map->items[i]), 0, 0};
    }
    return v;
}

static const char *scal(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *n = cfg_node_get(map, key);
    return n && n->kind == CFG_NODE_SCALAR ? n->str : NULL;
}

static dsl_decl_t *decl(dx_t *x, dsl_dkind_t k)
{
    dsl_decl_t *d = arena_calloc(x->a, sizeof *d);
    d->kind = k;
    return d;
}

typedef struct vec {
    dsl_decl_t **v;
    size_t n, cap;
} vec_t;

static void push(dx_t *x, vec_t *v, dsl_decl_t *d)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        dsl_decl_t **nv = arena_alloc(x->a, nc * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = d;
}

static dsl_expr_t *expr(dx_t *x, const cfg_node_t *n, int depth)
{
    if (!n || n->kind != CFG_NODE_MAP || depth > 64) return NULL;
    const char *op = scal(n, "operator");
    const cfg_node_t *conds = cfg_node_get(n, "conditions");
    if (!op) {
        dsl_expr_t *e = arena_calloc(x->a, sizeof *e);
        e->kind = DSL_E_REF;
        e->family = arena_strdup(x->a, scal(n, "type") ? scal(n, "type") : "?");
        e->name = arena_strdup(x->a, scal(n, "name") ? scal(n, "name") : "?");
        e->fields = arena_alloc(x->a, 3 * sizeof *e->fields);
        static const char *const keys[] = {"label", "predicate", "on_error"};
        for (int i = 0; i < 3; i++) {
            const cfg_node_t *f = cfg_node_get(n, keys[i]);
            if (f) e->fields[e->nf++] = (dsl_field_t){(char *)keys[i], false, val(x, f), 0, 0};
        }
        return e;
    }
    size_t nk = conds && conds->kind == CFG_NODE_SEQ ? conds->n : 0;
    if (!strcmp(op, "NOT")) {
        dsl_expr_t *k = nk ? expr(x, conds->items[0], depth + 1) : NULL;
        if (!k) return NULL;
        dsl_expr_t *e = arena_calloc(x->a, sizeof *e);
        e->kind = DSL_E_NOT;
        e->kids = arena_alloc(x->a, sizeof *e->kids);
        e->kids[e->n++] = k;
        return e;
    }
    dsl_ekind_t kind = !strcmp(op, "OR") ? DSL_E_OR : DSL_E_AND;
    dsl_expr_t *kids[256];
    size_t n_kids = 0;
    for (size_t i = 0; i < nk; i++) {
        dsl_expr_t *k = expr(x, conds->items[i], depth + 1);
        if (!k) continue;
        if (k->kind == kind) /* flatten as the parser does */
            for (size_t j = 0; j < k->n && n_kids < 256; j++)
                kids[n_kids++] = k->kids[j];
        else if (n_kids < 256)
            kids[n_kids++] = k;
    }
    if (n_kids == 0) return NULL;
    if (n_kids == 1) return kids[0];
    dsl_expr_t *e = arena_calloc(x->a, sizeof *e);
    e->kind = kind;
    e->kids = arena_alloc(x->a, n_kids * sizeof *e->kids);
    memcpy(e->kids, kids, n_kids * sizeof *kids);
    e->n = n_kids;
    return e;
}

static char *conf_key(dx_t *x, const cfg_node_t *p)
{
    buf_t b = BUF_INIT;
    cfg_emit_opts_t o = {.json = true};
    cfg_yaml_emit(&b, p, &o);
    char *s = arena_strndup(x->a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

/* count plugin configurations across decisions */
static void scan_plugins(dx_t *x, const cfg_node_t *decisions)
{
    for (size_t i = 0; decisions && decisions->kind == CFG_NODE_SEQ && i < decisions->n; i++) {
        const cfg_node_t *pl = cfg_node_get(decisions->items[i], "plugins");
        for (size_t k = 0; pl && pl->kind == CFG_NODE_SEQ && k < pl->n; k++) {
            const cfg_node_t *conf = cfg_node_get(pl->items[k], "configuration");
            const char *type = scal(pl->items[k], "type");
            if (!type || !conf || conf->kind != CFG_NODE_MAP || !conf->n) continue;
            char *key = arena_sprintf(x->a, "%s\n%s", type, conf_key(x, conf));
            size_t t;
            for (t = 0; t < x->n_tpl; t++)
                if (!strcmp(x->tpl_key[t], key)) break;
            if (t == x->n_tpl) {
                if (x->n_tpl == x->cap_tpl) {
                    size_t nc = x->cap_tpl ? x->cap_tpl * 2 : 8;
#define GROW(f)                                                                                    \
    do {                                                                                           \
        void *nv = arena_alloc(x->a, nc * sizeof *x->f);                                           \
        if (x->n_tpl) memcpy(nv, x->f, x->n_tpl * sizeof *x->f);                                   \
        x->f = nv;                                                                                 \
    } while (0)
                    GROW(tpl_key);
                    GROW(tpl_name);
                    GROW(tpl_type);
                    GROW(tpl_conf);
                    GROW(tpl_uses);
#undef GROW
                    x->cap_tpl = nc;
                }
                x->tpl_key[t] = key;
                x->tpl_name[t] = NULL;
                x->tpl_type[t] = cfg_node_get(pl->items[k], "type");
                x->tpl_conf[t] = conf;
                x->tpl_uses[t] = 0;
                x->n_tpl++;
            }
            x->tpl_uses[t]++;
        }
    }
}

static const char *tpl_for(dx_t *x, const char *type, const cfg_node_t *conf)
{
    if (!conf || conf->kind != CFG_NODE_MAP || !conf->n) return NULL;
    char *key = arena_sprintf(x->a, "%s\n%s", type, conf_key(x, conf));
    for (size_t t = 0; t < x->n_tpl; t++)
        if (!strcmp(x->tpl_key[t], key) && x->tpl_uses[t] > 1) return x->tpl_name[t];
    return NULL;
}

static void add_item(dx_t *x, dsl_decl_t *r, size_t *cap, dsl_item_t it)
{
    if (r->n_items == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        dsl_item_t *nv = arena_alloc(x->a, nc * sizeof *nv);
        if (r->n_items) memcpy(nv, r->items, r->n_items * sizeof *nv);
        r->items = nv;
        *cap = nc;
    }
    r->items[r->n_items++] = it;
}

static dsl_decl_t *route(dx_t *x, const cfg_node_t *d)
{
    dsl_decl_t *r = decl(x, DSL_D_ROUTE);
    r->name = arena_strdup(x->a, scal(d, "name") ? scal(d, "name") : "unnamed");
    size_t cap = 0;
    if (scal(d, "description"))
        add_item(x, r, &cap,
                 (dsl_item_t){.kind = DSL_I_DESCRIPTION,
                              .str = arena_strdup(x->a, scal(d, "description"))});
    if (scal(d, "tier"))
        add_item(x, r, &cap,
                 (dsl_item_t){.kind = DSL_I_TIER, .num = arena_strdup(x->a, scal(d, "tier"))});
    if (scal(d, "priority"))
        add_item(
            x, r, &cap,
            (dsl_item_t){.kind = DSL_I_PRIORITY, .num = arena_strdup(x->a, scal(d, "priority"))});
    dsl_expr_t *w = expr(x, cfg_node_get(d, "rules"), 0);
    if (w) add_item(x, r, &cap, (dsl_item_t){.kind = DSL_I_WHEN, .expr = w});
    const cfg_node_t *refs = cfg_node_get(d, "modelRefs");
    if (refs && refs->kind == CFG_NODE_SEQ && refs->n) {
        dsl_item_t it = {.kind = DSL_I_MODEL};
        it.refs = arena_calloc(x->a, refs->n * sizeof *it.refs);
        for (size_t i = 0; i < refs->n; i++) {
            const cfg_node_t *m = refs->items[i];
            dsl_model_ref_t *mr = &it.refs[it.n_refs++];
            mr->name = arena_strdup(x->a, scal(m, "model") ? scal(m, "model") : "?");
            mr->opts = arena_calloc(x->a, 4 * sizeof *mr->opts);
            static const char *const yk[] = {"use_reasoning", "reasoning_effort", "weight",
                                             "lora_name"};
            static const char *const dk[] = {"reasoning", "effort", "weight", "lora"};
            for (int k = 0; k < 4; k++) {
                const cfg_node_t *o = cfg_node_get(m, yk[k]);
                if (o) mr->opts[mr->n_opts++] = (dsl_opt_t){(char *)dk[k], val(x, o), 0, 0};
            }
        }
        add_item(x, r, &cap, it);
    }
    const cfg_node_t *alg = cfg_node_get(d, "algorithm");
    if (alg && alg->kind == CFG_NODE_MAP) {
        const char *t = scal(alg, "type");
        if (t) {
            const cfg_node_t *blk = cfg_node_get(alg, t);
            add_item(x, r, &cap,
                     (dsl_item_t){.kind = DSL_I_ALGORITHM,
                                  .str = arena_strdup(x->a, t),
                                  .block = blk && blk->kind == CFG_NODE_MAP ? val(x, blk) : NULL});
        }
        const cfg_node_t *ss = cfg_node_get(alg, "session");
        if (ss && ss->kind == CFG_NODE_MAP)
            add_item(x, r, &cap, (dsl_item_t){.kind = DSL_I_SESSION, .block = val(x, ss)});
    }
    const cfg_node_t *pl = cfg_node_get(d, "plugins");
    for (size_t i = 0; pl && pl->kind == CFG_NODE_SEQ && i < pl->n; i++) {
        const char *type = scal(pl->items[i], "type");
        if (!type) continue;
        const cfg_node_t *conf = cfg_node_get(pl->items[i], "configuration");
        const char *tpl = tpl_for(x, type, conf);
        dsl_item_t it = {.kind = DSL_I_PLUGIN, .str = arena_strdup(x->a, tpl ? tpl : type)};
        if (!tpl && conf && conf->kind == CFG_NODE_MAP && conf->n) it.block = val(x, conf);
        add_item(x, r, &cap, it);
    }
    const cfg_node_t *em = cfg_node_get(d, "emits");
    for (size_t i = 0; em && em->kind == CFG_NODE_SEQ && i < em->n; i++) {
        const char *kind = scal(em->items[i], "kind");
        if (!kind) continue;
        const cfg_node_t *b = cfg_node_get(em->items[i], kind);
        add_item(x, r, &cap,
                 (dsl_item_t){.kind = DSL_I_EMIT,
                              .str = arena_strdup(x->a, kind),
                              .block = b && b->kind == CFG_NODE_MAP
                                           ? val(x, b)
                                           : dsl_value_new(x->a, DSL_V_BLOCK, NULL)});
    }
    return r;
}

/* strategy, signals, projections, decisions of one routing map */
static void routing_decls(dx_t *x, const cfg_node_t *rt, vec_t *out)
{
    if (!rt || rt->kind != CFG_NODE_MAP) return;
    const cfg_node_t *st = cfg_node_get(rt, "strategy");
    if (st) {
        dsl_decl_t *d = decl(x, DSL_D_ROUTING);
        d->block = dsl_value_new(x->a, DSL_V_BLOCK, NULL);
        d->block->fields = arena_alloc(x->a, sizeof *d->block->fields);
        d->block->fields[d->block->nf++] = (dsl_field_t){"strategy", false, val(x, st), 0, 0};
        push(x, out, d);
    }
    const cfg_node_t *sig = cfg_node_get(rt, "signals");
    for (size_t i = 0; sig && sig->kind == CFG_NODE_MAP && i < sig->n; i++) {
        int fam = cfg_signal_family_by_key(sig->keys[i]->str);
        if (fam < 0) {
            dsl_diag_add(x->d, DSL_ERROR, sig->keys[i]->line, sig->keys[i]->col, NULL,
                         "routing.signals.%s is not a signal family", sig->keys[i]->str);
            continue;
        }
        const cfg_node_t *rules = sig->items[i];
        for (size_t k = 0; rules->kind == CFG_NODE_SEQ && k < rules->n; k++) {
            dsl_decl_t *d = decl(x, DSL_D_SIGNAL);
            d->kw = (char *)cfg_signal_family_name((cfg_signal_family_t)fam);
            d->name = arena_strdup(
                x->a, scal(rules->items[k], "name") ? scal(rules->items[k], "name") : "?");
            d->block = block_except(x, rules->items[k], "name");
            push(x, out, d);
        }
    }
    const cfg_node_t *pj = cfg_node_get(rt, "projections");
    static const char *const pk[] = {"partitions", "scores", "mappings"};
    static const char *const pkw[] = {"partition", "score", "mapping"};
    for (int k = 0; k < 3; k++) {
        const cfg_node_t *s = cfg_node_get(pj, pk[k]);
        for (size_t i = 0; s && s->kind == CFG_NODE_SEQ && i < s->n; i++) {
            dsl_decl_t *d = decl(x, DSL_D_PROJECTION);
            d->kw = (char *)pkw[k];
            d->name =
                arena_strdup(x->a, scal(s->items[i], "name") ? scal(s->items[i], "name") : "?");
            d->block = block_except(x, s->items[i], "name");
            push(x, out, d);
        }
    }
    const cfg_node_t *ds = cfg_node_get(rt, "decisions");
    for (size_t i = 0; ds && ds->kind == CFG_NODE_SEQ && i < ds->n; i++)
        push(x, out, route(x, ds->items[i]));
}

dsl_program_t *dsl_decompile(arena_t *a, const char *name, const char *yaml, size_t len,
                             dsl_diags_t *d)
{
    cfg_diags_t cd;
    cfg_diags_init(&cd);
    cfg_node_t *root = cfg_yaml_parse(a, name, yaml, len, &cd);
    for (size_t i = 0; i < cd.n; i++)
        dsl_diag_add(d, cd.items[i].severity == CFG_DIAG_ERROR ? DSL_ERROR : DSL_WARNING,
                     cd.items[i].line, cd.items[i].col, NULL, "%s", cd.items[i].message);
    cfg_diags_free(&cd);
    if (!root) return NULL;
    if (root->kind != CFG_NODE_MAP) {
        dsl_diag_add(d, DSL_ERROR, 1, 1, NULL, "expected a mapping with routing:");
        return NULL;
    }
    dx_t x = {.a = a, .d = d};
    const cfg_node_t *rt = cfg_node_get(root, "routing"), *recipes = cfg_node_get(root, "recipes");
    scan_plugins(&x, cfg_node_get(rt, "decisions"));
    for (size_t i = 0; recipes && recipes->kind == CFG_NODE_SEQ && i < recipes->n; i++)
        scan_plugins(&x, cfg_node_get(cfg_node_get(recipes->items[i], "routing"), "decisions"));
    vec_t out = {0};
    /* templates first: PLUGIN <type>_shared[_k] <type> {configuration} */
    for (size_t t = 0; t < x.n_tpl; t++) {
        if (x.tpl_uses[t] < 2) continue;
        const char *type = x.tpl_type[t]->str;
        int k = 1;
        for (size_t u = 0; u < t; u++)
            if (x.tpl_name[u] && !strcmp(x.tpl_type[u]->str, type)) k++;
        x.tpl_name[t] = k == 1 ? arena_sprintf(a, "%s_shared", type)
                               : arena_sprintf(a, "%s_shared_%d", type, k);
        dsl_decl_t *dc = decl(&x, DSL_D_PLUGIN);
        dc->name = x.tpl_name[t];
        dc->kw = arena_strdup(a, type);
        dc->block = val(&x, x.tpl_conf[t]);
        push(&x, &out, dc);
    }
    const cfg_node_t *cards = cfg_node_get(rt, "modelCards");
    vec_t rest = {0};
    routing_decls(&x, rt, &rest);
    /* ROUTING first, then MODEL cards, then the rest (compile's key order) */
    if (rest.n && rest.v[0]->kind == DSL_D_ROUTING) push(&x, &out, rest.v[0]);
    for (size_t i = 0; cards && cards->kind == CFG_NODE_SEQ && i < cards->n; i++) {
        dsl_decl_t *dc = decl(&x, DSL_D_MODEL);
        dc->name =
            arena_strdup(a, scal(cards->items[i], "name") ? scal(cards->items[i], "name") : "?");
        dc->block = block_except(&x, cards->items[i], "name");
        push(&x, &out, dc);
    }
    for (size_t i = (rest.n && rest.v[0]->kind == DSL_D_ROUTING); i < rest.n; i++)
        push(&x, &out, rest.v[i]);
    for (size_t i = 0; recipes && recipes->kind == CFG_NODE_SEQ && i < recipes->n; i++) {
        dsl_decl_t *dc = decl(&x, DSL_D_RECIPE);
        const cfg_node_t *r = recipes->items[i];
        dc->name = arena_strdup(a, scal(r, "name") ? scal(r, "name") : "?");
        if (scal(r, "description")) dc->desc = arena_strdup(a, scal(r, "description"));
        vec_t sub = {0};
        routing_decls(&x, cfg_node_get(r, "routing"), &sub);
        dc->decls = sub.v;
        dc->n_decls = sub.n;
        push(&x, &out, dc);
    }
    const cfg_node_t *eps = cfg_node_get(root, "entrypoints");
    for (size_t i = 0; eps && eps->kind == CFG_NODE_SEQ && i < eps->n; i++) {
        dsl_decl_t *dc = decl(&x, DSL_D_ENTRYPOINT);
        dc->block = val(&x, eps->items[i]);
        push(&x, &out, dc);
    }
    dsl_program_t *p = arena_calloc(a, sizeof *p);
    p->decls = out.v;
    p->n = out.n;
    return p;
}
