/* dashboard_history.h - the last hour of the Overview's counters, sampled
 * by one thread per process (dashboard_history.c). start/stop are called by
 * the management listener (mgmt.c); json from any thread. */
#ifndef TETHER_ADMIN_DASHBOARD_HISTORY_H
#define TETHER_ADMIN_DASHBOARD_HISTORY_H
#include "core/buf.h"

/* Start sampling (once; later calls do nothing until stop). */
void dash_history_start(void);
/* Stop and join the sampler, drop the samples. Safe when never started. */
void dash_history_stop(void);
/* {"interval_ms": N, "samples": [{"t": ms, "v": {"requests": n, "errors": n,
 * "switches": n, "reason:R": n, "lock:K": n, "reset:K": n, "le:B": n}}]},
 * oldest first. */
void dash_history_json(buf_t *out);
#endif
