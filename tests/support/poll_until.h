/* poll_until.h - test support: bounded waits for state that another thread or
 * process writes after the answer the test just read (the replay writer,
 * counters moved after the reply is sent, the access log, a reload, Redis
 * write-back). A test waits on the condition, never on a fixed sleep, then
 * asserts as it would have: the wait ends early when the state is there and
 * gives up after the bound, so a slow machine costs time, not a failure.
 *
 * Typical use:
 *   // an expression, evaluated until true or TPOLL_MS passed
 *   assert_true(TPOLL_UNTIL(log_has("connection_refused"), TPOLL_MS));
 *   // a counter that moves right after the reply reached the client
 *   double v = -1;
 *   TPOLL_UNTIL((v = tpoll_metric(gport, NULL, "tether_requests_total{...} ")) >= 3, TPOLL_MS);
 *   assert_int_equal((int)v, 3);
 *
 * Not thread-safe where the condition is not. */
#ifndef TETHER_TEST_POLL_UNTIL_H
#define TETHER_TEST_POLL_UNTIL_H
#include <stdbool.h>
#include <stdint.h>

/* The default bound: generous for a loaded two-core machine running the
 * sanitizer build; a wait that succeeds returns as soon as it can. */
enum { TPOLL_MS = 20000, TPOLL_STEP_MS = 20 };

/* Monotonic milliseconds. */
uint64_t tpoll_now_ms(void);
/* Sleep one polling step. */
void tpoll_nap(void);

/* Evaluate expr every TPOLL_STEP_MS until it is true or timeout_ms passed;
 * the value is the last evaluation (true: the condition held). expr is
 * evaluated at least once, and once more after the deadline. */
#define TPOLL_UNTIL(expr, timeout_ms)                                                              \
    __extension__({                                                                                \
        uint64_t tpoll_end_ = tpoll_now_ms() + (uint64_t)(timeout_ms);                             \
        bool tpoll_ok_;                                                                            \
        while (!(tpoll_ok_ = (expr)) && tpoll_now_ms() < tpoll_end_)                               \
            tpoll_nap();                                                                           \
        tpoll_ok_;                                                                                 \
    })

/* The value of the first Prometheus sample whose line starts with series
 * (name{labels} and the space), from GET /metrics on 127.0.0.1:port with
 * the extra header lines hdrs (may be NULL); -1 when it cannot be read or
 * the series is absent. */
double tpoll_metric(int port, const char *hdrs, const char *series);
#endif
