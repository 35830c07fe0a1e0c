/* health_check.h - active backend health checks
 * (providers.models[].reliability.health_check): one thread sends
 * GET <backend scheme://host:port><path> to every backend of a model with a
 * path, every interval, and feeds the result to select/health.h (a failing
 * check takes the backend out until a check passes). The thread reads the
 * live config through the acquire/release callbacks, so a reload adds or
 * drops checks on its next pass. Start once per process; stop joins. */
#ifndef TETHER_UPSTREAM_HEALTH_CHECK_H
#define TETHER_UPSTREAM_HEALTH_CHECK_H
#include "config/config.h"

typedef struct up_hc up_hc_t;
typedef const cfg_t *(*up_hc_acquire_fn)(void *ud, void **ref);
typedef void (*up_hc_release_fn)(void *ref);

/* NULL when the thread cannot start (logged). */
up_hc_t *up_hc_start(up_hc_acquire_fn acquire, up_hc_release_fn release, void *ud);
void up_hc_stop(up_hc_t *hc);
#endif
