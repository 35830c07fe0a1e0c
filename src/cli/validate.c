/* validate.c - `tether validate --config FILE [--strict] [--format text|json]`
 * (also `tether config validate`): load, print every diagnostic, then a one
 * line summary. Exit 0 when valid, 1 on errors or usage mistakes. */
#include "cli/cli.h"
#include "config/config.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether validate --config FILE [--strict] [--format text|json]\n"
               "  --strict        treat warnings as errors\n"
               "  --format json   print diagnostics and the summary as JSON\n");
}

int cli_validate(int argc, char **argv)
{
    const char *path = NULL, *format = "text";
    cfg_load_opts_t opts = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
        else if (!strcmp(argv[i], "--strict"))
            opts.strict = true;
        else if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!strncmp(argv[i], "--format=", 9))
            format = argv[i] + 9;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "tether validate: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!path || (strcmp(format, "text") && strcmp(format, "json"))) {
        usage(stderr);
        return 1;
    }
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_file(path, &opts, &d);
    buf_t out = BUF_INIT;
    if (!strcmp(format, "json")) {
        cfg_diags_json(&out, &d);
        /* splice the summary in as a member */
        if (c && out.len > 2) {
            out.len -= 2; /* drop "}\n" */
            buf_puts(&out, ",\"valid\":true,\"summary\":");
            buf_t s = BUF_INIT;
            cfg_summary(c, &s);
            buf_json_str(&out, s.data, s.len);
            buf_free(&s);
            buf_puts(&out, "}\n");
        } else if (out.len > 2) {
            out.len -= 2;
            buf_puts(&out, ",\"valid\":false}\n");
        }
        fputs(out.data, stdout);
    } else {
        cfg_diags_print(c ? stdout : stderr, &d);
        if (c) {
            cfg_summary(c, &out);
            printf("%s: valid: %s%s\n", path, out.data, d.n_warnings ? " (with warnings)" : "");
        } else {
            fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path, d.n_errors,
                    d.n_errors == 1 ? "" : "s", d.n_warnings, d.n_warnings == 1 ? "" : "s");
        }
    }
    buf_free(&out);
    int rc = c ? 0 : 1;
    cfg_free(c);
    cfg_diags_free(&d);
    return rc;
}
