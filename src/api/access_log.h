/* access_log.h - one access-log line per request on the inference listener
 * (event "access", at INFO, in the logging.format of the process): request
 * id, method, path, endpoint, client key name, decision, model, backend,
 * status, latency, tokens, cost. global.services.logging.access_log turns it
 * off (read at start). Handlers note what they learn on the request
 * (req->access, request arena); the server's done hook writes the line.
 * Headers, bodies and credentials are never part of it. Worker-thread only. */
#ifndef TETHER_API_ACCESS_LOG_H
#define TETHER_API_ACCESS_LOG_H
#include "http/server.h"
#include "upstream/proxy.h"

typedef struct api_access {
    const char *endpoint; /* chat | messages | responses | embeddings | ... */
    const char *model, *backend, *decision;
    long long prompt_tokens, completion_tokens, cached_tokens; /* -1: unknown */
    double cost;
    const char *currency; /* NULL: no cost known */
    bool stream;
    int attempts;
} api_access_t;

/* The request's fields, created on first use (never NULL). */
api_access_t *api_access_of(hsrv_req_t *req);
/* Note the endpoint, model and decision (NULL arguments leave a field as is;
 * the strings must live as long as the request: literals or its arena). */
void api_access_note(hsrv_req_t *req, const char *endpoint, const char *model,
                     const char *decision);
/* Everything the upstream proxy knows at the end (model, backend, decision,
 * usage, cost, attempts); called from the adapters' log_done. */
void api_access_note_proxy(up_proxy_t *up);
/* Write the line for req answered with status (0: no status sent). */
void api_access_log(hsrv_req_t *req, int status);
#endif
