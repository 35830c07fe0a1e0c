/* handoff_pair.h - test support (cmocka tests): the stack of the handoff
 * tests: two strict mocks (model a's backend and model b's, the handoff
 * target), and one router on a free port whose config the test writes to
 * e->cfg. A test that fails half way leaves the pair "live": the per-test
 * teardown tpair_test_teardown stops it.
 *
 * Typical use:
 *   tpair_t e;
 *   tpair_begin(&e, dir, "loop");   // mocks up, e.port and e.cfg chosen
 *   ... write e.cfg (models a at e.pa, b at e.pb, listener e.port) ...
 *   tpair_serve(&e);
 *   ... requests to e.port; tstack_mock_stat(e.pb, "violations") ...
 *   tpair_stop(&e);                 // asserts the router exits 0
 *
 * Not thread-safe; one live pair at a time. */
#ifndef TETHER_TEST_HANDOFF_PAIR_H
#define TETHER_TEST_HANDOFF_PAIR_H
#include "proc.h"

typedef struct tpair {
    tproc_t mock_a, mock_b, router;
    int pa, pb, port; /* the mocks' ports, the router's listener */
    char cfg[256];    /* DIR/NAME.yaml */
} tpair_t;

/* Zero e, start both mocks (`tether mock --strict`; asserts they listen),
 * pick the router's port and name its config DIR/NAME.yaml. e becomes the
 * live pair. */
void tpair_begin(tpair_t *e, const char *dir, const char *name);
/* `tether serve --config e->cfg --workers 1`; asserts it listens. */
void tpair_serve(tpair_t *e);
/* Stop the router (asserts it exits 0: under the sanitizers no finding,
 * no leak) and the mocks; the pair is no longer live. */
void tpair_stop(tpair_t *e);
/* A cmocka per-test teardown: stops the live pair, if any (a test that
 * failed before tpair_stop). Returns 0. */
int tpair_test_teardown(void **state);
#endif
