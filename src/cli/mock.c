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

int cli_mock(int argc, char **argv)
{
    mock_config_t cfg = {0};
    char host[256] = "";
    const char *listen = NULL, *models = NULL;
    uint64_t u;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDVAL                                                                                    \
    do {                                                                                           \
        if (!val) {                                                                                \
            fprintf(stderr, "tether mock: %s needs a value\n", a);                                 \
            return 1;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--strict")) {
            cfg.strict = true;
        } else if (!strcmp(a, "--listen")) {
            NEEDVAL;
            listen = val;
        } else if (!strcmp(a, "--models")) {
            NEEDVAL;
            models = val;
        } else if (!strcmp(a, "--chunk-delay-ms")) {
            NEEDVAL;
            if (parse_u64(a, val, &cfg.chunk_delay_ms)) return 1;
        } else if (!strcmp(a, "--latency-ms")) {
            NEEDVAL;
            if (parse_u64(a, val, &cfg.latency_ms)) return 1;
        } else if (!strcmp(a, "--ttft-ms")) {
            NEEDVAL;
            if (parse_u64(a, val, &cfg.ttft_ms)) return 1;
        } else if (!strcmp(a, "--fail-rate")) {
            NEEDVAL;
            if (parse_rate(a, val, &cfg.fail_rate)) return 1;
        } else if (!strcmp(a, "--reset-rate")) {
            NEEDVAL;
            if (parse_rate(a, val, &cfg.reset_rate)) return 1;
        } else if (!strcmp(a, "--seed")) {
            NEEDVAL;
            if (parse_u64(a, val, &cfg.seed)) return 1;
        } else if (!strcmp(a, "--workers")) {
            NEEDVAL;
            if (parse_u64(a, val, &u) || u < 1 || u > 256) {
                fprintf(stderr, "tether mock: --workers expects 1..256\n");
                return 1;
            }
            cfg.workers = (int)u;
        } else if (!strcmp(a, "--reply-bytes")) {
            NEEDVAL;
            if (parse_u64(a, val, &u) || u > (64u << 20)) {
                fprintf(stderr, "tether mock: --reply-bytes expects 0..67108864\n");
                return 1;
            }
            cfg.reply_bytes = (size_t)u;
        } else if (!strcmp(a, "--embed-dims")) {
            NEEDVAL;
            if (parse_u64(a, val, &u) || u < 1 || u > 8192) {
                fprintf(stderr, "tether mock: --embed-dims expects 1..8192\n");
                return 1;
            }
            cfg.embed_dims = (int)u;
        } else if (!strcmp(a, "--max-sessions")) {
            NEEDVAL;
            if (parse_u64(a, val, &u) || u < 1) {
                fprintf(stderr, "tether mock: --max-sessions expects a positive integer\n");
                return 1;
            }
            cfg.max_sessions = (size_t)u;
        } else if (!strcmp(a, "--script")) {
            NEEDVAL;
            cfg.script_path = val;
        } else if (!strcmp(a, "--classify")) {
            NEEDVAL;
            cfg.classify = val;
        } else if (!strcmp(a, "--guard-model")) {
            NEEDVAL;
            cfg.guard_model = val;
        } else if (!strcmp(a, "--embed-delay")) {
            NEEDVAL;
            cfg.embed_delay = val;
        } else {
            fprintf(stderr, "tether mock: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        }
#undef NEEDVAL
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
