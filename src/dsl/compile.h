/* compile.h - the DSL's config-facing stages: compile (AST -> canonical v0.3
 * YAML, merged into a base file or standalone), decompile (YAML -> AST),
 * validation with conflict detection, the TEST runner and the generator.
 * All results live in the caller's arena / buffers; no global state, so the
 * functions are thread-safe on distinct inputs. */
#ifndef TETHER_DSL_COMPILE_H
#define TETHER_DSL_COMPILE_H
#include "config/config.h"
#include "config/yaml.h"
#include "dsl/ast.h"

/* The routing/recipes/entrypoints nodes of a program (NULL when absent).
 * base_routing, when given, provides modelCards if the program declares no
 * MODEL. Errors (unknown families, bad options) go to d. */
typedef struct dsl_sections {
    cfg_node_t *routing, *recipes, *entrypoints;
} dsl_sections_t;
int dsl_compile_sections(arena_t *a, const dsl_program_t *p, const cfg_node_t *base_routing,
                         dsl_sections_t *out, dsl_diags_t *d);

/* The output file: with base_text, the base with its routing sections
 * replaced (other sections' text and comments untouched); otherwise a
 * document holding the routing sections. The result is loaded with the real
 * loader (standalone output is wrapped, for the check only, in a scaffold
 * config: placeholder providers, cards and classifiers so the real loader can
 * check the routing section); when it does not load, the loader's diagnostics are added
 * to d and -1 returned with out untouched. When cfg_out is non-NULL the
 * loaded config is handed over (caller frees with cfg_free). */
typedef struct dsl_compile_in {
    const dsl_program_t *prog;
    const char *base_name; /* for diagnostics */
    const char *base_text; /* NULL: standalone */
    size_t base_len;
} dsl_compile_in_t;
int dsl_compile(const dsl_compile_in_t *in, buf_t *out, cfg_t **cfg_out, dsl_diags_t *d);

/* Only the TEST declarations of p (program order, recipes' TESTs included),
 * formatted: the `--keep-tests` sidecar. Empty when there are none. */
void dsl_fmt_tests(buf_t *out, const dsl_program_t *p);

/* YAML text (a full config or just a routing document) -> program. Repeated
 * plugin configurations become PLUGIN templates. NULL on a YAML error. */
dsl_program_t *dsl_decompile(arena_t *a, const char *name, const char *yaml, size_t len,
                             dsl_diags_t *d);

/* Semantic checks of SPEC §10.3 (references with did-you-mean, ranges,
 * route without MODEL, EMIT, projection cycles, impossible ANDs, overlap,
 * shadowing, rank problems). base may be NULL; with it, models and
 * model_catalog names are checked against the base config. */
void dsl_validate(const dsl_program_t *p, const cfg_t *base, dsl_diags_t *d);

/* Signal family names accepted in SIGNAL and conditions, for the generator. */
const char *const *dsl_family_names(size_t *n);
#endif
