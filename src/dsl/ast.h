/* ast.h - the routing DSL (SPEC §10): tokens, the syntax tree, diagnostics
 * and the entry points of every stage (lexer.c, parser.c, fmt.c, compile.c,
 * decompile.c, validate.c, test.c, generate.c).
 *
 * Ownership: a dsl_program_t and everything it points to live in the arena
 * passed to dsl_parse / dsl_decompile; free the arena to free the program.
 * Diagnostics own their strings (dsl_diags_free). No global state: every
 * function is thread-safe on distinct programs. lexer/parser/fmt depend only
 * on src/core (the fuzz harness links just those). */
#ifndef TETHER_DSL_AST_H
#define TETHER_DSL_AST_H
#include "core/arena.h"
#include "core/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- diagnostics ---- */
typedef enum { DSL_ERROR = 0, DSL_WARNING } dsl_sev_t;
typedef struct dsl_diag {
    dsl_sev_t sev;
    int line, col;
    char *msg;
    char *fix; /* suggested fix, or NULL */
} dsl_diag_t;
typedef struct dsl_diags {
    char *file;
    dsl_diag_t *v;
    size_t n, cap, n_errors, n_warnings;
} dsl_diags_t;
void dsl_diags_init(dsl_diags_t *d, const char *file);
void dsl_diags_free(dsl_diags_t *d);
void dsl_diag_add(dsl_diags_t *d, dsl_sev_t sev, int line, int col, const char *fix,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void dsl_diag_vadd(dsl_diags_t *d, dsl_sev_t sev, int line, int col, const char *fix,
                   const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
void dsl_diags_sort(dsl_diags_t *d);
/* `file:line:col: error|warning: message` (+ "\n  fix: ..."), one per line. */
void dsl_diags_format(buf_t *out, const dsl_diags_t *d);
void dsl_diags_print(FILE *f, const dsl_diags_t *d);

/* ---- tokens ---- */
typedef enum {
    DSL_T_EOF = 0,
    DSL_T_IDENT,
    DSL_T_KEYWORD,
    DSL_T_STRING,
    DSL_T_NUMBER,
    DSL_T_BOOL,
    DSL_T_LBRACE,
    DSL_T_RBRACE,
    DSL_T_LPAREN,
    DSL_T_RPAREN,
    DSL_T_LBRACK,
    DSL_T_RBRACK,
    DSL_T_COLON,
    DSL_T_COMMA,
    DSL_T_EQ,
    DSL_T_ARROW,
    DSL_T_ERROR, /* a bad character or literal: text says what */
} dsl_tok_kind_t;

typedef struct dsl_token {
    dsl_tok_kind_t kind;
    char *text;      /* decoded string, number text, identifier, keyword */
    int line, col;   /* 1-based; col counts bytes */
    int depth;       /* '{' nesting before this token */
    int n_comments;  /* comments immediately before this token */
    char **comments; /* their text (without the marker), NULL when none */
} dsl_token_t;

typedef struct dsl_tokens {
    dsl_token_t *v;
    size_t n;
    char **trailing; /* comments after the last token */
    int n_trailing;
} dsl_tokens_t;

/* Lex the whole text (never fails; bad input becomes DSL_T_ERROR tokens,
 * also reported in d). */
void dsl_lex(arena_t *a, const char *text, size_t len, dsl_tokens_t *out, dsl_diags_t *d);
const char *dsl_tok_kind_name(dsl_tok_kind_t k);
/* The reserved upper-case keywords (NULL-terminated) and a lookup. */
extern const char *const dsl_keywords[];
bool dsl_is_keyword(const char *s);
/* True when s can be printed bare: matches the identifier rule and is not a
 * keyword, true, false or null. */
bool dsl_is_ident(const char *s);

/* ---- values ---- */
typedef enum {
    DSL_V_STR = 0,
    DSL_V_NUM,
    DSL_V_BOOL,
    DSL_V_IDENT,
    DSL_V_NULL,
    DSL_V_LIST,
    DSL_V_BLOCK
} dsl_vkind_t;
typedef struct dsl_value dsl_value_t;
typedef struct dsl_field {
    char *key;
    bool key_quoted;
    dsl_value_t *val;
    int line, col;
} dsl_field_t;
struct dsl_value {
    dsl_vkind_t kind;
    char *s;             /* STR (decoded), NUM (as written), IDENT */
    bool b;              /* BOOL */
    dsl_value_t **items; /* LIST */
    size_t n;
    dsl_field_t *fields; /* BLOCK */
    size_t nf;
    int line, col;
};

/* ---- expressions ---- */
typedef enum { DSL_E_REF = 0, DSL_E_AND, DSL_E_OR, DSL_E_NOT } dsl_ekind_t;
typedef struct dsl_expr dsl_expr_t;
struct dsl_expr {
    dsl_ekind_t kind;
    char *family, *name; /* REF */
    dsl_field_t *fields; /* REF: label, predicate, on_error */
    size_t nf;
    dsl_expr_t **kids; /* AND/OR: >= 2, NOT: 1 */
    size_t n;
    int line, col;
};

/* ---- declarations ---- */
typedef struct dsl_opt {
    char *key;
    dsl_value_t *val;
    int line, col;
} dsl_opt_t;

typedef struct dsl_model_ref {
    char *name;
    bool quoted;
    dsl_opt_t *opts; /* reasoning effort weight lora */
    size_t n_opts;
    int line, col;
} dsl_model_ref_t;

typedef enum {
    DSL_I_PRIORITY = 0,
    DSL_I_TIER,
    DSL_I_DESCRIPTION,
    DSL_I_WHEN,
    DSL_I_MODEL,
    DSL_I_ALGORITHM,
    DSL_I_PLUGIN,
    DSL_I_EMIT,
    DSL_I_SESSION,
    DSL_I_NAME, /* decision tree branches only */
} dsl_ikind_t;

typedef struct dsl_item {
    dsl_ikind_t kind;
    char **comments;
    int n_comments;
    char *num;             /* PRIORITY / TIER as written */
    char *str;             /* DESCRIPTION text; ALGORITHM type; PLUGIN name; EMIT kind; NAME */
    dsl_expr_t *expr;      /* WHEN */
    dsl_model_ref_t *refs; /* MODEL */
    size_t n_refs;
    dsl_value_t *block; /* ALGORITHM / PLUGIN (may be NULL), EMIT, SESSION */
    int line, col;
} dsl_item_t;

typedef struct dsl_branch {
    dsl_expr_t *cond; /* NULL for ELSE */
    dsl_item_t *items;
    size_t n_items;
    int line, col;
} dsl_branch_t;

typedef struct dsl_case {
    char **comments;
    int n_comments;
    char *query;
    char *route;
    dsl_value_t *with, *expect; /* blocks or NULL */
    int line, col;
} dsl_case_t;

typedef enum {
    DSL_D_ROUTING = 0,
    DSL_D_SIGNAL,
    DSL_D_PROJECTION,
    DSL_D_MODEL,
    DSL_D_PLUGIN,
    DSL_D_ROUTE,
    DSL_D_TREE,
    DSL_D_TEST,
    DSL_D_RECIPE,
    DSL_D_ENTRYPOINT,
} dsl_dkind_t;

typedef struct dsl_decl dsl_decl_t;
struct dsl_decl {
    dsl_dkind_t kind;
    char **comments; /* comment lines above the declaration */
    int n_comments;
    char *kw; /* SIGNAL family, PROJECTION kind, PLUGIN type; SIGNAL_GROUP keeps "partition" */
    bool group_syntax; /* written SIGNAL_GROUP */
    char *name;
    dsl_value_t *block; /* ROUTING, SIGNAL, PROJECTION, MODEL, PLUGIN, ENTRYPOINT */
    dsl_opt_t *opts;    /* ROUTE (opts) */
    size_t n_opts;
    dsl_item_t *items; /* ROUTE */
    size_t n_items;
    dsl_branch_t *branches; /* TREE */
    size_t n_branches;
    dsl_case_t *cases; /* TEST */
    size_t n_cases;
    dsl_decl_t **decls; /* RECIPE body (DESCRIPTION goes to desc) */
    size_t n_decls;
    char *desc; /* RECIPE DESCRIPTION */
    int line, col;
    int end_line; /* line of the closing brace (fmt keeps blank lines between decls) */
};

typedef struct dsl_program {
    dsl_decl_t **decls;
    size_t n;
    char **trailing; /* comments after the last declaration */
    int n_trailing;
} dsl_program_t;

/* ---- stages ---- */

/* Parse text. Returns the program (possibly partial) and adds every syntax
 * error to d; the program is usable only when d->n_errors == 0. */
dsl_program_t *dsl_parse(arena_t *a, const char *text, size_t len, dsl_diags_t *d);

/* The canonical text of a program (comments, TESTs and trees kept). */
void dsl_fmt(buf_t *out, const dsl_program_t *p);
void dsl_fmt_value(buf_t *out, const dsl_value_t *v, int indent);
void dsl_fmt_expr(buf_t *out, const dsl_expr_t *e);
void dsl_fmt_string(buf_t *out, const char *s);

/* Convenience: value constructors in an arena. */
dsl_value_t *dsl_value_new(arena_t *a, dsl_vkind_t k, const char *s);
const dsl_value_t *dsl_block_get(const dsl_value_t *block, const char *key);
#endif
