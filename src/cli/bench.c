/* bench.c - `tether bench saar|live|overhead`. `saar` is the deterministic
 * session-routing benchmark (src/bench/, BENCH_SAAR.md): option parsing,
 * progress bar, output files. `live` and `overhead` are not built yet. */
#include "bench/saar_report.h"
#include "bench/saar_run.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: tether bench saar [options]\n"
               "       tether bench live|overhead      (not implemented yet)\n\n"
               "bench saar: the deterministic session-routing benchmark (BENCH_SAAR.md)\n"
               "  --scenario NAME|all      scenario(s) to run, comma-separated (default all)\n"
               "  --scenario-file F.json   scenarios from a file instead of the built-in six\n"
               "  --seeds a,b,c            seeds (default 20260530,...,20260534)\n"
               "  --sessions N             sessions per (scenario, seed) (default 40)\n"
               "  --turns T                turns per session (default 18)\n"
               "  --policies a,b           policies to run (default all registered names)\n"
               "  --format table|json|csv  output on stdout (default table)\n"
               "  --out DIR                also write DIR/summary.json, DIR/turns.csv, "
               "DIR/chart.svg\n");
}

/* Split a comma list into a malloc'd array of pointers into a malloc'd copy. */
static char **split_list(const char *s, size_t *n, char **copy)
{
    *copy = strdup(s);
    if (!*copy) abort();
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (!v) abort();
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(*copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (*tok) v[(*n)++] = tok;
    return v;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

typedef struct progress {
    uint64_t start_ms;
    int shown, tty;
} progress_t;

static void progress_cb(void *ud, long done, long total)
{
    progress_t *p = ud;
    if (!p->tty || total <= 0) return;
    if (!p->shown && clock_mono_ms() - p->start_ms < 1000) return;
    p->shown = 1;
    int width = 40, fill = (int)(width * done / total);
    fprintf(stderr, "\r[%.*s%*s] %3ld%% %ld/%ld turns", fill,
            "########################################", width - fill, "", 100 * done / total, done,
            total);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

static int write_file(const char *dir, const char *name, const buf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "tether bench saar: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(b->data ? b->data : "", 1, b->len, f);
    int bad = fclose(f) != 0 || w != b->len;
    if (bad) fprintf(stderr, "tether bench saar: write error on %s\n", path);
    return bad ? -1 : 0;
}

static int bench_saar(int argc, char **argv)
{
    const char *scenario = "all", *scenario_file = NULL, *seeds_s = NULL, *policies_s = NULL;
    const char *format = "table", *outdir = NULL;
    long sessions = SAAR_DEFAULT_SESSIONS, turns = SAAR_DEFAULT_TURNS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--scenario") || !strcmp(a, "--scenario-file") ||
                    !strcmp(a, "--seeds") || !strcmp(a, "--sessions") || !strcmp(a, "--turns") ||
                    !strcmp(a, "--format") || !strcmp(a, "--out") || !strcmp(a, "--policies");
        if (!takes) {
            fprintf(stderr, "tether bench saar: unknown option '%s'\n", a);
            bench_usage(stderr);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "tether bench saar: option '%s' needs a value\n", a);
            return 1;
        }
        i++;
        if (!strcmp(a, "--scenario"))
            scenario = v;
        else if (!strcmp(a, "--scenario-file"))
            scenario_file = v;
        else if (!strcmp(a, "--seeds"))
            seeds_s = v;
        else if (!strcmp(a, "--policies"))
            policies_s = v;
        else if (!strcmp(a, "--format"))
            format = v;
        else if (!strcmp(a, "--out"))
            outdir = v;
        else if (!strcmp(a, "--sessions") && parse_int(v, 1, 100000, &sessions)) {
            fprintf(stderr,
                    "tether bench saar: --sessions wants an integer in 1..100000, got "
                    "'%s'\n",
                    v);
            return 1;
        } else if (!strcmp(a, "--turns") && parse_int(v, 1, 10000, &turns)) {
            fprintf(stderr, "tether bench saar: --turns wants an integer in 1..10000, got '%s'\n",
                    v);
            return 1;
        }
    }
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv")) {
        fprintf(stderr, "tether bench saar: --format must be table, json or csv, got '%s'\n",
                format);
        return 1;
    }

    int rc = 1;
    char err[512];
    saar_scenario_t *pool = NULL, *chosen = NULL;
    size_t npool = 0, nchosen = 0;
    uint32_t *seeds = NULL;
    size_t nseeds = 0;
    char **pol = NULL, *pol_copy = NULL, **scn = NULL, *scn_copy = NULL, **sd = NULL,
         *sd_copy = NULL;
    size_t npol = 0, nscn = 0, nsd = 0;
    FILE *csv = NULL;
    saar_results_t res = {0};
    int have_res = 0;
    buf_t out = BUF_INIT;

    if (scenario_file) {
        if (saar_scenarios_load(scenario_file, &pool, &npool, err, sizeof err)) {
            fprintf(stderr, "tether bench saar: %s\n", err);
            goto done;
        }
    } else {
        npool = SAAR_N_BUILTIN;
        pool = malloc(sizeof saar_builtin_scenarios);
        if (!pool) abort();
        memcpy(pool, saar_builtin_scenarios, sizeof saar_builtin_scenarios);
    }
    if (!strcmp(scenario, "all")) {
        chosen = pool;
        nchosen = npool;
        pool = NULL;
    } else {
        scn = split_list(scenario, &nscn, &scn_copy);
        chosen = calloc(nscn ? nscn : 1, sizeof *chosen);
        if (!chosen) abort();
        for (size_t i = 0; i < nscn; i++) {
            size_t k = 0;
            while (k < npool && strcmp(pool[k].name, scn[i]))
                k++;
            if (k == npool) {
                fprintf(stderr, "tether bench saar: unknown scenario '%s' (known:", scn[i]);
                for (size_t j = 0; j < npool; j++)
                    fprintf(stderr, "%s %s", j ? "," : "", pool[j].name);
                fprintf(stderr, ")\n");
                goto done;
            }
            chosen[nchosen++] = pool[k];
        }
        if (!nchosen) {
            fprintf(stderr, "tether bench saar: --scenario names no scenario\n");
            goto done;
        }
    }
    if (seeds_s) {
        sd = split_list(seeds_s, &nsd, &sd_copy);
        seeds = calloc(nsd ? nsd : 1, sizeof *seeds);
        if (!seeds) abort();
        for (size_t i = 0; i < nsd; i++) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(sd[i], &end, 10);
            if (errno || *end || end == sd[i] || sd[i][0] == '-' || v > UINT32_MAX) {
                fprintf(stderr, "tether bench saar: seed '%s' is not an integer in 0..%u\n", sd[i],
                        UINT32_MAX);
                goto done;
            }
            seeds[nseeds++] = (uint32_t)v;
        }
        if (!nseeds) {
            fprintf(stderr, "tether bench saar: --seeds names no seed\n");
            goto done;
        }
    }
    if (policies_s) {
        pol = split_list(policies_s, &npol, &pol_copy);
        if (!npol) {
            fprintf(stderr, "tether bench saar: --policies names no policy\n");
            goto done;
        }
    }
    if (outdir) {
        if (mkdir(outdir, 0777) && errno != EEXIST) {
            fprintf(stderr, "tether bench saar: cannot create %s: %s\n", outdir, strerror(errno));
            rc = 2;
            goto done;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/turns.csv", outdir);
        csv = fopen(path, "wb");
        if (!csv) {
            fprintf(stderr, "tether bench saar: cannot write %s: %s\n", path, strerror(errno));
            rc = 2;
            goto done;
        }
    }

    progress_t prog = {clock_mono_ms(), 0, isatty(2)};
    saar_options_t opt = {
        .scenarios = chosen,
        .n_scenarios = nchosen,
        .seeds = seeds,
        .n_seeds = nseeds,
        .sessions = (int)sessions,
        .turns = (int)turns,
        .policies = (const char *const *)pol,
        .n_policies = npol,
        .per_turn_csv = csv,
        .progress = progress_cb,
        .progress_ud = &prog,
    };
    if (saar_run(&opt, &res, err, sizeof err)) {
        fprintf(stderr, "tether bench saar: %s\n", err);
        rc = strstr(err, "unknown policy") || strstr(err, "listed twice") ? 1 : 2;
        goto done;
    }
    have_res = 1;
    if (!strcmp(format, "json"))
        saar_report_json(&res, &out);
    else if (!strcmp(format, "csv"))
        saar_report_csv(&res, &out);
    else
        saar_report_table(&res, &out);
    fwrite(out.data, 1, out.len, stdout);
    rc = 0;
    if (outdir) {
        if (fclose(csv)) {
            fprintf(stderr, "tether bench saar: write error on %s/turns.csv\n", outdir);
            rc = 2;
        }
        csv = NULL;
        buf_reset(&out);
        saar_report_json(&res, &out);
        if (write_file(outdir, "summary.json", &out)) rc = 2;
        buf_reset(&out);
        saar_report_svg(&res, &out);
        if (write_file(outdir, "chart.svg", &out)) rc = 2;
        if (!rc)
            fprintf(stderr,
                    "tether bench saar: wrote %s/summary.json, %s/turns.csv, %s/chart.svg\n",
                    outdir, outdir, outdir);
    }

done:
    if (csv) fclose(csv);
    if (have_res) saar_results_free(&res);
    buf_free(&out);
    free(pool);
    free(chosen);
    free(seeds);
    free(pol);
    free(pol_copy);
    free(scn);
    free(scn_copy);
    free(sd);
    free(sd_copy);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    if (argc < 2) {
        bench_usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        bench_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "saar")) return bench_saar(argc - 1, argv + 1);
    if (!strcmp(argv[1], "live") || !strcmp(argv[1], "overhead")) {
        fprintf(stderr, "tether bench %s: not implemented yet\n", argv[1]);
        return 2;
    }
    fprintf(stderr, "tether bench: unknown benchmark '%s'\n", argv[1]);
    bench_usage(stderr);
    return 1;
}
