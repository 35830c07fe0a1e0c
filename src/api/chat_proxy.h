/* chat_proxy.h - private to the chat completions endpoint: the request's
 * state around the upstream proxy (upstream/proxy.h) shared by chat.c (entry,
 * routing, plugins, cache lookup) and chat_adapter.c (the chat adapter: the
 * upstream body, headers, errors, SSE events and ids). Worker-thread only. */
#ifndef TETHER_API_CHAT_PROXY_H
#define TETHER_API_CHAT_PROXY_H
#include "api/app.h"
#include "api/response_id.h"
#include "json/scan.h"
#include "json/splice.h"
#include "upstream/proxy.h"

typedef struct chat_proxy {
    up_proxy_t up; /* first: the adapter's ops receive &up */
    app_worker_t *w;
    const char *route_kind; /* "auto" | "passthrough" */
    jreq_t jr;
    jsplice_t splice;
    struct iovec iov[2 * JREQ_MAX_MODEL_KEYS + 128];
    bool hide_usage;   /* we injected include_usage: drop the usage-only chunk */
    const char *cbody; /* the client body the upstream body is spliced from */
    size_t cbody_len;  /* (the converted one after a forced handoff) */
    /* 2xx: the response id gets the session binding (response_id.h); a
     * non-streamed body is held until complete, stream events re-framed */
    rid_wrapper_t *rid;
    rid_wrapper_t *tid; /* ... and its tool call ids */
    buf_t upbuf;        /* the upstream body when the edits outnumber the iovecs */
} chat_proxy_t;

/* chat_adapter.c */
extern const up_adapter_t chat_adapter;
/* The upstream body for p->up.model (plugins' edits, model id, usage). */
int chat_build_body(chat_proxy_t *p);
int chat_tether_headers(up_proxy_t *up, hsrv_header_t *h, int n, const char *path);
/* The plugins' context for the serving model (p->up.model). */
void chat_plugin_ctx(chat_proxy_t *p, plg_ctx_t *pc);
#endif
