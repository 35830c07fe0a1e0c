/* validate.c - `tether validate` (placeholder until its module lands). */
#include "cli/cli.h"
#include <stdio.h>

int cli_validate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tether validate: not implemented yet\n");
    return 2;
}
