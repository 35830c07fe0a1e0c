/* live_stack.h - what the live benchmarks (live_run.c, live_overhead.c)
 * share, private to src/bench/: the child processes they run against (mock
 * backends, router replicas, redis), their timeouts and the stop flag. */
#ifndef TETHER_BENCH_LIVE_STACK_H
#define TETHER_BENCH_LIVE_STACK_H
#include "bench/live_proc.h"
#include "bench/live_run.h"
#include <signal.h>

#define LIVE_HTTP_TIMEOUT_MS  30000
#define LIVE_START_TIMEOUT_MS 15000

typedef struct procs {
    live_proc_t mock[LIVE_N_BACKENDS];
    int mock_port[LIVE_N_BACKENDS];
    live_proc_t router[2];
    int router_port[2];
    int n_routers;
    live_proc_t redis;
    char redis_addr[64];
} live_procs_t;

/* Stop every started process (routers first). */
void live_procs_stop(live_procs_t *p);
/* Start `tether mock` serving model (strict: --strict, else 256-byte
 * replies), on CPU cpu when cpu >= 0 (live_proc_spawn); its port, or -1
 * with err set. */
int live_start_mock(live_proc_t *p, const char *bin, const char *model, int strict, int verbose,
                    int cpu, char *err, size_t errlen);
/* Start `tether serve --config cfg` (workers > 0: --workers), on CPU cpu
 * when cpu >= 0; its port, or -1 with err set. */
int live_start_router(live_proc_t *p, const char *bin, const char *cfg, int workers, int verbose,
                      int cpu, char *err, size_t errlen);

static inline int live_stopped(volatile sig_atomic_t *stop)
{
    return stop && *stop;
}
#endif
