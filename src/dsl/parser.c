/* parser.c - recursive-descent parser for the routing DSL (SPEC §10.1) over
 * the token array of lexer.c. Errors never stop the run: each one is
 * reported at the offending token with what was expected, then the parser
 * resynchronises (inside a ROUTE at the next route keyword, otherwise at the
 * next top-level keyword) so one run reports several errors. Comments ride
 * along: every comment is attached to the next declaration, route item or
 * TEST case (fmt.c prints them back). */
#include "dsl/ast.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct ps {
    arena_t *a;
    dsl_tokens_t *t;
    size_t i;
    dsl_diags_t *d;
    char **carry; /* comments waiting for the next host */
    int n_carry, cap_carry;
    int depth; /* recursion guard */
} ps_t;

static dsl_token_t *peek(ps_t *p)
{
    return &p->t->v[p->i < p->t->n ? p->i : p->t->n];
}

static void carry_add(ps_t *p, char **c, int n)
{
    for (int k = 0; k < n; k++) {
        if (p->n_carry == p->cap_carry) {
            int nc = p->cap_carry ? p->cap_carry * 2 : 8;
            char **v = arena_alloc(p->a, (size_t)nc * sizeof *v);
            if (p->n_carry) memcpy(v, p->carry, (size_t)p->n_carry * sizeof *v);
            p->carry = v;
            p->cap_carry = nc;
        }
        p->carry[p->n_carry++] = c[k];
    }
}

static dsl_token_t *next(ps_t *p)
{
    dsl_token_t *t = peek(p);
    if (t->n_comments) {
        carry_add(p, t->comments, t->n_comments);
        t->n_comments = 0;
    }
    if (p->i < p->t->n) p->i++;
    return t;
}

/* The comments for a host starting at the current token. */
static char **take_comments(ps_t *p, int *n)
{
    dsl_token_t *t = peek(p);
    carry_add(p, t->comments, t->n_comments);
    t->n_comments = 0;
    char **c = p->carry;
    *n = p->n_carry;
    p->carry = NULL;
    p->n_carry = p->cap_carry = 0;
    return c;
}

static bool is_kw(const dsl_token_t *t, const char *k)
{
    return t->kind == DSL_T_KEYWORD && !strcmp(t->text, k);
}

static void describe(buf_t *b, const dsl_token_t *t)
{
    switch (t->kind) {
    case DSL_T_IDENT: buf_printf(b, "identifier \"%s\"", t->text); break;
    case DSL_T_KEYWORD: buf_printf(b, "keyword %s", t->text); break;
    case DSL_T_STRING:
        buf_puts(b, "string ");
        dsl_fmt_string(b, t->text);
        break;
    case DSL_T_NUMBER: buf_printf(b, "number %s", t->text); break;
    case DSL_T_BOOL: buf_printf(b, "%s", t->text); break;
    case DSL_T_ERROR: buf_printf(b, "invalid token \"%s\"", t->text); break;
    default: buf_puts(b, dsl_tok_kind_name(t->kind));
    }
}

static void err_at(ps_t *p, const dsl_token_t *t, const char *expected)
{
    /* a lexer error already explains an invalid token */
    if (t->kind == DSL_T_ERROR) return;
    buf_t b = BUF_INIT;
    describe(&b, t);
    dsl_diag_add(p->d, DSL_ERROR, t->line, t->col, NULL, "unexpected %s, expected %s", b.data,
                 expected);
    buf_free(&b);
}

static bool expect(ps_t *p, dsl_tok_kind_t k, const char *what)
{
    if (peek(p)->kind == k) {
        next(p);
        return true;
    }
    err_at(p, peek(p), what);
    return false;
}

/* ---- values ---- */

dsl_value_t *dsl_value_new(arena_t *a, dsl_vkind_t k, const char *s)
{
    dsl_value_t *v = arena_calloc(a, sizeof *v);
    v->kind = k;
    if (s) v->s = arena_strdup(a, s);
    return v;
}

const dsl_value_t *dsl_block_get(const dsl_value_t *block, const char *key)
{
    if (!block || block->kind != DSL_V_BLOCK) return NULL;
    for (size_t i = 0; i < block->nf; i++)
        if (!strcmp(block->fields[i].key, key)) return block->fields[i].val;
    return NULL;
}

static dsl_value_t *parse_value(ps_t *p);

static void *grow(arena_t *a, void *v, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap) return v;
    size_t nc = *cap ? *cap * 2 : 4;
    void *nv = arena_alloc(a, nc * sz);
    if (n) memcpy(nv, v, n * sz);
    *cap = nc;
    return nv;
}

/* block = "{" { field } "}" ; field = (ident | string) ":" value [","] */
static dsl_value_t *parse_block(ps_t *p)
{
    dsl_token_t *open = peek(p);
    if (!expect(p, DSL_T_LBRACE, "'{'")) return NULL;
    if (++p->depth > MAX_DEPTH) {
        dsl_diag_add(p->d, DSL_ERROR, open->line, open->col, NULL, "block nested too deeply");
        return NULL;
    }
    dsl_value_t *v = dsl_value_new(p->a, DSL_V_BLOCK, NULL);
    v->line = open->line;
    v->col = open->col;
    size_t cap = 0;
    while (peek(p)->kind != DSL_T_RBRACE) {
        dsl_token_t *k = peek(p);
        if (k->kind != DSL_T_IDENT && k->kind != DSL_T_STRING) {
            err_at(p, k, k->kind == DSL_T_EOF ? "a field or '}'" : "a field name or '}'");
            return NULL;
        }
        next(p);
        if (!expect(p, DSL_T_COLON, "':' after the field name")) return NULL;
        dsl_value_t *val = parse_value(p);
        if (!val) return NULL;
        v->fields = grow(p->a, v->fields, v->nf, &cap, sizeof *v->fields);
        v->fields[v->nf++] = (dsl_field_t){k->text, k->kind == DSL_T_STRING, val, k->line, k->col};
        if (peek(p)->kind == DSL_T_COMMA) next(p);
    }
    next(p);
    p->depth--;
    return v;
}

static dsl_value_t *parse_value(ps_t *p)
{
    dsl_token_t *t = peek(p);
    dsl_value_t *v = NULL;
    switch (t->kind) {
    case DSL_T_STRING:
        v = dsl_value_new(p->a, DSL_V_STR, t->text);
        next(p);
        break;
    case DSL_T_NUMBER:
        v = dsl_value_new(p->a, DSL_V_NUM, t->text);
        next(p);
        break;
    case DSL_T_BOOL:
        v = dsl_value_new(p->a, DSL_V_BOOL, NULL);
        v->b = !strcmp(t->text, "true");
        next(p);
        break;
    case DSL_T_IDENT:
        v = dsl_value_new(p->a, strcmp(t->text, "null") ? DSL_V_IDENT : DSL_V_NULL,
                          strcmp(t->text, "null") ? t->text : NULL);
        next(p);
        break;
    case DSL_T_LBRACE: return parse_block(p);
    case DSL_T_LBRACK: {
        next(p);
        if (++p->depth > MAX_DEPTH) {
            dsl_diag_add(p->d, DSL_ERROR, t->line, t->col, NULL, "list nested too deeply");
            return NULL;
        }
        v = dsl_value_new(p->a, DSL_V_LIST, NULL);
        size_t cap = 0;
        while (peek(p)->kind != DSL_T_RBRACK) {
            dsl_value_t *it = parse_value(p);
            if (!it) return NULL;
            v->items = grow(p->a, v->items, v->n, &cap, sizeof *v->items);
            v->items[v->n++] = it;
            if (peek(p)->kind == DSL_T_COMMA) next(p);
        }
        next(p);
        p->depth--;
        break;
    }
    default: err_at(p, t, "a value (string, number, boolean, name, list or block)"); return NULL;
    }
    v->line = t->line;
    v->col = t->col;
    return v;
}

/* One `name sep value` of an option or field list: the name token (an
 * identifier) with its value in *v; NULL after saying what was expected. */
static dsl_token_t *parse_entry(ps_t *p, const char *want_name, dsl_tok_kind_t sep,
                                const char *want_sep, dsl_value_t **v)
{
    dsl_token_t *k = peek(p);
    if (k->kind != DSL_T_IDENT) {
        err_at(p, k, want_name);
        return NULL;
    }
    next(p);
    if (!expect(p, sep, want_sep)) return NULL;
    *v = parse_value(p);
    return *v ? k : NULL;
}

/* opt = ident "=" value */
static bool parse_opts(ps_t *p, dsl_opt_t **out, size_t *n)
{
    next(p); /* ( */
    size_t cap = 0;
    while (peek(p)->kind != DSL_T_RPAREN) {
        dsl_value_t *v;
        dsl_token_t *k =
            parse_entry(p, "an option name or ')'", DSL_T_EQ, "'=' after the option name", &v);
        if (!k) return false;
        *out = grow(p->a, *out, *n, &cap, sizeof **out);
        (*out)[(*n)++] = (dsl_opt_t){k->text, v, k->line, k->col};
        if (peek(p)->kind == DSL_T_COMMA) next(p);
    }
    next(p);
    return true;
}

/* ---- expressions ---- */

static dsl_expr_t *parse_or(ps_t *p);

static dsl_expr_t *mk_bin(ps_t *p, dsl_ekind_t k, dsl_expr_t *l, dsl_expr_t *r)
{
    /* flatten: a OR (b OR c) is one OR of three (fmt prints no parentheses) */
    size_t n = (l->kind == k ? l->n : 1) + (r->kind == k ? r->n : 1);
    dsl_expr_t *e = arena_calloc(p->a, sizeof *e);
    e->kind = k;
    e->line = l->line;
    e->col = l->col;
    e->kids = arena_alloc(p->a, n * sizeof *e->kids);
    dsl_expr_t *sides[2] = {l, r};
    for (int s = 0; s < 2; s++) {
        if (sides[s]->kind == k)
            for (size_t i = 0; i < sides[s]->n; i++)
                e->kids[e->n++] = sides[s]->kids[i];
        else
            e->kids[e->n++] = sides[s];
    }
    return e;
}

static dsl_expr_t *parse_unary(ps_t *p)
{
    dsl_token_t *t = peek(p);
    if (p->depth > MAX_DEPTH) {
        dsl_diag_add(p->d, DSL_ERROR, t->line, t->col, NULL, "expression nested too deeply");
        return NULL;
    }
    if (is_kw(t, "NOT")) {
        next(p);
        p->depth++;
        dsl_expr_t *k = parse_unary(p);
        p->depth--;
        if (!k) return NULL;
        dsl_expr_t *e = arena_calloc(p->a, sizeof *e);
        e->kind = DSL_E_NOT;
        e->kids = arena_alloc(p->a, sizeof *e->kids);
        e->kids[0] = k;
        e->n = 1;
        e->line = t->line;
        e->col = t->col;
        return e;
    }
    if (t->kind == DSL_T_LPAREN) {
        next(p);
        p->depth++;
        dsl_expr_t *e = parse_or(p);
        p->depth--;
        if (!e) return NULL;
        if (!expect(p, DSL_T_RPAREN, "')' or AND/OR")) return NULL;
        return e;
    }
    if (t->kind != DSL_T_IDENT) {
        err_at(p, t, "a condition: family(\"name\"), NOT or '('");
        return NULL;
    }
    next(p);
    if (!expect(p, DSL_T_LPAREN, "'(' after the signal family")) return NULL;
    dsl_token_t *n = peek(p);
    if (n->kind != DSL_T_STRING && n->kind != DSL_T_IDENT) {
        err_at(p, n, "the signal name (a string or name)");
        return NULL;
    }
    next(p);
    dsl_expr_t *e = arena_calloc(p->a, sizeof *e);
    e->kind = DSL_E_REF;
    e->family = t->text;
    e->name = n->text;
    e->line = t->line;
    e->col = t->col;
    size_t cap = 0;
    if (peek(p)->kind == DSL_T_COMMA) next(p);
    while (peek(p)->kind != DSL_T_RPAREN) {
        dsl_value_t *v;
        dsl_token_t *k = parse_entry(p, "')' or a field (label:, predicate:, on_error:)",
                                     DSL_T_COLON, "':' after the field name", &v);
        if (!k) return NULL;
        e->fields = grow(p->a, e->fields, e->nf, &cap, sizeof *e->fields);
        e->fields[e->nf++] = (dsl_field_t){k->text, false, v, k->line, k->col};
        if (peek(p)->kind == DSL_T_COMMA) next(p);
    }
    next(p);
    return e;
}

/* A left-associative chain `operand (kw operand)*` of one binary operator. */
static dsl_expr_t *parse_chain(ps_t *p, const char *kw, dsl_ekind_t kind,
                               dsl_expr_t *(*operand)(ps_t *))
{
    dsl_expr_t *l = operand(p);
    while (l && is_kw(peek(p), kw)) {
        next(p);
        dsl_expr_t *r = operand(p);
        if (!r) return NULL;
        l = mk_bin(p, kind, l, r);
    }
    return l;
}

static dsl_expr_t *parse_and(ps_t *p)
{
    return parse_chain(p, "AND", DSL_E_AND, parse_unary);
}

static dsl_expr_t *parse_or(ps_t *p)
{
    return parse_chain(p, "OR", DSL_E_OR, parse_and);
}

/* ---- route items ---- */

static const char *const route_kws[] = {"PRIORITY", "TIER",      "DESCRIPTION", "WHEN",
                                        "MODEL",    "ALGORITHM", "PLUGIN",      "EMIT",
                                        "SESSION",  "NAME",      NULL};
static bool is_route_kw(const dsl_token_t *t)
{
    if (t->kind != DSL_T_KEYWORD) return false;
    for (size_t i = 0; route_kws[i]; i++)
        if (!strcmp(route_kws[i], t->text)) return true;
    return false;
}

static const char *const top_only[] = {
    "ROUTING",       "SIGNAL", "PROJECTION", "SIGNAL_GROUP", "ROUTE",
    "DECISION_TREE", "TEST",   "RECIPE",     "ENTRYPOINT",   NULL};
static bool is_top_only(const dsl_token_t *t)
{
    if (t->kind != DSL_T_KEYWORD) return false;
    for (size_t i = 0; top_only[i]; i++)
        if (!strcmp(top_only[i], t->text)) return true;
    return false;
}

static bool parse_model_ref(ps_t *p, dsl_model_ref_t *r)
{
    dsl_token_t *t = peek(p);
    if (t->kind != DSL_T_STRING && t->kind != DSL_T_IDENT) {
        err_at(p, t, "a model name");
        return false;
    }
    next(p);
    *r = (dsl_model_ref_t){
        .name = t->text, .quoted = t->kind == DSL_T_STRING, .line = t->line, .col = t->col};
    if (peek(p)->kind == DSL_T_LPAREN) return parse_opts(p, &r->opts, &r->n_opts);
    return true;
}

static bool parse_int_tok(ps_t *p, char **out, const char *what)
{
    dsl_token_t *t = peek(p);
    if (t->kind != DSL_T_NUMBER || strpbrk(t->text, ".eE")) {
        err_at(p, t, what);
        return false;
    }
    next(p);
    *out = t->text;
    return true;
}

/* in_tree: NAME allowed, WHEN and PRIORITY not. */
static bool parse_item(ps_t *p, dsl_item_t *it, bool in_tree)
{
    memset(it, 0, sizeof *it);
    it->comments = take_comments(p, &it->n_comments);
    dsl_token_t *t = peek(p);
    it->line = t->line;
    it->col = t->col;
    if (!is_route_kw(t) || (!in_tree && is_kw(t, "NAME"))) {
        err_at(p, t,
               in_tree ? "a branch item (NAME, TIER, DESCRIPTION, MODEL, ALGORITHM, PLUGIN, EMIT, "
                         "SESSION) or '}'"
                       : "a route item (PRIORITY, TIER, DESCRIPTION, WHEN, MODEL, ALGORITHM, "
                         "PLUGIN, EMIT, SESSION) or '}'");
        return false;
    }
    if (in_tree && (is_kw(t, "WHEN") || is_kw(t, "PRIORITY"))) {
        dsl_diag_add(p->d, DSL_ERROR, t->line, t->col, NULL,
                     "%s is not allowed in a DECISION_TREE branch (the branch order sets it)",
                     t->text);
        return false;
    }
    next(p);
    const char *k = t->text;
    if (!strcmp(k, "PRIORITY") || !strcmp(k, "TIER")) {
        it->kind = k[0] == 'P' ? DSL_I_PRIORITY : DSL_I_TIER;
        return parse_int_tok(p, &it->num, "an integer");
    }
    if (!strcmp(k, "DESCRIPTION") || !strcmp(k, "NAME")) {
        it->kind = k[0] == 'D' ? DSL_I_DESCRIPTION : DSL_I_NAME;
        dsl_token_t *s = peek(p);
        if (s->kind != DSL_T_STRING && !(it->kind == DSL_I_NAME && s->kind == DSL_T_IDENT)) {
            err_at(p, s, it->kind == DSL_I_NAME ? "a route name" : "a string");
            return false;
        }
        next(p);
        it->str = s->text;
        return true;
    }
    if (!strcmp(k, "WHEN")) {
        it->kind = DSL_I_WHEN;
        p->depth = 0;
        it->expr = parse_or(p);
        return it->expr != NULL;
    }
    if (!strcmp(k, "MODEL")) {
        it->kind = DSL_I_MODEL;
        size_t cap = 0;
        do {
            if (it->n_refs) next(p); /* the comma */
            it->refs = grow(p->a, it->refs, it->n_refs, &cap, sizeof *it->refs);
            if (!parse_model_ref(p, &it->refs[it->n_refs])) return false;
            it->n_refs++;
        } while (peek(p)->kind == DSL_T_COMMA);
        return true;
    }
    if (!strcmp(k, "ALGORITHM") || !strcmp(k, "PLUGIN") || !strcmp(k, "EMIT")) {
        it->kind = k[0] == 'A' ? DSL_I_ALGORITHM : k[0] == 'P' ? DSL_I_PLUGIN : DSL_I_EMIT;
        dsl_token_t *s = peek(p);
        if (s->kind != DSL_T_IDENT) {
            err_at(p, s,
                   it->kind == DSL_I_ALGORITHM ? "an algorithm type"
                   : it->kind == DSL_I_PLUGIN  ? "a plugin template or type"
                                               : "an EMIT kind (retention)");
            return false;
        }
        next(p);
        it->str = s->text;
        if (it->kind == DSL_I_EMIT || peek(p)->kind == DSL_T_LBRACE) {
            p->depth = 0;
            it->block = parse_block(p);
            return it->block != NULL;
        }
        return true;
    }
    /* SESSION */
    it->kind = DSL_I_SESSION;
    p->depth = 0;
    it->block = parse_block(p);
    return it->block != NULL;
}

/* Skip to the next item of the body opened at depth `body` (items sit at
 * depth body+1), its closing brace, or a top-level keyword. */
static void sync_item(ps_t *p, int body, size_t start)
{
    if (p->i == start && peek(p)->kind != DSL_T_EOF && !is_top_only(peek(p))) next(p);
    for (;;) {
        dsl_token_t *t = peek(p);
        if (t->kind == DSL_T_EOF || is_top_only(t)) return;
        if (t->depth == body + 1 && is_route_kw(t)) return;
        if (t->kind == DSL_T_RBRACE && t->depth == body) return;
        next(p);
    }
}

/* The next token of a "{ ... }" body, or NULL after taking its closing '}'. */
static dsl_token_t *body_next(ps_t *p)
{
    dsl_token_t *t = peek(p);
    if (t->kind != DSL_T_RBRACE) return t;
    next(p);
    return NULL;
}

/* "{" { item } "}"; false when the body was abandoned at a top-level keyword. */
static bool parse_items(ps_t *p, dsl_item_t **out, size_t *n, bool in_tree)
{
    dsl_token_t *open = peek(p);
    if (!expect(p, DSL_T_LBRACE, "'{'")) return false;
    int body = open->depth;
    size_t cap = 0;
    for (dsl_token_t *t; (t = body_next(p));) {
        if (t->kind == DSL_T_EOF || is_top_only(t)) {
            char want[64];
            snprintf(want, sizeof want, "'}' to close the block opened at line %d", open->line);
            err_at(p, t, want);
            return false;
        }
        *out = grow(p->a, *out, *n, &cap, sizeof **out);
        size_t start = p->i;
        if (parse_item(p, &(*out)[*n], in_tree)) {
            (*n)++;
            if (peek(p)->kind == DSL_T_COMMA) next(p); /* commas between items are optional */
        } else {
            sync_item(p, body, start);
        }
    }
    return true;
}

/* ---- declarations ---- */

static void sync_top(ps_t *p, int base)
{
    for (;;) {
        dsl_token_t *t = peek(p);
        if (t->kind == DSL_T_EOF || is_top_only(t)) return;
        if (t->depth == base && (is_kw(t, "MODEL") || is_kw(t, "PLUGIN"))) return;
        if (t->kind == DSL_T_RBRACE && t->depth < base) return;
        next(p);
    }
}

static bool name_tok(ps_t *p, char **out, const char *what)
{
    dsl_token_t *t = peek(p);
    if (t->kind != DSL_T_IDENT && t->kind != DSL_T_STRING) {
        err_at(p, t, what);
        return false;
    }
    next(p);
    *out = t->text;
    return true;
}

/* The word after a declaration's head (signal family, projection kind,
 * plugin type): an identifier, and one of only when only is given. */
static bool kw_tok(ps_t *p, char **out, const char *what, const char *const *only)
{
    dsl_token_t *t = peek(p);
    bool ok = t->kind == DSL_T_IDENT;
    if (ok && only) {
        ok = false;
        for (const char *const *o = only; *o && !ok; o++)
            ok = !strcmp(t->text, *o);
    }
    if (!ok) {
        err_at(p, t, what);
        return false;
    }
    next(p);
    *out = t->text;
    return true;
}

static bool parse_decl(ps_t *p, dsl_decl_t *dc, bool in_recipe);

static bool parse_tree(ps_t *p, dsl_decl_t *dc)
{
    if (!expect(p, DSL_T_LBRACE, "'{'")) return false;
    size_t cap = 0;
    bool seen_else = false;
    while (!seen_else) {
        dsl_token_t *t = peek(p);
        dsl_branch_t b = {.line = t->line, .col = t->col};
        if (dc->n_branches == 0) {
            if (!is_kw(t, "IF")) {
                err_at(p, t, "IF");
                return false;
            }
            next(p);
        } else {
            if (!is_kw(t, "ELSE")) {
                err_at(p, t, "ELSE IF or ELSE (a DECISION_TREE ends with ELSE)");
                return false;
            }
            next(p);
            if (is_kw(peek(p), "IF"))
                next(p);
            else
                seen_else = true;
        }
        if (!seen_else) {
            p->depth = 0;
            b.cond = parse_or(p);
            if (!b.cond) return false;
        }
        if (!parse_items(p, &b.items, &b.n_items, true)) return false;
        dc->branches = grow(p->a, dc->branches, dc->n_branches, &cap, sizeof *dc->branches);
        dc->branches[dc->n_branches++] = b;
    }
    return expect(p, DSL_T_RBRACE, "'}' after the ELSE branch");
}

static bool parse_test(ps_t *p, dsl_decl_t *dc)
{
    if (!expect(p, DSL_T_LBRACE, "'{'")) return false;
    size_t cap = 0;
    while (peek(p)->kind != DSL_T_RBRACE) {
        dsl_case_t c = {0};
        c.comments = take_comments(p, &c.n_comments);
        dsl_token_t *q = peek(p);
        if (q->kind != DSL_T_STRING) {
            err_at(p, q, "a test query string or '}'");
            return false;
        }
        next(p);
        c.query = q->text;
        c.line = q->line;
        c.col = q->col;
        if (!expect(p, DSL_T_ARROW, "'->' after the query")) return false;
        if (!name_tok(p, &c.route, "the expected route name")) return false;
        if (is_kw(peek(p), "WITH")) {
            next(p);
            p->depth = 0;
            if (!(c.with = parse_block(p))) return false;
        }
        if (is_kw(peek(p), "EXPECT")) {
            next(p);
            p->depth = 0;
            if (!(c.expect = parse_block(p))) return false;
        }
        if (peek(p)->kind == DSL_T_COMMA) next(p);
        dc->cases = grow(p->a, dc->cases, dc->n_cases, &cap, sizeof *dc->cases);
        dc->cases[dc->n_cases++] = c;
    }
    next(p);
    return true;
}

static bool parse_recipe(ps_t *p, dsl_decl_t *dc)
{
    dsl_token_t *open = peek(p);
    if (!expect(p, DSL_T_LBRACE, "'{'")) return false;
    int base = open->depth + 1;
    size_t cap = 0;
    for (dsl_token_t *t; (t = body_next(p));) {
        if (t->kind == DSL_T_EOF) {
            err_at(p, t, "'}' to close the RECIPE");
            return false;
        }
        if (is_kw(t, "DESCRIPTION")) {
            next(p);
            dsl_token_t *s = peek(p);
            if (s->kind != DSL_T_STRING) {
                err_at(p, s, "a string");
                sync_top(p, base);
                continue;
            }
            next(p);
            dc->desc = s->text;
            continue;
        }
        dsl_decl_t *sub = arena_calloc(p->a, sizeof *sub);
        if (parse_decl(p, sub, true)) {
            dc->decls = grow(p->a, dc->decls, dc->n_decls, &cap, sizeof *dc->decls);
            dc->decls[dc->n_decls++] = sub;
        } else {
            if (peek(p) == t) next(p);
            sync_top(p, base);
        }
    }
    return true;
}

static bool parse_decl(ps_t *p, dsl_decl_t *dc, bool in_recipe)
{
    dc->comments = take_comments(p, &dc->n_comments);
    dsl_token_t *t = peek(p);
    dc->line = t->line;
    dc->col = t->col;
    if (t->kind != DSL_T_KEYWORD || !(is_top_only(t) || is_kw(t, "MODEL") || is_kw(t, "PLUGIN")) ||
        (in_recipe && (is_kw(t, "RECIPE") || is_kw(t, "ENTRYPOINT") || is_kw(t, "MODEL")))) {
        err_at(p, t,
               in_recipe
                   ? "a recipe item (DESCRIPTION, ROUTING, SIGNAL, PROJECTION, SIGNAL_GROUP, "
                     "PLUGIN, ROUTE, DECISION_TREE, TEST) or '}'"
                   : "a declaration (ROUTING, SIGNAL, PROJECTION, SIGNAL_GROUP, MODEL, PLUGIN, "
                     "ROUTE, DECISION_TREE, TEST, RECIPE, ENTRYPOINT)");
        return false;
    }
    next(p);
    const char *k = t->text;
    bool ok;
    p->depth = 0;
    if (!strcmp(k, "ROUTING") || !strcmp(k, "ENTRYPOINT")) {
        dc->kind = k[0] == 'R' ? DSL_D_ROUTING : DSL_D_ENTRYPOINT;
        ok = (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "SIGNAL")) {
        dc->kind = DSL_D_SIGNAL;
        ok = kw_tok(p, &dc->kw, "a signal family (keyword, embedding, pii, ...)", NULL) &&
             name_tok(p, &dc->name, "a signal name") && (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "PROJECTION")) {
        dc->kind = DSL_D_PROJECTION;
        static const char *const kinds[] = {"partition", "score", "mapping", NULL};
        ok = kw_tok(p, &dc->kw, "partition, score or mapping", kinds) &&
             name_tok(p, &dc->name, "a projection name") && (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "SIGNAL_GROUP")) {
        dc->kind = DSL_D_PROJECTION;
        dc->kw = "partition";
        dc->group_syntax = true;
        ok = name_tok(p, &dc->name, "a group name") && (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "MODEL")) {
        dc->kind = DSL_D_MODEL;
        ok = name_tok(p, &dc->name, "a model name") && (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "PLUGIN")) {
        dc->kind = DSL_D_PLUGIN;
        ok = name_tok(p, &dc->name, "a template name") &&
             kw_tok(p, &dc->kw, "a plugin type (system_prompt, fast_response, ...)", NULL) &&
             (dc->block = parse_block(p)) != NULL;
    } else if (!strcmp(k, "ROUTE")) {
        dc->kind = DSL_D_ROUTE;
        ok = name_tok(p, &dc->name, "a route name");
        if (ok && peek(p)->kind == DSL_T_LPAREN) ok = parse_opts(p, &dc->opts, &dc->n_opts);
        if (ok) ok = parse_items(p, &dc->items, &dc->n_items, false);
    } else if (!strcmp(k, "DECISION_TREE")) {
        dc->kind = DSL_D_TREE;
        ok = name_tok(p, &dc->name, "a tree name") && parse_tree(p, dc);
    } else if (!strcmp(k, "TEST")) {
        dc->kind = DSL_D_TEST;
        ok = name_tok(p, &dc->name, "a test name") && parse_test(p, dc);
    } else {
        dc->kind = DSL_D_RECIPE;
        ok = name_tok(p, &dc->name, "a recipe name") && parse_recipe(p, dc);
    }
    dsl_token_t *last = &p->t->v[p->i ? p->i - 1 : 0];
    dc->end_line = last->line;
    return ok;
}

dsl_program_t *dsl_parse(arena_t *a, const char *text, size_t len, dsl_diags_t *d)
{
    dsl_tokens_t toks;
    dsl_lex(a, text, len, &toks, d);
    ps_t p = {.a = a, .t = &toks, .d = d};
    dsl_program_t *prog = arena_calloc(a, sizeof *prog);
    size_t cap = 0;
    while (peek(&p)->kind != DSL_T_EOF) {
        dsl_token_t *t = peek(&p);
        dsl_decl_t *dc = arena_calloc(a, sizeof *dc);
        if (parse_decl(&p, dc, false)) {
            prog->decls = grow(a, prog->decls, prog->n, &cap, sizeof *prog->decls);
            prog->decls[prog->n++] = dc;
        } else {
            if (peek(&p) == t) next(&p);
            sync_top(&p, 0);
        }
    }
    carry_add(&p, toks.trailing, toks.n_trailing);
    prog->trailing = p.carry;
    prog->n_trailing = p.n_carry;
    return prog;
}
