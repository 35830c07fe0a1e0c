/* family.h - what a signal family implements, and the per-evaluation
 * context it reads (SPEC §5.1). Internal to src/signals/: the rest of tether
 * uses signal.h only.
 *
 * A family is one file (signals/<family>.c) defining its descriptor (a
 * cfg_sig_family_t, config/family.h: name, YAML key, field table, docs) that
 * points at its sig_family_ops_t, and one line in signals/registry.h. Its
 * id (cfg_signal_family_t) is its position there. The engine calls:
 *   compile  once per engine, with every rule of the family across every
 *            recipe of the config (so a family can build one automaton for
 *            all of them); rule ids are positions in that list;
 *   scratch_new/free  optional per-thread mutable state (vectorscan scratch,
 *            stemmers, PCRE2 match data), pooled by the engine;
 *   eval     per request, for the recipe's rules of the family (only when
 *            the recipe references the family);
 *   free     at sig_engine_free.
 * Family state is immutable after compile; eval may only write its scratch,
 * the context caches and the arena. */
#ifndef TETHER_SIGNALS_FAMILY_H
#define TETHER_SIGNALS_FAMILY_H
#include "config/family.h"
#include "signals/signal.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sig_text {
    const char *s;
    size_t n;
} sig_text_t;

/* Word tokens of a text (spans into it): maximal letter/digit runs, with
 * each CJK, kana or Hangul character a token of its own. */
typedef struct sig_tokens {
    uint32_t *off, *len;
    size_t n;
} sig_tokens_t;

/* The per-evaluation context. Texts are computed on first use and cached,
 * so families never re-read the request. One request, one thread. */
typedef struct sig_ctx {
    const sig_engine_t *e;
    const cfg_recipe_t *recipe;
    rq_t *rq;
    const sig_env_t *env;
    arena_t *a;
    void *scratch[CFG_SIG_MAX]; /* per family id: its per-thread scratch (or NULL) */
    sig_results_t *out;
    /* caches */
    bool has_query, has_folded, has_tokens;
    sig_text_t query, folded;
    sig_tokens_t tokens; /* of folded */
} sig_ctx_t;

/* The query (§5.1): latest user text, or the earlier user text when the
 * request ends in tool results. */
sig_text_t sig_ctx_query(sig_ctx_t *cx);
/* The query lower-cased with simple case mapping (utf8proc). */
sig_text_t sig_ctx_folded(sig_ctx_t *cx);
/* Tokens of the folded query. */
const sig_tokens_t *sig_ctx_tokens(sig_ctx_t *cx);
/* History (§5.1): the user messages before the query, by index; returns
 * the number and fills idx (arena) in conversation order. */
size_t sig_ctx_history(sig_ctx_t *cx, const size_t **idx);
/* Text of message i (cached by the request facts). */
sig_text_t sig_ctx_msg(sig_ctx_t *cx, size_t i);

/* Compile-time view handed to sig_family_ops_t.compile. */
typedef struct sig_build {
    sig_engine_t *e;
    const cfg_t *cfg;
    cfg_signal_family_t family;
    const cfg_signal_t *const *rules; /* every rule of the family, all recipes */
    size_t n_rules;
} sig_build_t;

/* One rule to evaluate: its id (index into sig_build_t.rules) and result
 * (prefilled: rule, matched false, score 0). */
typedef struct sig_ref {
    const cfg_signal_t *rule;
    uint32_t id;
    sig_result_t *res;
} sig_ref_t;

typedef struct sig_family_ops {
    /* Returns 0, or -1 after adding errors to diags. *state may stay NULL. */
    int (*compile)(const sig_build_t *b, void **state, cfg_diags_t *diags);
    void (*free)(void *state);
    void *(*scratch_new)(const void *state); /* optional */
    void (*scratch_free)(void *scratch);     /* optional */
    /* Evaluate refs[0..n) (all rules of this family in the recipe; n may be
     * 0 for families with built-in leaves such as language). */
    void (*eval)(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n);
} sig_family_ops_t;

/* ---- engine-level services for families ---- */

/* The embedder shared by the similarity families (owned by the engine when
 * set with a free function). The embedding work creates it in its compile. */
void *sig_engine_embedder(const sig_engine_t *e);
void sig_engine_set_embedder(sig_engine_t *e, void *embedder, void (*free_fn)(void *));

/* Jailbreak hybrid hooks (SPEC §5.4 jailbreak: c and x). Unset hooks count
 * as 0 in hybrid mode; methods contrastive/classifier then report an error.
 * Return a score in [0, 1], or a negative number on failure (err set). */
typedef double (*sig_jb_hook_fn)(const sig_engine_t *e, sig_ctx_t *cx, const cfg_signal_t *rule,
                                 const char **err);
typedef struct sig_jb_hooks {
    sig_jb_hook_fn contrastive; /* c: jailbreak vs benign exemplars through the embedder */
    sig_jb_hook_fn classifier;  /* x: model_catalog classifier's positive score */
} sig_jb_hooks_t;
sig_jb_hooks_t *sig_engine_jb_hooks(sig_engine_t *e);
const sig_jb_hooks_t *sig_engine_jb_hooks_const(const sig_engine_t *e);

/* ---- helpers shared by families (text.c) ---- */

/* Lower-case s into the arena (simple case mapping; invalid bytes copied). */
sig_text_t sig_fold(arena_t *a, const char *s, size_t n);
/* Lower-case into a malloc'd NUL-terminated string (compile time). */
char *sig_fold_dup(const char *s, size_t n, size_t *out_len);
/* Tokenise t (see sig_tokens_t) into the arena. */
void sig_tokenize(arena_t *a, sig_text_t t, sig_tokens_t *out);
/* Decode one code point at s[i] (i < n); returns its byte length (>= 1);
 * invalid bytes give cp = -1 and length 1. */
size_t sig_utf8_next(const char *s, size_t n, size_t i, int32_t *cp);
/* The code point ending just before byte i (i > 0); returns its start. */
size_t sig_utf8_prev(const char *s, size_t i, int32_t *cp);
bool sig_is_word_cp(int32_t cp);
bool sig_is_cjk_cp(int32_t cp);
/* True when [start, end) of s sits on word boundaries: each side is the
 * text edge, a non-word character or a CJK character. */
bool sig_at_word_boundary(const char *s, size_t n, size_t start, size_t end);
/* Does the UTF-8 string contain a CJK/kana/Hangul character? */
bool sig_has_cjk(const char *s, size_t n);
/* Units for density (structure): CJK characters + alphanumeric runs. */
size_t sig_text_units(const char *s, size_t n);

/* Predicates {gt|gte|lt|lte|eq: number} (conversation, structure, leaves). */
typedef struct sig_pred {
    bool has_gt, has_gte, has_lt, has_lte, has_eq;
    double gt, gte, lt, lte, eq;
} sig_pred_t;
/* Parse node (may be NULL: an empty predicate). Returns 0, or -1 with
 * *why set to a static message. */
int sig_pred_parse(const cfg_node_t *node, sig_pred_t *p, const char **why);
bool sig_pred_empty(const sig_pred_t *p);
bool sig_pred_eval(const sig_pred_t *p, double v);
/* A predicate rule's result for value v: it matches (score 1) when p holds,
 * or, for an empty p, when v > 0. */
void sig_pred_result(const sig_pred_t *p, double v, sig_result_t *res);

/* A family's compiled rules: one record of size bytes per rule of the
 * build, indexed like sig_build_t.rules and sig_ref_t.id. */
typedef int (*sig_rule_compile_fn)(const sig_build_t *b, size_t i, void *rec, cfg_diags_t *diags);
typedef struct sig_rule_table {
    void *v;
    size_t n, size;
    void (*free_rule)(void *rec); /* NULL: records own nothing */
} sig_rule_table_t;
/* The per-rule walk of a family's compile: a zeroed record per rule of b,
 * each filled by compile_rule (0, or -1 after adding its diag at the rule).
 * Returns 0, or -1 when some rule failed. */
int sig_rule_table_init(sig_rule_table_t *t, const sig_build_t *b, size_t size,
                        sig_rule_compile_fn compile_rule, void (*free_rule)(void *rec),
                        cfg_diags_t *diags);
void sig_rule_table_deinit(sig_rule_table_t *t);
static inline void *sig_rule_at(const sig_rule_table_t *t, size_t i)
{
    return (char *)t->v + i * t->size;
}
/* For a family whose state is its rule table alone: its compile and its
 * .free. */
int sig_rule_table_compile(const sig_build_t *b, void **state, cfg_diags_t *diags, size_t size,
                           sig_rule_compile_fn compile_rule, void (*free_rule)(void *rec));
void sig_rule_table_free(void *state);

/* Add a compile error at the rule's position. */
void sig_rule_error(cfg_diags_t *d, const cfg_t *cfg, const cfg_signal_t *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#endif
