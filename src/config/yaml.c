/* yaml.c - libfyaml event stream -> cfg_node_t tree with positions, plus a
 * small emitter (YAML block style or JSON) used by `config show`, migrate and
 * import. The tree is the one input format of the loader (load.c). */
#include "config/yaml.h"
#include <ctype.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Guard against alias bombs: the loader walks aliases as copies. */
#define YAML_MAX_WEIGHT 2000000u
#define YAML_MAX_DEPTH  200

cfg_node_t *cfg_node_new(arena_t *a, cfg_node_kind_t kind, int line, int col)
{
    cfg_node_t *n = arena_calloc(a, sizeof(*n));
    n->kind = kind;
    n->line = line;
    n->col = col;
    n->weight = 1;
    if (kind == CFG_NODE_SCALAR) n->str = arena_strdup(a, "");
    return n;
}

cfg_node_t *cfg_node_scalar(arena_t *a, const char *s, bool quoted)
{
    cfg_node_t *n = cfg_node_new(a, CFG_NODE_SCALAR, 0, 0);
    n->str = arena_strdup(a, s ? s : "");
    n->len = strlen(n->str);
    n->quoted = quoted;
    return n;
}

static void grow(arena_t *a, cfg_node_t *n)
{
    if (n->n < n->cap) return;
    size_t cap = n->cap ? n->cap * 2 : 4;
    cfg_node_t **items = arena_alloc(a, cap * sizeof(*items));
    if (n->n) memcpy(items, n->items, n->n * sizeof(*items));
    n->items = items;
    if (n->kind == CFG_NODE_MAP) {
        cfg_node_t **keys = arena_alloc(a, cap * sizeof(*keys));
        if (n->n) memcpy(keys, n->keys, n->n * sizeof(*keys));
        n->keys = keys;
    }
    n->cap = cap;
}

void cfg_node_append(arena_t *a, cfg_node_t *seq, cfg_node_t *item)
{
    grow(a, seq);
    seq->items[seq->n++] = item;
    seq->weight += item->weight;
}

static void map_add(arena_t *a, cfg_node_t *map, cfg_node_t *key, cfg_node_t *val)
{
    grow(a, map);
    map->keys[map->n] = key;
    map->items[map->n++] = val;
    map->weight += key->weight + val->weight;
}

void cfg_node_set(arena_t *a, cfg_node_t *map, const char *key, cfg_node_t *val)
{
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->kind == CFG_NODE_SCALAR && !strcmp(map->keys[i]->str, key)) {
            map->items[i] = val;
            return;
        }
    map_add(a, map, cfg_node_scalar(a, key, false), val);
}

bool cfg_node_del(cfg_node_t *map, const char *key)
{
    if (!map || map->kind != CFG_NODE_MAP) return false;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->kind == CFG_NODE_SCALAR && !strcmp(map->keys[i]->str, key)) {
            memmove(&map->keys[i], &map->keys[i + 1], (map->n - i - 1) * sizeof(cfg_node_t *));
            memmove(&map->items[i], &map->items[i + 1], (map->n - i - 1) * sizeof(cfg_node_t *));
            map->n--;
            return true;
        }
    return false;
}

cfg_node_t *cfg_node_get_pair(const cfg_node_t *map, const char *key, cfg_node_t **keynode)
{
    if (keynode) *keynode = NULL;
    if (!map || map->kind != CFG_NODE_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->kind == CFG_NODE_SCALAR && !strcmp(map->keys[i]->str, key)) {
            if (keynode) *keynode = map->keys[i];
            return map->items[i];
        }
    return NULL;
}

cfg_node_t *cfg_node_get(const cfg_node_t *map, const char *key)
{
    return cfg_node_get_pair(map, key, NULL);
}

bool cfg_node_is_null(const cfg_node_t *n)
{
    if (!n) return true;
    if (n->kind != CFG_NODE_SCALAR || n->quoted) return false;
    return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

cfg_node_t *cfg_node_copy(arena_t *a, const cfg_node_t *n)
{
    cfg_node_t *c = arena_alloc(a, sizeof(*c));
    *c = *n;
    c->str = n->str ? arena_strndup(a, n->str, n->len) : NULL;
    c->comment = n->comment ? arena_strdup(a, n->comment) : NULL;
    c->comment_top = n->comment_top ? arena_strdup(a, n->comment_top) : NULL;
    c->env_raw = n->env_raw ? arena_strdup(a, n->env_raw) : NULL;
    c->keys = c->items = NULL;
    c->n = c->cap = 0;
    c->weight = 1;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == CFG_NODE_MAP)
            map_add(a, c, cfg_node_copy(a, n->keys[i]), cfg_node_copy(a, n->items[i]));
        else
            cfg_node_append(a, c, cfg_node_copy(a, n->items[i]));
    }
    return c;
}

/* ---- parsing ---- */

typedef struct anchor {
    char *name;
    cfg_node_t *node;
    struct anchor *next;
} anchor_t;

typedef struct frame {
    cfg_node_t *node;
    cfg_node_t *pending_key; /* map: key waiting for its value */
    char *anchor;
} frame_t;

typedef struct parser {
    arena_t *a;
    const char *file;
    cfg_diags_t *d;
    anchor_t *anchors;
    frame_t stack[YAML_MAX_DEPTH + 1];
    int depth;
    cfg_node_t *root;
    bool failed;
    size_t total;
} parser_t;

static char *tok_dup(arena_t *a, struct fy_token *t, size_t *lenp)
{
    size_t len = 0;
    const char *s = t ? fy_token_get_text(t, &len) : NULL;
    if (!s) len = 0;
    if (lenp) *lenp = len;
    return arena_strndup(a, s ? s : "", len);
}

static void err_at(parser_t *p, int line, int col, const char *msg)
{
    if (p->failed) return;
    p->failed = true;
    cfg_diags_add(p->d, CFG_DIAG_ERROR, p->file, line, col, "", "%s", msg);
}

/* Attach a finished node to its parent (or make it the root). */
static void attach(parser_t *p, cfg_node_t *n, const char *anchor)
{
    if (anchor) {
        anchor_t *an = arena_alloc(p->a, sizeof(*an));
        an->name = arena_strdup(p->a, anchor);
        an->node = n;
        an->next = p->anchors;
        p->anchors = an;
    }
    if (p->depth == 0) {
        if (!p->root) p->root = n;
        return;
    }
    frame_t *f = &p->stack[p->depth - 1];
    if (f->node->kind == CFG_NODE_SEQ) {
        cfg_node_append(p->a, f->node, n);
    } else if (!f->pending_key) {
        if (n->kind != CFG_NODE_SCALAR) {
            err_at(p, n->line, n->col, "complex mapping keys are not supported");
            return;
        }
        f->pending_key = n;
    } else {
        map_add(p->a, f->node, f->pending_key, n);
        f->pending_key = NULL;
    }
}

static void collect_fy_errors(parser_t *p, struct fy_parser *fyp)
{
    struct fy_diag *diag = fy_parser_get_diag(fyp);
    void *it = NULL;
    struct fy_diag_error *e;
    bool any = false;
    while (diag && (e = fy_diag_errors_iterate(diag, &it)) != NULL) {
        if (e->type < FYET_ERROR) continue;
        if (!any) {
            char msg[512];
            snprintf(msg, sizeof msg, "YAML syntax error: %s", e->msg ? e->msg : "invalid YAML");
            size_t l = strlen(msg);
            while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = 0;
            err_at(p, e->line, e->column, msg); /* already 1-based */
            any = true;
        }
    }
    if (diag) fy_diag_unref(diag);
    if (!any) err_at(p, 0, 0, "YAML syntax error");
}

/* Offset of the first byte that is not strict UTF-8 (overlongs, surrogates
 * and code points above U+10FFFF are invalid), or n. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            k = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            k = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            k = 3, min = 0x10000, cp = c & 0x07;
        else
            return i;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += k + 1;
    }
    return n;
}

cfg_node_t *cfg_yaml_parse(arena_t *a, const char *file, const char *text, size_t len,
                           cfg_diags_t *diags)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.level = FYET_ERROR;
    dcfg.colorize = false;
    struct fy_diag *fydiag = NULL;
    struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG};
    parser_t p = {.a = a, .file = file, .d = diags};
    fydiag = fy_diag_create(&dcfg);
    if (fydiag) fy_diag_set_collect_errors(fydiag, true);
    pcfg.diag = fydiag;
    struct fy_parser *fyp = fy_parser_create(&pcfg);
    if (!fyp) {
        if (fydiag) fy_diag_destroy(fydiag);
        err_at(&p, 0, 0, "cannot create YAML parser");
        return NULL;
    }
    /* libfyaml stops silently at a NUL byte, and loops forever on malformed
     * UTF-8 inside a directive: report both before it reads anything */
    const char *nul = text ? memchr(text, 0, len) : NULL;
    size_t bad = text ? utf8_invalid_at((const unsigned char *)text, len) : 0;
    if (nul || bad < len) {
        size_t stop = nul ? (size_t)(nul - text) : bad;
        int line = 1, col = 1;
        for (size_t q = 0; q < stop; q++) {
            if (text[q] == '\n')
                line++, col = 1;
            else
                col++;
        }
        fy_parser_destroy(fyp);
        if (fydiag) fy_diag_destroy(fydiag);
        err_at(&p, line, col,
               nul ? "YAML syntax error: NUL byte in the input"
                   : "YAML syntax error: invalid UTF-8");
        return NULL;
    }
    /* libfyaml keeps a pointer to the input: give it a private copy. */
    char *copy = arena_strndup(a, text ? text : "", len);
    if (fy_parser_set_string(fyp, copy, len) != 0) {
        err_at(&p, 0, 0, "cannot read YAML input");
        fy_parser_destroy(fyp);
        if (fydiag) fy_diag_destroy(fydiag);
        return NULL;
    }
    struct fy_event *ev;
    bool done = false, in_doc = false;
    while (!done && !p.failed && (ev = fy_parser_parse(fyp)) != NULL) {
        const struct fy_mark *m = fy_event_start_mark(ev);
        int line = m ? m->line + 1 : 0, col = m ? m->column + 1 : 0;
        switch (ev->type) {
        case FYET_DOCUMENT_START: in_doc = true; break;
        case FYET_DOCUMENT_END: done = true; break;
        case FYET_SCALAR: {
            cfg_node_t *n = cfg_node_new(a, CFG_NODE_SCALAR, line, col);
            n->str = tok_dup(a, ev->scalar.value, &n->len);
            enum fy_scalar_style st =
                ev->scalar.value ? fy_token_scalar_style(ev->scalar.value) : FYSS_PLAIN;
            n->quoted = st != FYSS_PLAIN && st != FYSS_ANY;
            /* libfyaml marks a quoted scalar at its content: point at the quote */
            if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && n->col > 1) n->col--;
            char *anchor = ev->scalar.anchor ? tok_dup(a, ev->scalar.anchor, NULL) : NULL;
            p.total++;
            attach(&p, n, anchor);
            break;
        }
        case FYET_ALIAS: {
            char *name = tok_dup(a, ev->alias.anchor, NULL);
            anchor_t *an = p.anchors;
            while (an && strcmp(an->name, name))
                an = an->next;
            if (!an) {
                err_at(&p, line, col, "unknown YAML alias");
                break;
            }
            p.total += an->node->weight;
            if (p.total > YAML_MAX_WEIGHT) {
                err_at(&p, line, col, "document too large after alias expansion");
                break;
            }
            attach(&p, an->node, NULL);
            break;
        }
        case FYET_MAPPING_START:
        case FYET_SEQUENCE_START: {
            if (p.depth >= YAML_MAX_DEPTH) {
                err_at(&p, line, col, "YAML nesting too deep");
                break;
            }
            cfg_node_kind_t k = ev->type == FYET_MAPPING_START ? CFG_NODE_MAP : CFG_NODE_SEQ;
            struct fy_token *at =
                k == CFG_NODE_MAP ? ev->mapping_start.anchor : ev->sequence_start.anchor;
            frame_t *f = &p.stack[p.depth++];
            f->node = cfg_node_new(a, k, line, col);
            f->pending_key = NULL;
            f->anchor = at ? tok_dup(a, at, NULL) : NULL;
            p.total++;
            break;
        }
        case FYET_MAPPING_END:
        case FYET_SEQUENCE_END: {
            frame_t f = p.stack[--p.depth];
            attach(&p, f.node, f.anchor);
            break;
        }
        default: break;
        }
        fy_parser_event_free(fyp, ev);
    }
    if (!p.failed && !done && (fy_parser_get_stream_error(fyp) || in_doc))
        collect_fy_errors(&p, fyp);
    fy_parser_destroy(fyp);
    if (fydiag) fy_diag_destroy(fydiag);
    if (p.failed) return NULL;
    if (!p.root || cfg_node_is_null(p.root)) p.root = cfg_node_new(a, CFG_NODE_MAP, 1, 1);
    return p.root;
}

/* ---- comments ----
 * Read from the text by line, next to the positions of the parsed nodes
 * (libfyaml 0.7's own comment parsing leaks on trailing comments, comments
 * after flow collections and failed streams). A comment-only line block
 * directly above a key or list item, indented no deeper than it, is its top
 * comment (deeper lines may be block-scalar text); a `#` after whitespace
 * outside quotes on the line where an entry starts is its right comment. */

typedef struct cscan {
    arena_t *a;
    const char *text;
    size_t len;
    size_t *off; /* start offset of line i (0-based) */
    size_t n;
    bool *taken; /* comment line or right comment already attached */
} cscan_t;

static const char *cs_line(const cscan_t *cs, int line, size_t *llen)
{
    if (line < 1 || (size_t)line > cs->n) return NULL;
    size_t b = cs->off[line - 1];
    size_t e = (size_t)line < cs->n ? cs->off[line] : cs->len;
    while (e > b && (cs->text[e - 1] == '\n' || cs->text[e - 1] == '\r'))
        e--;
    *llen = e - b;
    return cs->text + b;
}

/* Comment-only line: its text after "#" (and one space), and its indent. */
static bool cs_comment_only(const char *l, size_t n, size_t *indent, const char **body,
                            size_t *blen)
{
    size_t i = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i >= n || l[i] != '#') return false;
    *indent = i;
    i++;
    if (i < n && l[i] == ' ') i++;
    size_t e = n;
    while (e > i && (l[e - 1] == ' ' || l[e - 1] == '\t'))
        e--;
    *body = l + i;
    *blen = e - i;
    return true;
}

/* The right comment of a line, scanning from column col (1-based). */
static char *cs_right(cscan_t *cs, int line, int col)
{
    size_t n;
    const char *l = cs_line(cs, line, &n);
    if (!l || col < 1 || (size_t)col > n + 1 || cs->taken[line - 1]) return NULL;
    char q = 0;
    for (size_t i = (size_t)col - 1; i < n; i++) {
        char c = l[i], prev = i ? l[i - 1] : ' ';
        if (q == '"') {
            if (c == '\\')
                i++;
            else if (c == '"')
                q = 0;
        } else if (q == '\'') {
            if (c == '\'' && i + 1 < n && l[i + 1] == '\'')
                i++;
            else if (c == '\'')
                q = 0;
        } else if ((c == '"' || c == '\'') && strchr(" \t[{,:", prev)) {
            q = c;
        } else if (c == '#' && (prev == ' ' || prev == '\t')) {
            size_t b = i + 1;
            if (b < n && l[b] == ' ') b++;
            size_t e = n;
            while (e > b && (l[e - 1] == ' ' || l[e - 1] == '\t'))
                e--;
            cs->taken[line - 1] = true;
            return arena_strndup(cs->a, l + b, e - b);
        }
    }
    return NULL;
}

/* Comment lines directly above line, indented at most col-1. */
static char *cs_top(cscan_t *cs, int line, int col)
{
    int first = line;
    for (int l = line - 1; l >= 1; l--) {
        size_t n, ind, bl;
        const char *t = cs_line(cs, l, &n), *body;
        if (!t || cs->taken[l - 1] || !cs_comment_only(t, n, &ind, &body, &bl) ||
            (int)ind > col - 1)
            break;
        first = l;
    }
    if (first == line) return NULL;
    buf_t b = BUF_INIT;
    for (int l = first; l < line; l++) {
        size_t n, ind, bl;
        const char *t = cs_line(cs, l, &n), *body;
        cs_comment_only(t, n, &ind, &body, &bl);
        if (l > first) buf_putc(&b, '\n');
        buf_append(&b, body, bl);
        cs->taken[l - 1] = true;
    }
    char *r = arena_strndup(cs->a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return r;
}

static void cs_walk(cscan_t *cs, cfg_node_t *n, int depth)
{
    if (depth > YAML_MAX_DEPTH || n->kind == CFG_NODE_SCALAR) return;
    for (size_t i = 0; i < n->n; i++) {
        cfg_node_t *v = n->items[i];
        if (n->kind == CFG_NODE_MAP) {
            cfg_node_t *k = n->keys[i];
            if (k->line > 0 && !k->comment_top) k->comment_top = cs_top(cs, k->line, k->col);
            char *rc = k->line > 0 ? cs_right(cs, k->line, k->col) : NULL;
            if (rc) {
                if (v->kind == CFG_NODE_SCALAR && v->line == k->line)
                    v->comment = rc;
                else
                    k->comment = rc;
            }
        } else if (v->line > 0) {
            /* a list item: the comment lines above its dash */
            int dash = v->col > 2 ? v->col - 2 : 1;
            if (!v->comment_top) v->comment_top = cs_top(cs, v->line, dash);
            if (v->kind == CFG_NODE_SCALAR) {
                char *rc = cs_right(cs, v->line, v->col);
                if (rc) v->comment = rc;
            }
        }
        cs_walk(cs, v, depth + 1);
    }
}

cfg_node_t *cfg_yaml_parse_comments(arena_t *a, const char *file, const char *text, size_t len,
                                    cfg_diags_t *diags)
{
    cfg_node_t *root = cfg_yaml_parse(a, file, text, len, diags);
    if (!root || !text || !len) return root;
    cscan_t cs = {.a = a, .text = text, .len = len};
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    cs.off = arena_alloc(a, lines * sizeof(size_t));
    cs.taken = arena_calloc(a, lines * sizeof(bool));
    cs.off[cs.n++] = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' && i + 1 < len) cs.off[cs.n++] = i + 1;
    cs_walk(&cs, root, 0);
    return root;
}

/* ---- secrets ---- */

static bool ends_with_ci(const char *s, const char *suf)
{
    size_t ls = strlen(s), lf = strlen(suf);
    return ls >= lf && !strcasecmp(s + ls - lf, suf);
}

bool cfg_key_is_secret(const char *key, bool is_header)
{
    if (!key) return false;
    if (is_header) return strcasestr(key, "auth") || strcasestr(key, "key");
    return ends_with_ci(key, "key") || ends_with_ci(key, "token") ||
           ends_with_ci(key, "password") || ends_with_ci(key, "secret") ||
           ends_with_ci(key, "_sha256");
}

/* ---- emitting ---- */

static bool looks_special(const char *s)
{
    static const char *words[] = {"true", "false", "True", "False", "TRUE", "FALSE", "yes",
                                  "no",   "Yes",   "No",   "on",    "off",  "On",    "Off",
                                  "null", "Null",  "NULL", "~",     "y",    "n",     NULL};
    for (int i = 0; words[i]; i++)
        if (!strcmp(s, words[i])) return true;
    return false;
}

static bool looks_number(const char *s)
{
    if (!*s) return false;
    char *end;
    strtod(s, &end);
    return *end == 0 && !isspace((unsigned char)*s);
}

static bool needs_quotes(const cfg_node_t *n)
{
    const char *s = n->str;
    if (!*s) return true;
    if (n->quoted && (looks_special(s) || looks_number(s))) return true;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || isspace((unsigned char)s[0])) return true;
    size_t l = strlen(s);
    if (isspace((unsigned char)s[l - 1])) return true;
    if (strstr(s, ": ") || strstr(s, " #") || s[l - 1] == ':') return true;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return true;
    return false;
}

static void emit_dq(buf_t *out, const char *s, size_t n)
{
    buf_json_str(out, s, n); /* JSON strings are valid YAML double-quoted scalars */
}

static void emit_scalar(buf_t *out, const cfg_node_t *n, bool json, bool redacted)
{
    if (redacted) {
        buf_puts(out, json ? "\"<redacted>\"" : "<redacted>");
        return;
    }
    if (n->env_raw) {
        /* a value from the environment is written as in the file, always:
         * emitted trees are shown to people or written back as config */
        cfg_node_t raw = *n;
        raw.str = n->env_raw;
        raw.len = strlen(n->env_raw);
        raw.env_raw = NULL;
        raw.quoted = true; /* ${VAR} stands for a string, even when it looks like a number */
        emit_scalar(out, &raw, json, false);
        return;
    }
    if (json) {
        if (!n->quoted && (cfg_node_is_null(n) || !strcmp(n->str, "true") ||
                           !strcmp(n->str, "false") || looks_number(n->str))) {
            if (cfg_node_is_null(n))
                buf_puts(out, "null");
            else
                buf_append(out, n->str, n->len);
        } else {
            emit_dq(out, n->str, n->len);
        }
        return;
    }
    if (!n->quoted && cfg_node_is_null(n))
        buf_puts(out, n->len ? n->str : "null");
    else if (needs_quotes(n))
        emit_dq(out, n->str, n->len);
    else
        buf_append(out, n->str, n->len);
}

static void indent(buf_t *out, int ind)
{
    for (int i = 0; i < ind; i++)
        buf_putc(out, ' ');
}

/* "# line" for every line of a kept comment, at column ind. */
static void emit_comment_lines(buf_t *out, const char *c, int ind)
{
    while (c && *c) {
        const char *e = strchr(c, '\n');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        indent(out, ind);
        buf_putc(out, '#');
        if (l) buf_putc(out, ' ');
        buf_append(out, c, l);
        buf_putc(out, '\n');
        c = e ? e + 1 : NULL;
    }
}

/* A right comment on one line only (a newline would end the comment). */
static void emit_right_comment(buf_t *out, const char *c)
{
    if (!c || !*c) return;
    buf_puts(out, "  # ");
    for (; *c && *c != '\n'; c++)
        buf_putc(out, *c);
}

static bool is_secret_ctx(const char *key, const char *parent_key)
{
    if (parent_key && !strcmp(parent_key, "extra_headers")) return cfg_key_is_secret(key, true);
    if (parent_key && !strcmp(parent_key, "headers")) return cfg_key_is_secret(key, true);
    return cfg_key_is_secret(key, false);
}

static void emit_json(buf_t *out, const cfg_node_t *n, const cfg_emit_opts_t *o, int ind,
                      const char *parent_key, int depth)
{
    if (depth > YAML_MAX_DEPTH) {
        buf_puts(out, "null");
        return;
    }
    if (n->kind == CFG_NODE_SCALAR) {
        emit_scalar(out, n, true, false);
        return;
    }
    bool map = n->kind == CFG_NODE_MAP;
    if (!n->n) {
        buf_puts(out, map ? "{}" : "[]");
        return;
    }
    buf_puts(out, map ? "{\n" : "[\n");
    for (size_t i = 0; i < n->n; i++) {
        indent(out, ind + 2);
        const cfg_node_t *v = n->items[i];
        if (map) {
            emit_dq(out, n->keys[i]->str, n->keys[i]->len);
            buf_puts(out, ": ");
            if (o->redact && v->kind == CFG_NODE_SCALAR && !cfg_node_is_null(v) &&
                is_secret_ctx(n->keys[i]->str, parent_key))
                emit_scalar(out, v, true, true);
            else
                emit_json(out, v, o, ind + 2, n->keys[i]->str, depth + 1);
        } else {
            emit_json(out, v, o, ind + 2, parent_key, depth + 1);
        }
        buf_puts(out, i + 1 < n->n ? ",\n" : "\n");
    }
    indent(out, ind);
    buf_putc(out, map ? '}' : ']');
}

static void emit_yaml(buf_t *out, const cfg_node_t *n, const cfg_emit_opts_t *o, int ind,
                      const char *parent_key, int depth);

/* Write "key: value" or "key:\n  nested" for one map entry at column ind. */
static void emit_entry(buf_t *out, const cfg_node_t *k, const cfg_node_t *v,
                       const cfg_emit_opts_t *o, int ind, const char *parent_key, int depth)
{
    emit_scalar(out, k, false, false);
    buf_putc(out, ':');
    if (v->kind == CFG_NODE_SCALAR) {
        buf_putc(out, ' ');
        bool red = o->redact && !cfg_node_is_null(v) && is_secret_ctx(k->str, parent_key);
        emit_scalar(out, v, false, red);
        emit_right_comment(out, v->comment ? v->comment : k->comment);
        buf_putc(out, '\n');
    } else if (!v->n) {
        buf_puts(out, v->kind == CFG_NODE_MAP ? " {}" : " []");
        emit_right_comment(out, v->comment ? v->comment : k->comment);
        buf_putc(out, '\n');
    } else {
        emit_right_comment(out, v->comment ? v->comment : k->comment);
        buf_putc(out, '\n');
        emit_yaml(out, v, o, v->kind == CFG_NODE_MAP ? ind + 2 : ind, k->str, depth + 1);
    }
}

static void emit_yaml(buf_t *out, const cfg_node_t *n, const cfg_emit_opts_t *o, int ind,
                      const char *parent_key, int depth)
{
    if (depth > YAML_MAX_DEPTH) return;
    if (n->kind == CFG_NODE_SCALAR) {
        indent(out, ind);
        emit_scalar(out, n, false, false);
        buf_putc(out, '\n');
        return;
    }
    if (n->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            emit_comment_lines(out, n->keys[i]->comment_top, ind);
            indent(out, ind);
            emit_entry(out, n->keys[i], n->items[i], o, ind, parent_key, depth);
        }
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const cfg_node_t *it = n->items[i];
        emit_comment_lines(out, it->comment_top, ind);
        if (it->kind == CFG_NODE_MAP && it->n)
            emit_comment_lines(out, it->keys[0]->comment_top, ind);
        indent(out, ind);
        buf_puts(out, "- ");
        if (it->kind == CFG_NODE_SCALAR) {
            emit_scalar(out, it, false, false);
            emit_right_comment(out, it->comment);
            buf_putc(out, '\n');
        } else if (!it->n) {
            buf_puts(out, it->kind == CFG_NODE_MAP ? "{}\n" : "[]\n");
        } else if (it->kind == CFG_NODE_MAP) {
            /* first entry on the dash line, the rest indented under it */
            for (size_t j = 0; j < it->n; j++) {
                if (j) {
                    emit_comment_lines(out, it->keys[j]->comment_top, ind + 2);
                    indent(out, ind + 2);
                }
                emit_entry(out, it->keys[j], it->items[j], o, ind + 2, parent_key, depth + 1);
            }
        } else {
            buf_putc(out, '\n');
            emit_yaml(out, it, o, ind + 2, parent_key, depth + 1);
        }
    }
}

void cfg_yaml_emit(buf_t *out, const cfg_node_t *root, const cfg_emit_opts_t *opts)
{
    cfg_emit_opts_t def = {0};
    if (!opts) opts = &def;
    if (opts->json) {
        emit_json(out, root, opts, 0, NULL, 0);
        buf_putc(out, '\n');
    } else if (root->kind == CFG_NODE_SCALAR) {
        emit_scalar(out, root, false, false);
        buf_putc(out, '\n');
    } else if (!root->n) {
        buf_puts(out, root->kind == CFG_NODE_MAP ? "{}\n" : "[]\n");
    } else {
        emit_yaml(out, root, opts, 0, NULL, 0);
    }
}
