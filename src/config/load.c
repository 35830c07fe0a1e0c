/* load.c - YAML walking helpers for the section loaders: the path stack,
 * positioned diagnostics, typed scalar readers, value parsers (durations,
 * sizes, tokens), unknown-key checks with did-you-mean, and the generic
 * table-driven section loader (schema.h). */
#include "config/load.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- path stack ---- */

static size_t push(ld_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(ld_t *l, const char *fmt, ...)
{
    size_t saved = l->plen;
    if (l->plen >= sizeof l->path - 1) return saved;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->path + l->plen, sizeof l->path - l->plen, fmt, ap);
    va_end(ap);
    if (n > 0) l->plen += (size_t)n;
    if (l->plen >= sizeof l->path) l->plen = sizeof l->path - 1;
    return saved;
}

size_t ld_push_key(ld_t *l, const char *key)
{
    return l->plen ? push(l, ".%s", key) : push(l, "%s", key);
}

size_t ld_push_index(ld_t *l, size_t i)
{
    return push(l, "[%zu]", i);
}

size_t ld_push_item(ld_t *l, const cfg_node_t *item, size_t i)
{
    const cfg_node_t *name = cfg_node_get(item, "name");
    if (name && name->kind == CFG_NODE_SCALAR && name->len && name->len < 128 &&
        !strchr(name->str, '$'))
        return push(l, "[%s]", name->str);
    return ld_push_index(l, i);
}

size_t ld_push_name(ld_t *l, const char *name, const char *suffix)
{
    size_t saved = l->plen;
    char idx[160];
    snprintf(idx, sizeof idx, "[%s]%s", name ? name : "?", suffix);
    size_t pl = strlen(idx);
    if (l->plen + pl < sizeof l->path) {
        memcpy(l->path + l->plen, idx, pl + 1);
        l->plen += pl;
    }
    return saved;
}

void ld_pop(ld_t *l, size_t saved)
{
    l->plen = saved;
    l->path[saved] = 0;
}

/* ---- diagnostics ---- */

static void vdiag(ld_t *l, cfg_diag_severity_t sev, const cfg_node_t *at, const char *key,
                  const char *fmt, va_list ap)
{
    buf_t msg = BUF_INIT;
    buf_vprintf(&msg, fmt, ap);
    if (at && at->env_opaque && sev == CFG_DIAG_ERROR) {
        /* sealed load: the value is the text as written, not the real one */
        sev = CFG_DIAG_WARNING;
        buf_puts(&msg, " (not checked: the value comes from the environment, which validation "
                       "through the management API does not read)");
    }
    size_t saved = key ? ld_push_key(l, key) : l->plen;
    cfg_diags_add(l->d, sev, l->file, at ? at->line : 0, at ? at->col : 0, l->path, "%s",
                  msg.data ? msg.data : "");
    ld_pop(l, saved);
    buf_free(&msg);
}

void ld_err(ld_t *l, const cfg_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(l, CFG_DIAG_ERROR, at, NULL, fmt, ap);
    va_end(ap);
}

void ld_warn(ld_t *l, const cfg_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(l, CFG_DIAG_WARNING, at, NULL, fmt, ap);
    va_end(ap);
}

void ld_err_key(ld_t *l, const cfg_node_t *at, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(l, CFG_DIAG_ERROR, at, key, fmt, ap);
    va_end(ap);
}

const char *ld_kind_name(const cfg_node_t *n)
{
    if (!n) return "nothing";
    if (n->kind == CFG_NODE_MAP) return "a mapping";
    if (n->kind == CFG_NODE_SEQ) return "a list";
    if (cfg_node_is_null(n)) return "null";
    return "a scalar";
}

bool ld_expect_map(ld_t *l, const cfg_node_t *n)
{
    if (n && n->kind == CFG_NODE_MAP) return true;
    ld_err(l, n, "expected a mapping, got %s", ld_kind_name(n));
    return false;
}

bool ld_open_map(ld_t *l, const cfg_node_t *n, const char *key, const cfg_schema_t *sch,
                 size_t *mark)
{
    if (!n || cfg_node_is_null(n)) return false;
    *mark = ld_push_key(l, key);
    if (!ld_expect_map(l, n)) {
        ld_pop(l, *mark);
        return false;
    }
    ld_check_keys(l, n, sch);
    return true;
}

bool ld_expect_seq(ld_t *l, const cfg_node_t *n)
{
    if (n && n->kind == CFG_NODE_SEQ) return true;
    ld_err(l, n, "expected a list, got %s", ld_kind_name(n));
    return false;
}

/* ---- value parsers ---- */

bool cfg_parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cfg_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

bool cfg_parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = false;
    else
        return false;
    return true;
}

/* number followed by an optional unit from the table; result = number * mult. */
typedef struct unit {
    const char *suffix;
    double mult;
} unit_t;

static bool parse_with_units(const char *s, const unit_t *units, double bare, uint64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return false;
    /* no hex/exponent/inf tricks: digits and one dot only */
    for (const char *p = s; p < end; p++)
        if (!isdigit((unsigned char)*p) && *p != '.') return false;
    double mult = 0;
    if (!*end)
        mult = bare;
    else
        for (const unit_t *u = units; u->suffix; u++)
            if (!strcmp(end, u->suffix)) mult = u->mult;
    if (mult == 0) return false;
    double r = v * mult;
    if (r > 1.8e19) return false;
    *out = (uint64_t)(r + 0.5);
    return true;
}

bool cfg_parse_duration_ms(const char *s, uint64_t *out)
{
    static const unit_t u[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0}};
    return parse_with_units(s, u, 1000, out);
}

bool cfg_parse_size(const char *s, uint64_t *out)
{
    static const unit_t u[] = {{"B", 1},
                               {"KiB", 1024.0},
                               {"MiB", 1024.0 * 1024},
                               {"GiB", 1024.0 * 1024 * 1024},
                               {"KB", 1000.0},
                               {"MB", 1e6},
                               {"GB", 1e9},
                               {NULL, 0}};
    return parse_with_units(s, u, 1, out);
}

bool cfg_parse_tokens(const char *s, uint64_t *out)
{
    static const unit_t u[] = {{"K", 1000.0}, {"k", 1000.0}, {"M", 1e6}, {NULL, 0}};
    return parse_with_units(s, u, 1, out);
}

/* ---- did you mean ---- */

size_t cfg_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

const char *cfg_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 4, wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (!cands[i]) continue;
        size_t d = cfg_edit_distance(word, cands[i], 3);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    if (best && bestd <= 3 && bestd * 2 < wl) return best;
    return NULL;
}

/* ---- typed readers ---- */

static bool scalar(ld_t *l, const cfg_node_t *n, const char *want)
{
    if (n && n->kind == CFG_NODE_SCALAR) return true;
    ld_err(l, n, "expected %s, got %s", want, ld_kind_name(n));
    return false;
}

bool ld_str(ld_t *l, const cfg_node_t *n, char **out)
{
    if (!scalar(l, n, "a string")) return false;
    *out = cfg_node_is_null(n) ? NULL : arena_strndup(l->a, n->str, n->len);
    return true;
}

bool ld_bool(ld_t *l, const cfg_node_t *n, bool *out)
{
    if (!scalar(l, n, "a boolean")) return false;
    if (n->quoted || !cfg_parse_bool(n->str, out)) {
        ld_err(l, n, "expected a boolean (true or false), got \"%s\"", n->str);
        return false;
    }
    return true;
}

bool ld_int(ld_t *l, const cfg_node_t *n, int64_t min, int64_t max, int64_t *out)
{
    if (!scalar(l, n, "an integer")) return false;
    int64_t v;
    if (!cfg_parse_int64(n->str, &v)) {
        const char *d = n->str + (n->str[0] == '-' || n->str[0] == '+');
        bool digits = *d != 0;
        for (; *d; d++)
            digits &= isdigit((unsigned char)*d) != 0;
        if (digits && min < max) /* an integer, beyond 64 bits */
            ld_err(l, n, "%s is out of range [%lld, %lld]", n->str, (long long)min, (long long)max);
        else if (digits)
            ld_err(l, n, "%s is too large for a 64-bit integer", n->str);
        else
            ld_err(l, n, "expected an integer, got \"%s\"", n->str);
        return false;
    }
    if (min < max && (v < min || v > max)) {
        /* the text as written, not the parsed number: diagnostics redact
         * environment values by their text (diag.c) */
        ld_err(l, n, "%s is out of range [%lld, %lld]", n->str, (long long)min, (long long)max);
        return false;
    }
    *out = v;
    return true;
}

bool ld_double(ld_t *l, const cfg_node_t *n, double *out)
{
    if (!scalar(l, n, "a number")) return false;
    if (!cfg_parse_double(n->str, out)) {
        ld_err(l, n, "expected a number, got \"%s\"", n->str);
        return false;
    }
    return true;
}

bool ld_strlist(ld_t *l, const cfg_node_t *n, char ***out, size_t *count)
{
    if (!n || n->kind != CFG_NODE_SEQ) {
        ld_err(l, n, "expected a list of strings, got %s", ld_kind_name(n));
        return false;
    }
    char **v = arena_calloc(l->a, (n->n + 1) * sizeof(char *));
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        size_t s = ld_push_index(l, i);
        if (!ld_str(l, n->items[i], &v[i])) ok = false;
        ld_pop(l, s);
    }
    if (!ok) return false;
    *out = v;
    *count = n->n;
    return true;
}

/* ---- tables ---- */

void ld_check_keys(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s)
{
    if (!map || map->kind != CFG_NODE_MAP) return;
    const char *cands[128];
    size_t nc = 0;
    for (const cfg_field_t *f = s->fields; f->key && nc < 128; f++)
        cands[nc++] = f->key;
    for (size_t i = 0; i < map->n; i++) {
        const cfg_node_t *k = map->keys[i];
        if (cfg_schema_field(s, k->str)) {
            for (size_t j = 0; j < i; j++)
                if (!strcmp(map->keys[j]->str, k->str)) {
                    ld_err_key(l, k, k->str, "duplicate key (first at line %d)",
                               map->keys[j]->line);
                    break;
                }
            continue;
        }
        const char *sug = cfg_suggest(k->str, cands, nc);
        size_t saved = ld_push_key(l, k->str);
        if (sug)
            ld_warn(l, k, "unknown field \"%s\" (did you mean \"%s\"?)", k->str, sug);
        else
            ld_warn(l, k, "unknown field \"%s\"", k->str);
        ld_pop(l, saved);
    }
}

static bool parse_default_list(ld_t *l, const char *def, char ***out, size_t *count)
{
    /* "[a, b, c]" */
    const char *p = def;
    while (*p == '[' || *p == ' ')
        p++;
    char **v = arena_calloc(l->a, 17 * sizeof(char *));
    size_t n = 0;
    while (*p && *p != ']' && n < 16) {
        const char *e = p;
        while (*e && *e != ',' && *e != ']')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        v[n++] = arena_strndup(l->a, p, (size_t)(t - p));
        p = *e == ',' ? e + 1 : e;
        while (*p == ' ')
            p++;
    }
    *out = v;
    *count = n;
    return true;
}

/* Position of word in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t kl = strlen(word);
    int i = 0;
    for (const char *c = choices; c && *c; i++) {
        const char *e = strchr(c, '|');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        if (cl == kl && !strncmp(c, word, kl)) return i;
        c = e ? e + 1 : c + cl;
    }
    return -1;
}

int ld_choice(ld_t *l, const cfg_node_t *map, const char *key, const char *choices)
{
    const cfg_node_t *n = cfg_node_get(map, key);
    if (!n) return -1;
    size_t s = ld_push_key(l, key);
    char *v = NULL;
    int i = -1;
    if (ld_str(l, n, &v) && v) {
        i = choice_index(choices, v);
        if (i < 0) ld_err(l, n, "\"%s\" is not one of %s", v, choices);
    }
    ld_pop(l, s);
    return i;
}

/* The choice of "a|b|c" closest to word (cfg_suggest), or NULL. */
static const char *suggest_choice(ld_t *l, const char *word, const char *choices)
{
    const char *cands[32];
    size_t n = 0;
    for (const char *c = choices; c && *c && n < 32;) {
        const char *e = strchr(c, '|');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        cands[n++] = arena_strndup(l->a, c, cl);
        c = e ? e + 1 : c + cl;
    }
    return cfg_suggest(word, cands, n);
}

/* A field type with a unit (duration, size, tokens): its parser and the
 * words of its diagnostics. */
typedef struct unit_kind {
    bool (*parse)(const char *s, uint64_t *out);
    const char *what, *unit, *example;
} unit_kind_t;

static const unit_kind_t *unit_kind(cfg_ftype_t t)
{
    static const unit_kind_t kinds[] = {
        {cfg_parse_duration_ms, "duration", "ms", "e.g. 250ms, 30s, 5m, 1h or bare seconds"},
        {cfg_parse_size, "size", "bytes", "e.g. 64KiB, 32MiB, 1GiB or bare bytes"},
        {cfg_parse_tokens, "token count", "tokens", "e.g. 48K, 1M or a bare number"}};
    return &kinds[t == CFG_F_DURATION ? 0 : t == CFG_F_SIZE ? 1 : 2];
}

/* Apply one value (from YAML or from the default text) to a generic field. */
static bool apply(ld_t *l, const cfg_field_t *f, const cfg_node_t *n, const char *text, void *out)
{
    char *base = out;
    const char *s = n ? n->str : text;
    if (n && f->type != CFG_F_STRLIST && f->type != CFG_F_NODE && f->type != CFG_F_SECTION &&
        !scalar(l, n, f->type == CFG_F_STR || f->type == CFG_F_ENUM ? "a string" : "a scalar"))
        return false;
    switch (f->type) {
    case CFG_F_STR: {
        char *v = (n && cfg_node_is_null(n)) ? NULL : arena_strdup(l->a, s);
        *(char **)(base + f->off) = v;
        return true;
    }
    case CFG_F_ENUM: {
        if (choice_index(f->choices, s) >= 0) {
            *(char **)(base + f->off) = arena_strdup(l->a, s);
            return true;
        }
        if (n) {
            const char *sug = (f->flags & CFG_FF_SUGGEST) ? suggest_choice(l, s, f->choices) : NULL;
            ld_err(l, n, "\"%s\" is not one of %s%s%s%s", s, f->choices,
                   sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
        }
        return false;
    }
    case CFG_F_BOOL: {
        bool v;
        if (!(n ? ld_bool(l, n, &v) : cfg_parse_bool(s, &v))) return false;
        *(bool *)(base + f->off) = v;
        return true;
    }
    case CFG_F_INT:
    case CFG_F_U64: {
        int64_t v;
        int64_t lo = (int64_t)f->min, hi = (int64_t)f->max;
        if (f->type == CFG_F_INT && !(f->min < f->max)) lo = INT32_MIN, hi = INT32_MAX;
        if (f->type == CFG_F_U64 && !(f->min < f->max)) lo = 0, hi = INT64_MAX;
        if (!(n ? ld_int(l, n, lo, hi, &v) : cfg_parse_int64(s, &v))) return false;
        if (f->type == CFG_F_INT)
            *(int *)(base + f->off) = (int)v;
        else
            *(uint64_t *)(base + f->off) = (uint64_t)v;
        return true;
    }
    case CFG_F_DOUBLE: {
        double v;
        if (!(n ? ld_double(l, n, &v) : cfg_parse_double(s, &v))) return false;
        if (n && (f->flags & CFG_FF_UNIT) && (v < 0 || v > 1)) {
            ld_err(l, n, "%s is outside [0, 1]", n->str);
            return false;
        }
        if (n && (f->flags & CFG_FF_NONNEG) && v < 0) {
            ld_err(l, n, "%s must not be negative", n->str);
            return false;
        }
        if (n && f->min < f->max && (v < f->min || v > f->max)) {
            ld_err(l, n, "%s is out of range [%g, %g]", n->str, f->min, f->max);
            return false;
        }
        memcpy(base + f->off, &v, sizeof v);
        return true;
    }
    case CFG_F_DURATION:
    case CFG_F_SIZE:
    case CFG_F_TOKENS: {
        const unit_kind_t *uk = unit_kind(f->type);
        uint64_t v;
        if (!uk->parse(s, &v)) {
            /* the number's unit is fine, the number is not: it overflows */
            const char *u = s;
            int dots = 0;
            while (isdigit((unsigned char)*u) || *u == '.')
                dots += *u++ == '.';
            char probe[32];
            uint64_t pv;
            bool unit_ok = u != s && *s != '.' && dots <= 1 && strlen(u) < sizeof probe - 2;
            if (unit_ok) {
                snprintf(probe, sizeof probe, "1%s", u);
                unit_ok = uk->parse(probe, &pv);
            }
            if (n && unit_ok)
                ld_err(l, n, "%s \"%s\" is too large (at most 1.8e19 %s)", uk->what, s, uk->unit);
            else if (n)
                ld_err(l, n, "invalid %s \"%s\" (%s)", uk->what, s, uk->example);
            return false;
        }
        *(uint64_t *)(base + f->off) = v;
        return true;
    }
    case CFG_F_STRLIST: {
        char **v;
        size_t cnt;
        if (n ? !ld_strlist(l, n, &v, &cnt) : !parse_default_list(l, s, &v, &cnt)) return false;
        *(char ***)(base + f->off) = v;
        *(size_t *)(base + f->off2) = cnt;
        return true;
    }
    case CFG_F_NODE:
        if (n) *(const cfg_node_t **)(base + f->off) = cfg_node_copy(l->a, n);
        return true;
    case CFG_F_SECTION: return ld_section(l, n, f->sub, base + f->off);
    case CFG_F_CUSTOM: return true;
    }
    return false;
}

/* The struct a field is stored in: the section's, or the member's options
 * block for CFG_FF_OPT fields (config/family.h). */
static void *field_base(const cfg_field_t *f, void *out, void *opts)
{
    return (f->flags & CFG_FF_OPT) ? opts : out;
}

static void defaults(ld_t *l, const cfg_schema_t *s, void *out, void *opts)
{
    for (const cfg_field_t *f = s->fields; f->key; f++) {
        void *base = field_base(f, out, opts);
        if (!base) continue;
        if (f->type == CFG_F_SECTION)
            defaults(l, f->sub, (char *)base + f->off, NULL);
        else if (f->def && f->type != CFG_F_CUSTOM && f->type != CFG_F_NODE)
            apply(l, f, NULL, f->def, base);
    }
}

void ld_defaults(ld_t *l, const cfg_schema_t *s, void *out)
{
    defaults(l, s, out, NULL);
}

static bool overlay(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out, void *opts)
{
    if (!map || cfg_node_is_null(map)) {
        for (const cfg_field_t *f = s->fields; f->key; f++)
            if (f->flags & CFG_FF_REQUIRED) ld_err(l, map, "missing required field \"%s\"", f->key);
        return true;
    }
    if (!ld_expect_map(l, map)) return false;
    ld_check_keys(l, map, s);
    for (const cfg_field_t *f = s->fields; f->key; f++) {
        const cfg_node_t *v = cfg_node_get(map, f->key);
        if (!v) {
            if (f->flags & CFG_FF_REQUIRED) ld_err(l, map, "missing required field \"%s\"", f->key);
            continue;
        }
        char *base = field_base(f, out, opts);
        if (f->type == CFG_F_CUSTOM || !base) continue;
        if (cfg_node_is_null(v) && f->type != CFG_F_STR) continue; /* explicit null: default */
        size_t saved = ld_push_key(l, f->key);
        if (f->type == CFG_F_SECTION)
            overlay(l, v, f->sub, base + f->off, NULL);
        else if (apply(l, f, v, NULL, base) && (f->flags & CFG_FF_HAS))
            *(bool *)(base + f->off2) = true;
        ld_pop(l, saved);
    }
    return true;
}

bool ld_section_overlay(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out)
{
    return overlay(l, map, s, out, NULL);
}

bool ld_section(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out)
{
    return ld_section_opts(l, map, s, out, NULL);
}

bool ld_section_opts(ld_t *l, const cfg_node_t *map, const cfg_schema_t *s, void *out, void *opts)
{
    defaults(l, s, out, opts);
    return overlay(l, map, s, out, opts);
}
