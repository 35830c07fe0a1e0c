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
               "  show --config FILE [--format yaml|json]   effective config, secrets redacted\n"
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
    if (!strcmp(sub, "show")) {
        const char *path = NULL, *format = "yaml";
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[++i];
            else if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
            else {
                fprintf(stderr, "tether config show: unknown option '%s'\n", argv[i]);
                return 1;
            }
        }
        if (!path || (strcmp(format, "yaml") && strcmp(format, "json"))) {
            usage(stderr);
            return 1;
        }
        cfg_diags_t d;
        cfg_diags_init(&d);
        cfg_t *c = cfg_load_file(path, NULL, &d);
        if (!c) {
            cfg_diags_print(stderr, &d);
            cfg_diags_free(&d);
            return 1;
        }
        buf_t b = BUF_INIT;
        cfg_show(c, !strcmp(format, "json"), &b);
        fputs(b.data ? b.data : "", stdout);
        buf_free(&b);
        cfg_free(c);
        cfg_diags_free(&d);
        return 0;
    }
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
