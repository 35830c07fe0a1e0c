/* passthrough.h - POST /v1/embeddings and /v1/completions to a named model
 * that lists the endpoint in providers.models[].endpoints (passthrough.c).
 * Worker-thread only. */
#ifndef TETHER_API_PASSTHROUGH_H
#define TETHER_API_PASSTHROUGH_H
#include "api/app.h"

/* ep: CFG_EP_EMBEDDINGS or CFG_EP_COMPLETIONS; releases ref when the request ends. */
void api_passthrough(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, unsigned ep);
/* "embeddings" | "completions" */
const char *api_passthrough_name(unsigned ep);
#endif
