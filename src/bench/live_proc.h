/* live_proc.h - child processes of the live benchmark (`tether mock`,
 * `tether serve`, `redis-server`): spawn with stdout on a pipe, wait for the
 * "listening on HOST:PORT" line, stop with SIGTERM then SIGKILL. Children
 * get SIGKILL when the benchmark dies (PR_SET_PDEATHSIG), so an aborted run
 * leaves nothing behind. Not thread-safe; one live_proc_t per child, used
 * from the benchmark's main thread. */
#ifndef TETHER_BENCH_LIVE_PROC_H
#define TETHER_BENCH_LIVE_PROC_H
#include <stddef.h>
#include <sys/types.h>

typedef struct live_proc {
    pid_t pid;  /* 0 when not running */
    int out_fd; /* read end of the child's stdout, -1 when closed */
    char buf[2048];
    size_t len;
} live_proc_t;

/* Start argv[0] (a path). stderr goes to /dev/null unless keep_stderr.
 * cpu >= 0: the child runs on that CPU only, set before it execs so every
 * thread it starts inherits it (a child that cannot be pinned exits 126
 * and never listens). Returns 0, or -1 with a message in err. */
int live_proc_spawn(live_proc_t *p, const char *const argv[], int keep_stderr, int cpu, char *err,
                    size_t errlen);
/* Wait for a stdout line starting with "listening on " and return its port,
 * or -1 (timeout, or the child exited). */
int live_proc_wait_listening(live_proc_t *p, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; reap; close the pipe.
 * Returns the wait status, or -1 when nothing was running. Safe twice. */
int live_proc_stop(live_proc_t *p, int timeout_ms);
#endif
