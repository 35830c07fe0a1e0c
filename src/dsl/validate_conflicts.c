/* validate_conflicts.c - the condition analysis of dsl_validate (SPEC
 * §10.3): every route's WHEN expanded to disjunctive normal form, then
 * overlap between routes without a mutual-exclusion guard, shadowing by a
 * higher-ranked route, rank ties, and impossible ANDs over one partition.
 * The reference, range and EMIT checks that feed it are in validate.c. */
#include "dsl/validate_internal.h"
#include "config/schema.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

static const dsl_decl_t *partition_of(const sc_t *s, const char *fam, const char *name)
{
    if (strcmp(fam, "domain") && strcmp(fam, "embedding")) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const dsl_decl_t *d = s->decls[i];
        if (d->kind != DSL_D_PROJECTION || strcmp(d->kw, "partition")) continue;
        const dsl_value_t *m = dsl_block_get(d->block, "members");
        for (size_t k = 0; m && m->kind == DSL_V_LIST && k < m->n; k++)
            if (m->items[k]->s && !strcmp(m->items[k]->s, name)) return d;
    }
    return NULL;
}

typedef struct dnf {
    lit_t *cl[MAXC];
    int cn[MAXC];
    int n;
    bool overflow;
} dnf_t;

static const char *lit_key(arena_t *a, const dsl_expr_t *e)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s(\"%s\"", e->family, e->name);
    for (size_t i = 0; i < e->nf; i++) {
        buf_printf(&b, ", %s: ", e->fields[i].key);
        dsl_fmt_value(&b, e->fields[i].val, 1000);
    }
    buf_putc(&b, ')');
    char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

static void dnf_of(arena_t *a, const dsl_expr_t *e, bool neg, dnf_t *out)
{
    out->n = 0;
    out->overflow = false;
    if (e->kind == DSL_E_REF) {
        lit_t *l = arena_alloc(a, sizeof *l);
        *l = (lit_t){lit_key(a, e), e, neg};
        out->cl[0] = l;
        out->cn[0] = 1;
        out->n = 1;
        return;
    }
    if (e->kind == DSL_E_NOT) {
        dnf_of(a, e->kids[0], !neg, out);
        return;
    }
    bool is_or = (e->kind == DSL_E_OR) != neg;
    dnf_t *sub = arena_calloc(a, sizeof *sub);
    if (is_or) {
        for (size_t i = 0; i < e->n; i++) {
            dnf_of(a, e->kids[i], neg, sub);
            if (sub->overflow || out->n + sub->n > MAXC) {
                out->overflow = true;
                return;
            }
            for (int k = 0; k < sub->n; k++) {
                out->cl[out->n] = sub->cl[k];
                out->cn[out->n++] = sub->cn[k];
            }
        }
        return;
    }
    /* AND: cross product */
    out->n = 1;
    out->cl[0] = NULL;
    out->cn[0] = 0;
    dnf_t *acc = arena_calloc(a, sizeof *acc);
    for (size_t i = 0; i < e->n; i++) {
        dnf_of(a, e->kids[i], neg, sub);
        if (sub->overflow || (long)out->n * sub->n > MAXC) {
            out->overflow = true;
            return;
        }
        acc->n = 0;
        for (int x = 0; x < out->n; x++)
            for (int y = 0; y < sub->n; y++) {
                int n = out->cn[x] + sub->cn[y];
                if (n > MAXL) {
                    out->overflow = true;
                    return;
                }
                lit_t *c = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *c);
                if (out->cn[x]) memcpy(c, out->cl[x], (size_t)out->cn[x] * sizeof *c);
                if (sub->cn[y]) memcpy(c + out->cn[x], sub->cl[y], (size_t)sub->cn[y] * sizeof *c);
                acc->cl[acc->n] = c;
                acc->cn[acc->n++] = n;
            }
        *out = *acc;
    }
}

/* context range of a positive context literal: [lo, hi] */
static void ctx_range(const sc_t *s, const dsl_expr_t *e, double *lo, double *hi)
{
    *lo = 0;
    *hi = INFINITY;
    const dsl_decl_t *d = vx_find_signal(s, "context", e->name);
    if (!d) return;
    const dsl_value_t *mn = dsl_block_get(d->block, "min_tokens"),
                      *mx = dsl_block_get(d->block, "max_tokens");
    uint64_t t;
    if (mn && mn->s && cfg_parse_tokens(mn->s, &t)) *lo = (double)t;
    if (mx && mx->s && cfg_parse_tokens(mx->s, &t)) *hi = (double)t;
}

/* Why the literals of one or two clauses cannot hold together, or NULL. */
static const char *incompatible(arena_t *a, const sc_t *s, const lit_t *x, int nx, const lit_t *y,
                                int ny)
{
    int n = nx + ny;
    const lit_t *all[2 * MAXL];
    for (int i = 0; i < nx; i++)
        all[i] = &x[i];
    for (int i = 0; i < ny; i++)
        all[nx + i] = &y[i];
    double lo = 0, hi = INFINITY;
    for (int i = 0; i < n; i++) {
        const lit_t *p = all[i];
        for (int j = i + 1; j < n; j++) {
            const lit_t *q = all[j];
            if (!strcmp(p->key, q->key) && p->neg != q->neg)
                return arena_sprintf(a, "one requires NOT %s", p->key);
            if (p->neg || q->neg) continue;
            const dsl_expr_t *pe = p->ref, *qe = q->ref;
            if (!strcmp(pe->family, qe->family) && strcmp(pe->name, qe->name)) {
                if (!strcmp(pe->family, "language")) return "they require different languages";
                const dsl_decl_t *pp = partition_of(s, pe->family, pe->name);
                if (pp && pp == partition_of(s, qe->family, qe->name))
                    return arena_sprintf(a, "\"%s\" and \"%s\" are members of partition \"%s\"",
                                         pe->name, qe->name, pp->name);
                if (!strcmp(pe->family, "projection")) {
                    const dsl_decl_t *mp = vx_mapping_of_output(s, pe->name);
                    if (mp && mp == vx_mapping_of_output(s, qe->name))
                        return arena_sprintf(a, "\"%s\" and \"%s\" are outputs of mapping \"%s\"",
                                             pe->name, qe->name, mp->name);
                }
            }
        }
        if (!p->neg && !strcmp(p->ref->family, "context")) {
            double l, h;
            ctx_range(s, p->ref, &l, &h);
            if (l > lo) lo = l;
            if (h < hi) hi = h;
        }
    }
    if (lo > hi) return "their context ranges are disjoint";
    return NULL;
}

static bool shares_positive(const lit_t *x, int nx, const lit_t *y, int ny, const char **which)
{
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            if (!x[i].neg && !y[j].neg && !strcmp(x[i].key, y[j].key)) {
                *which = x[i].key;
                return true;
            }
    return false;
}

static bool subset(const lit_t *x, int nx, const lit_t *y, int ny)
{
    for (int i = 0; i < nx; i++) {
        bool f = false;
        for (int j = 0; j < ny && !f; j++)
            f = !strcmp(x[i].key, y[j].key) && x[i].neg == y[j].neg;
        if (!f) return false;
    }
    return true;
}

/* impossible ANDs: an AND node whose direct positive children are two members of one partition */
void vx_check_and(vx_t *v, const sc_t *s, const dsl_expr_t *e)
{
    if (e->kind == DSL_E_REF) return;
    if (e->kind == DSL_E_AND) {
        for (size_t i = 0; i < e->n; i++)
            for (size_t j = i + 1; j < e->n; j++) {
                const dsl_expr_t *x = e->kids[i], *y = e->kids[j];
                if (x->kind != DSL_E_REF || y->kind != DSL_E_REF || strcmp(x->family, y->family) ||
                    !strcmp(x->name, y->name))
                    continue;
                const dsl_decl_t *px = partition_of(s, x->family, x->name);
                if (px && px == partition_of(s, y->family, y->name))
                    dsl_diag_add(
                        v->d, DSL_ERROR, y->line, y->col, "use OR, or drop one of them",
                        "impossible AND: %s(\"%s\") and %s(\"%s\") are members of partition \"%s\" "
                        "(at most one matches)",
                        x->family, x->name, y->family, y->name, px->name);
            }
    }
    for (size_t i = 0; i < e->n; i++)
        vx_check_and(v, s, e->kids[i]);
}

/* rank: >0 when a strictly outranks b on the primary key */
static int outranks(const char *strategy, const rt_t *a, const rt_t *b)
{
    if (!strcmp(strategy, "confidence")) return 0;
    if (!strcmp(strategy, "tiers")) {
        int64_t ta = a->tier ? a->tier : INT64_MAX, tb = b->tier ? b->tier : INT64_MAX;
        return ta < tb;
    }
    return a->prio > b->prio;
}

static bool ties(const char *strategy, const rt_t *a, const rt_t *b)
{
    if (!strcmp(strategy, "confidence")) return true;
    if (!strcmp(strategy, "tiers")) return a->tier == b->tier && a->prio == b->prio;
    return a->prio == b->prio;
}

void vx_conflicts(vx_t *v, sc_t *s)
{
    arena_t *a = &v->a;
    bool any_tier = false, any_untiered = false;
    for (size_t i = 0; i < s->n_routes; i++) {
        rt_t *r = &s->routes[i];
        if (r->tier)
            any_tier = true;
        else
            any_untiered = true;
        if (!r->when) {
            r->nc = 1;
            r->cl[0] = NULL;
            r->cn[0] = 0;
            continue;
        }
        dnf_t *d = arena_calloc(a, sizeof *d);
        dnf_of(a, r->when, false, d);
        if (d->overflow) {
            r->nc = -1;
            continue;
        }
        /* drop self-contradictory clauses; all gone = never matches */
        r->nc = 0;
        const char *why = NULL;
        for (int k = 0; k < d->n; k++) {
            const char *w = incompatible(a, s, d->cl[k], d->cn[k], NULL, 0);
            if (w) {
                why = w;
                continue;
            }
            r->cl[r->nc] = d->cl[k];
            r->cn[r->nc++] = d->cn[k];
        }
        if (!r->nc)
            dsl_diag_add(v->d, DSL_WARNING, r->when->line, r->when->col, "rewrite the condition",
                         "route \"%s\" can never match: %s", r->name, why);
    }
    const char *strategy = s->strategy ? s->strategy : any_tier ? "tiers" : "priority";
    if (any_tier && any_untiered && strcmp(strategy, "tiers") == 0)
        for (size_t i = 0; i < s->n_routes; i++)
            if (!s->routes[i].tier)
                dsl_diag_add(v->d, DSL_WARNING, s->routes[i].line, s->routes[i].col,
                             "give it a TIER",
                             "route \"%s\" has no TIER while others do: it sorts after every tier",
                             s->routes[i].name);
    for (size_t j = 0; j < s->n_routes; j++) {
        rt_t *rj = &s->routes[j];
        if (rj->nc <= 0) continue;
        bool catch_j = !rj->when;
        /* catch-all above other routes */
        if (catch_j)
            for (size_t i = 0; i < s->n_routes; i++)
                if (i != j && s->routes[i].when && outranks(strategy, rj, &s->routes[i])) {
                    dsl_diag_add(
                        v->d, DSL_WARNING, rj->line, rj->col,
                        "rank the catch-all below every other route",
                        "catch-all route \"%s\" ranks above \"%s\", which can never be chosen",
                        rj->name, s->routes[i].name);
                    break;
                }
        /* overlap with an earlier route */
        for (size_t i = 0; i < j; i++) {
            rt_t *ri = &s->routes[i];
            if (ri->nc <= 0 || !ties(strategy, ri, rj)) continue;
            bool reported = false;
            for (int x = 0; x < ri->nc && !reported; x++)
                for (int y = 0; y < rj->nc && !reported; y++) {
                    const char *which;
                    if (!shares_positive(ri->cl[x], ri->cn[x], rj->cl[y], rj->cn[y], &which))
                        continue;
                    if (incompatible(a, s, ri->cl[x], ri->cn[x], rj->cl[y], rj->cn[y])) continue;
                    char fix[512];
                    snprintf(
                        fix, sizeof fix,
                        "give one a different %s, or add AND NOT %s-exclusive guard to one of them",
                        !strcmp(strategy, "tiers") ? "TIER or PRIORITY" : "PRIORITY", which);
                    snprintf(
                        fix, sizeof fix,
                        "give one a different %s, or guard one with a condition the other excludes",
                        !strcmp(strategy, "tiers") ? "TIER or PRIORITY" : "PRIORITY");
                    dsl_diag_add(v->d, DSL_WARNING, rj->line, rj->col, fix,
                                 "routes \"%s\" and \"%s\" can both fire on the same input (both "
                                 "on %s) with no "
                                 "mutual-exclusion guard, and they tie on rank",
                                 ri->name, rj->name, which);
                    reported = true;
                }
        }
        /* shadowing */
        if (catch_j || !strcmp(strategy, "confidence")) continue;
        int shadowed = 0;
        const char *by = NULL;
        for (int y = 0; y < rj->nc; y++) {
            bool sh = false;
            for (size_t i = 0; i < s->n_routes && !sh; i++) {
                rt_t *ri = &s->routes[i];
                if (i == j || ri->nc <= 0 || !ri->when || !outranks(strategy, ri, rj)) continue;
                for (int x = 0; x < ri->nc && !sh; x++)
                    if (ri->cn[x] && subset(ri->cl[x], ri->cn[x], rj->cl[y], rj->cn[y])) {
                        sh = true;
                        by = ri->name;
                    }
            }
            shadowed += sh;
        }
        if (shadowed && shadowed == rj->nc)
            dsl_diag_add(v->d, DSL_WARNING, rj->line, rj->col,
                         "rank it above the shadowing route or narrow that one",
                         "route \"%s\" is unreachable: every way it can match is shadowed by "
                         "higher-ranked \"%s\"",
                         rj->name, by);
        else if (shadowed)
            dsl_diag_add(
                v->d, DSL_WARNING, rj->line, rj->col, NULL,
                "route \"%s\": %d of its %d condition clauses are shadowed by higher-ranked \"%s\"",
                rj->name, shadowed, rj->nc, by);
    }
}
