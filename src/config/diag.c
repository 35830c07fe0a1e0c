/* diag.c - collected configuration diagnostics: add, sort by position, and
 * print as `file:line:col: path: message` lines or as JSON for tools. The
 * list also holds the secrets of its load (expanded ${VAR} values, *_env
 * values): they are redacted from every diagnostic as it is added, so no
 * printer, log line or API response can show one. */
#include "config/config.h"
#include "core/buf.h"
#include "core/sort.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_diags_init(cfg_diags_t *d)
{
    memset(d, 0, sizeof(*d));
}

void cfg_diags_free(cfg_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].message);
    }
    free(d->items);
    for (size_t i = 0; i < d->n_secrets; i++) {
        explicit_bzero(d->secrets[i], strlen(d->secrets[i]));
        free(d->secrets[i]);
    }
    free(d->secrets);
    memset(d, 0, sizeof(*d));
}

/* s (malloc'd) with every registered secret replaced; may return a new string. */
static char *redact(const cfg_diags_t *d, char *s)
{
    for (size_t k = 0; k < d->n_secrets; k++) {
        const char *sec = d->secrets[k];
        const char *hit = strstr(s, sec);
        if (!hit) continue;
        size_t sl = strlen(sec);
        buf_t b = BUF_INIT;
        const char *p = s;
        for (; hit; hit = strstr(p, sec)) {
            buf_append(&b, p, (size_t)(hit - p));
            buf_puts(&b, "<redacted>");
            p = hit + sl;
        }
        buf_puts(&b, p);
        explicit_bzero(s, strlen(s));
        free(s);
        s = buf_steal(&b);
    }
    return s;
}

void cfg_diags_add_secret(cfg_diags_t *d, const char *value, size_t len)
{
    if (!value || len < CFG_SECRET_MIN || memchr(value, 0, len)) return;
    for (size_t i = 0; i < d->n_secrets; i++)
        if (strlen(d->secrets[i]) == len && !memcmp(d->secrets[i], value, len)) return;
    if (d->n_secrets == d->cap_secrets) {
        size_t cap = d->cap_secrets ? d->cap_secrets * 2 : 8;
        char **v = realloc(d->secrets, cap * sizeof(*v));
        if (!v) abort();
        d->secrets = v;
        d->cap_secrets = cap;
    }
    /* longest first, so a secret that contains another is replaced whole */
    size_t at = 0;
    while (at < d->n_secrets && strlen(d->secrets[at]) >= len)
        at++;
    memmove(d->secrets + at + 1, d->secrets + at, (d->n_secrets - at) * sizeof(*d->secrets));
    d->secrets[at] = strndup(value, len);
    if (!d->secrets[at]) abort();
    d->n_secrets++;
    for (size_t i = 0; i < d->n; i++) {
        d->items[i].message = redact(d, d->items[i].message);
        d->items[i].path = redact(d, d->items[i].path);
    }
}

void cfg_diags_add(cfg_diags_t *d, cfg_diag_severity_t sev, const char *file, int line, int col,
                   const char *path, const char *fmt, ...)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        cfg_diag_t *items = realloc(d->items, cap * sizeof(*items));
        if (!items) abort();
        d->items = items;
        d->cap = cap;
    }
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cfg_diag_t *x = &d->items[d->n++];
    x->severity = sev;
    x->file = strdup(file ? file : "");
    x->line = line;
    x->col = col;
    x->path = strdup(path ? path : "");
    x->message = buf_steal(&b);
    if (!x->file || !x->path || !x->message) abort();
    x->path = redact(d, x->path);
    x->message = redact(d, x->message);
    if (sev == CFG_DIAG_ERROR)
        d->n_errors++;
    else
        d->n_warnings++;
}

void cfg_diags_promote_warnings(cfg_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].severity == CFG_DIAG_WARNING) {
            d->items[i].severity = CFG_DIAG_ERROR;
            d->n_warnings--;
            d->n_errors++;
        }
}

static int cmp_diag(const void *pa, const void *pb)
{
    const cfg_diag_t *a = pa, *b = pb;
    int c = strcmp(a->file, b->file);
    return c ? c : sort_cmp_pos(a->line, a->col, b->line, b->col);
}

void cfg_diags_sort(cfg_diags_t *d)
{
    sort_stable(d->items, d->n, sizeof *d->items, cmp_diag);
}

void cfg_diags_json_strings(buf_t *out, const cfg_diags_t *d, cfg_diag_severity_t sev)
{
    int k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].severity != sev) continue;
        buf_t one = BUF_INIT;
        cfg_diag_format(&one, &d->items[i]);
        if (k++) buf_putc(out, ',');
        buf_json_str(out, one.data, one.len);
        buf_free(&one);
    }
}

void cfg_diag_format(buf_t *out, const cfg_diag_t *x)
{
    if (x->line > 0)
        buf_printf(out, "%s:%d:%d: ", x->file, x->line, x->col);
    else /* no position (the file itself): no :0:0 */
        buf_printf(out, "%s: ", x->file);
    if (x->severity == CFG_DIAG_WARNING) buf_puts(out, "warning: ");
    if (x->path[0]) buf_printf(out, "%s: ", x->path);
    buf_puts(out, x->message);
}

void cfg_diags_print(FILE *f, const cfg_diags_t *d)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        buf_reset(&b);
        cfg_diag_format(&b, &d->items[i]);
        fprintf(f, "%s\n", b.data);
    }
    buf_free(&b);
}

void cfg_diags_json(buf_t *out, const cfg_diags_t *d)
{
    buf_printf(out, "{\"errors\":%zu,\"warnings\":%zu,\"diagnostics\":[", d->n_errors,
               d->n_warnings);
    for (size_t i = 0; i < d->n; i++) {
        const cfg_diag_t *x = &d->items[i];
        if (i) buf_putc(out, ',');
        buf_puts(out, "{\"severity\":");
        buf_puts(out, x->severity == CFG_DIAG_ERROR ? "\"error\"" : "\"warning\"");
        buf_puts(out, ",\"file\":");
        buf_json_str(out, x->file, strlen(x->file));
        buf_printf(out, ",\"line\":%d,\"column\":%d,\"path\":", x->line, x->col);
        buf_json_str(out, x->path, strlen(x->path));
        buf_puts(out, ",\"message\":");
        buf_json_str(out, x->message, strlen(x->message));
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}
