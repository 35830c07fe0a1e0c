/* config.c - `tether config validate|show|migrate|import|schema`: thin shells
 * over src/config/. */
#include "cli/cli.h"
#include "config/config.h"
#include "config/schema.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether config <command> [options]\n\n"
               "  validate --config FILE [--strict] [--format text|json]\n"
               "  schema                 print the field reference (markdown)\n");
}

int cli_config(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "validate")) return cli_validate(argc - 1, argv + 1);
    if (!strcmp(sub, "schema")) {
        buf_t b = BUF_INIT;
        cfg_schema_markdown(&b);
        fputs(b.data ? b.data : "", stdout);
        buf_free(&b);
        return 0;
    }
    fprintf(stderr, "tether config: unknown command '%s'\n", sub);
    usage(stderr);
    return 1;
}
