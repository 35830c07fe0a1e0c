/* handoff_pair.c - test support: two strict mocks and a router for the
 * handoff tests (see handoff_pair.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handoff_pair.h"
#include "stack.h"
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static tpair_t *live; /* stopped by tpair_test_teardown when an assertion failed */

void tpair_begin(tpair_t *e, const char *dir, const char *name)
{
    static const char *const strict[] = {"--strict", NULL};
    memset(e, 0, sizeof *e);
    live = e;
    e->pa = tstack_mock(&e->mock_a, strict);
    e->pb = tstack_mock(&e->mock_b, strict);
    assert_true(e->pa > 0 && e->pb > 0);
    e->port = tsupport_free_port();
    snprintf(e->cfg, sizeof e->cfg, "%s/%s.yaml", dir, name);
}

void tpair_serve(tpair_t *e)
{
    assert_true(tstack_serve_n(&e->router, e->cfg, 1, 10000) > 0);
}

void tpair_stop(tpair_t *e)
{
    live = NULL;
    int st = tproc_stop(&e->router, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (e->mock_a.pid) tproc_stop(&e->mock_a, 5000);
    tproc_stop(&e->mock_b, 5000);
}

int tpair_test_teardown(void **state)
{
    (void)state;
    if (live) {
        if (live->router.pid) tproc_stop(&live->router, 5000);
        if (live->mock_a.pid) tproc_stop(&live->mock_a, 5000);
        if (live->mock_b.pid) tproc_stop(&live->mock_b, 5000);
        live = NULL;
    }
    return 0;
}
