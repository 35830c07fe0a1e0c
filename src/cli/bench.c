/* bench.c - `tether bench saar|live|overhead`. `saar` is the deterministic
 * session-routing benchmark (src/bench/, BENCH_SAAR.md): option parsing,
 * progress bar, output files. `live` and `overhead` drive real HTTP through
 * `tether serve` to `tether mock --strict` backends (src/bench/live_run.h):
 * option parsing, SIGINT, output. */
#include "bench/saar_frontier.h"
#include "bench/live_run.h"
#include "bench/saar_heldout.h"
#include "bench/saar_report.h"
#include "bench/saar_run.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: tether bench saar [options]\n"
               "       tether bench live [options]\n"
               "       tether bench overhead [options]\n\n"
               "bench saar: the deterministic session-routing benchmark (BENCH_SAAR.md)\n"
               "  --scenario NAME|all      scenario(s) to run, comma-separated (default all)\n"
               "  --scenario-file F.json   scenarios from a file instead of the built-in six\n"
               "  --seeds a,b,c            seeds (default 20260530,...,20260534)\n"
               "  --sessions N             sessions per (scenario, seed) (default 40)\n"
               "  --turns T                turns per session (default 18)\n"
               "  --policies a,b           policies to run (default all registered names)\n"
               "  --format table|json|csv  output on stdout (default table)\n"
               "  --out DIR                also write DIR/summary.json, DIR/turns.csv, "
               "DIR/chart.svg\n"
               "  --frontier               also run tether-defaults under the tuning settings\n"
               "                           (frontier-NN); write DIR/frontier.csv and\n"
               "                           DIR/frontier.svg (needs --out)\n"
               "  --held-out               tether and tether-defaults against the reference\n"
               "                           session policy on workloads it was not tuned on,\n"
               "                           with a dominated? verdict each (built-in list, or\n"
               "                           the one workload --scenario/--scenario-file/--seeds\n"
               "                           name); --out DIR writes DIR/heldout.json\n\n"
               "bench live: sessions through `tether serve` to strict `tether mock` backends\n"
               "  --sessions N             concurrent multi-turn sessions (default 32)\n"
               "  --turns T                turns per session (default 12)\n"
               "  --concurrency C          client threads (default 32)\n"
               "  --idle-pause-ms MS       pause before idle turns (default 1500; idle timeout\n"
               "                           MS*300/420 s, at least 1 s)\n"
               "  --replicas 1|2|1,2       router replicas; two share a Redis (default 1)\n"
               "  --redis HOST:PORT        use this Redis as the session store\n"
               "  --redis-server           start a redis-server on a free port (implied by 2\n"
               "                           replicas without --redis)\n"
               "  --seed S                 workload seed (default 20260530)\n"
               "  --router-workers N       `tether serve --workers N` (default: its own)\n"
               "  --no-direct              skip the direct replay (no overhead figures)\n"
               "  --format table|json      output on stdout (default table)\n"
               "  --out DIR                also write DIR/live.json and DIR/live.txt\n"
               "  --verbose                children's stderr and setup notes on stderr\n"
               "  --progress, --no-progress  phase lines and a line a second on stderr\n"
               "                           (default: on when stderr is a terminal)\n\n"
               "bench overhead: router latency over a direct backend, identical requests\n"
               "  --requests N             request pairs measured (default 20000)\n"
               "  --body-bytes B           request body size (default 2048)\n"
               "  --concurrency C          client threads (default 32)\n"
               "  --pin auto|off           CPUs of their own (default auto): with 3+ CPUs the\n"
               "                           client threads, the mock and the router one each;\n"
               "                           with 2 the router alone on the second; 1: none\n"
               "  --router-workers N, --format table|json, --verbose\n");
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

/* One option of a bench command. BOPT_SET stores lo in the int at out;
 * BOPT_STR stores the value (one of choices, when given, else the error
 * says "must be <choices_say>"); BOPT_INT / BOPT_LONG store an integer in
 * lo..hi; BOPT_SEED stores a uint32_t. */
typedef enum { BOPT_SET, BOPT_STR, BOPT_INT, BOPT_LONG, BOPT_SEED } bopt_kind_t;
typedef struct bench_opt {
    const char *name;
    bopt_kind_t kind;
    void *out;
    long lo, hi;
    const char *const *choices;
    const char *choices_say;
} bench_opt_t;
#define BOPT_FLAG(n, p, v)                                                                         \
    {                                                                                              \
        .name = (n), .kind = BOPT_SET, .out = (p), .lo = (v)                                       \
    }
#define BOPT_TEXT(n, p)                                                                            \
    {                                                                                              \
        .name = (n), .kind = BOPT_STR, .out = (p)                                                  \
    }
#define BOPT_ONEOF(n, p, c, say)                                                                   \
    {                                                                                              \
        .name = (n), .kind = BOPT_STR, .out = (p), .choices = (c), .choices_say = (say)            \
    }
#define BOPT_NUM(n, k, p, l, h)                                                                    \
    {                                                                                              \
        .name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h)                                 \
    }

/* 0 when v is one of choices (NULL-ended), else -1 after saying
 * "<opt> must be <say>, got '<v>'". */
static int bench_one_of(const char *cmd, const char *opt, const char *v, const char *const *choices,
                        const char *say)
{
    while (*choices && strcmp(*choices, v))
        choices++;
    if (*choices) return 0;
    fprintf(stderr, "tether bench %s: %s must be %s, got '%s'\n", cmd, opt, say, v);
    return -1;
}

static const char *const table_json[] = {"table", "json", NULL};

static int bench_opt_value(const char *cmd, const bench_opt_t *o, const char *v)
{
    long n;
    switch (o->kind) {
    case BOPT_STR:
        if (o->choices && bench_one_of(cmd, o->name, v, o->choices, o->choices_say)) return -1;
        *(const char **)o->out = v;
        return 0;
    case BOPT_SEED: {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || *end || end == v || v[0] == '-' || s > UINT32_MAX) {
            fprintf(stderr, "tether bench %s: %s wants an integer in 0..%u\n", cmd, o->name,
                    UINT32_MAX);
            return -1;
        }
        *(uint32_t *)o->out = (uint32_t)s;
        return 0;
    }
    default:
        if (parse_int(v, o->lo, o->hi, &n)) {
            fprintf(stderr, "tether bench %s: %s wants an integer in %ld..%ld, got '%s'\n", cmd,
                    o->name, o->lo, o->hi, v);
            return -1;
        }
        if (o->kind == BOPT_LONG)
            *(long *)o->out = n;
        else
            *(int *)o->out = (int)n;
        return 0;
    }
}

/* Parse argv[1..] against opts (ended by a NULL name): -1 when every option
 * was taken, else the exit code (0 after --help; 1 after saying what is
 * wrong: an unknown option, with the usage, a missing or bad value). */
static int bench_parse(const char *cmd, int argc, char **argv, const bench_opt_t *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        }
        const bench_opt_t *o = opts;
        while (o->name && strcmp(o->name, a))
            o++;
        if (!o->name) {
            fprintf(stderr, "tether bench %s: unknown option '%s'\n", cmd, a);
            bench_usage(stderr);
            return 1;
        }
        if (o->kind == BOPT_SET) {
            *(int *)o->out = (int)o->lo;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tether bench %s: option '%s' needs a value\n", cmd, a);
            return 1;
        }
        if (bench_opt_value(cmd, o, argv[++i])) return 1;
    }
    return -1;
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

/* Render one saar report into out (reset first) and write it to dir/name. */
static int write_report(const char *dir, const char *name,
                        void (*render)(const saar_results_t *, buf_t *), const saar_results_t *r,
                        buf_t *out)
{
    buf_reset(out);
    render(r, out);
    return write_file(dir, name, out);
}

/* `bench saar --held-out`: the built-in held-out list, or the one workload
 * the options name (custom). */
static int bench_saar_heldout(saar_scenario_t *sc, size_t nsc, const uint32_t *seeds, size_t nseeds,
                              int custom, int sessions, int turns, const char *format,
                              const char *outdir)
{
    char err[512];
    size_t nw = 1;
    saar_heldout_workload_t *w;
    if (custom) {
        if (nseeds > sizeof w->seeds / sizeof w->seeds[0]) {
            fprintf(stderr, "tether bench saar: --held-out takes at most %zu seeds\n",
                    sizeof w->seeds / sizeof w->seeds[0]);
            return 1;
        }
        w = calloc(1, sizeof *w);
        if (!w) abort();
        snprintf(w->name, sizeof w->name, "%zu scenario%s, %zu seed%s", nsc, nsc == 1 ? "" : "s",
                 nseeds ? nseeds : SAAR_DEFAULT_N_SEEDS,
                 (nseeds ? nseeds : SAAR_DEFAULT_N_SEEDS) == 1 ? "" : "s");
        w->scenarios = malloc(nsc * sizeof *sc);
        if (!w->scenarios) abort();
        memcpy(w->scenarios, sc, nsc * sizeof *sc);
        w->n_scenarios = nsc;
        for (size_t i = 0; i < SAAR_DEFAULT_N_SEEDS && !nseeds; i++)
            w->seeds[w->n_seeds++] = SAAR_DEFAULT_SEED + (uint32_t)i;
        for (size_t i = 0; i < nseeds; i++)
            w->seeds[w->n_seeds++] = seeds[i];
        w->sessions = sessions;
        w->turns = turns;
    } else {
        w = saar_heldout_default_list(&nw, sessions, turns);
    }
    saar_heldout_results_t r;
    int rc = 0;
    if (saar_heldout_run(w, nw, &r, err, sizeof err)) {
        fprintf(stderr, "tether bench saar: %s\n", err);
        saar_heldout_list_free(w, nw);
        return 2;
    }
    saar_heldout_list_free(w, nw);
    buf_t out = BUF_INIT;
    if (!strcmp(format, "json"))
        saar_heldout_json(&r, &out);
    else
        saar_heldout_table(&r, &out);
    fwrite(out.data, 1, out.len, stdout);
    if (outdir) {
        buf_reset(&out);
        saar_heldout_json(&r, &out);
        if ((mkdir(outdir, 0777) && errno != EEXIST) || write_file(outdir, "heldout.json", &out))
            rc = 2;
        else
            fprintf(stderr, "tether bench saar: wrote %s/heldout.json\n", outdir);
    }
    buf_free(&out);
    saar_heldout_free(&r);
    return rc;
}

static int bench_saar(int argc, char **argv)
{
    const char *scenario = "all", *scenario_file = NULL, *seeds_s = NULL, *policies_s = NULL;
    const char *format = "table", *outdir = NULL;
    int frontier = 0, held_out = 0;
    long sessions = 0, turns = 0; /* 0: the defaults */
    const bench_opt_t opts[] = {BOPT_FLAG("--frontier", &frontier, 1),
                                BOPT_FLAG("--held-out", &held_out, 1),
                                BOPT_TEXT("--scenario", &scenario),
                                BOPT_TEXT("--scenario-file", &scenario_file),
                                BOPT_TEXT("--seeds", &seeds_s),
                                BOPT_NUM("--sessions", BOPT_LONG, &sessions, 1, 100000),
                                BOPT_NUM("--turns", BOPT_LONG, &turns, 1, 10000),
                                BOPT_TEXT("--format", &format),
                                BOPT_TEXT("--out", &outdir),
                                BOPT_TEXT("--policies", &policies_s),
                                {0}};
    int prc = bench_parse("saar", argc, argv, opts);
    if (prc >= 0) return prc;
    if (frontier && !outdir) {
        fprintf(stderr, "tether bench saar: --frontier needs --out DIR\n");
        return 1;
    }
    static const char *const formats[] = {"table", "json", "csv", NULL};
    if (bench_one_of("saar", "--format", format, formats, "table, json or csv")) return 1;
    if (held_out && (frontier || policies_s || !strcmp(format, "csv"))) {
        fprintf(stderr, "tether bench saar: --held-out runs its own policies (no --frontier, "
                        "--policies or --format csv)\n");
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
    if (held_out) {
        rc = bench_saar_heldout(chosen, nchosen, seeds, nseeds,
                                scenario_file || seeds_s || strcmp(scenario, "all"), (int)sessions,
                                (int)turns, format, outdir);
        goto done;
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
    const char **with_frontier = NULL;
    if (frontier) {
        opt.extra_policies = saar_frontier_entries(&opt.n_extra_policies);
        if (pol) { /* a listed run gets the frontier rows too */
            with_frontier = calloc(npol + opt.n_extra_policies, sizeof *with_frontier);
            if (!with_frontier) abort();
            for (size_t i = 0; i < npol; i++)
                with_frontier[i] = pol[i];
            for (size_t i = 0; i < opt.n_extra_policies; i++)
                with_frontier[npol + i] = opt.extra_policies[i].name;
            opt.policies = with_frontier;
            opt.n_policies = npol + opt.n_extra_policies;
        }
    }
    int run_rc = saar_run(&opt, &res, err, sizeof err);
    free(with_frontier);
    if (run_rc) {
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
        if (write_report(outdir, "summary.json", saar_report_json, &res, &out)) rc = 2;
        if (write_report(outdir, "chart.svg", saar_report_svg, &res, &out)) rc = 2;
        if (frontier) {
            if (write_report(outdir, "frontier.csv", saar_frontier_csv, &res, &out)) rc = 2;
            if (write_report(outdir, "frontier.svg", saar_frontier_svg, &res, &out)) rc = 2;
            if (!rc)
                fprintf(stderr, "tether bench saar: wrote %s/frontier.csv, %s/frontier.svg\n",
                        outdir, outdir);
        }
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

static volatile sig_atomic_t live_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    live_stop = 1;
}

/* SIGINT/SIGTERM set live_stop: the clients finish their request, every
 * child is stopped, then the command exits 130. */
static void install_stop(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char *self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) return "/proc/self/exe";
    buf[n] = 0;
    return buf;
}

static int bench_live(int argc, char **argv)
{
    live_options_t o;
    live_options_default(&o);
    const char *format = "table", *outdir = NULL, *replicas = "1";
    char exe[4096];
    int progress = isatty(2); /* --progress / --no-progress override */
    o.tether_bin = self_exe(exe, sizeof exe);
    static const char *const replica_sets[] = {"1", "2", "1,2", NULL};
    const bench_opt_t opts[] = {BOPT_FLAG("--redis-server", &o.redis_server, 1),
                                BOPT_FLAG("--no-direct", &o.no_direct, 1),
                                BOPT_FLAG("--verbose", &o.verbose, 1),
                                BOPT_FLAG("--progress", &progress, 1),
                                BOPT_FLAG("--no-progress", &progress, 0),
                                BOPT_NUM("--sessions", BOPT_INT, &o.sessions, 1, 100000),
                                BOPT_NUM("--turns", BOPT_INT, &o.turns, 1, 1000),
                                BOPT_NUM("--concurrency", BOPT_INT, &o.concurrency, 1, 4096),
                                BOPT_NUM("--idle-pause-ms", BOPT_INT, &o.idle_pause_ms, 0, 600000),
                                BOPT_ONEOF("--replicas", &replicas, replica_sets, "1, 2 or 1,2"),
                                BOPT_TEXT("--redis", &o.redis_addr),
                                {.name = "--seed", .kind = BOPT_SEED, .out = &o.seed},
                                BOPT_TEXT("--format", &format),
                                BOPT_TEXT("--out", &outdir),
                                BOPT_NUM("--router-workers", BOPT_INT, &o.router_workers, 1, 256),
                                {0}};
    int prc = bench_parse("live", argc, argv, opts);
    if (prc >= 0) return prc;
    if (bench_one_of("live", "--format", format, table_json, "table or json")) return 1;
    if (outdir && mkdir(outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "tether bench live: cannot create %s: %s\n", outdir, strerror(errno));
        return 2;
    }
    install_stop();
    o.stop = &live_stop;
    o.progress = progress;
    live_results_t res[2];
    size_t nres = 0;
    int reps[2] = {replicas[0] - '0', 0}, nreps = 1;
    if (!strcmp(replicas, "1,2")) reps[1] = 2, nreps = 2;
    for (int k = 0; k < nreps; k++) {
        char err[512];
        o.replicas = reps[k];
        if (o.progress)
            fprintf(stderr, "tether bench live: %d replica%s...\n", reps[k],
                    reps[k] > 1 ? "s" : "");
        if (live_run(&o, &res[nres], err, sizeof err)) {
            fprintf(stderr, "tether bench live: %s\n", err);
            return live_stop ? 130 : 2;
        }
        nres++;
    }
    buf_t out = BUF_INIT;
    if (!strcmp(format, "json"))
        live_report_json(res, nres, &out);
    else
        live_report_table(res, nres, &out);
    fwrite(out.data, 1, out.len, stdout);
    int rc = 0;
    if (outdir) {
        buf_t j = BUF_INIT, t = BUF_INIT;
        live_report_json(res, nres, &j);
        live_report_table(res, nres, &t);
        if (write_file(outdir, "live.json", &j) || write_file(outdir, "live.txt", &t)) rc = 2;
        buf_free(&j);
        buf_free(&t);
    }
    buf_free(&out);
    return rc;
}

static int bench_overhead(int argc, char **argv)
{
    live_overhead_options_t o;
    live_overhead_options_default(&o);
    const char *format = "table", *pin = "auto";
    char exe[4096];
    o.tether_bin = self_exe(exe, sizeof exe);
    static const char *const pin_modes[] = {"auto", "off", NULL};
    const bench_opt_t opts[] = {
        BOPT_FLAG("--verbose", &o.verbose, 1),
        BOPT_ONEOF("--pin", &pin, pin_modes, "auto or off"),
        BOPT_NUM("--requests", BOPT_LONG, &o.requests, 1, 100000000),
        BOPT_NUM("--body-bytes", BOPT_INT, &o.body_bytes, 64, 64 * 1024 * 1024),
        BOPT_NUM("--concurrency", BOPT_INT, &o.concurrency, 1, 4096),
        BOPT_TEXT("--format", &format),
        BOPT_NUM("--router-workers", BOPT_INT, &o.router_workers, 1, 256),
        {0}};
    int prc = bench_parse("overhead", argc, argv, opts);
    if (prc >= 0) return prc;
    if (bench_one_of("overhead", "--format", format, table_json, "table or json")) return 1;
    o.no_pin = !strcmp(pin, "off");
    install_stop();
    o.stop = &live_stop;
    live_overhead_results_t res;
    char err[512];
    if (live_overhead(&o, &res, err, sizeof err)) {
        fprintf(stderr, "tether bench overhead: %s\n", err);
        return live_stop ? 130 : 2;
    }
    buf_t out = BUF_INIT;
    if (!strcmp(format, "json"))
        live_overhead_report_json(&res, &out);
    else
        live_overhead_report_table(&res, &out);
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    return 0;
}

int cli_bench(int argc, char **argv)
{
    int rc = cli_usage_first(argc, argv, bench_usage, true);
    if (rc >= 0) return rc;
    if (!strcmp(argv[1], "saar")) return bench_saar(argc - 1, argv + 1);
    if (!strcmp(argv[1], "live")) return bench_live(argc - 1, argv + 1);
    if (!strcmp(argv[1], "overhead")) return bench_overhead(argc - 1, argv + 1);
    fprintf(stderr, "tether bench: unknown benchmark '%s'\n", argv[1]);
    bench_usage(stderr);
    return 1;
}
