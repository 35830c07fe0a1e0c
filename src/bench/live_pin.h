/* live_pin.h - where `tether bench overhead` runs its processes (--pin
 * auto|off): the layout `make bench` uses for its one-connection runs
 * (scripts/bench_pin.sh), taken from the CPUs this process may run on, in
 * order:
 *   >= 3 CPUs: the client threads on the first, the mock on the second, the
 *              router (every thread of `tether serve`) on the third;
 *   2 CPUs:    the router on the second, the client threads and the mock on
 *              the first;
 *   1 CPU, or --pin off: nothing is pinned.
 * Pure planning here; live_proc_spawn applies a CPU to a child before it
 * execs (its threads inherit it), live_pin_thread to a client thread. */
#ifndef TETHER_BENCH_LIVE_PIN_H
#define TETHER_BENCH_LIVE_PIN_H
#include <sched.h>
#include <stdbool.h>

typedef struct live_pin {
    bool on;                  /* false: nothing pinned */
    int client, mock, router; /* CPU numbers when on, else -1 */
    int ncpus;                /* CPUs allowed */
    char desc[160];           /* one line: the layout, or why there is none */
} live_pin_t;

/* The layout for the CPUs in allowed; want false (--pin off) plans none. */
void live_pin_plan(const cpu_set_t *allowed, bool want, live_pin_t *out);
/* The same for this process's own affinity mask; a mask that cannot be
 * read plans none (and says so). */
void live_pin_plan_self(bool want, live_pin_t *out);
/* Run the calling thread on cpu only (cpu < 0: no-op). 0, or an errno. */
int live_pin_thread(int cpu);
#endif
