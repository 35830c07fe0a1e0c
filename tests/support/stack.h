/* stack.h - a process stack for the multi-replica integration tests: strict
 * mocks, `tether serve` replicas, and what the tests read back from them
 * (the mock's violation count, a replica's session-store state). */
#ifndef TETHER_TESTS_STACK_H
#define TETHER_TESTS_STACK_H
#include "proc.h"
#include <stddef.h>
#include <stdio.h>

/* `tether mock --listen 127.0.0.1:0 EXTRA...` (extra: NULL-terminated
 * arguments, may be NULL; at most 16); returns the port, or -1. */
int tstack_mock(tproc_t *p, const char *const extra[]);
/* `tether mock --strict --seed SEED` on a free loopback port; returns the
 * port, or -1. Different seeds make backends issue different ids. */
int tstack_mock_strict(tproc_t *p, const char *seed);
/* `tether serve --config CFG --workers 2` (quiet unless TETHER_TEST_VERBOSE);
 * returns the listening port, or -1. */
int tstack_serve(tproc_t *p, const char *cfg);
/* The same with WORKERS workers, waiting up to timeout_ms (at least
 * TPROC_START_MS, proc.h) for the listening line. */
int tstack_serve_n(tproc_t *p, const char *cfg, int workers, int timeout_ms);
/* Two free loopback ports that differ (a listener and a management port). */
void tstack_two_ports(int *a, int *b);
/* Config of the signal tests, in two parts around the test's own
 * "  signals:" and "  decisions:" blocks. The head: version, the main
 * listener on port (timeout 30s), models model-a and model-b both on the
 * mock at llm_port, their cards, "routing:". */
void tstack_yaml_ab_head(FILE *f, int port, int llm_port);
/* The tail's start: "global:" with limits.signal_timeout, the management
 * API on mgmt_port, the memory replay store, and "  model_catalog:" (the
 * test writes the catalog's members next). */
void tstack_yaml_signal_global(FILE *f, const char *signal_timeout, int mgmt_port);
/* `tether serve --config CFG --workers N` with its stderr (the log lines)
 * written to log_path (created or truncated); the caller then waits for
 * its "listening on" line(s). Returns 0, or -1 when it could not start. */
int tstack_serve_logged(tproc_t *p, const char *cfg, int workers, const char *log_path);
/* A loopback port that stays closed while *fd is open: bound (so nothing
 * else gets it) but never listening, so connecting is refused. Returns the
 * port (close *fd at the end), or -1. */
int tstack_closed_port(int *fd);
/* Stop p (SIGTERM, SIGKILL after timeout_ms): 0 when it exited with status
 * 0, else -1 after printing "WHAT exit status N". */
int tstack_stop_clean(tproc_t *p, const char *what, int timeout_ms);
/* The mock's violation count (the codes are printed when there are any), or
 * -1 when /mock/stats cannot be read. */
int tstack_mock_violations(int port);
/* A member (requests, violations, ...) of the mock's /mock/stats, or -1
 * when the stats cannot be read or the member is not a number. */
int tstack_mock_stat(int port, const char *key);
/* The number of requests the mock on port has answered (its /mock/stats
 * "requests"), or -1 when the stats cannot be read. */
int tstack_mock_requests(int port);
/* Make the work directory /tmp/tether-NAME-PID (mkdir -p) into dir.
 * Returns 0, or -1. */
int tstack_workdir(char *dir, size_t n, const char *name);
/* rm -rf dir. Returns 0, or -1. */
int tstack_workdir_remove(const char *dir);
/* 1 when the replica's session store is degraded, 0 when not, -1 unknown
 * (read from tether_session_store_degraded on the management port). */
int tstack_store_degraded(int mgmt_port);
#endif
