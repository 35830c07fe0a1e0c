/* live_progress.h - progress of `tether bench live` on stderr while it runs:
 * a line when a phase starts (backends, routers, warm-up, routed run, direct
 * replay) and, during the two measured phases, one line a second with the
 * sessions finished so far. Off unless live_options_t.progress (the CLI
 * sets it when stderr is a terminal, or with --progress). */
#ifndef TETHER_BENCH_LIVE_PROGRESS_H
#define TETHER_BENCH_LIVE_PROGRESS_H
#include <stdatomic.h>
#include <stdbool.h>

typedef struct live_progress live_progress_t;

/* A phase line "bench live: <text>" (nothing when !on). */
void live_progress_phase(bool on, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start the once-a-second line for phase, reading *done (sessions finished)
 * out of total and *requests; NULL when !on. */
live_progress_t *live_progress_start(bool on, const char *phase, int total, atomic_int *done,
                                     atomic_long *requests);
/* Stop it and print the phase's last line (no-op on NULL). */
void live_progress_stop(live_progress_t *p);
#endif
