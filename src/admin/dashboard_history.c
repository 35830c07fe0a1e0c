/* dashboard_history.c - the last hour of the counters the dashboard's
 * Overview charts, so its charts show history from the first open: a
 * thread reads the metrics registry (metrics/metrics.h, the same text
 * /metrics serves) every DASH_HIST_EVERY_MS and keeps, per sample, the
 * totals of requests, errors and switches, session outcomes by reason,
 * locks and resets by kind, and the request duration histogram's
 * cumulative buckets. GET /api/v1/history (viewer) returns them, oldest
 * first; the page turns differences into rates as it does for its own
 * reads. One sampler per process (started with the management listener,
 * stopped by mgmt_stop). */
#include "admin/dashboard_history.h"
#include "core/buf.h"
#include "core/clock.h"
#include "metrics/metrics.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DASH_HIST_EVERY_MS 10000
#define DASH_HIST_SAMPLES  360 /* one hour */
#define DASH_HIST_KEYS     48

typedef struct hist_kv {
    char key[40];
    double v;
} hist_kv_t;

typedef struct hist_sample {
    uint64_t t_ms;
    size_t n;
    hist_kv_t kv[DASH_HIST_KEYS];
} hist_sample_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
    hist_sample_t *ring; /* DASH_HIST_SAMPLES */
    size_t n;            /* samples taken; ring index n % DASH_HIST_SAMPLES */
} hist = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void kv_add(hist_sample_t *s, const char *key, double v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->kv[i].key, key)) {
            s->kv[i].v += v;
            return;
        }
    if (s->n >= DASH_HIST_KEYS) return;
    snprintf(s->kv[s->n].key, sizeof s->kv[s->n].key, "%s", key);
    s->kv[s->n++].v = v;
}

/* The value of label `name` in a `{a="x",b="y"}` block, into out. */
static bool label(const char *labels, const char *end, const char *name, char *out, size_t n)
{
    char pat[48];
    snprintf(pat, sizeof pat, "%s=\"", name);
    const char *p = labels;
    while ((p = strstr(p, pat)) && p < end) {
        if (p == labels || p[-1] == '{' || p[-1] == ',') {
            p += strlen(pat);
            size_t k = 0;
            while (p < end && *p != '"' && k + 1 < n) {
                if (*p == '\\' && p + 1 < end) p++;
                out[k++] = *p++;
            }
            out[k] = 0;
            return true;
        }
        p++;
    }
    return false;
}

/* One exposition line into the sample, when it is a family we chart. */
static void take_line(hist_sample_t *s, const char *line, const char *eol)
{
    static const struct {
        const char *name, *key, *label; /* label NULL: the family's total */
    } fams[] = {
        {"tether_requests_total", "requests", NULL},
        {"tether_request_errors_total", "errors", NULL},
        {"tether_session_switches_total", "switches", NULL},
        {"tether_session_decisions_total", "reason:", "reason"},
        {"tether_session_locks_total", "lock:", "kind"},
        {"tether_session_resets_total", "reset:", "kind"},
        {"tether_request_duration_seconds_bucket", "le:", "le"},
    };
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        size_t nl = strlen(fams[i].name);
        if (strncmp(line, fams[i].name, nl) != 0 || (line[nl] != '{' && line[nl] != ' ')) continue;
        const char *sp = memchr(line, '}', (size_t)(eol - line));
        sp = sp ? sp + 1 : line + nl;
        double v = strtod(sp, NULL);
        char key[40], lv[32];
        if (!fams[i].label) {
            kv_add(s, fams[i].key, v);
        } else if (line[nl] == '{' && label(line + nl, sp, fams[i].label, lv, sizeof lv)) {
            snprintf(key, sizeof key, "%s%s", fams[i].key, lv);
            kv_add(s, key, v);
        }
        return;
    }
}

static void take_sample(void)
{
    buf_t b = BUF_INIT;
    met_expose(&b);
    hist_sample_t *s = calloc(1, sizeof *s);
    if (!s) {
        buf_free(&b);
        return;
    }
    s->t_ms = clock_wall_ms();
    for (const char *p = b.data; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        if (*p != '#') take_line(s, p, eol);
        p = *eol ? eol + 1 : eol;
    }
    buf_free(&b);
    pthread_mutex_lock(&hist.mu);
    hist.ring[hist.n++ % DASH_HIST_SAMPLES] = *s;
    pthread_mutex_unlock(&hist.mu);
    free(s);
}

static void *hist_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&hist.mu);
    while (!hist.stop) {
        pthread_mutex_unlock(&hist.mu);
        take_sample();
        pthread_mutex_lock(&hist.mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += DASH_HIST_EVERY_MS / 1000;
        while (!hist.stop && pthread_cond_timedwait(&hist.cv, &hist.mu, &until) == 0) {}
    }
    pthread_mutex_unlock(&hist.mu);
    return NULL;
}

void dash_history_start(void)
{
    pthread_mutex_lock(&hist.mu);
    if (!hist.running) {
        hist.ring = calloc(DASH_HIST_SAMPLES, sizeof *hist.ring);
        hist.n = 0;
        hist.stop = false;
        hist.running = hist.ring && pthread_create(&hist.thread, NULL, hist_main, NULL) == 0;
    }
    pthread_mutex_unlock(&hist.mu);
}

void dash_history_stop(void)
{
    pthread_mutex_lock(&hist.mu);
    bool was = hist.running;
    hist.stop = true;
    pthread_cond_broadcast(&hist.cv);
    pthread_mutex_unlock(&hist.mu);
    if (was) pthread_join(hist.thread, NULL);
    pthread_mutex_lock(&hist.mu);
    free(hist.ring);
    hist.ring = NULL;
    hist.running = false;
    pthread_mutex_unlock(&hist.mu);
}

void dash_history_json(buf_t *out)
{
    /* the sampler thread takes the first sample at start; a page asking
     * before that thread has run (a busy machine) gets one taken here */
    pthread_mutex_lock(&hist.mu);
    bool first = hist.running && hist.n == 0;
    pthread_mutex_unlock(&hist.mu);
    if (first) take_sample();
    pthread_mutex_lock(&hist.mu);
    buf_printf(out, "{\"interval_ms\":%d,\"samples\":[", DASH_HIST_EVERY_MS);
    size_t n = hist.n < DASH_HIST_SAMPLES ? hist.n : DASH_HIST_SAMPLES;
    for (size_t i = 0; hist.ring && i < n; i++) {
        const hist_sample_t *s = &hist.ring[(hist.n - n + i) % DASH_HIST_SAMPLES];
        buf_printf(out, "%s{\"t\":%llu,\"v\":{", i ? "," : "", (unsigned long long)s->t_ms);
        for (size_t k = 0; k < s->n; k++) {
            if (k) buf_putc(out, ',');
            buf_json_str(out, s->kv[k].key, strlen(s->kv[k].key));
            buf_printf(out, ":%.17g", s->kv[k].v);
        }
        buf_puts(out, "}}");
    }
    buf_puts(out, "]}");
    pthread_mutex_unlock(&hist.mu);
}
