/* proc.h - test support: run a child process (usually the tether binary),
 * wait for its "listening on HOST:PORT" line, signal it, reap it.
 *
 * Typical use:
 *   tproc_t p;
 *   const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
 *   assert_int_equal(tproc_spawn(&p, argv, TPROC_QUIET), 0);
 *   int port = tproc_wait_listening(&p, 10000);   // -1 on timeout/exit
 *   ...
 *   int status = tproc_stop(&p, 5000);   // SIGTERM, then SIGKILL after 5 s
 *
 * The child's stdout is a pipe read by tproc_wait_line; its stderr is
 * inherited (or /dev/null with TPROC_QUIET). The child gets SIGKILL if the
 * test process dies (PR_SET_PDEATHSIG), so a failing test leaves nothing
 * behind. Not thread-safe; one tproc_t per child. */
#ifndef TETHER_TEST_PROC_H
#define TETHER_TEST_PROC_H
#include <stddef.h>
#include <sys/types.h>

typedef struct tproc {
    pid_t pid;      /* 0 when not running */
    int out_fd;     /* read end of the child's stdout, -1 when closed */
    char buf[4096]; /* stdout bytes read but not yet returned as lines */
    size_t len;
    int exited; /* reaped */
    int status; /* wait status once reaped */
} tproc_t;

enum { TPROC_QUIET = 1 /* child's stderr to /dev/null */ };

/* The binary under test: $TETHER_BIN, else "./build/tether". */
const char *tproc_tether_bin(void);

/* Start argv[0] (a path) with argv. Returns 0, or -1 with errno. */
int tproc_spawn(tproc_t *p, const char *const argv[], int flags);
/* Read stdout until a line starting with prefix arrives; copy the whole line
 * (without newline) into out. Returns 0, or -1 on timeout or child exit. */
int tproc_wait_line(tproc_t *p, const char *prefix, char *out, size_t outlen, int timeout_ms);
/* The least time tproc_wait_listening waits for a start: a start that
 * fails exits and is reported at once, so a generous bound costs nothing. */
enum { TPROC_START_MS = 90000 };
/* Wait for "listening on HOST:PORT" and return PORT, or -1 (timeout_ms, at
 * least TPROC_START_MS, or the child's exit). */
int tproc_wait_listening(tproc_t *p, int timeout_ms);
/* Send a signal (no-op once reaped). */
int tproc_signal(tproc_t *p, int sig);
/* Wait for exit up to timeout_ms. Returns the wait status, or -1 on timeout. */
int tproc_wait(tproc_t *p, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; close the pipe. Returns the
 * wait status (WIFEXITED etc. apply). Safe to call twice. */
int tproc_stop(tproc_t *p, int timeout_ms);

/* The resident set (VmRSS of /proc/PID/status) of a process in kB, or -1. */
long tproc_rss_kb(pid_t pid);

/* A loopback TCP port that was free a moment ago (bound and released),
 * for a child to listen on: picked at random below the ephemeral range (no
 * outgoing connection takes it meanwhile) and never the same twice in one
 * process; from the job slot's share of that range under scripts/run-tests.sh
 * (TETHER_TEST_PORT_SLOT of TETHER_TEST_PORT_SLOTS). Thread-safe. -1 on failure. */
int tsupport_free_port(void);
#endif
