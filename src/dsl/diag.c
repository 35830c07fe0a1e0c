/* diag.c - DSL diagnostics: collected (never fail-fast), sorted by position,
 * printed as `file:line:col: error|warning: message` with an optional
 * suggested fix on the next line. Used by every DSL stage. */
#include "dsl/ast.h"
#include "core/sort.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void dsl_diags_init(dsl_diags_t *d, const char *file)
{
    memset(d, 0, sizeof *d);
    d->file = strdup(file ? file : "<input>");
}

void dsl_diags_free(dsl_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].fix);
    }
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof *d);
}

void dsl_diag_add(dsl_diags_t *d, dsl_sev_t sev, int line, int col, const char *fix,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dsl_diag_vadd(d, sev, line, col, fix, fmt, ap);
    va_end(ap);
}

void dsl_diag_vadd(dsl_diags_t *d, dsl_sev_t sev, int line, int col, const char *fix,
                   const char *fmt, va_list ap)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    d->v[d->n++] = (dsl_diag_t){sev, line, col, msg ? msg : strdup("?"), fix ? strdup(fix) : NULL};
    if (sev == DSL_ERROR)
        d->n_errors++;
    else
        d->n_warnings++;
}

static int cmp(const void *a, const void *b)
{
    const dsl_diag_t *x = a, *y = b;
    return sort_cmp_pos(x->line, x->col, y->line, y->col);
}

void dsl_diags_sort(dsl_diags_t *d)
{
    sort_stable(d->v, d->n, sizeof *d->v, cmp);
}

void dsl_diags_format(buf_t *out, const dsl_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const dsl_diag_t *x = &d->v[i];
        buf_printf(out, "%s:%d:%d: %s: %s\n", d->file, x->line, x->col,
                   x->sev == DSL_ERROR ? "error" : "warning", x->msg);
        if (x->fix) buf_printf(out, "  fix: %s\n", x->fix);
    }
}

void dsl_diags_print(FILE *f, const dsl_diags_t *d)
{
    buf_t b = BUF_INIT;
    dsl_diags_format(&b, d);
    if (b.len) fwrite(b.data, 1, b.len, f);
    buf_free(&b);
}
