/* dsl.c - `tether dsl compile|decompile|validate|test|fmt|generate`: thin
 * shells over src/dsl/ (parse, validate, compile through the real loader,
 * decompile, the TEST runner and the generator). Exit 0 ok, 1 on
 * diagnostics / failed tests / usage, 2 on I/O failures. */
#include "cli/cli.h"
#include "config/config.h"
#include "core/log.h"
#include "dsl/ast.h"
#include "dsl/compile.h"
#include "dsl/generate.h"
#include "dsl/test.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    buf_t b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    if (f != stdin) fclose(f);
    *len = b.len;
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

static int write_out(const char *path, const buf_t *b)
{
    if (!path || !strcmp(path, "-")) {
        if (b->len) fwrite(b->data, 1, b->len, stdout);
        return 0;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "tether dsl: cannot write %s\n", path);
        return 2;
    }
    if (b->len) fwrite(b->data, 1, b->len, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "tether dsl: cannot write %s\n", path);
        remove(tmp);
        return 2;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tether dsl <command>\n"
               "  compile IN.dsl [-o OUT.yaml] [--base BASE.yaml] [--keep-tests]\n"
               "  decompile IN.yaml [-o OUT.dsl]\n"
               "  validate IN.dsl [--base BASE.yaml] [--strict]\n"
               "  test IN.dsl [--config BASE.yaml] [--embedder builtin]\n"
               "  fmt IN.dsl [-w]\n"
               "  generate \"instruction\" --api-url URL --model NAME [--api-key-env VAR]\n"
               "           [--max-attempts 3] [--temperature 0.1] [--timeout 60s] [-o OUT]\n"
               "           [--allow-invalid]\n");
}

typedef struct args {
    const char *in, *out, *base, *api_url, *model, *key_env, *timeout;
    bool keep_tests, strict, write, allow_invalid;
    int max_attempts;
    double temperature;
} args_t;

static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"base", required_argument, 0, 'b'},
                                         {"config", required_argument, 0, 'b'},
                                         {"keep-tests", no_argument, 0, 'k'},
                                         {"strict", no_argument, 0, 's'},
                                         {"write", no_argument, 0, 'w'},
                                         {"api-url", required_argument, 0, 'u'},
                                         {"endpoint", required_argument, 0, 'u'},
                                         {"model", required_argument, 0, 'm'},
                                         {"api-key-env", required_argument, 0, 'e'},
                                         {"max-attempts", required_argument, 0, 'n'},
                                         {"temperature", required_argument, 0, 't'},
                                         {"timeout", required_argument, 0, 'T'},
                                         {"allow-invalid", no_argument, 0, 'A'},
                                         {"embedder", required_argument, 0, 'E'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->max_attempts = 3;
    a->temperature = 0.1;
    a->timeout = "60s";
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "o:b:kswh", opts, NULL)) != -1) {
        switch (o) {
        case 'o': a->out = optarg; break;
        case 'b': a->base = optarg; break;
        case 'k': a->keep_tests = true; break;
        case 's': a->strict = true; break;
        case 'w': a->write = true; break;
        case 'u': a->api_url = optarg; break;
        case 'm': a->model = optarg; break;
        case 'e': a->key_env = optarg; break;
        case 'n': a->max_attempts = atoi(optarg); break;
        case 't': a->temperature = atof(optarg); break;
        case 'T': a->timeout = optarg; break;
        case 'A': a->allow_invalid = true; break;
        case 'E':
            if (strcmp(optarg, "builtin")) {
                fprintf(stderr, "tether dsl: only --embedder builtin is supported offline\n");
                return -1;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind < argc) a->in = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "tether dsl: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Parse a file; prints diagnostics. NULL when it cannot be read. */
static dsl_program_t *load_program(arena_t *a, const char *path, char **text, dsl_diags_t *d)
{
    size_t len = 0;
    *text = slurp(path, &len);
    if (!*text) {
        fprintf(stderr, "tether dsl: cannot read %s\n", path);
        return NULL;
    }
    return dsl_parse(a, *text, len, d);
}

static cfg_t *load_base(const char *path, char **text, size_t *len)
{
    *text = slurp(path, len);
    if (!*text) {
        fprintf(stderr, "tether dsl: cannot read %s\n", path);
        return NULL;
    }
    cfg_diags_t cd;
    cfg_diags_init(&cd);
    cfg_load_opts_t lo = {0};
    cfg_t *c = cfg_load_string(path, *text, *len, &lo, &cd);
    if (!c) cfg_diags_print(stderr, &cd);
    cfg_diags_free(&cd);
    return c;
}

static int cmd_compile(args_t *g)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, g->in);
    char *text = NULL, *btext = NULL;
    size_t blen = 0;
    int rc = 1;
    cfg_t *base = NULL;
    dsl_program_t *p = load_program(&a, g->in, &text, &d);
    if (!p) {
        rc = 2;
        goto out;
    }
    if (g->base && !(base = load_base(g->base, &btext, &blen))) goto out;
    if (!d.n_errors) dsl_validate(p, base, &d);
    if (d.n_errors) goto out;
    buf_t y = BUF_INIT;
    dsl_compile_in_t ci = {.prog = p, .base_name = g->base, .base_text = btext, .base_len = blen};
    if (dsl_compile(&ci, &y, NULL, &d) == 0) {
        rc = write_out(g->out, &y);
        if (!rc && g->keep_tests) {
            buf_t t = BUF_INIT;
            dsl_fmt_tests(&t, p);
            if (t.len) {
                if (!g->out || !strcmp(g->out, "-")) {
                    fprintf(stderr,
                            "tether dsl: --keep-tests needs -o OUT (TESTs go to OUT.tests.dsl)\n");
                    rc = 1;
                } else {
                    char side[4096];
                    snprintf(side, sizeof side, "%s.tests.dsl", g->out);
                    rc = write_out(side, &t);
                }
            }
            buf_free(&t);
        }
    }
    buf_free(&y);
out:
    dsl_diags_sort(&d);
    dsl_diags_print(stderr, &d);
    if (d.n_errors && rc == 0) rc = 1;
    dsl_diags_free(&d);
    free(text);
    free(btext);
    cfg_free(base);
    arena_deinit(&a);
    return rc;
}

static int cmd_validate(args_t *g)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, g->in);
    char *text = NULL, *btext = NULL;
    size_t blen = 0;
    int rc = 1;
    cfg_t *base = NULL;
    dsl_program_t *p = load_program(&a, g->in, &text, &d);
    if (!p) {
        rc = 2;
        goto out;
    }
    if (g->base && !(base = load_base(g->base, &btext, &blen))) goto out;
    if (!d.n_errors) dsl_validate(p, base, &d);
    if (!d.n_errors) {
        /* the loader has the last word on field shapes */
        buf_t y = BUF_INIT;
        dsl_compile_in_t ci = {
            .prog = p, .base_name = g->base, .base_text = btext, .base_len = blen};
        dsl_compile(&ci, &y, NULL, &d);
        buf_free(&y);
    }
    rc = d.n_errors || (g->strict && d.n_warnings) ? 1 : 0;
    if (!rc) fprintf(stderr, "%s: ok (%zu warnings)\n", g->in, d.n_warnings);
out:
    dsl_diags_sort(&d);
    dsl_diags_print(stderr, &d);
    dsl_diags_free(&d);
    free(text);
    free(btext);
    cfg_free(base);
    arena_deinit(&a);
    return rc;
}

static int cmd_fmt(args_t *g)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, g->in);
    char *text = NULL;
    int rc = 1;
    dsl_program_t *p = load_program(&a, g->in, &text, &d);
    if (!p) {
        rc = 2;
    } else if (!d.n_errors) {
        buf_t b = BUF_INIT;
        dsl_fmt(&b, p);
        rc = write_out(g->write ? g->in : NULL, &b);
        buf_free(&b);
    }
    dsl_diags_print(stderr, &d);
    dsl_diags_free(&d);
    free(text);
    arena_deinit(&a);
    return rc;
}

static int cmd_decompile(args_t *g)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, g->in);
    size_t len = 0;
    char *text = slurp(g->in, &len);
    int rc = 1;
    if (!text) {
        fprintf(stderr, "tether dsl: cannot read %s\n", g->in);
        rc = 2;
        goto out;
    }
    dsl_program_t *p = dsl_decompile(&a, g->in, text, len, &d);
    if (p && !d.n_errors) {
        buf_t b = BUF_INIT;
        dsl_fmt(&b, p);
        /* TESTs kept by `compile --keep-tests` live beside the YAML */
        char side[4096];
        snprintf(side, sizeof side, "%s.tests.dsl", g->in);
        size_t sl = 0;
        char *st = slurp(side, &sl);
        if (st) {
            if (b.len) buf_putc(&b, '\n');
            buf_append(&b, st, sl);
            free(st);
        }
        rc = write_out(g->out, &b);
        buf_free(&b);
    }
out:
    dsl_diags_print(stderr, &d);
    dsl_diags_free(&d);
    free(text);
    arena_deinit(&a);
    return rc;
}

static int cmd_test(args_t *g)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, g->in);
    char *text = NULL, *btext = NULL;
    size_t blen = 0;
    int rc = 1;
    cfg_t *cfg = NULL, *base = NULL;
    dsl_program_t *p = load_program(&a, g->in, &text, &d);
    if (!p) {
        rc = 2;
        goto out;
    }
    if (g->base && !(base = load_base(g->base, &btext, &blen))) goto out;
    if (!d.n_errors) dsl_validate(p, base, &d);
    if (d.n_errors) goto out;
    buf_t y = BUF_INIT;
    dsl_compile_in_t ci = {.prog = p, .base_name = g->base, .base_text = btext, .base_len = blen};
    int crc = dsl_compile(&ci, &y, &cfg, &d);
    buf_free(&y);
    if (crc != 0) goto out;
    buf_t rep = BUF_INIT;
    dsl_test_summary_t sum;
    if (dsl_test_run(p, cfg, &rep, &sum) != 0) {
        fwrite(rep.data, 1, rep.len, stderr);
        rc = 2;
    } else {
        if (rep.len) fwrite(rep.data, 1, rep.len, stdout);
        rc = sum.failed ? 1 : 0;
    }
    buf_free(&rep);
out:
    dsl_diags_sort(&d);
    dsl_diags_print(stderr, &d);
    dsl_diags_free(&d);
    free(text);
    free(btext);
    cfg_free(cfg);
    cfg_free(base);
    arena_deinit(&a);
    return rc;
}

static int cmd_generate(args_t *g)
{
    if (!g->in || !g->api_url || !g->model) {
        usage(stderr);
        return 1;
    }
    dsl_gen_opts_t o = {.instruction = g->in,
                        .api_url = g->api_url,
                        .model = g->model,
                        .api_key_env = g->key_env,
                        .max_attempts = g->max_attempts > 0 ? g->max_attempts : 1,
                        .temperature = g->temperature,
                        .allow_invalid = g->allow_invalid};
    o.timeout_ms = 60000;
    if (g->timeout) {
        char *end;
        double v = strtod(g->timeout, &end);
        if (v > 0)
            o.timeout_ms = (long)(!strcmp(end, "ms")  ? v
                                  : !strcmp(end, "m") ? v * 60000
                                                      : v * 1000);
    }
    buf_t prog = BUF_INIT, log = BUF_INIT;
    int rc = dsl_generate(&o, &prog, &log);
    if (log.len) fwrite(log.data, 1, log.len, stderr);
    if (rc == 0 || (rc == 1 && prog.len && g->allow_invalid)) {
        int w = write_out(g->out, &prog);
        if (w) rc = w;
    }
    buf_free(&prog);
    buf_free(&log);
    return rc;
}

int cli_dsl(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    args_t g;
    if (parse_args(argc - 1, argv + 1, &g) != 0) {
        usage(stderr);
        return 1;
    }
    tlog_set_level(TLOG_WARN);
    if (!strcmp(cmd, "generate")) return cmd_generate(&g);
    if (!g.in) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(cmd, "compile")) return cmd_compile(&g);
    if (!strcmp(cmd, "validate")) return cmd_validate(&g);
    if (!strcmp(cmd, "fmt")) return cmd_fmt(&g);
    if (!strcmp(cmd, "decompile")) return cmd_decompile(&g);
    if (!strcmp(cmd, "test")) return cmd_test(&g);
    fprintf(stderr, "tether dsl: unknown command %s\n", cmd);
    usage(stderr);
    return 1;
}
