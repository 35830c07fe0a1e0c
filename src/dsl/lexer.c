/* lexer.c - the DSL's hand-written lexer (SPEC §10 lexical rules): `#` and
 * `//` comments (kept and attached to the next token for fmt), JSON strings,
 * numbers and booleans, identifiers [A-Za-z_][A-Za-z0-9_./:-]*, reserved
 * upper-case keywords, `->` or `→`. The whole input becomes one token array
 * the parser (parser.c) walks with lookahead; each token records its '{'
 * depth so the parser can resynchronise after an error. */
#include "dsl/ast.h"
#include <stdint.h>
#include <string.h>

const char *const dsl_keywords[] = {
    "ROUTING",       "SIGNAL",     "PROJECTION",  "SIGNAL_GROUP", "MODEL",     "PLUGIN", "ROUTE",
    "PRIORITY",      "TIER",       "DESCRIPTION", "WHEN",         "ALGORITHM", "EMIT",   "SESSION",
    "DECISION_TREE", "IF",         "ELSE",        "NAME",         "TEST",      "WITH",   "EXPECT",
    "RECIPE",        "ENTRYPOINT", "AND",         "OR",           "NOT",       NULL};

bool dsl_is_keyword(const char *s)
{
    for (size_t i = 0; dsl_keywords[i]; i++)
        if (!strcmp(dsl_keywords[i], s)) return true;
    return false;
}

static bool id_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static bool id_char(int c)
{
    return id_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '/' || c == ':' || c == '-';
}

bool dsl_is_ident(const char *s)
{
    if (!s || !id_start((unsigned char)s[0])) return false;
    size_t n = strlen(s);
    for (size_t i = 1; i < n; i++)
        if (!id_char((unsigned char)s[i])) return false;
    /* the lexer gives a trailing ':' back, and "x-" before '>' would be an arrow */
    if (s[n - 1] == ':' || s[n - 1] == '-') return false;
    if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "null")) return false;
    return !dsl_is_keyword(s);
}

const char *dsl_tok_kind_name(dsl_tok_kind_t k)
{
    static const char *const n[] = {"end of input", "identifier",   "keyword", "string", "number",
                                    "boolean",      "'{'",          "'}'",     "'('",    "')'",
                                    "'['",          "']'",          "':'",     "','",    "'='",
                                    "'->'",         "invalid token"};
    return k <= DSL_T_ERROR ? n[k] : "?";
}

typedef struct lx {
    arena_t *a;
    const char *s;
    size_t len, i;
    int line;
    size_t line_start;
    int depth;
    dsl_tokens_t *out;
    size_t cap;
    char **pend; /* pending comments */
    int n_pend, cap_pend;
    dsl_diags_t *d;
} lx_t;

static int col_of(lx_t *x, size_t at)
{
    return (int)(at - x->line_start) + 1;
}

static void add_comment(lx_t *x, const char *p, size_t n)
{
    /* a comment is one line of text: control characters become spaces, so
     * printing it back (fmt) and lexing that again gives the same comment */
    char *c = arena_strndup(x->a, p, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) c[i] = ' ';
    p = c;
    while (n && p[n - 1] == ' ')
        n--;
    if (x->n_pend == x->cap_pend) {
        int nc = x->cap_pend ? x->cap_pend * 2 : 4;
        char **v = arena_alloc(x->a, (size_t)nc * sizeof *v);
        if (x->n_pend) memcpy(v, x->pend, (size_t)x->n_pend * sizeof *v);
        x->pend = v;
        x->cap_pend = nc;
    }
    x->pend[x->n_pend++] = arena_strndup(x->a, p, n);
}

/* The one-character tokens. */
typedef struct punct {
    unsigned char c;
    dsl_tok_kind_t kind;
    char *text;
} punct_t;

static const punct_t *punct_of(unsigned char c)
{
    static const punct_t table[] = {
        {'{', DSL_T_LBRACE, "{"}, {'}', DSL_T_RBRACE, "}"}, {'(', DSL_T_LPAREN, "("},
        {')', DSL_T_RPAREN, ")"}, {'[', DSL_T_LBRACK, "["}, {']', DSL_T_RBRACK, "]"},
        {':', DSL_T_COLON, ":"},  {',', DSL_T_COMMA, ","},  {'=', DSL_T_EQ, "="}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].c == c) return &table[i];
    return NULL;
}

static dsl_token_t *push(lx_t *x, dsl_tok_kind_t k, char *text, size_t at)
{
    if (x->out->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        dsl_token_t *v = arena_alloc(x->a, nc * sizeof *v);
        if (x->out->n) memcpy(v, x->out->v, x->out->n * sizeof *v);
        x->out->v = v;
        x->cap = nc;
    }
    dsl_token_t *t = &x->out->v[x->out->n++];
    *t = (dsl_token_t){k, text, x->line, col_of(x, at), x->depth, x->n_pend, x->pend};
    x->pend = NULL;
    x->n_pend = x->cap_pend = 0;
    return t;
}

static void put_utf8(buf_t *b, uint32_t c)
{
    if (c < 0x80) {
        buf_putc(b, (char)c);
    } else if (c < 0x800) {
        buf_putc(b, (char)(0xC0 | (c >> 6)));
        buf_putc(b, (char)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        buf_putc(b, (char)(0xE0 | (c >> 12)));
        buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (c & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | (c >> 18)));
        buf_putc(b, (char)(0x80 | ((c >> 12) & 0x3F)));
        buf_putc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (c & 0x3F)));
    }
}

static int hex4(const char *p, size_t avail, uint32_t *out)
{
    if (avail < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A JSON string starting at x->i (the quote). */
static void lex_string(lx_t *x)
{
    size_t start = x->i++;
    buf_t b = BUF_INIT;
    const char *err = NULL;
    size_t err_at = start;
    for (;;) {
        if (x->i >= x->len || x->s[x->i] == '\n') {
            err = "unterminated string";
            break;
        }
        unsigned char c = (unsigned char)x->s[x->i];
        if (c == '"') {
            x->i++;
            break;
        }
        if (c < 0x20) {
            err = "control character in string (use an escape)";
            err_at = x->i;
            x->i++;
            continue;
        }
        if (c != '\\') {
            buf_putc(&b, (char)c);
            x->i++;
            continue;
        }
        if (x->i + 1 >= x->len) {
            err = "unterminated string";
            x->i++;
            break;
        }
        char e = x->s[x->i + 1];
        x->i += 2;
        switch (e) {
        case '"': buf_putc(&b, '"'); break;
        case '\\': buf_putc(&b, '\\'); break;
        case '/': buf_putc(&b, '/'); break;
        case 'b': buf_putc(&b, '\b'); break;
        case 'f': buf_putc(&b, '\f'); break;
        case 'n': buf_putc(&b, '\n'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'u': {
            uint32_t u;
            if (hex4(x->s + x->i, x->len - x->i, &u) != 0) {
                err = "bad \\u escape (expected 4 hex digits)";
                err_at = x->i - 2;
                break;
            }
            x->i += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo;
                if (x->i + 6 <= x->len && x->s[x->i] == '\\' && x->s[x->i + 1] == 'u' &&
                    hex4(x->s + x->i + 2, x->len - x->i - 2, &lo) == 0 && lo >= 0xDC00 &&
                    lo <= 0xDFFF) {
                    x->i += 6;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    err = "unpaired surrogate in \\u escape";
                    err_at = x->i - 6;
                    u = 0xFFFD;
                }
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                err = "unpaired surrogate in \\u escape";
                err_at = x->i - 6;
                u = 0xFFFD;
            }
            if (u == 0) {
                err = "\\u0000 is not allowed";
                err_at = x->i - 6;
                break;
            }
            put_utf8(&b, u);
            break;
        }
        default: err = "unknown escape in string"; err_at = x->i - 2;
        }
    }
    if (err) {
        dsl_diag_add(x->d, DSL_ERROR, x->line, col_of(x, err_at), NULL, "%s", err);
        buf_free(&b);
        push(x, DSL_T_ERROR, arena_strdup(x->a, err), start);
        return;
    }
    char *s = arena_strndup(x->a, b.data ? b.data : "", b.len);
    buf_free(&b);
    push(x, DSL_T_STRING, s, start);
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static void lex_number(lx_t *x)
{
    size_t st = x->i, i = x->i;
    bool ok = true;
    if (x->s[i] == '-') i++;
    if (i < x->len && x->s[i] == '0') {
        i++;
    } else if (i < x->len && is_digit(x->s[i])) {
        while (i < x->len && is_digit(x->s[i]))
            i++;
    } else {
        ok = false;
    }
    if (ok && i < x->len && x->s[i] == '.') {
        i++;
        if (i >= x->len || !is_digit(x->s[i])) ok = false;
        while (i < x->len && is_digit(x->s[i]))
            i++;
    }
    if (ok && i < x->len && (x->s[i] == 'e' || x->s[i] == 'E')) {
        i++;
        if (i < x->len && (x->s[i] == '+' || x->s[i] == '-')) i++;
        if (i >= x->len || !is_digit(x->s[i])) ok = false;
        while (i < x->len && is_digit(x->s[i]))
            i++;
    }
    /* "48K", "0x1", "1.2.3": not JSON numbers */
    if (ok && i < x->len && (id_char((unsigned char)x->s[i]) && x->s[i] != ':')) ok = false;
    if (!ok) {
        while (i < x->len && id_char((unsigned char)x->s[i]))
            i++;
        char *t = arena_strndup(x->a, x->s + st, i - st);
        dsl_diag_add(x->d, DSL_ERROR, x->line, col_of(x, st), NULL,
                     "invalid number \"%s\" (write it as a string, e.g. \"%s\")", t, t);
        x->i = i;
        push(x, DSL_T_ERROR, t, st);
        return;
    }
    x->i = i;
    push(x, DSL_T_NUMBER, arena_strndup(x->a, x->s + st, i - st), st);
}

void dsl_lex(arena_t *a, const char *text, size_t len, dsl_tokens_t *out, dsl_diags_t *d)
{
    memset(out, 0, sizeof *out);
    lx_t x = {.a = a, .s = text ? text : "", .len = text ? len : 0, .line = 1, .out = out, .d = d};
    while (x.i < x.len) {
        unsigned char c = (unsigned char)x.s[x.i];
        if (c == '\n') {
            x.i++;
            x.line++;
            x.line_start = x.i;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            x.i++;
            continue;
        }
        if (c == '#' || (c == '/' && x.i + 1 < x.len && x.s[x.i + 1] == '/')) {
            size_t st = x.i + (c == '#' ? 1 : 2);
            size_t e = st;
            while (e < x.len && x.s[e] != '\n')
                e++;
            if (st < e && x.s[st] == ' ') st++;
            add_comment(&x, x.s + st, e - st);
            x.i = e;
            continue;
        }
        size_t st = x.i;
        if (c == '"') {
            lex_string(&x);
            continue;
        }
        const punct_t *pt = punct_of(c);
        if (pt) {
            x.i++;
            if (c == '}' && x.depth > 0) x.depth--; /* '{' and '}' carry the outer depth */
            push(&x, pt->kind, pt->text, st);
            if (c == '{') x.depth++;
            continue;
        }
        if (c == '-' && x.i + 1 < x.len && x.s[x.i + 1] == '>') {
            x.i += 2;
            push(&x, DSL_T_ARROW, "->", st);
            continue;
        }
        if (c == 0xE2 && x.i + 2 < x.len && (unsigned char)x.s[x.i + 1] == 0x86 &&
            (unsigned char)x.s[x.i + 2] == 0x92) {
            x.i += 3;
            push(&x, DSL_T_ARROW, "->", st);
            continue;
        }
        if (c == '-' || is_digit(c)) {
            lex_number(&x);
            continue;
        }
        if (id_start(c)) {
            size_t e = x.i + 1;
            while (e < x.len && id_char((unsigned char)x.s[e]))
                e++;
            /* `key:` is a key and a colon; `a->b` is an arrow */
            while (e > x.i + 1 && x.s[e - 1] == ':')
                e--;
            if (e > x.i + 1 && x.s[e - 1] == '-' && e < x.len && x.s[e] == '>') e--;
            char *t = arena_strndup(a, x.s + x.i, e - x.i);
            x.i = e;
            if (!strcmp(t, "true") || !strcmp(t, "false"))
                push(&x, DSL_T_BOOL, t, st);
            else
                push(&x, dsl_is_keyword(t) ? DSL_T_KEYWORD : DSL_T_IDENT, t, st);
            continue;
        }
        /* skip one UTF-8 character */
        size_t e = x.i + 1;
        while (e < x.len && ((unsigned char)x.s[e] & 0xC0) == 0x80)
            e++;
        char *t = arena_strndup(a, x.s + x.i, e - x.i);
        dsl_diag_add(d, DSL_ERROR, x.line, col_of(&x, st), NULL, "unexpected character '%s'",
                     c >= 0x20 && c < 0x7f ? t : "?");
        x.i = e;
        push(&x, DSL_T_ERROR, t, st);
    }
    out->trailing = x.pend;
    out->n_trailing = x.n_pend;
    x.pend = NULL;
    x.n_pend = 0;
    push(&x, DSL_T_EOF, "", x.i);
    out->n--; /* EOF is at v[n] */
    /* EOF position: after the last character */
}
