/* fmt.c - prints a program in the canonical layout (`tether dsl fmt`,
 * decompile's output, generate's output). The text depends only on the AST,
 * so fmt(fmt(x)) = fmt(x); comments come back above the declaration, route
 * item or TEST case they were attached to by the parser. Blocks and lists
 * stay on one line when they fit in INLINE_MAX columns, otherwise one field
 * per line. */
#include "dsl/ast.h"
#include <string.h>

#define INLINE_MAX 88

void dsl_fmt_string(buf_t *out, const char *s)
{
    buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        case '\b': buf_puts(out, "\\b"); break;
        case '\f': buf_puts(out, "\\f"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                buf_printf(out, "\\u%04x", *p);
            else
                buf_putc(out, (char)*p);
        }
    }
    buf_putc(out, '"');
}

static void indent_to(buf_t *out, int n)
{
    for (int i = 0; i < n; i++)
        buf_putc(out, ' ');
}

/* A key or name: as is when it is an identifier, else a quoted string. */
static void put_key(buf_t *out, const char *k)
{
    if (dsl_is_ident(k))
        buf_puts(out, k);
    else
        dsl_fmt_string(out, k);
}

/* "KEYWORD name" of a declaration or item. */
static void head(buf_t *out, const char *kw, const char *name)
{
    buf_puts(out, kw);
    put_key(out, name);
}

static void value_inline(buf_t *out, const dsl_value_t *v)
{
    switch (v->kind) {
    case DSL_V_STR: dsl_fmt_string(out, v->s); break;
    case DSL_V_NUM: buf_puts(out, v->s); break;
    case DSL_V_BOOL: buf_puts(out, v->b ? "true" : "false"); break;
    case DSL_V_IDENT: put_key(out, v->s); break;
    case DSL_V_NULL: buf_puts(out, "null"); break;
    case DSL_V_LIST:
        buf_putc(out, '[');
        for (size_t i = 0; i < v->n; i++) {
            if (i) buf_puts(out, ", ");
            value_inline(out, v->items[i]);
        }
        buf_putc(out, ']');
        break;
    case DSL_V_BLOCK:
        if (!v->nf) {
            buf_puts(out, "{}");
            break;
        }
        buf_puts(out, "{ ");
        for (size_t i = 0; i < v->nf; i++) {
            if (i) buf_putc(out, ' ');
            put_key(out, v->fields[i].key);
            buf_puts(out, ": ");
            value_inline(out, v->fields[i].val);
        }
        buf_puts(out, " }");
        break;
    }
}

/* Prints v starting at the current column; continuation lines at indent. */
void dsl_fmt_value(buf_t *out, const dsl_value_t *v, int indent)
{
    buf_t t = BUF_INIT;
    value_inline(&t, v);
    size_t col = 0; /* the current column: what is already on this line counts */
    while (col < out->len && out->data[out->len - 1 - col] != '\n')
        col++;
    bool fits = t.len + col <= INLINE_MAX;
    if (fits || (v->kind != DSL_V_LIST && v->kind != DSL_V_BLOCK) ||
        (v->kind == DSL_V_LIST && !v->n) || (v->kind == DSL_V_BLOCK && !v->nf)) {
        buf_append(out, t.data, t.len);
        buf_free(&t);
        return;
    }
    buf_free(&t);
    if (v->kind == DSL_V_LIST) {
        buf_puts(out, "[\n");
        for (size_t i = 0; i < v->n; i++) {
            indent_to(out, indent + 2);
            dsl_fmt_value(out, v->items[i], indent + 2);
            buf_puts(out, i + 1 < v->n ? ",\n" : "\n");
        }
        indent_to(out, indent);
        buf_putc(out, ']');
        return;
    }
    buf_puts(out, "{\n");
    for (size_t i = 0; i < v->nf; i++) {
        indent_to(out, indent + 2);
        put_key(out, v->fields[i].key);
        buf_puts(out, ": ");
        dsl_fmt_value(out, v->fields[i].val, indent + 2);
        buf_putc(out, '\n');
    }
    indent_to(out, indent);
    buf_putc(out, '}');
}

static int prec(const dsl_expr_t *e)
{
    switch (e->kind) {
    case DSL_E_OR: return 1;
    case DSL_E_AND: return 2;
    case DSL_E_NOT: return 3;
    default: return 4;
    }
}

static void expr(buf_t *out, const dsl_expr_t *e, int parent)
{
    bool paren = prec(e) < parent;
    if (paren) buf_putc(out, '(');
    switch (e->kind) {
    case DSL_E_REF:
        buf_printf(out, "%s(", e->family);
        dsl_fmt_string(out, e->name);
        for (size_t i = 0; i < e->nf; i++) {
            buf_printf(out, ", %s: ", e->fields[i].key);
            value_inline(out, e->fields[i].val);
        }
        buf_putc(out, ')');
        break;
    case DSL_E_NOT:
        buf_puts(out, "NOT ");
        expr(out, e->kids[0], 3);
        break;
    case DSL_E_AND:
    case DSL_E_OR:
        for (size_t i = 0; i < e->n; i++) {
            if (i) buf_puts(out, e->kind == DSL_E_AND ? " AND " : " OR ");
            /* same-kind children were flattened; a nested same kind needs parens to stay nested */
            expr(out, e->kids[i], prec(e) + (e->kids[i]->kind == e->kind));
        }
        break;
    }
    if (paren) buf_putc(out, ')');
}

void dsl_fmt_expr(buf_t *out, const dsl_expr_t *e)
{
    expr(out, e, 0);
}

static void comments(buf_t *out, char **c, int n, int ind)
{
    for (int i = 0; i < n; i++) {
        indent_to(out, ind);
        buf_puts(out, c[i][0] ? "# " : "#");
        buf_puts(out, c[i]);
        buf_putc(out, '\n');
    }
}

static void opts_out(buf_t *out, const dsl_opt_t *o, size_t n)
{
    if (!n) return;
    buf_puts(out, " (");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_puts(out, ", ");
        buf_printf(out, "%s = ", o[i].key);
        value_inline(out, o[i].val);
    }
    buf_putc(out, ')');
}

static void item(buf_t *out, const dsl_item_t *it, int ind)
{
    comments(out, it->comments, it->n_comments, ind);
    indent_to(out, ind);
    switch (it->kind) {
    case DSL_I_PRIORITY: buf_printf(out, "PRIORITY %s", it->num); break;
    case DSL_I_TIER: buf_printf(out, "TIER %s", it->num); break;
    case DSL_I_DESCRIPTION:
        buf_puts(out, "DESCRIPTION ");
        dsl_fmt_string(out, it->str);
        break;
    case DSL_I_NAME: head(out, "NAME ", it->str); break;
    case DSL_I_WHEN:
        buf_puts(out, "WHEN ");
        dsl_fmt_expr(out, it->expr);
        break;
    case DSL_I_MODEL:
        buf_puts(out, "MODEL ");
        for (size_t i = 0; i < it->n_refs; i++) {
            if (i) buf_puts(out, ", ");
            put_key(out, it->refs[i].name);
            opts_out(out, it->refs[i].opts, it->refs[i].n_opts);
        }
        break;
    case DSL_I_ALGORITHM:
    case DSL_I_PLUGIN:
    case DSL_I_EMIT:
        buf_printf(out, "%s %s",
                   it->kind == DSL_I_ALGORITHM ? "ALGORITHM"
                   : it->kind == DSL_I_PLUGIN  ? "PLUGIN"
                                               : "EMIT",
                   it->str);
        if (it->block) {
            buf_putc(out, ' ');
            dsl_fmt_value(out, it->block, ind);
        }
        break;
    case DSL_I_SESSION:
        buf_puts(out, "SESSION ");
        dsl_fmt_value(out, it->block, ind);
        break;
    }
    buf_putc(out, '\n');
}

static void items(buf_t *out, const dsl_item_t *v, size_t n, int ind)
{
    for (size_t i = 0; i < n; i++)
        item(out, &v[i], ind);
}

static bool one_line(const dsl_decl_t *d)
{
    switch (d->kind) {
    case DSL_D_ROUTING:
    case DSL_D_SIGNAL:
    case DSL_D_PROJECTION:
    case DSL_D_MODEL:
    case DSL_D_PLUGIN:
    case DSL_D_ENTRYPOINT: return true;
    default: return false;
    }
}

static void decl(buf_t *out, const dsl_decl_t *d, int ind);

/* "KEYWORD name {" and its line break. */
static void open_block(buf_t *out, const char *kw, const char *name)
{
    head(out, kw, name);
    buf_puts(out, " {\n");
}

/* The "}" line that closes a block at indent ind. */
static void close_block(buf_t *out, int ind)
{
    indent_to(out, ind);
    buf_puts(out, "}\n");
}

static void decls(buf_t *out, dsl_decl_t *const *v, size_t n, int ind)
{
    for (size_t i = 0; i < n; i++) {
        const dsl_decl_t *d = v[i];
        if (i) {
            const dsl_decl_t *pv = v[i - 1];
            bool grouped = one_line(pv) && one_line(d) && pv->kind == d->kind && !d->n_comments;
            if (!grouped) buf_putc(out, '\n');
        }
        decl(out, d, ind);
    }
}

static void decl(buf_t *out, const dsl_decl_t *d, int ind)
{
    comments(out, d->comments, d->n_comments, ind);
    indent_to(out, ind);
    switch (d->kind) {
    case DSL_D_ROUTING: buf_puts(out, "ROUTING "); break;
    case DSL_D_ENTRYPOINT: buf_puts(out, "ENTRYPOINT "); break;
    case DSL_D_SIGNAL:
        buf_printf(out, "SIGNAL %s ", d->kw);
        put_key(out, d->name);
        buf_putc(out, ' ');
        break;
    case DSL_D_PROJECTION:
        if (d->group_syntax)
            buf_puts(out, "SIGNAL_GROUP ");
        else
            buf_printf(out, "PROJECTION %s ", d->kw);
        put_key(out, d->name);
        buf_putc(out, ' ');
        break;
    case DSL_D_MODEL:
        head(out, "MODEL ", d->name);
        buf_putc(out, ' ');
        break;
    case DSL_D_PLUGIN:
        head(out, "PLUGIN ", d->name);
        buf_printf(out, " %s ", d->kw);
        break;
    case DSL_D_ROUTE:
        head(out, "ROUTE ", d->name);
        opts_out(out, d->opts, d->n_opts);
        buf_puts(out, " {\n");
        items(out, d->items, d->n_items, ind + 2);
        close_block(out, ind);
        return;
    case DSL_D_TREE:
        open_block(out, "DECISION_TREE ", d->name);
        for (size_t i = 0; i < d->n_branches; i++) {
            const dsl_branch_t *b = &d->branches[i];
            if (i == 0) {
                indent_to(out, ind + 2);
                buf_puts(out, "IF ");
            } else {
                buf_puts(out, b->cond ? " ELSE IF " : " ELSE");
            }
            if (b->cond) dsl_fmt_expr(out, b->cond);
            buf_puts(out, " {\n");
            items(out, b->items, b->n_items, ind + 4);
            indent_to(out, ind + 2);
            buf_putc(out, '}');
        }
        buf_putc(out, '\n');
        close_block(out, ind);
        return;
    case DSL_D_TEST:
        open_block(out, "TEST ", d->name);
        for (size_t i = 0; i < d->n_cases; i++) {
            const dsl_case_t *c = &d->cases[i];
            if (i && (c->n_comments || c->with || c->expect)) buf_putc(out, '\n');
            comments(out, c->comments, c->n_comments, ind + 2);
            indent_to(out, ind + 2);
            dsl_fmt_string(out, c->query);
            buf_puts(out, " -> ");
            put_key(out, c->route);
            if (c->with) {
                buf_puts(out, " WITH ");
                dsl_fmt_value(out, c->with, ind + 2);
            }
            if (c->expect) {
                buf_puts(out, " EXPECT ");
                dsl_fmt_value(out, c->expect, ind + 2);
            }
            buf_putc(out, '\n');
        }
        close_block(out, ind);
        return;
    case DSL_D_RECIPE:
        open_block(out, "RECIPE ", d->name);
        if (d->desc) {
            indent_to(out, ind + 2);
            buf_puts(out, "DESCRIPTION ");
            dsl_fmt_string(out, d->desc);
            buf_putc(out, '\n');
        }
        decls(out, d->decls, d->n_decls, ind + 2);
        close_block(out, ind);
        return;
    }
    dsl_fmt_value(out, d->block, ind);
    buf_putc(out, '\n');
}

void dsl_fmt(buf_t *out, const dsl_program_t *p)
{
    decls(out, p->decls, p->n, 0);
    if (p->n_trailing) {
        if (p->n) buf_putc(out, '\n');
        comments(out, p->trailing, p->n_trailing, 0);
    }
}
