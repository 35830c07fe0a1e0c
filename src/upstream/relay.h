/* relay.h - private to the upstream proxy: the upstream call's callbacks
 * (relay.c) and the selector's in-flight count (attempt.c). */
#ifndef TETHER_UPSTREAM_RELAY_H
#define TETHER_UPSTREAM_RELAY_H
#include "upstream/proxy.h"

extern const hup_callbacks_t up_relay_callbacks;
/* Leave the selector's in-flight table (once). */
void up_inflight_end(up_proxy_t *p);
#endif
