/* mgmt_origin.h - requests a browser makes on behalf of another site,
 * which the management listener refuses before routing (mgmt.c) in the open
 * mode (no tokens: every caller is admin, loopback only):
 *   - a request with an Origin header whose host[:port] is not the Host the
 *     request was sent to (a page elsewhere POSTing a config to
 *     127.0.0.1:8080 needs no CORS preflight for a text/plain body), or
 *     Origin "null" (sandboxed frames, file: pages);
 *   - a Host that is not localhost or an IP literal: DNS rebinding, where a
 *     page's own name resolves to 127.0.0.1 and the browser then lets it
 *     read the answers.
 * With tokens nothing is checked here: a page elsewhere cannot send the
 * bearer token (the dashboard keeps it in the page, not in a cookie), and a
 * proxy in front may rewrite Host. Clients that are not browsers (curl,
 * Prometheus, probes) send no Origin and use an address or localhost.
 * Pure; thread-safe. */
#ifndef TETHER_ADMIN_MGMT_ORIGIN_H
#define TETHER_ADMIN_MGMT_ORIGIN_H
#include "http/server.h"
#include <stdbool.h>

/* 0 when req may proceed; -1 with the error code and message to answer 403
 * with. open: no management token is configured. */
int mgmt_origin_check(const hsrv_req_t *req, bool open, const char **code, const char **msg);
#endif
