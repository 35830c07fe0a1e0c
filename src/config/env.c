/* env.c - ${VAR}, ${VAR:-default} and $$ expansion in scalar values, run
 * over the whole tree before any section is read (SPEC 3.1 step 3). The
 * default applies when the variable is unset or empty. Errors name the
 * variable and the position of its `$`.
 *
 * Values from the environment may be credentials, so none may reach a
 * diagnostic: each one is registered as a secret of the diagnostics list
 * (redacted from every message, diag.c), the node keeps its text as written
 * for `config show` (env_raw), and values of secret keys (api_key, token,
 * Authorization headers...) are registered too. Sealed, for validation
 * through the management API, nothing is read at all: a reference takes its
 * default or stays as written, marked opaque (its checks become warnings,
 * load.c), so no response can depend on the environment. */
#include "config/load.h"
#include <stdlib.h>
#include <string.h>

/* Column of byte offset off inside scalar n, when it is on the first line. */
static int col_of(const cfg_node_t *n, size_t off)
{
    if (memchr(n->str, '\n', off)) return n->col;
    return n->col + (n->quoted ? 1 : 0) + (int)off;
}

const char *ld_env_secret(ld_t *l, const char *var)
{
    if (l->seal_env || !var) return NULL;
    const char *v = getenv(var);
    if (!v || !*v) return NULL;
    cfg_diags_add_secret(l->d, v, strlen(v));
    return v;
}

static void expand_scalar(ld_t *l, cfg_node_t *n)
{
    if (!memchr(n->str, '$', n->len)) return;
    buf_t out = BUF_INIT;
    bool ok = true, from_env = false, opaque = false;
    for (size_t i = 0; i < n->len;) {
        char c = n->str[i];
        if (c != '$') {
            buf_putc(&out, c);
            i++;
            continue;
        }
        if (i + 1 < n->len && n->str[i + 1] == '$') {
            buf_putc(&out, '$');
            i += 2;
            continue;
        }
        if (i + 1 >= n->len || n->str[i + 1] != '{') {
            buf_putc(&out, '$');
            i++;
            continue;
        }
        const char *close = memchr(n->str + i, '}', n->len - i);
        cfg_node_t at = *n;
        at.col = col_of(n, i);
        if (!close) {
            ld_err(l, &at, "unterminated \"${\" in value");
            ok = false;
            break;
        }
        size_t body = i + 2, end = (size_t)(close - n->str);
        const char *dflt = NULL;
        size_t name_end = end, dlen = 0;
        for (size_t j = body; j + 1 < end; j++)
            if (n->str[j] == ':' && n->str[j + 1] == '-') {
                name_end = j;
                dflt = n->str + j + 2;
                dlen = end - (j + 2);
                break;
            }
        char name[256];
        size_t nl = name_end - body;
        bool valid = nl > 0 && nl < sizeof name;
        for (size_t j = body; valid && j < name_end; j++) {
            char ch = n->str[j];
            valid = ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (j > body && ch >= '0' && ch <= '9');
        }
        if (!valid) {
            ld_err(l, &at, "invalid variable reference \"%.*s\"", (int)(end + 1 - i), n->str + i);
            ok = false;
            i = end + 1;
            continue;
        }
        memcpy(name, n->str + body, nl);
        name[nl] = 0;
        const char *v = l->seal_env ? NULL : getenv(name);
        if (v && *v) {
            buf_puts(&out, v);
            cfg_diags_add_secret(l->d, v, strlen(v));
            from_env = true;
        } else if (dflt)
            buf_append(&out, dflt, dlen);
        else if (v)
            buf_puts(&out, ""); /* set but empty, no default */
        else if (l->seal_env)
            opaque = true; /* unknown here: keep the text as written */
        else {
            ld_err(l, &at, "environment variable %s is not set (use ${%s:-default} for a default)",
                   name, name);
            ok = false;
        }
        i = end + 1;
    }
    if (ok && opaque) {
        n->env_raw = arena_strndup(l->a, n->str, n->len);
        n->env_opaque = true;
    } else if (ok) {
        if (from_env) n->env_raw = arena_strndup(l->a, n->str, n->len);
        n->str = arena_strndup(l->a, out.data ? out.data : "", out.len);
        n->len = out.len;
    }
    if (out.data) explicit_bzero(out.data, out.len);
    buf_free(&out);
}

/* Shared (aliased) nodes are expanded once: mark them by weight 0 trick is
 * unsafe, so keep a small visited list of scalars already expanded. */
typedef struct seen {
    const cfg_node_t **v;
    size_t n, cap;
} seen_t;

static bool seen_add(seen_t *s, const cfg_node_t *n)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == n) return false;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v) abort();
    }
    s->v[s->n++] = n;
    return true;
}

static void walk(ld_t *l, cfg_node_t *n, const char *parent_key, seen_t *s, int depth)
{
    if (depth > 256) return;
    if (n->kind == CFG_NODE_SCALAR) {
        if (memchr(n->str, '$', n->len) && seen_add(s, n)) expand_scalar(l, n);
        return;
    }
    bool headers =
        parent_key && (!strcmp(parent_key, "extra_headers") || !strcmp(parent_key, "headers"));
    for (size_t i = 0; i < n->n; i++) {
        cfg_node_t *it = n->items[i];
        const char *key = n->kind == CFG_NODE_MAP ? n->keys[i]->str : parent_key;
        size_t saved = n->kind == CFG_NODE_MAP ? ld_push_key(l, key) : ld_push_item(l, it, i);
        walk(l, it, key, s, depth + 1);
        /* a secret written in the file is no more printable than one from the
         * environment (show.c redacts the same keys) */
        if (n->kind == CFG_NODE_MAP && it->kind == CFG_NODE_SCALAR && !it->env_opaque &&
            cfg_key_is_secret(key, headers))
            cfg_diags_add_secret(l->d, it->str, it->len);
        ld_pop(l, saved);
    }
}

void cfg_env_expand_tree(ld_t *l, cfg_node_t *root)
{
    seen_t s = {0};
    walk(l, root, NULL, &s, 0);
    free(s.v);
}
