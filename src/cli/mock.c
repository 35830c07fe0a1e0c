/* mock.c - `tether mock`: parse flags into a mock_config_t, start the
 * simulated backend (src/mock/), print "listening on HOST:PORT" once ready
 * and serve until SIGTERM/SIGINT. */
#include "cli/cli.h"
#include "mock/mock.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether mock --listen HOST:PORT [options]\n"
               "  --listen HOST:PORT     address to serve (port 0: pick a free port)\n"
               "  --models a,b           models served (default: any)\n"
               "  --strict               reject continuity violations with 400\n"
               "  --chunk-delay-ms N     delay between SSE chunks\n"
               "  --latency-ms N         delay before answering\n"
               "  --ttft-ms N            delay before the first SSE chunk\n"
               "  --fail-rate F          answer 503 with probability F (0..1)\n"
               "  --reset-rate F         reset the connection mid-response with probability F\n"
               "  --seed S               seed of replies, ids and fault rolls (default 0)\n"
               "  --workers N            worker threads (default 1)\n"
               "  --reply-bytes N        fixed reply text of N bytes (benchmarks)\n"
               "  --embed-dims N         default embedding dimensions (default 64)\n"
               "  --max-sessions N       prefix-cache sessions kept (default 100000)\n"
               "  --script FILE          JSON-lines fault script, one line per request\n"
               "  --classify TABLE       keyword table (kw=label,...) of /classify, /pooling\n"
               "                         (task classify), /score and the guard\n"
               "  --guard-model NAME     chat model that answers guard verdicts (safe/unsafe)\n"
               "  --embed-delay TABLE    embeddings with an input holding kw wait ms: kw=ms,...\n"
               "See docs/mock.md.\n");
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-') {
        fprintf(stderr, "tether mock: %s expects a non-negative integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_rate(const char *flag, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v <= 1)) {
        fprintf(stderr, "tether mock: %s expects a number in 0..1, got '%s'\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "host:port", "[v6]:port", ":port" or "port" */
static int parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *ps = colon ? colon + 1 : s;
    if (colon) {
        const char *h = s;
        size_t hl = (size_t)(colon - s);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        if (hl >= hostlen) return -1;
        memcpy(host, h, hl);
        host[hl] = 0;
    }
    if (!host[0]) snprintf(host, hostlen, "127.0.0.1");
    char *end;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

/* One option of `tether mock`: MO_STR stores the value; MO_U64 and MO_RATE
 * parse it (parse_u64, parse_rate); MO_INT and MO_SIZE parse it within
 * lo..hi (hi 0: "a positive integer") into an int or a size_t. */
typedef enum { MO_STR, MO_U64, MO_RATE, MO_INT, MO_SIZE } mock_opt_kind_t;
typedef struct mock_opt {
    const char *name;
    mock_opt_kind_t kind;
    void *out;
    uint64_t lo, hi;
} mock_opt_t;

static int mock_opt_value(const mock_opt_t *o, const char *val)
{
    uint64_t u;
    switch (o->kind) {
    case MO_STR: *(const char **)o->out = val; return 0;
    case MO_U64: return parse_u64(o->name, val, o->out);
    case MO_RATE: return parse_rate(o->name, val, o->out);
    default: break;
    }
    if (parse_u64(o->name, val, &u) || u < o->lo || (o->hi && u > o->hi)) {
        if (o->hi)
            fprintf(stderr, "tether mock: %s expects %llu..%llu\n", o->name,
                    (unsigned long long)o->lo, (unsigned long long)o->hi);
        else
            fprintf(stderr, "tether mock: %s expects a positive integer\n", o->name);
        return -1;
    }
    if (o->kind == MO_INT)
        *(int *)o->out = (int)u;
    else
        *(size_t *)o->out = (size_t)u;
    return 0;
}

int cli_mock(int argc, char **argv)
{
    mock_config_t cfg = {0};
    char host[256] = "";
    const char *listen = NULL, *models = NULL;
#define MO(n, k, p, l, h)                                                                          \
    {                                                                                              \
        .name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h)                                 \
    }
    const mock_opt_t opts[] = {MO("--listen", MO_STR, &listen, 0, 0),
                               MO("--models", MO_STR, &models, 0, 0),
                               MO("--chunk-delay-ms", MO_U64, &cfg.chunk_delay_ms, 0, 0),
                               MO("--latency-ms", MO_U64, &cfg.latency_ms, 0, 0),
                               MO("--ttft-ms", MO_U64, &cfg.ttft_ms, 0, 0),
                               MO("--fail-rate", MO_RATE, &cfg.fail_rate, 0, 0),
                               MO("--reset-rate", MO_RATE, &cfg.reset_rate, 0, 0),
                               MO("--seed", MO_U64, &cfg.seed, 0, 0),
                               MO("--workers", MO_INT, &cfg.workers, 1, 256),
                               MO("--reply-bytes", MO_SIZE, &cfg.reply_bytes, 0, 64u << 20),
                               MO("--embed-dims", MO_INT, &cfg.embed_dims, 1, 8192),
                               MO("--max-sessions", MO_SIZE, &cfg.max_sessions, 1, 0),
                               MO("--script", MO_STR, &cfg.script_path, 0, 0),
                               MO("--classify", MO_STR, &cfg.classify, 0, 0),
                               MO("--guard-model", MO_STR, &cfg.guard_model, 0, 0),
                               MO("--embed-delay", MO_STR, &cfg.embed_delay, 0, 0)};
#undef MO
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--strict")) {
            cfg.strict = true;
            continue;
        }
        const mock_opt_t *o = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !o; k++)
            if (!strcmp(a, opts[k].name)) o = &opts[k];
        if (!o) {
            fprintf(stderr, "tether mock: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tether mock: %s needs a value\n", a);
            return 1;
        }
        if (mock_opt_value(o, argv[++i])) return 1;
    }
    if (!listen) {
        fprintf(stderr, "tether mock: --listen HOST:PORT is required\n");
        usage(stderr);
        return 1;
    }
    if (parse_listen(listen, host, sizeof host, &cfg.port) < 0) {
        fprintf(stderr, "tether mock: --listen expects HOST:PORT, got '%s'\n", listen);
        return 1;
    }
    cfg.address = host;

    /* split --models */
    char *list = models ? strdup(models) : NULL;
    const char *names[256];
    size_t n = 0;
    for (char *save = NULL, *t = list ? strtok_r(list, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (!*t) continue;
        if (n == sizeof names / sizeof names[0]) {
            fprintf(stderr, "tether mock: at most 256 models\n");
            free(list);
            return 1;
        }
        names[n++] = t;
    }
    cfg.models = names;
    cfg.n_models = n;

    /* block the stop signals in every thread; the main thread waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "";
    mock_t *m = mock_start(&cfg, err, sizeof err);
    free(list);
    if (!m) {
        fprintf(stderr, "tether mock: %s\n", err[0] ? err : "cannot start");
        return 2;
    }
    if (strchr(host, ':'))
        printf("listening on [%s]:%d\n", host, mock_port(m));
    else
        printf("listening on %s:%d\n", host, mock_port(m));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    mock_stop(m, 2000);
    return 0;
}
