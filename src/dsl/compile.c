/* compile.c - DSL program -> canonical v0.3 YAML (SPEC §10.2 mapping table):
 * SIGNAL -> routing.signals.<family key>, PROJECTION -> projections, MODEL ->
 * modelCards, ROUTE and DECISION_TREE branches -> decisions, RECIPE ->
 * recipes[], ENTRYPOINT -> entrypoints[]. With a base file only the routing
 * sections' text is replaced (a line-level splice, so the other sections
 * keep their comments); the result always goes through the real loader
 * (cfg_load_string) before anyone sees it. */
#include "dsl/compile.h"
#include "config/routing.h"
#include <stdlib.h>
#include <string.h>

static cfg_node_t *mk_map(arena_t *a)
{
    return cfg_node_new(a, CFG_NODE_MAP, 0, 0);
}
static cfg_node_t *mk_seq(arena_t *a)
{
    return cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
}
static cfg_node_t *mk_str(arena_t *a, const char *s)
{
    return cfg_node_scalar(a, s, false);
}

static cfg_node_t *value_node(arena_t *a, const dsl_value_t *v)
{
    switch (v->kind) {
    case DSL_V_STR: return cfg_node_scalar(a, v->s, true);
    case DSL_V_NUM:
    case DSL_V_IDENT: return cfg_node_scalar(a, v->s, false);
    case DSL_V_BOOL: return cfg_node_scalar(a, v->b ? "true" : "false", false);
    case DSL_V_NULL: return cfg_node_scalar(a, "null", false);
    case DSL_V_LIST: {
        cfg_node_t *s = mk_seq(a);
        for (size_t i = 0; i < v->n; i++)
            cfg_node_append(a, s, value_node(a, v->items[i]));
        return s;
    }
    case DSL_V_BLOCK: {
        cfg_node_t *m = mk_map(a);
        for (size_t i = 0; i < v->nf; i++)
            cfg_node_set(a, m, v->fields[i].key, value_node(a, v->fields[i].val));
        return m;
    }
    }
    return mk_str(a, "");
}

/* {name: N, ...block} */
static cfg_node_t *named_block(arena_t *a, const char *name, const dsl_value_t *block)
{
    cfg_node_t *m = mk_map(a);
    cfg_node_set(a, m, "name", mk_str(a, name));
    if (block)
        for (size_t i = 0; i < block->nf; i++)
            if (strcmp(block->fields[i].key, "name"))
                cfg_node_set(a, m, block->fields[i].key, value_node(a, block->fields[i].val));
    return m;
}

static cfg_node_t *rule_node(arena_t *a, const dsl_expr_t *e)
{
    cfg_node_t *m = mk_map(a);
    if (e->kind == DSL_E_REF) {
        cfg_node_set(a, m, "type", mk_str(a, e->family));
        cfg_node_set(a, m, "name", mk_str(a, e->name));
        for (size_t i = 0; i < e->nf; i++)
            cfg_node_set(a, m, e->fields[i].key, value_node(a, e->fields[i].val));
        return m;
    }
    cfg_node_set(a, m, "operator",
                 mk_str(a, e->kind == DSL_E_AND  ? "AND"
                           : e->kind == DSL_E_OR ? "OR"
                                                 : "NOT"));
    cfg_node_t *c = mk_seq(a);
    for (size_t i = 0; i < e->n; i++)
        cfg_node_append(a, c, rule_node(a, e->kids[i]));
    cfg_node_set(a, m, "conditions", c);
    return m;
}

typedef struct scope {
    arena_t *a;
    dsl_diags_t *d;
    const dsl_program_t *prog;
    dsl_decl_t *const *decls; /* the scope's own declarations */
    size_t n;
    dsl_decl_t *const *outer; /* program-level declarations (templates) for a recipe */
    size_t n_outer;
} scope_t;

static const dsl_decl_t *find_template(const scope_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->decls[i]->kind == DSL_D_PLUGIN && !strcmp(s->decls[i]->name, name))
            return s->decls[i];
    for (size_t i = 0; i < s->n_outer; i++)
        if (s->outer[i]->kind == DSL_D_PLUGIN && !strcmp(s->outer[i]->name, name))
            return s->outer[i];
    return NULL;
}

static const char *ref_opt_key(const char *k)
{
    if (!strcmp(k, "reasoning")) return "use_reasoning";
    if (!strcmp(k, "effort")) return "reasoning_effort";
    if (!strcmp(k, "weight")) return "weight";
    if (!strcmp(k, "lora")) return "lora_name";
    return NULL;
}

static void route_node(scope_t *s, cfg_node_t *decisions, const char *name, const dsl_opt_t *opts,
                       size_t n_opts, const dsl_item_t *items, size_t n_items,
                       const dsl_expr_t *when, const char *priority)
{
    arena_t *a = s->a;
    cfg_node_t *m = mk_map(a);
    cfg_node_set(a, m, "name", mk_str(a, name));
    const char *desc = NULL, *tier = NULL, *prio = priority;
    cfg_node_t *desc_node = NULL;
    for (size_t i = 0; i < n_opts; i++) {
        const char *k = opts[i].key;
        if (!strcmp(k, "description"))
            desc_node = value_node(a, opts[i].val);
        else if (!strcmp(k, "tier") && opts[i].val->kind == DSL_V_NUM)
            tier = opts[i].val->s;
        else if (!strcmp(k, "priority") && opts[i].val->kind == DSL_V_NUM)
            prio = opts[i].val->s;
        else
            dsl_diag_add(s->d, DSL_ERROR, opts[i].line, opts[i].col,
                         "use description=, tier= or priority=", "unknown route option \"%s\"", k);
    }
    cfg_node_t *refs = mk_seq(a), *alg = NULL, *plugins = mk_seq(a), *emits = mk_seq(a);
    for (size_t i = 0; i < n_items; i++) {
        const dsl_item_t *it = &items[i];
        switch (it->kind) {
        case DSL_I_PRIORITY: prio = it->num; break;
        case DSL_I_TIER: tier = it->num; break;
        case DSL_I_DESCRIPTION: desc = it->str; break;
        case DSL_I_WHEN: when = it->expr; break;
        case DSL_I_NAME: break;
        case DSL_I_MODEL:
            for (size_t r = 0; r < it->n_refs; r++) {
                const dsl_model_ref_t *ref = &it->refs[r];
                cfg_node_t *rn = mk_map(a);
                cfg_node_set(a, rn, "model", mk_str(a, ref->name));
                for (size_t o = 0; o < ref->n_opts; o++) {
                    const char *k = ref_opt_key(ref->opts[o].key);
                    if (!k) {
                        dsl_diag_add(s->d, DSL_ERROR, ref->opts[o].line, ref->opts[o].col,
                                     "use reasoning=, effort=, weight= or lora=",
                                     "unknown model option \"%s\"", ref->opts[o].key);
                        continue;
                    }
                    cfg_node_set(a, rn, k, value_node(a, ref->opts[o].val));
                }
                cfg_node_append(a, refs, rn);
            }
            break;
        case DSL_I_ALGORITHM: {
            if (!alg) alg = mk_map(a);
            cfg_node_t *keep = cfg_node_get(alg, "session");
            cfg_node_set(a, alg, "type", mk_str(a, it->str));
            if (it->block) cfg_node_set(a, alg, it->str, value_node(a, it->block));
            if (keep) {
                cfg_node_del(alg, "session");
                cfg_node_set(a, alg, "session", keep);
            }
            break;
        }
        case DSL_I_SESSION:
            if (!alg) alg = mk_map(a);
            cfg_node_set(a, alg, "session", value_node(a, it->block));
            break;
        case DSL_I_PLUGIN: {
            const dsl_decl_t *tpl = find_template(s, it->str);
            cfg_node_t *pn = mk_map(a), *conf = mk_map(a);
            cfg_node_set(a, pn, "type", mk_str(a, tpl ? tpl->kw : it->str));
            if (tpl && tpl->block)
                for (size_t f = 0; f < tpl->block->nf; f++)
                    cfg_node_set(a, conf, tpl->block->fields[f].key,
                                 value_node(a, tpl->block->fields[f].val));
            if (it->block)
                for (size_t f = 0; f < it->block->nf; f++)
                    cfg_node_set(a, conf, it->block->fields[f].key,
                                 value_node(a, it->block->fields[f].val));
            if (conf->n) cfg_node_set(a, pn, "configuration", conf);
            cfg_node_append(a, plugins, pn);
            break;
        }
        case DSL_I_EMIT: {
            cfg_node_t *en = mk_map(a);
            cfg_node_set(a, en, "kind", mk_str(a, it->str));
            cfg_node_set(a, en, it->str, value_node(a, it->block));
            cfg_node_append(a, emits, en);
            break;
        }
        }
    }
    if (desc)
        cfg_node_set(a, m, "description", cfg_node_scalar(a, desc, true));
    else if (desc_node)
        cfg_node_set(a, m, "description", desc_node);
    if (tier) cfg_node_set(a, m, "tier", mk_str(a, tier));
    if (prio) cfg_node_set(a, m, "priority", mk_str(a, prio));
    if (when) cfg_node_set(a, m, "rules", rule_node(a, when));
    cfg_node_set(a, m, "modelRefs", refs);
    if (alg) cfg_node_set(a, m, "algorithm", alg);
    if (plugins->n) cfg_node_set(a, m, "plugins", plugins);
    if (emits->n) cfg_node_set(a, m, "emits", emits);
    cfg_node_append(a, decisions, m);
}

static dsl_expr_t *mk_expr(arena_t *a, dsl_ekind_t k, size_t n)
{
    dsl_expr_t *e = arena_calloc(a, sizeof *e);
    e->kind = k;
    e->kids = arena_alloc(a, (n ? n : 1) * sizeof *e->kids);
    return e;
}

/* Branch i: cond_i AND NOT cond_0 ... AND NOT cond_{i-1} (SPEC §10.2). */
dsl_expr_t *dsl_tree_condition(arena_t *a, const dsl_decl_t *t, size_t i);
dsl_expr_t *dsl_tree_condition(arena_t *a, const dsl_decl_t *t, size_t i)
{
    const dsl_expr_t *c = t->branches[i].cond;
    size_t n = (c ? (c->kind == DSL_E_AND ? c->n : 1) : 0) + i;
    if (n == 0) return NULL;
    dsl_expr_t *e = mk_expr(a, DSL_E_AND, n);
    if (c) {
        if (c->kind == DSL_E_AND)
            for (size_t k = 0; k < c->n; k++)
                e->kids[e->n++] = c->kids[k];
        else
            e->kids[e->n++] = (dsl_expr_t *)c;
    }
    for (size_t j = 0; j < i; j++) {
        dsl_expr_t *nt = mk_expr(a, DSL_E_NOT, 1);
        nt->kids[nt->n++] = t->branches[j].cond;
        e->kids[e->n++] = nt;
    }
    return e->n == 1 ? e->kids[0] : e;
}

const char *dsl_tree_branch_name(arena_t *a, const dsl_decl_t *t, size_t i);
const char *dsl_tree_branch_name(arena_t *a, const dsl_decl_t *t, size_t i)
{
    const dsl_branch_t *b = &t->branches[i];
    for (size_t k = 0; k < b->n_items; k++)
        if (b->items[k].kind == DSL_I_NAME) return b->items[k].str;
    return arena_sprintf(a, "%s_%zu", t->name, i);
}

/* map[key], a list created when missing. */
static cfg_node_t *seq_at(arena_t *a, cfg_node_t *map, const char *key)
{
    cfg_node_t *seq = cfg_node_get(map, key);
    if (!seq) {
        seq = mk_seq(a);
        cfg_node_set(a, map, key, seq);
    }
    return seq;
}

/* routing-like map of one scope: strategy, signals, projections, decisions */
static cfg_node_t *scope_routing(scope_t *s, cfg_node_t *routing)
{
    arena_t *a = s->a;
    cfg_node_t *signals = mk_map(a), *proj = mk_map(a), *decisions = mk_seq(a);
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *dc = s->decls[i];
        switch (dc->kind) {
        case DSL_D_ROUTING:
            for (size_t f = 0; f < dc->block->nf; f++)
                cfg_node_set(a, routing, dc->block->fields[f].key,
                             value_node(a, dc->block->fields[f].val));
            break;
        case DSL_D_SIGNAL: {
            int fam = cfg_signal_family_by_name(dc->kw);
            if (fam < 0) {
                dsl_diag_add(s->d, DSL_ERROR, dc->line, dc->col, NULL,
                             "unknown signal family \"%s\"", dc->kw);
                break;
            }
            const char *key = cfg_signal_family_key((cfg_signal_family_t)fam);
            cfg_node_append(a, seq_at(a, signals, key), named_block(a, dc->name, dc->block));
            break;
        }
        case DSL_D_PROJECTION: {
            const char *key = !strcmp(dc->kw, "partition") ? "partitions"
                              : !strcmp(dc->kw, "score")   ? "scores"
                                                           : "mappings";
            cfg_node_append(a, seq_at(a, proj, key), named_block(a, dc->name, dc->block));
            break;
        }
        case DSL_D_ROUTE:
            route_node(s, decisions, dc->name, dc->opts, dc->n_opts, dc->items, dc->n_items, NULL,
                       NULL);
            break;
        case DSL_D_TREE:
            for (size_t b = 0; b < dc->n_branches; b++) {
                char prio[16];
                snprintf(prio, sizeof prio, "%zu", b < 10000 ? 10000 - b : 0);
                route_node(s, decisions, dsl_tree_branch_name(a, dc, b), NULL, 0,
                           dc->branches[b].items, dc->branches[b].n_items,
                           dsl_tree_condition(a, dc, b), arena_strdup(a, prio));
            }
            break;
        default: break;
        }
    }
    if (signals->n) cfg_node_set(a, routing, "signals", signals);
    if (proj->n) cfg_node_set(a, routing, "projections", proj);
    if (decisions->n) cfg_node_set(a, routing, "decisions", decisions);
    return routing;
}

/* routing.strategy from the strategy fields of the ROUTING declarations
 * among decls. */
static void set_strategy(arena_t *a, cfg_node_t *routing, dsl_decl_t *const *decls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (decls[i]->kind == DSL_D_ROUTING)
            for (size_t f = 0; f < decls[i]->block->nf; f++)
                if (!strcmp(decls[i]->block->fields[f].key, "strategy"))
                    cfg_node_set(a, routing, "strategy",
                                 value_node(a, decls[i]->block->fields[f].val));
}

int dsl_compile_sections(arena_t *a, const dsl_program_t *p, const cfg_node_t *base_routing,
                         dsl_sections_t *out, dsl_diags_t *d)
{
    size_t e0 = d->n_errors;
    memset(out, 0, sizeof *out);
    scope_t s = {.a = a, .d = d, .prog = p, .decls = p->decls, .n = p->n};
    cfg_node_t *routing = mk_map(a);
    /* key order of SPEC §13: strategy, modelCards, signals, projections, decisions */
    set_strategy(a, routing, p->decls, p->n);
    cfg_node_t *cards = mk_seq(a);
    for (size_t i = 0; i < p->n; i++)
        if (p->decls[i]->kind == DSL_D_MODEL)
            cfg_node_append(a, cards, named_block(a, p->decls[i]->name, p->decls[i]->block));
    if (cards->n)
        cfg_node_set(a, routing, "modelCards", cards);
    else if (base_routing && cfg_node_get(base_routing, "modelCards"))
        cfg_node_set(a, routing, "modelCards",
                     cfg_node_copy(a, cfg_node_get(base_routing, "modelCards")));
    scope_routing(&s, routing);
    out->routing = routing;
    for (size_t i = 0; i < p->n; i++) {
        const dsl_decl_t *dc = p->decls[i];
        if (dc->kind == DSL_D_RECIPE) {
            if (!out->recipes) out->recipes = mk_seq(a);
            cfg_node_t *r = mk_map(a);
            cfg_node_set(a, r, "name", mk_str(a, dc->name));
            if (dc->desc) cfg_node_set(a, r, "description", cfg_node_scalar(a, dc->desc, true));
            scope_t rs = {.a = a,
                          .d = d,
                          .prog = p,
                          .decls = dc->decls,
                          .n = dc->n_decls,
                          .outer = p->decls,
                          .n_outer = p->n};
            cfg_node_t *rr = mk_map(a);
            set_strategy(a, rr, dc->decls, dc->n_decls);
            cfg_node_set(a, r, "routing", scope_routing(&rs, rr));
            cfg_node_append(a, out->recipes, r);
        } else if (dc->kind == DSL_D_ENTRYPOINT) {
            if (!out->entrypoints) out->entrypoints = mk_seq(a);
            cfg_node_append(a, out->entrypoints, value_node(a, dc->block));
        }
    }
    return d->n_errors > e0 ? -1 : 0;
}

/* ---- output and the loader check ---- */

static void emit_section(buf_t *out, arena_t *a, const char *key, cfg_node_t *val)
{
    cfg_node_t *doc = mk_map(a);
    cfg_node_set(a, doc, key, val);
    cfg_emit_opts_t o = {0};
    cfg_yaml_emit(out, doc, &o);
    if (out->len && out->data[out->len - 1] != '\n') buf_putc(out, '\n');
}

/* [start, end) byte range of the top-level `key:` section in text, or false. */
static bool find_section(const char *t, size_t len, const char *key, size_t *start, size_t *end)
{
    size_t kl = strlen(key), i = 0;
    bool in = false;
    size_t last_content = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && t[e] != '\n')
            e++;
        size_t next = e < len ? e + 1 : e;
        char c = t[i];
        bool top =
            i < len && c != ' ' && c != '\t' && c != '#' && c != '\n' && c != '\r' && c != '-';
        if (in) {
            if (top) {
                *end = last_content;
                return true;
            }
            bool blank = true;
            for (size_t k = i; k < e; k++)
                if (t[k] != ' ' && t[k] != '\t' && t[k] != '\r') blank = false;
            if (!blank && c != '#') last_content = next;
        } else if (top && e - i > kl && !strncmp(t + i, key, kl) && t[i + kl] == ':') {
            in = true;
            *start = i;
            last_content = next;
        }
        i = next;
    }
    if (in) *end = last_content;
    return in;
}

static void splice(buf_t *out, const char *text, size_t len, const char *key, const buf_t *repl)
{
    size_t s = 0, e = 0;
    if (find_section(text, len, key, &s, &e)) {
        buf_append(out, text, s);
        buf_append(out, repl->data, repl->len);
        buf_append(out, text + e, len - e);
    } else {
        buf_append(out, text, len);
        if (len && text[len - 1] != '\n') buf_putc(out, '\n');
        buf_append(out, repl->data, repl->len);
    }
}

static void collect_models(const cfg_node_t *n, const char *key, cfg_node_t *seen, arena_t *a)
{
    if (!n) return;
    if (n->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            if (!strcmp(n->keys[i]->str, key) && n->items[i]->kind == CFG_NODE_SCALAR &&
                !cfg_node_get(seen, n->items[i]->str))
                cfg_node_set(a, seen, n->items[i]->str, mk_str(a, ""));
            collect_models(n->items[i], key, seen, a);
        }
    } else if (n->kind == CFG_NODE_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            collect_models(n->items[i], key, seen, a);
    }
}

/* A scaffold config around standalone sections, so the real loader can
 * check the routing section (and `dsl test` can run it): placeholder
 * providers (and cards when none) for every referenced model, placeholder
 * classifiers for every referenced classifier. Never part of the output. */
static void scaffold_config(arena_t *a, const dsl_sections_t *s, buf_t *out)
{
    cfg_node_t *models = mk_map(a), *cls = mk_map(a);
    collect_models(s->routing, "model", models, a);
    collect_models(s->recipes, "model", models, a);
    cfg_node_t *cards = cfg_node_get(s->routing, "modelCards");
    if (cards)
        for (size_t i = 0; i < cards->n; i++) {
            cfg_node_t *nm = cfg_node_get(cards->items[i], "name");
            if (nm && nm->kind == CFG_NODE_SCALAR && !cfg_node_get(models, nm->str))
                cfg_node_set(a, models, nm->str, mk_str(a, ""));
        }
    collect_models(s->routing, "classifier", cls, a);
    collect_models(s->recipes, "classifier", cls, a);
    cfg_node_t *doc = mk_map(a), *prov = mk_map(a), *ms = mk_seq(a);
    cfg_node_set(a, doc, "version", mk_str(a, "v0.3"));
    for (size_t i = 0; i < models->n; i++) {
        cfg_node_t *m = mk_map(a), *br = mk_seq(a), *b = mk_map(a);
        cfg_node_set(a, m, "name", mk_str(a, models->keys[i]->str));
        cfg_node_set(a, b, "endpoint", mk_str(a, "127.0.0.1:9"));
        cfg_node_append(a, br, b);
        cfg_node_set(a, m, "backend_refs", br);
        cfg_node_append(a, ms, m);
    }
    if (models->n) {
        cfg_node_set(a, prov, "defaults", mk_map(a));
        cfg_node_set(a, cfg_node_get(prov, "defaults"), "default_model",
                     mk_str(a, models->keys[0]->str));
        cfg_node_set(a, prov, "models", ms);
        cfg_node_set(a, doc, "providers", prov);
    }
    cfg_node_t *routing = cfg_node_copy(a, s->routing);
    if (!cards) {
        cfg_node_t *cs = mk_seq(a);
        for (size_t i = 0; i < models->n; i++) {
            cfg_node_t *c = mk_map(a);
            cfg_node_set(a, c, "name", mk_str(a, models->keys[i]->str));
            cfg_node_append(a, cs, c);
        }
        cfg_node_set(a, routing, "modelCards", cs);
    }
    cfg_node_set(a, doc, "routing", routing);
    if (s->recipes) cfg_node_set(a, doc, "recipes", s->recipes);
    if (s->entrypoints) cfg_node_set(a, doc, "entrypoints", s->entrypoints);
    if (cls->n) {
        cfg_node_t *g = mk_map(a), *mc = mk_map(a), *cl = mk_seq(a);
        for (size_t i = 0; i < cls->n; i++) {
            cfg_node_t *c = mk_map(a);
            cfg_node_set(a, c, "name", mk_str(a, cls->keys[i]->str));
            cfg_node_set(a, c, "type", mk_str(a, "http_classify"));
            cfg_node_set(a, c, "endpoint", mk_str(a, "http://127.0.0.1:9/classify"));
            cfg_node_append(a, cl, c);
        }
        cfg_node_set(a, mc, "classifiers", cl);
        cfg_node_set(a, g, "model_catalog", mc);
        cfg_node_set(a, doc, "global", g);
    }
    cfg_emit_opts_t o = {0};
    cfg_yaml_emit(out, doc, &o);
}

int dsl_compile(const dsl_compile_in_t *in, buf_t *out, cfg_t **cfg_out, dsl_diags_t *d)
{
    if (cfg_out) *cfg_out = NULL;
    arena_t a;
    arena_init(&a, 65536);
    int rc = -1;
    cfg_diags_t cd;
    cfg_diags_init(&cd);
    const cfg_node_t *base_routing = NULL;
    if (in->base_text) {
        cfg_node_t *root = cfg_yaml_parse(&a, in->base_name, in->base_text, in->base_len, &cd);
        if (!root) goto loader_diags;
        base_routing = cfg_node_get(root, "routing");
    }
    dsl_sections_t s;
    if (dsl_compile_sections(&a, in->prog, base_routing, &s, d) != 0) goto done;
    buf_t text = BUF_INIT, check = BUF_INIT;
    if (in->base_text) {
        buf_t r = BUF_INIT, cur = BUF_INIT;
        emit_section(&r, &a, "routing", s.routing);
        splice(&text, in->base_text, in->base_len, "routing", &r);
        const char *keys[2] = {"recipes", "entrypoints"};
        cfg_node_t *vals[2] = {s.recipes, s.entrypoints};
        for (int k = 0; k < 2; k++) {
            if (!vals[k]) continue;
            buf_reset(&r);
            emit_section(&r, &a, keys[k], vals[k]);
            buf_reset(&cur);
            splice(&cur, text.data, text.len, keys[k], &r);
            buf_reset(&text);
            buf_append(&text, cur.data, cur.len);
        }
        buf_free(&r);
        buf_free(&cur);
        buf_append(&check, text.data, text.len);
    } else {
        emit_section(&text, &a, "routing", s.routing);
        if (s.recipes) emit_section(&text, &a, "recipes", s.recipes);
        if (s.entrypoints) emit_section(&text, &a, "entrypoints", s.entrypoints);
        scaffold_config(&a, &s, &check);
    }
    cfg_load_opts_t lo = {0};
    cfg_t *c = cfg_load_string(in->base_text ? in->base_name : "compiled.yaml",
                               check.data ? check.data : "", check.len, &lo, &cd);
    if (c) {
        buf_append(out, text.data, text.len);
        if (cfg_out)
            *cfg_out = c;
        else
            cfg_free(c);
        rc = 0;
    }
    buf_free(&text);
    buf_free(&check);
loader_diags:
    for (size_t i = 0; i < cd.n; i++) {
        const cfg_diag_t *x = &cd.items[i];
        if (x->severity != CFG_DIAG_ERROR) continue;
        dsl_diag_add(d, DSL_ERROR, 0, 0, NULL,
                     "the compiled config does not load: %s:%d:%d: %s%s%s", x->file ? x->file : "",
                     x->line, x->col, x->path ? x->path : "", x->path ? ": " : "", x->message);
    }
done:
    cfg_diags_free(&cd);
    arena_deinit(&a);
    return rc;
}

void dsl_fmt_tests(buf_t *out, const dsl_program_t *p)
{
    dsl_program_t t = {0};
    dsl_decl_t *v[4096];
    t.decls = v;
    for (size_t i = 0; i < p->n && t.n < 4096; i++) {
        if (p->decls[i]->kind == DSL_D_TEST) v[t.n++] = p->decls[i];
        if (p->decls[i]->kind == DSL_D_RECIPE)
            for (size_t k = 0; k < p->decls[i]->n_decls && t.n < 4096; k++)
                if (p->decls[i]->decls[k]->kind == DSL_D_TEST) v[t.n++] = p->decls[i]->decls[k];
    }
    if (t.n) dsl_fmt(out, &t);
}
