/* validate_internal.h - private to dsl_validate (validate*.c): the checker's
 * state, the scope of names it resolves against, and the entry points of the
 * conflict analysis (validate_conflicts.c). Not for other modules. */
#ifndef TETHER_DSL_VALIDATE_INTERNAL_H
#define TETHER_DSL_VALIDATE_INTERNAL_H
#include "dsl/compile.h"
#include <stdbool.h>
#include <stdint.h>

#define MAXC 64 /* DNF clauses per route analysed */
#define MAXL 32 /* literals per clause */

typedef struct vx {
    arena_t a;
    dsl_diags_t *d;
    const dsl_program_t *p;
    const cfg_t *base;
    char efforts[12][32];
    size_t n_efforts;
} vx_t;

typedef struct rt {
    const char *name;
    int line, col;
    int64_t tier, prio; /* tier 0 = none */
    const dsl_expr_t *when;
    bool has_model;
    int nc; /* clauses; -1 when too many to analyse */
    struct lit *cl[MAXC];
    int cn[MAXC];
} rt_t;

typedef struct lit {
    const char *key; /* family:name[:label[:pred]] */
    const dsl_expr_t *ref;
    bool neg;
} lit_t;

typedef struct sc {
    dsl_decl_t *const *decls;
    size_t n;
    dsl_decl_t *const *outer;
    size_t n_outer;
    const char *strategy;
    rt_t *routes;
    size_t n_routes;
} sc_t;

/* validate.c: name lookups in scope s */
const dsl_decl_t *vx_find_signal(const sc_t *s, const char *fam, const char *name);
/* mapping output name -> mapping decl */
const dsl_decl_t *vx_mapping_of_output(const sc_t *s, const char *out);

/* validate_conflicts.c */
/* Impossible ANDs: an AND node whose direct positive children are two
 * members of one partition. */
void vx_check_and(vx_t *v, const sc_t *s, const dsl_expr_t *e);
/* Overlap, shadowing and rank problems between the routes of scope s. */
void vx_conflicts(vx_t *v, sc_t *s);
#endif
