/* fuzz_dsl.c - libFuzzer harness for the DSL front end: lexer, parser with
 * error recovery, diagnostics formatting, and fmt; every input that parses
 * cleanly must format to text that parses cleanly and formats identically
 * (fmt(fmt(x)) = fmt(x)), otherwise the harness aborts.
 * Build: src/dsl/{lexer,parser,fmt,diag}.c, src/core/{arena,buf}.c
 * (scripts/fuzz.sh). */
#include "dsl/ast.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, "fuzz.dsl");
    dsl_program_t *p = dsl_parse(&a, (const char *)data, size, &d);
    buf_t b = BUF_INIT;
    dsl_diags_sort(&d);
    dsl_diags_format(&b, &d);
    if (d.n_errors == 0) {
        buf_t f1 = BUF_INIT, f2 = BUF_INIT;
        dsl_fmt(&f1, p);
        dsl_diags_t d2;
        dsl_diags_init(&d2, "fmt.dsl");
        dsl_program_t *p2 = dsl_parse(&a, f1.data ? f1.data : "", f1.len, &d2);
        if (d2.n_errors) abort(); /* fmt produced text that does not parse */
        dsl_fmt(&f2, p2);
        if (f1.len != f2.len || (f1.len && memcmp(f1.data, f2.data, f1.len))) abort();
        dsl_diags_free(&d2);
        buf_free(&f1);
        buf_free(&f2);
    }
    buf_free(&b);
    dsl_diags_free(&d);
    arena_deinit(&a);
    return 0;
}
