/* config_import.c - `tether config import --from openclaw|openai|crd ...`:
 * read the inventory (file or URL) or the Kubernetes custom resources
 * (IntelligentPool/IntelligentRoute files), merge it into the target config, validate,
 * then print (--dry-run) or write atomically with a .bak of the old target.
 * The source is only ever read. */
#include "cli/cli.h"
#include "config/migrate.h"
#include "config/schema.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_config_import(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: tether config import --from openclaw --source FILE|URL [--target FILE]\n"
        "                            [--force] [--dry-run]\n"
        "       tether config import --from openai --source URL [--api-key-env VAR]\n"
        "                            [--provider NAME] [--target FILE] [--force] [--dry-run]\n"
        "       tether config import --from crd FILE... [--target FILE] [--force] [--dry-run]\n"
        "  --target FILE       config to merge into (default config.yaml; created if missing)\n"
        "  --force             replace models whose names already exist (default: skip them)\n"
        "  --dry-run           print the merged config instead of writing it\n"
        "  --api-key-env VAR   openai: the listing's credential and the backends' api_key_env\n"
        "  --provider NAME     openai: provider/backend name (default openai)\n"
        "  FILE...             crd: manifests with IntelligentPool/IntelligentRoute objects\n"
        "                      (vllm.ai/v1alpha1; also --source FILE, repeatable; - is stdin)\n");
}

static bool is_url(const char *s)
{
    return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

int cli_config_import(int argc, char **argv)
{
    const char *from = NULL, *source = NULL, *target = "config.yaml", *key_env = NULL,
               *provider = "openai";
    bool force = false, dry = false;
    const char **files = calloc((size_t)argc + 1, sizeof(*files));
    size_t n_files = 0;
    if (!files) abort();
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--from") && i + 1 < argc)
            from = argv[++i];
        else if (!strcmp(argv[i], "--source") && i + 1 < argc)
            source = files[n_files++] = argv[++i];
        else if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = argv[++i];
        else if (!strcmp(argv[i], "--api-key-env") && i + 1 < argc)
            key_env = argv[++i];
        else if (!strcmp(argv[i], "--provider") && i + 1 < argc)
            provider = argv[++i];
        else if (!strcmp(argv[i], "--force"))
            force = true;
        else if (!strcmp(argv[i], "--dry-run"))
            dry = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (argv[i][0] != '-' || !strcmp(argv[i], "-")) {
            files[n_files++] = argv[i];
            if (!source) source = argv[i];
        } else {
            fprintf(stderr, "tether config import: unknown option '%s'\n", argv[i]);
            usage(stderr);
            free(files);
            return 1;
        }
    }
    bool crd = from && !strcmp(from, "crd");
    if (from && strcmp(from, "openclaw") && strcmp(from, "openai") && !crd) {
        static const char *const srcs[] = {"openclaw", "openai", "crd"};
        const char *sug = cfg_suggest(from, srcs, 3);
        fprintf(stderr,
                "tether config import: unknown source '%s'%s%s%s; --from takes openclaw, openai "
                "or crd\n",
                from, sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        free(files);
        return 1;
    }
    if (!from || !source || (strcmp(from, "openclaw") && strcmp(from, "openai") && !crd) ||
        (!crd && n_files > 1)) {
        usage(stderr);
        free(files);
        return 1;
    }
    int rc = 1;
    cfg_import_t im;
    cfg_import_init(&im);
    buf_t src = BUF_INIT, err = BUF_INIT, tgt = BUF_INIT;
    bool ok = true;
    if (crd) {
        for (size_t f = 0; f < n_files && ok; f++) {
            buf_free(&src);
            if (!cfg_read_file(!strcmp(files[f], "-") ? "/dev/stdin" : files[f], &src)) {
                fprintf(stderr, "tether config import: cannot read %s: %s\n", files[f],
                        strerror(errno));
                goto out;
            }
            ok = cfg_import_read_crd(&im, !strcmp(files[f], "-") ? "<stdin>" : files[f],
                                     src.data ? src.data : "", src.len);
        }
    } else if (!strcmp(from, "openai")) {
        if (!is_url(source)) {
            fprintf(stderr,
                    "tether config import: --from openai needs an http(s) URL as --source\n");
            goto out;
        }
        const char *tok = key_env ? getenv(key_env) : NULL;
        if (key_env && !tok)
            fprintf(stderr,
                    "tether config import: warning: %s is not set; listing without a credential\n",
                    key_env);
        size_t sl = strlen(source);
        while (sl > 1 && source[sl - 1] == '/')
            sl--;
        char *url = malloc(sl + 8);
        if (!url) abort();
        memcpy(url, source, sl);
        strcpy(url + sl, "/models");
        int st = cfg_http_get(url, tok, &src, &err);
        if (st != 200) {
            fprintf(stderr, "tether config import: GET %s: %s\n", url,
                    st < 0 ? (err.data ? err.data : "failed") : "unexpected status");
            if (st > 0) fprintf(stderr, "  HTTP status %d\n", st);
            free(url);
            goto out;
        }
        free(url);
        ok = cfg_import_read_openai(&im, provider, source, key_env, src.data ? src.data : "",
                                    src.len);
    } else {
        if (is_url(source)) {
            int st = cfg_http_get(source, NULL, &src, &err);
            if (st != 200) {
                fprintf(stderr, "tether config import: GET %s: %s (status %d)\n", source,
                        err.data ? err.data : "failed", st);
                goto out;
            }
        } else if (!cfg_read_file(source, &src)) {
            fprintf(stderr, "tether config import: cannot read %s: %s\n", source, strerror(errno));
            goto out;
        }
        ok = cfg_import_read_openclaw(&im, source, src.data, src.len);
    }
    if (!ok) {
        cfg_diags_print(stderr, &im.notes);
        goto out;
    }
    struct stat st;
    bool exists = stat(target, &st) == 0;
    if (exists && !cfg_read_file(target, &tgt)) {
        fprintf(stderr, "tether config import: cannot read %s: %s\n", target, strerror(errno));
        goto out;
    }
    if (crd)
        cfg_import_merge_crd(&im, target, exists ? tgt.data : NULL, tgt.len, force);
    else
        cfg_import_merge(&im, target, exists ? tgt.data : NULL, tgt.len, force);
    cfg_diags_print(stderr, &im.notes);
    if (!im.valid) {
        cfg_diags_print(stderr, &im.diags);
        fprintf(stderr, "tether config import: the merged config is invalid; nothing written\n");
        goto out;
    }
    if (dry) {
        fputs(im.out.data, stdout);
    } else {
        if (cfg_write_atomic(target, im.out.data, im.out.len, exists) != 0) {
            fprintf(stderr, "tether config import: cannot write %s: %s\n", target, strerror(errno));
            goto out;
        }
        if (crd)
            printf("%s: imported %zu custom resource%s (%zu model%s) from %zu file%s\n", target,
                   im.n_crd_docs, im.n_crd_docs == 1 ? "" : "s", im.n_added,
                   im.n_added == 1 ? "" : "s", n_files, n_files == 1 ? "" : "s");
        else
            printf("%s: imported %zu model%s from %s\n", target, im.n_added,
                   im.n_added == 1 ? "" : "s", source);
        if (exists) printf("  previous version saved as %s.bak\n", target);
    }
    for (size_t i = 0; i < im.n_env_to_set; i++)
        fprintf(stderr, "set the API key before serving: export %s=...\n", im.env_to_set[i]);
    rc = 0;
out:
    free(files);
    buf_free(&src);
    buf_free(&err);
    buf_free(&tgt);
    cfg_import_deinit(&im);
    return rc;
}
