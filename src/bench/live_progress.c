/* live_progress.c - `bench live` progress lines on stderr (live_progress.h):
 * a reporter thread wakes every 100 ms and prints the phase's counters once
 * a second; stopping it prints the phase's final line. Measured requests
 * never wait for it (it only reads two atomics). */
#include "bench/live_progress.h"
#include "core/clock.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct live_progress {
    pthread_t th;
    const char *phase;
    int total;
    atomic_int *done;
    atomic_long *requests;
    atomic_bool stop;
    uint64_t t0_us;
};

void live_progress_phase(bool on, const char *fmt, ...)
{
    if (!on) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bench live: %s\n", line);
}

static void print_line(const live_progress_t *p, const char *what)
{
    fprintf(stderr, "bench live: %s %d/%d sessions, %ld requests, %.1f s%s\n", p->phase,
            atomic_load(p->done), p->total, atomic_load(p->requests),
            (double)(clock_mono_us() - p->t0_us) / 1e6, what);
}

static void *reporter(void *arg)
{
    live_progress_t *p = arg;
    uint64_t next = p->t0_us + 1000000;
    while (!atomic_load(&p->stop)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (clock_mono_us() >= next && !atomic_load(&p->stop)) {
            print_line(p, "");
            next += 1000000;
        }
    }
    return NULL;
}

live_progress_t *live_progress_start(bool on, const char *phase, int total, atomic_int *done,
                                     atomic_long *requests)
{
    if (!on) return NULL;
    live_progress_t *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->phase = phase;
    p->total = total;
    p->done = done;
    p->requests = requests;
    p->t0_us = clock_mono_us();
    atomic_init(&p->stop, false);
    live_progress_phase(true, "%s: %d sessions...", phase, total);
    if (pthread_create(&p->th, NULL, reporter, p)) {
        free(p);
        return NULL;
    }
    return p;
}

void live_progress_stop(live_progress_t *p)
{
    if (!p) return;
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
    print_line(p, " (done)");
    free(p);
}
