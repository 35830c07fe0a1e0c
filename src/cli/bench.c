/* bench.c - `tether bench` (placeholder until its module lands). */
#include "cli/cli.h"
#include <stdio.h>

int cli_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tether bench: not implemented yet\n");
    return 2;
}
