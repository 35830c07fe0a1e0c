/* config.c - `tether config validate|show|migrate|import|schema`: thin shells
 * over src/config/. */
#include "cli/cli.h"
#include "config/config.h"
#include "config/migrate.h"
#include "config/schema.h"
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether config <command> [options]\n\n"
               "  validate --config FILE [--strict] [--format text|json]\n"
               "  show --config FILE [--format yaml|json]   effective config, secrets redacted\n"
               "  schema                 print the field reference (markdown)\n"
               "  migrate --config OLD [--output FILE] [--force] [--allow-invalid]\n"
               "                         convert the older flat layout to v0.3\n"
               "  import --from openclaw --source FILE|URL [--target FILE] [--force] [--dry-run]\n"
               "  import --from openai --source URL [--api-key-env VAR] [--provider NAME]\n"
               "         [--target FILE] [--force] [--dry-run]\n"
               "                         merge a provider inventory into a config\n");
}

int cli_config_import(int argc, char **argv); /* config_import.c */

/* <stem>.migrated.yaml next to the old file (stem = name without .yaml/.yml). */
static char *migrated_name(const char *old)
{
    size_t l = strlen(old);
    const char *slash = strrchr(old, '/');
    const char *dot = strrchr(old, '.');
    if (dot && (!slash || dot > slash) && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml")))
        l = (size_t)(dot - old);
    char *s = malloc(l + 16);
    if (!s) return NULL;
    memcpy(s, old, l);
    strcpy(s + l, ".migrated.yaml");
    return s;
}

static int cmd_migrate(int argc, char **argv)
{
    const char *in = NULL, *outp = NULL;
    bool force = false, allow_invalid = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            in = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            outp = argv[++i];
        else if (!strcmp(argv[i], "--force"))
            force = true;
        else if (!strcmp(argv[i], "--allow-invalid"))
            allow_invalid = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tether config migrate: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!in) {
        usage(stderr);
        return 1;
    }
    char *def = outp ? NULL : migrated_name(in);
    const char *target = outp ? outp : def;
    int rc = 1;
    buf_t text = BUF_INIT;
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    struct stat st;
    if (!cfg_read_file(in, &text)) {
        fprintf(stderr, "tether config migrate: cannot read %s: %s\n", in, strerror(errno));
        goto out;
    }
    if (!force && stat(target, &st) == 0) {
        fprintf(stderr, "tether config migrate: %s exists; use --force to replace it\n", target);
        goto out;
    }
    cfg_migrate_run(&m, in, text.data, text.len, target);
    cfg_diags_print(stderr, &m.notes); /* what was dropped or rewritten */
    if (!m.converted) goto out;
    if (!m.valid) {
        cfg_diags_print(stderr, &m.diags);
        if (!allow_invalid) {
            fprintf(stderr,
                    "tether config migrate: the migrated config has %zu error%s; nothing written "
                    "(--allow-invalid writes it anyway)\n",
                    m.diags.n_errors, m.diags.n_errors == 1 ? "" : "s");
            goto out;
        }
    } else if (m.diags.n) {
        cfg_diags_print(stderr, &m.diags);
    }
    if (cfg_write_atomic(target, m.out.data, m.out.len, false) != 0) {
        fprintf(stderr, "tether config migrate: cannot write %s: %s\n", target, strerror(errno));
        goto out;
    }
    printf("%s: migrated to %s (%s, %zu note%s)\n", in, target, m.valid ? "valid" : "INVALID",
           m.notes.n, m.notes.n == 1 ? "" : "s");
    rc = 0; /* invalid output is only written with --allow-invalid */
out:
    cfg_migrate_deinit(&m);
    buf_free(&text);
    free(def);
    return rc;
}

int cli_config(int argc, char **argv)
{
    int rc = cli_usage_first(argc, argv, usage, false);
    if (rc >= 0) return rc;
    const char *sub = argv[1];
    if (!strcmp(sub, "validate")) return cli_validate(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) {
        const char *path = NULL, *format = "yaml";
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--config") && i + 1 < argc)
                path = argv[++i];
            else if (!strcmp(argv[i], "--format") && i + 1 < argc)
                format = argv[++i];
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
    if (!strcmp(sub, "migrate")) return cmd_migrate(argc, argv);
    if (!strcmp(sub, "import")) return cli_config_import(argc, argv);
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
