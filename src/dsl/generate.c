/* generate.c - placeholder */
#include "dsl/generate.h"
int dsl_generate(const dsl_gen_opts_t *o, buf_t *out, buf_t *log) { (void)o; (void)out; (void)log; return 2; }
