/* cache_stack.h - test support: the response-cache stack of the endpoint
 * tests: one `tether mock` and one `tether serve` (one worker) with two
 * models on that mock, "gpt" (OpenAI format, provider id up-gpt, the
 * default) and "claude" (Anthropic format, provider id up-claude), and
 * three decisions: faq (keyword "opening hours", to gpt) and deep
 * ("tide tables", to claude), both with the exact, global response cache,
 * and other (to gpt, no cache).
 *
 * Typical use (one stack for the test program):
 *   cmocka_run_group_tests(tests, tcache_setup, tcache_teardown);
 *   in a test: tcache_stack_post(&tcache, "/v1/messages", body, &r);
 *              tstack_mock_requests(tcache.mport)
 *
 * Not thread-safe; one tcache_stack_t per stack. */
#ifndef TETHER_TEST_CACHE_STACK_H
#define TETHER_TEST_CACHE_STACK_H
#include "http_client.h"
#include "proc.h"

typedef struct tcache_stack {
    tproc_t mock, router;
    int mport, rport;
    char cfg[256]; /* /tmp/tether-NAME-PID.yaml */
} tcache_stack_t;

/* Start the mock, write the config, start the router. 0 or -1. */
int tcache_stack_start(tcache_stack_t *s, const char *name);
/* POST body to path on the router (cmocka): fails the test unless the
 * request completes with status 200 (the message shows the body). */
void tcache_stack_post(const tcache_stack_t *s, const char *path, const char *body,
                       thttp_resp_t *r);
/* Stop both and remove the config: 0 when the router exited 0 (under the
 * sanitizers: no finding, no leak), else -1. */
int tcache_stack_stop(tcache_stack_t *s);

/* The stack that tcache_setup starts (config named after the program). */
extern tcache_stack_t tcache;
/* cmocka group setup and teardown of tcache. */
int tcache_setup(void **state);
int tcache_teardown(void **state);
#endif
