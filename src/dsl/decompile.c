/* decompile.c - placeholder */
#include "dsl/compile.h"
dsl_program_t *dsl_decompile(arena_t *a, const char *name, const char *yaml, size_t len, dsl_diags_t *d)
{ (void)a; (void)name; (void)yaml; (void)len; (void)d; return NULL; }
