/* validate.c - semantic checks of a parsed program (SPEC §10.3): references
 * (signals, models, plugins, LoRAs, tests' routes) with did-you-mean, field
 * names checked against the config loader's own schema tables, ranges, a
 * route without MODEL, EMIT rules and projection cycles, walking every
 * scope. The condition analysis (impossible ANDs, and conflicts over the
 * disjunctive normal form of every WHEN: overlap without a mutual-exclusion
 * guard, shadowing and rank problems) is in validate_conflicts.c. */
#include "dsl/validate_internal.h"
#include "config/family.h"
#include "config/global.h"
#include "config/schema.h"
#include "dsl/compile.h"
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* the loader's tables (src/config) */
extern const cfg_schema_t cfg_schema_session, cfg_schema_retention, cfg_schema_model_card,
    cfg_schema_partition, cfg_schema_score, cfg_schema_mapping, cfg_schema_plugin,
    cfg_schema_model_ref, cfg_schema_routing, cfg_schema_entrypoint;

const char *const *dsl_family_names(size_t *n)
{
    return cfg_signal_family_names(n);
}

/* Words of a "a | b | c" doc string or a "a|b|c" choices string. */
static size_t split_choices(const char *s, char out[][32], size_t max)
{
    size_t n = 0;
    if (!s) return 0;
    while (*s && n < max) {
        while (*s == ' ' || *s == '|')
            s++;
        size_t l = 0;
        while (s[l] && s[l] != '|' && s[l] != ' ' && s[l] != ';' && s[l] != '(')
            l++;
        if (!l) break;
        if (l < 32) {
            memcpy(out[n], s, l);
            out[n][l] = 0;
            n++;
        }
        s += l;
        while (*s == ' ')
            s++;
        if (*s != '|') break;
    }
    return n;
}

static void did_you_mean(char *fix, size_t fl, const char *word, const char *const *c, size_t n,
                         const char *lead)
{
    const char *s = cfg_suggest(word, c, n);
    if (s)
        snprintf(fix, fl, "%s\"%s\"", lead ? lead : "did you mean ", s);
    else
        fix[0] = 0;
}

/* An error about an unknown word, with "did you mean" the nearest of c[0..n)
 * as its fix when one is near enough. */
static void unknown_err(vx_t *v, int line, int col, const char *word, const char *const *c,
                        size_t n, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void unknown_err(vx_t *v, int line, int col, const char *word, const char *const *c,
                        size_t n, const char *fmt, ...)
{
    char fix[256];
    did_you_mean(fix, sizeof fix, word, c, n, NULL);
    va_list ap;
    va_start(ap, fmt);
    dsl_diag_vadd(v->d, DSL_ERROR, line, col, fix[0] ? fix : NULL, fmt, ap);
    va_end(ap);
}

/* The signal family named name, or -1 after an error suggesting one of
 * the names known() lists. */
static int family_of(vx_t *v, const char *name, int line, int col,
                     const char *const *(*known)(size_t *n))
{
    int fam = cfg_signal_family_by_name(name);
    if (fam < 0) {
        size_t n;
        const char *const *c = known(&n);
        unknown_err(v, line, col, name, c, n, "unknown signal family \"%s\"", name);
    }
    return fam;
}

static void check_fields(vx_t *v, const dsl_value_t *block, const cfg_schema_t *s, const char *what)
{
    if (!block || block->kind != DSL_V_BLOCK) return;
    const char *keys[96];
    size_t nk = 0;
    for (const cfg_field_t *f = s->fields; f->key && nk < 96; f++)
        keys[nk++] = f->key;
    for (size_t i = 0; i < block->nf; i++) {
        const dsl_field_t *f = &block->fields[i];
        if (cfg_schema_field(s, f->key)) continue;
        unknown_err(v, f->line, f->col, f->key, keys, nk, "unknown field \"%s\" in %s", f->key,
                    what);
    }
}

/* ---- scope of names ---- */

const dsl_decl_t *vx_find_signal(const sc_t *s, const char *fam, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *d = s->decls[i];
        if (d->kind == DSL_D_SIGNAL && !strcmp(d->name, name) && (!fam || !strcmp(d->kw, fam)))
            return d;
    }
    return NULL;
}

static const dsl_decl_t *find_decl(const sc_t *s, dsl_dkind_t k, const char *name, bool outer)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->decls[i]->kind == k && !strcmp(s->decls[i]->name, name)) return s->decls[i];
    if (outer)
        for (size_t i = 0; i < s->n_outer; i++)
            if (s->outer[i]->kind == k && !strcmp(s->outer[i]->name, name)) return s->outer[i];
    return NULL;
}

/* mapping output name -> mapping decl */
const dsl_decl_t *vx_mapping_of_output(const sc_t *s, const char *out)
{
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *d = s->decls[i];
        if (d->kind != DSL_D_PROJECTION || strcmp(d->kw, "mapping")) continue;
        const dsl_value_t *o = dsl_block_get(d->block, "outputs");
        for (size_t k = 0; o && o->kind == DSL_V_LIST && k < o->n; k++) {
            const dsl_value_t *nm = dsl_block_get(o->items[k], "name");
            if (nm && nm->s && !strcmp(nm->s, out)) return d;
        }
    }
    return NULL;
}

/* ---- references in conditions ---- */

static void check_ref(vx_t *v, const sc_t *s, const dsl_expr_t *e)
{
    if (e->kind != DSL_E_REF) {
        for (size_t i = 0; i < e->n; i++)
            check_ref(v, s, e->kids[i]);
        return;
    }
    for (size_t i = 0; i < e->nf; i++) {
        const char *k = e->fields[i].key;
        if (strcmp(k, "label") && strcmp(k, "predicate") && strcmp(k, "on_error")) {
            const char *c[] = {"label", "predicate", "on_error"};
            unknown_err(v, e->fields[i].line, e->fields[i].col, k, c, 3,
                        "unknown condition field \"%s\" (label, predicate or on_error)", k);
        }
    }
    if (!strcmp(e->family, "projection")) {
        if (vx_mapping_of_output(s, e->name)) return;
        /* a partition member or a score may also be referenced by name */
        for (size_t i = 0; i < s->n; i++)
            if (s->decls[i]->kind == DSL_D_PROJECTION && !strcmp(s->decls[i]->name, e->name))
                return;
        dsl_diag_add(v->d, DSL_ERROR, e->line, e->col,
                     "declare a PROJECTION mapping with this output",
                     "projection(\"%s\") is not an output of any PROJECTION mapping", e->name);
        return;
    }
    if (family_of(v, e->family, e->line, e->col, cfg_signal_leaf_types) < 0) return;
    if (vx_find_signal(s, e->family, e->name)) return;
    const dsl_decl_t *other = vx_find_signal(s, NULL, e->name);
    char fix[256];
    if (other) {
        snprintf(fix, sizeof fix, "write %s(\"%s\")", other->kw, e->name);
        dsl_diag_add(v->d, DSL_ERROR, e->line, e->col, fix,
                     "%s(\"%s\"): \"%s\" is a %s signal, not %s", e->family, e->name, e->name,
                     other->kw, e->family);
        return;
    }
    const char *c[256];
    size_t n = 0;
    for (size_t i = 0; i < s->n && n < 256; i++)
        if (s->decls[i]->kind == DSL_D_SIGNAL && !strcmp(s->decls[i]->kw, e->family))
            c[n++] = s->decls[i]->name;
    did_you_mean(fix, sizeof fix, e->name, c, n, NULL);
    if (!fix[0]) snprintf(fix, sizeof fix, "declare it: SIGNAL %s %s { ... }", e->family, e->name);
    dsl_diag_add(v->d, DSL_ERROR, e->line, e->col, fix, "undefined signal %s(\"%s\")", e->family,
                 e->name);
}

/* ---- routes ---- */

static bool parse_i64(const char *s, int64_t *out)
{
    return s && cfg_parse_int64(s, out);
}

static const char *const *model_names(vx_t *v, const sc_t *top, size_t *n)
{
    /* MODEL cards when declared, else the base's models; NULL: cannot check */
    static __thread const char *names[1024];
    *n = 0;
    for (size_t i = 0; i < top->n && *n < 1024; i++)
        if (top->decls[i]->kind == DSL_D_MODEL) names[(*n)++] = top->decls[i]->name;
    if (*n) return names;
    if (!v->base) return NULL;
    for (size_t i = 0; i < v->base->providers.n_models && *n < 1024; i++)
        names[(*n)++] = v->base->providers.models[i].name;
    return names;
}

static void check_model_ref(vx_t *v, const sc_t *top, const dsl_model_ref_t *r)
{
    size_t n;
    const char *const *names = model_names(v, top, &n);
    if (names) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(names[i], r->name);
        if (!ok) {
            char fix[256];
            did_you_mean(fix, sizeof fix, r->name, names, n, NULL);
            dsl_diag_add(v->d, DSL_ERROR, r->line, r->col,
                         fix[0] ? fix : "declare it with MODEL name { ... }",
                         "undefined model \"%s\"", r->name);
        }
    }
    for (size_t o = 0; o < r->n_opts; o++) {
        const dsl_opt_t *op = &r->opts[o];
        const char *k = op->key;
        if (!strcmp(k, "reasoning")) {
            if (op->val->kind != DSL_V_BOOL)
                dsl_diag_add(v->d, DSL_ERROR, op->line, op->col, NULL,
                             "reasoning must be true or false");
        } else if (!strcmp(k, "effort")) {
            bool ok = false;
            for (size_t i = 0; i < v->n_efforts && op->val->s; i++)
                ok |= !strcmp(v->efforts[i], op->val->s);
            if (!ok) {
                buf_t b = BUF_INIT;
                for (size_t i = 0; i < v->n_efforts; i++)
                    buf_printf(&b, "%s%s", i ? ", " : "", v->efforts[i]);
                dsl_diag_add(v->d, DSL_ERROR, op->line, op->col, NULL, "effort must be one of %s",
                             b.data);
                buf_free(&b);
            }
        } else if (!strcmp(k, "weight")) {
            double w;
            if (op->val->kind != DSL_V_NUM || !cfg_parse_double(op->val->s, &w) || w < 0)
                dsl_diag_add(v->d, DSL_ERROR, op->line, op->col, NULL,
                             "weight must be a number >= 0");
        } else if (!strcmp(k, "lora")) {
            const dsl_decl_t *card = find_decl(top, DSL_D_MODEL, r->name, false);
            bool ok = false;
            const dsl_value_t *l = card ? dsl_block_get(card->block, "loras") : NULL;
            for (size_t i = 0; l && l->kind == DSL_V_LIST && i < l->n; i++)
                ok |= l->items[i]->s && op->val->s && !strcmp(l->items[i]->s, op->val->s);
            if (!ok && (card || !v->base))
                dsl_diag_add(v->d, DSL_ERROR, op->line, op->col, "list it in the MODEL's loras",
                             "undefined LoRA \"%s\" for model \"%s\"",
                             op->val->s ? op->val->s : "?", r->name);
        } else {
            const char *c[] = {"reasoning", "effort", "weight", "lora"};
            unknown_err(v, op->line, op->col, k, c, 4,
                        "unknown model option \"%s\" (reasoning, effort, weight, lora)", k);
        }
    }
}

static void check_emit(vx_t *v, const dsl_item_t *it)
{
    if (strcmp(it->str, "retention")) {
        dsl_diag_add(v->d, DSL_ERROR, it->line, it->col, "EMIT retention { ... }",
                     "invalid EMIT kind \"%s\" (retention is the only kind)", it->str);
        return;
    }
    check_fields(v, it->block, &cfg_schema_retention, "EMIT retention");
    const dsl_value_t *drop = dsl_block_get(it->block, "drop"),
                      *ttl = dsl_block_get(it->block, "ttl_turns");
    int64_t t = 0;
    if (ttl && (ttl->kind != DSL_V_NUM || !parse_i64(ttl->s, &t) || t < 0))
        dsl_diag_add(v->d, DSL_ERROR, ttl->line, ttl->col, NULL,
                     "invalid EMIT: ttl_turns must be an integer >= 0");
    if (drop && drop->kind == DSL_V_BOOL && drop->b && t > 0)
        dsl_diag_add(v->d, DSL_ERROR, it->line, it->col, "remove ttl_turns or drop",
                     "invalid EMIT: drop with ttl_turns > 0");
    if (!it->block->nf)
        dsl_diag_add(v->d, DSL_WARNING, it->line, it->col, NULL,
                     "empty EMIT retention block has no effect");
}

/* PRIORITY or TIER: a whole number of at least min into *out, or an error. */
static void item_rank(vx_t *v, const dsl_item_t *it, int64_t min, const char *fix, const char *msg,
                      int64_t *out)
{
    int64_t x;
    if (!parse_i64(it->num, &x) || x < min)
        dsl_diag_add(v->d, DSL_ERROR, it->line, it->col, fix, "%s", msg);
    else
        *out = x;
}

static void check_items(vx_t *v, sc_t *s, const sc_t *top, const char *rname,
                        const dsl_item_t *items, size_t n, rt_t *r)
{
    int n_when = 0, n_emit = 0;
    for (size_t i = 0; i < n; i++) {
        const dsl_item_t *it = &items[i];
        switch (it->kind) {
        case DSL_I_PRIORITY:
            item_rank(v, it, 0, "PRIORITY 0 or more", "PRIORITY must be >= 0", &r->prio);
            break;
        case DSL_I_TIER:
            item_rank(v, it, 1, "TIER 1 is the first tier", "TIER must be >= 1", &r->tier);
            break;
        case DSL_I_WHEN:
            if (++n_when > 1)
                dsl_diag_add(v->d, DSL_ERROR, it->line, it->col,
                             "join the conditions with AND or OR",
                             "route \"%s\" has more than one WHEN", rname);
            check_ref(v, s, it->expr);
            vx_check_and(v, s, it->expr);
            r->when = it->expr;
            break;
        case DSL_I_MODEL:
            r->has_model = true;
            for (size_t k = 0; k < it->n_refs; k++)
                check_model_ref(v, top, &it->refs[k]);
            break;
        case DSL_I_ALGORITHM: {
            size_t k, n_alg;
            const char *const *algs = cfg_selector_names(&n_alg);
            for (k = 0; k < n_alg; k++)
                if (!strcmp(algs[k], it->str)) break;
            if (k == n_alg) {
                unknown_err(v, it->line, it->col, it->str, algs, n_alg, "unknown algorithm \"%s\"",
                            it->str);
            } else if (it->block) {
                char what[64];
                snprintf(what, sizeof what, "ALGORITHM %s", it->str);
                check_fields(v, it->block, cfg_selector_schema(k), what);
            }
            break;
        }
        case DSL_I_SESSION: check_fields(v, it->block, &cfg_schema_session, "SESSION"); break;
        case DSL_I_PLUGIN: {
            if (find_decl(s, DSL_D_PLUGIN, it->str, true)) break;
            if (cfg_plugin_kind_find(it->str)) break;
            size_t n_types;
            const char *const *types = cfg_plugin_types(&n_types);
            const char *c[64];
            size_t nc = 0;
            for (size_t j = 0; j < n_types && nc < 64; j++)
                c[nc++] = types[j];
            for (size_t j = 0; j < s->n && nc < 64; j++)
                if (s->decls[j]->kind == DSL_D_PLUGIN) c[nc++] = s->decls[j]->name;
            for (size_t j = 0; j < s->n_outer && nc < 64; j++)
                if (s->outer[j]->kind == DSL_D_PLUGIN) c[nc++] = s->outer[j]->name;
            unknown_err(v, it->line, it->col, it->str, c, nc,
                        "undefined plugin \"%s\" (neither a PLUGIN template nor a plugin type)",
                        it->str);
            break;
        }
        case DSL_I_EMIT:
            if (++n_emit > 1)
                dsl_diag_add(v->d, DSL_ERROR, it->line, it->col, "merge the EMIT blocks",
                             "invalid EMIT: retention is allowed once per route");
            check_emit(v, it);
            break;
        default: break;
        }
    }
}

static void add_route(vx_t *v, sc_t *s, const sc_t *top, const char *name, int line, int col,
                      const dsl_item_t *items, size_t n, const dsl_expr_t *when, int64_t prio,
                      const dsl_opt_t *opts, size_t n_opts)
{
    s->routes = realloc(s->routes, (s->n_routes + 1) * sizeof *s->routes);
    rt_t *r = &s->routes[s->n_routes++];
    memset(r, 0, sizeof *r);
    r->name = name;
    r->line = line;
    r->col = col;
    r->prio = prio;
    for (size_t i = 0; i < n_opts; i++) {
        int64_t x;
        if (!strcmp(opts[i].key, "tier") && opts[i].val->s && parse_i64(opts[i].val->s, &x))
            r->tier = x;
        if (!strcmp(opts[i].key, "priority") && opts[i].val->s && parse_i64(opts[i].val->s, &x))
            r->prio = x;
    }
    check_items(v, s, top, name, items, n, r);
    if (when) {
        r->when = when;
        check_ref(v, s, when);
    }
    for (size_t i = 0; i + 1 < s->n_routes; i++)
        if (!strcmp(s->routes[i].name, name))
            dsl_diag_add(v->d, DSL_ERROR, line, col, "rename one of them",
                         "duplicate route name \"%s\"", name);
    if (!r->has_model)
        dsl_diag_add(v->d, DSL_ERROR, line, col, "add MODEL <name> to the route",
                     "route \"%s\" has no MODEL", name);
}

dsl_expr_t *dsl_tree_condition(arena_t *a, const dsl_decl_t *t, size_t i);
const char *dsl_tree_branch_name(arena_t *a, const dsl_decl_t *t, size_t i);

/* ---- projections ---- */

static void check_projections(vx_t *v, const sc_t *s)
{
    size_t n = s->n;
    for (size_t i = 0; i < n; i++) {
        const dsl_decl_t *d = s->decls[i];
        if (d->kind != DSL_D_PROJECTION) continue;
        const cfg_schema_t *sch = !strcmp(d->kw, "partition") ? &cfg_schema_partition
                                  : !strcmp(d->kw, "score")   ? &cfg_schema_score
                                                              : &cfg_schema_mapping;
        char what[96];
        snprintf(what, sizeof what, "PROJECTION %s %s", d->kw, d->name);
        check_fields(v, d->block, sch, what);
        if (!strcmp(d->kw, "partition")) {
            const dsl_value_t *m = dsl_block_get(d->block, "members");
            for (size_t k = 0; m && m->kind == DSL_V_LIST && k < m->n; k++) {
                const char *nm = m->items[k]->s;
                if (nm && !vx_find_signal(s, "domain", nm) && !vx_find_signal(s, "embedding", nm))
                    dsl_diag_add(
                        v->d, DSL_ERROR, m->items[k]->line, m->items[k]->col,
                        "declare it as SIGNAL domain or SIGNAL embedding",
                        "partition member \"%s\" is not a declared domain or embedding signal", nm);
            }
        } else if (!strcmp(d->kw, "mapping")) {
            const dsl_value_t *src = dsl_block_get(d->block, "source");
            if (src && src->s && !find_decl(s, DSL_D_PROJECTION, src->s, false))
                dsl_diag_add(v->d, DSL_ERROR, src->line, src->col,
                             "declare a PROJECTION score with that name",
                             "mapping source \"%s\" is not a declared score", src->s);
        }
    }
    /* cycles: mapping -> its source score; score -> mappings whose outputs it reads */
    for (size_t i = 0; i < n; i++) {
        const dsl_decl_t *start = s->decls[i];
        if (start->kind != DSL_D_PROJECTION || !strcmp(start->kw, "partition")) continue;
        const dsl_decl_t *path[64];
        size_t depth = 0;
        const dsl_decl_t *cur = start;
        /* follow edges depth-first along the first path (graphs here are tiny) */
        bool cyc = false;
        const dsl_decl_t *stack[64];
        size_t sp = 0;
        stack[sp++] = cur;
        while (sp && !cyc && depth < 64) {
            cur = stack[--sp];
            path[depth++] = cur;
            if (!strcmp(cur->kw, "mapping")) {
                const dsl_value_t *src = dsl_block_get(cur->block, "source");
                const dsl_decl_t *nx =
                    src && src->s ? find_decl(s, DSL_D_PROJECTION, src->s, false) : NULL;
                if (nx == start)
                    cyc = true;
                else if (nx && sp < 64)
                    stack[sp++] = nx;
            } else {
                const dsl_value_t *in = dsl_block_get(cur->block, "inputs");
                for (size_t k = 0; in && in->kind == DSL_V_LIST && k < in->n; k++) {
                    const dsl_value_t *ty = dsl_block_get(in->items[k], "type"),
                                      *nm = dsl_block_get(in->items[k], "name");
                    if (!ty || !ty->s || strcmp(ty->s, "projection") || !nm || !nm->s) continue;
                    const dsl_decl_t *nx = vx_mapping_of_output(s, nm->s);
                    if (!nx) nx = find_decl(s, DSL_D_PROJECTION, nm->s, false);
                    if (nx == start)
                        cyc = true;
                    else if (nx && sp < 64)
                        stack[sp++] = nx;
                }
            }
        }
        /* report each cycle once: at its first declaration */
        for (size_t k = 0; cyc && k < depth; k++)
            for (size_t q = 0; q < i; q++)
                if (s->decls[q] == path[k]) cyc = false;
        if (cyc) {
            buf_t b = BUF_INIT;
            for (size_t k = 0; k < depth; k++)
                buf_printf(&b, "%s -> ", path[k]->name);
            buf_puts(&b, start->name);
            dsl_diag_add(v->d, DSL_ERROR, start->line, start->col, "break the cycle",
                         "projection cycle: %s", b.data);
            buf_free(&b);
        }
    }
}

/* ---- scopes ---- */

static void check_scope(vx_t *v, sc_t *s, const sc_t *top)
{
    bool has_tree = false, has_route = false;
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *d = s->decls[i];
        switch (d->kind) {
        case DSL_D_ROUTING: {
            check_fields(v, d->block, &cfg_schema_routing, "ROUTING");
            const dsl_value_t *st = dsl_block_get(d->block, "strategy");
            if (st && st->s) {
                if (strcmp(st->s, "priority") && strcmp(st->s, "confidence") &&
                    strcmp(st->s, "tiers"))
                    dsl_diag_add(v->d, DSL_ERROR, st->line, st->col, NULL,
                                 "strategy must be priority, confidence or tiers");
                else
                    s->strategy = st->s;
            }
            for (size_t k = 0; k < d->block->nf; k++)
                if (strcmp(d->block->fields[k].key, "strategy") &&
                    cfg_schema_field(&cfg_schema_routing, d->block->fields[k].key))
                    dsl_diag_add(v->d, DSL_ERROR, d->block->fields[k].line, d->block->fields[k].col,
                                 "use SIGNAL, PROJECTION, MODEL and ROUTE declarations",
                                 "ROUTING takes only strategy; \"%s\" is written with declarations",
                                 d->block->fields[k].key);
            break;
        }
        case DSL_D_SIGNAL: {
            int fam = family_of(v, d->kw, d->line, d->col, dsl_family_names);
            if (fam < 0) break;
            char what[96];
            snprintf(what, sizeof what, "SIGNAL %s %s", d->kw, d->name);
            check_fields(v, d->block, cfg_signal_schema((cfg_signal_family_t)fam), what);
            for (size_t k = 0; k < i; k++)
                if (s->decls[k]->kind == DSL_D_SIGNAL && !strcmp(s->decls[k]->kw, d->kw) &&
                    !strcmp(s->decls[k]->name, d->name))
                    dsl_diag_add(v->d, DSL_ERROR, d->line, d->col, NULL, "duplicate signal %s %s",
                                 d->kw, d->name);
            break;
        }
        case DSL_D_MODEL: {
            char what[96];
            snprintf(what, sizeof what, "MODEL %s", d->name);
            check_fields(v, d->block, &cfg_schema_model_card, what);
            if (v->base && !cfg_find_model(v->base, d->name, strlen(d->name)))
                dsl_diag_add(v->d, DSL_ERROR, d->line, d->col,
                             "add it to providers.models in the base",
                             "MODEL \"%s\" is not a model of the base config", d->name);
            break;
        }
        case DSL_D_PLUGIN: {
            if (!cfg_plugin_kind_find(d->kw)) {
                size_t n_types;
                const char *const *types = cfg_plugin_types(&n_types);
                unknown_err(v, d->line, d->col, d->kw, types, n_types, "unknown plugin type \"%s\"",
                            d->kw);
            } else if (cfg_plugin_schema(d->kw)) {
                char what[96];
                snprintf(what, sizeof what, "PLUGIN %s %s", d->name, d->kw);
                check_fields(v, d->block, cfg_plugin_schema(d->kw), what);
            }
            break;
        }
        case DSL_D_ROUTE:
            has_route = true;
            add_route(v, s, top, d->name, d->line, d->col, d->items, d->n_items, NULL, 0, d->opts,
                      d->n_opts);
            for (size_t k = 0; k < d->n_opts; k++)
                if (strcmp(d->opts[k].key, "tier") && strcmp(d->opts[k].key, "priority") &&
                    strcmp(d->opts[k].key, "description"))
                    dsl_diag_add(v->d, DSL_ERROR, d->opts[k].line, d->opts[k].col,
                                 "use description=, tier= or priority=",
                                 "unknown route option \"%s\"", d->opts[k].key);
            break;
        case DSL_D_TREE:
            has_tree = true;
            for (size_t b = 0; b < d->n_branches; b++)
                add_route(v, s, top, dsl_tree_branch_name(&v->a, d, b), d->branches[b].line,
                          d->branches[b].col, d->branches[b].items, d->branches[b].n_items,
                          dsl_tree_condition(&v->a, d, b), b < 10000 ? 10000 - (int64_t)b : 0, NULL,
                          0);
            break;
        default: break;
        }
    }
    if (has_tree && has_route)
        for (size_t i = 0; i < s->n; i++)
            if (s->decls[i]->kind == DSL_D_TREE)
                dsl_diag_add(v->d, DSL_ERROR, s->decls[i]->line, s->decls[i]->col,
                             "write the branches as ROUTEs, or the ROUTEs as branches",
                             "a program may not mix DECISION_TREE and ROUTE");
    check_projections(v, s);
    vx_conflicts(v, s);
    /* TESTs name routes of this scope */
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *d = s->decls[i];
        if (d->kind != DSL_D_TEST) continue;
        for (size_t k = 0; k < d->n_cases; k++) {
            const dsl_case_t *c = &d->cases[k];
            bool ok = false;
            const char *names[512];
            size_t nn = 0;
            for (size_t r = 0; r < s->n_routes; r++) {
                ok |= !strcmp(s->routes[r].name, c->route);
                if (nn < 512) names[nn++] = s->routes[r].name;
            }
            if (!ok) {
                unknown_err(v, c->line, c->col, c->route, names, nn,
                            "TEST %s: \"%s\" is not a route", d->name, c->route);
            }
            static const char *const wk[] = {"headers", "history", "end_with_tool_result",
                                             "provider_state", "session"};
            static const char *const ek[] = {"model", "reason", "phase", "mode", "verdict_model"};
            const dsl_value_t *blocks[2] = {c->with, c->expect};
            for (int bi = 0; bi < 2; bi++) {
                const dsl_value_t *b = blocks[bi];
                const char *const *keys = bi ? ek : wk;
                size_t nk = 5;
                for (size_t f = 0; b && f < b->nf; f++) {
                    bool known = false;
                    for (size_t q = 0; q < nk; q++)
                        known |= !strcmp(keys[q], b->fields[f].key);
                    if (known) continue;
                    unknown_err(v, b->fields[f].line, b->fields[f].col, b->fields[f].key, keys, nk,
                                "unknown %s key \"%s\"", bi ? "EXPECT" : "WITH", b->fields[f].key);
                }
            }
        }
    }
    free(s->routes);
    s->routes = NULL;
    s->n_routes = 0;
}

void dsl_validate(const dsl_program_t *p, const cfg_t *base, dsl_diags_t *d)
{
    vx_t v = {.d = d, .p = p, .base = base};
    arena_init(&v.a, 65536);
    const cfg_field_t *ef = cfg_schema_field(&cfg_schema_model_ref, "reasoning_effort");
    v.n_efforts = split_choices(ef ? ef->choices : NULL, v.efforts, 12);
    sc_t top = {.decls = p->decls, .n = p->n};
    check_scope(&v, &top, &top);
    for (size_t i = 0; i < p->n; i++) {
        const dsl_decl_t *dc = p->decls[i];
        if (dc->kind == DSL_D_RECIPE) {
            sc_t rs = {.decls = dc->decls, .n = dc->n_decls, .outer = p->decls, .n_outer = p->n};
            check_scope(&v, &rs, &top);
            for (size_t k = 0; k < dc->n_decls; k++)
                if (dc->decls[k]->kind == DSL_D_MODEL)
                    dsl_diag_add(d, DSL_ERROR, dc->decls[k]->line, dc->decls[k]->col,
                                 "declare MODEL at the top level", "recipes share the model cards");
        } else if (dc->kind == DSL_D_ENTRYPOINT) {
            check_fields(&v, dc->block, &cfg_schema_entrypoint, "ENTRYPOINT");
            const dsl_value_t *r = dsl_block_get(dc->block, "recipe");
            if (!r || !r->s) {
                dsl_diag_add(d, DSL_ERROR, dc->line, dc->col, NULL, "ENTRYPOINT needs recipe:");
                continue;
            }
            bool ok = !strcmp(r->s, "default");
            for (size_t k = 0; k < p->n && !ok; k++)
                ok = p->decls[k]->kind == DSL_D_RECIPE && !strcmp(p->decls[k]->name, r->s);
            if (!ok)
                dsl_diag_add(d, DSL_ERROR, r->line, r->col, "declare RECIPE with that name",
                             "ENTRYPOINT recipe \"%s\" is not declared", r->s);
        }
    }
    if (base) {
        /* classifiers are checked only against a base (SPEC §10.3) */
        const cfg_global_ext_t *g = base->global_ext;
        for (size_t i = 0; i < p->n; i++) {
            const dsl_decl_t *dc = p->decls[i];
            if (dc->kind != DSL_D_SIGNAL) continue;
            const dsl_value_t *c = dsl_block_get(dc->block, "classifier");
            if (!c || !c->s || !g) continue;
            bool ok = false;
            for (size_t k = 0; k < g->model_catalog.n_classifiers && !ok; k++)
                ok = !strcmp(g->model_catalog.classifiers[k].name, c->s);
            if (!ok)
                dsl_diag_add(d, DSL_ERROR, c->line, c->col,
                             "declare it in global.model_catalog.classifiers",
                             "classifier \"%s\" is not in the base's model catalog", c->s);
        }
    }
    arena_deinit(&v.a);
}
