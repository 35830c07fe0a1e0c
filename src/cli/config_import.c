/* config_import.c - `tether config import` (stub until import lands). */
#include "cli/cli.h"
#include <stdio.h>
int cli_config_import(int argc, char **argv);
int cli_config_import(int argc, char **argv) { fprintf(stderr, "not yet\n"); return 1; }
