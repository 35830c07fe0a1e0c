/* serve.c - `tether serve` (placeholder until its module lands). */
#include "cli/cli.h"
#include <stdio.h>

int cli_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tether serve: not implemented yet\n");
    return 2;
}
