/* live_stack.c - the child processes of the live benchmarks
 * (live_stack.h): mock backends and router replicas started from the
 * tether binary under test, waited for until they listen, and stopped. */
#include "bench/live_stack.h"
#include <stdio.h>

void live_procs_stop(live_procs_t *p)
{
    for (int i = 0; i < p->n_routers; i++)
        live_proc_stop(&p->router[i], 10000);
    for (int i = 0; i < LIVE_N_BACKENDS; i++)
        live_proc_stop(&p->mock[i], 5000);
    live_proc_stop(&p->redis, 5000);
}

int live_start_mock(live_proc_t *p, const char *bin, const char *model, int strict, int verbose,
                    int cpu, char *err, size_t errlen)
{
    const char *argv[] = {bin,
                          "mock",
                          "--listen",
                          "127.0.0.1:0",
                          "--models",
                          model,
                          strict ? "--strict" : "--reply-bytes",
                          strict ? NULL : "256",
                          NULL};
    if (live_proc_spawn(p, argv, verbose, cpu, err, errlen)) return -1;
    int port = live_proc_wait_listening(p, LIVE_START_TIMEOUT_MS);
    if (port < 0) snprintf(err, errlen, "tether mock for %s did not start", model);
    return port;
}

int live_start_router(live_proc_t *p, const char *bin, const char *cfg, int workers, int verbose,
                      int cpu, char *err, size_t errlen)
{
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    const char *argv[] = {bin, "serve", "--config", cfg, workers > 0 ? "--workers" : NULL, w, NULL};
    if (live_proc_spawn(p, argv, verbose, cpu, err, errlen)) return -1;
    int port = live_proc_wait_listening(p, LIVE_START_TIMEOUT_MS);
    if (port < 0)
        snprintf(err, errlen,
                 "tether serve --config %s did not start (run with --verbose to see why)", cfg);
    return port;
}
