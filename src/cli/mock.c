/* mock.c - `tether mock` (placeholder until its module lands). */
#include "cli/cli.h"
#include <stdio.h>

int cli_mock(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tether mock: not implemented yet\n");
    return 2;
}
