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
    buf_read_stream(&b, f); /* a read error keeps what was read */
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

/* Read a whole input; says so on stderr when it cannot. */
static char *read_input(const char *path, size_t *len)
{
    char *text = slurp(path, len);
    if (!text) fprintf(stderr, "tether dsl: cannot read %s\n", path);
    return text;
}

/* Parse a file; prints diagnostics. NULL when it cannot be read. */
static dsl_program_t *load_program(arena_t *a, const char *path, char **text, dsl_diags_t *d)
{
    size_t len = 0;
    *text = read_input(path, &len);
    if (!*text) return NULL;
    return dsl_parse(a, *text, len, d);
}

static cfg_t *load_base(const char *path, char **text, size_t *len)
{
    *text = read_input(path, len);
    if (!*text) return NULL;
    cfg_diags_t cd;
    cfg_diags_init(&cd);
    cfg_load_opts_t lo = {0};
    cfg_t *c = cfg_load_string(path, *text, *len, &lo, &cd);
    if (!c) cfg_diags_print(stderr, &cd);
    cfg_diags_free(&cd);
    return c;
}

/* Where `compile --keep-tests` puts the TESTs of yaml_path. */
static void tests_path(char *out, size_t n, const char *yaml_path)
{
    snprintf(out, n, "%s.tests.dsl", yaml_path);
}

/* One command's working state: the input and its diagnostics, the --base
 * config, and (for `test`) the compiled config. */
typedef struct job {
    arena_t a;
    dsl_diags_t d;
    char *text, *btext;
    size_t blen;
    dsl_program_t *p;
    cfg_t *cfg, *base;
} job_t;

static void job_init(job_t *j, const char *in)
{
    memset(j, 0, sizeof *j);
    arena_init(&j->a, 65536);
    dsl_diags_init(&j->d, in);
}

/* Parse IN, load --base and validate against it. Returns 0 when the program
 * is in j->p (diagnostics may hold errors), 2 when IN cannot be read, 1 when
 * the base does not load. */
static int job_load(job_t *j, const args_t *g)
{
    j->p = load_program(&j->a, g->in, &j->text, &j->d);
    if (!j->p) return 2;
    if (g->base && !(j->base = load_base(g->base, &j->btext, &j->blen))) return 1;
    if (!j->d.n_errors) dsl_validate(j->p, j->base, &j->d);
    return 0;
}

/* Compile j->p (onto the base when given) into y through the real loader. */
static int job_compile(job_t *j, const args_t *g, buf_t *y, cfg_t **cfg_out)
{
    dsl_compile_in_t ci = {
        .prog = j->p, .base_name = g->base, .base_text = j->btext, .base_len = j->blen};
    return dsl_compile(&ci, y, cfg_out, &j->d);
}

/* Print the diagnostics (sorted when asked) and release everything. */
static void job_finish(job_t *j, bool sort)
{
    if (sort) dsl_diags_sort(&j->d);
    dsl_diags_print(stderr, &j->d);
    dsl_diags_free(&j->d);
    free(j->text);
    free(j->btext);
    cfg_free(j->cfg);
    cfg_free(j->base);
    arena_deinit(&j->a);
}

/* A command on the loaded program: load, run work (when loading worked),
 * print the sorted diagnostics and release. */
static int run_loaded(args_t *g, int (*work)(job_t *j, args_t *g))
{
    job_t j;
    job_init(&j, g->in);
    int rc = job_load(&j, g);
    if (!rc) rc = work(&j, g);
    job_finish(&j, true);
    return rc;
}

static int compile_job(job_t *j, args_t *g)
{
    if (j->d.n_errors) return 1;
    int rc = 1;
    buf_t y = BUF_INIT;
    if (job_compile(j, g, &y, NULL) == 0) {
        rc = write_out(g->out, &y);
        if (!rc && g->keep_tests) {
            buf_t t = BUF_INIT;
            dsl_fmt_tests(&t, j->p);
            if (t.len) {
                if (!g->out || !strcmp(g->out, "-")) {
                    fprintf(stderr,
                            "tether dsl: --keep-tests needs -o OUT (TESTs go to OUT.tests.dsl)\n");
                    rc = 1;
                } else {
                    char side[4096];
                    tests_path(side, sizeof side, g->out);
                    rc = write_out(side, &t);
                }
            }
            buf_free(&t);
        }
    }
    buf_free(&y);
    if (j->d.n_errors && rc == 0) rc = 1;
    return rc;
}

static int cmd_compile(args_t *g)
{
    return run_loaded(g, compile_job);
}

static int validate_job(job_t *j, args_t *g)
{
    if (!j->d.n_errors) {
        /* the loader has the last word on field shapes */
        buf_t y = BUF_INIT;
        job_compile(j, g, &y, NULL);
        buf_free(&y);
    }
    int rc = j->d.n_errors || (g->strict && j->d.n_warnings) ? 1 : 0;
    if (!rc) fprintf(stderr, "%s: ok (%zu warnings)\n", g->in, j->d.n_warnings);
    return rc;
}

static int cmd_validate(args_t *g)
{
    return run_loaded(g, validate_job);
}

static int cmd_fmt(args_t *g)
{
    job_t j;
    job_init(&j, g->in);
    int rc = 1;
    j.p = load_program(&j.a, g->in, &j.text, &j.d);
    if (!j.p) {
        rc = 2;
    } else if (!j.d.n_errors) {
        buf_t b = BUF_INIT;
        dsl_fmt(&b, j.p);
        rc = write_out(g->write ? g->in : NULL, &b);
        buf_free(&b);
    }
    job_finish(&j, false);
    return rc;
}

static int cmd_decompile(args_t *g)
{
    job_t j;
    job_init(&j, g->in);
    size_t len = 0;
    j.text = read_input(g->in, &len);
    if (!j.text) {
        job_finish(&j, false);
        return 2;
    }
    int rc = 1;
    dsl_program_t *p = dsl_decompile(&j.a, g->in, j.text, len, &j.d);
    if (p && !j.d.n_errors) {
        buf_t b = BUF_INIT;
        dsl_fmt(&b, p);
        /* TESTs kept by `compile --keep-tests` live beside the YAML */
        char side[4096];
        tests_path(side, sizeof side, g->in);
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
    job_finish(&j, false);
    return rc;
}

static int test_job(job_t *j, args_t *g)
{
    if (j->d.n_errors) return 1;
    buf_t y = BUF_INIT;
    int crc = job_compile(j, g, &y, &j->cfg);
    buf_free(&y);
    if (crc != 0) return 1;
    buf_t rep = BUF_INIT;
    dsl_test_summary_t sum;
    int rc;
    if (dsl_test_run(j->p, j->cfg, &rep, &sum) != 0) {
        fwrite(rep.data, 1, rep.len, stderr);
        rc = 2;
    } else {
        if (rep.len) fwrite(rep.data, 1, rep.len, stdout);
        rc = sum.failed ? 1 : 0;
    }
    buf_free(&rep);
    return rc;
}

static int cmd_test(args_t *g)
{
    return run_loaded(g, test_job);
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
    int rc = cli_usage_first(argc, argv, usage, false);
    if (rc >= 0) return rc;
    const char *cmd = argv[1];
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
