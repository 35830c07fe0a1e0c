/* poll_until.c - test support: bounded waits on state written behind the
 * answer (see poll_until.h). */
#include "poll_until.h"
#include "http_client.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t tpoll_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tpoll_nap(void)
{
    struct timespec ts = {0, TPOLL_STEP_MS * 1000000L};
    nanosleep(&ts, NULL);
}

double tpoll_metric(int port, const char *hdrs, const char *series)
{
    thttp_resp_t r = {0};
    double v = -1;
    if (thttp_request("127.0.0.1", port, "GET", "/metrics", hdrs, NULL, 0, &r) == 0 &&
        r.status == 200 && r.body) {
        size_t n = strlen(series);
        for (const char *l = r.body; l && *l;) {
            if (!strncmp(l, series, n)) {
                v = strtod(l + n, NULL);
                break;
            }
            l = strchr(l, '\n');
            if (l) l++;
        }
    }
    thttp_resp_free(&r);
    return v;
}
