/* stack.h - a process stack for the multi-replica integration tests: strict
 * mocks, `tether serve` replicas, and what the tests read back from them
 * (the mock's violation count, a replica's session-store state). */
#ifndef TETHER_TESTS_STACK_H
#define TETHER_TESTS_STACK_H
#include "proc.h"

/* `tether mock --strict --seed SEED` on a free loopback port; returns the
 * port, or -1. Different seeds make backends issue different ids. */
int tstack_mock_strict(tproc_t *p, const char *seed);
/* `tether serve --config CFG --workers 2` (quiet unless TETHER_TEST_VERBOSE);
 * returns the listening port, or -1. */
int tstack_serve(tproc_t *p, const char *cfg);
/* The mock's violation count (the codes are printed when there are any), or
 * -1 when /mock/stats cannot be read. */
int tstack_mock_violations(int port);
/* 1 when the replica's session store is degraded, 0 when not, -1 unknown
 * (read from tether_session_store_degraded on the management port). */
int tstack_store_degraded(int mgmt_port);
#endif
