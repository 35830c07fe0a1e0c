/* config.c - `tether config` (placeholder until its module lands). */
#include "cli/cli.h"
#include <stdio.h>

int cli_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tether config: not implemented yet\n");
    return 2;
}
