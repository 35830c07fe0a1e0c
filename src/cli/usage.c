/* usage.c - the opening every command with subcommands shares: no
 * subcommand prints the usage on stderr, a help flag on stdout. */
#include "cli/cli.h"
#include <string.h>

int cli_usage_first(int argc, char **argv, void (*usage)(FILE *f), bool help_word)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || (help_word && !strcmp(a, "help"))) {
        usage(stdout);
        return 0;
    }
    return -1;
}
